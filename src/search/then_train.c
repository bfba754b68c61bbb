/* radars search --then-train: the genotype a search found, trained from
 * scratch with the train recipe's defaults on the search's data and size, its
 * test accuracy added to the search's metrics and report. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "radars/comm.h"
#include "radars/search.h"

rd_status rd_search_then_train(rd_ctx *ctx, const rd_search_config *search, const char *search_dir, int epochs,
                               const rd_train_options *opt, rd_train_result *res, rd_err *err) {
    rd_train_config cfg;
    RD_TRY(rd_train_config_load(&cfg, NULL, NULL, 0, err));
    snprintf(cfg.dataset, sizeof cfg.dataset, "%s", search->dataset);
    cfg.C = search->C;
    cfg.layers = search->layers;
    cfg.image_size = search->image_size;
    cfg.classes = search->classes;
    cfg.seed = search->seed;
    cfg.epochs = epochs;
    if (strlen(search_dir) >= sizeof cfg.genotype)
        return rd_fail(err, RD_ERR_ARG, "then-train: search directory path too long: %s", search_dir);
    snprintf(cfg.genotype, sizeof cfg.genotype, "%s", search_dir); /* its genotype.txt */
    char dir[4200], ckpt[4300];
    RD_TRY(rd_path_join(dir, sizeof dir, search_dir, "train", err));
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    int resume = access(ckpt, R_OK) == 0;
    rd_comm *comm = rd_ctx_comm(ctx);
    int writer = rd_comm_rank(comm) == 0;
    RD_TRY(rd_comm_bcast(comm, &resume, sizeof resume, 0, err)); /* rank 0 writes the run: its view decides */
    rd_run_dir_options ro = {dir, NULL, "train", resume};
    char made[4200];
    snprintf(made, sizeof made, "%s", dir);
    if (writer) RD_TRY(rd_run_dir_create(&ro, made, sizeof made, err));
    RD_TRY(rd_comm_barrier(comm, err));
    rd_train_options o = *opt;
    o.run_dir = made;
    o.resume = resume;
    RD_TRY(rd_train_run(ctx, &cfg, &o, res, err));
    if (res->interrupted || !writer) return RD_OK;
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, search_dir, "metrics.jsonl", err));
    rd_metrics *m;
    RD_TRY(rd_metrics_open(path, &m, err));
    rd_record *r = rd_record_new();
    rd_record_string(r, "type", "then_train");
    rd_record_string(r, "run_dir", made);
    rd_record_int(r, "epochs", res->epochs);
    rd_record_double(r, "test_acc", res->test_accuracy);
    rd_record_double(r, "test_loss", res->test_loss);
    rd_record_double(r, "params", res->params);
    rd_record_double(r, "seconds", res->seconds);
    rd_record_int(r, "C", cfg.C);
    rd_record_int(r, "layers", cfg.layers);
    rd_status s = rd_metrics_append(m, r, err);
    rd_record_free(r);
    rd_err e2;
    if (rd_metrics_close(m, s == RD_OK ? err : &e2) != RD_OK && s == RD_OK) s = err->code;
    RD_TRY(s);
    return rd_search_write_report(search_dir, err);
}
