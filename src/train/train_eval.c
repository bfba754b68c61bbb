/* Evaluation of a trained network: accuracy with running statistics (overall
 * and per class), inference throughput and peak device memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "train/train_internal.h"

double train_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


rd_status train_eval_run(rd_network *net, rd_loader *loader, int max_batches, train_eval_pass *out, rd_err *err) {
    rd_ctx *ctx = rd_network_context(net);
    int64_t per_epoch = rd_loader_batches_per_epoch(loader);
    if (max_batches <= 0 || max_batches > per_epoch) max_batches = (int)per_epoch;
    rd_loader_state st = rd_loader_get_state(loader);
    st.epoch = 0;
    st.position = 0;
    RD_TRY(rd_loader_set_state(loader, &st, err));
    int K = rd_network_get_config(net)->classes;
    float *logits = out->class_correct ? malloc((size_t)rd_network_get_config(net)->batch * K * sizeof(float)) : NULL;
    if (out->class_correct && !logits) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "evaluation: out of host memory");
    rd_status s = RD_OK;
    double t0 = 0;
    for (int b = 0; b < max_batches && s == RD_OK; b++) {
        rd_batch batch;
        if ((s = rd_loader_next(loader, &batch, err)) != RD_OK) break;
        if (batch.n == 0) continue; /* this rank's part of a short last batch */
        if (rd_network_forward(net, &batch.x, batch.labels, 0) != RD_OK) {
            s = rd_ctx_take_error(ctx, err);
            break;
        }
        float loss;
        int correct;
        if (rd_network_read_loss(net, &loss, NULL, &correct) != RD_OK) { /* waits for the device */
            s = rd_ctx_take_error(ctx, err);
            break;
        }
        if (logits) {
            if (rd_network_read_logits(net, logits) != RD_OK) {
                s = rd_ctx_take_error(ctx, err);
                break;
            }
            for (int i = 0; i < batch.n; i++) {
                const float *row = logits + (size_t)i * K;
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (row[k] > row[best]) best = k;
                int y = batch.host_labels[i];
                if (y < 0 || y >= out->classes) continue;
                out->class_total[y]++;
                out->class_correct[y] += best == y;
            }
        }
        out->loss_sum += (double)loss * batch.n;
        out->correct += correct;
        out->n += batch.n;
        if (b == 0) t0 = train_now(); /* the first batch warms up (kernel builds, first GEMM calls) */
        else out->timed_images += batch.n;
    }
    if (s == RD_OK && max_batches > 1) out->timed_seconds += train_now() - t0;
    free(logits);
    if (s == RD_OK && rd_loader_shard_count(loader) > 1) { /* a data-parallel job: every rank's shard */
        double sums[3] = {out->loss_sum, (double)out->correct, (double)out->n};
        s = rd_comm_sum_doubles(rd_ctx_comm(ctx), sums, 3, err);
        out->loss_sum = sums[0];
        out->correct = (int64_t)sums[1];
        out->n = (int64_t)sums[2];
    }
    return s;
}

rd_status train_open_test(const rd_train_config *cfg, int limit, rd_dataset *out, rd_err *err) {
    rd_data_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.resize_h = dopt.resize_w = cfg->image_size;
    dopt.classes = cfg->classes;
    RD_TRY(rd_dataset_open(cfg->dataset, "test", &dopt, out, err));
    if (limit <= 0) limit = cfg->test_limit;
    if (limit > 0 && limit < out->n) out->n = limit;
    return RD_OK;
}

void rd_eval_result_free(rd_eval_result *res) {
    if (!res) return;
    free(res->class_correct);
    free(res->class_total);
    if (res->class_names)
        for (int k = 0; k < res->classes; k++) free(res->class_names[k]);
    free(res->class_names);
    res->class_correct = res->class_total = NULL;
    res->class_names = NULL;
}

static rd_status evaluate(rd_ctx *ctx, const char *path, const rd_eval_options *opt, rd_eval_result *res,
                          rd_train_checkpoint_info *info, rd_dataset *test, rd_loader **ld, rd_network **net,
                          rd_err *err) {
    RD_TRY(rd_train_checkpoint_peek(path, info, err));
    res->epochs_trained = info->state.epoch;
    snprintf(res->genotype_text, sizeof res->genotype_text, "%s", info->genotype_text);
    snprintf(res->dataset, sizeof res->dataset, "%s", info->cfg.dataset);
    RD_TRY(train_open_test(&info->cfg, opt ? opt->limit : 0, test, err));
    if (test->c != info->in_c || test->h != info->in_h || test->w != info->in_w || test->classes != info->classes)
        return rd_fail(err, RD_ERR_FORMAT,
                       "%s: trained on %dx%dx%d images of %d classes, but the test split of %s has %dx%dx%d, %d classes",
                       path, info->in_c, info->in_h, info->in_w, info->classes, info->cfg.dataset, test->c, test->h,
                       test->w, test->classes);
    int batch = opt && opt->batch > 0 ? opt->batch : info->cfg.batch;
    rd_network_config nc;
    rd_network_config_default(&nc);
    nc.C = info->cfg.C;
    nc.layers = info->cfg.layers;
    nc.in_channels = info->in_c;
    nc.in_h = info->in_h;
    nc.in_w = info->in_w;
    nc.classes = info->classes;
    nc.batch = batch;
    nc.auxiliary = info->cfg.auxiliary;
    nc.auxiliary_weight = (float)info->cfg.auxiliary_weight;
    nc.genotype = info->genotype;
    if (rd_network_config_check(&nc, err) != RD_OK) return rd_err_prefix(err, "%s", path);
    rd_mem_reset_peak(ctx);
    if (rd_network_create(ctx, &nc, 0, net) != RD_OK) return rd_ctx_take_error(ctx, err);
    RD_TRY(rd_train_checkpoint_load(path, *net, NULL, NULL, err));
    rd_subset all;
    RD_TRY(rd_subset_all(test, &all, err));
    rd_loader_options lo = rd_loader_eval_options(batch, info->norm);
    rd_status s = rd_loader_create(ctx, test, &all, &lo, ld, err);
    rd_subset_free(&all);
    RD_TRY(s);
    res->classes = test->classes;
    res->class_correct = calloc((size_t)test->classes, sizeof(int));
    res->class_total = calloc((size_t)test->classes, sizeof(int));
    res->class_names = calloc((size_t)test->classes, sizeof(char *));
    train_eval_pass p;
    memset(&p, 0, sizeof p);
    p.classes = test->classes;
    p.class_correct = calloc((size_t)test->classes, sizeof(int));
    p.class_total = calloc((size_t)test->classes, sizeof(int));
    if (!res->class_correct || !res->class_total || !res->class_names || !p.class_correct || !p.class_total) {
        free(p.class_correct);
        free(p.class_total);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "evaluation: out of host memory");
    }
    s = train_eval_run(*net, *ld, 0, &p, err);
    for (int k = 0; k < test->classes; k++) {
        res->class_correct[k] = p.class_correct[k];
        res->class_total[k] = p.class_total[k];
        char num[16];
        snprintf(num, sizeof num, "%d", k);
        res->class_names[k] = strdup(test->class_names && test->class_names[k] ? test->class_names[k] : num);
    }
    free(p.class_correct);
    free(p.class_total);
    RD_TRY(s);
    res->n = (int)p.n;
    res->correct = (int)p.correct;
    res->top1 = p.n ? (double)p.correct / p.n : NAN;
    res->loss = p.n ? p.loss_sum / p.n : NAN;
    res->seconds = p.timed_seconds;
    res->images_per_s = p.timed_seconds > 0 ? p.timed_images / p.timed_seconds : NAN;
    res->peak = rd_mem_get_stats(ctx).peak;
    rd_network_cost(*net, &res->params, &res->flops_per_image);
    return RD_OK;
}

rd_status rd_train_evaluate(rd_ctx *ctx, const char *ckpt_or_run_dir, const rd_eval_options *opt,
                            rd_eval_result *res, rd_err *err) {
    memset(res, 0, sizeof *res);
    char path[4200];
    struct stat sb;
    if (stat(ckpt_or_run_dir, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", ckpt_or_run_dir);
    else
        snprintf(path, sizeof path, "%s", ckpt_or_run_dir);
    rd_train_checkpoint_info info;
    rd_dataset test;
    memset(&test, 0, sizeof test);
    rd_loader *ld = NULL;
    rd_network *net = NULL;
    rd_status s = evaluate(ctx, path, opt, res, &info, &test, &ld, &net, err);
    rd_loader_free(ld);
    rd_network_free(net);
    rd_dataset_free(&test);
    return s;
}
