/* GEMM through CLBlast. Temporary buffers come from our counted scratch
 * (RD_SCRATCH_GEMM), so CLBlast's memory shows in the allocator's peak. */
#include <clblast_c.h>
#include <string.h>

#include "ops/ops_internal.h"

static rd_status blas_fail(rd_ctx *ctx, CLBlastStatusCode st, const char *what, size_t m, size_t n, size_t k) {
    return rd_fail(&ctx->err, RD_ERR_BLAS, "CLBlast %s (m=%zu n=%zu k=%zu) failed with status %d on '%s'", what, m,
                   n, k, (int)st, ctx->dev.name);
}

size_t rd_gemm_scratch_bytes(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k) {
    size_t lda = trans_a ? m : k, ldb = trans_b ? k : n, bytes = 0;
    CLBlastStatusCode st = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor,
                                                      trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                                      trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, 0,
                                                      lda, 0, ldb, 0, n, &ctx->queue, &bytes);
    return st == CLBlastSuccess ? bytes : 0;
}

void rd_gemm_scratch(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, rd_ops_scratch_need *need) {
    memset(need, 0, sizeof *need);
    size_t b = rd_gemm_scratch_bytes(ctx, trans_a, trans_b, m, n, k);
    need->bytes[RD_SCRATCH_GEMM] = b ? b : sizeof(float);
}

rd_status rd_gemm(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha, cl_mem a,
                  size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                  size_t ldc) {
    if (m == 0 || n == 0) return RD_OK;
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t temp = 0;
    CLBlastStatusCode st = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k, a_off, lda, b_off,
                                                      ldb, c_off, ldc, &ctx->queue, &temp);
    if (st != CLBlastSuccess) return blas_fail(ctx, st, "temporary size of SGEMM", m, n, k);
    cl_mem scratch;
    RD_TRY(rd_scratch(ctx, RD_SCRATCH_GEMM, temp ? temp : sizeof(float), &scratch));
    cl_event ev = NULL;
    st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb,
                                    beta, c, c_off, ldc, &ctx->queue, rd_profile_event(ctx, &ev), scratch);
    if (st != CLBlastSuccess) return blas_fail(ctx, st, "SGEMM", m, n, k);
    if (ev) rd_profile_track(ctx, NULL, ev);
    return RD_OK;
}

rd_status rd_gemm_strided_batched(rd_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                                  cl_mem a, size_t a_off, size_t lda, size_t a_stride, cl_mem b, size_t b_off,
                                  size_t ldb, size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
                                  size_t c_stride, size_t batch) {
    if (m == 0 || n == 0 || batch == 0) return RD_OK;
    CLBlastStatusCode st = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off, lda, a_stride, b, b_off, ldb,
        b_stride, beta, c, c_off, ldc, c_stride, batch, &ctx->queue, NULL);
    if (st != CLBlastSuccess) return blas_fail(ctx, st, "strided batched SGEMM", m, n, k);
    return RD_OK;
}
