/* Training a genotype's network from scratch, as DARTS' train.py does:
 *
 *   for epoch e in 0..epochs-1:
 *       lr = cosine(lr, lr_min, e, epochs); drop_path = drop_path_max * e / epochs
 *       for each training batch: loss = CE(logits) [+ w_aux CE(aux logits)]
 *           backward; clip the gradient norm; SGD with momentum and weight decay
 *       validation accuracy (running statistics)
 *   test accuracy
 *
 * with checkpoints that a resumed run continues bit for bit (weights, momentum,
 * loader position, drop-path counter), metrics per epoch, a report and plots. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train_internal.h"

typedef struct trainer {
    rd_ctx *ctx;
    const rd_train_config *cfg;
    const rd_train_options *opt;
    rd_err *err;
    rd_dataset train, test;
    rd_subset tsub, vsub;
    int valid_on_test;
    rd_norm norm;
    rd_loader *tl, *vl, *testl;
    rd_network_config ncfg;
    rd_network *net;
    rd_buffer *opt_buf;
    rd_vec momentum, clip_scale, grad_norm;
    rd_train_state st;
    rd_metrics *metrics;
    char *config_text;
    char ckpt[4200];
    char geno_text[2048];
    double t0;
    int resume;              /* continuing from a checkpoint (a run stopped before its first starts over) */
    int interrupted;
    rd_comm *comm;           /* the job (radars/comm.h): the ranks share every batch */
    int rank, ranks, writer; /* rank 0 alone writes the run directory */
} trainer;

#define say(t, ...) rd_observer_say(&(t)->opt->observer, __VA_ARGS__)


static double seconds_so_far(trainer *t) { return t->st.seconds + (train_now() - t->t0); }

static rd_status write_text(trainer *t, const char *name, const char *text) {
    if (!t->writer) return RD_OK;
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, t->opt->run_dir, name, t->err));
    return rd_write_file_atomic(path, text, strlen(text), t->err);
}

/* ---- set-up ---- */
static rd_status setup_data(trainer *t) {
    const rd_train_config *c = t->cfg;
    rd_data_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.resize_h = dopt.resize_w = c->image_size;
    dopt.classes = c->classes;
    RD_TRY(rd_dataset_open(c->dataset, "train", &dopt, &t->train, t->err));
    if (c->train_limit > 0 && c->train_limit < t->train.n) t->train.n = c->train_limit;
    RD_TRY(train_open_test(c, 0, &t->test, t->err));
    RD_TRY(rd_dataset_check_compatible(&t->train, &t->test, t->err));
    t->valid_on_test = c->valid_portion <= 0;
    if (t->valid_on_test) {
        RD_TRY(rd_subset_all(&t->train, &t->tsub, t->err));
    } else {
        if (t->train.n < 2)
            return rd_fail(t->err, RD_ERR_CONFIG, "data: %d training images cannot be split for validation", t->train.n);
        RD_TRY(rd_split_search(&t->train, 1.0 - c->valid_portion, (uint64_t)c->seed, &t->tsub, &t->vsub, t->err));
    }
    if (c->batch % t->ranks)
        return rd_fail(t->err, RD_ERR_CONFIG, "data.batch = %d is not a multiple of the %d ranks (each takes an equal share)",
                       c->batch, t->ranks);
    if (t->tsub.n < c->batch)
        return rd_fail(t->err, RD_ERR_CONFIG, "data: %d training images (after the validation share), fewer than one batch of %d",
                       t->tsub.n, c->batch);
    RD_TRY(rd_norm_compute(&t->train, &t->tsub, &t->norm, t->err));
    rd_loader_options lo;
    memset(&lo, 0, sizeof lo);
    lo.batch = c->batch;
    lo.shuffle = 1;
    lo.drop_last = 1;
    lo.seed = (uint64_t)c->seed * 2 + 1;
    lo.norm = t->norm;
    lo.aug.crop_pad = c->crop_padding;
    lo.aug.hflip = c->flip;
    lo.aug.cutout = c->cutout;
    RD_TRY(rd_loader_create(t->ctx, &t->train, &t->tsub, &lo, &t->tl, t->err));
    rd_loader_options eo = rd_loader_eval_options(c->batch, t->norm);
    rd_subset all;
    RD_TRY(rd_subset_all(&t->test, &all, t->err));
    rd_status s = rd_loader_create(t->ctx, &t->test, &all, &eo, &t->testl, t->err);
    rd_subset_free(&all);
    RD_TRY(s);
    if (!t->valid_on_test) RD_TRY(rd_loader_create(t->ctx, &t->train, &t->vsub, &eo, &t->vl, t->err));
    else t->vl = t->testl;
    /* each rank its rows of every batch */
    rd_loader *all_loaders[3] = {t->tl, t->testl, t->vl};
    for (int i = 0; i < 3; i++) RD_TRY(rd_loader_set_shard(all_loaders[i], RD_SHARD_ROWS, t->rank, t->ranks, t->err));
    return RD_OK;
}

static rd_status setup_network(trainer *t) {
    const rd_train_config *c = t->cfg;
    rd_network_config *n = &t->ncfg;
    rd_network_config_default(n);
    n->C = c->C;
    n->layers = c->layers;
    n->in_channels = t->train.c;
    n->in_h = t->train.h;
    n->in_w = t->train.w;
    n->classes = t->train.classes;
    n->batch = c->batch / t->ranks;
    n->auxiliary = c->auxiliary;
    n->auxiliary_weight = (float)c->auxiliary_weight;
    if (rd_genotype_parse(t->geno_text, &n->genotype, t->err) != RD_OK) return rd_err_prefix(t->err, "genotype");
    if (rd_network_config_check(n, t->err) != RD_OK) return rd_err_prefix(t->err, "network");
    RD_TRY(rd_network_create(t->ctx, n, (uint64_t)c->seed, &t->net));
    size_t nw = rd_network_weights(t->net).len;
    RD_TRY(rd_alloc(t->ctx, (nw + 2) * sizeof(float), "SGD momentum", &t->opt_buf));
    rd_vec all = rd_vec_make(rd_buffer_mem(t->opt_buf), 0, nw + 2);
    RD_TRY(rd_vec_fill(t->ctx, &all, 0.0f));
    t->momentum = rd_vec_slice(all, 0, nw);
    t->clip_scale = rd_vec_slice(all, nw, 1);
    t->grad_norm = rd_vec_slice(all, nw + 1, 1);
    return RD_OK;
}

/* The config as saved: a genotype given as text is too long for one INI line,
 * so the saved config names the run directory's genotype.txt instead. */
static rd_status make_config_text(trainer *t) {
    rd_train_config copy = *t->cfg;
    const char *g = copy.genotype;
    while (*g == ' ' || *g == '\t') g++;
    if (!strncmp(g, "Genotype", 8) || *g == '{' || strlen(copy.genotype) > 150) {
        char path[4200];
        RD_TRY(rd_path_join(path, sizeof path, t->opt->run_dir, "genotype.txt", t->err));
        if (strlen(path) >= sizeof copy.genotype)
            return rd_fail(t->err, RD_ERR_CONFIG, "run directory path too long: %s", t->opt->run_dir);
        snprintf(copy.genotype, sizeof copy.genotype, "%s", path);
    }
    return rd_config_text(&rd_train_schema, &copy, &t->config_text, t->err);
}

static rd_status checkpoint(trainer *t) {
    t->st.loader = rd_loader_get_state(t->tl);
    t->st.drop_path_counter = rd_network_drop_path_counter(t->net);
    t->st.metrics_bytes = rd_metrics_bytes(t->metrics);
    double saved = t->st.seconds;
    t->st.seconds = seconds_so_far(t);
    rd_status s = t->writer ? rd_train_checkpoint_save(t->ckpt, t->net, &t->momentum, &t->st, &t->norm,
                                                       t->config_text, t->geno_text, t->err)
                            : RD_OK;
    t->st.seconds = saved;
    return s;
}

/* This rank's weights and running statistics against rank 0's. */
static rd_status check_params(trainer *t, const char *what) {
    rd_vec v[2] = {rd_network_weights(t->net), rd_network_bn_state(t->net)};
    return rd_comm_check_vecs(t->comm, t->ctx, v, 2, what);
}

/* --check-sync K: every K steps, every rank's parameters against rank 0's. */
static rd_status check_sync(trainer *t) {
    int every = t->opt->sync_check_every;
    if (every <= 0 || t->ranks == 1 || t->st.global_step % every) return RD_OK;
    char what[96];
    snprintf(what, sizeof what, "parameters after step %lld", (long long)t->st.global_step);
    return check_params(t, what);
}

static rd_status stop_here(trainer *t) {
    RD_TRY(checkpoint(t));
    t->interrupted = 1;
    say(t, "stopped after step %lld; checkpoint %s (continue with: radars train --resume %s)",
        (long long)t->st.global_step, t->ckpt, t->opt->run_dir);
    return RD_OK;
}

static rd_status append(trainer *t, rd_record *r) {
    if (!t->writer) {
        rd_record_free(r);
        return RD_OK;
    }
    return rd_metrics_append_free(t->metrics, r, t->err);
}

/* One step: forward, backward, clip, SGD. */
static rd_status step(trainer *t, const rd_batch *b, float lr, float *loss, float *aux_loss, int *correct) {
    const rd_train_config *c = t->cfg;
    RD_TRY(rd_network_zero_grads(t->net));
    RD_TRY(rd_network_forward(t->net, &b->x, b->labels, 1));
    RD_TRY(rd_network_backward(t->net));
    rd_vec w = rd_network_weights(t->net), g = rd_network_weight_grads(t->net);
    if (t->ranks > 1) { /* the mean over the ranks' shards of the batch; running statistics averaged too */
        rd_vec v[2] = {g, rd_network_bn_state(t->net)};
        float scale[2] = {1.0f / t->ranks, 1.0f / t->ranks};
        RD_TRY(rd_comm_allreduce_vecs(t->comm, t->ctx, v, scale, 2));
    }
    rd_vec *scale = NULL;
    if (c->grad_clip > 0) {
        RD_TRY(rd_clip_grad_norm(t->ctx, &g, (float)c->grad_clip, &t->clip_scale, &t->grad_norm));
        scale = &t->clip_scale;
    }
    rd_sgd_params p = {(float)c->momentum, (float)c->weight_decay};
    RD_TRY(rd_sgd_step(t->ctx, &p, lr, &w, &g, &t->momentum, scale));
    t->st.drop_path_counter = rd_network_drop_path_counter(t->net);
    RD_TRY(rd_network_read_loss(t->net, loss, aux_loss, correct));
    if (t->ranks > 1) { /* the whole batch's */
        double v[3] = {(double)*loss * b->n, (double)*aux_loss * b->n, (double)*correct};
        RD_TRY(rd_comm_sum_doubles(t->comm, v, 3, t->err));
        int n = b->n * t->ranks; /* equal shards: batch is a multiple of the ranks */
        *loss = (float)(v[0] / n);
        *aux_loss = (float)(v[1] / n);
        *correct = (int)v[2];
    }
    return RD_OK;
}

/* Between two units of work (t->st names the next): stop here, with a
 * checkpoint, on an interrupt or the test's step budget; else checkpoint when asked. */
static rd_status boundary(trainer *t, int checkpoint_now) {
    int stop;
    RD_TRY(check_sync(t));
    RD_TRY(rd_run_should_stop_all(t->comm, t->opt->interrupt, t->opt->stop_after_steps, t->st.global_step, &stop, t->err));
    if (stop) return stop_here(t);
    return checkpoint_now ? checkpoint(t) : RD_OK;
}

/* One training batch: the step, its sums into the epoch's running totals. */
static rd_status train_batch(trainer *t, float lr, float *loss) {
    rd_batch b;
    RD_TRY(rd_loader_next(t->tl, &b, t->err));
    float aux_loss = 0;
    int correct;
    RD_TRY(step(t, &b, lr, loss, &aux_loss, &correct));
    if (!isfinite(*loss))
        return rd_fail(t->err, RD_ERR_NUMERIC, "epoch %d step %lld: the loss is not finite (lr %g)", t->st.epoch + 1,
                       (long long)t->st.step + 1, lr);
    int n = b.n * t->ranks; /* the loss and count are the whole batch's */
    t->st.loss_sum += (double)*loss * n;
    t->st.aux_loss_sum += (double)aux_loss * n;
    t->st.correct += correct;
    t->st.seen += n;
    return RD_OK;
}

static rd_status record_epoch(trainer *t, float lr, float drop, int64_t steps_here, double seconds) {
    const rd_train_config *c = t->cfg;
    train_eval_pass v;
    memset(&v, 0, sizeof v);
    RD_TRY(train_eval_run(t->net, t->vl, c->eval_batches, &v, t->err));
    double vloss = v.n ? v.loss_sum / v.n : NAN, vacc = v.n ? (double)v.correct / v.n : NAN;
    double tloss = t->st.seen ? t->st.loss_sum / t->st.seen : NAN, tacc = t->st.seen ? t->st.correct / t->st.seen : NAN;
    rd_mem_stats ms = rd_mem_get_stats(t->ctx);
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "epoch");
    rd_record_int(r, "epoch", t->st.epoch + 1);
    rd_record_double(r, "train_loss", tloss);
    rd_record_double(r, "train_acc", tacc);
    if (c->auxiliary) rd_record_double(r, "train_aux_loss", t->st.seen ? t->st.aux_loss_sum / t->st.seen : NAN);
    rd_record_double(r, "valid_loss", vloss);
    rd_record_double(r, "valid_acc", vacc);
    rd_record_string(r, "valid_split", t->valid_on_test ? "test" : "held-out training images");
    rd_record_double(r, "lr", lr);
    rd_record_double(r, "drop_path", drop);
    rd_record_double(r, "seconds", seconds);
    rd_record_int(r, "steps", t->st.step); /* the epoch's; the times are of the steps this process ran */
    rd_record_double(r, "step_seconds", steps_here ? seconds / steps_here : NAN);
    rd_record_double(r, "images_per_s", seconds > 0 ? steps_here * (double)c->batch / seconds : NAN);
    rd_record_double(r, "peak_device_mb", ms.peak / 1048576.0);
    rd_record_int(r, "peak_bytes", (int64_t)ms.peak);
    rd_record_int(r, "global_step", t->st.global_step);
    RD_TRY(append(t, r));
    say(t, "epoch %d/%d: lr %.4g, drop-path %.3f, train loss %.4f acc %.2f%%, valid loss %.4f acc %.2f%%, %.1f s, peak %s",
        t->st.epoch + 1, c->epochs, lr, drop, tloss, 100 * tacc, vloss, 100 * vacc, seconds, RD_BYTES(ms.peak));
    return RD_OK;
}

/* The rest of the current epoch, its validation and record; then the next epoch's position. */
static rd_status train_epoch(trainer *t) {
    const rd_train_config *c = t->cfg;
    int64_t steps = c->steps_per_epoch > 0 ? c->steps_per_epoch : rd_loader_batches_per_epoch(t->tl);
    float lr = (float)rd_cosine_lr(c->lr, c->lr_min, t->st.epoch, c->epochs);
    float drop = (float)(c->drop_path * t->st.epoch / c->epochs);
    rd_network_set_drop_path(t->net, drop, (uint64_t)c->seed, t->st.drop_path_counter);
    double start = train_now();
    int64_t done_here = 0;
    while (t->st.step < steps) {
        float loss;
        RD_TRY(train_batch(t, lr, &loss));
        t->st.step++;
        t->st.global_step++;
        done_here++;
        if (t->opt->observer.progress) {
            double el = train_now() - start;
            t->opt->observer.progress(t->opt->observer.user, "train", t->st.step, steps, loss,
                                      done_here * (double)c->batch / el, el / done_here * (steps - t->st.step));
        }
        if (t->st.step == steps) break; /* the epoch's end is checkpointed below */
        RD_TRY(boundary(t, c->checkpoint_every > 0 && t->st.step % c->checkpoint_every == 0));
        if (t->interrupted) return RD_OK;
    }
    RD_TRY(record_epoch(t, lr, drop, done_here, train_now() - start));
    t->st.step = 0;
    t->st.loss_sum = t->st.aux_loss_sum = t->st.correct = t->st.seen = 0;
    t->st.epoch++;
    return t->st.epoch == c->epochs ? checkpoint(t) : boundary(t, 1);
}

static rd_status finish(trainer *t, rd_train_result *res) {
    train_eval_pass p;
    memset(&p, 0, sizeof p);
    RD_TRY(train_eval_run(t->net, t->testl, 0, &p, t->err));
    res->test_accuracy = p.n ? (double)p.correct / p.n : NAN;
    res->test_loss = p.n ? p.loss_sum / p.n : NAN;
    res->seconds = t->st.seconds + (train_now() - t->t0);
    res->epochs = t->st.epoch;
    double flops;
    rd_network_cost(t->net, &res->params, &flops);
    rd_mem_stats ms = rd_mem_get_stats(t->ctx);
    res->peak = ms.peak;
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "final");
    rd_record_string(r, "genotype", t->geno_text);
    rd_record_double(r, "test_acc", res->test_accuracy);
    rd_record_double(r, "test_loss", res->test_loss);
    rd_record_int(r, "test_images", p.n);
    rd_record_int(r, "test_correct", p.correct);
    rd_record_double(r, "params", res->params);
    rd_record_double(r, "flops_per_image", flops);
    rd_record_int(r, "epochs", res->epochs);
    rd_record_int(r, "global_step", t->st.global_step);
    rd_record_double(r, "total_seconds", res->seconds);
    rd_record_double(r, "peak_device_mb", ms.peak / 1048576.0);
    rd_record_int(r, "peak_bytes", (int64_t)ms.peak);
    rd_record_int(r, "C", t->cfg->C);
    rd_record_int(r, "layers", t->cfg->layers);
    rd_record_string(r, "dataset", t->cfg->dataset);
    RD_TRY(append(t, r));
    say(t, "test accuracy %.2f%% (%lld of %lld images), %.2f M parameters, %.1f s", 100 * res->test_accuracy,
        (long long)p.correct, (long long)p.n, res->params / 1e6, res->seconds);
    return RD_OK;
}

static rd_status run(trainer *t, rd_train_result *res) {
    const rd_train_config *c = t->cfg;
    RD_TRY(rd_path_join(t->ckpt, sizeof t->ckpt, t->opt->run_dir, "checkpoint.safetensors", t->err));
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, t->opt->run_dir, "metrics.jsonl", t->err));
    RD_TRY(rd_run_resumes(t->comm, t->ckpt, t->opt->resume, &t->resume, t->err));
    if (t->opt->resume && !t->resume && t->writer) {
        /* stopped before its first checkpoint: nothing recorded counts, the recipe is in the run directory */
        say(t, "%s holds no checkpoint yet: starting the training from the beginning", t->opt->run_dir);
        if (unlink(path) != 0 && errno != ENOENT)
            return rd_fail(t->err, RD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    }
    rd_genotype g;
    char source[4200] = "";
    if (t->resume) {
        rd_train_checkpoint_info info;
        RD_TRY(rd_train_checkpoint_peek(t->ckpt, &info, t->err));
        /* records past the checkpoint are of work the resumed run redoes (it was killed) */
        if (t->writer) RD_TRY(rd_metrics_truncate(path, info.state.metrics_bytes, t->err));
        g = info.genotype;
        snprintf(source, sizeof source, "%s", t->ckpt);
    } else {
        RD_TRY(rd_genotype_resolve(c->genotype, t->opt->genotype_dirs, &g, source, sizeof source, t->err));
    }
    rd_genotype_format(&g, t->geno_text, sizeof t->geno_text);
    res->genotype = g;
    snprintf(res->genotype_text, sizeof res->genotype_text, "%s", t->geno_text);
    RD_TRY(make_config_text(t));
    char line[2200], json[2048];
    if (!t->resume) {
        RD_TRY(write_text(t, "config.ini", t->config_text));
        snprintf(line, sizeof line, "%s\n", t->geno_text);
        RD_TRY(write_text(t, "genotype.txt", line));
        snprintf(line, sizeof line, "%s\n", rd_genotype_to_json(&g, json, sizeof json));
        RD_TRY(write_text(t, "genotype.json", line));
    }
    say(t, "genotype (%s): %s", source, t->geno_text);
    if (t->writer) RD_TRY(rd_metrics_open(path, &t->metrics, t->err));
    RD_TRY(setup_data(t));
    say(t, "data %s: %d training images (%d train, %d %s), %d test images, %dx%dx%d, %d classes",
        t->train.description ? t->train.description : c->dataset, t->train.n, t->tsub.n,
        t->valid_on_test ? t->test.n : t->vsub.n, t->valid_on_test ? "validate: the test set" : "held out to validate",
        t->test.n, t->train.c, t->train.h, t->train.w, t->train.classes);
    RD_TRY(setup_network(t));
    double params, flops;
    rd_network_cost(t->net, &params, &flops);
    say(t, "network: C=%d, %d cells%s, %.3f M parameters, %.1f MFLOPs per image; device memory planned %s", c->C, c->layers,
        c->auxiliary ? ", auxiliary head" : "", params / 1e6, flops / 1e6,
        RD_BYTES(rd_network_memory(t->net)->total));
    if (t->resume) {
        RD_TRY(rd_train_checkpoint_load(t->ckpt, t->net, &t->momentum, &t->st, t->err));
        RD_TRY(rd_loader_set_state(t->tl, &t->st.loader, t->err));
        say(t, "resuming %s: epoch %d, step %lld", t->opt->run_dir, t->st.epoch + 1, (long long)t->st.step);
    } else {
        memset(&t->st, 0, sizeof t->st);
    }
    t->t0 = train_now();
    while (t->st.epoch < c->epochs) {
        RD_TRY(train_epoch(t));
        if (t->interrupted) return RD_OK;
    }
    if (t->ranks > 1) { /* every rank trained its own copy: they must have ended equal */
        RD_TRY(check_params(t, "the trained parameters"));
        say(t, "all %d ranks hold the same parameters", t->ranks);
    }
    RD_TRY(finish(t, res));
    t->st.seconds = res->seconds;
    t->t0 = train_now();
    RD_TRY(checkpoint(t));
    if (t->writer) RD_TRY(rd_train_write_report(t->opt->run_dir, t->err));
    return RD_OK;
}

static void cleanup(trainer *t) {
    rd_network_free(t->net);
    if (t->opt_buf) rd_free(t->ctx, t->opt_buf);
    if (t->vl != t->testl) rd_loader_free(t->vl);
    rd_loader_free(t->testl);
    rd_loader_free(t->tl);
    rd_subset_free(&t->tsub);
    rd_subset_free(&t->vsub);
    rd_dataset_free(&t->train);
    rd_dataset_free(&t->test);
    if (t->metrics) {
        rd_err e;
        rd_metrics_close(t->metrics, &e);
    }
    free(t->config_text);
}

rd_status rd_train_run(rd_ctx *ctx, const rd_train_config *cfg, const rd_train_options *opt, rd_train_result *res,
                       rd_err *err) {
    trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    t.ctx = ctx;
    t.cfg = cfg;
    t.opt = opt;
    t.err = rd_ctx_err(ctx); /* one error channel: the context's, handed over below */
    t.comm = rd_ctx_comm(ctx);
    t.rank = rd_comm_rank(t.comm);
    t.ranks = rd_comm_size(t.comm);
    t.writer = t.rank == 0;
    rd_mem_reset_peak(ctx);
    rd_status s = run(&t, res);
    res->interrupted = t.interrupted;
    if (t.interrupted) {
        res->peak = rd_mem_get_stats(ctx).peak;
        res->epochs = t.st.epoch;
    }
    cleanup(&t);
    if (s != RD_OK && err != t.err) *err = *t.err;
    return s;
}
