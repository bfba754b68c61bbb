/* bench_data: load a data set by name and time its loading, the search split,
 * the normalisation statistics and the batch loader (host preparation alone,
 * then with the worker thread and the upload to the device).
 *
 *   build/bench_data [SPEC [BATCH [BATCHES]]]     SPEC defaults to fashion-mnist
 *   e.g. build/bench_data cifar10:datasets/cifar10 96 500
 * The device is chosen as everywhere (RADARS_DEVICE); "-" as the fourth
 * argument skips the device part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radars/radars.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what, const rd_err *err) {
    fprintf(stderr, "bench_data: %s: %s\n", what, err->msg);
    return 1;
}

/* Seconds per rd_loader_next over `batches` batches (after one warm-up batch). */
static int time_loader(rd_ctx *ctx, const rd_dataset *ds, const rd_subset *sub, const rd_loader_options *o,
                       int batches, double *per, rd_err *err) {
    rd_loader *ld;
    if (rd_loader_create(ctx, ds, sub, o, &ld, err) != RD_OK) return 0;
    rd_batch b;
    int ok = rd_loader_next(ld, &b, err) == RD_OK;
    double t0 = now();
    for (int k = 0; ok && k < batches; k++) {
        ok = rd_loader_next(ld, &b, err) == RD_OK;
        if (ok && ctx) ok = rd_finish(ctx) == RD_OK;
    }
    *per = (now() - t0) / batches;
    rd_loader_free(ld);
    return ok;
}

int main(int argc, char **argv) {
    const char *spec = argc > 1 ? argv[1] : "fashion-mnist";
    int batch = argc > 2 ? atoi(argv[2]) : 64;
    int batches = argc > 3 ? atoi(argv[3]) : 1000;
    int use_device = !(argc > 4 && strcmp(argv[4], "-") == 0);
    if (batch < 1 || batches < 1) {
        fprintf(stderr, "usage: bench_data [SPEC [BATCH [BATCHES [-]]]]\n");
        return 2;
    }
    rd_err err = {0};
    rd_dataset train;
    double t0 = now();
    if (rd_dataset_open(spec, "train", NULL, &train, &err) != RD_OK) return fail("loading", &err);
    double t_load = now() - t0;
    printf("%s\n  load: %.3f s (%.1f MB of uint8 images)\n", train.description, t_load,
           (double)train.n * rd_dataset_image_size(&train) / 1e6);

    rd_subset w, a;
    t0 = now();
    if (rd_split_search(&train, RD_SEARCH_SPLIT_DEFAULT, 1, &w, &a, &err) != RD_OK) return fail("split", &err);
    double t_split = now() - t0;
    rd_norm nm;
    t0 = now();
    if (rd_norm_compute(&train, &w, &nm, &err) != RD_OK) return fail("normalisation", &err);
    double t_norm = now() - t0;
    printf("  split %d / %d: %.3f s; statistics of the weights half: %.3f s; mean", w.n, a.n, t_split, t_norm);
    for (int c = 0; c < nm.c; c++) printf(" %.4f", nm.mean[c]);
    printf(" std");
    for (int c = 0; c < nm.c; c++) printf(" %.4f", nm.std[c]);
    printf("\n");

    int pad = train.h >= 32 ? 4 : 2;
    rd_loader_options o = rd_loader_eval_options(batch, nm);
    o.shuffle = 1;
    o.seed = 1;
    o.synchronous = 1;
    double per;
    if (!time_loader(NULL, &train, &w, &o, batches, &per, &err)) return fail("loader", &err);
    printf("  host batch of %d, normalise only:           %8.1f us\n", batch, per * 1e6);
    o.aug.crop_pad = pad;
    o.aug.hflip = 1;
    if (!time_loader(NULL, &train, &w, &o, batches, &per, &err)) return fail("loader", &err);
    printf("  host batch of %d, crop (pad %d) + flip:       %8.1f us\n", batch, pad, per * 1e6);
    o.aug.cutout = 16;
    if (!time_loader(NULL, &train, &w, &o, batches, &per, &err)) return fail("loader", &err);
    printf("  host batch of %d, crop + flip + cutout 16:  %8.1f us\n", batch, per * 1e6);

    if (use_device) {
        rd_ctx *ctx;
        rd_ctx_options co = {0};
        if (rd_ctx_create(&co, &ctx, &err) != RD_OK) return fail("device", &err);
        o.aug.cutout = 0;
        o.synchronous = 0;
        if (!time_loader(ctx, &train, &w, &o, batches, &per, &err)) return fail("loader", &err);
        printf("  threaded next + upload + finish on %s: %.1f us per batch\n", rd_ctx_device(ctx)->name, per * 1e6);
        rd_ctx_free(ctx);
    }
    rd_subset_free(&w);
    rd_subset_free(&a);
    rd_dataset_free(&train);
    return 0;
}
