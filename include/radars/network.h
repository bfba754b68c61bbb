/* radars-cl: the discrete network a genotype describes — DARTS' evaluation
 * network (NetworkCIFAR in DARTS' model.py), trained from scratch after a search.
 *
 *  - stem: conv 3x3 (in -> 3C, pad 1, no bias) + affine BN;
 *  - L cells, reduction at L/3 and 2L/3 (channels double); preprocess0 =
 *    FactorizedReduce if the previous cell reduced else ReLU-conv1x1-BN,
 *    preprocess1 = ReLU-conv1x1-BN; node i = op_{2i}(state[in_{2i}]) +
 *    op_{2i+1}(state[in_{2i+1}]); output = concat of the genotype's concat
 *    states. Every batch-norm is affine (weight, bias, running statistics).
 *    Pools have no batch-norm here (DARTS' OPS), unlike in the supernet;
 *  - drop-path in training: each op output that is not the identity is zeroed
 *    per image with probability p and scaled by 1 / (1 - p);
 *  - optional auxiliary head (AuxiliaryHeadCIFAR) on the output of cell 2L/3:
 *    ReLU, avg-pool 5 stride 3 (no padding counted), conv1x1 -> 128, BN, ReLU,
 *    conv 2x2 -> 768, BN, ReLU, linear; it needs an 8..10 pixel feature map there
 *    (32x32 inputs), and its loss is added with a weight in training;
 *  - global average pool, linear classifier.
 *
 * Memory follows the supernet's rules: all trainable weights in one device
 * vector, their gradients in another, BN running statistics in a third (one
 * optimizer launch, one all-reduce later), activations planned up front by one
 * layout function run in PLAN and BIND mode (rd_network_plan == what
 * rd_network_create allocates). Parameter names are PyTorch DARTS' evaluation
 * model's (`stem.0.weight`, `cells.3.preprocess0.op.1.weight`,
 * `cells.3._ops.2.op.3.weight` — op index = position in the genotype's list —,
 * `auxiliary_head.features.2.weight`, `classifier.weight`, ...). */
#ifndef RADARS_NETWORK_H
#define RADARS_NETWORK_H

#include "radars/genotype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rd_network_config {
    int C;               /* initial channels (DARTS: 36) */
    int layers;          /* cells (DARTS: 20) */
    int stem_multiplier; /* 3 */
    int in_channels, in_h, in_w;
    int classes;
    int batch;           /* the largest batch a forward will see */
    int auxiliary;       /* 1: auxiliary head after cell 2L/3 */
    float auxiliary_weight; /* training loss = CE(logits) + auxiliary_weight * CE(aux logits) (DARTS: 0.4) */
    rd_genotype genotype;
} rd_network_config;

/* C 36, layers 20, stem multiplier 3, 1x28x28, 10 classes, batch 64, no auxiliary head
 * (weight 0.4 when enabled), genotype DARTS_V2. */
void rd_network_config_default(rd_network_config *c);
/* Sizes, genotype (inputs in range, concat states valid), reductions on even sizes,
 * auxiliary head only where its feature map is 8..10 pixels. Errors name the field. */
rd_status rd_network_config_check(const rd_network_config *c, rd_err *err);

typedef struct rd_network rd_network;

/* The memory of one training step (weights, grads, BN state, activations,
 * gradients, scratch) without allocating: the same layout create uses.
 * rd_memory_plan.arch is 0. */
rd_status rd_network_plan(rd_ctx *ctx, const rd_network_config *cfg, rd_memory_plan *plan);
/* Plans, allocates, initializes like PyTorch (kaiming-uniform convs, linear
 * uniform(+-1/sqrt(fan_in)) weights and biases, BN gamma 1 / beta 0, running
 * mean 0 / var 1) from seed. */
rd_status rd_network_create(rd_ctx *ctx, const rd_network_config *cfg, uint64_t seed, rd_network **out);
void rd_network_free(rd_network *net);
const rd_network_config *rd_network_get_config(const rd_network *net);
rd_ctx *rd_network_context(const rd_network *net);
const rd_memory_plan *rd_network_memory(const rd_network *net);

/* Drop-path for the training forwards that follow: probability prob (0 = off).
 * The masks of a forward depend only on (seed, counter), and each training
 * forward then advances counter by one, so a resumed run draws the same masks. */
void rd_network_set_drop_path(rd_network *net, float prob, uint64_t seed, uint64_t counter);
uint64_t rd_network_drop_path_counter(const rd_network *net);
/* The drop-path scale of one image at one op in the training forward run with
 * this counter: 0 (dropped, with probability prob) or 1 / (1 - prob), from a
 * counter-based hash of (seed, counter, cell, op = position in the genotype's
 * edge list, image); 1 when prob is 0. The identity (skip_connect, stride 1) and
 * evaluation forwards ignore it. */
float rd_network_drop_path_scale(float prob, uint64_t seed, uint64_t counter, int cell, int op, int image);

/* Forward pass on x (n <= batch images) with int32 labels on the device:
 * logits, mean cross-entropy (plus the weighted auxiliary loss in training),
 * correct count. train: batch statistics, running-stat updates, drop-path,
 * auxiliary head; else running statistics, no drop-path, no auxiliary head. */
rd_status rd_network_forward(rd_network *net, const rd_tensor *x, cl_mem labels, int train);
/* Backward of the last training-mode forward: weight gradients ACCUMULATE
 * (rd_network_zero_grads once per step). */
rd_status rd_network_backward(rd_network *net);
/* loss: main head's mean cross-entropy; aux_loss (NULL to skip): the
 * auxiliary head's (0 without it or in evaluation); correct: main head. Waits. */
rd_status rd_network_read_loss(rd_network *net, float *loss, float *aux_loss, int *correct);
/* Logits of the last forward (n x classes floats on the host). */
rd_status rd_network_read_logits(rd_network *net, float *out);

/* The contiguous device vectors: trainable weights, their gradients, running statistics. */
rd_vec rd_network_weights(const rd_network *net);
rd_vec rd_network_weight_grads(const rd_network *net);
rd_vec rd_network_bn_state(const rd_network *net);
rd_status rd_network_zero_grads(rd_network *net);
/* Every named tensor (kind RD_PARAM_WEIGHT or RD_PARAM_BN_STATE) in a stable order. */
const rd_named_tensor *rd_network_named_tensors(const rd_network *net, int *count);
/* Trainable parameters (auxiliary head excluded, as DARTS counts them) and
 * multiply-add FLOPs x2 per image of the inference path. */
void rd_network_cost(const rd_network *net, double *params, double *flops_per_image);

#ifdef __cplusplus
}
#endif
#endif
