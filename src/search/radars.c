/* One search from start to finish: RADARS (SEARCH.md section 3), plain DARTS,
 * or the RL-only baseline, on the same data, with checkpoints and a report.
 *
 *   cap = device memory x safety fraction (or the user's lower cap)
 *   while predicted_peak(DARTS over alive ops) > cap:        -- RADARS only
 *       RL round: sample single paths, train them, reward, REINFORCE
 *       prune the least likely ops of every edge
 *   DARTS on the surviving ops, starting from the shared weights
 *   genotype */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radars/plot.h"
#include "radars/search.h"

typedef struct search {
    rd_ctx *ctx;
    const rd_search_config *cfg;
    const rd_search_options *opt;
    rd_err *err;
    rd_dataset data;
    rd_subset wsub, asub;
    rd_loader *loaders[RD_SEARCH_LOADERS]; /* weight half, alpha half, evaluation (alpha half, in order) */
    rd_supernet_config ncfg;
    uint64_t cap;
    rd_search_state st;
    rd_controller ctrl;
    int have_ctrl;
    rd_supernet *net;
    rd_darts *darts;
    rd_metrics *metrics;
    char *config_text;
    char ckpt[4200], ckpt_rl[4200];
    double t0;               /* start of the current phase (wall clock) */
    double seconds_before;   /* time of the current phase before this process */
    int interrupted;
    uint64_t predicted;
} search;

enum { W_LOADER = 0, A_LOADER = 1, E_LOADER = 2 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void say(search *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(search *s, const char *fmt, ...) {
    if (!s->opt->observer.log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->opt->observer.log(s->opt->observer.user, line);
}

static rd_status from_ctx(search *s) {
    *s->err = *rd_ctx_err(s->ctx);
    return s->err->code;
}
#define CTX_TRY(expr) do { if ((expr) != RD_OK) return from_ctx(s); } while (0)

static const char *mib(uint64_t b, char *buf, size_t len) { return rd_format_bytes(b, buf, len); }

/* ---- set-up: data, loaders, cap ---- */
static rd_status setup_data(search *s) {
    const rd_search_config *c = s->cfg;
    rd_data_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.resize_h = dopt.resize_w = c->image_size;
    RD_TRY(rd_dataset_open(c->dataset, "train", &dopt, &s->data, s->err));
    if (c->train_limit > 0 && c->train_limit < s->data.n) s->data.n = c->train_limit;
    RD_TRY(rd_split_search(&s->data, c->train_portion, (uint64_t)c->seed, &s->wsub, &s->asub, s->err));
    rd_norm norm;
    RD_TRY(rd_norm_compute(&s->data, &s->wsub, &norm, s->err));
    rd_loader_options lo;
    memset(&lo, 0, sizeof lo);
    lo.batch = c->batch;
    lo.shuffle = 1;
    lo.drop_last = 1;
    lo.norm = norm;
    lo.aug.crop_pad = c->crop_padding;
    lo.aug.hflip = c->flip;
    if ((int64_t)s->wsub.n < c->batch || (int64_t)s->asub.n < c->batch)
        return rd_fail(s->err, RD_ERR_CONFIG, "data: %d training images give halves of %lld and %lld, fewer than one batch of %d",
                       s->data.n, (long long)s->wsub.n, (long long)s->asub.n, c->batch);
    lo.seed = (uint64_t)c->seed * 2 + 1;
    RD_TRY(rd_loader_create(s->ctx, &s->data, &s->wsub, &lo, &s->loaders[W_LOADER], s->err));
    lo.seed = (uint64_t)c->seed * 2 + 2;
    RD_TRY(rd_loader_create(s->ctx, &s->data, &s->asub, &lo, &s->loaders[A_LOADER], s->err));
    rd_loader_options eo = rd_loader_eval_options(c->batch, norm);
    eo.drop_last = 1; /* every evaluation batch has the planned size */
    RD_TRY(rd_loader_create(s->ctx, &s->data, &s->asub, &eo, &s->loaders[E_LOADER], s->err));
    return rd_search_supernet_config(c, s->data.c, s->data.h, s->data.w, s->data.classes, &s->ncfg, s->err);
}

static void save_loader_states(search *s) {
    for (int i = 0; i < RD_SEARCH_LOADERS; i++) s->st.loaders[i] = rd_loader_get_state(s->loaders[i]);
}

static double phase_seconds(search *s) { return s->seconds_before + (now() - s->t0); }

static rd_status checkpoint(search *s, const char *path) {
    save_loader_states(s);
    s->st.seconds[s->st.phase == RD_PHASE_RL ? 0 : 1] = phase_seconds(s);
    char geno[2048] = "";
    rd_genotype g;
    int from_ctrl = s->st.phase == RD_PHASE_RL || s->cfg->strategy == RD_STRATEGY_RL;
    if (from_ctrl && s->have_ctrl) {
        float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
        rd_controller_weights(&s->ctrl, w);
        rd_genotype_derive(w, &s->ncfg.ops, &s->ctrl.alive, s->ncfg.steps, s->ncfg.multiplier, &g);
        rd_genotype_format(&g, geno, sizeof geno);
    }
    rd_checkpoint_parts parts = {s->net, s->darts, s->have_ctrl ? &s->ctrl : NULL, &s->st, s->config_text,
                                 geno[0] ? geno : NULL, from_ctrl};
    return rd_checkpoint_save(path, &parts, s->err);
}

/* After each step: stop (with a checkpoint) when asked to. */
static rd_status maybe_stop(search *s) {
    s->st.global_step++;
    int stop = (s->opt->interrupt && *s->opt->interrupt) ||
               (s->opt->stop_after_steps > 0 && s->st.global_step >= s->opt->stop_after_steps);
    if (!stop) return RD_OK;
    RD_TRY(checkpoint(s, s->ckpt));
    s->interrupted = 1;
    say(s, "stopped after step %lld; checkpoint %s (continue with: radars search --resume %s)",
        (long long)s->st.global_step, s->ckpt, s->opt->run_dir);
    return RD_OK;
}

static rd_status append(search *s, rd_record *r) {
    rd_status st = rd_metrics_append(s->metrics, r, s->err);
    rd_record_free(r);
    return st;
}

static rd_status predict(search *s, const rd_arch_mask *alive, const rd_arch_mask *active, rd_search_memory *m) {
    if (rd_search_predict(s->ctx, s->cfg, &s->ncfg, alive, active, m) != RD_OK) return from_ctx(s);
    return RD_OK;
}

static void alive_names(const rd_search_config *c, const rd_opset *set, const rd_arch_mask *alive, rd_record *r) {
    (void)c;
    struct json_object *root = rd_record_json(r);
    (void)root;
    /* one string per edge: "sep_conv_3x3,max_pool_3x3" */
    for (int t = 0; t < 2; t++) {
        char key[32];
        snprintf(key, sizeof key, "alive_%s", t ? "reduce" : "normal");
        char joined[RD_CELL_EDGES][512];
        double counts[RD_CELL_EDGES];
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            joined[e][0] = 0;
            counts[e] = rd_arch_mask_count(alive, t, e);
            for (int k = 0; k < set->count; k++)
                if (alive->edge[t][e] >> k & 1) {
                    if (joined[e][0]) strncat(joined[e], ",", sizeof joined[e] - strlen(joined[e]) - 1);
                    strncat(joined[e], rd_op_name(set->ops[k]), sizeof joined[e] - strlen(joined[e]) - 1);
                }
        }
        char buf[RD_CELL_EDGES * 520] = "";
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            if (e) strncat(buf, ";", sizeof buf - strlen(buf) - 1);
            strncat(buf, joined[e], sizeof buf - strlen(buf) - 1);
        }
        rd_record_string(r, key, buf);
        snprintf(key, sizeof key, "alive_count_%s", t ? "reduce" : "normal");
        rd_record_doubles(r, key, counts, RD_CELL_EDGES);
    }
}

/* ---- RL phase: sample, train, reward, REINFORCE; prune (RADARS) ---- */
static rd_status reward_of_path(search *s, double *acc, double *ms) {
    rd_loader *al = s->loaders[A_LOADER];
    int correct = 0, n = 0;
    *ms = 0;
    for (int b = 0; b < s->cfg->rl_reward_batches; b++) {
        rd_batch vb;
        RD_TRY(rd_loader_next(al, &vb, s->err));
        double t = 0;
        if (b == 0 && s->cfg->latency_weight > 0) {
            CTX_TRY(rd_finish(s->ctx));
            t = now();
        }
        CTX_TRY(rd_supernet_forward(s->net, &vb.x, vb.labels, 1));
        float l;
        int c;
        CTX_TRY(rd_supernet_read_loss(s->net, &l, &c)); /* waits for the device */
        if (b == 0 && s->cfg->latency_weight > 0) *ms = (now() - t) * 1e3;
        correct += c;
        n += vb.n;
    }
    *acc = (double)correct / n;
    return RD_OK;
}

static rd_status rl_phase(search *s, int prune) {
    const rd_search_config *c = s->cfg;
    rd_arch_mask all, path;
    rd_arch_mask_all(&all, &s->ncfg.ops);
    if (!s->have_ctrl) {
        rd_controller_init(&s->ctrl, &all, s->ncfg.ops.count, (uint64_t)c->seed, c->rl_lr, c->rl_baseline_decay,
                           c->rl_entropy);
        s->have_ctrl = 1;
    }
    /* the RL phase holds weights for every op but activations of one path only */
    rd_largest_single_path(&s->ctrl.alive, &s->ncfg.ops, &path);
    rd_search_memory m;
    RD_TRY(predict(s, &all, &path, &m));
    char b1[32], b2[32];
    if (m.total > s->cap)
        return rd_fail(s->err, RD_ERR_OVER_CAP, "RL phase: even one sampled path needs %s (predicted), cap %s",
                       mib(m.total, b1, sizeof b1), mib(s->cap, b2, sizeof b2));
    CTX_TRY(rd_supernet_create(s->ctx, &s->ncfg, &all, &path, (uint64_t)c->seed, &s->net));
    CTX_TRY(rd_darts_create(s->ctx, s->net, c, &s->darts));
    if (s->opt->resume && s->st.phase == RD_PHASE_RL) {
        rd_checkpoint_parts parts = {s->net, s->darts, &s->ctrl, NULL, NULL, NULL, 0};
        RD_TRY(rd_checkpoint_load(s->ckpt, &parts, s->err));
    }
    s->t0 = now();
    s->seconds_before = s->st.seconds[0];
    int rounds = c->rl_rounds;
    for (; s->st.round < rounds; s->st.round++) {
        rd_search_memory need;
        if (prune) {
            RD_TRY(predict(s, &s->ctrl.alive, NULL, &need));
            if (need.total <= s->cap) break;
            if (s->st.sample == 0)
                say(s, "RL round %d: DARTS over the %s ops would need %s > cap %s", s->st.round + 1,
                    s->st.round ? "surviving" : "alive", mib(need.total, b1, sizeof b1), mib(s->cap, b2, sizeof b2));
        }
        double round_start = now();
        for (; s->st.sample < c->rl_samples; s->st.sample++) {
            int choice[2][RD_CELL_EDGES];
            rd_controller_sample(&s->ctrl, choice, &path);
            CTX_TRY(rd_supernet_set_active(s->net, &path));
            float loss = 0;
            for (int t = 0; t < c->rl_train_steps; t++) {
                rd_batch tb;
                RD_TRY(rd_loader_next(s->loaders[W_LOADER], &tb, s->err));
                CTX_TRY(rd_darts_weight_step(s->darts, &tb, (float)c->w_lr, &loss, NULL));
            }
            double acc = 0, ms = 0, params = 0, flops = 0;
            RD_TRY(reward_of_path(s, &acc, &ms));
            rd_supernet_active_cost(s->net, &params, &flops);
            double reward = acc - c->latency_weight * ms - c->params_weight * params / 1e6 - c->flops_weight * flops / 1e9;
            double adv = rd_controller_update(&s->ctrl, choice, reward);
            rd_record *r = rd_record_new();
            rd_record_string(r, "type", "rl_sample");
            rd_record_int(r, "round", s->st.round);
            rd_record_int(r, "sample", s->st.sample);
            rd_record_double(r, "reward", reward);
            rd_record_double(r, "accuracy", acc);
            rd_record_double(r, "advantage", adv);
            rd_record_double(r, "train_loss", loss);
            rd_record_double(r, "latency_ms", ms);
            rd_record_double(r, "params", params);
            rd_record_double(r, "flops", flops);
            rd_record_double(r, "entropy", rd_controller_entropy(&s->ctrl));
            RD_TRY(append(s, r));
            if (s->opt->observer.progress) {
                double el = now() - round_start;
                int done = s->st.sample + 1;
                double eta = el / done * (c->rl_samples - done);
                s->opt->observer.progress(s->opt->observer.user, "RL", done, c->rl_samples, loss,
                                          done * (double)c->rl_train_steps * c->batch / el, eta);
            }
            if (s->st.sample + 1 == c->rl_samples) break; /* the round's end is checkpointed below */
            s->st.sample++;
            RD_TRY(maybe_stop(s));
            if (s->interrupted) return RD_OK;
            s->st.sample--;
        }
        int removed = prune ? rd_controller_prune(&s->ctrl, c->prune_per_round, c->prune_fraction, c->min_ops_per_edge) : 0;
        s->st.alive = s->ctrl.alive;
        RD_TRY(predict(s, &s->ctrl.alive, NULL, &need));
        rd_mem_stats ms = rd_mem_get_stats(s->ctx);
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "rl_round");
        rd_record_int(r, "round", s->st.round);
        rd_record_int(r, "removed", removed);
        rd_record_int(r, "predicted_darts_peak", (int64_t)need.total);
        rd_record_int(r, "measured_peak", (int64_t)ms.peak);
        rd_record_int(r, "cap", (int64_t)s->cap);
        rd_record_double(r, "seconds", now() - round_start);
        rd_record_double(r, "entropy", rd_controller_entropy(&s->ctrl));
        rd_record_double(r, "baseline", s->ctrl.baseline);
        alive_names(c, &s->ncfg.ops, &s->ctrl.alive, r);
        RD_TRY(append(s, r));
        int total_alive = 0;
        for (int t = 0; t < 2; t++)
            for (int e = 0; e < RD_CELL_EDGES; e++) total_alive += rd_arch_mask_count(&s->ctrl.alive, t, e);
        say(s, "RL round %d: mean reward baseline %.3f, removed %d ops, %d alive (%.1f per edge), DARTS would need %s, measured peak %s",
            s->st.round + 1, s->ctrl.baseline, removed, total_alive, total_alive / 28.0, mib(need.total, b1, sizeof b1),
            mib(ms.peak, b2, sizeof b2));
        s->st.sample = 0;
        s->st.round++;
        RD_TRY(checkpoint(s, s->ckpt));
        RD_TRY(maybe_stop(s));
        s->st.round--;
        if (s->interrupted) {
            s->st.round++;
            return RD_OK;
        }
    }
    s->st.seconds[0] = phase_seconds(s);
    RD_TRY(checkpoint(s, s->ckpt)); /* the DARTS phase starts from these weights */
    if (prune) {
        rd_search_memory need;
        RD_TRY(predict(s, &s->ctrl.alive, NULL, &need));
        if (need.total > s->cap)
            return rd_fail(s->err, RD_ERR_OVER_CAP,
                           "RADARS: after %d RL rounds DARTS over the surviving ops still needs %s (predicted), cap %s: "
                           "raise rl.rounds or rl.prune_per_round, lower rl.min_ops_per_edge, or shrink the batch",
                           s->st.round, mib(need.total, b1, sizeof b1), mib(s->cap, b2, sizeof b2));
    }
    return RD_OK;
}

/* ---- DARTS phase ---- */
static rd_status darts_phase(search *s, int from_rl) {
    const rd_search_config *c = s->cfg;
    rd_search_memory m;
    RD_TRY(predict(s, &s->st.alive, NULL, &m));
    s->predicted = m.total;
    char b1[32], b2[32], b3[32], b4[32];
    if (m.total > s->cap)
        return rd_fail(s->err, RD_ERR_OVER_CAP,
                       "DARTS over this op space needs %s (predicted: %s activations, %s weights+grads, %s other), "
                       "cap %s: use --strategy radars, a smaller batch / C / layers, or a higher --mem-cap",
                       mib(m.total, b1, sizeof b1), mib(m.net.activations, b2, sizeof b2),
                       mib(m.net.weights + m.net.grads, b3, sizeof b3),
                       mib(m.total - m.net.activations - m.net.weights - m.net.grads, b4, sizeof b4),
                       mib(s->cap, b2, sizeof b2));
    say(s, "DARTS phase: predicted peak %s of cap %s", mib(m.total, b1, sizeof b1), mib(s->cap, b2, sizeof b2));
    /* RL's objects go first, so the two supernets never share the device */
    rd_darts_free(s->darts);
    s->darts = NULL;
    rd_supernet_free(s->net);
    s->net = NULL;
    CTX_TRY(rd_supernet_create(s->ctx, &s->ncfg, &s->st.alive, NULL, (uint64_t)c->seed + 1, &s->net));
    CTX_TRY(rd_darts_create(s->ctx, s->net, c, &s->darts));
    if (s->opt->resume && s->st.phase == RD_PHASE_DARTS && !from_rl) {
        rd_checkpoint_parts parts = {s->net, s->darts, NULL, NULL, NULL, NULL, 0};
        RD_TRY(rd_checkpoint_load(s->ckpt, &parts, s->err));
    } else if (from_rl) {
        int copied = 0;
        RD_TRY(rd_checkpoint_load_shared(s->ckpt, s->net, &copied, s->err));
        say(s, "DARTS phase starts from the RL phase's shared weights (%d tensors)", copied);
    }
    s->st.phase = RD_PHASE_DARTS;
    s->t0 = now();
    s->seconds_before = s->st.seconds[1];
    int64_t per_epoch = rd_loader_batches_per_epoch(s->loaders[W_LOADER]);
    int64_t a_per_epoch = rd_loader_batches_per_epoch(s->loaders[A_LOADER]);
    if (a_per_epoch < per_epoch) per_epoch = a_per_epoch;
    int64_t steps = c->steps_per_epoch > 0 ? c->steps_per_epoch : per_epoch;
    int K = s->ncfg.ops.count;
    float *softmax = malloc(sizeof(float) * 2 * RD_CELL_EDGES * K);
    if (!softmax) return rd_fail(s->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status status = RD_OK;
    for (; s->st.epoch < c->epochs && status == RD_OK; s->st.epoch++) {
        float lr = (float)rd_cosine_lr(c->w_lr, c->w_lr_min, s->st.epoch, c->epochs);
        double tl = 0, vl = 0, t_start = now();
        long tc = 0, vc = 0, tn = 0, vn = 0;
        int64_t done_here = 0;
        for (; s->st.step < steps; s->st.step++) {
            rd_batch tb, vb;
            if ((status = rd_loader_next(s->loaders[W_LOADER], &tb, s->err)) != RD_OK) break;
            if ((status = rd_loader_next(s->loaders[A_LOADER], &vb, s->err)) != RD_OK) break;
            rd_step_stats st;
            if (rd_darts_step(s->darts, &tb, &vb, lr, &st) != RD_OK) {
                status = from_ctx(s);
                break;
            }
            if (!isfinite(st.train_loss) || !isfinite(st.valid_loss)) {
                status = rd_fail(s->err, RD_ERR_NUMERIC, "DARTS epoch %d step %lld: the loss is not finite (lr %g)",
                                 s->st.epoch + 1, (long long)s->st.step + 1, lr);
                break;
            }
            tl += st.train_loss * st.n_train;
            vl += st.valid_loss * st.n_valid;
            tc += st.train_correct;
            vc += st.valid_correct;
            tn += st.n_train;
            vn += st.n_valid;
            done_here++;
            if (s->opt->observer.progress) {
                double el = now() - t_start;
                s->opt->observer.progress(s->opt->observer.user, "DARTS", s->st.step + 1, steps, st.train_loss,
                                          done_here * 2.0 * c->batch / el, el / done_here * (steps - s->st.step - 1));
            }
            if (c->checkpoint_every > 0 && (s->st.step + 1) % c->checkpoint_every == 0 && s->st.step + 1 < steps) {
                s->st.step++;
                status = checkpoint(s, s->ckpt);
                s->st.step--;
                if (status != RD_OK) break;
            }
            if (s->st.step + 1 < steps) {
                s->st.step++;
                status = maybe_stop(s);
                s->st.step--;
                if (status != RD_OK || s->interrupted) break;
            }
        }
        if (status != RD_OK || s->interrupted) break;
        double epoch_seconds = now() - t_start;
        double eval_loss, eval_acc;
        if (rd_evaluate(s->net, s->loaders[E_LOADER], c->eval_batches, 0, &eval_loss, &eval_acc) != RD_OK) {
            status = from_ctx(s);
            break;
        }
        if (rd_supernet_read_alphas(s->net, NULL, softmax) != RD_OK) {
            status = from_ctx(s);
            break;
        }
        rd_genotype g;
        char geno[2048];
        rd_genotype_derive(softmax, &s->ncfg.ops, &s->st.alive, s->ncfg.steps, s->ncfg.multiplier, &g);
        rd_genotype_format(&g, geno, sizeof geno);
        rd_mem_stats ms = rd_mem_get_stats(s->ctx);
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "epoch");
        rd_record_int(r, "epoch", s->st.epoch + 1);
        rd_record_double(r, "lr", lr);
        rd_record_double(r, "train_loss", tn ? tl / tn : NAN);
        rd_record_double(r, "train_acc", tn ? (double)tc / tn : NAN);
        rd_record_double(r, "search_valid_loss", vn ? vl / vn : NAN);
        rd_record_double(r, "search_valid_acc", vn ? (double)vc / vn : NAN);
        rd_record_double(r, "valid_loss", eval_loss);
        rd_record_double(r, "valid_acc", eval_acc);
        rd_record_double(r, "step_seconds", done_here ? epoch_seconds / done_here : NAN);
        rd_record_int(r, "steps", done_here);
        rd_record_int(r, "peak_bytes", (int64_t)ms.peak);
        rd_record_int(r, "predicted_bytes", (int64_t)s->predicted);
        rd_record_matrix_f(r, "alphas_normal_softmax", softmax, RD_CELL_EDGES, (size_t)K);
        rd_record_matrix_f(r, "alphas_reduce_softmax", softmax + RD_CELL_EDGES * K, RD_CELL_EDGES, (size_t)K);
        rd_record_string(r, "genotype", geno);
        if ((status = append(s, r)) != RD_OK) break;
        say(s, "DARTS epoch %d/%d: lr %.4g, train loss %.4f acc %.2f%%, valid loss %.4f acc %.2f%%, %.2f s/step, peak %s",
            s->st.epoch + 1, c->epochs, lr, tn ? tl / tn : NAN, tn ? 100.0 * tc / tn : NAN, eval_loss, 100 * eval_acc,
            done_here ? epoch_seconds / done_here : NAN, mib(ms.peak, b1, sizeof b1));
        s->st.step = 0;
        s->st.epoch++;
        status = checkpoint(s, s->ckpt);
        if (status == RD_OK && s->st.epoch < c->epochs) status = maybe_stop(s);
        s->st.epoch--;
        if (status != RD_OK || s->interrupted) {
            s->st.epoch++;
            break;
        }
    }
    free(softmax);
    s->st.seconds[1] = phase_seconds(s);
    return status;
}

/* ---- the run ---- */
static rd_status write_text(search *s, const char *name, const char *text) {
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, s->opt->run_dir, name, s->err));
    return rd_write_file_atomic(path, text, strlen(text), s->err);
}

static rd_status finish(search *s, rd_search_result *res) {
    const rd_search_config *c = s->cfg;
    int K = s->ncfg.ops.count;
    float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
    rd_arch_mask alive = s->st.alive;
    if (c->strategy == RD_STRATEGY_RL) {
        rd_controller_weights(&s->ctrl, w);
        alive = s->ctrl.alive;
        /* the policy's most likely path, evaluated with the shared weights */
        rd_arch_mask best;
        rd_controller_best(&s->ctrl, &best);
        CTX_TRY(rd_supernet_set_active(s->net, &best));
        double l;
        CTX_TRY(rd_evaluate(s->net, s->loaders[E_LOADER], c->eval_batches, 1, &l, &res->valid_accuracy));
    } else {
        CTX_TRY(rd_supernet_read_alphas(s->net, NULL, w));
        double l;
        CTX_TRY(rd_evaluate(s->net, s->loaders[E_LOADER], c->eval_batches, 0, &l, &res->valid_accuracy));
    }
    (void)K;
    rd_genotype_derive(w, &s->ncfg.ops, &alive, s->ncfg.steps, s->ncfg.multiplier, &res->genotype);
    rd_genotype_format(&res->genotype, res->genotype_text, sizeof res->genotype_text);
    char json[2048], line[2100];
    rd_genotype_to_json(&res->genotype, json, sizeof json);
    snprintf(line, sizeof line, "%s\n", res->genotype_text);
    RD_TRY(write_text(s, "genotype.txt", line));
    snprintf(line, sizeof line, "%s\n", json);
    RD_TRY(write_text(s, "genotype.json", line));
    s->st.phase = RD_PHASE_DONE;
    RD_TRY(checkpoint(s, s->ckpt));
    rd_mem_stats ms = rd_mem_get_stats(s->ctx);
    res->cap = s->cap;
    res->peak = ms.peak;
    res->predicted_peak = s->predicted;
    res->rl_rounds = s->st.round;
    res->alive = alive;
    res->seconds = s->st.seconds[0] + s->st.seconds[1];
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "final");
    rd_record_string(r, "strategy", rd_strategy_names[c->strategy]);
    rd_record_string(r, "genotype", res->genotype_text);
    rd_record_double(r, "valid_acc", res->valid_accuracy);
    rd_record_double(r, "rl_seconds", s->st.seconds[0]);
    rd_record_double(r, "darts_seconds", s->st.seconds[1]);
    rd_record_double(r, "total_seconds", res->seconds);
    rd_record_int(r, "peak_bytes", (int64_t)ms.peak);
    rd_record_int(r, "predicted_bytes", (int64_t)s->predicted);
    rd_record_int(r, "cap", (int64_t)s->cap);
    rd_record_int(r, "rl_rounds", s->st.round);
    rd_record_int(r, "global_steps", s->st.global_step);
    alive_names(c, &s->ncfg.ops, &alive, r);
    RD_TRY(append(s, r));
    say(s, "genotype: %s", res->genotype_text);
    return RD_OK;
}

static void cleanup(search *s) {
    rd_darts_free(s->darts);
    rd_supernet_free(s->net);
    for (int i = 0; i < RD_SEARCH_LOADERS; i++) rd_loader_free(s->loaders[i]);
    rd_subset_free(&s->wsub);
    rd_subset_free(&s->asub);
    rd_dataset_free(&s->data);
    if (s->metrics) {
        rd_err e;
        rd_metrics_close(s->metrics, &e);
    }
    free(s->config_text);
}

static rd_status config_text(search *s) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return rd_fail(s->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status st = rd_config_write(&rd_search_schema, s->cfg, f, s->err);
    fclose(f);
    s->config_text = buf;
    return st;
}

static rd_status run(search *s, rd_search_result *res) {
    const rd_search_config *c = s->cfg;
    char b1[32], b2[32], path[4200];
    RD_TRY(rd_path_join(s->ckpt, sizeof s->ckpt, s->opt->run_dir, "checkpoint.safetensors", s->err));
    RD_TRY(config_text(s));
    if (!s->opt->resume) RD_TRY(write_text(s, "config.ini", s->config_text));
    RD_TRY(rd_path_join(path, sizeof path, s->opt->run_dir, "metrics.jsonl", s->err));
    RD_TRY(rd_metrics_open(path, &s->metrics, s->err));

    const rd_device_info *dev = rd_ctx_device(s->ctx);
    s->cap = rd_search_cap(c, dev);
    char b3[32];
    say(s, "device %s: global memory %s, largest buffer %s; memory cap %s%s", dev->name,
        mib(dev->global_mem, b1, sizeof b1), mib(dev->max_alloc, b2, sizeof b2), mib(s->cap, b3, sizeof b3),
        c->mem_cap ? " (set by the user)" : "");
    if (rd_mem_set_cap(s->ctx, s->cap) != RD_OK) return from_ctx(s);
    RD_TRY(setup_data(s));
    say(s, "data %s: %d training images (%lld train the weights, %lld the alphas), %dx%dx%d, %d classes",
        s->data.description ? s->data.description : c->dataset, s->data.n, (long long)s->wsub.n,
        (long long)s->asub.n, s->data.c, s->data.h, s->data.w, s->data.classes);
    rd_arch_mask all;
    rd_arch_mask_all(&all, &s->ncfg.ops);
    if (s->opt->resume) {
        RD_TRY(rd_checkpoint_peek(s->ckpt, &s->st, &s->ctrl, NULL, s->err));
        s->have_ctrl = s->ctrl.K > 0;
        for (int i = 0; i < RD_SEARCH_LOADERS; i++)
            RD_TRY(rd_loader_set_state(s->loaders[i], &s->st.loaders[i], s->err));
        say(s, "resuming %s: phase %s, round %d, epoch %d, step %lld", s->opt->run_dir,
            s->st.phase == RD_PHASE_RL ? "RL" : s->st.phase == RD_PHASE_DARTS ? "DARTS" : "done", s->st.round,
            s->st.epoch, (long long)s->st.step);
    } else {
        memset(&s->st, 0, sizeof s->st);
        s->st.alive = all;
        s->st.phase = c->strategy == RD_STRATEGY_DARTS ? RD_PHASE_DARTS : RD_PHASE_RL;
    }
    if (c->strategy == RD_STRATEGY_DARTS) {
        /* refuse at once, before any work, a space that does not fit */
        rd_search_memory m;
        RD_TRY(predict(s, &s->st.alive, NULL, &m));
        if (m.total > s->cap)
            return rd_fail(s->err, RD_ERR_OVER_CAP,
                           "DARTS over this op space needs %s (predicted), cap %s: use --strategy radars, "
                           "a smaller batch / C / layers, or a higher --mem-cap",
                           mib(m.total, b1, sizeof b1), mib(s->cap, b2, sizeof b2));
    }
    int from_rl = 0;
    if (c->strategy == RD_STRATEGY_RADARS && s->st.phase == RD_PHASE_RL && s->st.round == 0 && s->st.sample == 0) {
        rd_search_memory m;
        RD_TRY(predict(s, &s->st.alive, NULL, &m));
        if (m.total <= s->cap) {
            say(s, "DARTS over all %d ops fits the cap (%s predicted): no pruning needed", s->ncfg.ops.count,
                mib(m.total, b1, sizeof b1));
            s->st.phase = RD_PHASE_DARTS;
        }
    }
    if (s->st.phase == RD_PHASE_RL) {
        RD_TRY(rl_phase(s, c->strategy == RD_STRATEGY_RADARS));
        if (s->interrupted) return RD_OK;
        from_rl = 1;
        if (c->strategy == RD_STRATEGY_RADARS) s->st.phase = RD_PHASE_DARTS;
    }
    if (c->strategy != RD_STRATEGY_RL && s->st.phase == RD_PHASE_DARTS) {
        RD_TRY(darts_phase(s, from_rl));
        if (s->interrupted) return RD_OK;
    } else if (c->strategy == RD_STRATEGY_RL && !s->net) {
        /* resumed after the RL phase finished: rebuild to evaluate */
        rd_arch_mask one;
        rd_largest_single_path(&s->ctrl.alive, &s->ncfg.ops, &one);
        CTX_TRY(rd_supernet_create(s->ctx, &s->ncfg, &all, &one, (uint64_t)c->seed, &s->net));
        rd_checkpoint_parts parts = {s->net, NULL, NULL, NULL, NULL, NULL, 0};
        RD_TRY(rd_checkpoint_load(s->ckpt, &parts, s->err));
    } else if (s->st.phase == RD_PHASE_DONE && !s->net) {
        CTX_TRY(rd_supernet_create(s->ctx, &s->ncfg, &s->st.alive, NULL, (uint64_t)c->seed + 1, &s->net));
        rd_checkpoint_parts parts = {s->net, NULL, NULL, NULL, NULL, NULL, 0};
        RD_TRY(rd_checkpoint_load(s->ckpt, &parts, s->err));
    }
    RD_TRY(finish(s, res));
    RD_TRY(rd_search_write_report(s->opt->run_dir, s->err));
    rd_err plot_err = {0};
    if (rd_plot_run_dir(s->opt->run_dir, NULL, &plot_err) != RD_OK) say(s, "pictures not drawn: %s", plot_err.msg);
    return RD_OK;
}

rd_status rd_search_run(rd_ctx *ctx, const rd_search_config *cfg, const rd_search_options *opt,
                        rd_search_result *res, rd_err *err) {
    search s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    s.ctx = ctx;
    s.cfg = cfg;
    s.opt = opt;
    s.err = err;
    rd_mem_reset_peak(ctx);
    rd_status st = run(&s, res);
    res->interrupted = s.interrupted;
    if (s.interrupted) {
        res->peak = rd_mem_get_stats(ctx).peak;
        res->cap = s.cap;
    }
    cleanup(&s);
    return st;
}
