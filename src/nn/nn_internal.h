/* Internal to src/nn: the supernet's structure and the planner that lays out its memory. */
#ifndef RADARS_NN_INTERNAL_H
#define RADARS_NN_INTERNAL_H

#include "radars/supernet.h"
#include "ops/ops_internal.h"

/* ---- the planner: one layout function run twice ----
 * PLAN mode only sizes the arena (and the scratch each op needs); BIND mode
 * runs the same layout over allocated chunks and hands out real tensors. So the
 * memory model and the allocation can never disagree. */
enum { RD_MAX_CHUNKS = 64, RD_ALIGN_FLOATS = 32 };
typedef struct rd_arena {
    const char *name;
    int bind;
    size_t chunk_limit;                /* floats per chunk (<= the device's max allocation) */
    int n_chunks;
    size_t used[RD_MAX_CHUNKS];        /* floats per chunk */
    rd_buffer *buf[RD_MAX_CHUNKS];     /* BIND mode: allocated chunks */
    size_t capacity[RD_MAX_CHUNKS];    /* floats allocated per chunk */
    int failed;                        /* a tensor larger than a chunk */
} rd_arena;

void rd_arena_begin(rd_arena *a, int bind);
/* A dense tensor in the arena (mem == NULL in PLAN mode). */
rd_tensor rd_arena_tensor(rd_arena *a, int n, int c, int h, int w);
rd_vec rd_arena_vec(rd_arena *a, size_t len);
size_t rd_arena_bytes(const rd_arena *a);
/* Grows the arena's chunks to the planned sizes (allocating through rd_alloc). */
rd_status rd_arena_allocate(rd_ctx *ctx, rd_arena *a, const char *what);
void rd_arena_free(rd_ctx *ctx, rd_arena *a);

/* Scratch needs gathered while planning: the max per slot over all ops. */
typedef rd_ops_scratch_need rd_scratch_need;
void rd_scratch_merge(rd_scratch_need *need, const rd_ops_scratch_need *s);
/* save_mean and save_invstd (C each) in the arena, everything else empty. */
rd_bn_state rd_bn_tmp_plan(rd_arena *a, int C);
/* FactorizedReduce's half: a stride-2 1x1 conv, the second (shifted) one pixel down and right. */
rd_conv_params rd_factorized_reduce_params(int shifted);

/* ---- candidate ops ---- */
typedef enum rd_op_kind { RD_KIND_NONE, RD_KIND_POOL, RD_KIND_SKIP, RD_KIND_SEP, RD_KIND_DIL, RD_KIND_CONV,
                          RD_KIND_CONV71 } rd_op_kind;
typedef struct rd_op_info {
    const char *name;
    rd_op_kind kind;
    int k;
    rd_pool_kind pool;
} rd_op_info;
const rd_op_info *rd_op_get_info(rd_op_id op);

enum { RD_OP_MAX_WEIGHTS = 4, RD_OP_MAX_BN = 2, RD_OP_MAX_ACTS = 4 };

/* One op on one edge of one cell. */
typedef struct rd_op_inst {
    rd_op_id id;
    int index;                      /* op index in the set (checkpoint name); the edge index in a genotype cell */
    int stride;
    int C;
    size_t w_off[RD_OP_MAX_WEIGHTS];    /* in the weights vector */
    size_t w_len[RD_OP_MAX_WEIGHTS];
    int n_w;
    size_t bn_off[RD_OP_MAX_BN];        /* running mean (C) then var (C) in the BN-state vector */
    int n_bn;
    rd_tensor act[RD_OP_MAX_ACTS];      /* activations kept for backward (current active plan) */
    int n_act;
    rd_bn_state bn_tmp[RD_OP_MAX_BN];   /* save_mean / save_invstd vectors in the arena */
    int affine;                         /* BN weight (gamma) and bias (beta) live in the weights vector */
    size_t gamma_off[RD_OP_MAX_BN], beta_off[RD_OP_MAX_BN];
    int pool_bn;                        /* a BN after pooling: the supernet's ops have one, DARTS' OPS not */
    size_t drop_off;                    /* evaluation network: first of its per-image drop-path scales */
    size_t mix_slot;                    /* index of this op's weight in the mixed-weight vector */
    size_t partial_off;                 /* alpha-gradient partial sums (C floats) */
    /* Training a supernet: the op's final BN output is slice stack_slot of its edge's
     * stack (rd_batchnorm_stack_*), which runs every slice's BN at once; NULL: its own. */
    const struct rd_bn_stack *bn_stack;
    int stack_slot;
} rd_op_inst;

/* The final batch norms of an edge's ops (none affine) as one stack: their outputs
 * are the slices of t, side by side in channels, their saved statistics slices of
 * tmp's (rd_batchnorm_stack_*). slices 0: none. */
typedef struct rd_bn_stack {
    rd_tensor t;
    int slices;
    rd_bn_state tmp;
    rd_bn_stack_tab tab;   /* per slice: its op's mix_slot, final BN's bn_off, partial_off */
} rd_bn_stack;

/* An edge's 1x1 convolutions as groups (rd_pw_group) where its final BNs are stacked, so the
 * gradient of each tensor can take that tensor's place: forward, the sep and dil convs' first
 * 1x1s together (fwd[0]), then the sep convs' second ones (fwd[1]); backward, every op's last 1x1
 * from its stack slice (bwd[0]), then the sep convs' first (bwd[1]). slices 0: the ops run one by
 * one (candidate_ops.c, rd_ops_forward_grouped). */
typedef struct rd_edge_pw {
    rd_pw_group fwd[2], bwd[2];
} rd_edge_pw;

struct rd_supernet_s;
/* Layout of the op's weights (names, shapes) for a given C and stride. */
typedef struct rd_param_desc { const char *suffix; int ndim; int shape[4]; int fan_in; } rd_param_desc;
int rd_op_params(rd_op_id op, int C, int stride, rd_param_desc *out /* RD_OP_MAX_WEIGHTS */);
/* Names of the op's batch-norm modules (for running stats), e.g. "op.3". */
int rd_op_bn_names(rd_op_id op, int stride, int pool_bn, const char **out /* RD_OP_MAX_BN */);

#endif
