/* Row-wise softmax (the mixed-op weights from the alphas, and class
 * probabilities) and the mean cross-entropy loss (kernels: cl/loss.cl).
 * Scalars stay on the device: the caller reads loss and correct-count when it
 * wants them (e.g. once per logging interval), so a step never waits. */
#include "ops/ops_internal.h"

#define PROG "loss"

static rd_status check_matrix(rd_ctx *ctx, const char *op, const rd_vec *v, const char *name, int rows, int cols) {
    if (rows < 1 || cols < 1)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: %d x %d is not a matrix (rows and cols must be >= 1)", op, rows,
                       cols);
    return rd_check_vec(ctx, op, v, name, (size_t)rows * cols);
}


rd_status rd_softmax_forward(rd_ctx *ctx, const rd_vec *x, const rd_vec *y, int rows, int cols) {
    RD_TRY(check_matrix(ctx, "softmax", x, "x", rows, cols));
    RD_TRY(check_matrix(ctx, "softmax", y, "y", rows, cols));
    size_t g[1] = {(size_t)rows * ctx->wg}, l[1] = {ctx->wg};
    cl_uint r = (cl_uint)rows, c = (cl_uint)cols;
    return rd_launch(ctx, PROG, "softmax_forward", 1, g, l, RD_VARG(x), RD_VARG(y), RD_ARG(r), RD_ARG(c), RD_END);
}

rd_status rd_softmax_backward(rd_ctx *ctx, const rd_vec *y, const rd_vec *dy, const rd_vec *dx, int rows, int cols,
                              int dx_accumulate) {
    RD_TRY(check_matrix(ctx, "softmax backward", y, "y", rows, cols));
    RD_TRY(check_matrix(ctx, "softmax backward", dy, "dy", rows, cols));
    RD_TRY(check_matrix(ctx, "softmax backward", dx, "dx", rows, cols));
    size_t g[1] = {(size_t)rows * ctx->wg}, l[1] = {ctx->wg};
    cl_uint r = (cl_uint)rows, c = (cl_uint)cols;
    cl_int acc = dx_accumulate != 0;
    return rd_launch(ctx, PROG, "softmax_backward", 1, g, l, RD_VARG(y), RD_VARG(dy), RD_VARG(dx), RD_ARG(r),
                     RD_ARG(c), RD_ARG(acc), RD_END);
}

rd_status rd_cross_entropy(rd_ctx *ctx, const rd_vec *logits, cl_mem labels, size_t labels_off, int n, int k,
                           const rd_vec *loss, const rd_vec *dlogits, const rd_vec *correct) {
    const char *op = "cross_entropy";
    RD_TRY(check_matrix(ctx, op, logits, "logits", n, k));
    RD_TRY(rd_check_vec(ctx, op, loss, "loss", 1));
    if (dlogits) RD_TRY(check_matrix(ctx, op, dlogits, "dlogits", n, k));
    if (correct) RD_TRY(rd_check_vec(ctx, op, correct, "correct", 1));
    if (!labels) return rd_fail(&ctx->err, RD_ERR_ARG, "%s: labels have no device memory", op);
    size_t bytes = 0;
    cl_int rc = clGetMemObjectInfo(labels, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "%s: size of the labels buffer", op);
    if ((labels_off + (size_t)n) * sizeof(cl_int) > bytes)
        return rd_fail(&ctx->err, RD_ERR_ARG, "%s: labels [%zu, %zu) pass the end of their buffer (%zu int32)", op,
                       labels_off, labels_off + (size_t)n, bytes / sizeof(cl_int));
    /* absent outputs are bound to the loss buffer and never written */
    const rd_vec *dl = dlogits ? dlogits : loss, *cr = correct ? correct : loss;
    cl_int want_dl = dlogits != NULL, want_correct = correct != NULL;
    cl_ulong loff = labels_off;
    cl_uint nr = (cl_uint)n, kc = (cl_uint)k;
    size_t g[1] = {ctx->wg}, l[1] = {ctx->wg};
    return rd_launch(ctx, PROG, "cross_entropy", 1, g, l, RD_VARG(logits), RD_ARG(labels), RD_ARG(loff), RD_ARG(nr),
                     RD_ARG(kc), RD_VARG(loss), RD_VARG(dl), RD_ARG(want_dl), RD_VARG(cr), RD_ARG(want_correct),
                     RD_END);
}
