/* Subsets of a data set: all of it, the seeded weights / alphas split of the
 * search, and the per-channel statistics for normalisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

void rd_shuffle_i32(int32_t *a, int64_t n, uint64_t key) {
    rd_rng r = {key};
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rd_rng_below(&r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

rd_status rd_subset_all(const rd_dataset *ds, rd_subset *out, rd_err *err) {
    out->n = 0;
    out->index = malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof *out->index);
    if (!out->index) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory for a subset of %d images", ds->n);
    for (int i = 0; i < ds->n; i++) out->index[i] = i;
    out->n = ds->n;
    return RD_OK;
}

void rd_subset_free(rd_subset *s) {
    if (!s) return;
    free(s->index);
    s->index = NULL;
    s->n = 0;
}

rd_status rd_split_search(const rd_dataset *train, double fraction, uint64_t seed, rd_subset *weights,
                          rd_subset *alphas, rd_err *err) {
    memset(weights, 0, sizeof *weights);
    memset(alphas, 0, sizeof *alphas);
    if (!(fraction > 0 && fraction < 1))
        return rd_fail(err, RD_ERR_ARG, "search split: fraction %g for the weights is not in (0, 1)", fraction);
    int n = train->n;
    int nw = (int)llround(fraction * n);
    if (nw < 1 || nw > n - 1)
        return rd_fail(err, RD_ERR_ARG, "search split: %d training images with fraction %g leave a half empty", n,
                       fraction);
    rd_subset all;
    RD_TRY(rd_subset_all(train, &all, err));
    rd_shuffle_i32(all.index, n, rd_mix64(seed ^ rd_mix64(RD_TAG_SPLIT)));
    alphas->index = malloc((size_t)(n - nw) * sizeof *alphas->index);
    if (!alphas->index) {
        rd_subset_free(&all);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory for the search split");
    }
    memcpy(alphas->index, all.index + nw, (size_t)(n - nw) * sizeof *alphas->index);
    alphas->n = n - nw;
    weights->index = all.index;  /* the first nw entries; the tail is unused */
    weights->n = nw;
    return RD_OK;
}

rd_status rd_norm_compute(const rd_dataset *ds, const rd_subset *subset, rd_norm *out, rd_err *err) {
    memset(out, 0, sizeof *out);
    if (ds->c < 1 || ds->c > RD_DATA_MAX_CHANNELS)
        return rd_fail(err, RD_ERR_ARG, "normalisation: %d channels (1 to %d supported)", ds->c, RD_DATA_MAX_CHANNELS);
    int n = subset ? subset->n : ds->n;
    if (n < 1) return rd_fail(err, RD_ERR_ARG, "normalisation: empty subset");
    size_t hw = (size_t)ds->h * ds->w;
    /* Exact integer sums per channel: up to 2^64 / 255^2 pixels, far beyond any data set here. */
    uint64_t sum[RD_DATA_MAX_CHANNELS] = {0}, sq[RD_DATA_MAX_CHANNELS] = {0};
    for (int k = 0; k < n; k++) {
        int i = subset ? subset->index[k] : k;
        if (i < 0 || i >= ds->n)
            return rd_fail(err, RD_ERR_ARG, "normalisation: subset entry %d is image %d of %d", k, i, ds->n);
        const uint8_t *img = rd_dataset_image(ds, i);
        for (int c = 0; c < ds->c; c++) {
            const uint8_t *p = img + (size_t)c * hw;
            uint64_t s1 = 0, s2 = 0;
            for (size_t j = 0; j < hw; j++) {
                s1 += p[j];
                s2 += (uint32_t)p[j] * p[j];
            }
            sum[c] += s1;
            sq[c] += s2;
        }
    }
    out->c = ds->c;
    double count = (double)n * (double)hw;
    for (int c = 0; c < ds->c; c++) {
        double mean = (double)sum[c] / count;
        double var = (double)sq[c] / count - mean * mean;
        double sd = sqrt(var > 0 ? var : 0);
        if (!(sd > 0))
            return rd_fail(err, RD_ERR_NUMERIC, "normalisation: channel %d is constant (value %g) over %d images: std 0",
                           c, mean, n);
        out->mean[c] = (float)(mean / 255.0);
        out->std[c] = (float)(sd / 255.0);
    }
    return RD_OK;
}

rd_norm rd_norm_identity(int c) {
    rd_norm n;
    memset(&n, 0, sizeof n);
    n.c = c;
    for (int i = 0; i < RD_DATA_MAX_CHANNELS; i++) n.std[i] = 1;
    return n;
}
