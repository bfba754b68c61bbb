/* Batch streaming: a seeded order per epoch, batches prepared on the host
 * (normalise + augment) by a worker thread while the device works, uploaded
 * with non-blocking writes into two device slots allocated once.
 *
 * Ownership, so that nothing races:
 *  - slot s's host buffers and upload events belong to whoever prepares the
 *    batch for s (the worker, or the caller when synchronous) from the moment
 *    the job is posted until the caller has taken the result; the preparer
 *    first waits for the slot's previous upload (its events), since a
 *    non-blocking write may read the host buffer until it completes;
 *  - the caller owns the other slot, enqueues its upload and posts the next
 *    job only after taking the previous one; exactly one job is in flight;
 *  - the epoch order (permutation) is only touched by the preparer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "runtime/runtime.h"

typedef struct slot {
    float *hx;            /* B x c x h x w */
    int32_t *hy;          /* B */
    rd_buffer *dx, *dy;   /* device copies (NULL for a host-only loader) */
    cl_event ev[2];       /* uploads from hx / hy in flight; NULL when none */
    int n;                /* what the host buffers hold */
    int rows;             /* rows of the whole batch they were taken from */
    uint64_t seed;
    int64_t epoch, pos;   /* where that batch starts */
    rd_loader_state job;  /* the (unsharded) state the batch was prepared for */
} slot;

struct rd_loader {
    rd_ctx *ctx;
    const rd_dataset *ds;
    int32_t *subset;
    int n;
    rd_loader_options opt;
    rd_norm_lut lut;
    size_t chw;
    int64_t per_epoch;
    rd_loader_state st;   /* the next batch returned starts here */
    slot slots[2];
    int cur;              /* the slot of the next batch */
    rd_shard_mode shard_mode;
    int shard_index, shard_count;
    /* the order of one epoch (preparer only) */
    int32_t *order;
    uint64_t order_seed;
    int64_t order_epoch;
    /* the worker */
    int threaded, thread_started, job_inflight;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int job_posted, job_done, quit;
    int job_slot;
    rd_loader_state job;
    rd_status job_status;
    rd_err job_err;
};

static int epoch_ends_after(const rd_loader *ld, int64_t next_pos) {
    return next_pos >= ld->n || (ld->opt.drop_last && next_pos + ld->opt.batch > ld->n);
}

/* The state after the batch at st (one unsharded batch on). */
static rd_loader_state advance(const rd_loader *ld, rd_loader_state st) {
    int64_t next = st.position + (ld->n - st.position < ld->opt.batch ? ld->n - st.position : ld->opt.batch);
    if (epoch_ends_after(ld, next)) {
        st.epoch++;
        st.position = 0;
    } else {
        st.position = next;
    }
    return st;
}

/* Fills slot s with this rank's part of the stream at state job (preparer side). */
static rd_status prepare(rd_loader *ld, int s, const rd_loader_state *job, rd_err *err) {
    rd_loader_state at = *job;
    if (ld->shard_mode == RD_SHARD_BATCHES)
        for (int i = 0; i < ld->shard_index; i++) at = advance(ld, at);
    const rd_loader_state *st = &at;
    slot *sl = &ld->slots[s];
    int nev = (sl->ev[0] != NULL) + (sl->ev[1] != NULL);
    if (nev) {
        cl_int rc = clWaitForEvents(nev, sl->ev[0] ? sl->ev : sl->ev + 1);
        for (int i = 0; i < 2; i++)
            if (sl->ev[i]) clReleaseEvent(sl->ev[i]);
        sl->ev[0] = sl->ev[1] = NULL;
        if (rc != CL_SUCCESS)
            return rd_fail(err, RD_ERR_CL, "loader: upload of a batch failed: %s (%d)", rd_cl_error_name(rc), rc);
    }
    const int32_t *order = ld->subset;
    if (ld->opt.shuffle) {
        if (ld->order_epoch != st->epoch || ld->order_seed != st->seed) {
            memcpy(ld->order, ld->subset, (size_t)ld->n * sizeof *ld->order);
            rd_shuffle_i32(ld->order, ld->n, rd_mix64(rd_mix64(st->seed ^ rd_mix64(RD_TAG_PERM)) + (uint64_t)st->epoch));
            ld->order_epoch = st->epoch;
            ld->order_seed = st->seed;
        }
        order = ld->order;
    }
    int64_t left = ld->n - st->position;
    int count = left < ld->opt.batch ? (int)left : ld->opt.batch, lo = 0, hi = count;
    if (ld->shard_mode == RD_SHARD_ROWS) {
        lo = (int)((int64_t)count * ld->shard_index / ld->shard_count);
        hi = (int)((int64_t)count * (ld->shard_index + 1) / ld->shard_count);
    }
    const rd_dataset *ds = ld->ds;
    for (int j = lo; j < hi; j++) {
        int64_t pos = st->position + j;
        int idx = order[pos];
        rd_aug_draw d;
        rd_augment_draw(&ld->opt.aug, ds->h, ds->w, rd_sample_key(st->seed, st->epoch, pos), &d);
        rd_render_lut(ds, idx, &ld->lut, &ld->opt.aug, &d, sl->hx + (size_t)(j - lo) * ld->chw);
        sl->hy[j - lo] = ds->labels[idx];
    }
    sl->n = hi - lo;
    sl->rows = count;
    sl->job = *job;
    sl->seed = st->seed;
    sl->epoch = st->epoch;
    sl->pos = st->position;
    return RD_OK;
}

static void *worker_main(void *arg) {
    rd_loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->job_posted && !ld->quit) pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->quit) break;
        ld->job_posted = 0;
        int s = ld->job_slot;
        rd_loader_state st = ld->job;
        pthread_mutex_unlock(&ld->mu);
        rd_err e = {0};
        rd_status status = prepare(ld, s, &st, &e);
        pthread_mutex_lock(&ld->mu);
        ld->job_status = status;
        ld->job_err = e;
        ld->job_done = 1;
        pthread_cond_broadcast(&ld->cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* Starts preparing the batch at ld->st into slot ld->cur. */
static void post_job(rd_loader *ld) {
    if (!ld->threaded) return;
    pthread_mutex_lock(&ld->mu);
    ld->job_slot = ld->cur;
    ld->job = ld->st;
    ld->job_posted = 1;
    ld->job_done = 0;
    ld->job_inflight = 1;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
}

/* Waits for the job in flight (if any) and takes its result. */
static rd_status take_job(rd_loader *ld, rd_err *err) {
    if (!ld->threaded || !ld->job_inflight) return RD_OK;
    pthread_mutex_lock(&ld->mu);
    while (!ld->job_done) pthread_cond_wait(&ld->cv, &ld->mu);
    ld->job_done = 0;
    ld->job_inflight = 0;
    rd_status s = ld->job_status;
    if (s != RD_OK && err) *err = ld->job_err;
    pthread_mutex_unlock(&ld->mu);
    return s;
}

rd_loader_options rd_loader_eval_options(int batch, rd_norm norm) {
    rd_loader_options o;
    memset(&o, 0, sizeof o);
    o.batch = batch;
    o.norm = norm;
    return o;
}

int64_t rd_loader_batches_per_epoch(const rd_loader *ld) { return ld->per_epoch; }

uint64_t rd_loader_device_bytes(int batch, int c, int h, int w) {
    /* what rd_loader_create allocates: per slot, the images and the labels */
    uint64_t per_slot = (uint64_t)batch * c * h * w * sizeof(float) + (uint64_t)batch * sizeof(int32_t);
    return (uint64_t)(sizeof ((rd_loader *)0)->slots / sizeof ((rd_loader *)0)->slots[0]) * per_slot;
}

rd_loader_state rd_loader_get_state(const rd_loader *ld) { return ld->st; }

static rd_status check_state(const rd_loader *ld, const rd_loader_state *st, rd_err *err) {
    if (st->epoch < 0 || st->position < 0 || st->position >= ld->n ||
        (ld->opt.drop_last && st->position + ld->opt.batch > ld->n))
        return rd_fail(err, RD_ERR_ARG,
                       "loader: state epoch %lld position %lld is outside a subset of %d images with batch %d%s",
                       (long long)st->epoch, (long long)st->position, ld->n, ld->opt.batch,
                       ld->opt.drop_last ? " (drop_last)" : "");
    return RD_OK;
}

void rd_loader_free(rd_loader *ld) {
    if (!ld) return;
    if (ld->thread_started) {
        take_job(ld, NULL);
        pthread_mutex_lock(&ld->mu);
        ld->quit = 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
    }
    if (ld->threaded) {
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv);
    }
    for (int s = 0; s < 2; s++) {
        slot *sl = &ld->slots[s];
        for (int i = 0; i < 2; i++)
            if (sl->ev[i]) {
                clWaitForEvents(1, &sl->ev[i]);
                clReleaseEvent(sl->ev[i]);
            }
        if (ld->ctx) {
            rd_free(ld->ctx, sl->dx);
            rd_free(ld->ctx, sl->dy);
        }
        free(sl->hx);
        free(sl->hy);
    }
    free(ld->order);
    free(ld->subset);
    free(ld);
}

rd_status rd_loader_create(rd_ctx *ctx, const rd_dataset *ds, const rd_subset *subset, const rd_loader_options *opt,
                           rd_loader **out, rd_err *err) {
    *out = NULL;
    if (!ds || !ds->images || ds->n < 1 || ds->c < 1 || ds->c > RD_DATA_MAX_CHANNELS)
        return rd_fail(err, RD_ERR_ARG, "loader: empty data set or %d channels (1 to %d supported)", ds ? ds->c : 0,
                       RD_DATA_MAX_CHANNELS);
    if (!subset || subset->n < 1) return rd_fail(err, RD_ERR_ARG, "loader: empty subset");
    for (int i = 0; i < subset->n; i++)
        if (subset->index[i] < 0 || subset->index[i] >= ds->n)
            return rd_fail(err, RD_ERR_ARG, "loader: subset entry %d is image %d of a data set of %d", i,
                           subset->index[i], ds->n);
    if (opt->batch < 1) return rd_fail(err, RD_ERR_ARG, "loader: batch size %d", opt->batch);
    if (opt->drop_last && subset->n < opt->batch)
        return rd_fail(err, RD_ERR_ARG, "loader: a subset of %d images holds no full batch of %d (drop_last)",
                       subset->n, opt->batch);
    if (opt->norm.c != ds->c)
        return rd_fail(err, RD_ERR_ARG, "loader: normalisation for %d channels, data set has %d", opt->norm.c, ds->c);
    for (int c = 0; c < ds->c; c++)
        if (!(opt->norm.std[c] > 0) || !(opt->norm.mean[c] == opt->norm.mean[c]))
            return rd_fail(err, RD_ERR_ARG, "loader: normalisation of channel %d: mean %g std %g", c,
                           (double)opt->norm.mean[c], (double)opt->norm.std[c]);
    if (opt->aug.crop_pad < 0 || opt->aug.crop_pad > 1024 || opt->aug.cutout < 0)
        return rd_fail(err, RD_ERR_ARG, "loader: augmentation crop_pad %d / cutout %d", opt->aug.crop_pad,
                       opt->aug.cutout);
    size_t chw = rd_dataset_image_size(ds), floats;
    if (!rd_mul_ok(chw, (size_t)opt->batch, SIZE_MAX / 8, &floats))
        return rd_fail(err, RD_ERR_ARG, "loader: batch %d of %zu values: too large", opt->batch, chw);

    rd_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "loader: out of host memory");
    ld->ctx = ctx;
    ld->ds = ds;
    ld->n = subset->n;
    ld->opt = *opt;
    ld->chw = chw;
    ld->per_epoch = opt->drop_last ? subset->n / opt->batch : (subset->n + opt->batch - 1) / opt->batch;
    ld->st.seed = opt->seed;
    ld->order_epoch = -1;
    ld->shard_mode = RD_SHARD_ROWS;
    ld->shard_count = 1;
    rd_norm_lut_make(&opt->norm, &ld->lut);
    ld->subset = malloc((size_t)subset->n * sizeof *ld->subset);
    ld->order = opt->shuffle ? malloc((size_t)subset->n * sizeof *ld->order) : NULL;
    if (!ld->subset || (opt->shuffle && !ld->order)) {
        rd_loader_free(ld);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "loader: out of host memory for a subset of %d", subset->n);
    }
    memcpy(ld->subset, subset->index, (size_t)subset->n * sizeof *ld->subset);
    for (int s = 0; s < 2; s++) {
        slot *sl = &ld->slots[s];
        sl->hx = malloc(floats * sizeof(float));
        sl->hy = malloc((size_t)opt->batch * sizeof(int32_t));
        if (!sl->hx || !sl->hy) {
            rd_loader_free(ld);
            return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "loader: out of host memory for a batch of %zu floats", floats);
        }
        if (ctx) {
            char name[32];
            snprintf(name, sizeof name, "loader x %d", s);
            rd_status st = rd_alloc(ctx, floats * sizeof(float), name, &sl->dx);
            if (st == RD_OK) {
                snprintf(name, sizeof name, "loader labels %d", s);
                st = rd_alloc(ctx, (size_t)opt->batch * sizeof(int32_t), name, &sl->dy);
            }
            if (st != RD_OK) {
                if (err != rd_ctx_err(ctx)) *err = *rd_ctx_err(ctx); /* the two may be one (the search's) */
                rd_err_prefix(err, "loader");
                rd_loader_free(ld);
                return st;
            }
        }
    }
    ld->threaded = !opt->synchronous;
    if (ld->threaded) {
        pthread_mutex_init(&ld->mu, NULL);
        pthread_cond_init(&ld->cv, NULL);
        if (pthread_create(&ld->thread, NULL, worker_main, ld) != 0) {
            rd_loader_free(ld);
            return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "loader: cannot start the worker thread");
        }
        ld->thread_started = 1;
    }
    post_job(ld);
    *out = ld;
    return RD_OK;
}

rd_status rd_loader_set_state(rd_loader *ld, const rd_loader_state *st, rd_err *err) {
    RD_TRY(check_state(ld, st, err));
    take_job(ld, NULL);  /* a batch prepared for the old state is discarded */
    ld->st = *st;
    post_job(ld);
    return RD_OK;
}

rd_status rd_loader_set_shard(rd_loader *ld, rd_shard_mode mode, int index, int count, rd_err *err) {
    if (count < 1 || index < 0 || index >= count || (mode != RD_SHARD_ROWS && mode != RD_SHARD_BATCHES))
        return rd_fail(err, RD_ERR_ARG, "loader: shard %d of %d", index, count);
    if (mode == ld->shard_mode && index == ld->shard_index && count == ld->shard_count) return RD_OK;
    take_job(ld, NULL); /* a batch prepared for the old sharding is discarded */
    ld->shard_mode = mode;
    ld->shard_index = index;
    ld->shard_count = count;
    post_job(ld);
    return RD_OK;
}

int rd_loader_shard_count(const rd_loader *ld) { return ld->shard_count; }

rd_status rd_loader_next(rd_loader *ld, rd_batch *out, rd_err *err) {
    memset(out, 0, sizeof *out);
    int s = ld->cur;
    slot *sl = &ld->slots[s];
    rd_status status = ld->threaded ? take_job(ld, err) : prepare(ld, s, &ld->st, err);
    if (status != RD_OK) {
        post_job(ld);  /* try again on the next call */
        return status;
    }
    if (sl->job.seed != ld->st.seed || sl->job.epoch != ld->st.epoch || sl->job.position != ld->st.position)
        return rd_fail(err, RD_ERR_ARG, "loader: internal error: prepared batch does not match the state");
    const rd_dataset *ds = ld->ds;
    if (ld->ctx && sl->n > 0) {
        cl_command_queue q = rd_ctx_queue(ld->ctx);
        cl_int rc = clEnqueueWriteBuffer(q, rd_buffer_mem(sl->dx), CL_FALSE, 0, (size_t)sl->n * ld->chw * sizeof(float),
                                         sl->hx, 0, NULL, &sl->ev[0]);
        if (rc == CL_SUCCESS)
            rc = clEnqueueWriteBuffer(q, rd_buffer_mem(sl->dy), CL_FALSE, 0, (size_t)sl->n * sizeof(int32_t), sl->hy, 0,
                                      NULL, &sl->ev[1]);
        if (rc == CL_SUCCESS) rc = clFlush(q);
        if (rc != CL_SUCCESS) {
            post_job(ld);
            return rd_fail(err, RD_ERR_CL, "loader: uploading a batch of %d images: %s (%d)", sl->n,
                           rd_cl_error_name(rc), rc);
        }
        out->x = rd_tensor_make(rd_buffer_mem(sl->dx), 0, sl->n, ds->c, ds->h, ds->w);
        out->labels = rd_buffer_mem(sl->dy);
    } else {
        out->x = rd_tensor_make(ld->ctx ? rd_buffer_mem(sl->dx) : NULL, 0, sl->n, ds->c, ds->h, ds->w);
        out->labels = ld->ctx ? rd_buffer_mem(sl->dy) : NULL;
    }
    out->n = sl->n;
    out->epoch = sl->epoch;
    out->index = sl->pos / ld->opt.batch;
    out->host_x = sl->hx;
    out->host_labels = sl->hy;
    out->last = epoch_ends_after(ld, sl->pos + sl->rows);
    int steps = ld->shard_mode == RD_SHARD_BATCHES ? ld->shard_count : 1;
    for (int i = 0; i < steps; i++) ld->st = advance(ld, ld->st);
    ld->cur = 1 - s;
    post_job(ld);
    return RD_OK;
}
