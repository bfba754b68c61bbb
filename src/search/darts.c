/* The DARTS phase (SEARCH.md section 2): the bilevel step.
 *
 *   alphas:  Adam on d(loss of a validation batch)/d(alphas)         (architect)
 *            second order: through one virtual SGD step of the weights,
 *            with the Hessian-vector product by finite differences
 *   weights: SGD with momentum on d(loss of a training batch)/d(w), norm-clipped
 *
 * All optimizer state lives on the device next to the supernet's one weights
 * vector, so each update is one launch and nothing waits for the host except
 * the loss read for the log and, in the second order, the norm of one vector. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "radars/comm.h"
#include "radars/search.h"

struct rd_darts {
    rd_ctx *ctx;
    rd_supernet *net;
    const rd_search_config *cfg;
    rd_buffer *momentum_buf, *adam_buf, *scalar_buf, *backup_buf, *alpha_tmp_buf;
    rd_vec momentum, adam_m, adam_v, clip_scale, grad_norm, backup, dalpha, dalpha_plus;
    int adam_step;
    int sum_grads;           /* data-parallel job: 1 sums the ranks' weight gradients (each its own path) */
};

static rd_status alloc_vec(rd_ctx *ctx, size_t len, const char *what, rd_buffer **b, rd_vec *v) {
    RD_TRY(rd_alloc(ctx, len * sizeof(float), what, b));
    *v = rd_vec_make(rd_buffer_mem(*b), 0, len);
    return rd_vec_fill(ctx, v, 0.0f);
}

rd_status rd_darts_create(rd_ctx *ctx, rd_supernet *net, const rd_search_config *cfg, rd_darts **out) {
    *out = NULL;
    rd_darts *d = calloc(1, sizeof *d);
    if (!d) return rd_fail(rd_ctx_err(ctx), RD_ERR_OUT_OF_MEMORY, "out of host memory");
    d->ctx = ctx;
    d->net = net;
    d->cfg = cfg;
    size_t nw = rd_supernet_weights(net).len, na = rd_supernet_alphas(net).len;
    rd_vec adam;
    rd_status s = alloc_vec(ctx, nw, "SGD momentum", &d->momentum_buf, &d->momentum);
    if (s == RD_OK) s = alloc_vec(ctx, 2 * na, "Adam state", &d->adam_buf, &adam);
    if (s == RD_OK) {
        d->adam_m = rd_vec_slice(adam, 0, na);
        d->adam_v = rd_vec_slice(adam, na, na);
    }
    rd_vec scalars;
    if (s == RD_OK) s = alloc_vec(ctx, 2, "clip scale", &d->scalar_buf, &scalars);
    if (s == RD_OK) {
        d->clip_scale = rd_vec_slice(scalars, 0, 1);
        d->grad_norm = rd_vec_slice(scalars, 1, 1);
    }
    if (s == RD_OK && cfg->order == RD_DARTS_SECOND_ORDER) {
        rd_vec tmp;
        s = alloc_vec(ctx, nw, "weights backup (second order)", &d->backup_buf, &d->backup);
        if (s == RD_OK) s = alloc_vec(ctx, 2 * na, "alpha gradients (second order)", &d->alpha_tmp_buf, &tmp);
        if (s == RD_OK) {
            d->dalpha = rd_vec_slice(tmp, 0, na);
            d->dalpha_plus = rd_vec_slice(tmp, na, na);
        }
    }
    if (s != RD_OK) {
        rd_darts_free(d);
        return s;
    }
    *out = d;
    return RD_OK;
}

void rd_darts_free(rd_darts *d) {
    if (!d) return;
    rd_buffer *bufs[] = {d->momentum_buf, d->adam_buf, d->scalar_buf, d->backup_buf, d->alpha_tmp_buf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) rd_free(d->ctx, bufs[i]);
    free(d);
}

rd_vec rd_darts_momentum(const rd_darts *d) { return d->momentum; }
rd_vec rd_darts_adam_m(const rd_darts *d) { return d->adam_m; }
rd_vec rd_darts_adam_v(const rd_darts *d) { return d->adam_v; }
int rd_darts_adam_steps(const rd_darts *d) { return d->adam_step; }
void rd_darts_set_adam_steps(rd_darts *d, int steps) { d->adam_step = steps; }

void rd_darts_set_sum_grads(rd_darts *d, int sum) { d->sum_grads = sum; }

/* A data-parallel job: the gradients just computed, and the running statistics, made the
 * same on every rank (one all-reduce). Weight gradients are averaged over the ranks' shards
 * of one batch (or summed: RL waves, where each rank trains its own path), alpha gradients
 * averaged; running statistics averaged with the weight gradients (batch-norm itself
 * works per rank, as PyTorch DDP without SyncBN: README "Scale-out"). */
static rd_status sync_grads(rd_darts *d, unsigned what) {
    rd_comm *comm = rd_ctx_comm(d->ctx);
    int n = rd_comm_size(comm);
    if (n == 1) return RD_OK;
    rd_vec v[3];
    float scale[3];
    int k = 0;
    if (what & RD_GRAD_WEIGHTS) {
        v[k] = rd_supernet_weight_grads(d->net);
        scale[k++] = d->sum_grads ? 1.0f : 1.0f / n;
        v[k] = rd_supernet_bn_state(d->net);
        scale[k++] = 1.0f / n;
    }
    if (what & RD_GRAD_ALPHAS) {
        v[k] = rd_supernet_alpha_grads(d->net);
        scale[k++] = 1.0f / n;
    }
    return rd_comm_allreduce_vecs(comm, d->ctx, v, scale, k);
}

static rd_status forward_backward(rd_darts *d, const rd_batch *b, unsigned what) {
    RD_TRY(rd_supernet_forward(d->net, &b->x, b->labels, 1));
    RD_TRY(rd_supernet_backward(d->net, what));
    return sync_grads(d, what);
}

rd_status rd_supernet_sync_bn_state(rd_supernet *net) {
    rd_ctx *ctx = rd_supernet_context(net);
    rd_comm *comm = rd_ctx_comm(ctx);
    if (rd_comm_size(comm) == 1) return RD_OK;
    rd_vec v = rd_supernet_bn_state(net);
    float scale = 1.0f / rd_comm_size(comm);
    return rd_comm_allreduce_vecs(comm, ctx, &v, &scale, 1);
}

/* Loss and correct count of the last forward, over every rank's shard of the batch. */
static rd_status read_loss_all(rd_darts *d, int n, float *loss, int *correct, int *n_all) {
    float l = 0;
    int c = 0;
    RD_TRY(rd_supernet_read_loss(d->net, &l, &c));
    double v[3] = {(double)l * n, c, n};
    RD_TRY(rd_comm_sum_doubles(rd_ctx_comm(d->ctx), v, 3, rd_ctx_err(d->ctx)));
    if (loss) *loss = v[2] > 0 ? (float)(v[0] / v[2]) : l;
    if (correct) *correct = (int)v[1];
    if (n_all) *n_all = (int)v[2];
    return RD_OK;
}

static rd_status adam_alphas(rd_darts *d, const rd_vec *grad) {
    rd_adam_params p = {(float)d->cfg->a_beta1, (float)d->cfg->a_beta2, 1e-8f, (float)d->cfg->a_weight_decay};
    rd_vec alphas = rd_supernet_alphas(d->net);
    d->adam_step++;
    RD_TRY(rd_adam_step(d->ctx, &p, (float)d->cfg->a_lr, d->adam_step, &alphas, grad, &d->adam_m, &d->adam_v));
    return rd_supernet_update_weights_softmax(d->net);
}

/* Second order (DARTS' unrolled architect): w' = w - xi (momentum buf + g_train(w) + wd w);
 * dalpha = d L_val(w', a)/da - xi (d L_train(w+, a)/da - d L_train(w-, a)/da) / (2 eps),
 * w+- = w +- eps v, v = d L_val(w', a)/dw', eps = 0.01 / ||v||. */
static rd_status architect_second_order(rd_darts *d, const rd_batch *train, const rd_batch *valid, float lr,
                                        const rd_vec *out) {
    rd_ctx *ctx = d->ctx;
    rd_supernet *net = d->net;
    rd_vec w = rd_supernet_weights(net), g = rd_supernet_weight_grads(net), ga = rd_supernet_alpha_grads(net);
    float xi = lr * (float)d->cfg->unrolled_lr_scale;
    RD_TRY(rd_vec_copy(ctx, &w, &d->backup));
    RD_TRY(rd_supernet_zero_grads(net));
    RD_TRY(forward_backward(d, train, RD_GRAD_WEIGHTS));
    /* w' = (1 - xi wd) w - xi momentum * buf - xi g */
    RD_TRY(rd_vec_scale(ctx, &w, 1.0f - xi * (float)d->cfg->w_weight_decay));
    RD_TRY(rd_vec_axpy(ctx, -xi * (float)d->cfg->w_momentum, &d->momentum, &w));
    RD_TRY(rd_vec_axpy(ctx, -xi, &g, &w));
    RD_TRY(rd_supernet_zero_grads(net));
    RD_TRY(forward_backward(d, valid, RD_GRAD_WEIGHTS | RD_GRAD_ALPHAS));
    RD_TRY(rd_vec_copy(ctx, &ga, &d->dalpha));
    /* v = g (left in the gradient buffer); eps = 0.01 / ||v|| */
    RD_TRY(rd_vec_sumsq(ctx, &g, &d->grad_norm));
    float sumsq;
    RD_TRY(rd_vec_read(ctx, &d->grad_norm, &sumsq));
    float eps = sumsq > 0 ? 0.01f / sqrtf(sumsq) : 0.0f;
    RD_TRY(rd_vec_copy(ctx, &d->backup, &w));
    RD_TRY(rd_vec_axpy(ctx, eps, &g, &w));
    RD_TRY(forward_backward(d, train, RD_GRAD_ALPHAS));
    RD_TRY(rd_vec_copy(ctx, &ga, &d->dalpha_plus));
    RD_TRY(rd_vec_axpy(ctx, -2 * eps, &g, &w));
    RD_TRY(forward_backward(d, train, RD_GRAD_ALPHAS));
    /* dalpha -= xi (g+ - g-) / (2 eps) */
    if (eps > 0) {
        float c = xi / (2 * eps);
        RD_TRY(rd_vec_axpy(ctx, -c, &d->dalpha_plus, &d->dalpha));
        RD_TRY(rd_vec_axpy(ctx, c, &ga, &d->dalpha));
    }
    RD_TRY(rd_vec_copy(ctx, &d->backup, &w));
    return rd_vec_copy(ctx, &d->dalpha, out);
}

rd_status rd_darts_arch_grad(rd_darts *d, const rd_batch *train, const rd_batch *valid, float lr, const rd_vec *out) {
    if (d->cfg->order == RD_DARTS_SECOND_ORDER) return architect_second_order(d, train, valid, lr, out);
    RD_TRY(forward_backward(d, valid, RD_GRAD_ALPHAS));
    rd_vec ga = rd_supernet_alpha_grads(d->net);
    return rd_vec_copy(d->ctx, &ga, out);
}

rd_status rd_darts_weight_step(rd_darts *d, const rd_batch *train, float lr, float *loss, int *correct) {
    rd_ctx *ctx = d->ctx;
    RD_TRY(rd_supernet_zero_grads(d->net));
    RD_TRY(forward_backward(d, train, RD_GRAD_WEIGHTS));
    rd_vec w = rd_supernet_weights(d->net), g = rd_supernet_weight_grads(d->net);
    rd_vec *scale = NULL;
    if (d->cfg->grad_clip > 0) {
        RD_TRY(rd_clip_grad_norm(ctx, &g, (float)d->cfg->grad_clip, &d->clip_scale, &d->grad_norm));
        scale = &d->clip_scale;
    }
    rd_sgd_params p = {(float)d->cfg->w_momentum, (float)d->cfg->w_weight_decay};
    RD_TRY(rd_sgd_step(ctx, &p, lr, &w, &g, &d->momentum, scale));
    if (loss || correct) RD_TRY(rd_supernet_read_loss(d->net, loss, correct));
    return RD_OK;
}

/* The architect's Adam step on the alphas; the last forward is left on the validation batch. */
static rd_status architect_step(rd_darts *d, const rd_batch *train, const rd_batch *valid, float lr) {
    if (d->cfg->order == RD_DARTS_SECOND_ORDER) {
        RD_TRY(architect_second_order(d, train, valid, lr, &d->dalpha));
        RD_TRY(adam_alphas(d, &d->dalpha));
        /* the loss of the last forward is a training one: measure the validation loss apart */
        return rd_supernet_forward(d->net, &valid->x, valid->labels, 1);
    }
    RD_TRY(forward_backward(d, valid, RD_GRAD_ALPHAS));
    rd_vec ga = rd_supernet_alpha_grads(d->net);
    return adam_alphas(d, &ga);
}

rd_status rd_darts_step(rd_darts *d, const rd_batch *train, const rd_batch *valid, float lr, rd_step_stats *st) {
    memset(st, 0, sizeof *st);
    if (valid) {
        RD_TRY(architect_step(d, train, valid, lr));
        RD_TRY(read_loss_all(d, valid->n, &st->valid_loss, &st->valid_correct, &st->n_valid));
    }
    RD_TRY(rd_darts_weight_step(d, train, lr, NULL, NULL));
    return read_loss_all(d, train->n, &st->train_loss, &st->train_correct, &st->n_train);
}

rd_status rd_evaluate(rd_supernet *net, rd_loader *loader, int max_batches, int train_mode, double *loss,
                      double *accuracy) {
    double total = 0;
    long correct = 0, n = 0;
    int64_t per_epoch = rd_loader_batches_per_epoch(loader);
    if (max_batches <= 0 || max_batches > per_epoch) max_batches = (int)per_epoch;
    rd_err *err = rd_ctx_err(rd_supernet_context(net));
    for (int b = 0; b < max_batches; b++) {
        rd_batch batch;
        RD_TRY(rd_loader_next(loader, &batch, err));
        if (batch.n == 0) continue; /* this rank's part of a short last batch */
        RD_TRY(rd_supernet_forward(net, &batch.x, batch.labels, train_mode));
        float l;
        int c;
        RD_TRY(rd_supernet_read_loss(net, &l, &c));
        total += (double)l * batch.n;
        correct += c;
        n += batch.n;
    }
    /* a data-parallel job: every rank evaluated its shard of each batch */
    double sums[3] = {total, (double)correct, (double)n};
    if (rd_loader_shard_count(loader) > 1) RD_TRY(rd_comm_sum_doubles(rd_ctx_comm(rd_supernet_context(net)), sums, 3, err));
    if (train_mode) RD_TRY(rd_supernet_sync_bn_state(net)); /* batch statistics moved each rank's running ones */
    *loss = sums[2] > 0 ? sums[0] / sums[2] : NAN;
    *accuracy = sums[2] > 0 ? sums[1] / sums[2] : NAN;
    return RD_OK;
}
