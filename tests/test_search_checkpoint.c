/* Checkpoints: a radars-cl checkpoint loads in the PyTorch DARTS peer
 * (../shared/peers/torch_darts_ref.py) with the same logits; the search state
 * round-trips; corrupt files are refused with the file named. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radars/search.h"
#include "test_util.h"

static const char *python(void) {
    const char *p = getenv("RADARS_PYTHON");
    return p ? p : "/usr/bin/python3";
}

static int have_torch(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", python());
    return system(cmd) == 0;
}

static void peer_path(char *out, size_t len) {
    const char *src = getenv("RADARS_SOURCE_DIR");
    snprintf(out, len, "%s/../shared/peers/torch_darts_ref.py", src ? src : ".");
}

static void check_peer(const char *ops, int C, int layers, int cin, int hw, int classes, int n) {
    char peer[1024];
    peer_path(peer, sizeof peer);
    if (access(peer, R_OK) != 0 || !have_torch()) {
        printf("peer logits: skipped (%s or python3-torch missing)\n", peer);
        return;
    }
    rd_ctx *ctx = tu_ctx();
    rd_supernet_config c;
    rd_supernet_config_default(&c);
    c.C = C;
    c.layers = layers;
    c.in_channels = cin;
    c.in_h = c.in_w = hw;
    c.classes = classes;
    c.batch = n;
    ck_assert_int_eq(rd_opset_parse(ops, &c.ops, NULL), RD_OK);
    rd_supernet *net;
    TU_OK(rd_supernet_create(ctx, &c, NULL, NULL, 21, &net));
    tu_rng r = {4};
    rd_vec a = rd_supernet_alphas(net);
    float *ha = malloc(a.len * sizeof *ha);
    for (size_t i = 0; i < a.len; i++) ha[i] = (float)tu_uniform(&r, -1, 1);
    TU_OK(rd_supernet_write_alphas(net, ha));
    size_t nx = (size_t)n * cin * hw * hw;
    double *x = malloc(nx * sizeof *x);
    tu_fill(&r, x, nx, -1, 1);
    rd_tensor tx = tu_tensor_from(x, n, cin, hw, hw);
    rd_buffer *lb;
    TU_OK(rd_alloc(ctx, n * sizeof(int32_t), "labels", &lb));
    int32_t labels[64] = {0};
    clEnqueueWriteBuffer(rd_ctx_queue(ctx), rd_buffer_mem(lb), CL_TRUE, 0, n * sizeof(int32_t), labels, 0, NULL, NULL);
    /* a few training steps' worth of running statistics do not matter: the peer runs in train mode */
    TU_OK(rd_supernet_forward(net, &tx, rd_buffer_mem(lb), 1));
    float *lg = malloc((size_t)n * classes * sizeof *lg);
    TU_OK(rd_supernet_read_logits(net, lg));
    char dir[] = "/tmp/radars-peer-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], in[256], out[256], cmd[2048];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    snprintf(in, sizeof in, "%s/x.f32", dir);
    snprintf(out, sizeof out, "%s/logits.txt", dir);
    rd_checkpoint_parts parts = {net, NULL, NULL, NULL, NULL, NULL, 0};
    rd_err err;
    ck_assert_msg(rd_checkpoint_save(ckpt, &parts, &err) == RD_OK, "%s", err.msg);
    FILE *f = fopen(in, "wb");
    for (size_t i = 0; i < nx; i++) {
        float v = (float)x[i];
        fwrite(&v, sizeof v, 1, f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s --C %d --layers %d --cin %d --hw %d --classes %d --ops %s --load %s --input %s > %s",
             python(), peer, C, layers, cin, hw, classes, ops, ckpt, in, out);
    ck_assert_msg(system(cmd) == 0, "the peer failed: %s", cmd);
    f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    double worst = 0, scale = 0;
    for (int i = 0; i < n * classes; i++) scale = fmax(scale, fabs(lg[i]));
    for (int i = 0; i < n * classes; i++) {
        double v;
        ck_assert_int_eq(fscanf(f, "%lf", &v), 1);
        worst = fmax(worst, fabs(v - lg[i]) / fmax(fabs(v), 1e-2 * scale));
    }
    fclose(f);
    printf("peer logits (%s, C=%d, %d cells): largest relative difference %.2e\n", ops, C, layers, worst);
    ck_assert_msg(worst < 1e-3, "logits differ from PyTorch's by %.3g relative", worst);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(lg);
    free(x);
    free(ha);
    rd_free(ctx, lb);
    rd_supernet_free(net);
    tu_free_all();
}

START_TEST(peer_loads_darts_checkpoint) { check_peer("darts", 4, 3, 1, 28, 10, 4); }
END_TEST

START_TEST(peer_loads_large_checkpoint) { check_peer("large", 4, 3, 3, 16, 7, 3); }
END_TEST

/* The checkpoint at src rewritten as format 1 wrote it (before companion files): every
 * tensor and metadata entry, the optimizer buffers as base64 metadata. */
static void write_format1(const char *src, const char *dst) {
    rd_err err;
    rd_st_file *f, *optim;
    ck_assert_msg(rd_st_open(src, &f, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_st_companion_open(f, src, &optim, &err) == RD_OK && optim, "%s", err.msg);
    rd_st_writer *w;
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    void *bufs[4096];
    int nb = 0;
    for (int i = 0; i < rd_st_count(f); i++) {
        const rd_st_info *t = rd_st_at(f, i);
        ck_assert_int_lt(nb, 4096);
        bufs[nb] = malloc(t->nbytes + 1);
        ck_assert_int_eq(rd_st_read(f, t->name, t->dtype, -1, NULL, bufs[nb], t->nbytes, &err), RD_OK);
        ck_assert_int_eq(rd_st_add(w, t->name, t->dtype, t->ndim, t->shape, bufs[nb++], &err), RD_OK);
    }
    for (int i = 0; i < rd_st_metadata_count(f); i++) {
        const char *k, *v;
        rd_st_metadata_at(f, i, &k, &v);
        if (!strcmp(k, "optimizer") || !strcmp(k, "format")) continue;
        ck_assert_int_eq(rd_st_add_metadata(w, k, v, &err), RD_OK);
    }
    ck_assert_int_eq(rd_st_add_metadata(w, "format", "radars-cl checkpoint 1", &err), RD_OK);
    for (int i = 0; i < rd_st_count(optim); i++) {
        const rd_st_info *t = rd_st_at(optim, i);
        bufs[nb] = malloc(t->nbytes + 1);
        ck_assert_int_eq(rd_st_read(optim, t->name, t->dtype, -1, NULL, bufs[nb], t->nbytes, &err), RD_OK);
        ck_assert_int_eq(rd_st_add_metadata_blob(w, t->name, bufs[nb++], t->nbytes, &err), RD_OK);
    }
    ck_assert_msg(rd_st_write(w, dst, &err) == RD_OK, "%s", err.msg);
    rd_st_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    rd_st_close(optim);
    rd_st_close(f);
}

START_TEST(state_round_trip_and_corruption) {
    rd_ctx *ctx = tu_ctx();
    rd_supernet_config c;
    rd_supernet_config_default(&c);
    c.C = 4;
    c.layers = 3;
    c.in_h = c.in_w = 8;
    c.batch = 2;
    rd_opset_parse("large", &c.ops, NULL);
    rd_arch_mask alive;
    rd_arch_mask_all(&alive, &c.ops);
    alive.edge[1][3] = 0x0101;
    rd_supernet *net, *net2;
    TU_OK(rd_supernet_create(ctx, &c, &alive, NULL, 3, &net));
    TU_OK(rd_supernet_create(ctx, &c, &alive, NULL, 4, &net2));
    rd_search_config sc;
    rd_err err;
    ck_assert_int_eq(rd_search_config_load(&sc, NULL, NULL, 0, &err), RD_OK);
    rd_darts *d, *d2;
    TU_OK(rd_darts_create(ctx, net, &sc, &d));
    TU_OK(rd_darts_create(ctx, net2, &sc, &d2));
    rd_vec mom = rd_darts_momentum(d);
    TU_OK(rd_vec_fill(ctx, &mom, 0.25f));
    rd_darts_set_adam_steps(d, 17);
    rd_controller k, k2;
    rd_controller_init(&k, &alive, c.ops.count, 5, 0.1, 0.9, 0.01);
    int choice[2][RD_CELL_EDGES];
    rd_arch_mask path;
    rd_controller_sample(&k, choice, &path);
    rd_controller_update(&k, choice, 0.7);
    rd_search_state st, st2;
    memset(&st, 0, sizeof st);
    st.phase = RD_PHASE_DARTS;
    st.epoch = 3;
    st.step = 41;
    st.global_step = 99;
    st.loaders[1].seed = 12345678901ull;
    st.loaders[1].position = 64;
    st.alive = alive;
    char path_ck[] = "/tmp/radars-ckpt-XXXXXX";
    int fd = mkstemp(path_ck);
    close(fd);
    rd_checkpoint_parts parts = {net, d, &k, &st, "[search]\nepochs = 4\n", "Genotype()", 0};
    ck_assert_msg(rd_checkpoint_save(path_ck, &parts, &err) == RD_OK, "%s", err.msg);
    memset(&k2, 0, sizeof k2);
    rd_checkpoint_parts back = {net2, d2, &k2, &st2, NULL, NULL, 0};
    ck_assert_msg(rd_checkpoint_load(path_ck, &back, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(st2.epoch, 3);
    ck_assert_int_eq(st2.step, 41);
    ck_assert_int_eq(st2.global_step, 99);
    ck_assert_uint_eq(st2.loaders[1].seed, 12345678901ull);
    ck_assert_int_eq(st2.loaders[1].position, 64);
    ck_assert_uint_eq(st2.alive.edge[1][3], 0x0101);
    ck_assert(memcmp(k.logits, k2.logits, sizeof k.logits) == 0);
    ck_assert(k2.rng == k.rng && k2.baseline == k.baseline && k2.have_baseline == 1);
    ck_assert_int_eq(rd_darts_adam_steps(d2), 17);
    /* weights, running stats and alphas identical */
    rd_vec w1 = rd_supernet_weights(net), w2 = rd_supernet_weights(net2);
    double *h1 = malloc(w1.len * sizeof *h1), *h2 = malloc(w1.len * sizeof *h2);
    tu_vec_read(&w1, h1);
    tu_vec_read(&w2, h2);
    tu_assert_close("weights after load", h2, h1, w1.len, 0, 0);
    rd_vec m2 = rd_darts_momentum(d2);
    double mv;
    tu_vec_read(&(rd_vec){m2.mem, m2.off + m2.len - 1, 1}, &mv);
    ck_assert(mv == 0.25);
    rd_genotype g;
    ck_assert_msg(rd_checkpoint_genotype(path_ck, NULL, &g, &err) == RD_OK, "%s", err.msg);
    /* the optimizer state is a companion file, not header metadata: the header stays small */
    rd_st_file *sf;
    ck_assert_msg(rd_st_open(path_ck, &sf, &err) == RD_OK, "%s", err.msg);
    ck_assert_ptr_null(rd_st_metadata(sf, "sgd_momentum"));
    ck_assert_ptr_nonnull(rd_st_metadata(sf, "optimizer"));
    char optim_name[1200];
    snprintf(optim_name, sizeof optim_name, "/tmp/%s", rd_st_metadata(sf, "optimizer"));
    rd_st_close(sf);
    ck_assert_int_eq(access(optim_name, R_OK), 0);
    /* a second save replaces the companion (one left, the new one) */
    ck_assert_msg(rd_checkpoint_save(path_ck, &parts, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_ne(access(optim_name, F_OK), 0);
    /* a format-1 checkpoint (optimizer state as base64 metadata) still loads */
    char old_ck[] = "/tmp/radars-ckpt1-XXXXXX";
    close(mkstemp(old_ck));
    write_format1(path_ck, old_ck);
    TU_OK(rd_vec_fill(ctx, &m2, 0.0f));
    rd_darts_set_adam_steps(d2, 0);
    ck_assert_msg(rd_checkpoint_load(old_ck, &back, &err) == RD_OK, "%s", err.msg);
    tu_vec_read(&(rd_vec){m2.mem, m2.off + m2.len - 1, 1}, &mv);
    ck_assert(mv == 0.25);
    ck_assert_int_eq(rd_darts_adam_steps(d2), 17);
    remove(old_ck);
    /* a checkpoint whose optimizer file is gone, or named outside its folder, is refused by name */
    rd_st_companion_prune(path_ck, NULL);
    ck_assert_int_ne(rd_checkpoint_load(path_ck, &back, &err), RD_OK);
    ck_assert_msg(strstr(err.msg, "optimizer state") && strstr(err.msg, "missing"), "%s", err.msg);
    ck_assert_msg(rd_checkpoint_save(path_ck, &parts, &err) == RD_OK, "%s", err.msg);
    /* a checkpoint of another supernet is refused, naming the tensor */
    c.C = 6;
    rd_supernet *other;
    TU_OK(rd_supernet_create(ctx, &c, &alive, NULL, 3, &other));
    rd_checkpoint_parts wrong = {other, NULL, NULL, NULL, NULL, NULL, 0};
    ck_assert_int_ne(rd_checkpoint_load(path_ck, &wrong, &err), RD_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, path_ck));
    /* truncated: refused */
    ck_assert_int_eq(truncate(path_ck, 100), 0);
    ck_assert_int_ne(rd_checkpoint_load(path_ck, &back, &err), RD_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, path_ck));
    ck_assert_int_ne(rd_checkpoint_genotype("/nonexistent/ckpt.safetensors", NULL, &g, &err), RD_OK);
    rd_st_companion_prune(path_ck, NULL);
    remove(path_ck);
    free(h1);
    free(h2);
    rd_supernet_free(other);
    rd_darts_free(d);
    rd_darts_free(d2);
    rd_supernet_free(net);
    rd_supernet_free(net2);
    tu_free_all();
}
END_TEST

/* Replaces the first `from` in a safetensors file's JSON header by `to` (the
 * header's length field updated, padded with spaces to 8 bytes): crafted metadata. */
static void patch_header(const char *path, const char *from, const char *to) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)size);
    ck_assert_int_eq(fread(b, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    char *hdr = calloc(hl + strlen(to) + 16, 1);
    memcpy(hdr, b + 8, hl);
    size_t len = hl;
    while (len && hdr[len - 1] == ' ') len--;
    hdr[len] = 0;
    char *at = strstr(hdr, from);
    ck_assert_msg(at != NULL, "'%s' not in the header of %s", from, path);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(at + tl, at + fl, len - (size_t)(at - hdr) - fl + 1);
    memcpy(at, to, tl);
    len = strlen(hdr);
    while (len % 8) hdr[len++] = ' ';
    f = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((uint64_t)len >> (8 * i) & 0xff), f);
    fwrite(hdr, 1, len, f);
    fwrite(b + 8 + hl, 1, (size_t)size - 8 - hl, f);
    fclose(f);
    free(hdr);
    free(b);
}

/* Metadata a crafted or corrupt checkpoint could hold beyond what the arrays that
 * read it allow: refused with the file named, never read past them. */
START_TEST(crafted_metadata_is_refused) {
    rd_ctx *ctx = tu_ctx();
    rd_supernet_config c;
    rd_supernet_config_default(&c);
    c.C = 4;
    c.layers = 3;
    c.in_h = c.in_w = 8;
    c.batch = 2;
    rd_supernet *net;
    TU_OK(rd_supernet_create(ctx, &c, NULL, NULL, 3, &net));
    rd_search_config sc;
    rd_err err;
    ck_assert_int_eq(rd_search_config_load(&sc, NULL, NULL, 0, &err), RD_OK);
    rd_darts *d;
    TU_OK(rd_darts_create(ctx, net, &sc, &d));
    rd_search_state st;
    memset(&st, 0, sizeof st);
    st.phase = RD_PHASE_DARTS;
    rd_arch_mask_all(&st.alive, &c.ops);
    const char *cases[][3] = {
        /* more nodes than the supernet's alphas hold rows for (once read past stack arrays) */
        {"steps=4", "steps=8", "steps must be"},
        /* an op bit beyond the set's 8 ops (once indexed ops[-1] in a set without none) */
        {"\"search_alive\":\"ff ", "\"search_alive\":\"1ff ", "beyond the 8"},
        {"\"adam_step\":\"0\"", "\"adam_step\":\"-3\"", "adam_step"},
        /* an optimizer file outside the checkpoint's folder */
        {"\"optimizer\":\"", "\"optimizer\":\"../etc/x", "not the name of an optimizer file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[] = "/tmp/radars-crafted-XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        rd_checkpoint_parts parts = {net, d, NULL, &st, "[search]\n", NULL, 0};
        ck_assert_msg(rd_checkpoint_save(path, &parts, &err) == RD_OK, "%s", err.msg);
        rd_genotype g;
        rd_search_state back;
        ck_assert_msg(rd_checkpoint_genotype(path, NULL, &g, &err) == RD_OK, "%s", err.msg); /* intact: fine */
        patch_header(path, cases[i][0], cases[i][1]);
        rd_status got = rd_checkpoint_genotype(path, NULL, &g, &err);
        if (got == RD_OK) got = rd_checkpoint_peek(path, &back, NULL, NULL, &err);
        if (got == RD_OK) got = rd_checkpoint_load(path, &parts, &err);
        ck_assert_msg(got == RD_ERR_FORMAT, "%s -> %s: accepted (%d)", cases[i][0], cases[i][1], (int)got);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, cases[i][2]), "%s", err.msg);
        printf("crafted %s: %s\n", cases[i][1], err.msg);
        rd_st_companion_prune(path, NULL);
        remove(path);
    }
    rd_darts_free(d);
    rd_supernet_free(net);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("search_checkpoint");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, peer_loads_darts_checkpoint);
    tcase_add_test(tc, peer_loads_large_checkpoint);
    tcase_add_test(tc, state_round_trip_and_corruption);
    tcase_add_test(tc, crafted_metadata_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
