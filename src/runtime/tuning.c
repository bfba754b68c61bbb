/* The table of kernel parameters a device is tuned over (radars tune), their
 * defaults per device, and the check a tuning file's values must pass. The
 * timing and the file live above (src/nn/tune.c): this layer only applies. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cl_sources.h"
#include "runtime/runtime.h"


/* One row per field of rd_tuning; rd_tune times them in this order (the
 * convolution paths first: the largest effects, then what shares the device). */
static const struct {
    rd_tunable t;
    size_t offset;
} table[] = {
    {{"conv_dwc", "depthwise convolutions: tiled, generic or tiles staged in local memory (GPUs)", {0, 1, 2},
      {"generic", "tiled", "local"}, 3},
     offsetof(rd_tuning, conv_dwc)},
    {{"conv_row", "dense 3x3/1x7/7x1/strided 1x1 convolutions: tiled, generic or implicit-GEMM tiles in local memory (GPUs)",
      {0, 1, 2}, {"generic", "tiled", "local"}, 3},
     offsetof(rd_tuning, conv_row)},
    {{"conv_pw", "1x1 convolutions: tiled, generic or GEMM tiles in local memory (GPUs)", {0, 1, 2},
      {"generic", "tiled", "local"}, 3},
     offsetof(rd_tuning, conv_pw)},
    {{"conv_group", "work-items per group of the tiled convolutions", {4, 8, 16, 32, 64, 128, 256}, {NULL}, 7},
     offsetof(rd_tuning, conv_group)},
    {{"conv_rows", "output rows per work-item of the tiled depthwise convolutions", {2, 4, 7}, {NULL}, 3},
     offsetof(rd_tuning, conv_rows)},
    {{"conv_block", "channels per work-item of the tiled 3x3/1x7/7x1/strided 1x1 convolutions (forward and dx)",
      {4, 8, 16}, {NULL}, 3},
     offsetof(rd_tuning, conv_block)},
    {{"conv_pw_block", "channels per work-item of the tiled 1x1 convolutions (forward and dx)", {2, 4, 8, 16},
      {NULL}, 4},
     offsetof(rd_tuning, conv_pw_block)},
    {{"conv_pw_pixels", "pixels per work-item of the tiled 1x1 convolutions (forward and dx)", {8, 16, 32, 64}, {NULL},
      4},
     offsetof(rd_tuning, conv_pw_pixels)},
    {{"conv_pw_walk", "channel blocks per work-item of the tiled 1x1 forward and dx: one, or all over its pixels",
      {1, 2}, {"one", "all"}, 2},
     offsetof(rd_tuning, conv_pw_walk)},
    {{"conv_pw_dw_block", "input channels per work-item of the 1x1 weight gradient (each with 4 output channels)",
      {2, 4}, {NULL}, 2},
     offsetof(rd_tuning, conv_pw_dw_block)},
    {{"mixed_pass", "mixed-op entries per pass", {4, 8, 12, 16}, {NULL}, 4}, offsetof(rd_tuning, mixed_pass)},
    {{"mixed_walk", "mixed-op walk: coalesced (GPU) or contiguous runs (CPU)", {1, 2}, {"coalesced", "runs"}, 2},
     offsetof(rd_tuning, mixed_walk)},
    {{"wg", "work-group size of element-wise kernels and reductions", {16, 32, 64, 128, 256, 512}, {NULL}, 6},
     offsetof(rd_tuning, wg)},
};
enum { N_TUNABLES = sizeof table / sizeof *table };
_Static_assert(N_TUNABLES * sizeof(int) == sizeof(rd_tuning), "one table row per field of rd_tuning");

static rd_tunable rows[N_TUNABLES];

const rd_tunable *rd_tunables(int *count) {
    if (!rows[0].key)
        for (int i = 0; i < N_TUNABLES; i++) rows[i] = table[i].t;
    *count = N_TUNABLES;
    return rows;
}

int *rd_tuning_field(rd_tuning *t, int i) { return (int *)((char *)t + table[i].offset); }

const char *rd_tuning_label(int i, int v, char *buf, size_t len) {
    const rd_tunable *t = &table[i].t;
    for (int j = 0; j < t->n_values; j++)
        if (t->values[j] == v && t->labels[j]) return t->labels[j];
    snprintf(buf, len, "%d", v);
    return buf;
}

int rd_tuning_parse(int i, const char *text, int *v) {
    const rd_tunable *t = &table[i].t;
    for (int j = 0; j < t->n_values; j++) {
        char num[16];
        snprintf(num, sizeof num, "%d", t->values[j]);
        if ((t->labels[j] && !strcmp(text, t->labels[j])) || (!t->labels[j] && !strcmp(text, num))) {
            *v = t->values[j];
            return 1;
        }
    }
    return 0;
}

static int is_gpu(const rd_device_info *d) { return (d->type & CL_DEVICE_TYPE_GPU) != 0; }

void rd_tuning_defaults(const rd_device_info *dev, rd_tuning *t) {
    /* GPUs want several warps/wavefronts per group; POCL's CPU device vectorizes
     * across work-items, and 64 keeps loops short. */
    size_t wg = is_gpu(dev) ? 256 : 64;
    while (wg > dev->max_work_group && wg > 1) wg /= 2;
    size_t group = is_gpu(dev) ? 64 : 16;
    while (group > dev->max_work_group && group > 4) group /= 2;
    t->wg = (int)wg;
    t->conv_pw = t->conv_row = t->conv_dwc = 1;
    t->conv_group = (int)group;
    /* POCL (AVX-512, alternated bench_ops runs): 7 rows of depthwise output and 8 channels per
     * dense item were the fastest of the candidates. GPUs: the same, not measured. */
    t->conv_rows = 7;
    t->conv_block = 8;
    /* 1x1 tiles: on POCL (AVX-512, alternated bench_ops runs) 4 channels x 32 pixels was the
     * fastest of 7 tiles in every case (AVX2 not measured). GPUs: one 8-pixel run per item keeps
     * neighbouring items on neighbouring memory, as before these were tunable (not measured). */
    t->conv_pw_block = is_gpu(dev) ? 8 : 4;
    t->conv_pw_pixels = is_gpu(dev) ? 8 : 32;
    /* POCL (AVX-512, alternated bench_step runs, 2026-12-07): every block over one item's pixels
     * (read from L1 after the first) beat one block per item; GPUs: one, not measured. */
    t->conv_pw_walk = is_gpu(dev) ? 1 : 2;
    /* The 1x1 weight gradient's 4 x 4 tile holds 16 sums and 8 loaded float8s: it fits 32 vector
     * registers (AVX-512; POCL reports a native float width of 16 there) and was 5-35% faster
     * than 4 x 2 on POCL there (2026-12-07); with 16 registers (AVX2, width 8) it would spill,
     * and 4 x 2 (14 registers) is what ran there before. GPUs: 4 x 2, as before (not measured). */
    t->conv_pw_dw_block = !is_gpu(dev) && dev->native_float_width >= 16 ? 4 : 2;
    t->mixed_pass = is_gpu(dev) ? 16 : 8;
    t->mixed_walk = is_gpu(dev) ? 1 : 2;
}

rd_status rd_tuning_check(const rd_device_info *dev, const rd_tuning *t, rd_err *err) {
    rd_tuning copy = *t;
    for (int i = 0; i < N_TUNABLES; i++) {
        int v = *rd_tuning_field(&copy, i), ok = 0;
        for (int j = 0; j < table[i].t.n_values; j++) ok |= table[i].t.values[j] == v;
        if (!ok) return rd_fail(err, RD_ERR_ARG, "tuning: %s = %d is not one of its candidates", table[i].t.key, v);
    }
    const char *local = t->conv_pw == RD_CONV_LOCAL ? "pw" : t->conv_row == RD_CONV_LOCAL ? "row"
                      : t->conv_dwc == RD_CONV_LOCAL ? "dwc" : NULL;
    if (local && dev->max_work_group < 256)
        return rd_fail(err, RD_ERR_ARG, "tuning: conv_%s = local needs work-groups of 256, '%s' allows %zu", local,
                       dev->name, dev->max_work_group);
    if ((size_t)t->wg > dev->max_work_group || (size_t)t->conv_group > dev->max_work_group)
        return rd_fail(err, RD_ERR_ARG, "tuning: work-group size %d is over '%s''s limit of %zu",
                       t->wg > t->conv_group ? t->wg : t->conv_group, dev->name, dev->max_work_group);
    return RD_OK;
}

void rd_tuning_format(const rd_tuning *t, char *buf, size_t len) {
    rd_tuning copy = *t;
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < N_TUNABLES && used < len; i++) {
        char num[16];
        int n = snprintf(buf + used, len - used, "%s%s=%s", i ? " " : "", table[i].t.key,
                         rd_tuning_label(i, *rd_tuning_field(&copy, i), num, sizeof num));
        if (n < 0) break;
        used += (size_t)n;
    }
}

void rd_ctx_build_options(rd_ctx *ctx) {
    snprintf(ctx->build_options, sizeof ctx->build_options,
             "-cl-std=CL1.2 -cl-mad-enable -DRD_WG=%zu -DRD_FP64=%d -DRD_GPU=%d -DRD_LOCAL_MEM=%llu%s", ctx->wg,
             ctx->dev.has_fp64, is_gpu(&ctx->dev) ? 1 : 0,
             (unsigned long long)(ctx->dev.local_mem_is_global ? 0 : ctx->dev.local_mem),
             ctx->oclgrind_shadow ? " -cl-opt-disable" : "");
}

rd_status rd_ctx_set_tuning(rd_ctx *ctx, const rd_tuning *t) {
    RD_TRY(rd_tuning_check(&ctx->dev, t, &ctx->err));
    if (ctx->n_programs > 0 && (size_t)t->wg != ctx->wg)
        return rd_fail(&ctx->err, RD_ERR_ARG,
                       "tuning: the work-group size cannot change after the first kernel is built");
    ctx->tune = *t;
    ctx->wg = (size_t)t->wg;
    rd_ctx_build_options(ctx);
    return RD_OK;
}

const rd_tuning *rd_ctx_tuning(const rd_ctx *ctx) { return &ctx->tune; }

uint64_t rd_cl_sources_hash(void) {
    uint64_t h = 0x7475e1e5ull;
    for (const rd_cl_source *s = rd_cl_sources; s->name; s++) h = rd_hash64(s->text, s->len, h);
    return h;
}

rd_status rd_tuning_from_text(const rd_device_info *dev, const char *text, rd_tuning *t, rd_err *err) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return rd_fail(err, RD_ERR_ARG, "tuning: '%s' is not key=value", tok);
        *eq = 0;
        int i = 0;
        while (i < N_TUNABLES && strcmp(table[i].t.key, tok)) i++;
        if (i == N_TUNABLES) return rd_fail(err, RD_ERR_ARG, "tuning: unknown parameter '%s'", tok);
        if (!rd_tuning_parse(i, eq + 1, rd_tuning_field(t, i)))
            return rd_fail(err, RD_ERR_ARG, "tuning: %s = '%s' is not one of its candidates", tok, eq + 1);
    }
    return rd_tuning_check(dev, t, err);
}
