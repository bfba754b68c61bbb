/* Training checkpoints: the network's state dict as PyTorch names it (with a
 * num_batches_tracked per batch-norm, so load_state_dict(strict=True) takes
 * it), and in the metadata what a resumed run or an evaluation needs: where
 * training stands, the normalisation, config and genotype. The SGD momentum is
 * a tensor of the companion file the metadata 'optimizer' names. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/train.h"
#include "runtime/c_locale.h"

enum { FORMAT_VERSION = 2 }; /* 2: momentum in a companion file; 1 (still read): base64 metadata */
static const char FORMAT[] = "radars-cl train checkpoint";



/* "cells.0.preprocess0.op.2.running_mean" -> "cells.0.preprocess0.op.2." (len), or 0 */
static size_t bn_prefix(const char *name) {
    static const char suffix[] = "running_mean";
    size_t l = strlen(name), s = sizeof suffix - 1;
    return l >= s && !strcmp(name + l - s, suffix) ? l - s : 0;
}

static rd_status write_all(const char *path, rd_network *net, const rd_vec *momentum, const rd_train_state *st,
                           const rd_norm *norm, const char *config_text, const char *genotype_text, rd_st_writer *w,
                           float *weights, float *bn, int64_t *tracked, char *optim, size_t optim_len, rd_err *err) {
    int n;
    const rd_named_tensor *names = rd_network_named_tensors(net, &n);
    *tracked = st ? st->global_step : 0;
    for (int i = 0; i < n; i++) {
        const rd_named_tensor *t = &names[i];
        if (t->kind != RD_PARAM_WEIGHT && t->kind != RD_PARAM_BN_STATE)
            return rd_fail(err, RD_ERR_ARG, "%s: tensor '%s' is neither a weight nor batch-norm state", path, t->name);
        int64_t shape[4];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        RD_TRY(rd_st_add(w, t->name, RD_ST_F32, t->ndim, shape, (t->kind == RD_PARAM_WEIGHT ? weights : bn) + t->offset, err));
        size_t p = bn_prefix(t->name);
        if (p) {
            char nb[160];
            snprintf(nb, sizeof nb, "%.*snum_batches_tracked", (int)p, t->name);
            RD_TRY(rd_st_add(w, nb, RD_ST_I64, 0, NULL, tracked, err));
        }
    }
    const rd_network_config *c = rd_network_get_config(net);
    if (momentum && momentum->mem) {
        float *m = malloc(momentum->len * sizeof(float) + 1);
        if (!m) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        rd_status s = rd_vec_read(rd_network_context(net), momentum, m) == RD_OK ? RD_OK : rd_ctx_take_error(rd_network_context(net), err);
        rd_st_writer *ow = NULL;
        int64_t len = (int64_t)momentum->len;
        if (s == RD_OK) s = rd_st_writer_create(&ow, err);
        if (s == RD_OK) s = rd_st_add(ow, "sgd_momentum", RD_ST_F32, 1, &len, m, err);
        if (s == RD_OK) s = rd_st_companion_write(ow, path, optim, optim_len, err);
        rd_st_writer_free(ow);
        free(m);
        RD_TRY(s);
        RD_TRY(rd_st_add_metadata(w, "optimizer", optim, err));
    }
    RD_TRY(rd_st_add_metadataf(w, "format", err, "%s %d", FORMAT, FORMAT_VERSION));
    RD_TRY(rd_st_add_metadataf(w, "network", err, "C=%d layers=%d stem_multiplier=%d input=%dx%dx%d classes=%d batch=%d auxiliary=%d",
                c->C, c->layers, c->stem_multiplier, c->in_channels, c->in_h, c->in_w, c->classes, c->batch,
                c->auxiliary));
    if (st) {
        RD_TRY(rd_st_add_metadataf(w, "state", err, "%d %" PRId64 " %" PRId64 " %" PRIu64 " %.17g %.17g %.17g %.17g %.17g", st->epoch,
                    st->step, st->global_step, st->drop_path_counter, st->seconds, st->loss_sum, st->correct, st->seen,
                    st->aux_loss_sum));
        RD_TRY(rd_st_add_metadataf(w, "metrics_bytes", err, "%" PRId64, st->metrics_bytes));
        RD_TRY(rd_st_add_metadataf(w, "loader", err, "%" PRIu64 " %" PRId64 " %" PRId64, st->loader.seed, st->loader.epoch,
                    st->loader.position));
    }
    if (norm) {
        char buf[512];
        RD_C_LOCALE_BEGIN;
        size_t o = (size_t)snprintf(buf, sizeof buf, "%d", norm->c);
        for (int k = 0; k < norm->c && k < RD_DATA_MAX_CHANNELS; k++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, " %.9g %.9g", norm->mean[k], norm->std[k]);
        RD_C_LOCALE_END;
        RD_TRY(rd_st_add_metadata(w, "norm", buf, err));
    }
    if (config_text) RD_TRY(rd_st_add_metadata(w, "config", config_text, err));
    char geno[2048];
    RD_TRY(rd_st_add_metadata(w, "genotype", genotype_text ? genotype_text : rd_genotype_format(&c->genotype, geno, sizeof geno), err));
    return rd_st_write(w, path, err);
}

rd_status rd_train_checkpoint_save(const char *path, rd_network *net, const rd_vec *momentum,
                                   const rd_train_state *state, const rd_norm *norm, const char *config_text,
                                   const char *genotype_text, rd_err *err) {
    rd_ctx *ctx = rd_network_context(net);
    rd_vec wv = rd_network_weights(net), bv = rd_network_bn_state(net);
    float *weights = malloc(wv.len * sizeof(float) + 1), *bn = malloc(bv.len * sizeof(float) + 1);
    int64_t tracked = 0;
    rd_st_writer *w = NULL;
    rd_status s = RD_OK;
    if (!weights || !bn) s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    if (s == RD_OK && (rd_vec_read(ctx, &wv, weights) != RD_OK || (bv.len && rd_vec_read(ctx, &bv, bn) != RD_OK)))
        s = rd_ctx_take_error(ctx, err);
    if (s == RD_OK) s = rd_st_writer_create(&w, err);
    char optim[1200] = "";
    if (s == RD_OK)
        s = write_all(path, net, momentum, state, norm, config_text, genotype_text, w, weights, bn, &tracked, optim,
                      sizeof optim, err);
    if (s == RD_OK) rd_st_companion_prune(path, optim[0] ? optim : NULL);
    else if (optim[0]) rd_st_companion_remove(path, optim);
    rd_st_writer_free(w);
    free(weights);
    free(bn);
    return s;
}

/* ---- reading ---- */
static rd_status check_format(const rd_st_file *f, const char *path, rd_err *err) {
    const char *v = rd_st_metadata(f, "format");
    if (!v || strncmp(v, FORMAT, sizeof FORMAT - 1)) {
        if (v && rd_st_metadata(f, "supernet"))
            return rd_fail(err, RD_ERR_FORMAT, "%s: a search checkpoint, not a training one (train its genotype first: "
                                               "radars train --genotype RUN_DIR)", path);
        return rd_fail(err, RD_ERR_FORMAT, "%s: not a radars-cl training checkpoint (no metadata 'format' = '%s N')", path,
                       FORMAT);
    }
    int version = atoi(v + sizeof FORMAT - 1);
    if (version < 1 || version > FORMAT_VERSION)
        return rd_fail(err, RD_ERR_FORMAT, "%s: training checkpoint format %d, this build reads 1 to %d", path, version,
                       FORMAT_VERSION);
    return RD_OK;
}

static rd_status read_state_c(const rd_st_file *f, const char *path, rd_train_state *st, rd_err *err) {
    memset(st, 0, sizeof *st);
    const char *v = rd_st_metadata(f, "state");
    if (!v || sscanf(v, "%d %" SCNd64 " %" SCNd64 " %" SCNu64 " %lf %lf %lf %lf %lf", &st->epoch, &st->step, &st->global_step,
                     &st->drop_path_counter, &st->seconds, &st->loss_sum, &st->correct, &st->seen, &st->aux_loss_sum) < 8 ||
        st->epoch < 0 || st->step < 0 || st->global_step < 0 || !(st->seconds >= 0 && st->seconds < 1e12) ||
        !isfinite(st->loss_sum) || !(st->correct >= 0 && st->correct <= st->seen) || !(st->seen >= 0 && st->seen < 1e18) ||
        !isfinite(st->aux_loss_sum))
        return rd_fail(err, RD_ERR_FORMAT, "%s: missing or malformed metadata 'state'", path);
    v = rd_st_metadata(f, "loader");
    if (!v || sscanf(v, "%" SCNu64 " %" SCNd64 " %" SCNd64, &st->loader.seed, &st->loader.epoch, &st->loader.position) != 3 ||
        st->loader.epoch < 0 || st->loader.position < 0)
        return rd_fail(err, RD_ERR_FORMAT, "%s: missing or malformed metadata 'loader'", path);
    const char *mb = rd_st_metadata(f, "metrics_bytes"); /* absent before format 2 */
    st->metrics_bytes = -1;
    if (mb && (sscanf(mb, "%" SCNd64, &st->metrics_bytes) != 1 || st->metrics_bytes < -1))
        return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'metrics_bytes'", path);
    return RD_OK;
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
static rd_status read_state(const rd_st_file *f, const char *path, rd_train_state *st, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = read_state_c(f, path, st, err);
    RD_C_LOCALE_END;
    return r_;
}

rd_status rd_train_checkpoint_load(const char *path, rd_network *net, const rd_vec *momentum, rd_train_state *state,
                                   rd_err *err) {
    rd_st_file *f;
    RD_TRY(rd_st_open(path, &f, err));
    rd_ctx *ctx = rd_network_context(net);
    rd_vec vecs[2] = {rd_network_weights(net), rd_network_bn_state(net)};
    float *host[2] = {malloc(vecs[0].len * sizeof(float) + 1), malloc(vecs[1].len * sizeof(float) + 1)};
    rd_status s = check_format(f, path, err);
    if (s == RD_OK && (!host[0] || !host[1])) s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    int n;
    const rd_named_tensor *names = rd_network_named_tensors(net, &n);
    for (int i = 0; i < n && s == RD_OK; i++) {
        const rd_named_tensor *t = &names[i];
        int64_t shape[4];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (!rd_st_find(f, t->name)) {
            s = rd_fail(err, RD_ERR_FORMAT, "%s: no tensor '%s' (a checkpoint of another network?)", path, t->name);
            break;
        }
        s = rd_st_read(f, t->name, RD_ST_F32, t->ndim, shape, host[t->kind == RD_PARAM_WEIGHT ? 0 : 1] + t->offset,
                       t->count * sizeof(float), err);
    }
    for (int i = 0; i < 2 && s == RD_OK; i++)
        if (vecs[i].len && rd_vec_write(ctx, &vecs[i], host[i]) != RD_OK) s = rd_ctx_take_error(ctx, err);
    if (s == RD_OK && momentum && momentum->mem) {
        float *m = malloc(momentum->len * sizeof(float) + 1);
        if (!m) s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        rd_st_file *optim = NULL;
        if (s == RD_OK) s = rd_st_companion_open(f, path, &optim, err);
        if (s == RD_OK) s = rd_st_optimizer_read(f, optim, path, "sgd_momentum", m, momentum->len, err);
        rd_st_close(optim);
        if (s == RD_OK && rd_vec_write(ctx, momentum, m) != RD_OK) s = rd_ctx_take_error(ctx, err);
        free(m);
    }
    if (s == RD_OK && state) s = read_state(f, path, state, err);
    free(host[0]);
    free(host[1]);
    rd_st_close(f);
    return s;
}

static rd_status read_norm_c(const rd_st_file *f, const char *path, rd_norm *norm, rd_err *err) {
    memset(norm, 0, sizeof *norm);
    const char *v = rd_st_metadata(f, "norm");
    char *end;
    if (!v) return rd_fail(err, RD_ERR_FORMAT, "%s: no metadata 'norm'", path);
    norm->c = (int)strtol(v, &end, 10);
    if (end == v || norm->c < 1 || norm->c > RD_DATA_MAX_CHANNELS)
        return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'norm' = '%s'", path, v);
    for (int k = 0; k < norm->c; k++) {
        const char *p = end;
        norm->mean[k] = strtof(p, &end);
        if (end == p || !isfinite(norm->mean[k]))
            return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'norm' = '%s'", path, v);
        p = end;
        norm->std[k] = strtof(p, &end);
        if (end == p || !(norm->std[k] > 0) || !isfinite(norm->std[k]))
            return rd_fail(err, RD_ERR_FORMAT, "%s: malformed metadata 'norm' = '%s'", path, v);
    }
    return RD_OK;
}

static rd_status read_norm(const rd_st_file *f, const char *path, rd_norm *norm, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = read_norm_c(f, path, norm, err);
    RD_C_LOCALE_END;
    return r_;
}

rd_status rd_train_checkpoint_peek(const char *path, rd_train_checkpoint_info *info, rd_err *err) {
    memset(info, 0, sizeof *info);
    rd_st_file *f;
    RD_TRY(rd_st_open(path, &f, err));
    rd_status s = check_format(f, path, err);
    const char *cfg = s == RD_OK ? rd_st_metadata(f, "config") : NULL;
    if (s == RD_OK && !cfg) s = rd_fail(err, RD_ERR_FORMAT, "%s: no metadata 'config'", path);
    if (s == RD_OK) {
        char origin[4300];
        snprintf(origin, sizeof origin, "%s (metadata 'config')", path);
        s = rd_config_defaults(&rd_train_schema, &info->cfg, err);
        if (s == RD_OK) s = rd_config_load_string(&rd_train_schema, cfg, origin, &info->cfg, err);
    }
    const char *g = s == RD_OK ? rd_st_metadata(f, "genotype") : NULL;
    if (s == RD_OK && !g) s = rd_fail(err, RD_ERR_FORMAT, "%s: no metadata 'genotype'", path);
    if (s == RD_OK && rd_genotype_parse(g, &info->genotype, err) != RD_OK) s = rd_err_prefix(err, "%s: metadata 'genotype'", path);
    if (s == RD_OK) rd_genotype_format(&info->genotype, info->genotype_text, sizeof info->genotype_text);
    const char *net = s == RD_OK ? rd_st_metadata(f, "network") : NULL;
    const char *in = net ? strstr(net, "input=") : NULL, *cl = net ? strstr(net, "classes=") : NULL;
    if (s == RD_OK && (!in || !cl || sscanf(in, "input=%dx%dx%d", &info->in_c, &info->in_h, &info->in_w) != 3 ||
                       sscanf(cl, "classes=%d", &info->classes) != 1 || info->in_c < 1 ||
                       info->in_c > RD_DATA_MAX_CHANNELS || info->in_h < 1 || info->in_h > RD_DATA_MAX_SIDE ||
                       info->in_w < 1 || info->in_w > RD_DATA_MAX_SIDE || info->classes < 2 ||
                       info->classes > RD_DATA_MAX_CLASSES))
        s = rd_fail(err, RD_ERR_FORMAT, "%s: missing or malformed metadata 'network'", path);
    if (s == RD_OK) s = read_norm(f, path, &info->norm, err);
    if (s == RD_OK) s = read_state(f, path, &info->state, err);
    rd_st_close(f);
    return s;
}
