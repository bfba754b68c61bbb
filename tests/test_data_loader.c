/* The search split, normalisation, augmentation and the batch loader:
 * determinism, epoch coverage, resume, the device upload, and timings. */
#include <math.h>

#include "data_fixtures.h"
#include "test_util.h"

/* A synthetic data set: image i holds i in its first two bytes (so a batch
 * says which images it holds), the rest pseudo-random; label i % classes. */
static void make_ds(rd_dataset *ds, int n, int c, int h, int w, int classes, unsigned long long seed) {
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->classes = classes;
    size_t sz = (size_t)c * h * w;
    ds->images = malloc((size_t)n * sz);
    ds->labels = malloc((size_t)n * sizeof *ds->labels);
    for (int i = 0; i < n; i++) {
        uint8_t *img = ds->images + (size_t)i * sz;
        for (size_t j = 0; j < sz; j++) img[j] = (uint8_t)fx_rand(&seed);
        img[0] = (uint8_t)(i & 255);
        img[1] = (uint8_t)(i >> 8);
        ds->labels[i] = i % classes;
    }
}

/* The image index carried by sample j of a host batch made with the identity norm and no augmentation. */
static int index_of(const float *x, size_t chw, int j) {
    return (int)lrintf(x[(size_t)j * chw] * 255.0f) + 256 * (int)lrintf(x[(size_t)j * chw + 1] * 255.0f);
}

/* ---------------- split ---------------- */
START_TEST(split_sizes_disjoint_deterministic) {
    rd_dataset ds;
    make_ds(&ds, 101, 1, 2, 2, 10, 1);
    rd_subset a, b, a2, b2, a3, b3;
    rd_err err = {0};
    ck_assert_int_eq(rd_split_search(&ds, RD_SEARCH_SPLIT_DEFAULT, 7, &a, &b, &err), RD_OK);
    ck_assert_int_eq(a.n, 51);  /* round(50.5) */
    ck_assert_int_eq(b.n, 50);
    int seen[101] = {0};
    for (int i = 0; i < a.n; i++) seen[a.index[i]]++;
    for (int i = 0; i < b.n; i++) seen[b.index[i]]++;
    for (int i = 0; i < 101; i++) ck_assert_int_eq(seen[i], 1);
    /* same seed: same split; another seed: another split */
    ck_assert_int_eq(rd_split_search(&ds, 0.5, 7, &a2, &b2, &err), RD_OK);
    ck_assert_int_eq(memcmp(a.index, a2.index, (size_t)a.n * sizeof *a.index), 0);
    ck_assert_int_eq(memcmp(b.index, b2.index, (size_t)b.n * sizeof *b.index), 0);
    ck_assert_int_eq(rd_split_search(&ds, 0.5, 8, &a3, &b3, &err), RD_OK);
    ck_assert_int_ne(memcmp(a.index, a3.index, (size_t)a.n * sizeof *a.index), 0);
    /* a shuffled split, not the first half */
    int below = 0;
    for (int i = 0; i < a.n; i++) below += a.index[i] < 51;
    ck_assert_int_lt(below, 45);
    rd_subset_free(&a2);
    rd_subset_free(&b2);
    rd_subset_free(&a3);
    rd_subset_free(&b3);
    ck_assert_int_eq(rd_split_search(&ds, 0.3, 7, &a2, &b2, &err), RD_OK);
    ck_assert_int_eq(a2.n, 30);
    ck_assert_int_eq(b2.n, 71);
    rd_subset_free(&a2);
    rd_subset_free(&b2);
    fx_expect_error("fraction 1", rd_split_search(&ds, 1.0, 7, &a2, &b2, &err), &err, RD_ERR_ARG, "fraction", NULL);
    fx_expect_error("fraction 0.001", rd_split_search(&ds, 0.001, 7, &a2, &b2, &err), &err, RD_ERR_ARG, "empty",
                    NULL);
    rd_subset_free(&a);
    rd_subset_free(&b);
    rd_dataset_free(&ds);
}
END_TEST

/* ---------------- normalisation ---------------- */
START_TEST(normalised_subset_has_mean_0_std_1) {
    rd_dataset ds;
    make_ds(&ds, 300, 3, 6, 5, 10, 3);
    /* give the channels different ranges */
    size_t hw = 30;
    for (int i = 0; i < ds.n; i++)
        for (size_t j = 2; j < hw; j++) {
            uint8_t *img = ds.images + (size_t)i * 3 * hw;
            img[j] = (uint8_t)(img[j] / 4);
            img[2 * hw + j] = (uint8_t)(128 + img[2 * hw + j] / 2);
        }
    rd_subset a, b;
    rd_err err = {0};
    ck_assert_int_eq(rd_split_search(&ds, 0.5, 1, &a, &b, &err), RD_OK);
    rd_norm nm;
    ck_assert_msg(rd_norm_compute(&ds, &a, &nm, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(nm.c, 3);
    float *x = malloc(3 * hw * sizeof *x);
    double sum[3] = {0}, sq[3] = {0};
    for (int k = 0; k < a.n; k++) {
        rd_render_image(&ds, a.index[k], &nm, NULL, NULL, x);
        for (int c = 0; c < 3; c++)
            for (size_t j = 0; j < hw; j++) {
                sum[c] += x[c * hw + j];
                sq[c] += (double)x[c * hw + j] * x[c * hw + j];
            }
    }
    double cnt = (double)a.n * hw;
    for (int c = 0; c < 3; c++) {
        double m = sum[c] / cnt, sd = sqrt(sq[c] / cnt - m * m);
        printf("channel %d: mean %.3f std %.3f (pixels/255) -> normalised mean %.2e std %.6f\n", c, nm.mean[c],
               nm.std[c], m, sd);
        ck_assert_double_lt(fabs(m), 1e-5);
        ck_assert_double_lt(fabs(sd - 1), 1e-5);
    }
    ck_assert_double_lt(nm.mean[0], 0.2);
    ck_assert_double_gt(nm.mean[2], 0.6);
    /* a constant channel cannot be normalised */
    memset(ds.images, 9, (size_t)ds.n * 3 * hw);
    fx_expect_error("constant channel", rd_norm_compute(&ds, NULL, &nm, &err), &err, RD_ERR_NUMERIC, "channel 0",
                    "std 0");
    free(x);
    rd_subset_free(&a);
    rd_subset_free(&b);
    rd_dataset_free(&ds);
}
END_TEST

/* ---------------- augmentation ---------------- */
/* Reference: pad with black, crop at (dy, dx), flip, as plain loops. */
static void ref_augment(const uint8_t *img, int H, int W, int pad, const rd_aug_draw *d, int *out) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int cx = d->flip ? W - 1 - x : x;          /* flip after the crop */
            int py = y + d->dy, px = cx + d->dx;       /* in the padded image */
            int sy = py - pad, sx = px - pad;
            out[y * W + x] = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? img[sy * W + sx] : 0;
        }
}

START_TEST(crop_flip_cutout_on_a_tiny_image) {
    /* one 3 x 4 grey image, values 1..12 row by row */
    rd_dataset ds;
    make_ds(&ds, 1, 1, 3, 4, 1, 0);
    for (int i = 0; i < 12; i++) ds.images[i] = (uint8_t)(i + 1);
    rd_norm id = rd_norm_identity(1);
    float out[12];
    int got[12];
    rd_augment aug = {1, 1, 0};
#define RENDER(DY, DX, FLIP)                                                   \
    do {                                                                       \
        rd_aug_draw d_ = {DY, DX, FLIP, 0, 0};                                 \
        rd_render_image(&ds, 0, &id, &aug, &d_, out);                          \
        for (int i_ = 0; i_ < 12; i_++) got[i_] = (int)lrintf(out[i_] * 255); \
    } while (0)
    static const int ident[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static const int down_right[12] = {0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7};   /* dy = dx = 0 */
    static const int up[12] = {5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0};        /* dy = 2, dx = 1 */
    static const int mirror[12] = {4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9};    /* flip */
    static const int mirror_dx2[12] = {0, 4, 3, 2, 0, 8, 7, 6, 0, 12, 11, 10}; /* flip, dx = 2 */
    static const int mirror_dx0[12] = {3, 2, 1, 0, 7, 6, 5, 0, 11, 10, 9, 0};  /* flip, dx = 0 */
    RENDER(1, 1, 0);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(got[i], ident[i]);
    RENDER(0, 0, 0);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(got[i], down_right[i]);
    RENDER(2, 1, 0);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(got[i], up[i]);
    RENDER(1, 1, 1);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(got[i], mirror[i]);
    RENDER(1, 2, 1);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(got[i], mirror_dx2[i]);
    RENDER(1, 0, 1);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(got[i], mirror_dx0[i]);
    /* every draw for pads 1..3 against the reference loops */
    for (int pad = 1; pad <= 3; pad++) {
        aug.crop_pad = pad;
        for (int dy = 0; dy <= 2 * pad; dy++)
            for (int dx = 0; dx <= 2 * pad; dx++)
                for (int flip = 0; flip < 2; flip++) {
                    rd_aug_draw d = {dy, dx, flip, 0, 0};
                    int want[12];
                    ref_augment(ds.images, 3, 4, pad, &d, want);
                    RENDER(dy, dx, flip);
                    for (int i = 0; i < 12; i++)
                        ck_assert_msg(got[i] == want[i], "pad %d dy %d dx %d flip %d: pixel %d is %d, want %d", pad,
                                      dy, dx, flip, i, got[i], want[i]);
                }
    }
    /* padding is black before normalisation; cutout is 0 after it */
    rd_norm nm = rd_norm_identity(1);
    nm.mean[0] = 0.1f;
    nm.std[0] = 0.5f;
    rd_augment cut = {1, 0, 2};
    rd_aug_draw d = {0, 1, 0, 1, 2};  /* shift down one row; cutout rows [0,2) cols [1,3) */
    rd_render_image(&ds, 0, &nm, &cut, &d, out);
    float black = (0 - 0.1f) / 0.5f;
    for (int x = 0; x < 4; x++) ck_assert_float_eq_tol(out[x], x >= 1 && x < 3 ? 0.0f : black, 1e-6f);
    ck_assert_float_eq(out[4 + 1], 0.0f);
    ck_assert_float_eq(out[4 + 2], 0.0f);
    ck_assert_float_eq_tol(out[4 + 0], (float)((1 / 255.0 - 0.1) / 0.5), 1e-6f);
    ck_assert_float_eq_tol(out[8 + 1], (float)((6 / 255.0 - 0.1) / 0.5), 1e-6f);
    /* odd length at a corner: rows [-1, 1), cols [2, 4) clipped */
    cut.cutout = 3;
    rd_aug_draw d2 = {1, 1, 0, 0, 3};
    rd_render_image(&ds, 0, &nm, &cut, &d2, out);
    for (int i = 0; i < 12; i++) {
        int y = i / 4, x = i % 4;
        float want = (y == 0 && x >= 2) ? 0.0f : (float)(((i + 1) / 255.0 - 0.1) / 0.5);
        ck_assert_float_eq_tol(out[i], want, 1e-6f);
    }
#undef RENDER
    rd_dataset_free(&ds);
}
END_TEST

START_TEST(augmentation_draws_in_range_and_deterministic) {
    rd_augment aug = {4, 1, 16};
    int hist_dy[9] = {0}, flips = 0, trials = 4000;
    for (int i = 0; i < trials; i++) {
        rd_aug_draw d, d2;
        uint64_t key = rd_sample_key(5, i / 100, i % 100);
        rd_augment_draw(&aug, 32, 30, key, &d);
        rd_augment_draw(&aug, 32, 30, key, &d2);
        ck_assert_int_eq(memcmp(&d, &d2, sizeof d), 0);
        ck_assert(d.dy >= 0 && d.dy <= 8 && d.dx >= 0 && d.dx <= 8);
        ck_assert(d.cy >= 0 && d.cy < 32 && d.cx >= 0 && d.cx < 30);
        hist_dy[d.dy]++;
        flips += d.flip;
    }
    for (int k = 0; k < 9; k++) ck_assert_int_gt(hist_dy[k], trials / 9 / 2);
    ck_assert(flips > trials * 45 / 100 && flips < trials * 55 / 100);
    /* keys differ by seed, epoch and position */
    ck_assert(rd_sample_key(1, 0, 0) != rd_sample_key(2, 0, 0));
    ck_assert(rd_sample_key(1, 0, 0) != rd_sample_key(1, 1, 0));
    ck_assert(rd_sample_key(1, 0, 0) != rd_sample_key(1, 0, 1));
    /* nothing enabled: the identity draw */
    rd_augment none = {0, 0, 0};
    rd_aug_draw d;
    rd_augment_draw(&none, 8, 8, 123, &d);
    ck_assert(d.dy == 0 && d.dx == 0 && d.flip == 0);
}
END_TEST

/* ---------------- the loader ---------------- */
static rd_loader *make_loader(rd_ctx *ctx, const rd_dataset *ds, const rd_subset *sub, const rd_loader_options *o) {
    rd_loader *ld = NULL;
    rd_err err = {0};
    ck_assert_msg(rd_loader_create(ctx, ds, sub, o, &ld, &err) == RD_OK, "%s", err.msg);
    return ld;
}

static void next_ok(rd_loader *ld, rd_batch *b) {
    rd_err err = {0};
    ck_assert_msg(rd_loader_next(ld, b, &err) == RD_OK, "%s", err.msg);
}

START_TEST(loader_epochs_cover_the_subset) {
    rd_dataset ds;
    make_ds(&ds, 50, 1, 4, 4, 10, 9);
    rd_subset sub = {malloc(23 * sizeof(int32_t)), 23};
    for (int i = 0; i < 23; i++) sub.index[i] = 2 * i + 1;  /* odd images */
    size_t chw = 16;
    for (int sync = 0; sync < 2; sync++) {
        rd_loader_options o = rd_loader_eval_options(5, rd_norm_identity(1));
        o.shuffle = 1;
        o.seed = 11;
        o.synchronous = sync;
        rd_loader *ld = make_loader(NULL, &ds, &sub, &o);
        ck_assert_int_eq(rd_loader_batches_per_epoch(ld), 5);
        int first_order[2][23];
        for (int e = 0; e < 3; e++) {
            int seen[50] = {0}, k = 0;
            for (int bi = 0; bi < 5; bi++) {
                rd_batch b;
                next_ok(ld, &b);
                ck_assert_int_eq(b.epoch, e);
                ck_assert_int_eq(b.index, bi);
                ck_assert_int_eq(b.n, bi < 4 ? 5 : 3);
                ck_assert_int_eq(b.last, bi == 4);
                ck_assert_int_eq(b.x.n, b.n);
                for (int j = 0; j < b.n; j++) {
                    int idx = index_of(b.host_x, chw, j);
                    ck_assert(idx >= 0 && idx < 50 && idx % 2 == 1);
                    ck_assert_int_eq(b.host_labels[j], idx % 10);
                    seen[idx]++;
                    if (e < 2) first_order[e][k] = idx;
                    k++;
                }
            }
            for (int i = 0; i < 23; i++) ck_assert_int_eq(seen[2 * i + 1], 1);
        }
        ck_assert_int_ne(memcmp(first_order[0], first_order[1], sizeof first_order[0]), 0);
        rd_loader_free(ld);

        /* drop_last: 4 full batches per epoch, never a partial one */
        o.drop_last = 1;
        ld = make_loader(NULL, &ds, &sub, &o);
        ck_assert_int_eq(rd_loader_batches_per_epoch(ld), 4);
        for (int bi = 0; bi < 12; bi++) {
            rd_batch b;
            next_ok(ld, &b);
            ck_assert_int_eq(b.n, 5);
            ck_assert_int_eq(b.epoch, bi / 4);
            ck_assert_int_eq(b.last, bi % 4 == 3);
        }
        rd_loader_free(ld);

        /* evaluation: subset order, twice over */
        o = rd_loader_eval_options(4, rd_norm_identity(1));
        o.synchronous = sync;
        ld = make_loader(NULL, &ds, &sub, &o);
        ck_assert_int_eq(rd_loader_batches_per_epoch(ld), 6);
        for (int e = 0; e < 2; e++) {
            int k = 0;
            for (int bi = 0; bi < 6; bi++) {
                rd_batch b;
                next_ok(ld, &b);
                for (int j = 0; j < b.n; j++) ck_assert_int_eq(index_of(b.host_x, chw, j), sub.index[k++]);
            }
            ck_assert_int_eq(k, 23);
        }
        rd_loader_free(ld);
    }
    /* bad options */
    rd_loader *ld = NULL;
    rd_err err = {0};
    rd_loader_options o = rd_loader_eval_options(24, rd_norm_identity(1));
    o.drop_last = 1;
    fx_expect_error("no full batch", rd_loader_create(NULL, &ds, &sub, &o, &ld, &err), &err, RD_ERR_ARG, "24",
                    "drop_last");
    o = rd_loader_eval_options(4, rd_norm_identity(3));
    fx_expect_error("norm channels", rd_loader_create(NULL, &ds, &sub, &o, &ld, &err), &err, RD_ERR_ARG, "channels",
                    NULL);
    sub.index[3] = 50;
    o = rd_loader_eval_options(4, rd_norm_identity(1));
    fx_expect_error("subset out of range", rd_loader_create(NULL, &ds, &sub, &o, &ld, &err), &err, RD_ERR_ARG,
                    "image 50", NULL);
    ck_assert_ptr_null(ld);
    rd_subset_free(&sub);
    rd_dataset_free(&ds);
}
END_TEST

/* Records `count` batches (host values and labels) of a loader. */
typedef struct recording {
    float *x;
    int32_t *y;
    int *n;
    int64_t *epoch;
    size_t per;  /* floats per full batch */
    int B;
} recording;

static void record(rd_loader *ld, recording *r, int first, int count) {
    for (int k = first; k < first + count; k++) {
        rd_batch b;
        next_ok(ld, &b);
        r->n[k] = b.n;
        r->epoch[k] = b.epoch;
        memcpy(r->x + (size_t)k * r->per, b.host_x, (size_t)b.n * (r->per / r->B) * sizeof(float));
        memcpy(r->y + (size_t)k * r->B, b.host_labels, (size_t)b.n * sizeof(int32_t));
    }
}

static void recording_init(recording *r, int count, size_t per, int B) {
    r->x = calloc((size_t)count * per, sizeof(float));
    r->y = calloc((size_t)count * B, sizeof(int32_t));
    r->n = calloc((size_t)count, sizeof(int));
    r->epoch = calloc((size_t)count, sizeof(int64_t));
    r->per = per;
    r->B = B;
}

static void recording_free(recording *r) {
    free(r->x);
    free(r->y);
    free(r->n);
    free(r->epoch);
}

static void same_batches(const recording *a, const recording *b, int from, int to, const char *what) {
    for (int k = from; k < to; k++) {
        ck_assert_msg(a->n[k] == b->n[k] && a->epoch[k] == b->epoch[k], "%s: batch %d: n %d/%d epoch %lld/%lld", what,
                      k, a->n[k], b->n[k], (long long)a->epoch[k], (long long)b->epoch[k]);
        ck_assert_msg(memcmp(a->x + (size_t)k * a->per, b->x + (size_t)k * a->per, a->per * sizeof(float)) == 0,
                      "%s: batch %d: images differ", what, k);
        ck_assert_msg(memcmp(a->y + (size_t)k * a->B, b->y + (size_t)k * a->B, (size_t)a->B * sizeof(int32_t)) == 0,
                      "%s: batch %d: labels differ", what, k);
    }
}

/* Data-parallel shards (rd_loader_set_shard): k loaders of the same stream, one per rank.
 * Rows: the ranks' parts of every batch, put together in rank order, are the unsharded
 * batch, pixel for pixel (augmentation included) and a short last batch is split too (a
 * part may be empty); batches: rank i gets batch i of every k. Every loader's state after
 * each call is the unsharded loader's (after one call, or after k): rank-independent. */
START_TEST(loader_shards_partition_the_stream) {
    rd_dataset ds;
    make_ds(&ds, 50, 1, 4, 4, 10, 5);
    rd_subset sub = {malloc(23 * sizeof(int32_t)), 23};
    for (int i = 0; i < 23; i++) sub.index[i] = 2 * i;
    size_t chw = 16;
    rd_err err = {0};
    for (int sync = 0; sync < 2; sync++)
        for (int k = 2; k <= 3; k++) {
            rd_loader_options o = rd_loader_eval_options(5, rd_norm_identity(1));
            o.shuffle = 1;
            o.seed = 21;
            o.synchronous = sync;
            o.aug.crop_pad = 1;
            o.aug.hflip = 1;
            rd_loader *whole = make_loader(NULL, &ds, &sub, &o), *part[3];
            for (int r = 0; r < k; r++) {
                part[r] = make_loader(NULL, &ds, &sub, &o);
                ck_assert_int_eq(rd_loader_set_shard(part[r], RD_SHARD_ROWS, r, k, &err), RD_OK);
                ck_assert_int_eq(rd_loader_shard_count(part[r]), k);
            }
            for (int bi = 0; bi < 10; bi++) { /* two epochs, a batch of 3 at the end of each */
                rd_batch w, b;
                next_ok(whole, &w);
                int row = 0;
                for (int r = 0; r < k; r++) {
                    next_ok(part[r], &b);
                    ck_assert_int_eq(b.epoch, w.epoch);
                    ck_assert_int_eq(b.index, w.index);
                    ck_assert_int_eq(b.last, w.last);
                    for (int j = 0; j < b.n; j++, row++) {
                        ck_assert_int_eq(b.host_labels[j], w.host_labels[row]);
                        ck_assert_int_eq(memcmp(b.host_x + j * chw, w.host_x + row * chw, chw * sizeof(float)), 0);
                    }
                    rd_loader_state a = rd_loader_get_state(whole), c = rd_loader_get_state(part[r]);
                    ck_assert(a.epoch == c.epoch && a.position == c.position && a.seed == c.seed);
                }
                ck_assert_int_eq(row, w.n); /* every row of the batch went to exactly one rank */
            }
            /* whole batches: rank r takes batch r of every k; the state moves k batches */
            for (int r = 0; r < k; r++) {
                rd_loader_free(part[r]);
                part[r] = make_loader(NULL, &ds, &sub, &o);
                ck_assert_int_eq(rd_loader_set_shard(part[r], RD_SHARD_BATCHES, r, k, &err), RD_OK);
            }
            rd_loader_free(whole);
            whole = make_loader(NULL, &ds, &sub, &o);
            for (int wave = 0; wave < 4; wave++) {
                rd_batch w[3], b;
                float wx[3][5 * 16]; /* a batch's host copy lasts until the next call: keep it */
                for (int r = 0; r < k; r++) {
                    next_ok(whole, &w[r]);
                    memcpy(wx[r], w[r].host_x, (size_t)w[r].n * chw * sizeof(float));
                }
                for (int r = 0; r < k; r++) {
                    next_ok(part[r], &b);
                    ck_assert_int_eq(b.n, w[r].n);
                    ck_assert_int_eq(b.epoch, w[r].epoch);
                    ck_assert_int_eq(b.index, w[r].index);
                    ck_assert_int_eq(memcmp(b.host_x, wx[r], (size_t)b.n * chw * sizeof(float)), 0);
                    rd_loader_state a = rd_loader_get_state(whole), c = rd_loader_get_state(part[r]);
                    ck_assert(a.epoch == c.epoch && a.position == c.position);
                }
            }
            for (int r = 0; r < k; r++) rd_loader_free(part[r]);
            rd_loader_free(whole);
        }
    /* bad shards are refused, naming them */
    rd_loader_options o = rd_loader_eval_options(5, rd_norm_identity(1));
    rd_loader *ld = make_loader(NULL, &ds, &sub, &o);
    ck_assert_int_eq(rd_loader_set_shard(ld, RD_SHARD_ROWS, 2, 2, &err), RD_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "shard 2 of 2"));
    ck_assert_int_eq(rd_loader_set_shard(ld, RD_SHARD_BATCHES, 0, 0, &err), RD_ERR_ARG);
    rd_loader_free(ld);
    rd_subset_free(&sub);
    rd_dataset_free(&ds);
}
END_TEST

START_TEST(loader_threaded_equals_synchronous_and_resumes_exactly) {
    rd_dataset ds;
    make_ds(&ds, 90, 3, 8, 8, 10, 21);
    rd_subset a, b;
    rd_err err = {0};
    ck_assert_int_eq(rd_split_search(&ds, 0.5, 3, &a, &b, &err), RD_OK);
    rd_norm nm;
    ck_assert_int_eq(rd_norm_compute(&ds, &a, &nm, &err), RD_OK);
    rd_loader_options o = rd_loader_eval_options(8, nm);  /* 45 images: 5 full batches + 5 */
    o.shuffle = 1;
    o.seed = 99;
    o.aug.crop_pad = 2;
    o.aug.hflip = 1;
    o.aug.cutout = 3;
    enum { COUNT = 20 };  /* more than 3 epochs of 6 batches */
    size_t per = (size_t)8 * 3 * 8 * 8;
    recording ref, other;
    recording_init(&ref, COUNT, per, 8);
    recording_init(&other, COUNT, per, 8);
    o.synchronous = 1;
    rd_loader *ld = make_loader(NULL, &ds, &a, &o);
    record(ld, &ref, 0, COUNT);
    rd_loader_free(ld);
    /* the worker thread gives the same batches */
    o.synchronous = 0;
    ld = make_loader(NULL, &ds, &a, &o);
    record(ld, &other, 0, COUNT);
    same_batches(&ref, &other, 0, COUNT, "threaded vs synchronous");
    rd_loader_free(ld);
    /* a different seed gives different batches */
    recording seed2;
    recording_init(&seed2, 1, per, 8);
    o.seed = 100;
    ld = make_loader(NULL, &ds, &a, &o);
    record(ld, &seed2, 0, 1);
    ck_assert_int_ne(memcmp(seed2.x, ref.x, per * sizeof(float)), 0);
    rd_loader_free(ld);
    recording_free(&seed2);
    o.seed = 99;

    /* resume: save the state after k batches (mid-epoch, at an epoch boundary,
     * just before one), restore it in a fresh loader created with another seed
     * (the state's seed wins) and in the running loader: the same batches follow */
    int cuts[] = {3, 6, 11, 12, 13};
    for (size_t ci = 0; ci < sizeof cuts / sizeof *cuts; ci++) {
        int k = cuts[ci];
        for (int sync = 0; sync < 2; sync++) {
            o.synchronous = sync;
            o.seed = 99;
            ld = make_loader(NULL, &ds, &a, &o);
            record(ld, &other, 0, k);
            rd_loader_state st = rd_loader_get_state(ld);
            ck_assert_int_eq(st.seed, 99);
            record(ld, &other, k, 2);  /* move on, then rewind the same loader */
            ck_assert_int_eq(rd_loader_set_state(ld, &st, &err), RD_OK);
            record(ld, &other, k, COUNT - k);
            same_batches(&ref, &other, 0, COUNT, "rewound loader");
            rd_loader_free(ld);
            o.seed = 12345;
            ld = make_loader(NULL, &ds, &a, &o);
            record(ld, &other, 0, 1);  /* it has started with its own seed */
            ck_assert_int_eq(rd_loader_set_state(ld, &st, &err), RD_OK);
            memset(other.x, 0, (size_t)COUNT * per * sizeof(float));
            record(ld, &other, k, COUNT - k);
            same_batches(&ref, &other, k, COUNT, "restored loader");
            rd_loader_free(ld);
        }
    }
    /* an impossible state is refused */
    o.seed = 99;
    ld = make_loader(NULL, &ds, &a, &o);
    rd_loader_state bad = {99, 0, 45};
    fx_expect_error("position past the subset", rd_loader_set_state(ld, &bad, &err), &err, RD_ERR_ARG, "position 45",
                    NULL);
    bad.position = -1;
    fx_expect_error("negative position", rd_loader_set_state(ld, &bad, &err), &err, RD_ERR_ARG, "position", NULL);
    rd_loader_free(ld);
    recording_free(&ref);
    recording_free(&other);
    rd_subset_free(&a);
    rd_subset_free(&b);
    rd_dataset_free(&ds);
}
END_TEST

static void read_labels(cl_mem m, int n, int32_t *out) {
    cl_int rc = clEnqueueReadBuffer(rd_ctx_queue(tu_ctx()), m, CL_TRUE, 0, (size_t)n * sizeof(int32_t), out, 0, NULL,
                                    NULL);
    ck_assert_int_eq(rc, CL_SUCCESS);
}

START_TEST(loader_uploads_batches_to_the_device) {
    rd_ctx *ctx = tu_ctx();
    rd_dataset ds;
    make_ds(&ds, 30, 3, 8, 8, 10, 5);
    rd_subset all;
    rd_err err = {0};
    ck_assert_int_eq(rd_subset_all(&ds, &all, &err), RD_OK);
    rd_norm nm;
    ck_assert_int_eq(rd_norm_compute(&ds, &all, &nm, &err), RD_OK);
    rd_loader_options o = rd_loader_eval_options(4, nm);  /* 30 = 7 x 4 + 2 */
    o.shuffle = 1;
    o.seed = 4;
    o.aug.crop_pad = 2;
    o.aug.hflip = 1;
    rd_mem_stats m0 = rd_mem_get_stats(ctx);
    rd_loader *ld = make_loader(ctx, &ds, &all, &o);
    rd_mem_stats m1 = rd_mem_get_stats(ctx);
    size_t chw = 3 * 8 * 8;
    ck_assert_uint_eq(m1.live_buffers, m0.live_buffers + 4);
    ck_assert_uint_eq(m1.current, m0.current + 2 * (4 * chw * sizeof(float) + 4 * sizeof(int32_t)));
    float *dev = malloc(4 * chw * sizeof(float)), *prev = malloc(4 * chw * sizeof(float));
    int32_t lab[4], prev_lab[4];
    rd_batch prev_b = {0};
    for (int k = 0; k < 20; k++) {
        rd_batch b;
        next_ok(ld, &b);
        ck_assert_ptr_nonnull(b.x.mem);
        ck_assert(b.x.c == 3 && b.x.h == 8 && b.x.w == 8 && b.x.n == b.n);
        ck_assert_int_eq(b.n, k % 8 == 7 ? 2 : 4);
        /* the device batch equals the host batch, bit for bit */
        TU_OK(rd_tensor_read(ctx, &b.x, dev));
        ck_assert_int_eq(memcmp(dev, b.host_x, (size_t)b.n * chw * sizeof(float)), 0);
        read_labels(b.labels, b.n, lab);
        ck_assert_int_eq(memcmp(lab, b.host_labels, (size_t)b.n * sizeof(int32_t)), 0);
        /* the previous batch is still intact on the device (two slots) */
        if (k > 0) {
            ck_assert_ptr_ne(prev_b.x.mem, b.x.mem);
            TU_OK(rd_tensor_read(ctx, &prev_b.x, dev));
            ck_assert_int_eq(memcmp(dev, prev, (size_t)prev_b.n * chw * sizeof(float)), 0);
            read_labels(prev_b.labels, prev_b.n, lab);
            ck_assert_int_eq(memcmp(lab, prev_lab, (size_t)prev_b.n * sizeof(int32_t)), 0);
        }
        memcpy(prev, b.host_x, (size_t)b.n * chw * sizeof(float));
        memcpy(prev_lab, b.host_labels, (size_t)b.n * sizeof(int32_t));
        prev_b = b;
    }
    /* nothing allocated per batch */
    rd_mem_stats m2 = rd_mem_get_stats(ctx);
    ck_assert_uint_eq(m2.total_allocs, m1.total_allocs);
    ck_assert_uint_eq(m2.current, m1.current);
    rd_loader_free(ld);
    rd_mem_stats m3 = rd_mem_get_stats(ctx);
    ck_assert_uint_eq(m3.current, m0.current);
    ck_assert_uint_eq(m3.live_buffers, m0.live_buffers);
    /* a cap too small for the slots: refused with the allocator's message */
    TU_OK(rd_mem_set_cap(ctx, m0.current + 100));
    ck_assert_int_eq(rd_loader_create(ctx, &ds, &all, &o, &ld, &err), RD_ERR_OVER_CAP);
    ck_assert_ptr_nonnull(strstr(err.msg, "loader x 0"));
    ck_assert_uint_eq(rd_mem_get_stats(ctx).current, m0.current);
    TU_OK(rd_mem_set_cap(ctx, 0));
    free(dev);
    free(prev);
    rd_subset_free(&all);
    rd_dataset_free(&ds);
}
END_TEST

/* Host time per batch of 64 28x28 images (Fashion-MNIST's shape), and per
 * rd_loader_next with the worker thread and the device upload. */
START_TEST(loader_batch_timing) {
    rd_dataset ds;
    make_ds(&ds, 10000, 1, 28, 28, 10, 77);
    rd_subset all;
    rd_err err = {0};
    ck_assert_int_eq(rd_subset_all(&ds, &all, &err), RD_OK);
    rd_norm nm;
    ck_assert_int_eq(rd_norm_compute(&ds, &all, &nm, &err), RD_OK);
    enum { BATCHES = 1000 };
    const char *names[2] = {"normalise only", "crop pad 2 + flip + cutout 8"};
    double per_batch[2];
    for (int v = 0; v < 2; v++) {
        rd_loader_options o = rd_loader_eval_options(64, nm);
        o.shuffle = 1;
        o.synchronous = 1;
        if (v) {
            o.aug.crop_pad = 2;
            o.aug.hflip = 1;
            o.aug.cutout = 8;
        }
        rd_loader *ld = make_loader(NULL, &ds, &all, &o);
        double t0 = fx_now();
        for (int k = 0; k < BATCHES; k++) {
            rd_batch b;
            next_ok(ld, &b);
        }
        per_batch[v] = (fx_now() - t0) / BATCHES;
        printf("host batch preparation, B=64 1x28x28, %s: %.1f us per batch\n", names[v], per_batch[v] * 1e6);
        rd_loader_free(ld);
    }
    /* a loose bound that still catches a per-batch cost growing with the data set
     * (sanitizer builds run ~10-150x slower); the figure itself is printed above */
    ck_assert_double_lt(per_batch[1], 50e-3);
    /* with the worker and the upload to the device, waiting for each batch on the device */
    rd_ctx *ctx = tu_ctx();
    rd_loader_options o = rd_loader_eval_options(64, nm);
    o.shuffle = 1;
    o.aug.crop_pad = 2;
    o.aug.hflip = 1;
    rd_loader *ld = make_loader(ctx, &ds, &all, &o);
    double t0 = fx_now();
    for (int k = 0; k < 300; k++) {
        rd_batch b;
        next_ok(ld, &b);
        TU_OK(rd_finish(ctx));
    }
    printf("rd_loader_next + upload + clFinish (threaded, %s): %.1f us per batch\n", rd_ctx_device(ctx)->name,
           (fx_now() - t0) / 300 * 1e6);
    rd_loader_free(ld);
    rd_subset_free(&all);
    rd_dataset_free(&ds);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("data_loader");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, split_sizes_disjoint_deterministic);
    tcase_add_test(tc, normalised_subset_has_mean_0_std_1);
    tcase_add_test(tc, crop_flip_cutout_on_a_tiny_image);
    tcase_add_test(tc, augmentation_draws_in_range_and_deterministic);
    tcase_add_test(tc, loader_epochs_cover_the_subset);
    tcase_add_test(tc, loader_shards_partition_the_stream);
    tcase_add_test(tc, loader_threaded_equals_synchronous_and_resumes_exactly);
    tcase_add_test(tc, loader_uploads_batches_to_the_device);
    tcase_add_test(tc, loader_batch_timing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
