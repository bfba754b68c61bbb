/* Internal: the pieces the supernet (supernet.c) and the evaluation network
 * (network.c) build the same way: the named-parameter registry, batch-norm
 * places, the stem, the cells' preprocessing, the init RNG and small planner
 * helpers. Both keep their own structure and cells; these only hold the logic. */
#ifndef RADARS_CELL_PARTS_H
#define RADARS_CELL_PARTS_H

#include <stdint.h>

#include "nn/nn_internal.h"
#include "runtime/rng.h"

/* The batch-norm settings of both networks (PyTorch's defaults). */
extern const rd_bn_params rd_cell_bn;

/* ---- named parameters ----
 * Offsets into the one weights vector and the one BN-state vector, handed out in
 * the order the names are added (that order is the checkpoint's and the RNG's). */
enum { RD_INIT_ZERO = 0, RD_INIT_ONE = -1 };
typedef struct rd_param_registry {
    rd_named_tensor *names;
    double *init;                /* per name: > 0 uniform(+-init), RD_INIT_ZERO, RD_INIT_ONE; the network
                                    initializes from these, the supernet by name (its alphas draw last) */
    int n, cap;
    size_t n_weights, n_bn;
} rd_param_registry;

/* Adds one name (printf-style); 0 when out of host memory. */
int rd_params_add_name(rd_param_registry *r, rd_param_kind kind, size_t off, int ndim, const int *shape, double init,
                       const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* prefix + d->suffix in the weights vector, init bound 1 / sqrt(fan_in) (kaiming-uniform, a = sqrt(5)). */
size_t rd_params_add_weight(rd_param_registry *r, const rd_param_desc *d, const char *prefix);
void rd_params_free(rd_param_registry *r);

/* A batch-norm's place: gamma and beta in the weights vector (affine only),
 * running mean then var (C each) in the BN-state vector. */
typedef struct rd_bn_place {
    int affine;
    size_t gamma, beta, stats;
} rd_bn_place;

/* prefix ends with '.': [weight, bias,] running_mean, running_var. */
rd_bn_place rd_params_add_bn(rd_param_registry *r, int C, int affine, const char *prefix);
/* tmp (save_mean / save_invstd) with the place's gamma, beta and running statistics. */
rd_bn_state rd_bn_state_at(const rd_bn_place *b, const rd_bn_state *tmp, int C, const rd_vec *weights,
                           const rd_vec *bn_state);
/* y = BN(x), batch statistics when training, running ones otherwise. */
rd_status rd_bn_forward(rd_ctx *ctx, int train, const rd_bn_state *s, const rd_tensor *x, const rd_tensor *y);

/* ---- planner helpers ---- */
/* A flat 1x1x1xlen tensor in the arena: a gradient buffer viewed per use with rd_grad_view. */
rd_tensor rd_arena_flat(rd_arena *a, size_t len);
/* buf's memory in like's shape. */
rd_tensor rd_grad_view(const rd_tensor *buf, const rd_tensor *like);
/* Scratch of the classifier (pooled -> logits) and of the weight step's gradient clip. */
void rd_classifier_scratch(rd_ctx *ctx, const rd_tensor *pooled, const rd_tensor *logits, rd_scratch_need *need);
/* Chunk limits (the device's largest allocation) and names of the two arenas. */
void rd_arenas_setup(rd_ctx *ctx, rd_arena *acts, rd_arena *grads);
/* Reserves each scratch slot the plan uses (an unused slot stays unallocated). */
rd_status rd_scratch_reserve_all(rd_ctx *ctx, const rd_scratch_need *need);
/* The memory plan from the parameter counts, arch bytes, arenas and scratch. */
void rd_memory_plan_fill(rd_memory_plan *p, size_t n_weights, size_t n_bn, uint64_t arch, const rd_arena *acts,
                         const rd_arena *grads, const rd_scratch_need *scratch);

/* ---- the stem: conv 3x3 (no bias) then an affine BN ---- */
typedef struct rd_stem {
    int C, in_c;
    size_t w;
    rd_bn_place bn;
    rd_tensor conv, out;         /* the conv's output, the BN's */
    rd_bn_state tmp;
} rd_stem;

void rd_stem_add(rd_param_registry *r, rd_stem *s, int C, int in_c);
/* Plans conv and out (n x C x h x w) and tmp in acts. */
void rd_stem_plan(rd_ctx *ctx, rd_stem *s, rd_arena *acts, int n, int h, int w, rd_scratch_need *need);
rd_status rd_stem_forward(rd_ctx *ctx, const rd_stem *s, const rd_vec *weights, const rd_vec *bn_state,
                          const rd_tensor *x, int train);
/* Weight, gamma and beta gradients from dout; ta: a temporary of at least numel(conv) floats. */
rd_status rd_stem_backward(rd_ctx *ctx, const rd_stem *s, const rd_vec *weights, const rd_vec *grads,
                           const rd_tensor *x, const rd_tensor *dout, const rd_tensor *ta);

/* ---- a cell's preprocessing of one input ----
 * FactorizedReduce (ReLU, two stride-2 1x1 convs of C/2 channels each, the second
 * shifted one pixel, concatenated, BN) when the previous cell reduced and this is
 * s0, else ReLUConvBN 1x1. The supernet's BNs are not affine, the network's are. */
typedef struct rd_preprocess {
    int factorized;
    int C;
    size_t w[2], wlen[2];
    int n_w;
    rd_bn_place bn;
    rd_bn_state tmp;
} rd_preprocess;

/* Names cells.<cell>.preprocess<which>.*, C_in -> C channels. */
void rd_preprocess_add(rd_param_registry *r, rd_preprocess *p, int cell, int which, int factorized, int C, int C_in,
                       int affine);
/* Scratch of the convs and the BN for input x (batch set) and output y. */
void rd_preprocess_scratch(rd_ctx *ctx, const rd_preprocess *p, const rd_tensor *x, const rd_tensor *y,
                           rd_scratch_need *need);
rd_status rd_preprocess_forward(rd_ctx *ctx, const rd_preprocess *p, const rd_vec *weights, const rd_vec *bn_state,
                                const rd_tensor *x, const rd_tensor *y, int train);
/* BN backward in place on dy, then dx += conv backward. grads->mem NULL: no
 * weight (or gamma / beta) gradients. */
rd_status rd_preprocess_backward(rd_ctx *ctx, const rd_preprocess *p, const rd_vec *weights, const rd_vec *grads,
                                 const rd_vec *bn_state, const rd_tensor *x, const rd_tensor *y, const rd_tensor *dy,
                                 const rd_tensor *dx);
/* Adds the parameters (an affine BN's included) and FLOPs (2 per multiply-add) at h x w. */
void rd_preprocess_cost(const rd_preprocess *p, int h, int w, double *params, double *flops);

/* ---- initialization RNG (splitmix64, runtime/rng.h) ---- */
typedef struct rd_init_rng { uint64_t s; } rd_init_rng;
static inline double rd_init_rng_uniform(rd_init_rng *r) { return rd_splitmix64_uniform(&r->s); }
/* Box-Muller, one normal per two uniforms. */
double rd_init_rng_normal(rd_init_rng *r);

#endif
