/* Internal: one edge of the supernet as a workload — every candidate op of a set
 * forward into the node sum, then backward with weight and alpha gradients, as
 * the supernet runs them (src/nn/candidate_ops.c). rd_tune times it at a
 * recipe's shapes; tools/bench_ops.c reports it. */
#ifndef RADARS_EDGE_BENCH_H
#define RADARS_EDGE_BENCH_H

#include "nn/candidate_ops.h"

enum { RD_EDGE_BENCH_BUFS = 16 };
typedef struct rd_edge_bench {
    rd_op_inst ops[RD_MAX_OPS];
    int K;
    rd_arena acts;
    rd_op_exec exec;
    rd_tensor x, dx, node, dnode, ta, tb;
    rd_buffer *bufs[RD_EDGE_BENCH_BUFS];
    int nbufs;
    double flops;  /* of one run: forward, input and weight gradients of every convolution */
    double bytes;  /* compulsory: x read, node written, dnode read, dx written */
} rd_edge_bench;

/* Allocates the edge (op set, C channels, hw x hw input, stride 1 or 2, batch images). */
rd_status rd_edge_bench_setup(rd_ctx *ctx, const char *ops, int C, int hw, int stride, int batch,
                              rd_edge_bench *b);
/* One forward + backward, enqueued. */
rd_status rd_edge_bench_run(rd_ctx *ctx, rd_edge_bench *b);
void rd_edge_bench_free(rd_ctx *ctx, rd_edge_bench *b);

#endif
