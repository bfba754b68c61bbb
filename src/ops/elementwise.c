/* Element-wise ops, copies, the strided zero op, and sums (kernels: cl/elementwise.cl). */
#include <stdio.h>
#include <string.h>

#include "ops/ops_internal.h"

#define PROG "elementwise"

rd_status rd_check_same_shape(rd_ctx *ctx, const char *op, const rd_tensor *a, const char *an,
                              const rd_tensor *b, const char *bn) {
    if (rd_tensor_same_shape(a, b)) return RD_OK;
    char sa[64], sb[64];
    return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %s %s and %s %s differ in shape", op, an,
                   rd_tensor_shape_str(a, sa, sizeof sa), bn, rd_tensor_shape_str(b, sb, sizeof sb));
}

rd_status rd_check_shape(rd_ctx *ctx, const char *op, const rd_tensor *t, const char *name, int n, int c,
                         int h, int w) {
    if ((n < 0 || t->n == n) && (c < 0 || t->c == c) && (h < 0 || t->h == h) && (w < 0 || t->w == w) &&
        t->mem)
        return RD_OK;
    char s[64];
    if (!t->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %s has no device memory", op, name);
    return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %s is %s, expected %dx%dx%dx%d (-1 = any)", op, name,
                   rd_tensor_shape_str(t, s, sizeof s), n, c, h, w);
}

rd_status rd_check_vec(rd_ctx *ctx, const char *op, const rd_vec *v, const char *name, size_t len) {
    if (!v || !v->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %s has no device memory", op, name);
    if (v->len != len)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %s has %zu floats, expected %zu", op, name, v->len, len);
    return RD_OK;
}

rd_status rd_fill(rd_ctx *ctx, const rd_tensor *t, float value) {
    size_t g[2];
    rd_tensor_range(t, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    return rd_launch(ctx, PROG, "fill", 2, g, NULL, RD_TARG(t), RD_ARG(chw), RD_ARG(n), RD_ARG(value), RD_END);
}

rd_status rd_vec_fill(rd_ctx *ctx, const rd_vec *v, float value) {
    size_t g[1] = {v->len};
    cl_ulong len = v->len;
    return rd_launch(ctx, PROG, "vec_fill", 1, g, NULL, RD_VARG(v), RD_ARG(value), RD_ARG(len), RD_END);
}

rd_status rd_relu_forward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y) {
    RD_TRY(rd_check_same_shape(ctx, "relu", x, "x", y, "y"));
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    return rd_launch(ctx, PROG, "relu_forward", 2, g, NULL, RD_TARG(x), RD_TARG(y), RD_ARG(chw), RD_ARG(n),
                     RD_END);
}

rd_status rd_relu_backward(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *dy, const rd_tensor *dx,
                           int dx_accumulate) {
    RD_TRY(rd_check_same_shape(ctx, "relu backward", x, "x", dy, "dy"));
    RD_TRY(rd_check_same_shape(ctx, "relu backward", x, "x", dx, "dx"));
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    cl_int acc = dx_accumulate != 0;
    return rd_launch(ctx, PROG, "relu_backward", 2, g, NULL, RD_TARG(x), RD_TARG(dy), RD_TARG(dx), RD_ARG(chw),
                     RD_ARG(n), RD_ARG(acc), RD_END);
}

rd_status rd_axpy(rd_ctx *ctx, float a, const rd_tensor *x, const rd_tensor *y, int accumulate) {
    RD_TRY(rd_check_same_shape(ctx, "axpy", x, "x", y, "y"));
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    cl_int acc = accumulate != 0;
    return rd_launch(ctx, PROG, "axpy", 2, g, NULL, RD_ARG(a), RD_TARG(x), RD_TARG(y), RD_ARG(chw), RD_ARG(n),
                     RD_ARG(acc), RD_END);
}

rd_status rd_axpy_dev(rd_ctx *ctx, const rd_vec *w, const rd_tensor *x, const rd_tensor *y, int accumulate) {
    RD_TRY(rd_check_same_shape(ctx, "axpy", x, "x", y, "y"));
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    cl_int acc = accumulate != 0;
    return rd_launch(ctx, PROG, "axpy_dev", 2, g, NULL, RD_VARG(w), RD_TARG(x), RD_TARG(y), RD_ARG(chw),
                     RD_ARG(n), RD_ARG(acc), RD_END);
}

rd_status rd_scale_images(rd_ctx *ctx, const rd_vec *s, const rd_tensor *x, const rd_tensor *y, int accumulate) {
    RD_TRY(rd_check_same_shape(ctx, "scale images", x, "x", y, "y"));
    RD_TRY(rd_check_vec(ctx, "scale images", s, "s", (size_t)x->n));
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    cl_int acc = accumulate != 0;
    return rd_launch(ctx, PROG, "scale_images", 2, g, NULL, RD_VARG(s), RD_TARG(x), RD_TARG(y), RD_ARG(chw),
                     RD_ARG(n), RD_ARG(acc), RD_END);
}

rd_status rd_vec_axpy(rd_ctx *ctx, float a, const rd_vec *x, const rd_vec *y) {
    if (x->len != y->len)
        return rd_fail(&ctx->err, RD_ERR_ARG, "vec_axpy: lengths %zu and %zu differ", x->len, y->len);
    size_t g[1] = {x->len};
    cl_ulong len = x->len;
    return rd_launch(ctx, PROG, "vec_axpy", 1, g, NULL, RD_ARG(a), RD_VARG(x), RD_VARG(y), RD_ARG(len), RD_END);
}

rd_status rd_vec_scale(rd_ctx *ctx, const rd_vec *x, float a) {
    size_t g[1] = {x->len};
    cl_ulong len = x->len;
    return rd_launch(ctx, PROG, "vec_scale", 1, g, NULL, RD_VARG(x), RD_ARG(a), RD_ARG(len), RD_END);
}

rd_status rd_vec_copy(rd_ctx *ctx, const rd_vec *src, const rd_vec *dst) {
    if (src->len != dst->len)
        return rd_fail(&ctx->err, RD_ERR_ARG, "vec_copy: lengths %zu and %zu differ", src->len, dst->len);
    size_t g[1] = {src->len};
    cl_ulong len = src->len;
    return rd_launch(ctx, PROG, "vec_copy", 1, g, NULL, RD_VARG(src), RD_VARG(dst), RD_ARG(len), RD_END);
}

int rd_zero_out_size(int in, int stride) { return (in + stride - 1) / stride; }

rd_status rd_zero_forward(rd_ctx *ctx, int stride, const rd_tensor *x, const rd_tensor *y) {
    if (stride < 1) return rd_fail(&ctx->err, RD_ERR_ARG, "none: stride %d must be >= 1", stride);
    RD_TRY(rd_check_shape(ctx, "none", y, "y", x->n, x->c, rd_zero_out_size(x->h, stride),
                          rd_zero_out_size(x->w, stride)));
    return rd_fill(ctx, y, 0.0f);
}

static rd_status copy_tensor(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y) {
    size_t g[2];
    rd_tensor_range(x, g);
    cl_uint chw = (cl_uint)g[0], n = (cl_uint)g[1];
    return rd_launch(ctx, PROG, "copy_tensor", 2, g, NULL, RD_TARG(x), RD_TARG(y), RD_ARG(chw), RD_ARG(n), RD_END);
}

rd_status rd_concat_channels(rd_ctx *ctx, const rd_tensor *xs, int k, const rd_tensor *y) {
    int c = 0;
    for (int i = 0; i < k; i++) {
        if (xs[i].n != y->n || xs[i].h != y->h || xs[i].w != y->w) {
            char a[64], b[64];
            return rd_fail(&ctx->err, RD_ERR_ARG, "concat: part %d is %s, output %s", i,
                           rd_tensor_shape_str(&xs[i], a, sizeof a), rd_tensor_shape_str(y, b, sizeof b));
        }
        c += xs[i].c;
    }
    if (c != y->c)
        return rd_fail(&ctx->err, RD_ERR_ARG, "concat: parts have %d channels, output %d", c, y->c);
    for (int i = 0, c0 = 0; i < k; c0 += xs[i].c, i++) {
        rd_tensor dst = rd_tensor_channels(*y, c0, xs[i].c);
        RD_TRY(copy_tensor(ctx, &xs[i], &dst));
    }
    return RD_OK;
}

rd_status rd_slice_channels(rd_ctx *ctx, const rd_tensor *x, int c0, const rd_tensor *y) {
    if (c0 < 0 || c0 + y->c > x->c || y->n != x->n || y->h != x->h || y->w != x->w) {
        char a[64], b[64];
        return rd_fail(&ctx->err, RD_ERR_ARG, "slice: channels [%d, %d) of %s into %s", c0, c0 + y->c,
                       rd_tensor_shape_str(x, a, sizeof a), rd_tensor_shape_str(y, b, sizeof b));
    }
    rd_tensor src = rd_tensor_channels(*x, c0, y->c);
    return copy_tensor(ctx, &src, y);
}

void rd_reduce_scratch(rd_ctx *ctx, rd_ops_scratch_need *need) {
    (void)ctx;
    memset(need, 0, sizeof *need);
    need->bytes[RD_SCRATCH_REDUCE] = RD_REDUCE_GROUPS * sizeof(float);
}

rd_status rd_reduce_groups(rd_ctx *ctx, size_t work, size_t *groups) {
    size_t g = (work + ctx->wg - 1) / ctx->wg;
    if (g > RD_REDUCE_GROUPS) g = RD_REDUCE_GROUPS;
    if (g == 0) g = 1;
    *groups = g;
    return rd_scratch_reserve(ctx, RD_SCRATCH_REDUCE, RD_REDUCE_GROUPS * sizeof(float));
}

rd_status rd_finish_sum(rd_ctx *ctx, cl_mem partial, size_t count, const rd_vec *out) {
    size_t g[1] = {ctx->wg}, l[1] = {ctx->wg};
    cl_uint cnt = (cl_uint)count;
    return rd_launch(ctx, PROG, "finish_sum", 1, g, l, RD_ARG(partial), RD_ARG(cnt), RD_VARG(out), RD_END);
}

rd_status rd_vec_sumsq(rd_ctx *ctx, const rd_vec *v, const rd_vec *out) {
    size_t groups;
    RD_TRY(rd_reduce_groups(ctx, v->len, &groups));
    cl_mem partial;
    RD_TRY(rd_scratch(ctx, RD_SCRATCH_REDUCE, RD_REDUCE_GROUPS * sizeof(float), &partial));
    size_t g[1] = {groups * ctx->wg}, l[1] = {ctx->wg};
    cl_ulong len = v->len;
    RD_TRY(rd_launch(ctx, PROG, "partial_sumsq", 1, g, l, RD_VARG(v), RD_ARG(len), RD_ARG(partial), RD_END));
    return rd_finish_sum(ctx, partial, groups, out);
}

rd_status rd_tensor_dot(rd_ctx *ctx, const rd_tensor *a, const rd_tensor *b, const rd_vec *out) {
    RD_TRY(rd_check_same_shape(ctx, "dot", a, "a", b, "b"));
    size_t groups;
    RD_TRY(rd_reduce_groups(ctx, rd_tensor_numel(a), &groups));
    cl_mem partial;
    RD_TRY(rd_scratch(ctx, RD_SCRATCH_REDUCE, RD_REDUCE_GROUPS * sizeof(float), &partial));
    size_t g[1] = {groups * ctx->wg}, l[1] = {ctx->wg};
    cl_uint chw = (cl_uint)rd_tensor_chw(a), n = (cl_uint)a->n;
    RD_TRY(rd_launch(ctx, PROG, "partial_dot", 1, g, l, RD_TARG(a), RD_TARG(b), RD_ARG(chw), RD_ARG(n),
                     RD_ARG(partial), RD_END));
    return rd_finish_sum(ctx, partial, groups, out);
}
