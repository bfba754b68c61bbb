/* One search from start to finish: RADARS (SEARCH.md section 3), plain DARTS,
 * the RL-only baseline or the random one, on the same data, with checkpoints
 * and a report.
 *
 *   cap = device memory x safety fraction (or the user's lower cap)
 *   while predicted_peak(DARTS over alive ops) > cap:        -- RADARS only
 *       RL round: sample single paths, train them, reward, REINFORCE
 *       prune the least likely ops of every edge
 *   DARTS on the surviving ops, starting from the shared weights
 *   genotype
 *
 * radars() below is that box. Positions (round and sample, epoch and step) in
 * s->st always name the next unit of work: a unit's end advances them, then
 * boundary() may checkpoint and stop, and a resumed run continues from there.
 * Errors go to one place, the context's (s->err); rd_search_run hands it over. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "radars/comm.h"
#include "radars/search.h"
#include "runtime/rng.h"

typedef struct search {
    rd_ctx *ctx;
    const rd_search_config *cfg;
    const rd_search_options *opt;
    rd_err *err;             /* the context's */
    rd_dataset data;
    rd_subset wsub, asub;
    rd_loader *loaders[RD_SEARCH_LOADERS]; /* weight half, alpha half, evaluation (alpha half, in order) */
    rd_supernet_config ncfg;     /* the DARTS phase's supernet: this rank's share of a batch */
    rd_supernet_config rl_ncfg;  /* one path's (RL, random): a whole batch per rank */
    uint64_t cap;
    rd_comm *comm;           /* the job (radars/comm.h): ranks share every batch of the DARTS phase, */
    int rank, ranks, writer; /* sample different paths in the RL phase; rank 0 alone writes the run */
    rd_search_state st;
    rd_controller ctrl;
    int have_ctrl;
    rd_supernet *net;
    rd_darts *darts;
    rd_metrics *metrics;
    char *config_text;
    char ckpt[4200];
    double t0;               /* start of the current phase (wall clock) */
    double seconds_before;   /* time of the current phase before this process */
    int resume;              /* continuing from a checkpoint (a run stopped before its first starts over) */
    int interrupted;
    uint64_t predicted;
} search;

enum { W_LOADER = 0, A_LOADER = 1, E_LOADER = 2 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define say(s, ...) rd_observer_say(&(s)->opt->observer, __VA_ARGS__)

/* ---- set-up: data, loaders, cap ---- */
/* The part of the weight and alpha streams this rank takes: its rows of every batch (DARTS:
 * the ranks share each batch) or whole batches of its own (RL: each rank its own path). The
 * evaluation stream is always shared by rows. */
static rd_status shard_loaders(search *s, rd_shard_mode mode) {
    for (int i = 0; i < RD_SEARCH_LOADERS; i++)
        RD_TRY(rd_loader_set_shard(s->loaders[i], i == E_LOADER ? RD_SHARD_ROWS : mode, s->rank, s->ranks, s->err));
    return RD_OK;
}

/* A data-parallel job's constraints on the recipe, checked before anything is built. */
static rd_status check_ranks(search *s) {
    const rd_search_config *c = s->cfg;
    if (s->ranks == 1) return RD_OK;
    if (c->batch % s->ranks)
        return rd_fail(s->err, RD_ERR_CONFIG, "data.batch = %d is not a multiple of the %d ranks (each takes an equal share)",
                       c->batch, s->ranks);
    if (c->strategy != RD_STRATEGY_DARTS && c->strategy != RD_STRATEGY_PCDARTS && c->strategy != RD_STRATEGY_RANDOM &&
        c->rl_samples % s->ranks)
        return rd_fail(s->err, RD_ERR_CONFIG, "rl.samples = %d is not a multiple of the %d ranks (each round's paths are "
                       "spread evenly over them)", c->rl_samples, s->ranks);
    return RD_OK;
}

static rd_status setup_data(search *s) {
    const rd_search_config *c = s->cfg;
    rd_data_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.resize_h = dopt.resize_w = c->image_size;
    dopt.classes = c->classes;
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
    RD_TRY(rd_search_supernet_config(c, s->data.c, s->data.h, s->data.w, s->data.classes, &s->ncfg, s->err));
    s->rl_ncfg = s->ncfg;
    s->ncfg.batch = c->batch / s->ranks;
    return shard_loaders(s, RD_SHARD_ROWS);
}

static double phase_seconds(search *s) { return s->seconds_before + (now() - s->t0); }

/* Whether the current genotype comes from the controller's policy (RL) rather than the alphas. */
static int genotype_from_controller(const search *s) {
    return s->st.phase == RD_PHASE_RL || s->cfg->strategy == RD_STRATEGY_RL;
}

/* DARTS' derivation with the recipe's guard (the one rule every genotype of this search is
 * derived by; rd_checkpoint_genotype applies the same from the stored config). Returns how
 * many ops the guard took. */
static int derive(const search *s, const float *w, const rd_arch_mask *alive, rd_genotype *g) {
    rd_geno_guard guard = {s->cfg->max_skip_normal, s->cfg->max_param_free_normal};
    return rd_genotype_guarded(w, &s->ncfg.ops, alive, s->ncfg.steps, s->ncfg.multiplier, &guard, g);
}

static rd_status checkpoint(search *s) {
    for (int i = 0; i < RD_SEARCH_LOADERS; i++) s->st.loaders[i] = rd_loader_get_state(s->loaders[i]);
    s->st.metrics_bytes = rd_metrics_bytes(s->metrics);
    s->st.seconds[s->st.phase == RD_PHASE_RL ? 0 : 1] = phase_seconds(s);
    char geno[2048] = "";
    int from_ctrl = genotype_from_controller(s);
    if (from_ctrl && s->have_ctrl) {
        float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
        rd_genotype g;
        rd_controller_weights(&s->ctrl, w);
        derive(s, w, &s->ctrl.alive, &g);
        rd_genotype_format(&g, geno, sizeof geno);
    }
    rd_checkpoint_parts parts = {s->net, s->darts, s->have_ctrl ? &s->ctrl : NULL, &s->st, s->config_text,
                                 geno[0] ? geno : NULL, from_ctrl};
    return s->writer ? rd_checkpoint_save(s->ckpt, &parts, s->err) : RD_OK;
}

/* search.sync_check (the --check-sync debug option): every K steps, a hash of every rank's
 * parameters (weights, running statistics, alphas) against rank 0's; the first rank that
 * differs stops the job, named with the step. RADARS_FAULT_DESYNC=RANK:STEP perturbs one
 * weight of that rank at that step (the test that the check can fail). */
static rd_status check_sync(search *s) {
    const char *fault = getenv("RADARS_FAULT_DESYNC");
    int frank = -1;
    long long fstep = -1;
    if (fault && sscanf(fault, "%d:%lld", &frank, &fstep) == 2 && frank == s->rank && fstep == s->st.global_step) {
        rd_vec w = rd_vec_slice(rd_supernet_weights(s->net), 0, 1);
        float x;
        RD_TRY(rd_vec_read(s->ctx, &w, &x));
        x += 1e-3f;
        RD_TRY(rd_vec_write(s->ctx, &w, &x));
    }
    int every = s->opt->sync_check_every;
    if (every <= 0 || s->ranks == 1 || s->st.global_step % every) return RD_OK;
    rd_vec v[3] = {rd_supernet_weights(s->net), rd_supernet_bn_state(s->net), rd_supernet_alphas(s->net)};
    char what[96];
    snprintf(what, sizeof what, "parameters after step %lld", (long long)s->st.global_step);
    return rd_comm_check_vecs(s->comm, s->ctx, v, 3, what);
}

/* Between two units of work (s->st names the next): checkpoint first when
 * asked, then stop here, with a checkpoint, on an interrupt or the test's
 * step budget. */
static rd_status boundary(search *s, int checkpoint_first) {
    s->st.global_step++; /* a position too: advanced before it is checkpointed */
    RD_TRY(check_sync(s));
    int stop;
    RD_TRY(rd_run_should_stop_all(s->comm, s->opt->interrupt, s->opt->stop_after_steps, s->st.global_step, &stop, s->err));
    if (checkpoint_first || stop) RD_TRY(checkpoint(s));
    if (!stop) return RD_OK;
    s->interrupted = 1;
    say(s, "stopped after step %lld; checkpoint %s (continue with: radars search --resume %s)",
        (long long)s->st.global_step, s->ckpt, s->opt->run_dir);
    return RD_OK;
}

static rd_status append(search *s, rd_record *r) {
    if (!s->writer) {
        rd_record_free(r);
        return RD_OK;
    }
    return rd_metrics_append_free(s->metrics, r, s->err);
}

/* Predicted peak of a supernet over alive with active ops computing (NULL: all alive). */
static rd_status predict(search *s, const rd_arch_mask *alive, const rd_arch_mask *active, uint64_t *bytes) {
    rd_search_memory m;
    RD_TRY(rd_search_predict(s->ctx, s->cfg, &s->ncfg, alive, active, &m));
    *bytes = m.total;
    return RD_OK;
}

/* A supernet with weights for every op and activations for one path (the RL phase's, the
 * random draw's): the path (the largest op of path_ops per edge) and its predicted peak, with
 * the optimizer's state or, when nothing is trained, without. */
static rd_status single_path_plan(search *s, const rd_arch_mask *path_ops, int trained, rd_arch_mask *path,
                                  uint64_t *bytes) {
    rd_arch_mask all;
    rd_arch_mask_all(&all, &s->ncfg.ops);
    rd_largest_single_path(path_ops, &s->ncfg.ops, path);
    rd_search_memory m;
    RD_TRY(rd_search_predict(s->ctx, s->cfg, &s->rl_ncfg, &all, path, &m));
    *bytes = m.total - (trained ? 0 : m.optimizer);
    return RD_OK;
}

/* RADARS' condition: does DARTS over the ops alive now fit the cap? */
static rd_status darts_fits(search *s, int *fits, uint64_t *need) {
    RD_TRY(predict(s, &s->st.alive, NULL, need));
    *fits = *need <= s->cap;
    return RD_OK;
}

static void alive_names(const rd_opset *set, const rd_arch_mask *alive, rd_record *r) {
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

/* ---- what the metrics hold ---- */
/* What one sampled path scored. */
typedef struct rl_path_result {
    double reward, acc, train_acc, adv, ms, params, flops;
    float loss;
} rl_path_result;

static rd_status record_rl_sample(search *s, const rl_path_result *p) {
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "rl_sample");
    rd_record_int(r, "round", s->st.round);
    rd_record_int(r, "sample", s->st.sample);
    rd_record_double(r, "reward", p->reward);
    rd_record_double(r, "accuracy", p->acc);
    if (isfinite(p->train_acc)) rd_record_double(r, "train_accuracy", p->train_acc);
    rd_record_double(r, "advantage", p->adv);
    rd_record_double(r, "train_loss", p->loss);
    rd_record_double(r, "latency_ms", p->ms);
    rd_record_double(r, "params", p->params);
    rd_record_double(r, "flops", p->flops);
    rd_record_double(r, "entropy", rd_controller_entropy(&s->ctrl));
    return append(s, r);
}

/* A job's all-reduces so far (this rank's view: calls, bytes, seconds once the device had finished,
 * of which inside MPI_Allreduce, waiting for the slowest rank included). */
static void record_comm(const search *s, rd_record *r) {
    if (s->ranks == 1) return;
    rd_comm_stats cs = rd_comm_get_stats(s->comm);
    rd_record_int(r, "ranks", s->ranks);
    rd_record_int(r, "allreduces", cs.allreduces);
    rd_record_int(r, "allreduce_bytes", cs.bytes);
    rd_record_double(r, "allreduce_seconds", cs.seconds);
    rd_record_double(r, "allreduce_mpi_seconds", cs.mpi_seconds);
}

static rd_status record_rl_round(search *s, int removed, uint64_t need, double seconds) {
    rd_mem_stats ms = rd_mem_get_stats(s->ctx);
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "rl_round");
    rd_record_int(r, "round", s->st.round);
    rd_record_int(r, "removed", removed);
    rd_record_int(r, "predicted_darts_peak", (int64_t)need);
    rd_record_int(r, "measured_peak", (int64_t)ms.peak);
    rd_record_int(r, "cap", (int64_t)s->cap);
    rd_record_double(r, "seconds", seconds);
    rd_record_double(r, "entropy", rd_controller_entropy(&s->ctrl));
    rd_record_double(r, "baseline", s->ctrl.baseline);
    record_comm(s, r);
    alive_names(&s->ncfg.ops, &s->ctrl.alive, r);
    RD_TRY(append(s, r));
    int total_alive = 0, edges = 0;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++, edges++) total_alive += rd_arch_mask_count(&s->ctrl.alive, t, e);
    say(s, "RL round %d: mean reward baseline %.3f, removed %d ops, %d alive (%.1f per edge), DARTS would need %s, measured peak %s",
        s->st.round + 1, s->ctrl.baseline, removed, total_alive, (double)total_alive / edges, RD_BYTES(need),
        RD_BYTES(ms.peak));
    return RD_OK;
}

/* What one DARTS epoch saw (kept in the state: checkpoints carry it). */
typedef struct rd_search_epoch_sums epoch_sums;

static rd_status record_epoch(search *s, float lr, const epoch_sums *e, double eval_loss, double eval_acc,
                              const float *softmax) {
    const rd_search_config *c = s->cfg;
    int K = s->ncfg.ops.count;
    rd_genotype g;
    char geno[2048];
    float dw[2 * RD_CELL_EDGES * RD_MAX_OPS]; /* PC-DARTS ranks the softmax times the edge weights */
    RD_TRY(rd_supernet_derive_weights(s->net, dw));
    derive(s, dw, &s->st.alive, &g);
    rd_genotype_format(&g, geno, sizeof geno);
    rd_mem_stats ms = rd_mem_get_stats(s->ctx);
    double tl = e->n_train ? e->train_loss / e->n_train : NAN, ta = e->n_train ? (double)e->train_correct / e->n_train : NAN;
    double step_s = e->steps ? e->seconds / e->steps : NAN;
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "epoch");
    rd_record_int(r, "epoch", s->st.epoch + 1);
    rd_record_double(r, "lr", lr);
    rd_record_double(r, "train_loss", tl);
    rd_record_double(r, "train_acc", ta);
    rd_record_double(r, "search_valid_loss", e->n_valid ? e->valid_loss / e->n_valid : NAN);
    rd_record_double(r, "search_valid_acc", e->n_valid ? (double)e->valid_correct / e->n_valid : NAN);
    rd_record_double(r, "valid_loss", eval_loss);
    rd_record_double(r, "valid_acc", eval_acc);
    rd_record_double(r, "step_seconds", step_s);
    rd_record_int(r, "steps", e->steps);
    rd_record_int(r, "peak_bytes", (int64_t)ms.peak);
    rd_record_int(r, "predicted_bytes", (int64_t)s->predicted);
    record_comm(s, r);
    rd_record_matrix_f(r, "alphas_normal_softmax", softmax, RD_CELL_EDGES, (size_t)K);
    rd_record_matrix_f(r, "alphas_reduce_softmax", softmax + RD_CELL_EDGES * K, RD_CELL_EDGES, (size_t)K);
    rd_record_string(r, "genotype", geno);
    RD_TRY(append(s, r));
    say(s, "DARTS epoch %d/%d: lr %.4g, train loss %.4f acc %.2f%%, valid loss %.4f acc %.2f%%, %.2f s/step, peak %s",
        s->st.epoch + 1, c->epochs, lr, tl, 100 * ta, eval_loss, 100 * eval_acc, step_s, RD_BYTES(ms.peak));
    return RD_OK;
}

static rd_status record_final(search *s, const rd_search_result *res) {
    const rd_search_config *c = s->cfg;
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "final");
    rd_record_string(r, "strategy", rd_strategy_names[c->strategy]);
    rd_record_string(r, "genotype", res->genotype_text);
    if (isfinite(res->valid_accuracy)) rd_record_double(r, "valid_acc", res->valid_accuracy);
    rd_record_double(r, "rl_seconds", s->st.seconds[0]);
    rd_record_double(r, "darts_seconds", s->st.seconds[1]);
    rd_record_double(r, "total_seconds", res->seconds);
    rd_record_int(r, "peak_bytes", (int64_t)res->peak);
    rd_record_int(r, "predicted_bytes", (int64_t)s->predicted);
    rd_record_int(r, "cap", (int64_t)s->cap);
    rd_record_int(r, "rl_rounds", s->st.round);
    rd_record_int(r, "global_steps", s->st.global_step);
    if (c->max_skip_normal >= 0 || c->max_param_free_normal >= 0) rd_record_int(r, "guard_changes", res->guard_changes);
    alive_names(&s->ncfg.ops, &res->alive, r);
    return append(s, r);
}

/* The sampled path's validation accuracy and its forward time in ms (the first batch's,
 * measured on the device: the Pareto plot and MONAS' latency term use it). */
static rd_status reward_of_path(search *s, double *acc, double *ms) {
    rd_loader *al = s->loaders[A_LOADER];
    int correct = 0, n = 0;
    *ms = 0;
    for (int b = 0; b < s->cfg->rl_reward_batches; b++) {
        rd_batch vb;
        RD_TRY(rd_loader_next(al, &vb, s->err));
        double t = 0;
        if (b == 0) {
            RD_TRY(rd_finish(s->ctx));
            t = now();
        }
        RD_TRY(rd_supernet_forward(s->net, &vb.x, vb.labels, 1));
        float l;
        int c;
        RD_TRY(rd_supernet_read_loss(s->net, &l, &c)); /* waits for the device */
        if (b == 0) *ms = (now() - t) * 1e3;
        correct += c;
        n += vb.n;
    }
    *acc = (double)correct / n;
    return RD_OK;
}

/* The warm start's paths: on every edge, the next op of a shuffled cycle over its alive ops. */
typedef struct warm_cycles {
    int order[2][RD_CELL_EDGES][RD_MAX_OPS], n_alive[2][RD_CELL_EDGES];
    uint64_t rng;
} warm_cycles;

/* Path p (drawn in order p = 0, 1, ...): its mask, and its op of each edge as an index into the scores. */
static void warm_path(const search *s, warm_cycles *w, int p, rd_arch_mask *path, size_t *pick) {
    int K = s->ncfg.ops.count;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            int *o = w->order[t][e], m = 0;
            if (p == 0 || p % w->n_alive[t][e] == 0) { /* a new shuffled cycle over the alive ops */
                for (int k = 0; k < K; k++)
                    if (s->ctrl.alive.edge[t][e] >> k & 1) o[m++] = k;
                w->n_alive[t][e] = m;
                for (int i = m - 1; i > 0; i--) { /* Fisher-Yates: j uniform in 0..i */
                    int j = (int)(rd_splitmix64_uniform(&w->rng) * (i + 1)), x = o[i];
                    o[i] = o[j];
                    o[j] = x;
                }
            }
            int k = o[p % w->n_alive[t][e]];
            path->edge[t][e] = 1u << k;
            pick[t * RD_CELL_EDGES + e] = ((size_t)t * RD_CELL_EDGES + e) * K + k;
        }
}

/* The zero-cost warm start (rl.warm_start): before the first round, every alive op of
 * every edge is scored at initialisation by |d loss / d gate| of its output gate on the
 * paths that hold it (one training batch each, no weight updated; each edge cycles
 * through its ops in a shuffled order, so every op is scored equally often), then either
 * the rl.prune_per_round lowest-scored ops per edge are removed or the controller's
 * logits start from the scores. */
static rd_status warm_start(search *s) {
    const rd_search_config *c = s->cfg;
    int K = s->ncfg.ops.count, paths = c->warm_start_paths ? c->warm_start_paths : 4 * K, n_ranks = s->ranks;
    paths = (paths + n_ranks - 1) / n_ranks * n_ranks; /* whole waves: path p0 + r is rank r's */
    size_t n = (size_t)2 * RD_CELL_EDGES * K;
    double score[2 * RD_CELL_EDGES * RD_MAX_OPS] = {0}, count[2 * RD_CELL_EDGES * RD_MAX_OPS] = {0}, start = now();
    float g[2 * RD_CELL_EDGES * RD_MAX_OPS];
    warm_cycles w;
    w.rng = rd_mix64((uint64_t)c->seed ^ 0x7761726dull); /* "warm" */
    for (int p0 = 0; p0 < paths; p0 += n_ranks) {
        rd_arch_mask path, mine = {{{0}}};
        size_t pick[2 * RD_CELL_EDGES], my_pick[2 * RD_CELL_EDGES] = {0};
        for (int r = 0; r < n_ranks; r++) { /* every rank draws every path of the wave, and scores its own */
            warm_path(s, &w, p0 + r, &path, pick);
            if (r == s->rank) {
                mine = path;
                memcpy(my_pick, pick, sizeof pick);
            }
        }
        RD_TRY(rd_supernet_set_active(s->net, &mine));
        rd_batch tb;
        RD_TRY(rd_loader_next(s->loaders[W_LOADER], &tb, s->err));
        RD_TRY(rd_supernet_forward(s->net, &tb.x, tb.labels, 1));
        RD_TRY(rd_supernet_backward(s->net, RD_GRAD_ALPHAS));
        RD_TRY(rd_supernet_read_gate_grads(s->net, g));
        for (int r = 0; r < 2 * RD_CELL_EDGES; r++) {
            score[my_pick[r]] += fabs(g[my_pick[r]]);
            count[my_pick[r]]++;
        }
    }
    RD_TRY(rd_supernet_sync_bn_state(s->net));
    RD_TRY(rd_comm_sum_doubles(s->comm, score, (int)n, s->err));
    RD_TRY(rd_comm_sum_doubles(s->comm, count, (int)n, s->err));
    for (size_t i = 0; i < n; i++) score[i] = count[i] > 0 ? score[i] / count[i] : NAN;
    rd_controller_set_prior(&s->ctrl, score, c->warm_start_strength);
    int removed = 0;
    if (c->warm_start == RD_WARM_PRUNE) {
        removed = rd_controller_prune(&s->ctrl, c->prune_per_round, c->prune_fraction, c->min_ops_per_edge);
        memset(s->ctrl.logits, 0, sizeof s->ctrl.logits); /* the policy starts uniform over the survivors */
        s->st.alive = s->ctrl.alive;
    }
    double secs = now() - start;
    uint64_t peak = rd_mem_get_stats(s->ctx).peak;
    float sc[2 * RD_CELL_EDGES * RD_MAX_OPS];
    for (size_t i = 0; i < n; i++) sc[i] = (float)score[i];
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "warm_start");
    rd_record_string(r, "mode", c->warm_start == RD_WARM_PRUNE ? "prune" : "prior");
    rd_record_int(r, "paths", paths);
    rd_record_int(r, "removed", removed);
    rd_record_double(r, "seconds", secs);
    rd_record_int(r, "measured_peak", (int64_t)peak);
    rd_record_matrix_f(r, "score_normal", sc, RD_CELL_EDGES, (size_t)K);
    rd_record_matrix_f(r, "score_reduce", sc + RD_CELL_EDGES * K, RD_CELL_EDGES, (size_t)K);
    RD_TRY(append(s, r));
    say(s, "warm start (%s): %d paths scored at initialisation in %.1f s, peak %s; %s", rd_warm_names(c->warm_start),
        paths, secs, RD_BYTES(peak),
        removed ? "pruned the lowest-scored ops" : "the controller starts from the scores");
    if (removed) say(s, "warm start removed %d ops (%d per edge)", removed, removed / (2 * RD_CELL_EDGES));
    return RD_OK;
}

/* ---- RL phase: sample, train, reward, REINFORCE; prune (RADARS) ---- */
/* The controller, and a supernet holding weights for every op but activations
 * of one path only (resumed from the checkpoint when the run stopped in RL). */
static rd_status rl_begin(search *s) {
    const rd_search_config *c = s->cfg;
    rd_arch_mask all, path;
    rd_arch_mask_all(&all, &s->ncfg.ops);
    if (!s->have_ctrl) {
        /* random-ws trains the one-shot supernet on uniformly sampled paths: a policy that never learns */
        int uniform = c->strategy == RD_STRATEGY_RANDOM_WS;
        rd_controller_init(&s->ctrl, &all, s->ncfg.ops.count, (uint64_t)c->seed, uniform ? 0 : c->rl_lr,
                           c->rl_baseline_decay, uniform ? 0 : c->rl_entropy);
        s->have_ctrl = 1;
    }
    uint64_t need;
    RD_TRY(single_path_plan(s, &s->ctrl.alive, 1, &path, &need));
    if (need > s->cap)
        return rd_fail(s->err, RD_ERR_OVER_CAP, "RL phase: even one sampled path needs %s (predicted), cap %s",
                       RD_BYTES(need), RD_BYTES(s->cap));
    s->predicted = need;
    RD_TRY(rd_supernet_create(s->ctx, &s->rl_ncfg, &all, &path, (uint64_t)c->seed, &s->net));
    RD_TRY(rd_darts_create(s->ctx, s->net, c, &s->darts));
    rd_darts_set_sum_grads(s->darts, 1); /* each rank trains its own path */
    RD_TRY(shard_loaders(s, RD_SHARD_BATCHES));
    if (s->resume && s->st.phase == RD_PHASE_RL) {
        rd_checkpoint_parts parts = {s->net, s->darts, &s->ctrl, NULL, NULL, NULL, 0};
        RD_TRY(rd_checkpoint_load(s->ckpt, &parts, s->err));
    }
    s->t0 = now();
    s->seconds_before = s->st.seconds[0];
    /* before anything else of the phase (a resumed run has it in its controller already) */
    if (c->warm_start != RD_WARM_NONE && s->st.global_step == 0 && s->st.round == 0 && s->st.sample == 0)
        RD_TRY(warm_start(s));
    return RD_OK;
}

/* One wave: every rank one sampled path (all ranks draw all of the wave's paths from the
 * same policy, in the same order, and each takes its own), a few weight steps on it (the
 * ranks' weight gradients summed: each path's ops get their own gradient, as if the paths
 * had trained one after another from the same weights), its reward; then every rank
 * applies the wave's REINFORCE updates in path order, so the policies stay identical.
 * One rank: one sample. Reward: validation accuracy, minus MONAS' costs (latency,
 * parameters, FLOPs) and UNAS' generalisation gap (training accuracy over the path's steps
 * - validation). */
static rd_status rl_wave_run(search *s, int (*choice)[2][RD_CELL_EDGES], rl_path_result *all, float *loss) {
    const rd_search_config *c = s->cfg;
    rd_arch_mask path, mine;
    for (int r = 0; r < s->ranks; r++) {
        rd_controller_sample(&s->ctrl, choice[r], &path);
        if (r == s->rank) mine = path;
    }
    RD_TRY(rd_supernet_set_active(s->net, &mine));
    *loss = 0;
    int64_t train_correct = 0, train_n = 0;
    for (int t = 0; t < c->rl_train_steps; t++) {
        rd_batch tb;
        int correct;
        RD_TRY(rd_loader_next(s->loaders[W_LOADER], &tb, s->err));
        RD_TRY(rd_darts_weight_step(s->darts, &tb, (float)c->w_lr, loss, &correct));
        train_correct += correct;
        train_n += tb.n;
    }
    rl_path_result p = {0};
    RD_TRY(reward_of_path(s, &p.acc, &p.ms));
    rd_supernet_active_cost(s->net, &p.params, &p.flops);
    p.train_acc = train_n ? (double)train_correct / train_n : NAN;
    double gap = train_n ? p.train_acc - p.acc : 0;
    p.reward = p.acc - c->latency_weight * p.ms - c->params_weight * p.params / 1e6 -
               c->flops_weight * p.flops / 1e9 - c->gap_weight * gap;
    p.loss = *loss;
    RD_TRY(rd_supernet_sync_bn_state(s->net));
    RD_TRY(rd_comm_allgather(s->comm, &p, all, sizeof p, s->err));
    int first = s->st.sample;
    for (int r = 0; r < s->ranks; r++) {
        all[r].adv = rd_controller_update(&s->ctrl, choice[r], all[r].reward);
        s->st.sample = first + r; /* the record's position */
        RD_TRY(record_rl_sample(s, &all[r]));
    }
    s->st.sample = first + s->ranks;
    return RD_OK;
}

static rd_status rl_wave(search *s, float *loss) {
    int (*choice)[2][RD_CELL_EDGES] = malloc((size_t)s->ranks * sizeof *choice);
    rl_path_result *all = malloc((size_t)s->ranks * sizeof *all);
    rd_status st = choice && all ? rl_wave_run(s, choice, all, loss)
                                 : rd_fail(s->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    free(choice);
    free(all);
    return st;
}

/* One round: the remaining waves of samples, then (RADARS) pruning, recorded and checkpointed. */
static rd_status rl_round(search *s, int prune) {
    const rd_search_config *c = s->cfg;
    double start = now();
    int first = s->st.sample;
    while (s->st.sample < c->rl_samples) {
        float loss;
        RD_TRY(rl_wave(s, &loss));
        if (s->opt->observer.progress) {
            double el = now() - start;
            int done = s->st.sample;
            s->opt->observer.progress(s->opt->observer.user, "RL", done, c->rl_samples, loss,
                                      (done - first) * (double)c->rl_train_steps * c->batch / el,
                                      el / (done - first) * (c->rl_samples - done));
        }
        if (s->st.sample == c->rl_samples) break; /* the round's end is checkpointed below */
        RD_TRY(boundary(s, 0));
        if (s->interrupted) return RD_OK;
    }
    int removed = prune ? rd_controller_prune(&s->ctrl, c->prune_per_round, c->prune_fraction, c->min_ops_per_edge) : 0;
    s->st.alive = s->ctrl.alive;
    uint64_t need;
    RD_TRY(predict(s, &s->st.alive, NULL, &need));
    RD_TRY(record_rl_round(s, removed, need, now() - start));
    s->st.sample = 0;
    s->st.round++;
    return boundary(s, 1);
}

/* The RL phase's end: its time, and a checkpoint the DARTS phase starts from. */
static rd_status rl_end(search *s) {
    s->st.seconds[0] = phase_seconds(s);
    return checkpoint(s);
}

/* ---- DARTS phase ---- */
/* A supernet over the surviving ops (the RL phase's objects freed first, so
 * the two never share the device), from the RL phase's shared weights or the
 * checkpoint of an interrupted DARTS phase; refused, before anything is built,
 * when the memory model says it does not fit. */
static rd_status darts_begin(search *s, int from_rl) {
    const rd_search_config *c = s->cfg;
    rd_search_memory m;
    RD_TRY(rd_search_predict(s->ctx, c, &s->ncfg, &s->st.alive, NULL, &m));
    s->predicted = m.total;
    const char *dnas = s->ncfg.pc_k > 1 ? "PC-DARTS" : "DARTS";
    if (m.total > s->cap)
        return rd_fail(s->err, RD_ERR_OVER_CAP,
                       "%s over this op space needs %s (predicted: %s activations, %s weights+grads, %s other), "
                       "cap %s: use --strategy radars, a smaller batch / C / layers, or a higher --mem-cap",
                       dnas, RD_BYTES(m.total), RD_BYTES(m.net.activations), RD_BYTES(m.net.weights + m.net.grads),
                       RD_BYTES(m.total - m.net.activations - m.net.weights - m.net.grads), RD_BYTES(s->cap));
    say(s, "%s phase: predicted peak %s of cap %s", dnas, RD_BYTES(m.total), RD_BYTES(s->cap));
    rd_darts_free(s->darts);
    s->darts = NULL;
    rd_supernet_free(s->net);
    s->net = NULL;
    RD_TRY(rd_supernet_create(s->ctx, &s->ncfg, &s->st.alive, NULL, (uint64_t)c->seed + 1, &s->net));
    RD_TRY(rd_darts_create(s->ctx, s->net, c, &s->darts));
    RD_TRY(shard_loaders(s, RD_SHARD_ROWS));
    if (from_rl) {
        int copied = 0;
        RD_TRY(rd_comm_barrier(s->comm, s->err)); /* rank 0 has written the RL phase's checkpoint */
        RD_TRY(rd_checkpoint_load_shared(s->ckpt, s->net, &copied, s->err));
        say(s, "DARTS phase starts from the RL phase's shared weights (%d tensors)", copied);
    } else if (s->resume && s->st.phase == RD_PHASE_DARTS) {
        rd_checkpoint_parts parts = {s->net, s->darts, NULL, NULL, NULL, NULL, 0};
        RD_TRY(rd_checkpoint_load(s->ckpt, &parts, s->err));
    }
    s->st.phase = RD_PHASE_DARTS;
    s->t0 = now();
    s->seconds_before = s->st.seconds[1];
    return RD_OK;
}

static int64_t darts_steps_per_epoch(const search *s) {
    int64_t w = rd_loader_batches_per_epoch(s->loaders[W_LOADER]);
    int64_t a = rd_loader_batches_per_epoch(s->loaders[A_LOADER]);
    return s->cfg->steps_per_epoch > 0 ? s->cfg->steps_per_epoch : (a < w ? a : w);
}

/* One DARTS step: a weight batch and an alpha batch (no alpha batch in the architecture warm-up). */
static rd_status darts_step(search *s, float lr, epoch_sums *e, float *last_loss) {
    rd_batch tb, vb;
    rd_step_stats st;
    int arch = s->st.epoch >= s->cfg->arch_warmup_epochs;
    RD_TRY(rd_loader_next(s->loaders[W_LOADER], &tb, s->err));
    if (arch) RD_TRY(rd_loader_next(s->loaders[A_LOADER], &vb, s->err));
    RD_TRY(rd_darts_step(s->darts, &tb, arch ? &vb : NULL, lr, &st));
    if (!isfinite(st.train_loss) || !isfinite(st.valid_loss))
        return rd_fail(s->err, RD_ERR_NUMERIC, "DARTS epoch %d step %lld: the loss is not finite (lr %g)",
                       s->st.epoch + 1, (long long)s->st.step + 1, lr);
    e->train_loss += st.train_loss * st.n_train;
    e->valid_loss += st.valid_loss * st.n_valid;
    e->train_correct += st.train_correct;
    e->valid_correct += st.valid_correct;
    e->n_train += st.n_train;
    e->n_valid += st.n_valid;
    e->steps++;
    *last_loss = st.train_loss;
    return RD_OK;
}

/* The rest of the current epoch, then its evaluation and record. */
static rd_status darts_epoch(search *s, float *softmax) {
    const rd_search_config *c = s->cfg;
    int64_t steps = darts_steps_per_epoch(s);
    float lr = (float)rd_cosine_lr(c->w_lr, c->w_lr_min, s->st.epoch, c->epochs);
    epoch_sums *e = &s->st.sums;
    float last_loss = NAN;
    int64_t steps_before = e->steps;
    double start = now(), seconds_before = e->seconds;
    while (s->st.step < steps) {
        RD_TRY(darts_step(s, lr, e, &last_loss));
        e->seconds = seconds_before + (now() - start);
        s->st.step++;
        if (s->opt->observer.progress) {
            double el = now() - start;
            int64_t done = e->steps - steps_before;
            s->opt->observer.progress(s->opt->observer.user, "DARTS", s->st.step, steps, last_loss,
                                      done * 2.0 * c->batch / el, el / done * (steps - s->st.step));
        }
        if (s->st.step == steps) break; /* the epoch's end is checkpointed below */
        RD_TRY(boundary(s, c->checkpoint_every > 0 && s->st.step % c->checkpoint_every == 0));
        if (s->interrupted) return RD_OK;
    }
    double eval_loss, eval_acc;
    RD_TRY(rd_evaluate(s->net, s->loaders[E_LOADER], c->eval_batches, 0, &eval_loss, &eval_acc));
    RD_TRY(rd_supernet_read_alphas(s->net, NULL, softmax));
    RD_TRY(record_epoch(s, lr, e, eval_loss, eval_acc, softmax));
    memset(e, 0, sizeof *e);
    s->st.step = 0;
    s->st.epoch++;
    if (s->st.epoch == c->epochs) return checkpoint(s);
    return boundary(s, 1);
}

static rd_status darts(search *s, int from_rl) {
    RD_TRY(darts_begin(s, from_rl));
    float *softmax = malloc(sizeof(float) * 2 * RD_CELL_EDGES * s->ncfg.ops.count);
    if (!softmax) return rd_fail(s->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status st = RD_OK;
    while (st == RD_OK && !s->interrupted && s->st.epoch < s->cfg->epochs) st = darts_epoch(s, softmax);
    free(softmax);
    s->st.seconds[1] = phase_seconds(s);
    return st;
}

/* ---- the strategies ---- */
/* One RADARS round, because DARTS over the ops alive still needs more than the
 * cap; an error when rl.rounds are spent. */
static rd_status pruning_round(search *s, uint64_t need) {
    if (s->st.round == s->cfg->rl_rounds)
        return rd_fail(s->err, RD_ERR_OVER_CAP,
                       "RADARS: after %d RL rounds DARTS over the surviving ops still needs %s (predicted), cap %s: "
                       "raise rl.rounds or rl.prune_per_round, lower rl.min_ops_per_edge, or shrink the batch",
                       s->st.round, RD_BYTES(need), RD_BYTES(s->cap));
    if (s->st.sample == 0)
        say(s, "RL round %d: DARTS over the %s ops would need %s > cap %s", s->st.round + 1,
            s->st.round ? "surviving" : "alive", RD_BYTES(need), RD_BYTES(s->cap));
    return rl_round(s, 1);
}

/* RADARS: RL rounds prune the space until DARTS over what survives fits the cap, then DARTS. */
static rd_status radars(search *s) {
    int fits, from_rl = 0;
    uint64_t need;
    if (s->st.phase == RD_PHASE_RL) {
        RD_TRY(darts_fits(s, &fits, &need));
        if (fits && s->st.round == 0 && s->st.sample == 0) {
            say(s, "DARTS over all %d ops fits the cap (%s predicted): no pruning needed", s->ncfg.ops.count,
                RD_BYTES(need));
        } else {
            RD_TRY(rl_begin(s));
            RD_TRY(darts_fits(s, &fits, &need)); /* a warm start may have pruned */
            while (!fits) {
                RD_TRY(pruning_round(s, need));
                if (s->interrupted) return RD_OK;
                RD_TRY(darts_fits(s, &fits, &need));
            }
            RD_TRY(rl_end(s));
            from_rl = 1;
        }
    }
    return darts(s, from_rl);
}

/* The RL-only baseline: every round, no pruning; the policy's best path is the result.
 * random-ws trains its one-shot supernet the same way, with a uniform policy. */
static rd_status rl_only(search *s) {
    RD_TRY(rl_begin(s));
    while (s->st.round < s->cfg->rl_rounds) {
        RD_TRY(rl_round(s, 0));
        if (s->interrupted) return RD_OK;
    }
    return rl_end(s);
}

/* Draw number `draw` of i.i.d. uniform alphas from search.seed (draw 0: the random baseline's). */
static void draw_alphas(const search *s, int draw, float *a) {
    /* "random": a stream apart from the initialisation's */
    uint64_t rng = rd_mix64(((uint64_t)s->cfg->seed ^ 0x72616e646f6dull) + (uint64_t)draw);
    for (int i = 0; i < 2 * RD_CELL_EDGES * s->ncfg.ops.count; i++) a[i] = (float)rd_splitmix64_uniform(&rng);
}

/* The random baseline (Li & Talwalkar 2019): a genotype drawn uniformly from the
 * space under the same rules as every other strategy's. The alphas of an
 * untrained supernet (weights for every op, activations for one path, as the
 * RL phase's) are drawn i.i.d. uniform and derived as DARTS derives: on every
 * edge each op is equally likely the best non-`none` one, and the edges'
 * scores are i.i.d., so each node's two inputs are a uniform pair. Nothing is
 * trained; the checkpoint holds the alphas, so it names the same genotype. */
static rd_status random_genotype(search *s) {
    const rd_search_config *c = s->cfg;
    rd_arch_mask all, path;
    rd_arch_mask_all(&all, &s->ncfg.ops);
    RD_TRY(single_path_plan(s, &all, 0, &path, &s->predicted));
    if (s->predicted > s->cap)
        return rd_fail(s->err, RD_ERR_OVER_CAP, "random: the supernet holding the drawn alphas needs %s (predicted), cap %s",
                       RD_BYTES(s->predicted), RD_BYTES(s->cap));
    s->t0 = now();
    s->seconds_before = s->st.seconds[1];
    RD_TRY(rd_supernet_create(s->ctx, &s->rl_ncfg, &all, &path, (uint64_t)c->seed, &s->net));
    float a[2 * RD_CELL_EDGES * RD_MAX_OPS];
    draw_alphas(s, 0, a);
    return rd_supernet_write_alphas(s->net, a);
}

/* A run resumed after its search ended: the final supernet again, to evaluate. */
static rd_status reload_final(search *s) {
    const rd_search_config *c = s->cfg;
    if (c->strategy == RD_STRATEGY_RL || c->strategy == RD_STRATEGY_RANDOM || c->strategy == RD_STRATEGY_RANDOM_WS) {
        rd_arch_mask all, one;
        rd_arch_mask_all(&all, &s->ncfg.ops);
        int rl = c->strategy != RD_STRATEGY_RANDOM; /* trained: the plan holds the optimizer state */
        RD_TRY(single_path_plan(s, rl ? &s->ctrl.alive : &all, rl, &one, &s->predicted));
        RD_TRY(rd_supernet_create(s->ctx, &s->rl_ncfg, &all, &one, (uint64_t)c->seed, &s->net));
    } else {
        RD_TRY(predict(s, &s->st.alive, NULL, &s->predicted));
        RD_TRY(rd_supernet_create(s->ctx, &s->ncfg, &s->st.alive, NULL, (uint64_t)c->seed + 1, &s->net));
    }
    rd_checkpoint_parts parts = {s->net, NULL, NULL, NULL, NULL, NULL, 0};
    /* the final record names the final phase's prediction; the final checkpoint is written
     * again, with the search's time, not this process's clock */
    s->t0 = now();
    s->seconds_before = s->st.seconds[1];
    return rd_checkpoint_load(s->ckpt, &parts, s->err);
}

static rd_status write_text(search *s, const char *name, const char *text) {
    if (!s->writer) return RD_OK;
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, s->opt->run_dir, name, s->err));
    return rd_write_file_atomic(path, text, strlen(text), s->err);
}

/* ---- the result ---- */
/* The supernet's active ops for a genotype: its op on each chosen edge, `none` on the rest
 * (the search config refuses random-ws over a set without `none`). */
static void genotype_mask(const search *s, const rd_genotype *g, rd_arch_mask *m) {
    const rd_opset *set = &s->ncfg.ops;
    rd_edge_mask none = 1u << rd_opset_find(set, RD_OP_NONE);
    const rd_geno_cell *cells[2] = {&g->normal, &g->reduce};
    for (int t = 0; t < 2; t++) {
        for (int e = 0; e < RD_CELL_EDGES; e++) m->edge[t][e] = none;
        for (int i = 0; i < 2 * cells[t]->steps; i++) {
            m->edge[t][rd_cell_edge_row(i / 2, cells[t]->edges[i].input)] = 1u << rd_opset_find(set, cells[t]->edges[i].op);
        }
    }
}

/* A genotype as a path of the one-shot supernet: its validation loss and accuracy over the
 * same batches as every other (the evaluation loader set back to `at`), batch statistics as
 * the RL rewards use. */
static rd_status evaluate_path(search *s, const rd_genotype *g, const rd_loader_state *at, double *loss,
                               double *acc) {
    rd_arch_mask mask;
    genotype_mask(s, g, &mask);
    RD_TRY(rd_supernet_set_active(s->net, &mask));
    RD_TRY(rd_loader_set_state(s->loaders[E_LOADER], at, s->err));
    return rd_evaluate(s->net, s->loaders[E_LOADER], s->cfg->eval_batches, 1, loss, acc);
}

/* One drawn genotype (derived from alphas) on the shared weights. */
static rd_status evaluate_drawn(search *s, const float *alphas, const rd_loader_state *at, rd_genotype *g,
                                double *acc) {
    float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
    double loss;
    rd_genotype_alpha_weights(alphas, &s->ncfg.ops, NULL, w);
    derive(s, w, NULL, g);
    return evaluate_path(s, g, at, &loss, acc);
}

/* random-ws' result: search.ws_candidates genotypes drawn as the random baseline draws
 * them (the first is its genotype), each evaluated with the shared weights; the best
 * one's alphas go into the supernet, so the checkpoint names it (a resumed finished run
 * finds it there and evaluates only it). w: its weights for the derivation. */
static rd_status best_of_random(search *s, float *w, double *best_acc) {
    const rd_search_config *c = s->cfg;
    float a[2 * RD_CELL_EDGES * RD_MAX_OPS], best[2 * RD_CELL_EDGES * RD_MAX_OPS];
    size_t bytes = sizeof(float) * 2 * RD_CELL_EDGES * s->ncfg.ops.count;
    rd_loader_state at = rd_loader_get_state(s->loaders[E_LOADER]);
    rd_genotype g;
    int reloaded = s->st.phase == RD_PHASE_DONE, pick = 0;
    *best_acc = -1;
    if (reloaded) {
        RD_TRY(rd_supernet_read_alphas(s->net, best, NULL));
        RD_TRY(evaluate_drawn(s, best, &at, &g, best_acc));
    }
    for (int i = 0; !reloaded && i < c->ws_candidates; i++) {
        double acc;
        char text[2048];
        draw_alphas(s, i, a);
        RD_TRY(evaluate_drawn(s, a, &at, &g, &acc));
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "ws_candidate");
        rd_record_int(r, "candidate", i);
        rd_record_double(r, "valid_acc", acc);
        rd_record_string(r, "genotype", rd_genotype_format(&g, text, sizeof text));
        RD_TRY(append(s, r));
        if (acc > *best_acc) {
            *best_acc = acc;
            pick = i;
            memcpy(best, a, bytes);
        }
    }
    /* the checkpoint's evaluation position is the candidates' (a resumed finished run sees their batches) */
    RD_TRY(rd_loader_set_state(s->loaders[E_LOADER], &at, s->err));
    if (!reloaded) {
        RD_TRY(rd_supernet_write_alphas(s->net, best));
        say(s, "random-ws: best of %d random genotypes on the shared weights: candidate %d, valid accuracy %.2f%%",
            c->ws_candidates, pick, 100 * *best_acc);
    }
    rd_genotype_alpha_weights(best, &s->ncfg.ops, NULL, w);
    return RD_OK;
}

/* opt->score on the one-shot supernet, each over the same batches; they come after the final
 * record, so resuming the finished run again replaces them. */
static rd_status score_genotypes(search *s) {
    rd_loader_state at = rd_loader_get_state(s->loaders[E_LOADER]);
    for (int i = 0; i < s->opt->score_count; i++) {
        const rd_genotype *g = &s->opt->score[i];
        double loss, acc;
        char text[2048];
        RD_TRY(evaluate_path(s, g, &at, &loss, &acc));
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "ws_score");
        rd_record_int(r, "index", i);
        rd_record_double(r, "valid_acc", acc);
        rd_record_double(r, "valid_loss", loss);
        rd_record_string(r, "genotype", rd_genotype_format(g, text, sizeof text));
        RD_TRY(append(s, r));
        say(s, "score %d/%d on the shared weights: valid accuracy %.2f%%, loss %.4f", i + 1, s->opt->score_count,
            100 * acc, loss);
    }
    return RD_OK;
}

/* Refuses opt->score before any work unless every genotype is a path of this search's
 * one-shot supernet. */
static rd_status check_score(search *s) {
    const rd_search_config *c = s->cfg;
    if (!s->opt->score_count) return RD_OK;
    if (c->strategy != RD_STRATEGY_RL && c->strategy != RD_STRATEGY_RANDOM_WS)
        return rd_fail(s->err, RD_ERR_CONFIG, "scoring genotypes needs a one-shot supernet (search.strategy = rl or "
                       "random-ws), not '%s'", rd_strategy_names[c->strategy]);
    rd_supernet_config net; /* its cells and ops, as rd_search_supernet_config makes them (no data needed) */
    rd_supernet_config_default(&net);
    RD_TRY(rd_opset_parse(c->ops, &net.ops, s->err));
    if (rd_opset_find(&net.ops, RD_OP_NONE) < 0)
        return rd_fail(s->err, RD_ERR_CONFIG, "scoring genotypes needs 'none' in model.ops (the edges a genotype "
                       "does not use)");
    for (int i = 0; i < s->opt->score_count; i++) {
        const rd_geno_cell *cells[2] = {&s->opt->score[i].normal, &s->opt->score[i].reduce};
        for (int t = 0; t < 2; t++) {
            int concat_ok = cells[t]->n_concat == net.multiplier;
            for (int k = 0; concat_ok && k < cells[t]->n_concat; k++)
                concat_ok = cells[t]->concat[k] == 2 + net.steps - net.multiplier + k;
            if (cells[t]->steps != net.steps || !concat_ok)
                return rd_fail(s->err, RD_ERR_CONFIG, "genotype %d to score: its %s cell is not a path of the supernet's "
                               "(%d nodes, the last %d concatenated)", i + 1, t ? "reduce" : "normal", net.steps,
                               net.multiplier);
            for (int e = 0; e < 2 * cells[t]->steps; e++)
                if (rd_opset_find(&net.ops, cells[t]->edges[e].op) < 0)
                    return rd_fail(s->err, RD_ERR_CONFIG, "genotype %d to score: op '%s' is not in model.ops", i + 1,
                                   rd_op_name(cells[t]->edges[e].op));
        }
    }
    return RD_OK;
}

static rd_status finish(search *s, rd_search_result *res) {
    const rd_search_config *c = s->cfg;
    float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
    rd_arch_mask alive = s->st.alive;
    double loss;
    if (c->strategy == RD_STRATEGY_RL) {
        rd_controller_weights(&s->ctrl, w);
        alive = s->ctrl.alive;
        /* the policy's most likely path, evaluated with the shared weights */
        rd_arch_mask best;
        rd_controller_best(&s->ctrl, &best);
        RD_TRY(rd_supernet_set_active(s->net, &best));
        RD_TRY(rd_evaluate(s->net, s->loaders[E_LOADER], c->eval_batches, 1, &loss, &res->valid_accuracy));
    } else if (c->strategy == RD_STRATEGY_RANDOM_WS) {
        RD_TRY(best_of_random(s, w, &res->valid_accuracy));
    } else if (c->strategy == RD_STRATEGY_RANDOM) {
        /* the softmax over all ops, as the checkpoint's genotype takes it (the supernet's own
         * weighs its one active path only); no supernet was trained to evaluate */
        float a[2 * RD_CELL_EDGES * RD_MAX_OPS];
        RD_TRY(rd_supernet_read_alphas(s->net, a, NULL));
        rd_genotype_alpha_weights(a, &s->ncfg.ops, &alive, w);
        res->valid_accuracy = NAN;
    } else {
        RD_TRY(rd_supernet_derive_weights(s->net, w));
        RD_TRY(rd_evaluate(s->net, s->loaders[E_LOADER], c->eval_batches, 0, &loss, &res->valid_accuracy));
    }
    res->guard_changes = derive(s, w, &alive, &res->genotype);
    rd_genotype_format(&res->genotype, res->genotype_text, sizeof res->genotype_text);
    if (s->ranks > 1) { /* every rank derived it from its own copy of the parameters */
        RD_TRY(rd_comm_check_bytes(s->comm, res->genotype_text, strlen(res->genotype_text), "the final genotype", s->err));
        say(s, "all %d ranks derived the same genotype", s->ranks);
    }
    char json[2048], line[2100];
    rd_genotype_to_json(&res->genotype, json, sizeof json);
    snprintf(line, sizeof line, "%s\n", res->genotype_text);
    RD_TRY(write_text(s, "genotype.txt", line));
    snprintf(line, sizeof line, "%s\n", json);
    RD_TRY(write_text(s, "genotype.json", line));
    s->st.phase = RD_PHASE_DONE;
    RD_TRY(checkpoint(s));
    res->cap = s->cap;
    res->peak = rd_mem_get_stats(s->ctx).peak;
    res->predicted_peak = s->predicted;
    res->rl_rounds = s->st.round;
    res->alive = alive;
    res->seconds = s->st.seconds[0] + s->st.seconds[1];
    RD_TRY(record_final(s, res));
    if (res->guard_changes)
        say(s, "genotype guard (search.max_skip_normal = %d, search.max_param_free_normal = %d): took %d op%s from "
            "edges of the normal cell", c->max_skip_normal, c->max_param_free_normal, res->guard_changes,
            res->guard_changes > 1 ? "s" : "");
    say(s, "genotype: %s", res->genotype_text);
    return score_genotypes(s);
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
    return rd_config_text(&rd_search_schema, s->cfg, &s->config_text, s->err);
}

/* ---- the run ---- */
/* Each rank's cap comes from its own device; a job makes one decision for all of them
 * (whether DARTS fits, what to prune), so it plans against the smallest. */
static rd_status job_cap(search *s) {
    if (s->ranks == 1) return RD_OK;
    uint64_t *caps = malloc((size_t)s->ranks * sizeof *caps);
    if (!caps) return rd_fail(s->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status st = rd_comm_allgather(s->comm, &s->cap, caps, sizeof *caps, s->err);
    int least = 0;
    for (int r = 1; st == RD_OK && r < s->ranks; r++)
        if (caps[r] < caps[least]) least = r;
    if (st == RD_OK && caps[least] < s->cap)
        say(s, "memory cap of the job: %s, rank %d's (the smallest of the %d ranks')", RD_BYTES(caps[least]), least, s->ranks);
    if (st == RD_OK) s->cap = caps[least];
    free(caps);
    return st;
}

static rd_status start(search *s) {
    const rd_search_config *c = s->cfg;
    char path[4200];
    RD_TRY(rd_path_join(s->ckpt, sizeof s->ckpt, s->opt->run_dir, "checkpoint.safetensors", s->err));
    RD_TRY(config_text(s));
    RD_TRY(rd_path_join(path, sizeof path, s->opt->run_dir, "metrics.jsonl", s->err));
    RD_TRY(check_ranks(s));
    RD_TRY(rd_run_resumes(s->comm, s->ckpt, s->opt->resume, &s->resume, s->err));
    if (s->opt->resume && !s->resume && s->writer) {
        /* stopped before its first checkpoint: nothing recorded counts, the recipe is in the run directory */
        say(s, "%s holds no checkpoint yet: starting the search from the beginning", s->opt->run_dir);
        if (unlink(path) != 0 && errno != ENOENT)
            return rd_fail(s->err, RD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    }
    if (!s->resume) RD_TRY(write_text(s, "config.ini", s->config_text));
    if (s->resume) {
        RD_TRY(rd_checkpoint_peek(s->ckpt, &s->st, &s->ctrl, NULL, s->err));
        s->have_ctrl = s->ctrl.K > 0;
        /* records past the checkpoint are of work the resumed run redoes (it was killed) */
        if (s->writer) RD_TRY(rd_metrics_truncate(path, s->st.metrics_bytes, s->err));
    }
    if (s->writer) RD_TRY(rd_metrics_open(path, &s->metrics, s->err));
    const rd_device_info *dev = rd_ctx_device(s->ctx);
    s->cap = rd_search_cap(c, dev);
    RD_TRY(job_cap(s));
    say(s, "device %s: global memory %s, largest buffer %s; memory cap %s%s", dev->name, RD_BYTES(dev->global_mem),
        RD_BYTES(dev->max_alloc), RD_BYTES(s->cap), c->mem_cap ? " (set by the user)" : "");
    if (s->ranks > 1)
        say(s, "%d ranks (Open MPI): each takes %d of every batch of %d in the DARTS phase and its own paths in the "
            "RL phase; memory cap per rank, from its own device", s->ranks, c->batch / s->ranks, c->batch);
    RD_TRY(rd_mem_set_cap(s->ctx, s->cap));
    RD_TRY(setup_data(s));
    say(s, "data %s: %d training images (%lld train the weights, %lld the alphas), %dx%dx%d, %d classes",
        s->data.description ? s->data.description : c->dataset, s->data.n, (long long)s->wsub.n,
        (long long)s->asub.n, s->data.c, s->data.h, s->data.w, s->data.classes);
    if (!s->resume) {
        memset(&s->st, 0, sizeof s->st);
        rd_arch_mask_all(&s->st.alive, &s->ncfg.ops);
        int dnas_only = c->strategy == RD_STRATEGY_DARTS || c->strategy == RD_STRATEGY_PCDARTS;
        s->st.phase = dnas_only ? RD_PHASE_DARTS : RD_PHASE_RL;
        return RD_OK;
    }
    for (int i = 0; i < RD_SEARCH_LOADERS; i++) RD_TRY(rd_loader_set_state(s->loaders[i], &s->st.loaders[i], s->err));
    say(s, "resuming %s: phase %s, round %d, epoch %d, step %lld", s->opt->run_dir,
        s->st.phase == RD_PHASE_RL ? "RL" : s->st.phase == RD_PHASE_DARTS ? "DARTS" : "done", s->st.round,
        s->st.epoch, (long long)s->st.step);
    return RD_OK;
}

static rd_status run(search *s, rd_search_result *res) {
    RD_TRY(check_score(s));
    RD_TRY(start(s));
    if (s->st.phase != RD_PHASE_DONE) {
        switch (s->cfg->strategy) {
        case RD_STRATEGY_RADARS: RD_TRY(radars(s)); break;
        case RD_STRATEGY_DARTS:
        case RD_STRATEGY_PCDARTS: RD_TRY(darts(s, 0)); break; /* refused at once when over the cap */
        case RD_STRATEGY_RL: RD_TRY(rl_only(s)); break;
        case RD_STRATEGY_RANDOM: RD_TRY(random_genotype(s)); break;
        case RD_STRATEGY_RANDOM_WS: RD_TRY(rl_only(s)); break; /* uniform paths; the draw is in finish() */
        }
        if (s->interrupted) return RD_OK;
    } else {
        RD_TRY(reload_final(s));
    }
    RD_TRY(finish(s, res));
    return s->writer ? rd_search_write_report(s->opt->run_dir, s->err) : RD_OK;
}

rd_status rd_search_run(rd_ctx *ctx, const rd_search_config *cfg, const rd_search_options *opt,
                        rd_search_result *res, rd_err *err) {
    search s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    s.ctx = ctx;
    s.cfg = cfg;
    s.opt = opt;
    s.err = rd_ctx_err(ctx);
    s.comm = rd_ctx_comm(ctx);
    s.rank = rd_comm_rank(s.comm);
    s.ranks = rd_comm_size(s.comm);
    s.writer = s.rank == 0;
    rd_mem_reset_peak(ctx);
    rd_status st = run(&s, res);
    res->interrupted = s.interrupted;
    if (s.interrupted) {
        res->peak = rd_mem_get_stats(ctx).peak;
        res->cap = s.cap;
    }
    cleanup(&s);
    if (st != RD_OK && err != s.err) *err = *s.err;
    return st;
}
