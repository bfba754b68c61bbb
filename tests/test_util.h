/* Helpers for the Check tests: one shared context, random data, device
 * round trips, tolerant comparisons and central finite differences. */
#ifndef RADARS_TEST_UTIL_H
#define RADARS_TEST_UTIL_H

#include <check.h>
#include <stddef.h>

#include "radars/radars.h"
#include "ops/ref/ref.h"

/* The context shared by every test of the process (created on first use). */
rd_ctx *tu_ctx(void);
void tu_ctx_free(void);

/* Deterministic uniform random numbers in [lo, hi). */
typedef struct tu_rng { unsigned long long s; } tu_rng;
double tu_uniform(tu_rng *r, double lo, double hi);
void tu_fill(tu_rng *r, double *x, size_t n, double lo, double hi);
/* Values spread so that no two are within gap/2 (max-pool / ReLU away from kinks). */
void tu_fill_distinct(tu_rng *r, double *x, size_t n, double scale);

/* Device tensors from host doubles (buffers tracked and freed by tu_free_all).
 * Uploading rounds x in place to float, so a reference computed from x sees
 * exactly the values the device sees. */
rd_tensor tu_tensor(int n, int c, int h, int w);
rd_tensor tu_tensor_from(double *x, int n, int c, int h, int w);
rd_vec tu_vec(size_t len);
rd_vec tu_vec_from(double *x, size_t len);
void tu_read(const rd_tensor *t, double *out);
void tu_vec_read(const rd_vec *v, double *out);
void tu_write(const rd_tensor *t, double *x);
void tu_free_all(void);

/* Fails the test when |got - want| > atol + rtol * |want| anywhere, printing the worst index. */
void tu_assert_close(const char *what, const double *got, const double *want, size_t n, double atol,
                     double rtol);
/* Central finite differences of f at x for every coordinate (x is restored). */
typedef double (*tu_scalar_fn)(void *user, const double *x);
void tu_fd_grad(tu_scalar_fn f, void *user, double *x, size_t n, double eps, double *grad);
/* sum(a * b) */
double tu_dot(const double *a, const double *b, size_t n);

/* Checks a status, printing the context's message on failure. */
#define TU_OK(expr) do { rd_status s_ = (expr); \
    ck_assert_msg(s_ == RD_OK, "%s failed: %s", #expr, rd_ctx_error(tu_ctx())); } while (0)

/* The same on a context of the test's own. */
#define TU_OK_CTX(ctx, expr) do { rd_status s_ = (expr); \
    ck_assert_msg(s_ == RD_OK, "%s failed: %s", #expr, rd_ctx_error(ctx)); } while (0)

/* RADARS_TEST_SMALL=1 (a slow device: Oclgrind's simulation, hundreds of times slower,
 * or rusticl on llvmpipe for the supernet test): cases of more than TU_SMALL_ELEMENTS
 * elements are skipped, and tests with many similar cases run one of each kind, so every
 * kernel path still runs at small shapes. tu_too_big says whether to skip one. */
enum { TU_SMALL_ELEMENTS = 6000 };
int tu_too_big(size_t elements);
int tu_small(void); /* RADARS_TEST_SMALL is set */

/* main() for a test file: runs the suite without forking (one OpenCL context). */
int tu_run_suite(Suite *s);

#endif
