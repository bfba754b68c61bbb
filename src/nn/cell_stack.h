/* Internal: the cell stack under both networks (SEARCH.md section 1; DARTS'
 * Network and NetworkCIFAR): a stem, L cells (reductions at L/3 and 2L/3) whose
 * nodes sum ops applied to earlier states, global pooling, a classifier and the
 * cross-entropy loss; parameters in one weights vector, their gradients in one
 * more, BN running statistics in a third; activations and gradients laid out by
 * one function run to plan and to bind.
 *
 * The supernet (supernet.c) and the evaluation network (network.c) are this
 * stack. What differs stays with them: which ops sit on an edge (every alive op
 * of the set, or the genotype's one op) through add_edge_ops; the mixed-op
 * weights, alphas and active mask (supernet); drop-path scales and the auxiliary
 * head (network) through the rd_op_exec they pass and rd_stack_head. */
#ifndef RADARS_CELL_STACK_H
#define RADARS_CELL_STACK_H

#include "radars/genotype.h"
#include "nn/candidate_ops.h"
#include "nn/cell_parts.h"

enum {
    RD_STACK_MAX_NODES = RD_GENO_MAX_NODES,
    RD_STACK_MAX_EDGES = 2 * RD_GENO_MAX_NODES,
    RD_STACK_MAX_CELL_OPS = RD_CELL_EDGES * RD_MAX_OPS,
};
_Static_assert((int)RD_CELL_NODES <= (int)RD_STACK_MAX_NODES && (int)RD_CELL_EDGES <= (int)RD_STACK_MAX_EDGES,
               "a supernet cell must fit the stack's cell");
_Static_assert(2 * RD_GENO_MAX_NODES <= RD_STACK_MAX_CELL_OPS, "a genotype cell must fit the stack's cell");

/* The wiring of one cell type: edge e feeds node edge_node[e] from state
 * edge_input[e] (0, 1: the preprocessed inputs; 2 + j: node j); the nodes in
 * concat (0-based, in order) form the output. */
typedef struct rd_cell_topology {
    int steps;
    int n_edges;
    int edge_node[RD_STACK_MAX_EDGES], edge_input[RD_STACK_MAX_EDGES];
    int n_concat, concat[RD_STACK_MAX_NODES];
} rd_cell_topology;

/* The supernet's cell: every edge of the fully connected 4-node DAG, the last
 * multiplier nodes concatenated. */
void rd_topology_supernet(rd_cell_topology *t, int steps, int multiplier);
/* A genotype cell: edge k feeds node k / 2. */
void rd_topology_genotype(rd_cell_topology *t, const rd_geno_cell *g);

typedef struct rd_stack_cell {
    const rd_cell_topology *topo;
    int reduction, reduction_prev;
    int C, C_pp, C_p;
    int h, w;                    /* resolution of s1 and of the preprocessed states */
    int h_out, w_out;
    rd_preprocess pre[2];        /* [0] for s0 (FactorizedReduce when the previous cell reduced), [1] for s1 */
    rd_tensor s0p, s1p;
    rd_tensor out;               /* the concatenated nodes */
    rd_tensor nodes[RD_STACK_MAX_NODES];
    int concat_pos[RD_STACK_MAX_NODES]; /* a node's place in the output, -1 when not concatenated */
    int gnode[RD_STACK_MAX_NODES];      /* nodes outside the output: their gradient buffer */
    int edge_first[RD_STACK_MAX_EDGES + 1]; /* edge e's ops are ops[edge_first[e] .. edge_first[e + 1]) */
    rd_op_inst ops[RD_STACK_MAX_CELL_OPS];
    rd_tensor pc_mix[RD_STACK_MAX_EDGES]; /* PC-DARTS: each edge's mixed-op output (C/pc_k channels) */
    rd_bn_stack bn_stack[RD_STACK_MAX_EDGES]; /* each edge's final BNs in training (two or more ops) */
    rd_edge_pw pw[RD_STACK_MAX_EDGES];        /* each stacked edge's 1x1 convolutions in groups */
} rd_stack_cell;

typedef struct rd_stack_config {
    const char *what;            /* "supernet", "network": named in messages */
    int C, layers, stem_multiplier;
    int in_channels, in_h, in_w;
    int classes;
    int batch;                   /* the largest batch a forward will see */
    int affine;                  /* preprocessing BNs with gamma and beta */
    rd_cell_topology topo[2];    /* normal, reduction */
    size_t side_floats;          /* the owner's per-forward vector in the activations arena (drop-path scales) */
    int pc_k;                    /* PC-DARTS: an edge's ops see the first C/pc_k channels of its input, the rest
                                    bypass them (rd_pc_combine), weighted by exec's edge_weights; 0, 1: off */
} rd_stack_config;

typedef struct rd_cell_stack rd_cell_stack;

/* Fills ops (room for RD_MAX_OPS) with edge e's ops of cell i, their
 * parameters added with rd_stack_add_op; returns how many. */
typedef int (*rd_stack_edge_ops)(void *owner, rd_cell_stack *st, int i, int e, int stride, rd_op_inst *ops);

/* An extra head reading one cell's output in training (the auxiliary head). */
typedef struct rd_stack_head {
    void *owner;
    int cell;
    void (*plan)(void *owner, rd_cell_stack *st, int n);       /* activations, after the cell's */
    void (*plan_grads)(void *owner, rd_cell_stack *st, int n); /* gradients, after the logits' */
    /* Its loss and correct count into loss[RD_LOSS_AUX ...], its logit gradient weighted. */
    rd_status (*forward)(void *owner, rd_cell_stack *st, const rd_tensor *feat, int n);
    /* Adds into dfeat, the complete gradient of the cell's output. */
    rd_status (*backward)(void *owner, rd_cell_stack *st, const rd_tensor *feat, const rd_tensor *dfeat);
} rd_stack_head;

enum { RD_LOSS_MAIN, RD_LOSS_CORRECT, RD_LOSS_AUX, RD_LOSS_AUX_CORRECT, RD_LOSS_FLOATS };

struct rd_cell_stack {
    rd_ctx *ctx;
    rd_stack_config cfg;
    rd_stack_cell *cells;
    const rd_arch_mask *active;  /* the supernet's active ops; NULL: every op runs */
    const rd_stack_head *head;   /* NULL: none */
    int c_final;                 /* channels into the classifier */

    rd_param_registry params;    /* names, offsets and each tensor's init */
    rd_stem stem;
    size_t cls_w, cls_b;
    rd_buffer *weights_buf, *grads_buf, *bn_buf;
    rd_vec weights, grads, bn_state;

    rd_arena acts, grad_arena;
    rd_scratch_need scratch;
    int cur_n;                   /* batch the current binding is laid out for */
    rd_tensor input;             /* the last forward's input (caller's memory) */
    cl_mem labels;
    rd_tensor pooled, logits;
    rd_vec loss, side;           /* loss: RD_LOSS_* floats */
    rd_vec bn_stack_ws;          /* the BN stacks' reductions, one edge at a time */
    uint32_t *edge_tab;          /* the host side of every BN stack's table (3 uints per slice) and of
                                    every 1x1 group's (5 per slice) */
    rd_vec edge_tab_dev;         /* the same on the device, in one vector (one upload per binding) */
    rd_tensor g_out[3], g_stem, g_s0p, g_s1p, g_ta, g_tb, g_pooled, g_logits;
    rd_tensor g_nodes[RD_STACK_MAX_NODES];
    rd_tensor g_pc;              /* PC-DARTS: the gradient of one edge's pc_mix at a time */
    int have_forward, head_in_forward;
};

/* Names prefix + each weight's and BN's suffix (rename: a suffix map, or NULL)
 * and places them; BNs are affine when op->affine. */
void rd_stack_add_op(rd_cell_stack *st, rd_op_inst *op, const char *prefix,
                     const char *(*rename)(rd_op_id, const char *));

/* Structure and parameters (stem, cells with edge_ops' ops, head parameters
 * through add_head, classifier), then the plan for cfg->batch. Nothing allocated. */
rd_status rd_stack_build(rd_cell_stack *st, rd_ctx *ctx, const rd_stack_config *cfg, rd_stack_edge_ops edge_ops,
                         void (*add_head)(void *owner, rd_cell_stack *st), void *owner, rd_err *err);
/* Lays out the arenas for batch n (bind: hand out tensors of the allocated arenas). */
void rd_stack_layout(rd_cell_stack *st, int n, int bind);
/* The plan: parameters, arch bytes (the owner's own buffers), arenas, scratch. */
void rd_stack_memory_plan(const rd_cell_stack *st, uint64_t arch, rd_memory_plan *plan);
/* Allocates the parameter vectors and the arenas for cfg->batch. */
rd_status rd_stack_allocate(rd_cell_stack *st);
/* Re-lays out and binds for batch n when it differs from the bound one. */
rd_status rd_stack_bind_batch(rd_cell_stack *st, int n);
/* Initializes weights and BN state from the registry (PyTorch's defaults) with
 * r, zeroes the gradients; r continues for the owner's draws. */
rd_status rd_stack_init_values(rd_cell_stack *st, rd_init_rng *r);
void rd_stack_release(rd_cell_stack *st);

/* The exec every op of the stack runs with; owners add their fields. */
rd_op_exec rd_stack_exec(const rd_cell_stack *st, int train, int weight_grads);
/* RD_ERR_ARG unless x is 1..batch images of the configured size. */
rd_status rd_stack_check_input(rd_cell_stack *st, const rd_tensor *x);
/* Checks x against the config, binds for its batch, runs stem, cells (and the
 * head in training), classifier and loss. */
rd_status rd_stack_forward(rd_cell_stack *st, const rd_op_exec *e, const rd_tensor *x, cl_mem labels);
/* Backward of the last training forward; weight gradients when e has them. */
rd_status rd_stack_backward(rd_cell_stack *st, const rd_op_exec *e);
rd_status rd_stack_read_loss(rd_cell_stack *st, float *loss, float *aux_loss, int *correct);
/* Parameters and FLOPs per image of the stem, preprocessing, active ops and classifier. */
void rd_stack_cost(const rd_cell_stack *st, double *params, double *flops);

/* The supernet's cell stack (src/nn/supernet.c), for tests that look at its layout. */
struct rd_supernet;
rd_cell_stack *rd_supernet_cell_stack(struct rd_supernet *net);

static inline int rd_stack_op_active(const rd_cell_stack *st, const rd_stack_cell *cell, int e, const rd_op_inst *op) {
    return !st->active || (st->active->edge[cell->reduction][e] >> op->index) & 1;
}

#endif
