/* Scratch needs per slot, for plans (rd_ops_scratch_need): which slot each op
 * family takes its temporary memory from. A plan reserves the max per slot, so
 * a family moving to another slot must change its line here; the memory-model
 * test (measured peak against the plan) catches a mismatch. */
#include <string.h>

#include "ops/ops_internal.h"

void rd_conv2d_scratch(rd_ctx *ctx, const rd_conv_params *p, const rd_tensor *x, const rd_tensor *y,
                       rd_ops_scratch_need *need) {
    memset(need, 0, sizeof *need);
    need->bytes[RD_SCRATCH_CONV0] = rd_conv2d_scratch_bytes(ctx, p, x, y);
}

void rd_pool2d_scratch(rd_ctx *ctx, const rd_pool_params *p, const rd_tensor *x, const rd_tensor *y,
                       rd_ops_scratch_need *need) {
    memset(need, 0, sizeof *need);
    need->bytes[RD_SCRATCH_CONV0] = rd_pool2d_scratch_bytes(ctx, p, x, y);
}

void rd_batchnorm_scratch(rd_ctx *ctx, const rd_tensor *x, rd_ops_scratch_need *need) {
    memset(need, 0, sizeof *need);
    need->bytes[RD_SCRATCH_REDUCE] = rd_batchnorm_scratch_bytes(ctx, x);
}

void rd_clip_grad_norm_scratch(rd_ctx *ctx, rd_ops_scratch_need *need) {
    memset(need, 0, sizeof *need);
    need->bytes[RD_SCRATCH_REDUCE] = rd_clip_grad_norm_scratch_bytes(ctx);
}

void rd_linear_scratch(rd_ctx *ctx, const rd_tensor *x, const rd_tensor *y, rd_ops_scratch_need *need) {
    memset(need, 0, sizeof *need);
    /* rd_gemm always takes at least one float of scratch, as rd_gemm_scratch plans */
    size_t b = rd_linear_scratch_bytes(ctx, x, y);
    need->bytes[RD_SCRATCH_GEMM] = b ? b : sizeof(float);
}
