/* Internal helpers shared by the op families (the files of src/ops). */
#ifndef RADARS_OPS_INTERNAL_H
#define RADARS_OPS_INTERNAL_H

#include "radars/ops.h"
#include "runtime/runtime.h"

_Static_assert(sizeof(size_t) == 8, "kernel offsets are passed as ulong: a 64-bit host is required");

/* Kernel arguments for RD_T(name) / RD_V(name) parameters (see cl/common.cl). */
#define RD_TARG(t) RD_ARG((t)->mem), RD_ARG((t)->off), RD_ARG((t)->nstride)
#define RD_VARG(v) RD_ARG((v)->mem), RD_ARG((v)->off)

/* Scratch slots: conv uses 0 and 1, reductions 2, GEMM 3 (RD_SCRATCH_GEMM). */
enum { RD_SCRATCH_CONV0 = 0, RD_SCRATCH_CONV1 = 1, RD_SCRATCH_REDUCE = 2 };
/* Partial sums of two-stage reductions: at most this many groups. */
enum { RD_REDUCE_GROUPS = 256 };

/* RD_ERR_ARG "op: name1 AxBxCxD and name2 ... differ" unless a and b have the same shape. */
rd_status rd_check_same_shape(rd_ctx *ctx, const char *op, const rd_tensor *a, const char *an,
                              const rd_tensor *b, const char *bn);
/* RD_ERR_ARG unless t has the given shape (-1 = any). */
rd_status rd_check_shape(rd_ctx *ctx, const char *op, const rd_tensor *t, const char *name, int n, int c,
                         int h, int w);
rd_status rd_check_vec(rd_ctx *ctx, const char *op, const rd_vec *v, const char *name, size_t len);

/* Launch a 2-D element-wise kernel over (c*h*w, n) of tensor t. */
static inline void rd_tensor_range(const rd_tensor *t, size_t global[2]) {
    global[0] = rd_tensor_chw(t);
    global[1] = (size_t)t->n;
}

/* out[0] = sum of a two-stage reduction whose stage-1 kernel writes partials
 * into scratch: helpers in elementwise.c for the families that reduce. */
rd_status rd_reduce_groups(rd_ctx *ctx, size_t work, size_t *groups);
rd_status rd_finish_sum(rd_ctx *ctx, cl_mem partial, size_t count, const rd_vec *out);

/* Test hooks of the mixed op (mixed.c), so a CPU device also runs the GPU
 * choices: entries per pass (1..16; 0 = by device type) and the kernels' walk
 * over the elements (0 = by device type, 1 = GPU's coalesced, 2 = CPU's runs). */
extern int rd_mixed_pass_override, rd_mixed_walk_override;

/* Convolution kernel choice, process-wide, for tests and benchmarks:
 * RD_CONV_GENERIC forces the one-work-item-per-element kernels (conv.c). */
typedef enum rd_conv_mode { RD_CONV_AUTO, RD_CONV_GENERIC } rd_conv_mode;
void rd_conv_set_mode(rd_conv_mode mode);
/* Every build of cl/conv.cl (base and one per kernel variant) as program specs; returns the count. */
int rd_conv_programs(const rd_ctx *ctx, char specs[][RD_PROGRAM_SPEC_LEN], int max);
/* The spec of cl/batchnorm.cl's build (its -D options). */
const char *rd_batchnorm_program(void);

#endif
