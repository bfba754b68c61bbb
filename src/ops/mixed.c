/* The softmax-relaxed DARTS mixed op: out (+)= sum_j w[j] ys[j], with the
 * weights w (softmax of the edge's alphas) on the device (kernels: cl/mixed.cl).
 *
 * A kernel takes up to MIX_SLOTS (16) tensors at once, so on a GPU for k <= 16
 * the forward and the input gradients are each one pass, and the k weight
 * gradients one reduction pass plus one small finishing launch. Larger k run in
 * chunks of 16; on CPUs in chunks of 8 (see pass_slots).
 *
 * An entry with .mem == NULL is absent: in ys it is the zero op ("none", whose
 * output need not exist; its weight gradient is 0), in dys a gradient nobody
 * wants. The slot arguments are set on the kernel object directly (they are
 * too many for one rd_launch list) and stay set until the next call changes
 * them; rd_launch then sets the leading arguments and enqueues. */
#include <stdio.h>

#include "ops/ops_internal.h"

#define PROG "mixed"
enum { MIX_SLOTS = 16 };  /* as in cl/mixed.cl */
/* Entries per pass. On a CPU fewer streams per pass pay: on POCL (2-core EPYC),
 * k = 15 at 64x16x28x28 in passes of 8 against one pass of 15 (best of 5):
 * forward 1.65 / 2.63 ms, input gradients 1.75 / 2.29 ms, weight gradients
 * 2.0 / 3.5 ms (and 9 / 28 ms for the input gradients with one element per
 * work-item, where 15 page-aligned streams collided in the L1 cache's sets).
 * GPUs get all 16 (not measured here: no GPU on the development machine).
 * Both are tunables (tune.mixed_pass, tune.mixed_walk; radars tune). */
int rd_mixed_pass_override = 0, rd_mixed_walk_override = 0;
static int pass_slots(const rd_ctx *ctx) {
    if (rd_mixed_pass_override >= 1 && rd_mixed_pass_override <= MIX_SLOTS) return rd_mixed_pass_override;
    return ctx->tune.mixed_pass;
}
/* The walk over the elements (cl/mixed.cl): coalesced on GPUs, contiguous runs on CPUs. */
static cl_int contiguous_walk(const rd_ctx *ctx) {
    if (rd_mixed_walk_override) return rd_mixed_walk_override == 2;
    return ctx->tune.mixed_walk == 2;
}
/* Position of slot 0's buffer in each kernel's parameter list (cl/mixed.cl). */
enum { FORWARD_SLOT0 = 11, INPUTS_SLOT0 = 11, DOTS_SLOT0 = 9 };
/* Elements per work-item in the CPU walk of the forward and the input gradients:
 * a run of out (or dout) stays in the L1 cache while every slot passes over it. */
enum { CPU_RUN = 512 };

/* The 2-D range of the forward and input-gradient kernels for this walk. */
static void elementwise_range(const rd_tensor *t, cl_int contiguous, size_t g[2]) {
    if (contiguous) {
        g[0] = (rd_tensor_numel(t) + CPU_RUN - 1) / CPU_RUN;
        g[1] = 1;
    } else {
        rd_tensor_range(t, g);
    }
}

/* The 2-D range of the weight-gradient reduction (at most RD_REDUCE_GROUPS
 * groups, the partial sums per entry); returns the number of groups. */
static size_t dots_range(const rd_ctx *ctx, size_t chw, size_t n, cl_int contiguous, size_t g[2]) {
    size_t col_groups, img_groups = 1;
    if (contiguous) { /* runs of CPU_RUN elements (longer when that would take too many groups) */
        size_t items = (chw * n + CPU_RUN - 1) / CPU_RUN;
        col_groups = (items + ctx->wg - 1) / ctx->wg;
    } else { /* column groups cover one image, image groups share out the images */
        col_groups = (chw + ctx->wg - 1) / ctx->wg;
        if (col_groups > RD_REDUCE_GROUPS) col_groups = RD_REDUCE_GROUPS;
        if (col_groups == 0) col_groups = 1;
        img_groups = RD_REDUCE_GROUPS / col_groups;
        if (img_groups > n) img_groups = n;
        if (img_groups == 0) img_groups = 1;
    }
    if (col_groups > RD_REDUCE_GROUPS) col_groups = RD_REDUCE_GROUPS;
    if (col_groups == 0) col_groups = 1;
    g[0] = col_groups * ctx->wg;
    g[1] = img_groups;
    return col_groups * img_groups;
}

size_t rd_mixed_scratch_bytes(rd_ctx *ctx, int k) {
    (void)ctx;
    return (size_t)(k > 1 ? k : 1) * RD_REDUCE_GROUPS * sizeof(float);
}

/* Binds entries [row0, row0 + count) of ts (absent: NULL ts or .mem == NULL)
 * to the slot arguments that start at first_arg; sets *present. */
static rd_status bind_slots(rd_ctx *ctx, const char *kernel, cl_uint first_arg, const rd_tensor *ts, int row0,
                            int count, cl_mem unused, cl_uint *present) {
    cl_kernel kr = rd_kernel(ctx, PROG, kernel);
    if (!kr) return ctx->err.code;
    cl_uint nargs = 0;
    cl_int rc0 = clGetKernelInfo(kr, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL);
    if (rc0 != CL_SUCCESS) return rd_cl_fail(ctx, rc0, "argument count of kernel '%s'", kernel);
    if (nargs != first_arg + 3u * MIX_SLOTS)
        return rd_fail(&ctx->err, RD_ERR_ARG, "kernel '%s' has %u arguments, mixed.c expects %u", kernel, nargs,
                       first_arg + 3u * MIX_SLOTS);
    *present = 0;
    for (int j = 0; j < MIX_SLOTS; j++) {
        const rd_tensor *t = (ts && j < count && ts[row0 + j].mem) ? &ts[row0 + j] : NULL;
        cl_mem mem = t ? t->mem : unused;
        cl_ulong off = t ? t->off : 0, ns = t ? t->nstride : 0;
        if (t) *present |= 1u << j;
        cl_uint a = first_arg + 3u * (cl_uint)j;
        cl_int rc = clSetKernelArg(kr, a, sizeof mem, &mem);
        if (rc == CL_SUCCESS) rc = clSetKernelArg(kr, a + 1, sizeof off, &off);
        if (rc == CL_SUCCESS) rc = clSetKernelArg(kr, a + 2, sizeof ns, &ns);
        if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "argument %u of kernel '%s'", a, kernel);
    }
    return RD_OK;
}

/* Every present entry of ts must have ref's shape. */
static rd_status check_entries(rd_ctx *ctx, const char *op, const rd_tensor *ts, const char *name, int k,
                               const rd_tensor *ref, const char *refname) {
    if (!ts) return RD_OK;
    for (int j = 0; j < k; j++) {
        if (!ts[j].mem) continue;
        char what[32];
        snprintf(what, sizeof what, "%s[%d]", name, j);
        RD_TRY(rd_check_same_shape(ctx, op, &ts[j], what, ref, refname));
    }
    return RD_OK;
}

static rd_status check_k(rd_ctx *ctx, const char *op, int k, const rd_vec *w) {
    if (k < 1) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: k = %d entries, need at least 1", op, k);
    return rd_check_vec(ctx, op, w, "w", (size_t)k);
}

rd_status rd_mixed_forward(rd_ctx *ctx, const rd_tensor *ys, int k, const rd_vec *w, const rd_tensor *out,
                           int accumulate) {
    const char *op = "mixed";
    RD_TRY(check_k(ctx, op, k, w));
    RD_TRY(rd_check_shape(ctx, op, out, "out", -1, -1, -1, -1));
    RD_TRY(check_entries(ctx, op, ys, "ys", k, out, "out"));
    cl_uint chw = (cl_uint)rd_tensor_chw(out), n = (cl_uint)out->n;
    cl_int walk = contiguous_walk(ctx);
    const char *kernel = walk ? "mixed_forward_runs" : "mixed_forward_elems";
    size_t g[2];
    elementwise_range(out, walk, g);
    for (int row0 = 0; row0 < k; row0 += pass_slots(ctx)) {
        int count = k - row0 < pass_slots(ctx) ? k - row0 : pass_slots(ctx);
        cl_uint present, kc = (cl_uint)count, r0 = (cl_uint)row0;
        cl_int acc = accumulate || row0 > 0;
        RD_TRY(bind_slots(ctx, kernel, FORWARD_SLOT0, ys, row0, count, out->mem, &present));
        RD_TRY(rd_launch(ctx, PROG, kernel, 2, g, NULL, RD_VARG(w), RD_TARG(out), RD_ARG(chw), RD_ARG(n), RD_ARG(kc),
                         RD_ARG(r0), RD_ARG(present), RD_ARG(acc), RD_END));
    }
    return RD_OK;
}

rd_status rd_mixed_backward(rd_ctx *ctx, const rd_tensor *ys, int k, const rd_vec *w, const rd_tensor *dout,
                            const rd_tensor *dys, int dys_accumulate, const rd_vec *dw) {
    const char *op = "mixed backward";
    RD_TRY(check_k(ctx, op, k, w));
    RD_TRY(rd_check_shape(ctx, op, dout, "dout", -1, -1, -1, -1));
    RD_TRY(check_entries(ctx, op, ys, "ys", k, dout, "dout"));
    RD_TRY(check_entries(ctx, op, dys, "dys", k, dout, "dout"));
    if (dw) RD_TRY(rd_check_vec(ctx, op, dw, "dw", (size_t)k));
    cl_uint chw = (cl_uint)rd_tensor_chw(dout), n = (cl_uint)dout->n;
    cl_int walk = contiguous_walk(ctx);

    /* weight gradients first: they read ys, which a dys entry may alias (dout it may not) */
    if (dw) {
        const char *dots = walk ? "mixed_partial_dots_runs" : "mixed_partial_dots_cols";
        size_t gr[2], lr[2] = {ctx->wg, 1}, groups = dots_range(ctx, chw, n, walk, gr);
        cl_mem partial;
        RD_TRY(rd_scratch(ctx, RD_SCRATCH_REDUCE, rd_mixed_scratch_bytes(ctx, k), &partial));
        for (int row0 = 0; row0 < k; row0 += pass_slots(ctx)) {
            int count = k - row0 < pass_slots(ctx) ? k - row0 : pass_slots(ctx);
            cl_uint present, kc = (cl_uint)count, r0 = (cl_uint)row0;
            RD_TRY(bind_slots(ctx, dots, DOTS_SLOT0, ys, row0, count, dout->mem, &present));
            RD_TRY(rd_launch(ctx, PROG, dots, 2, gr, lr, RD_TARG(dout), RD_ARG(chw), RD_ARG(n), RD_ARG(kc),
                             RD_ARG(r0), RD_ARG(present), RD_ARG(partial), RD_END));
        }
        size_t gf[1] = {(size_t)k * ctx->wg}, lf[1] = {ctx->wg};
        cl_uint cnt = (cl_uint)groups, rows = (cl_uint)k;
        RD_TRY(rd_launch(ctx, PROG, "mixed_finish_dots", 1, gf, lf, RD_ARG(partial), RD_ARG(cnt), RD_ARG(rows),
                         RD_VARG(dw), RD_END));
    }
    if (!dys) return RD_OK;
    const char *inputs = walk ? "mixed_backward_inputs_runs" : "mixed_backward_inputs_elems";
    size_t g[2];
    elementwise_range(dout, walk, g);
    for (int row0 = 0; row0 < k; row0 += pass_slots(ctx)) {
        int count = k - row0 < pass_slots(ctx) ? k - row0 : pass_slots(ctx);
        cl_uint present, kc = (cl_uint)count, r0 = (cl_uint)row0;
        cl_int acc = dys_accumulate != 0;
        RD_TRY(bind_slots(ctx, inputs, INPUTS_SLOT0, dys, row0, count, dout->mem, &present));
        if (!present) continue;
        RD_TRY(rd_launch(ctx, PROG, inputs, 2, g, NULL, RD_VARG(w), RD_TARG(dout), RD_ARG(chw), RD_ARG(n),
                         RD_ARG(kc), RD_ARG(r0), RD_ARG(present), RD_ARG(acc), RD_END));
    }
    return RD_OK;
}
