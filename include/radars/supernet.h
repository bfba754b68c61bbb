/* radars-cl: the DARTS search space and its weight-sharing supernet.
 *
 * The supernet follows ../shared/SEARCH.md section 1: a stem, L cells (reduction
 * at L/3 and 2L/3), 4 nodes per cell summing mixed ops over all earlier states,
 * global pooling and a classifier; alphas shared by all normal / all reduction
 * cells. Every edge has its own op mask (which ops of the op set are alive), and
 * memory is planned and allocated only for live ops. An "active" mask (a subset
 * of the alive ops) selects what a forward pass computes: all alive ops for
 * DARTS, exactly one op per edge for a single-path sub-network (RL sampling).
 *
 * Memory layout (why it is shaped like this):
 *  - all trainable weights in ONE device buffer and their gradients in ONE
 *    other buffer (one optimizer launch; one all-reduce call for multi-node);
 *  - batch-norm running statistics in a third buffer (state, not trained);
 *  - the activations a backward pass needs live in per-cell arenas planned up
 *    front, gradients in a few rotating buffers; nothing is allocated per step.
 * The same plan drives rd_supernet_create and rd_supernet_plan (the memory model). */
#ifndef RADARS_SUPERNET_H
#define RADARS_SUPERNET_H

#include "radars/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The op catalogue, in the order of the `large` set (the `darts` set is its first 8). */
typedef enum rd_op_id {
    RD_OP_NONE,
    RD_OP_MAX_POOL_3X3,
    RD_OP_AVG_POOL_3X3,
    RD_OP_SKIP_CONNECT,
    RD_OP_SEP_CONV_3X3,
    RD_OP_SEP_CONV_5X5,
    RD_OP_DIL_CONV_3X3,
    RD_OP_DIL_CONV_5X5,
    RD_OP_SEP_CONV_7X7,
    RD_OP_DIL_CONV_7X7,
    RD_OP_CONV_1X1,
    RD_OP_CONV_3X3,
    RD_OP_CONV_7X1_1X7,
    RD_OP_MAX_POOL_5X5,
    RD_OP_AVG_POOL_5X5,
    RD_OP_COUNT
} rd_op_id;

enum { RD_MAX_OPS = 16, RD_CELL_NODES = 4, RD_CELL_EDGES = 14, RD_MAX_LAYERS = 64 };

const char *rd_op_name(rd_op_id op);
/* 1 if the op holds no weights in a normal cell (none, skip_connect, the pools). */
int rd_op_is_param_free(rd_op_id op);
/* RD_OK and *op for a known name; RD_ERR_ARG naming the unknown op otherwise. */
rd_status rd_op_from_name(const char *name, rd_op_id *op, rd_err *err);

/* An ordered op set; op k of an edge is ops[k] (checkpoint names use k). */
typedef struct rd_opset {
    int count;
    rd_op_id ops[RD_MAX_OPS];
} rd_opset;
/* "darts", "large", or a comma-separated list of op names. */
rd_status rd_opset_parse(const char *spec, rd_opset *out, rd_err *err);
/* Index of op in the set, or -1. */
int rd_opset_find(const rd_opset *set, rd_op_id op);

/* Bit k of an edge mask = op k of the set. Index [0] = normal cell, [1] = reduction cell. */
typedef uint32_t rd_edge_mask;
typedef struct rd_arch_mask {
    rd_edge_mask edge[2][RD_CELL_EDGES];
} rd_arch_mask;
void rd_arch_mask_all(rd_arch_mask *m, const rd_opset *set);
int rd_arch_mask_count(const rd_arch_mask *m, int cell_type, int edge);
/* 1 if every edge of a has only ops alive in b */
int rd_arch_mask_subset(const rd_arch_mask *a, const rd_arch_mask *b);
/* The two inputs (j) and node (i) of edge e: edges are ordered node by node,
 * node i has edges from states 0 .. i+1 (0, 1 = the cell inputs). */
void rd_edge_endpoints(int edge, int *node, int *input);
/* Floats of activations op keeps for its backward pass on a C x h x w input at
 * stride (per image): what the supernet's plan allocates for it. */
size_t rd_op_activation_floats(rd_op_id op, int stride, int C, int h, int w);

typedef struct rd_supernet_config {
    int C;               /* initial channels (16) */
    int layers;          /* cells (8) */
    int steps;           /* nodes per cell (4) */
    int multiplier;      /* nodes concatenated into the cell output (4) */
    int stem_multiplier; /* stem channels = stem_multiplier * C (3) */
    int in_channels, in_h, in_w;
    int classes;
    int batch;           /* the largest batch a forward will see */
    rd_opset ops;
    int pc_k;            /* PC-DARTS (Xu et al. 2020): the ops of an edge see 1/pc_k of its input's
                            channels, the rest bypass them, and the edges into a node are weighted by
                            the softmax of their betas (betas_normal, betas_reduce); 0 or 1: DARTS */
} rd_supernet_config;
void rd_supernet_config_default(rd_supernet_config *c);
rd_status rd_supernet_config_check(const rd_supernet_config *c, rd_err *err);

/* Planned device memory of one search step, by purpose (bytes). */
typedef struct rd_memory_plan {
    uint64_t weights;      /* trainable weights */
    uint64_t grads;        /* their gradients */
    uint64_t bn_state;     /* running statistics */
    uint64_t arch;         /* alphas, their softmax, gradients and partial sums */
    uint64_t activations;  /* what the backward pass keeps from the forward pass */
    uint64_t gradients;    /* rotating state gradients and op temporaries */
    uint64_t scratch;      /* conv / pooling / GEMM / reduction scratch */
    uint64_t total;        /* sum of the above */
    uint64_t largest_buffer;
    size_t n_weights;      /* number of trainable floats */
    size_t n_arch;         /* floats of the architecture vector (alphas, then PC-DARTS' betas); 0: no search */
} rd_memory_plan;

typedef struct rd_supernet rd_supernet;

/* Plans the supernet over the alive ops (NULL = all), computing the active ops
 * (NULL = all alive), without allocating anything: the memory model. Needs the
 * context for the device's op choices. */
rd_status rd_supernet_plan(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                           const rd_arch_mask *active, rd_memory_plan *plan);

/* Builds the supernet: plans, allocates every buffer, initializes weights like
 * PyTorch (kaiming-uniform convs, BN gamma 1 / beta 0, alphas 1e-3 * N(0,1))
 * from seed. */
rd_status rd_supernet_create(rd_ctx *ctx, const rd_supernet_config *cfg, const rd_arch_mask *alive,
                             const rd_arch_mask *active, uint64_t seed, rd_supernet **out);
void rd_supernet_free(rd_supernet *net);
const rd_supernet_config *rd_supernet_get_config(const rd_supernet *net);
rd_ctx *rd_supernet_context(const rd_supernet *net);
const rd_arch_mask *rd_supernet_alive(const rd_supernet *net);
const rd_arch_mask *rd_supernet_active(const rd_supernet *net);
const rd_memory_plan *rd_supernet_memory(const rd_supernet *net);

/* Sets the ops a forward pass computes (subset of alive; NULL = all alive).
 * Activation memory is re-planned; arenas only grow. */
rd_status rd_supernet_set_active(rd_supernet *net, const rd_arch_mask *active);

/* Forward pass on x (n <= batch images) with int32 labels: logits, mean
 * cross-entropy and correct count (on the device; read with rd_supernet_read_loss).
 * train: batch statistics (and running-stat updates); else running statistics. */
rd_status rd_supernet_forward(rd_supernet *net, const rd_tensor *x, cl_mem labels, int train);
/* Backward of the last training-mode forward, once: it overwrites that forward's activations
 * with gradients, so a second backward without a new forward is refused (RD_ERR_ARG). */
enum { RD_GRAD_WEIGHTS = 1, RD_GRAD_ALPHAS = 2 };
rd_status rd_supernet_backward(rd_supernet *net, unsigned what);
/* Trainable parameters and multiply-add FLOPs (x2) per image of the active
 * ops plus the stem, preprocessing and classifier: the RL reward's size terms. */
void rd_supernet_active_cost(const rd_supernet *net, double *params, double *flops_per_image);
/* Loss and number of correct predictions of the last forward (waits for the device). */
rd_status rd_supernet_read_loss(rd_supernet *net, float *loss, int *correct);
/* Logits of the last forward (n x classes floats on the host). */
rd_status rd_supernet_read_logits(rd_supernet *net, float *out);

/* Device vectors: weights, their gradients (zeroed by rd_supernet_zero_grads),
 * running statistics, the architecture parameters and their gradient: alphas
 * [2][14][K], with PC-DARTS followed by the betas [2][14]. */
rd_vec rd_supernet_weights(const rd_supernet *net);
rd_vec rd_supernet_weight_grads(const rd_supernet *net);
rd_vec rd_supernet_bn_state(const rd_supernet *net);
rd_vec rd_supernet_alphas(const rd_supernet *net);
rd_vec rd_supernet_alpha_grads(const rd_supernet *net);
rd_status rd_supernet_zero_grads(rd_supernet *net);
/* Recomputes the mixed-op weights after the alphas changed. */
rd_status rd_supernet_update_weights_softmax(rd_supernet *net);
/* Host copies of alphas / mixed-op weights ([2][14][K], dead ops 0; not the betas). */
rd_status rd_supernet_read_alphas(rd_supernet *net, float *alphas, float *softmax);
rd_status rd_supernet_write_alphas(rd_supernet *net, const float *alphas);
/* d(loss)/d(mixed-op weight) of every op [2][14][K], summed over the cells of each type,
 * from the last rd_supernet_backward with RD_GRAD_ALPHAS (before the softmax: with one
 * active op per edge it is the sensitivity of the loss to that op's output gate). */
rd_status rd_supernet_read_gate_grads(rd_supernet *net, float *out);
/* The weights DARTS' derivation ranks ([2][14][K]): the mixed-op weights, with PC-DARTS
 * times each edge's normalised beta (as PC-DARTS derives its genotype). */
rd_status rd_supernet_derive_weights(rd_supernet *net, float *weights);

/* Named tensors (PyTorch DARTS names, see SEARCH.md) for checkpoints. */
typedef enum rd_param_kind { RD_PARAM_WEIGHT, RD_PARAM_BN_STATE, RD_PARAM_ALPHAS } rd_param_kind;
typedef struct rd_named_tensor {
    char name[96];
    rd_param_kind kind;
    size_t offset;       /* in floats, within the weights / bn_state / alphas vector */
    size_t count;
    int ndim;
    int shape[4];
} rd_named_tensor;
/* Every named tensor of the supernet in a stable order; *count set. */
const rd_named_tensor *rd_supernet_named_tensors(const rd_supernet *net, int *count);

#ifdef __cplusplus
}
#endif
#endif
