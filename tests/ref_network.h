/* A plain double-precision host reference of the evaluation network's forward
 * pass (DARTS' NetworkCIFAR from a genotype), built only from the op references
 * (src/ops/ref) and the parameter names, for tests. */
#ifndef RADARS_REF_NETWORK_H
#define RADARS_REF_NETWORK_H

#include "radars/network.h"

typedef struct ref_network {
    const rd_network_config *cfg;
    const rd_named_tensor *names;
    int n_names;
    const double *weights;   /* the network's weights vector */
    double *bn_state;        /* its BN-state vector: read in evaluation, updated in training (NULL: not tracked) */
    int train;               /* batch statistics, drop-path, auxiliary head */
    float drop_prob;         /* training drop-path with the masks of (seed, counter) */
    uint64_t drop_seed, drop_counter;
} ref_network;

/* The training loss (main cross-entropy + auxiliary_weight * auxiliary
 * cross-entropy when the head runs) or, in evaluation, the main cross-entropy.
 * logits (n x classes), main_loss and aux_loss written when non-NULL. */
double ref_network_loss(const ref_network *r, const double *x, int n, const int *labels, double *logits,
                        double *main_loss, double *aux_loss);

#endif
