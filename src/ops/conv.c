/* Convolution: dense, depthwise, strided, dilated, padded (padding may be
 * negative), ReLU fused on the input; forward, dx and dw (kernels: cl/conv.cl).
 *
 * Paths, chosen per call from the geometry:
 *  - pw:  dense 1x1, stride 1, no padding: flat pixels, 8 pixels x 8 channels per work-item;
 *  - row: dense kernels DARTS uses (1x1 stride 2, 3x3, 1x7, 7x1 with their strides):
 *         8 columns of a row x 8 channels per work-item, window unrolled;
 *         pw and row: or (tune.conv_pw / conv_row = local, written for GPUs) an implicit GEMM in
 *         16 x 16 tiles staged in local memory (forward, dx and dw);
 *  - dwc: depthwise 3x3 / 5x5 / 7x7, stride 1 or 2, dilation 1 or 2: 8 columns x 7 rows;
 *         or (tune.conv_dwc = local, written for GPUs) 16 x 16 tiles from patches in local memory;
 *  - gen: anything else (one work-item per element), also the reference path of the tests.
 * dw is always two stages without float atomics: per chunk of images, partial
 * sums into scratch slot RD_SCRATCH_CONV0, then conv_dw_finish adds them into dw.
 * Measured alternatives (tools/bench_ops.c, see the report of the conv branch):
 * CLBlast GEMM per image for 1x1 convs was slower on POCL than the pw kernels at
 * every DARTS shape and its batched/indirect paths allocate device memory we
 * cannot count, so GEMM is not used here. */
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

/* The tile constants of cl/conv.cl: the one table of them. The launch code here sizes its
 * grids with them and each build of cl/conv.cl gets those of its part as -D defines (its
 * program spec), so a context's tuning picks its own builds, and changing a tile rebuilds
 * only the part that uses it. Parts: BASE (1x1, generic and local-memory kernels), DWC
 * (the tiled depthwise ones, -DDWC_K), ROW (the tiled 3x3 / 1x7 / 7x1 / strided 1x1 ones).
 * VL: floats per vector (cl/conv.cl's vectors are float8); DWC_RB: output rows per
 * depthwise work-item (tune.conv_rows); CONV_COB / CONV_CIB: output / input channels per
 * 3x3 / 1x7 / 7x1 / strided 1x1 forward / dx work-item (tune.conv_block; CONV_CIB2: dx with
 * column stride 2, which keeps two phase vectors per channel, so half as many channels);
 * PW_COB x 8 * PW_PB: channels x pixels per 1x1 forward / dx work-item (tune.conv_pw_block,
 * tune.conv_pw_pixels: each weight loaded feeds PW_PB vectors); PW_DW_COB x PW_DW_CIB:
 * channels per 1x1 weight-gradient work-item (4 x tune.conv_pw_dw_block; 4 x 4: 16 sums for
 * 8 loads per pixel run; on POCL, AVX-512, faster than 4 x 2 at the four supernet shapes timed,
 * 5-35%, and than 8 x 2; see the README's Speed); GEMM_TS, DWL_TS: the local-memory kernels'
 * square tiles. */
enum { PART_BASE = 1, PART_DWC = 2, PART_ROW = 4, PART_ALL = 7 };
#define CONV_TILES(X)                                                                                          \
    X(VL, 8, ALL) X(DWC_RB, tu->conv_rows, DWC) X(CONV_COB, tu->conv_block, ROW) X(CONV_CIB, tu->conv_block, ROW) \
    X(CONV_CIB2, tu->conv_block > 1 ? tu->conv_block / 2 : 1, ROW) X(PW_COB, tu->conv_pw_block, BASE)            \
    X(PW_PB, tu->conv_pw_pixels / 8, BASE) X(PW_DW_COB, 4, BASE) X(PW_DW_CIB, tu->conv_pw_dw_block, BASE)       \
    X(GEMM_TS, 16, BASE) X(DWL_TS, 16, BASE)
#define TILE_FIELD(name, value, part) int name;
#define TILE_VALUE(name, value, part) .name = (value),
#define TILE_SPEC(name, value, part) \
    if ((PART_##part & which) && n < len) n += (size_t)snprintf(prog + n, len - n, " -D" #name "=%d", t.name);
typedef struct conv_tiles {
    CONV_TILES(TILE_FIELD)
} conv_tiles;

static conv_tiles tiles_of(const rd_ctx *ctx) {
    const rd_tuning *tu = &ctx->tune;
    conv_tiles t = {CONV_TILES(TILE_VALUE)};
    return t;
}

/* "conv -DVL=8 ...": the build of cl/conv.cl's part with ctx's tiles, then extra (a variant's options). */
static void conv_program(const rd_ctx *ctx, int which, const char *extra, char *prog, size_t len) {
    conv_tiles t = tiles_of(ctx);
    size_t n = (size_t)snprintf(prog, len, "conv");
    CONV_TILES(TILE_SPEC)
    if (n < len) snprintf(prog + n, len - n, "%s", extra);
}

static rd_conv_mode g_mode = RD_CONV_AUTO;

void rd_conv_set_mode(rd_conv_mode mode) { g_mode = mode; }

rd_conv_params rd_conv_dense_params(int kh, int kw, int stride_h, int stride_w, int pad_h, int pad_w, int dil,
                                    int relu_in) {
    rd_conv_params p = {kh, kw, stride_h, stride_w, pad_h, pad_w, pad_h, pad_w, dil, dil, 1, relu_in != 0};
    return p;
}

rd_conv_params rd_conv_depthwise_params(int channels, int k, int stride, int pad, int dil, int relu_in) {
    rd_conv_params p = {k, k, stride, stride, pad, pad, pad, pad, dil, dil, channels, relu_in != 0};
    return p;
}

static int out_size(int in, int pad_a, int pad_b, int k, int stride, int dil) {
    if (stride < 1 || dil < 1 || k < 1) return 0;
    long span = (long)in + pad_a + pad_b - (long)dil * (k - 1) - 1;
    return span < 0 ? 0 : (int)(span / stride + 1);
}

int rd_conv_out_h(const rd_conv_params *p, int in_h) {
    return out_size(in_h, p->pad_top, p->pad_bottom, p->kh, p->stride_h, p->dil_h);
}

int rd_conv_out_w(const rd_conv_params *p, int in_w) {
    return out_size(in_w, p->pad_left, p->pad_right, p->kw, p->stride_w, p->dil_w);
}

size_t rd_conv_weight_count(const rd_conv_params *p, int in_c, int out_c) {
    int groups = p->groups > 0 ? p->groups : 1;
    return (size_t)out_c * (size_t)(in_c / groups) * (size_t)p->kh * (size_t)p->kw;
}

/* ---- geometry, checks, path choice ---- */

typedef enum { PATH_PW, PATH_ROW, PATH_DWC, PATH_GEN } conv_path;

/* Kernel arguments shared by every conv kernel (CONV_GEOM in cl/conv.cl). */
typedef struct geom {
    cl_int n, ci, h, w, co, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, relu;
} geom;
#define GEOM_ARGS(g)                                                                                              \
    RD_ARG((g).n), RD_ARG((g).ci), RD_ARG((g).h), RD_ARG((g).w), RD_ARG((g).co), RD_ARG((g).oh), RD_ARG((g).ow), \
        RD_ARG((g).kh), RD_ARG((g).kw), RD_ARG((g).sh), RD_ARG((g).sw), RD_ARG((g).pt), RD_ARG((g).pl),          \
        RD_ARG((g).dh), RD_ARG((g).dw), RD_ARG((g).relu)

typedef struct plan {
    geom g;
    conv_path path;
    char tag[16];   /* kernel suffix of the row / dwc variants */
    char prog[RD_PROGRAM_SPEC_LEN];  /* the build of cl/conv.cl that holds them */
    char base[RD_PROGRAM_SPEC_LEN];  /* the build without variants (pw, local, generic kernels) */
    conv_tiles t;   /* ctx's tile constants */
    int cobw;       /* output channels per dw work-item (row path) */
    int local;      /* the path's local-memory kernels (tune.conv_pw / conv_row / conv_dwc = local) */
    cl_int groups;
    size_t wcount;
} plan;

/* Row-path variants and their dw tile width (output channels per dw work-item):
 * the one list of them, passed to cl/conv.cl as -DROW_LIST. The row variants
 * are one build of cl/conv.cl, each depthwise kernel size another (-DDWC_K),
 * made the first time a run needs them. */
static const struct { int kh, kw, sh, sw, cobw; } row_variants[] = {
    {1, 1, 2, 2, 6}, {3, 3, 1, 1, 3}, {3, 3, 2, 2, 3}, {1, 7, 1, 1, 1},
    {1, 7, 1, 2, 1}, {7, 1, 1, 1, 6}, {7, 1, 2, 1, 6},
};
enum { N_ROW_VARIANTS = sizeof row_variants / sizeof *row_variants };

static void row_program(const rd_ctx *ctx, char *prog, size_t len) {
    char list[160] = " -DROW_LIST=";
    size_t n = strlen(list);
    for (int i = 0; i < N_ROW_VARIANTS && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "V(%d,%d,%d,%d,%d)", row_variants[i].kh,
                              row_variants[i].kw, row_variants[i].sh, row_variants[i].sw, row_variants[i].cobw);
    conv_program(ctx, PART_ROW, list, prog, len);
}

static void dwc_program(const rd_ctx *ctx, int k, char *prog, size_t len) {
    char extra[16];
    snprintf(extra, sizeof extra, " -DDWC_K=%d", k);
    conv_program(ctx, PART_DWC, extra, prog, len);
}

int rd_conv_programs(const rd_ctx *ctx, char specs[][RD_PROGRAM_SPEC_LEN], int max) {
    int n = 0;
    if (n < max) conv_program(ctx, PART_BASE, "", specs[n++], RD_PROGRAM_SPEC_LEN);
    if (n < max) row_program(ctx, specs[n++], RD_PROGRAM_SPEC_LEN);
    for (int k = 3; k <= 7 && n < max; k += 2) dwc_program(ctx, k, specs[n++], RD_PROGRAM_SPEC_LEN);
    return n;
}

static void choose_path(const rd_ctx *ctx, const rd_conv_params *p, plan *pl) {
    const geom *g = &pl->g;
    pl->path = PATH_GEN;
    pl->tag[0] = 0;
    pl->t = tiles_of(ctx);
    conv_program(ctx, PART_BASE, "", pl->base, sizeof pl->base);
    snprintf(pl->prog, sizeof pl->prog, "%s", pl->base);
    pl->cobw = 1;
    pl->local = 0;
    if (g_mode == RD_CONV_GENERIC) return;
    if (pl->groups == 1) {
        if (p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && !p->pad_top && !p->pad_left &&
            !p->pad_bottom && !p->pad_right) {
            if (ctx->tune.conv_pw) pl->path = PATH_PW;
            pl->local = ctx->tune.conv_pw == RD_CONV_LOCAL;
            return;
        }
        for (int i = 0; i < N_ROW_VARIANTS; i++)
            if (row_variants[i].kh == p->kh && row_variants[i].kw == p->kw && row_variants[i].sh == p->stride_h &&
                row_variants[i].sw == p->stride_w) {
                if (!ctx->tune.conv_row) return;
                pl->path = PATH_ROW;
                pl->local = ctx->tune.conv_row == RD_CONV_LOCAL;
                pl->cobw = row_variants[i].cobw;
                row_program(ctx, pl->prog, sizeof pl->prog);
                snprintf(pl->tag, sizeof pl->tag, "k%dx%ds%d_%d", p->kh, p->kw, p->stride_h, p->stride_w);
                return;
            }
        return;
    }
    if (pl->groups == g->ci && g->ci == g->co && p->kh == p->kw && (p->kh == 3 || p->kh == 5 || p->kh == 7) &&
        p->stride_h == p->stride_w && (p->stride_h == 1 || p->stride_h == 2) && p->dil_h == p->dil_w &&
        (p->dil_h == 1 || p->dil_h == 2) && ctx->tune.conv_dwc) {
        pl->path = PATH_DWC;
        pl->local = ctx->tune.conv_dwc == RD_CONV_LOCAL;
        dwc_program(ctx, p->kh, pl->prog, sizeof pl->prog);
        snprintf(pl->tag, sizeof pl->tag, "k%ds%dd%d", p->kh, p->stride_h, p->dil_h);
    }
}

/* Checks the parameters and x -> (out_c, y shape); fills the plan. */
/* need_mem 0: shapes only (a memory plan sizes scratch before anything is allocated). */
static rd_status make_plan(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_tensor *y,
                           const char *yname, int need_mem, plan *pl) {
    char sx[64], sy[64];
    if (!p || !x || !y) return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: missing parameters or tensors");
    int groups = p->groups > 0 ? p->groups : 1;
    if (p->kh < 1 || p->kw < 1 || p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1 ||
        p->groups < 1)
        return rd_fail(&ctx->err, RD_ERR_ARG,
                       "conv2d: kernel %dx%d, stride %dx%d, dilation %dx%d and groups %d must all be >= 1", p->kh,
                       p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w, p->groups);
    if (need_mem && (!x->mem || !y->mem))
        return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: %s has no device memory", !x->mem ? "x" : yname);
    if (x->n < 1 || x->c < 1 || x->h < 1 || x->w < 1 || x->c % groups || y->c < 1 || y->c % groups)
        return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: x %s and %s %s do not fit %d groups",
                       rd_tensor_shape_str(x, sx, sizeof sx), yname, rd_tensor_shape_str(y, sy, sizeof sy), groups);
    int oh = rd_conv_out_h(p, x->h), ow = rd_conv_out_w(p, x->w);
    if (oh < 1 || ow < 1)
        return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: x %s gives an empty output (kernel %dx%d, padding %d,%d,%d,%d)",
                       rd_tensor_shape_str(x, sx, sizeof sx), p->kh, p->kw, p->pad_top, p->pad_left, p->pad_bottom,
                       p->pad_right);
    if (y->n != x->n || y->h != oh || y->w != ow)
        return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: x %s needs %s %dx%dx%dx%d, got %s",
                       rd_tensor_shape_str(x, sx, sizeof sx), yname, x->n, y->c, oh, ow,
                       rd_tensor_shape_str(y, sy, sizeof sy));
    if ((size_t)x->c * x->h * x->w > (size_t)INT32_MAX || (size_t)y->c * oh * ow > (size_t)INT32_MAX)
        return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: images of x %s are too large for 32-bit indices",
                       rd_tensor_shape_str(x, sx, sizeof sx));
    geom g = {x->n, x->c, x->h, x->w, y->c, oh, ow, p->kh, p->kw, p->stride_h, p->stride_w,
              p->pad_top, p->pad_left, p->dil_h, p->dil_w, p->relu_in != 0};
    pl->g = g;
    pl->groups = groups;
    pl->wcount = rd_conv_weight_count(p, x->c, y->c);
    choose_path(ctx, p, pl);
    return RD_OK;
}

static rd_status check_weights(rd_ctx *ctx, const rd_vec *w, const char *name, const plan *pl, const rd_tensor *x) {
    if (!w || !w->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d: %s has no device memory", name);
    if (w->len != pl->wcount) {
        char sx[64];
        return rd_fail(&ctx->err, RD_ERR_ARG,
                       "conv2d: %s has %zu floats, expected %zu (x %s -> %d channels, kernel %dx%d, groups %d)", name,
                       w->len, pl->wcount, rd_tensor_shape_str(x, sx, sizeof sx), pl->g.co, pl->g.kh, pl->g.kw,
                       pl->groups);
    }
    return RD_OK;
}

/* ---- launch shapes ---- */

static int is_gpu(const rd_ctx *ctx) { return (ctx->dev.type & CL_DEVICE_TYPE_GPU) != 0; }

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* Tiles of (columns, rows, planes), tune.conv_group items per group: on CPUs
 * that many planes at one tile position (one compiled work-group size for
 * every shape); on GPUs adjacent items take adjacent column tiles of a row. */
static void tile_local(const rd_ctx *ctx, const size_t global[3], size_t local[3]) {
    size_t group = (size_t)ctx->tune.conv_group;
    if (!is_gpu(ctx)) {
        local[0] = 1;
        local[1] = 1;
        local[2] = group;
        return;
    }
    size_t l0 = global[0] < 32 ? global[0] : 32;
    if (l0 > group) l0 = group;
    size_t l2 = group / l0;
    local[0] = l0;
    local[1] = 1;
    local[2] = l2 ? l2 : 1;
}

/* Items along the channel blocks of a tiled 1x1 forward or dx (cl/conv.cl, PW_BLOCKS): one per
 * block, or (tune.conv_pw_walk = all, CPUs) one item runs every block of its pixels, which its
 * core then reads from L1 after the first block instead of from L2 once per block. */
static size_t pw_block_items(const rd_ctx *ctx, size_t channels, int block) {
    return ctx->tune.conv_pw_walk == 2 ? 1 : ceil_div(channels, (size_t)block);
}

/* dw partial sums: how many chunks of images (each a partial sum in scratch). */
static void dw_chunks(const rd_ctx *ctx, int n, size_t tiles, int *chunks, int *per_chunk) {
    size_t target = is_gpu(ctx) ? 16384 : 16 * (size_t)(ctx->dev.compute_units ? ctx->dev.compute_units : 1);
    size_t c = ceil_div(target, tiles ? tiles : 1);
    if (c > (size_t)n) c = (size_t)n;
    if (c < 1) c = 1;
    int ipc = (int)ceil_div((size_t)n, c);
    *per_chunk = ipc;
    *chunks = (int)ceil_div((size_t)n, (size_t)ipc);
}

/* The dense convolutions' implicit GEMM through local memory (conv_*_local in cl/conv.cl). */
static int gemm_local(const plan *pl) { return pl->local && (pl->path == PATH_PW || pl->path == PATH_ROW); }

/* Work-items of one chunk of images in the dw kernel. */
static size_t dw_tiles(const plan *pl) {
    const geom *g = &pl->g;
    if (gemm_local(pl))
        return rd_round_up((size_t)g->ci * g->kh * g->kw, pl->t.GEMM_TS) * rd_round_up((size_t)g->co, pl->t.GEMM_TS);
    switch (pl->path) {
    case PATH_PW: return ceil_div((size_t)g->co, pl->t.PW_DW_COB) * ceil_div((size_t)g->ci, pl->t.PW_DW_CIB);
    case PATH_ROW: return ceil_div((size_t)g->co, (size_t)pl->cobw) * (size_t)g->ci * (size_t)g->kh;
    case PATH_DWC: return (size_t)g->ci * (size_t)g->kh;
    default: return pl->wcount;
    }
}

static size_t dw_partial_bytes(const rd_ctx *ctx, const plan *pl) {
    int chunks, ipc;
    dw_chunks(ctx, pl->g.n, dw_tiles(pl), &chunks, &ipc);
    return chunks > 1 ? (size_t)chunks * pl->wcount * sizeof(float) : 0;  /* one chunk adds into dw */
}

size_t rd_conv2d_scratch_bytes(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_tensor *y) {
    plan pl;
    if (make_plan(ctx, p, x, y, "y", 0, &pl) != RD_OK) return 0;
    return dw_partial_bytes(ctx, &pl);   /* forward and dx need none */
}

/* ---- forward ---- */

rd_status rd_conv2d_forward(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_vec *w,
                            const rd_tensor *y) {
    plan pl;
    RD_TRY(make_plan(ctx, p, x, y, "y", 1, &pl));
    RD_TRY(check_weights(ctx, w, "w", &pl, x));
    const geom g = pl.g;
    char name[48];
    size_t gl[3], lo[3];
    if (gemm_local(&pl)) {
        const size_t ts = (size_t)pl.t.GEMM_TS;
        size_t gg[3] = {rd_round_up((size_t)g.oh * g.ow, ts), rd_round_up((size_t)g.co, ts), (size_t)g.n},
               ll[3] = {ts, ts, 1};
        return rd_launch(ctx, pl.base, "conv_fwd_local", 3, gg, ll, RD_TARG(x), RD_VARG(w), RD_TARG(y), GEOM_ARGS(g),
                         RD_END);
    }
    switch (pl.path) {
    case PATH_PW:
        gl[0] = ceil_div((size_t)g.oh * g.ow, (size_t)pl.t.VL * pl.t.PW_PB);
        gl[1] = pw_block_items(ctx, (size_t)g.co, pl.t.PW_COB);
        gl[2] = (size_t)g.n;
        tile_local(ctx, gl, lo);
        return rd_launch(ctx, pl.base, "pw_fwd", 3, gl, lo, RD_TARG(x), RD_VARG(w), RD_TARG(y), GEOM_ARGS(g), RD_END);
    case PATH_ROW:
        gl[0] = ceil_div((size_t)g.ow, pl.t.VL);
        gl[1] = (size_t)g.oh;
        gl[2] = (size_t)g.n * ceil_div((size_t)g.co, pl.t.CONV_COB);
        tile_local(ctx, gl, lo);
        snprintf(name, sizeof name, "conv_fwd_%s", pl.tag);
        return rd_launch(ctx, pl.prog, name, 3, gl, lo, RD_TARG(x), RD_VARG(w), RD_TARG(y), GEOM_ARGS(g), RD_END);
    case PATH_DWC:
        gl[0] = ceil_div((size_t)g.ow, pl.t.VL);
        gl[1] = ceil_div((size_t)g.oh, pl.t.DWC_RB);
        gl[2] = (size_t)g.n * (size_t)g.ci;
        if (pl.local) {
            size_t gg[3] = {rd_round_up((size_t)g.ow, pl.t.DWL_TS), rd_round_up((size_t)g.oh, pl.t.DWL_TS),
                            (size_t)g.n * (size_t)g.ci},
                   ll[3] = {pl.t.DWL_TS, pl.t.DWL_TS, 1};
            return rd_launch(ctx, pl.base, "dwc_fwd_local", 3, gg, ll, RD_TARG(x), RD_VARG(w), RD_TARG(y),
                             GEOM_ARGS(g), RD_END);
        }
        tile_local(ctx, gl, lo);
        snprintf(name, sizeof name, "dwc_fwd_%s", pl.tag);
        return rd_launch(ctx, pl.prog, name, 3, gl, lo, RD_TARG(x), RD_VARG(w), RD_TARG(y), GEOM_ARGS(g), RD_END);
    default:
        gl[0] = (size_t)g.oh * g.ow;
        gl[1] = (size_t)g.co;
        gl[2] = (size_t)g.n;
        return rd_launch(ctx, pl.base, "conv_fwd_gen", 3, gl, NULL, RD_TARG(x), RD_VARG(w), RD_TARG(y), GEOM_ARGS(g),
                         RD_ARG(pl.groups), RD_END);
    }
}

/* ---- backward ---- */

static rd_status backward_dx(rd_ctx *ctx, const plan *pl, const rd_tensor *x, const rd_vec *w, const rd_tensor *dy,
                             const rd_tensor *dx, int dx_accumulate) {
    const geom g = pl->g;
    cl_int acc = dx_accumulate != 0;
    char name[48];
    size_t gl[3], lo[3];
    if (gemm_local(pl)) {
        const size_t ts = (size_t)pl->t.GEMM_TS;
        size_t gg[3] = {rd_round_up((size_t)g.h * g.w, ts), rd_round_up((size_t)g.ci, ts), (size_t)g.n},
               ll[3] = {ts, ts, 1};
        return rd_launch(ctx, pl->base, "conv_dx_local", 3, gg, ll, RD_TARG(x), RD_VARG(w), RD_TARG(dy), RD_TARG(dx),
                         GEOM_ARGS(g), RD_ARG(acc), RD_END);
    }
    switch (pl->path) {
    case PATH_PW:
        gl[0] = ceil_div((size_t)g.h * g.w, (size_t)pl->t.VL * pl->t.PW_PB);
        gl[1] = pw_block_items(ctx, (size_t)g.ci, pl->t.PW_COB);
        gl[2] = (size_t)g.n;
        tile_local(ctx, gl, lo);
        return rd_launch(ctx, pl->base, "pw_dx", 3, gl, lo, RD_TARG(x), RD_VARG(w), RD_TARG(dy), RD_TARG(dx),
                         GEOM_ARGS(g), RD_ARG(acc), RD_END);
    case PATH_ROW:
        gl[0] = ceil_div((size_t)g.w, (size_t)pl->t.VL * g.sw);
        gl[1] = (size_t)g.h;
        gl[2] = (size_t)g.n * ceil_div((size_t)g.ci, g.sw == 2 ? pl->t.CONV_CIB2 : pl->t.CONV_CIB);
        tile_local(ctx, gl, lo);
        snprintf(name, sizeof name, "conv_dx_%s", pl->tag);
        return rd_launch(ctx, pl->prog, name, 3, gl, lo, RD_TARG(x), RD_VARG(w), RD_TARG(dy), RD_TARG(dx), GEOM_ARGS(g),
                         RD_ARG(acc), RD_END);
    case PATH_DWC:
        gl[0] = ceil_div((size_t)g.w, (size_t)pl->t.VL * g.sw);
        gl[1] = ceil_div((size_t)g.h, pl->t.DWC_RB);
        gl[2] = (size_t)g.n * (size_t)g.ci;
        if (pl->local) {
            size_t gg[3] = {rd_round_up((size_t)g.w, pl->t.DWL_TS), rd_round_up((size_t)g.h, pl->t.DWL_TS),
                            (size_t)g.n * (size_t)g.ci},
                   ll[3] = {pl->t.DWL_TS, pl->t.DWL_TS, 1};
            return rd_launch(ctx, pl->base, "dwc_dx_local", 3, gg, ll, RD_TARG(x), RD_VARG(w), RD_TARG(dy), RD_TARG(dx),
                             GEOM_ARGS(g), RD_ARG(acc), RD_END);
        }
        tile_local(ctx, gl, lo);
        snprintf(name, sizeof name, "dwc_dx_%s", pl->tag);
        return rd_launch(ctx, pl->prog, name, 3, gl, lo, RD_TARG(x), RD_VARG(w), RD_TARG(dy), RD_TARG(dx), GEOM_ARGS(g),
                         RD_ARG(acc), RD_END);
    default:
        gl[0] = (size_t)g.h * g.w;
        gl[1] = (size_t)g.ci;
        gl[2] = (size_t)g.n;
        return rd_launch(ctx, pl->base, "conv_dx_gen", 3, gl, NULL, RD_TARG(x), RD_VARG(w), RD_TARG(dy), RD_TARG(dx),
                         GEOM_ARGS(g), RD_ARG(acc), RD_ARG(pl->groups), RD_END);
    }
}

/* Stage 1 of dw into out: the partial sums of every chunk of images (chunks x wcount floats,
 * add 0), or with one chunk dw += the sum (add 1). */
static rd_status dw_partials(rd_ctx *ctx, const plan *pl, const rd_tensor *x, const rd_tensor *dy, const rd_vec *out,
                             cl_int add, int chunks, int ipc) {
    const geom g = pl->g;
    cl_int cipc = ipc;
    if (pl->local && pl->path == PATH_DWC) {
        size_t gg[3] = {ctx->wg, pl->wcount, (size_t)chunks}, ll[3] = {ctx->wg, 1, 1};
        return rd_launch(ctx, pl->base, "dwc_dw_local", 3, gg, ll, RD_TARG(x), RD_TARG(dy), RD_VARG(out),
                         GEOM_ARGS(g), RD_ARG(cipc), RD_ARG(add), RD_END);
    }
    if (gemm_local(pl)) {
        const size_t ts = (size_t)pl->t.GEMM_TS;
        size_t gg[3] = {rd_round_up((size_t)g.ci * g.kh * g.kw, ts), rd_round_up((size_t)g.co, ts), (size_t)chunks},
               ll[3] = {ts, ts, 1};
        return rd_launch(ctx, pl->base, "conv_dw_local", 3, gg, ll, RD_TARG(x), RD_TARG(dy), RD_VARG(out),
                         GEOM_ARGS(g), RD_ARG(cipc), RD_ARG(add), RD_END);
    }
    size_t gl[2] = {dw_tiles(pl), (size_t)chunks}, lo[2] = {1, 1};
    if (is_gpu(ctx)) lo[0] = (size_t)ctx->tune.conv_group;
    char name[48];
    switch (pl->path) {
    case PATH_PW:
        return rd_launch(ctx, pl->base, "pw_dw", 2, gl, lo, RD_TARG(x), RD_TARG(dy), RD_VARG(out), GEOM_ARGS(g),
                         RD_ARG(cipc), RD_ARG(add), RD_END);
    case PATH_ROW:
    case PATH_DWC:
        snprintf(name, sizeof name, "%s_dw_%s", pl->path == PATH_ROW ? "conv" : "dwc", pl->tag);
        return rd_launch(ctx, pl->prog, name, 2, gl, lo, RD_TARG(x), RD_TARG(dy), RD_VARG(out), GEOM_ARGS(g),
                         RD_ARG(cipc), RD_ARG(add), RD_END);
    default:
        return rd_launch(ctx, pl->base, "conv_dw_gen", 2, gl, NULL, RD_TARG(x), RD_TARG(dy), RD_VARG(out),
                         GEOM_ARGS(g), RD_ARG(cipc), RD_ARG(pl->groups), RD_ARG(add), RD_END);
    }
}

static rd_status backward_dw(rd_ctx *ctx, const plan *pl, const rd_tensor *x, const rd_tensor *dy,
                             const rd_vec *dw) {
    int chunks, ipc;
    dw_chunks(ctx, pl->g.n, dw_tiles(pl), &chunks, &ipc);
    if (chunks == 1) return dw_partials(ctx, pl, x, dy, dw, 1, chunks, ipc);  /* no stage 2 */
    cl_mem partial;
    RD_TRY(rd_scratch(ctx, RD_SCRATCH_CONV0, dw_partial_bytes(ctx, pl), &partial));
    rd_vec pv = {partial, 0, (size_t)chunks * pl->wcount};
    RD_TRY(dw_partials(ctx, pl, x, dy, &pv, 0, chunks, ipc));
    cl_int count = (cl_int)pl->wcount, cchunks = chunks;
    size_t fg[1] = {pl->wcount};
    return rd_launch(ctx, pl->base, "conv_dw_finish", 1, fg, NULL, RD_ARG(partial), RD_ARG(count), RD_ARG(cchunks),
                     RD_VARG(dw), RD_END);
}

rd_status rd_conv2d_backward(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_vec *w,
                             const rd_tensor *dy, const rd_tensor *dx, int dx_accumulate, const rd_vec *dw) {
    plan pl;
    RD_TRY(make_plan(ctx, p, x, dy, "dy", 1, &pl));
    if (dx) {
        RD_TRY(check_weights(ctx, w, "w", &pl, x));
        RD_TRY(rd_check_same_shape(ctx, "conv2d backward", x, "x", dx, "dx"));
        if (!dx->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "conv2d backward: dx has no device memory");
    }
    if (dw) RD_TRY(check_weights(ctx, dw, "dw", &pl, x));
    if (dx) RD_TRY(backward_dx(ctx, &pl, x, w, dy, dx, dx_accumulate));
    if (dw) RD_TRY(backward_dw(ctx, &pl, x, dy, dw));
    return RD_OK;
}

/* ---- a group of 1x1 convolutions (rd_pw_group) ---- */

/* Every slice's convolution: 1x1, stride 1, no padding, no ReLU. */
static rd_conv_params group_params(void) { return rd_conv_dense_params(1, 1, 1, 1, 0, 0, 1, 0); }

/* Slice i's tensor at row entries (off, ns). */
static rd_tensor group_tensor(const rd_pw_group *g, int i, int at) {
    rd_tensor t = rd_tensor_make(g->buf, g->host[5 * i + at], g->n, g->c, g->h, g->w);
    t.nstride = g->host[5 * i + at + 1];
    return t;
}

/* Checks the group against w (and dw) and plans one slice's 1x1 convolution. */
static rd_status group_plan(rd_ctx *ctx, const char *op, const rd_pw_group *g, const rd_vec *w, const rd_vec *dw,
                            plan *pl) {
    if (!g || !g->buf || !g->host || g->slices < 1 || g->slices > 65535)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: no tensors, table or slices", op);
    if (!w || !w->mem || (dw && !dw->mem)) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: no weights", op);
    const rd_conv_params p = group_params();
    rd_tensor x = group_tensor(g, 0, 0);
    RD_TRY(make_plan(ctx, &p, &x, &x, "y", 1, pl));
    const size_t cc = (size_t)g->c * g->c, chw = (size_t)g->c * g->h * g->w;
    size_t bytes = 0;
    if (clGetMemObjectInfo(g->buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) != CL_SUCCESS)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: buf is not a buffer", op);
    const size_t floats = bytes / sizeof(float);
    for (int i = 0; i < g->slices; i++) {
        const uint32_t *r = g->host + 5 * i;
        const size_t x_end = r[0] + (size_t)(g->n - 1) * r[1] + chw, y_end = r[3] + (size_t)(g->n - 1) * r[4] + chw;
        if (r[2] + cc > w->len || (dw && r[2] + cc > dw->len) || r[1] < chw || r[4] < chw || x_end > floats ||
            y_end > floats)
            return rd_fail(&ctx->err, RD_ERR_ARG,
                           "%s: slice %d's table entry (%u, %u, %u, %u, %u) is outside its vectors or strides", op,
                           i, r[0], r[1], r[2], r[3], r[4]);
    }
    return RD_OK;
}

/* One launch for every slice: the tiled 1x1 kernels (not the local-memory ones). */
static int group_one_launch(const plan *pl) { return pl->path == PATH_PW && !pl->local; }

/* The forward or dx kernel of a group over (pixel runs, channel blocks, slices x images). */
static rd_status group_launch_pixels(rd_ctx *ctx, const plan *pl, const rd_pw_group *g, const char *kernel,
                                     const rd_vec *w) {
    const cl_int G = g->slices;
    size_t gl[3] = {ceil_div((size_t)g->h * g->w, (size_t)pl->t.VL * pl->t.PW_PB),
                    pw_block_items(ctx, (size_t)g->c, pl->t.PW_COB), (size_t)g->n * g->slices},
           lo[3];
    tile_local(ctx, gl, lo);
    return rd_launch(ctx, pl->base, kernel, 3, gl, lo, RD_ARG(g->buf), RD_VARG(w), RD_VARG(&g->tab), RD_ARG(G),
                     GEOM_ARGS(pl->g), RD_END);
}

rd_status rd_pw_group_forward(rd_ctx *ctx, const rd_pw_group *g, const rd_vec *w) {
    plan pl;
    RD_TRY(group_plan(ctx, "1x1 group forward", g, w, NULL, &pl));
    if (!group_one_launch(&pl)) {
        const rd_conv_params p = group_params();
        for (int i = 0; i < g->slices; i++) {
            rd_tensor x = group_tensor(g, i, 0), y = group_tensor(g, i, 3);
            rd_vec wi = rd_vec_slice(*w, g->host[5 * i + 2], (size_t)g->c * g->c);
            RD_TRY(rd_conv2d_forward(ctx, &p, &x, &wi, &y));
        }
        return RD_OK;
    }
    return group_launch_pixels(ctx, &pl, g, "pw_fwd_group", w);
}

rd_status rd_pw_group_backward(rd_ctx *ctx, const rd_pw_group *g, const rd_vec *w, const rd_vec *dw) {
    plan pl;
    RD_TRY(group_plan(ctx, "1x1 group backward", g, w, dw, &pl));
    int chunks = 1, ipc;
    if (dw) dw_chunks(ctx, g->n, dw_tiles(&pl) * (size_t)g->slices, &chunks, &ipc);
    if (!group_one_launch(&pl) || chunks > 1) {
        /* per slice: the weight gradient reads x before dx overwrites it */
        const rd_conv_params p = group_params();
        for (int i = 0; i < g->slices; i++) {
            rd_tensor x = group_tensor(g, i, 0), dy = group_tensor(g, i, 3);
            const size_t at = g->host[5 * i + 2], cc = (size_t)g->c * g->c;
            rd_vec wi = rd_vec_slice(*w, at, cc), dwi;
            if (dw) {
                dwi = rd_vec_slice(*dw, at, cc);
                RD_TRY(rd_conv2d_backward(ctx, &p, &x, &wi, &dy, NULL, 0, &dwi));
            }
            RD_TRY(rd_conv2d_backward(ctx, &p, &x, &wi, &dy, &x, 0, NULL));
        }
        return RD_OK;
    }
    if (dw) {
        size_t gw[2] = {dw_tiles(&pl), (size_t)g->slices}, lw[2] = {1, 1};
        if (is_gpu(ctx)) lw[0] = (size_t)ctx->tune.conv_group;
        const cl_int G = g->slices;
        RD_TRY(rd_launch(ctx, pl.base, "pw_dw_group", 2, gw, lw, RD_ARG(g->buf), RD_VARG(dw), RD_VARG(&g->tab),
                         RD_ARG(G), GEOM_ARGS(pl.g), RD_END));
    }
    return group_launch_pixels(ctx, &pl, g, "pw_dx_group", w);
}
