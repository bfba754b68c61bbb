/* The runtime: device listing and choice, the counted allocator, the program cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

START_TEST(devices_listed_and_selected) {
    rd_device_info *devs = NULL;
    int n = 0, chosen = -1;
    rd_err err = {0};
    ck_assert_int_eq(rd_list_devices(&devs, &n, &err), RD_OK);
    ck_assert_int_ge(n, 1);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(devs[i].index, i);
        ck_assert(devs[i].global_mem > 0 && devs[i].max_alloc > 0 && devs[i].max_alloc <= devs[i].global_mem);
        ck_assert(strlen(devs[i].name) > 0);
    }
    ck_assert_int_eq(rd_select_device(devs, n, "0", &chosen, &err), RD_OK);
    ck_assert_int_eq(chosen, 0);
    ck_assert_int_eq(rd_select_device(devs, n, "99", &chosen, &err), RD_ERR_NO_DEVICE);
    ck_assert_ptr_nonnull(strstr(err.msg, "99"));
    ck_assert_int_eq(rd_select_device(devs, n, "no-such-device-xyz", &chosen, &err), RD_ERR_NO_DEVICE);
    /* a substring of the first device's name (case-insensitive) selects it */
    char sub[8] = {0};
    memcpy(sub, devs[0].name, 4);
    for (int i = 0; sub[i]; i++) sub[i] = (char)((sub[i] >= 'a' && sub[i] <= 'z') ? sub[i] - 32 : sub[i]);
    ck_assert_int_eq(rd_select_device(devs, n, sub, &chosen, &err), RD_OK);
    free(devs);
}
END_TEST

START_TEST(allocator_counts_peak_and_cap) {
    rd_ctx *ctx = tu_ctx();
    rd_mem_stats s0 = rd_mem_get_stats(ctx);
    rd_mem_reset_peak(ctx);
    rd_buffer *a = NULL, *b = NULL, *c = NULL;
    TU_OK(rd_alloc(ctx, 1000, "a", &a));
    TU_OK(rd_alloc(ctx, 3000, "b", &b));
    rd_mem_stats s1 = rd_mem_get_stats(ctx);
    ck_assert_uint_eq(s1.current, s0.current + 4000);
    ck_assert_uint_eq(s1.peak, s0.current + 4000);
    ck_assert_uint_eq(s1.live_buffers, s0.live_buffers + 2);
    rd_free(ctx, a);
    TU_OK(rd_alloc(ctx, 500, "c", &c));
    rd_mem_stats s2 = rd_mem_get_stats(ctx);
    /* the peak is the largest sum of live buffers, not the sum of all ever allocated */
    ck_assert_uint_eq(s2.current, s0.current + 3500);
    ck_assert_uint_eq(s2.peak, s0.current + 4000);

    /* over the cap: refused with a message naming the buffer and the cap, nothing allocated */
    TU_OK(rd_mem_set_cap(ctx, s2.current + 10000));
    rd_buffer *big = NULL;
    ck_assert_int_eq(rd_alloc(ctx, 20000, "big-activations", &big), RD_ERR_OVER_CAP);
    ck_assert_ptr_null(big);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "big-activations"));
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "cap"));
    rd_mem_stats s3 = rd_mem_get_stats(ctx);
    ck_assert_uint_eq(s3.current, s2.current);
    ck_assert_uint_eq(s3.live_buffers, s2.live_buffers);
    ck_assert_uint_eq(s3.refused, s2.refused + 1);
    /* exactly up to the cap is allowed */
    TU_OK(rd_alloc(ctx, 10000, "fits", &big));
    rd_free(ctx, big);
    /* a cap below what is in use is refused */
    ck_assert_int_eq(rd_mem_set_cap(ctx, 10), RD_ERR_ARG);
    TU_OK(rd_mem_set_cap(ctx, 0));
    ck_assert_uint_eq(rd_mem_get_stats(ctx).cap, rd_ctx_device(ctx)->global_mem);

    /* above the device's largest single allocation */
    uint64_t too_big = rd_ctx_device(ctx)->max_alloc + 1;
    ck_assert_int_eq(rd_alloc(ctx, too_big, "huge", &big), RD_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(rd_ctx_error(ctx), "CL_DEVICE_MAX_MEM_ALLOC_SIZE"));

    rd_free(ctx, b);
    rd_free(ctx, c);
    rd_mem_stats s4 = rd_mem_get_stats(ctx);
    ck_assert_uint_eq(s4.current, s0.current);
    ck_assert_uint_eq(s4.live_buffers, s0.live_buffers);
}
END_TEST

START_TEST(scratch_is_reused) {
    rd_ctx *ctx = tu_ctx();
    cl_mem m1, m2, m3;
    TU_OK(rd_scratch(ctx, 0, 4096, &m1));
    uint64_t allocs = rd_mem_get_stats(ctx).total_allocs;
    TU_OK(rd_scratch(ctx, 0, 1024, &m2));
    ck_assert_ptr_eq(m1, m2);
    ck_assert_uint_eq(rd_mem_get_stats(ctx).total_allocs, allocs);
    TU_OK(rd_scratch(ctx, 0, 8192, &m3));  /* grows once */
    ck_assert_uint_eq(rd_mem_get_stats(ctx).total_allocs, allocs + 1);
    rd_scratch_release(ctx);
}
END_TEST

START_TEST(parse_bytes) {
    uint64_t v;
    rd_err err;
    ck_assert_int_eq(rd_parse_bytes("2GiB", &v, &err), RD_OK);
    ck_assert_uint_eq(v, 2ull << 30);
    ck_assert_int_eq(rd_parse_bytes("512MiB", &v, &err), RD_OK);
    ck_assert_uint_eq(v, 512ull << 20);
    ck_assert_int_eq(rd_parse_bytes("1.5g", &v, &err), RD_OK);
    ck_assert_uint_eq(v, 3ull << 29);
    ck_assert_int_eq(rd_parse_bytes("100000", &v, &err), RD_OK);
    ck_assert_uint_eq(v, 100000);
    ck_assert_int_eq(rd_parse_bytes("2 parsecs", &v, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_parse_bytes("-1G", &v, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_parse_bytes("", &v, &err), RD_ERR_ARG);
}
END_TEST

/* ---- program-binary cache ---- */
static rd_ctx *ctx_with_cache(const char *dir) {
    rd_ctx_options opt = {0};
    opt.cache_dir = dir;
    opt.binary_cache = 1;  /* on every driver, POCL included (where auto leaves it to POCL's own cache) */
    rd_ctx *ctx = NULL;
    rd_err err;
    ck_assert_msg(rd_ctx_create(&opt, &ctx, &err) == RD_OK, "%s", err.msg);
    return ctx;
}

static int run_relu(rd_ctx *ctx) {
    rd_buffer *b;
    if (rd_alloc(ctx, 64 * sizeof(float), "t", &b) != RD_OK) return 0;
    rd_tensor t = rd_tensor_make(rd_buffer_mem(b), 0, 1, 1, 8, 8);
    float in[64], out[64];
    for (int i = 0; i < 64; i++) in[i] = (float)(i - 32);
    int ok = rd_tensor_write(ctx, &t, in) == RD_OK && rd_relu_forward(ctx, &t, &t) == RD_OK &&
             rd_tensor_read(ctx, &t, out) == RD_OK;
    for (int i = 0; ok && i < 64; i++) ok = out[i] == (in[i] > 0 ? in[i] : 0);
    rd_free(ctx, b);
    return ok;
}

START_TEST(program_cache_hit_and_corruption) {
    char dir[] = "/tmp/radars-cache-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* first context builds from source and stores the binary */
    rd_ctx *a = ctx_with_cache(dir);
    ck_assert(run_relu(a));
    rd_build_stats sa = rd_ctx_build_stats(a);
    ck_assert_int_eq(sa.programs_built, 1);
    ck_assert_int_eq(sa.cache_hits, 0);
    rd_ctx_free(a);
    /* second context loads it: nothing built */
    rd_ctx *b = ctx_with_cache(dir);
    ck_assert(run_relu(b));
    rd_build_stats sb = rd_ctx_build_stats(b);
    ck_assert_int_eq(sb.programs_built, 0);
    ck_assert_int_eq(sb.cache_hits, 1);
    rd_ctx_free(b);
    /* corrupt every cache file (flip bytes in the binary): rebuilt, not trusted */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/elementwise-*.bin", dir);
    FILE *ls = popen(cmd, "r");
    char path[400] = {0};
    ck_assert_ptr_nonnull(fgets(path, sizeof path, ls));
    pclose(ls);
    path[strcspn(path, "\n")] = 0;
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
    rd_ctx *c = ctx_with_cache(dir);
    ck_assert(run_relu(c));
    rd_build_stats sc = rd_ctx_build_stats(c);
    ck_assert_int_eq(sc.cache_rejected, 1);
    ck_assert_int_eq(sc.programs_built, 1);
    rd_ctx_free(c);
    /* truncated file: rebuilt too */
    ck_assert_int_eq(truncate(path, 20), 0);
    rd_ctx *d = ctx_with_cache(dir);
    ck_assert(run_relu(d));
    ck_assert_int_eq(rd_ctx_build_stats(d).cache_rejected, 1);
    rd_ctx_free(d);
    /* and the rewritten entry is good again */
    rd_ctx *e = ctx_with_cache(dir);
    ck_assert(run_relu(e));
    ck_assert_int_eq(rd_ctx_build_stats(e).cache_hits, 1);
    ck_assert_int_eq(rd_ctx_build_stats(e).programs_built, 0);
    rd_ctx_free(e);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Every program, every conv variant included, builds in one parallel batch, each
 * once, and without a warning (ctest runs this with POCL's own cache off, so the
 * compiler really runs). */
START_TEST(all_programs_build_without_warnings) {
    rd_ctx_options opt = {0};
    opt.cache_dir = "";  /* no binary cache: every program compiled from source */
    rd_ctx *ctx = NULL;
    rd_err err;
    ck_assert_msg(rd_ctx_create(&opt, &ctx, &err) == RD_OK, "%s", err.msg);
    TU_OK_CTX(ctx, rd_build_all_programs(ctx, NULL));
    rd_build_stats st = rd_ctx_build_stats(ctx);
    ck_assert_int_ge(st.programs_built + st.cache_hits, 10);
    ck_assert_msg(st.programs_warned == 0, "%d programs compiled with warnings on %s (radars selfcheck -v shows them)",
                  st.programs_warned, rd_ctx_device(ctx)->name);
    /* a second batch builds nothing: every program is already in the context */
    TU_OK_CTX(ctx, rd_build_all_programs(ctx, NULL));
    rd_build_stats again = rd_ctx_build_stats(ctx);
    ck_assert_int_eq(again.programs_built + again.cache_hits, st.programs_built + st.cache_hits);
    /* variants are separate builds of one file: a spec with -D options, and an unknown file is refused */
    const char *bad[] = {"no_such_program -DX=1"};
    ck_assert_int_eq(rd_build_programs(ctx, bad, 1, NULL), RD_ERR_ARG);
    rd_ctx_free(ctx);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, devices_listed_and_selected);
    tcase_add_test(tc, allocator_counts_peak_and_cap);
    tcase_add_test(tc, scratch_is_reused);
    tcase_add_test(tc, parse_bytes);
    tcase_add_test(tc, program_cache_hit_and_corruption);
    tcase_add_test(tc, all_programs_build_without_warnings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
