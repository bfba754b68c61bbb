/* radars-cl: data sets in host memory, the search split, normalisation,
 * augmentation, and batches streamed to the device.
 *
 *  - A data set is held compactly on the host: images uint8 N x C x H x W,
 *    labels int32 (Fashion-MNIST: 47 MB rather than 188 MB as float).
 *  - Loaders read the real formats: IDX (MNIST / Fashion-MNIST, plain or .gz),
 *    CIFAR-10 binary batches, and folders of PNG images (one sub-folder per
 *    class). Every malformed input is RD_ERR_IO / RD_ERR_FORMAT with a one-line
 *    message "PATH: what is wrong"; header sizes are checked against the data
 *    actually present before anything large is allocated.
 *  - The search cuts the TRAINING set in two (weights / alphas) with
 *    rd_split_search; the test set is never used in search.
 *  - An rd_loader iterates a subset: a seeded permutation per epoch, batches of
 *    B, normalised (and augmented) on the host, uploaded into device buffers
 *    allocated once with rd_alloc. A worker thread prepares batch i+1 while the
 *    device works on batch i. Its state (seed, epoch, position) is three
 *    integers that a checkpoint stores; a loader restored from them returns
 *    exactly the batches an uninterrupted one would.
 * Randomness (split, permutations, augmentation) is counter-based: a sample's
 * augmentation depends only on (seed, epoch, its position in the epoch), never
 * on threads, batch size history or how often the loader was restored. */
#ifndef RADARS_DATA_H
#define RADARS_DATA_H

#include "radars/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { RD_DATA_MAX_CHANNELS = 4 };
/* Plausibility limits on what files announce: an image side, a class count. */
enum { RD_DATA_MAX_SIDE = 1 << 16, RD_DATA_MAX_CLASSES = 1 << 16 };

/* ---------------- data sets ---------------- */
typedef struct rd_dataset {
    uint8_t *images;      /* n x c x h x w, row-major, 0 = black, 255 = white */
    int32_t *labels;      /* n labels, each in [0, classes) */
    int n, c, h, w;
    int classes;
    char **class_names;   /* classes strings (IDX: the digits or Fashion-MNIST names; PNG: folder names) */
    char *description;    /* one line: which data, split, shape, source path */
    int skipped;          /* PNG folders with skip_bad_files: files skipped; else 0 */
} rd_dataset;

typedef struct rd_data_options {
    /* IDX through "idx:DIR" or rd_load_idx: number of classes; 0 = largest label + 1.
     * "mnist:" and "fashion-mnist" always use 10. A label >= classes is an error. */
    int classes;
    /* PNG folders. Channels: 0 = 3 if any image has colour (RGB, palette) else 1,
     * grey images then expanded to RGB (R = G = B); 1 = every image converted to
     * grey (ITU-R 601 luma, as PIL's "L"); 3 = every image RGB. Alpha is
     * dropped (not composited); 16-bit samples are scaled to 8 bits. */
    int channels;
    /* 0, 0: every image must have the size of the first one (another size is
     * an error naming both files); else every image is resized to
     * resize_h x resize_w (area average where shrinking, bilinear where
     * enlarging, per axis; a same-size image is copied exactly). */
    int resize_h, resize_w;
    /* 0: a file that is not a PNG, or a corrupt PNG, is fatal (error naming it);
     * 1: such files are skipped and counted in rd_dataset.skipped. */
    int skip_bad_files;
} rd_data_options;

/* Opens a data set by name. spec:
 *   "fashion-mnist"         Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
 *   "fashion-mnist:DIR"     the same files in DIR
 *   "mnist:DIR"             {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in DIR, 10 classes
 *   "idx:DIR"               the same names, classes from opt->classes (0 = largest label + 1)
 *   "cifar10:DIR"           data_batch_1..5.bin (train) / test_batch.bin (test) in DIR
 *                           or in DIR/cifar-10-batches-bin (as the tarball unpacks)
 *   "png:DIR"               DIR/train/<class>/<image>.png and DIR/test/<class>/<image>.png
 * split: "train" or "test". opt may be NULL (defaults: all zero). On failure
 * *out is left empty (safe to rd_dataset_free). */
rd_status rd_dataset_open(const char *spec, const char *split, const rd_data_options *opt,
                          rd_dataset *out, rd_err *err);
/* IDX pair: images (magic 0x00000803, N x H x W unsigned bytes) and labels
 * (0x00000801, N); plain or gzip (detected from the content, not the name).
 * classes: 0 = largest label + 1. */
rd_status rd_load_idx(const char *images_path, const char *labels_path, int classes, rd_dataset *out,
                      rd_err *err);
/* CIFAR-10 binary batches: records of 1 label byte (0..9) + 3072 bytes
 * (1024 R, 1024 G, 1024 B, rows of 32), concatenated in the order given. */
rd_status rd_load_cifar10(const char *const *paths, int npaths, rd_dataset *out, rd_err *err);
/* A folder whose sub-folders are the classes (sorted by name: class i is the
 * i-th folder in byte order), each holding PNG images (read in name order).
 * Hidden entries (".name") are ignored, as are plain files directly in dir and
 * folders nested inside a class folder. No class folder, or a class folder
 * with no image, is an error. */
rd_status rd_load_png_folder(const char *dir, const rd_data_options *opt, rd_dataset *out, rd_err *err);
void rd_dataset_free(rd_dataset *ds);
/* RD_ERR_FORMAT unless test has train's image shape (c, h, w), class count and
 * class names: a model trained on one can be evaluated on the other. */
rd_status rd_dataset_check_compatible(const rd_dataset *train, const rd_dataset *test, rd_err *err);
/* Bytes of one image (c * h * w). */
static inline size_t rd_dataset_image_size(const rd_dataset *ds) { return (size_t)ds->c * ds->h * ds->w; }
static inline const uint8_t *rd_dataset_image(const rd_dataset *ds, int i) {
    return ds->images + (size_t)i * rd_dataset_image_size(ds);
}

/* ---------------- subsets and the search split ---------------- */
typedef struct rd_subset {
    int32_t *index;       /* image indices into a data set */
    int n;
} rd_subset;

#define RD_SEARCH_SPLIT_DEFAULT 0.5
/* Every image of ds, in order (evaluation, final training). */
rd_status rd_subset_all(const rd_dataset *ds, rd_subset *out, rd_err *err);
/* Cuts the training set in two for the search: a seeded random permutation of
 * 0..n-1, the first round(fraction * n) indices to *weights (trains w), the
 * rest to *alphas (trains the architecture). Both halves are non-empty and
 * disjoint, and together hold every image once. Each half keeps the permuted
 * order, so its first k indices are a random sample (set n = k to use fewer).
 * 0 < fraction < 1 (RD_SEARCH_SPLIT_DEFAULT = 0.5). */
rd_status rd_split_search(const rd_dataset *train, double fraction, uint64_t seed, rd_subset *weights,
                          rd_subset *alphas, rd_err *err);
void rd_subset_free(rd_subset *s);

/* ---------------- normalisation and augmentation ---------------- */
/* x = (pixel / 255 - mean[c]) / std[c] */
typedef struct rd_norm {
    int c;
    float mean[RD_DATA_MAX_CHANNELS], std[RD_DATA_MAX_CHANNELS];
} rd_norm;
/* Per-channel mean and (population) standard deviation of pixel/255 over the
 * images of subset (NULL = all of ds), exact (integer sums). A channel with
 * std 0 is RD_ERR_NUMERIC. */
rd_status rd_norm_compute(const rd_dataset *ds, const rd_subset *subset, rd_norm *out, rd_err *err);
/* mean 0, std 1: x = pixel / 255. */
rd_norm rd_norm_identity(int c);

/* Applied in torchvision's order: RandomCrop(H, padding) -> RandomHorizontalFlip
 * -> ToTensor -> Normalize -> Cutout, as DARTS does. */
typedef struct rd_augment {
    int crop_pad;   /* > 0: an H x W crop at a random offset of the image zero-padded
                       (black, before normalisation) by crop_pad on every side
                       (DARTS: 4 for 32x32; 2 suits 28x28) */
    int hflip;      /* 1: mirror left-right with probability 1/2 */
    int cutout;     /* > 0: the square of rows [cy - L/2, cy + L/2) and columns
                       [cx - L/2, cx + L/2) (L = cutout, centre a random pixel, clipped
                       at the borders, as DARTS' Cutout) is set to 0 after normalisation */
} rd_augment;

/* One sample's random choices. */
typedef struct rd_aug_draw {
    int dy, dx;     /* crop offset in the padded image, each in [0, 2 * crop_pad] (pad, pad = no shift) */
    int flip;       /* 0 or 1 */
    int cy, cx;     /* cutout centre in [0, h) x [0, w) (ignored when cutout is 0) */
} rd_aug_draw;

/* The draws for a given key (the loader uses rd_sample_key). Disabled
 * augmentations draw nothing: dy = dx = crop_pad, flip = 0. */
void rd_augment_draw(const rd_augment *aug, int h, int w, uint64_t key, rd_aug_draw *d);
/* The key of the sample at position pos of epoch epoch for a loader seed. */
uint64_t rd_sample_key(uint64_t seed, int64_t epoch, int64_t pos);
/* Writes image `index` of ds as c x h x w floats into out, normalised, with the
 * draws d applied (aug and d may be NULL: no augmentation). */
void rd_render_image(const rd_dataset *ds, int index, const rd_norm *norm, const rd_augment *aug,
                     const rd_aug_draw *d, float *out);

/* ---------------- batch streaming ---------------- */
typedef struct rd_loader_options {
    int batch;          /* B >= 1 */
    int shuffle;        /* 1: a fresh seeded permutation of the subset every epoch; 0: subset order */
    int drop_last;      /* 1: an epoch ends before a partial batch; 0: its last batch may hold < B */
    uint64_t seed;      /* permutations and augmentation (give the two search halves different seeds) */
    rd_norm norm;       /* norm.c must equal the data set's c */
    rd_augment aug;     /* all zero: none */
    int synchronous;    /* 1: prepare each batch inside rd_loader_next (no worker thread); same batches */
} rd_loader_options;

/* Evaluation: in subset order, no augmentation, last partial batch kept. */
rd_loader_options rd_loader_eval_options(int batch, rd_norm norm);

/* Where a loader stands: the next batch returned starts at sample `position`
 * of epoch `epoch` (positions count samples of the epoch's order already
 * returned). Store it in a checkpoint; rd_loader_set_state restores it. */
typedef struct rd_loader_state {
    uint64_t seed;
    int64_t epoch;
    int64_t position;
} rd_loader_state;

typedef struct rd_batch {
    rd_tensor x;              /* n x c x h x w float32 on the device (a view of a loader buffer) */
    cl_mem labels;            /* int32 labels, the first n entries */
    int n;                    /* images in this batch: B, or fewer for a kept last partial batch */
    int64_t epoch;            /* epoch it belongs to */
    int64_t index;            /* batch number within the epoch */
    int last;                 /* 1: the last batch of its epoch */
    const float *host_x;      /* the same batch on the host, dense NCHW */
    const int32_t *host_labels;
} rd_batch;

typedef struct rd_loader rd_loader;

/* A loader over subset (copied) of ds (referenced: ds must outlive the loader).
 * ctx may be NULL for a host-only loader (batch.x.mem and batch.labels NULL).
 * Allocates its device memory once: two slots of B x c x h x w floats and B
 * int32 labels ("loader x 0", ...), reused for every batch. The first batch is
 * prepared at once. */
rd_status rd_loader_create(rd_ctx *ctx, const rd_dataset *ds, const rd_subset *subset,
                           const rd_loader_options *opt, rd_loader **out, rd_err *err);
/* Returns the next batch and starts preparing the one after.
 * Contract (the loader never waits for the device's compute):
 *  - the batch's device buffers are written by a non-blocking upload enqueued
 *    here on the context's in-order queue, so any work enqueued afterwards
 *    sees the batch; they are overwritten only by the upload enqueued in the
 *    second call after this one (two slots), which the in-order queue runs
 *    after all work enqueued before that call: a batch may be used until the
 *    next-but-one call to rd_loader_next (or until rd_loader_set_state /
 *    rd_loader_free);
 *  - host_x / host_labels stay valid until the next call (the worker then
 *    refills that slot, after waiting for its upload to complete). */
rd_status rd_loader_next(rd_loader *ld, rd_batch *out, rd_err *err);
rd_loader_state rd_loader_get_state(const rd_loader *ld);
/* Restores a state (0 <= position < subset size, and with drop_last
 * position + B <= size); the next batch is the one at that state. The device
 * buffers of batches already returned may be overwritten from here on. */
rd_status rd_loader_set_state(rd_loader *ld, const rd_loader_state *st, rd_err *err);
int64_t rd_loader_batches_per_epoch(const rd_loader *ld);
/* Device bytes a loader of batch B over c x h x w images allocates (for memory plans). */
uint64_t rd_loader_device_bytes(int batch, int c, int h, int w);
/* Waits for the loader's uploads, stops its worker, frees its buffers. */
void rd_loader_free(rd_loader *ld);

/* Data-parallel jobs (radars/comm.h): the part of the stream rank `index` of `count` takes.
 *  RD_SHARD_ROWS: rows [m*index/count, m*(index+1)/count) of every batch of m rows (the
 *    other rows go to the other ranks; a rank's part of a short last batch may be empty,
 *    n = 0); each call advances one batch;
 *  RD_SHARD_BATCHES: batch `index` of every `count` consecutive batches (each rank a
 *    whole batch of its own); each call advances `count` batches.
 * Either way the state advances as an unsharded loader's does, so it is the same on
 * every rank and a checkpoint holds it whatever the number of ranks; the images of a
 * position are the same whatever the sharding (augmentation is keyed by position).
 * count 1 (the default): the whole stream. */
typedef enum rd_shard_mode { RD_SHARD_ROWS, RD_SHARD_BATCHES } rd_shard_mode;
rd_status rd_loader_set_shard(rd_loader *ld, rd_shard_mode mode, int index, int count, rd_err *err);
/* The number of shards the stream is split into (1: this loader sees all of it). */
int rd_loader_shard_count(const rd_loader *ld);

#ifdef __cplusplus
}
#endif
#endif
