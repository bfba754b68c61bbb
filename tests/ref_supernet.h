/* A plain double-precision host reference of the supernet's forward pass, built
 * only from the op references (src/ops/ref) and the checkpoint names, for tests. */
#ifndef RADARS_REF_SUPERNET_H
#define RADARS_REF_SUPERNET_H

#include "radars/supernet.h"

typedef struct ref_supernet {
    const rd_supernet_config *cfg;
    const rd_arch_mask *active;
    const rd_named_tensor *names;
    int n_names;
    const double *weights;   /* the supernet's weights vector */
    const double *alphas;    /* [2][14][K], with PC-DARTS (cfg->pc_k > 1) then the betas [2][14] */
} ref_supernet;

/* Mean cross-entropy of the batch in training mode (batch statistics); logits
 * (n x classes) written when non-NULL. */
double ref_supernet_loss(const ref_supernet *r, const double *x, int n, const int *labels, double *logits);

#endif
