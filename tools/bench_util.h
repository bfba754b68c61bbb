/* Helpers shared by the benchmark tools (tools/bench_*.c): the kernel parameters, clocks, medians. */
#ifndef RADARS_BENCH_UTIL_H
#define RADARS_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "radars/radars.h"

/* Applies the device's tuning file, then `text` ("conv_row=local wg=128", radars tune's names; may
 * be NULL) over it; note says which parameters run. 0, or 2 with the reason printed after tool. */
static inline int bench_tuning(rd_ctx *ctx, const char *tool, const char *text, char *note, size_t len) {
    rd_tuning_load(ctx, note, len);
    if (!text) return 0;
    rd_tuning t = *rd_ctx_tuning(ctx);
    rd_err err = {0};
    if (rd_tuning_from_text(rd_ctx_device(ctx), text, &t, &err) != RD_OK || rd_ctx_set_tuning(ctx, &t) != RD_OK) {
        fprintf(stderr, "%s: --tuning: %s\n", tool, err.code ? err.msg : rd_ctx_error(ctx));
        return 2;
    }
    size_t used = strlen(note);
    snprintf(note + used, len - used, "; --tuning: ");
    used = strlen(note);
    rd_tuning_format(&t, note + used, len - used);
    return 0;
}

/* Monotonic wall clock, in seconds. */
static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Process CPU time (all threads), in seconds: steadier than wall time on a shared machine. */
static inline double bench_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec * 1e-6;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1; sorts v in place). */
static inline double bench_median(double *v, size_t n) {
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Pseudo-random contents in [-2, 2) (a 64-bit LCG from seed) written into t from the host: max
 * pooling then sees real arg-maxes and batch norm real statistics. */
static inline rd_status bench_random_tensor(rd_ctx *ctx, const rd_tensor *t, unsigned long long seed) {
    size_t n = rd_tensor_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "bench: out of host memory");
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (float)((double)(seed >> 11) / 9007199254740992.0 * 4.0 - 2.0);
    }
    rd_status st = rd_tensor_write(ctx, t, h);
    free(h);
    return st;
}

#endif
