/* Optimizers with PyTorch 1.13 semantics over one contiguous parameter buffer
 * (kernels: cl/optim.cl): torch.optim.SGD (momentum, weight decay),
 * torch.optim.Adam (weight decay as L2), torch.nn.utils.clip_grad_norm_ and the
 * cosine-annealing learning rate. Every parameter of a network lives in one
 * buffer and every gradient in another, so one launch updates them all. The
 * clip scale stays on the device and rd_sgd_step reads it there: a step never
 * waits for the device. Unlike PyTorch the gradient buffer is not scaled in
 * place (the caller zeroes it before the next backward pass anyway). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops_internal.h"

#define PROG "optim"

/* The shortest decimal that rounds to f, as a double: PyTorch users write
 * betas = (0.5, 0.999) as Python doubles, and PyTorch computes 1 - beta and
 * beta^t from those, not from the float 0.99900001. */
static double decimal_of(float f) {
    char s[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, (double)f);
        double d = strtod(s, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

static rd_status check_param_vec(rd_ctx *ctx, const char *op, const rd_vec *v, const char *name, const rd_vec *param) {
    return rd_check_vec(ctx, op, v, name, param->len);
}

rd_status rd_sgd_step(rd_ctx *ctx, const rd_sgd_params *p, float lr, const rd_vec *param, const rd_vec *grad,
                      const rd_vec *momentum_buf, const rd_vec *grad_scale) {
    const char *op = "sgd";
    if (!param || !param->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: param has no device memory", op);
    RD_TRY(check_param_vec(ctx, op, grad, "grad", param));
    cl_int has_buf = p->momentum != 0.0f;
    if (has_buf) {
        if (!momentum_buf || !momentum_buf->mem)
            return rd_fail(&ctx->err, RD_ERR_ARG, "%s: momentum %g needs a momentum buffer", op, (double)p->momentum);
        RD_TRY(check_param_vec(ctx, op, momentum_buf, "momentum buffer", param));
    }
    if (grad_scale) RD_TRY(rd_check_vec(ctx, op, grad_scale, "grad_scale", 1));
    const rd_vec *buf = has_buf ? momentum_buf : param, *scale = grad_scale ? grad_scale : grad;
    cl_int has_scale = grad_scale != NULL;
    cl_ulong len = param->len;
    float mom = p->momentum, wd = p->weight_decay;
    size_t g[1] = {param->len};
    return rd_launch(ctx, PROG, "sgd_step", 1, g, NULL, RD_VARG(param), RD_VARG(grad), RD_VARG(buf), RD_VARG(scale),
                     RD_ARG(len), RD_ARG(lr), RD_ARG(mom), RD_ARG(wd), RD_ARG(has_buf), RD_ARG(has_scale), RD_END);
}

rd_status rd_adam_step(rd_ctx *ctx, const rd_adam_params *p, float lr, int step, const rd_vec *param,
                       const rd_vec *grad, const rd_vec *m, const rd_vec *v) {
    const char *op = "adam";
    if (!param || !param->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: param has no device memory", op);
    RD_TRY(check_param_vec(ctx, op, grad, "grad", param));
    RD_TRY(check_param_vec(ctx, op, m, "m", param));
    RD_TRY(check_param_vec(ctx, op, v, "v", param));
    if (step < 1) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: step %d, steps count from 1", op, step);
    if (!(p->beta1 >= 0 && p->beta1 < 1 && p->beta2 >= 0 && p->beta2 < 1))
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: betas (%g, %g) must lie in [0, 1)", op, (double)p->beta1,
                       (double)p->beta2);
    double b1 = decimal_of(p->beta1), b2 = decimal_of(p->beta2);
    float beta1 = p->beta1, beta2 = p->beta2, omb1 = (float)(1.0 - b1), omb2 = (float)(1.0 - b2);
    float eps = p->eps, wd = p->weight_decay;
    float step_size = (float)(decimal_of(lr) / (1.0 - pow(b1, step)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(b2, step));
    cl_ulong len = param->len;
    size_t g[1] = {param->len};
    return rd_launch(ctx, PROG, "adam_step", 1, g, NULL, RD_VARG(param), RD_VARG(grad), RD_VARG(m), RD_VARG(v),
                     RD_ARG(len), RD_ARG(beta1), RD_ARG(omb1), RD_ARG(beta2), RD_ARG(omb2), RD_ARG(eps), RD_ARG(wd),
                     RD_ARG(step_size), RD_ARG(bc2_sqrt), RD_END);
}

size_t rd_clip_grad_norm_scratch_bytes(rd_ctx *ctx) {
    (void)ctx;
    return RD_REDUCE_GROUPS * sizeof(float);
}

rd_status rd_clip_grad_norm(rd_ctx *ctx, const rd_vec *grad, float max_norm, const rd_vec *scale_out,
                            const rd_vec *norm_out) {
    const char *op = "clip_grad_norm";
    if (!grad || !grad->mem) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: grad has no device memory", op);
    if (!(max_norm >= 0))  /* inf is allowed: the norm without clipping */
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: max_norm %g must be >= 0", op, (double)max_norm);
    RD_TRY(rd_check_vec(ctx, op, scale_out, "scale", 1));
    if (norm_out) RD_TRY(rd_check_vec(ctx, op, norm_out, "norm", 1));
    /* stage 1: the partial sums of squares of elementwise.c's rd_vec_sumsq */
    size_t groups;
    RD_TRY(rd_reduce_groups(ctx, grad->len, &groups));
    cl_mem partial;
    RD_TRY(rd_scratch(ctx, RD_SCRATCH_REDUCE, rd_clip_grad_norm_scratch_bytes(ctx), &partial));
    size_t g[1] = {groups * ctx->wg}, l[1] = {ctx->wg};
    cl_ulong len = grad->len;
    RD_TRY(rd_launch(ctx, "elementwise", "partial_sumsq", 1, g, l, RD_VARG(grad), RD_ARG(len), RD_ARG(partial),
                     RD_END));
    const rd_vec *norm = norm_out ? norm_out : scale_out;
    cl_int want_norm = norm_out != NULL;
    cl_uint count = (cl_uint)groups;
    size_t g1[1] = {ctx->wg};
    return rd_launch(ctx, PROG, "clip_finish", 1, g1, l, RD_ARG(partial), RD_ARG(count), RD_ARG(max_norm),
                     RD_VARG(scale_out), RD_VARG(norm), RD_ARG(want_norm), RD_END);
}

double rd_cosine_lr(double lr_max, double lr_min, int epoch, int epochs) {
    const double pi = 3.14159265358979323846;
    if (epochs <= 0) return lr_max;
    return lr_min + (lr_max - lr_min) * (1.0 + cos(pi * (double)epoch / (double)epochs)) / 2.0;
}
