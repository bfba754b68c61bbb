/* Search checkpoints: one safetensors file a PyTorch DARTS user can load
 * (supernet tensors under DARTS' names, nothing else) that also holds, in its
 * metadata, everything a resumed search needs to continue exactly where it stopped. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/search.h"
#include "runtime/c_locale.h"

enum { FORMAT_VERSION = 2 }; /* 2: optimizer state in a companion file (1: base64 metadata) */

/* host copies kept alive until the write */
typedef struct holder {
    void *p[16];
    int n;
} holder;

static void *hold(holder *h, size_t bytes) {
    if (h->n == 16) return NULL;
    return h->p[h->n++] = calloc(bytes ? bytes : 1, 1);
}

static void release(holder *h) {
    for (int i = 0; i < h->n; i++) free(h->p[i]);
    h->n = 0;
}

static rd_status read_vec(rd_ctx *ctx, rd_vec v, holder *h, float **out, rd_err *err) {
    *out = hold(h, v.len * sizeof(float));
    if (!*out) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    if (rd_vec_read(ctx, &v, *out) != RD_OK) {
        *err = *rd_ctx_err(ctx);
        return err->code;
    }
    return RD_OK;
}



/* Search state goes into "__metadata__" (strings), never into tensors, so the
 * file holds exactly the PyTorch model's state dict: PyTorch DARTS code loads
 * it with load_state_dict. Small binary vectors (controller logits) are base64
 * of little-endian values; the optimizer buffers, as large as the model, are
 * tensors of the companion file (rd_st_companion_write). */
static rd_status put_blob(rd_st_writer *w, const char *key, const void *data, size_t bytes, rd_err *err) {
    return rd_st_add_metadata_blob(w, key, data, bytes, err);
}

static rd_status get_blob(const rd_st_file *f, const char *path, const char *key, void *dst, size_t bytes, rd_err *err) {
    return rd_st_metadata_blob(f, path, key, dst, bytes, err);
}

static rd_status put_mask(rd_st_writer *w, const char *key, const rd_arch_mask *m, rd_err *err) {
    char buf[2 * RD_CELL_EDGES * 9 + 1];
    size_t o = 0;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%x", o ? " " : "", m->edge[t][e]);
    return rd_st_add_metadata(w, key, buf, err);
}

/* The checkpoint's op set (metadata 'ops'): masks and alphas are indexed by it. */
static rd_status read_opset(const rd_st_file *f, const char *path, rd_opset *set, rd_err *err) {
    const char *ops = rd_st_metadata(f, "ops");
    if (!ops || rd_opset_parse(ops, set, err) != RD_OK)
        return rd_fail(err, RD_ERR_FORMAT, "%s: missing or bad metadata 'ops' (not a radars-cl checkpoint?)", path);
    return RD_OK;
}

/* 28 hex edge masks, each naming at least one op and only ops of the set. */
static rd_status read_mask(const rd_st_file *f, const char *key, rd_arch_mask *m, const char *path, rd_err *err) {
    const char *v = rd_st_metadata(f, key);
    if (!v) return rd_fail(err, RD_ERR_FORMAT, "%s: no metadata '%s'", path, key);
    rd_opset set;
    RD_TRY(read_opset(f, path, &set, err));
    unsigned long all = set.count >= 32 ? 0xfffffffful : (1ul << set.count) - 1;
    for (int i = 0; i < 2 * RD_CELL_EDGES; i++) {
        char *end;
        unsigned long x = strtoul(v, &end, 16);
        if (end == v || x == 0 || x > 0xffffffffu) return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata '%s'", path, key);
        if (x & ~all)
            return rd_fail(err, RD_ERR_FORMAT, "%s: metadata '%s': edge %d names ops beyond the %d of the set", path,
                           key, i, set.count);
        m->edge[i / RD_CELL_EDGES][i % RD_CELL_EDGES] = (rd_edge_mask)x;
        v = end;
    }
    return RD_OK;
}

static rd_status write_all(const char *path, const rd_checkpoint_parts *parts, rd_st_writer *w, holder *h,
                           char *optim, size_t optim_len, rd_err *err) {
    rd_supernet *net = parts->net;
    rd_ctx *ctx = rd_supernet_context(net);
    const rd_supernet_config *c = rd_supernet_get_config(net);
    float *weights, *bn, *alphas;
    RD_TRY(read_vec(ctx, rd_supernet_weights(net), h, &weights, err));
    RD_TRY(read_vec(ctx, rd_supernet_bn_state(net), h, &bn, err));
    RD_TRY(read_vec(ctx, rd_supernet_alphas(net), h, &alphas, err));
    int n;
    const rd_named_tensor *names = rd_supernet_named_tensors(net, &n);
    for (int i = 0; i < n; i++) {
        const rd_named_tensor *t = &names[i];
        const float *base = t->kind == RD_PARAM_WEIGHT ? weights : t->kind == RD_PARAM_BN_STATE ? bn : alphas;
        int64_t shape[4];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        RD_TRY(rd_st_add(w, t->name, RD_ST_F32, t->ndim, shape, base + t->offset, err));
    }
    if (parts->darts) {
        float *mom, *am, *av;
        RD_TRY(read_vec(ctx, rd_darts_momentum(parts->darts), h, &mom, err));
        RD_TRY(read_vec(ctx, rd_darts_adam_m(parts->darts), h, &am, err));
        RD_TRY(read_vec(ctx, rd_darts_adam_v(parts->darts), h, &av, err));
        int64_t nw = (int64_t)rd_supernet_weights(net).len, na = (int64_t)rd_supernet_alphas(net).len;
        rd_st_writer *ow;
        RD_TRY(rd_st_writer_create(&ow, err));
        rd_status s = rd_st_add(ow, "sgd_momentum", RD_ST_F32, 1, &nw, mom, err);
        if (s == RD_OK) s = rd_st_add(ow, "adam_m", RD_ST_F32, 1, &na, am, err);
        if (s == RD_OK) s = rd_st_add(ow, "adam_v", RD_ST_F32, 1, &na, av, err);
        if (s == RD_OK) s = rd_st_companion_write(ow, path, optim, optim_len, err);
        rd_st_writer_free(ow);
        RD_TRY(s);
        RD_TRY(rd_st_add_metadata(w, "optimizer", optim, err));
        RD_TRY(rd_st_add_metadataf(w, "adam_step", err, "%d", rd_darts_adam_steps(parts->darts)));
    }
    RD_TRY(put_mask(w, "supernet_alive", rd_supernet_alive(net), err));
    if (parts->controller) {
        rd_controller *k = parts->controller;
        RD_TRY(put_blob(w, "controller_logits", k->logits, sizeof k->logits, err));
        RD_TRY(put_mask(w, "controller_alive", &k->alive, err));
        RD_TRY(rd_st_add_metadataf(w, "controller", err, "%.17g %d %" PRIu64 " %.17g %.17g %.17g", k->baseline, k->have_baseline,
                    k->rng, k->lr, k->baseline_decay, k->entropy_weight));
    }
    if (parts->state) {
        rd_search_state *s = parts->state;
        RD_TRY(put_mask(w, "search_alive", &s->alive, err));
        RD_TRY(rd_st_add_metadataf(w, "state", err, "%d %d %d %d %" PRId64 " %" PRId64 " %.17g %.17g", s->phase, s->round, s->sample,
                    s->epoch, s->step, s->global_step, s->seconds[0], s->seconds[1]));
        RD_TRY(rd_st_add_metadataf(w, "metrics_bytes", err, "%" PRId64, s->metrics_bytes));
        const struct rd_search_epoch_sums *e = &s->sums;
        RD_TRY(rd_st_add_metadataf(w, "epoch_sums", err, "%.17g %.17g %.17g %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64,
                                   e->train_loss, e->valid_loss, e->seconds, e->train_correct, e->valid_correct,
                                   e->n_train, e->n_valid, e->steps));
        for (int i = 0; i < RD_SEARCH_LOADERS; i++) {
            char key[32];
            snprintf(key, sizeof key, "loader%d", i);
            RD_TRY(rd_st_add_metadataf(w, key, err, "%" PRIu64 " %" PRId64 " %" PRId64, s->loaders[i].seed, s->loaders[i].epoch,
                        s->loaders[i].position));
        }
    }
    char ops[1024] = "";
    for (int k = 0; k < c->ops.count; k++) {
        if (k) strncat(ops, ",", sizeof ops - strlen(ops) - 1);
        strncat(ops, rd_op_name(c->ops.ops[k]), sizeof ops - strlen(ops) - 1);
    }
    RD_TRY(rd_st_add_metadataf(w, "format", err, "radars-cl checkpoint %d", FORMAT_VERSION));
    RD_TRY(rd_st_add_metadata(w, "ops", ops, err));
    RD_TRY(rd_st_add_metadataf(w, "supernet", err, "C=%d layers=%d steps=%d multiplier=%d stem_multiplier=%d input=%dx%dx%d classes=%d batch=%d",
                c->C, c->layers, c->steps, c->multiplier, c->stem_multiplier, c->in_channels, c->in_h, c->in_w,
                c->classes, c->batch));
    if (parts->config_text) RD_TRY(rd_st_add_metadata(w, "config", parts->config_text, err));
    if (parts->genotype) RD_TRY(rd_st_add_metadata(w, "genotype", parts->genotype, err));
    RD_TRY(rd_st_add_metadata(w, "genotype_source", parts->genotype_from_controller ? "controller" : "alphas", err));
    return rd_st_write(w, path, err);
}

rd_status rd_checkpoint_save(const char *path, const rd_checkpoint_parts *parts, rd_err *err) {
    rd_st_writer *w;
    RD_TRY(rd_st_writer_create(&w, err));
    holder h = {{0}, 0};
    char optim[1200] = "";
    rd_status s = write_all(path, parts, w, &h, optim, sizeof optim, err);
    rd_st_writer_free(w);
    release(&h);
    if (s == RD_OK) rd_st_companion_prune(path, optim[0] ? optim : NULL);
    else if (optim[0]) rd_st_companion_remove(path, optim);
    return s;
}

/* ---- reading ---- */
static rd_status read_state_c(const rd_st_file *f, const char *path, rd_search_state *s, rd_err *err) {
    memset(s, 0, sizeof *s);
    const char *st = rd_st_metadata(f, "state");
    if (!st) return rd_fail(err, RD_ERR_FORMAT, "%s: no search state in the metadata (not a search checkpoint?)", path);
    /* positions are counts and times are durations: anything negative or not finite is corrupt */
    if (sscanf(st, "%d %d %d %d %" SCNd64 " %" SCNd64 " %lf %lf", &s->phase, &s->round, &s->sample, &s->epoch, &s->step,
               &s->global_step, &s->seconds[0], &s->seconds[1]) != 8 ||
        s->phase < RD_PHASE_RL || s->phase > RD_PHASE_DONE || s->round < 0 || s->sample < 0 || s->epoch < 0 ||
        s->step < 0 || s->global_step < 0 || !(s->seconds[0] >= 0 && s->seconds[0] < 1e12) ||
        !(s->seconds[1] >= 0 && s->seconds[1] < 1e12))
        return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'state' = '%.200s'", path, st);
    for (int i = 0; i < RD_SEARCH_LOADERS; i++) {
        char key[32];
        snprintf(key, sizeof key, "loader%d", i);
        const char *v = rd_st_metadata(f, key);
        if (!v || sscanf(v, "%" SCNu64 " %" SCNd64 " %" SCNd64, &s->loaders[i].seed, &s->loaders[i].epoch,
                         &s->loaders[i].position) != 3 || s->loaders[i].epoch < 0 || s->loaders[i].position < 0)
            return rd_fail(err, RD_ERR_FORMAT, "%s: missing or malformed metadata '%s'", path, key);
    }
    const char *mb = rd_st_metadata(f, "metrics_bytes"); /* absent before format 2 */
    s->metrics_bytes = -1;
    if (mb && (sscanf(mb, "%" SCNd64, &s->metrics_bytes) != 1 || s->metrics_bytes < -1))
        return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'metrics_bytes'", path);
    const char *es = rd_st_metadata(f, "epoch_sums"); /* absent before format 2: the epoch starts its totals afresh */
    struct rd_search_epoch_sums *e = &s->sums;
    if (es && (sscanf(es, "%lf %lf %lf %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &e->train_loss,
                      &e->valid_loss, &e->seconds, &e->train_correct, &e->valid_correct, &e->n_train, &e->n_valid,
                      &e->steps) != 8 ||
               !isfinite(e->train_loss) || !isfinite(e->valid_loss) || !(e->seconds >= 0) || e->train_correct < 0 ||
               e->valid_correct < 0 || e->n_train < e->train_correct || e->n_valid < e->valid_correct || e->steps < 0))
        return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'epoch_sums'", path);
    return read_mask(f, "search_alive", &s->alive, path, err);
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
static rd_status read_state(const rd_st_file *f, const char *path, rd_search_state *s, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = read_state_c(f, path, s, err);
    RD_C_LOCALE_END;
    return r_;
}

static rd_status read_controller_c(const rd_st_file *f, const char *path, rd_controller *k, rd_err *err) {
    const char *v = rd_st_metadata(f, "controller");
    if (!v) return rd_fail(err, RD_ERR_FORMAT, "%s: no controller in the checkpoint", path);
    if (sscanf(v, "%lf %d %" SCNu64 " %lf %lf %lf", &k->baseline, &k->have_baseline, &k->rng, &k->lr,
               &k->baseline_decay, &k->entropy_weight) != 6 ||
        !isfinite(k->baseline) || (k->have_baseline != 0 && k->have_baseline != 1) || !isfinite(k->lr) ||
        !(k->baseline_decay >= 0 && k->baseline_decay <= 1) || !isfinite(k->entropy_weight))
        return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'controller' = '%.200s'", path, v);
    RD_TRY(get_blob(f, path, "controller_logits", k->logits, sizeof k->logits, err));
    for (size_t i = 0; i < sizeof k->logits / sizeof k->logits[0][0][0]; i++)
        if (!isfinite((&k->logits[0][0][0])[i]))
            return rd_fail(err, RD_ERR_FORMAT, "%s: metadata 'controller_logits' holds a value that is not finite", path);
    RD_TRY(read_mask(f, "controller_alive", &k->alive, path, err));
    rd_opset set;
    RD_TRY(read_opset(f, path, &set, err));
    k->K = set.count;
    return RD_OK;
}

static rd_status read_controller(const rd_st_file *f, const char *path, rd_controller *k, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = read_controller_c(f, path, k, err);
    RD_C_LOCALE_END;
    return r_;
}

rd_status rd_checkpoint_peek(const char *path, rd_search_state *state, rd_controller *controller, char **config_text,
                             rd_err *err) {
    rd_st_file *f;
    RD_TRY(rd_st_open(path, &f, err));
    rd_status s = RD_OK;
    if (state) s = read_state(f, path, state, err);
    if (s == RD_OK && controller && rd_st_metadata(f, "controller")) s = read_controller(f, path, controller, err);
    if (s == RD_OK && config_text) {
        const char *c = rd_st_metadata(f, "config");
        *config_text = c ? strdup(c) : NULL;
        if (!c) s = rd_fail(err, RD_ERR_FORMAT, "%s: no config in the metadata", path);
    }
    rd_st_close(f);
    return s;
}

static rd_status upload(rd_ctx *ctx, rd_vec v, const float *host, rd_err *err) {
    if (rd_vec_write(ctx, &v, host) != RD_OK) {
        *err = *rd_ctx_err(ctx);
        return err->code;
    }
    return RD_OK;
}

/* An optimizer buffer, from the companion (or an older checkpoint's metadata), onto the device. */
static rd_status load_vec(const rd_st_file *f, const rd_st_file *optim, const char *path, const char *key, rd_ctx *ctx,
                          rd_vec v, rd_err *err) {
    float *host = malloc(v.len * sizeof(float) + 1);
    if (!host) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    rd_status s = rd_st_optimizer_read(f, optim, path, key, host, v.len, err);
    if (s == RD_OK) s = upload(ctx, v, host, err);
    free(host);
    return s;
}

static rd_status load_net(const rd_st_file *f, const char *path, rd_supernet *net, rd_err *err) {
    rd_ctx *ctx = rd_supernet_context(net);
    rd_vec vecs[3] = {rd_supernet_weights(net), rd_supernet_bn_state(net), rd_supernet_alphas(net)};
    float *host[3];
    for (int i = 0; i < 3; i++) {
        host[i] = malloc(vecs[i].len * sizeof(float) + 1);
        if (!host[i]) {
            for (int j = 0; j < i; j++) free(host[j]);
            return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        }
    }
    int n;
    const rd_named_tensor *names = rd_supernet_named_tensors(net, &n);
    rd_status s = RD_OK;
    for (int i = 0; i < n && s == RD_OK; i++) {
        const rd_named_tensor *t = &names[i];
        int64_t shape[4];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (!rd_st_find(f, t->name)) {
            s = rd_fail(err, RD_ERR_FORMAT, "%s: no tensor '%s' (is it a checkpoint of this supernet?)", path, t->name);
            break;
        }
        s = rd_st_read(f, t->name, RD_ST_F32, t->ndim, shape, host[t->kind] + t->offset, t->count * sizeof(float), err);
    }
    for (int i = 0; i < 3 && s == RD_OK; i++) s = upload(ctx, vecs[i], host[i], err);
    for (int i = 0; i < 3; i++) free(host[i]);
    if (s == RD_OK && rd_supernet_update_weights_softmax(net) != RD_OK) {
        *err = *rd_ctx_err(ctx);
        s = err->code;
    }
    return s;
}

rd_status rd_checkpoint_load(const char *path, const rd_checkpoint_parts *parts, rd_err *err) {
    rd_st_file *f;
    RD_TRY(rd_st_open(path, &f, err));
    rd_status s = load_net(f, path, parts->net, err);
    rd_ctx *ctx = rd_supernet_context(parts->net);
    if (s == RD_OK && parts->darts) {
        rd_st_file *optim = NULL;
        s = rd_st_companion_open(f, path, &optim, err);
        if (s == RD_OK) s = load_vec(f, optim, path, "sgd_momentum", ctx, rd_darts_momentum(parts->darts), err);
        if (s == RD_OK) s = load_vec(f, optim, path, "adam_m", ctx, rd_darts_adam_m(parts->darts), err);
        if (s == RD_OK) s = load_vec(f, optim, path, "adam_v", ctx, rd_darts_adam_v(parts->darts), err);
        rd_st_close(optim);
        const char *v = rd_st_metadata(f, "adam_step");
        int steps = 0;
        if (s == RD_OK && (!v || sscanf(v, "%d", &steps) != 1 || steps < 0))
            s = rd_fail(err, RD_ERR_FORMAT, "%s: missing or invalid metadata 'adam_step'", path);
        if (s == RD_OK) rd_darts_set_adam_steps(parts->darts, steps);
    }
    if (s == RD_OK && parts->controller) s = read_controller(f, path, parts->controller, err);
    if (s == RD_OK && parts->state) s = read_state(f, path, parts->state, err);
    rd_st_close(f);
    return s;
}

/* The recipe's genotype guard, from the config the checkpoint holds (none: off). */
static rd_status stored_guard(rd_st_file *f, const char *path, rd_geno_guard *guard, rd_err *err) {
    guard->max_skip = guard->max_param_free = -1;
    const char *text = rd_st_metadata(f, "config");
    if (!text) return RD_OK;
    rd_search_config *c = malloc(sizeof *c);
    if (!c) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    rd_status s = rd_config_defaults(&rd_search_schema, c, err);
    if (s == RD_OK) s = rd_config_load_string(&rd_search_schema, text, path, c, err);
    if (s == RD_OK) *guard = (rd_geno_guard){c->max_skip_normal, c->max_param_free_normal};
    free(c);
    return s == RD_OK ? RD_OK : rd_err_prefix(err, "metadata 'config'");
}

rd_status rd_checkpoint_genotype(const char *path, const rd_geno_guard *want, rd_genotype *out, rd_err *err) {
    rd_st_file *f;
    RD_TRY(rd_st_open(path, &f, err));
    rd_status s = RD_OK;
    const char *sn = rd_st_metadata(f, "supernet");
    rd_opset set;
    int steps = RD_CELL_NODES, multiplier = RD_CELL_NODES;
    s = read_opset(f, path, &set, err);
    const char *p;
    if (s == RD_OK && sn && (p = strstr(sn, "steps="))) steps = atoi(p + 6);
    if (s == RD_OK && sn && (p = strstr(sn, "multiplier="))) multiplier = atoi(p + 11);
    /* the supernet has exactly RD_CELL_NODES nodes (its alphas: RD_CELL_EDGES rows) */
    if (s == RD_OK && (steps != RD_CELL_NODES || multiplier < 1 || multiplier > steps))
        s = rd_fail(err, RD_ERR_FORMAT, "%s: bad metadata 'supernet' = '%s' (steps must be %d)", path, sn,
                    RD_CELL_NODES);
    const char *source = rd_st_metadata(f, "genotype_source");
    int from_controller = source && !strcmp(source, "controller");
    float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
    rd_arch_mask alive;
    rd_geno_guard guard;
    if (s == RD_OK) s = stored_guard(f, path, &guard, err);
    if (want && want->max_skip != RD_GUARD_STORED) guard.max_skip = want->max_skip;
    if (want && want->max_param_free != RD_GUARD_STORED) guard.max_param_free = want->max_param_free;
    if (s == RD_OK && from_controller) {
        rd_controller c;
        memset(&c, 0, sizeof c);
        s = read_controller(f, path, &c, err);
        if (s == RD_OK) {
            rd_controller_weights(&c, w);
            rd_genotype_guarded(w, &set, &c.alive, steps, multiplier, &guard, out);
        }
    } else if (s == RD_OK) {
        int K = set.count;
        int64_t shape[2] = {RD_CELL_EDGES, K};
        s = rd_st_read(f, "alphas_normal", RD_ST_F32, 2, shape, w, sizeof(float) * RD_CELL_EDGES * K, err);
        if (s == RD_OK)
            s = rd_st_read(f, "alphas_reduce", RD_ST_F32, 2, shape, w + RD_CELL_EDGES * K, sizeof(float) * RD_CELL_EDGES * K, err);
        if (s == RD_OK) {
            if (rd_st_metadata(f, "supernet_alive")) s = read_mask(f, "supernet_alive", &alive, path, err);
            else rd_arch_mask_all(&alive, &set);
        }
        /* a PC-DARTS supernet's betas weigh its edges */
        float b[2 * RD_CELL_EDGES];
        int64_t bshape[1] = {RD_CELL_EDGES};
        int pc = s == RD_OK && rd_st_find(f, "betas_normal");
        if (pc) s = rd_st_read(f, "betas_normal", RD_ST_F32, 1, bshape, b, sizeof(float) * RD_CELL_EDGES, err);
        if (pc && s == RD_OK)
            s = rd_st_read(f, "betas_reduce", RD_ST_F32, 1, bshape, b + RD_CELL_EDGES, sizeof(float) * RD_CELL_EDGES, err);
        for (int i = 0; pc && s == RD_OK && i < 2 * RD_CELL_EDGES; i++)
            if (!isfinite(b[i])) s = rd_fail(err, RD_ERR_FORMAT, "%s: tensor 'betas_%s' holds a value that is not finite",
                                             path, i < RD_CELL_EDGES ? "normal" : "reduce");
        if (s == RD_OK) rd_genotype_derive_alphas(w, pc ? b : NULL, &set, &alive, steps, multiplier, &guard, out);
    }
    rd_st_close(f);
    return s;
}

rd_status rd_supernet_copy_shared(rd_supernet *dst, rd_supernet *src, int *copied, rd_err *err) {
    rd_ctx *sctx = rd_supernet_context(src), *dctx = rd_supernet_context(dst);
    rd_vec sv[3] = {rd_supernet_weights(src), rd_supernet_bn_state(src), rd_supernet_alphas(src)};
    rd_vec dv[3] = {rd_supernet_weights(dst), rd_supernet_bn_state(dst), rd_supernet_alphas(dst)};
    float *sh[3] = {0}, *dh[3] = {0};
    rd_status s = RD_OK;
    for (int i = 0; i < 3 && s == RD_OK; i++) {
        sh[i] = malloc(sv[i].len * sizeof(float) + 1);
        dh[i] = malloc(dv[i].len * sizeof(float) + 1);
        if (!sh[i] || !dh[i]) s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
        else if (rd_vec_read(sctx, &sv[i], sh[i]) != RD_OK || rd_vec_read(dctx, &dv[i], dh[i]) != RD_OK) {
            *err = *rd_ctx_err(sctx);
            s = err->code;
        }
    }
    int ns, nd, count = 0;
    const rd_named_tensor *sn = rd_supernet_named_tensors(src, &ns), *dn = rd_supernet_named_tensors(dst, &nd);
    for (int i = 0; i < nd && s == RD_OK; i++) {
        if (dn[i].kind == RD_PARAM_ALPHAS) continue; /* the DARTS phase starts its alphas afresh */
        for (int j = 0; j < ns; j++) {
            if (strcmp(dn[i].name, sn[j].name) || dn[i].count != sn[j].count || dn[i].kind != sn[j].kind) continue;
            memcpy(dh[dn[i].kind] + dn[i].offset, sh[sn[j].kind] + sn[j].offset, dn[i].count * sizeof(float));
            count++;
            break;
        }
    }
    for (int i = 0; i < 2 && s == RD_OK; i++) s = upload(dctx, dv[i], dh[i], err);
    for (int i = 0; i < 3; i++) {
        free(sh[i]);
        free(dh[i]);
    }
    if (copied) *copied = count;
    return s;
}

rd_status rd_checkpoint_load_shared(const char *path, rd_supernet *net, int *copied, rd_err *err) {
    rd_st_file *f;
    RD_TRY(rd_st_open(path, &f, err));
    rd_ctx *ctx = rd_supernet_context(net);
    rd_vec vecs[2] = {rd_supernet_weights(net), rd_supernet_bn_state(net)};
    float *host[2] = {malloc(vecs[0].len * sizeof(float) + 1), malloc(vecs[1].len * sizeof(float) + 1)};
    rd_status s = RD_OK;
    if (!host[0] || !host[1]) s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < 2 && s == RD_OK; i++)
        if (rd_vec_read(ctx, &vecs[i], host[i]) != RD_OK) {
            *err = *rd_ctx_err(ctx);
            s = err->code;
        }
    int n, count = 0;
    const rd_named_tensor *names = rd_supernet_named_tensors(net, &n);
    for (int i = 0; i < n && s == RD_OK; i++) {
        const rd_named_tensor *t = &names[i];
        const rd_st_info *info = rd_st_find(f, t->name);
        if (t->kind == RD_PARAM_ALPHAS || !info || info->numel != t->count || info->dtype != RD_ST_F32) continue;
        s = rd_st_read(f, t->name, RD_ST_F32, -1, NULL, host[t->kind] + t->offset, t->count * sizeof(float), err);
        count++;
    }
    for (int i = 0; i < 2 && s == RD_OK; i++) s = upload(ctx, vecs[i], host[i], err);
    free(host[0]);
    free(host[1]);
    rd_st_close(f);
    if (copied) *copied = count;
    return s;
}
