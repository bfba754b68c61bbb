/* Host tensors (double) and the layers both test references build their networks
 * from: ref_supernet.c (the search supernet) and ref_network.c (the evaluation
 * network), on top of the op references in src/ops/ref. */
#ifndef RADARS_TEST_REF_TENSOR_H
#define RADARS_TEST_REF_TENSOR_H

#include "ops/ref/ref.h"
#include "radars/supernet.h"

typedef struct ref_t { double *d; ref_shape s; } ref_t;

ref_t ref_t_new(int n, int c, int h, int w);  /* zeros */
void ref_t_free(ref_t *t);
ref_t ref_t_copy(const ref_t *x);
ref_t ref_t_relu(const ref_t *x);
ref_t ref_t_conv(const ref_t *x, const double *w, int out_c, rd_conv_params p);
/* FactorizedReduce without its BN: ReLU, two 1x1 stride-2 convs of C/2 channels (the
 * second on x[:, :, 1:, 1:]), concatenated. */
ref_t ref_t_factorized(const ref_t *x, const double *w1, const double *w2, int C);
/* node += scale * y */
void ref_t_add(ref_t *node, const ref_t *y, double scale);
/* The tensor of kind called name among names (offsets into values); aborts when absent. */
double *ref_named(const rd_named_tensor *names, int n_names, rd_param_kind kind, const double *values,
                  const char *name);

#endif
