/* radars plan: the memory model's prediction for a recipe, per op set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cmd_plan(int argc, char **argv) {
    cli_common common = {0};
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    int ranks = rd_comm_size(cli_comm());
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars plan [--config FILE] [--set k=v ...] [--device SEL] [--mem-cap SIZE] [--ranks N]\n"
                   "Predicts the peak device memory of one DARTS search step for the recipe's supernet\n"
                   "(C, layers, batch, input size of its data set) over the darts op set, the large op set\n"
                   "and the recipe's own, with the breakdown, and says whether each fits the memory cap.\n"
                   "  --ranks N   per rank of a job of N (mpirun -np N): each holds data.batch / N of every\n"
                   "              batch of the DARTS phase (default: the job this runs in, else 1)\n");
            cli_config_free(&cargs);
            return 0;
        }
        if (!strcmp(argv[i], "--ranks") && i + 1 < argc) {
            if (cli_int_arg("plan", argv[i], argv[i + 1], 1, 65536, &ranks)) {
                cli_config_free(&cargs);
                return 1;
            }
            i++;
            continue;
        }
        int r = cli_config_option(&cargs, argc, argv, &i);
        if (r == 0) r = cli_common_option(&common, argc, argv, &i);
        if (r <= 0) {
            cli_config_free(&cargs);
            return r < 0 ? 2 : cli_error("plan: unknown option '%s'", argv[i]);
        }
    }
    rd_search_config cfg;
    if (cli_config_load(&cargs, &cfg)) {
        cli_config_free(&cargs);
        return 1;
    }
    rd_err err = {0};
    if (cfg.batch % ranks) {
        cli_config_free(&cargs);
        return cli_error("plan: data.batch = %d is not a multiple of the %d ranks (each takes an equal share)", cfg.batch, ranks);
    }
    rd_dataset ds;
    if (cli_open_train_split(&cfg, &ds)) {
        cli_config_free(&cargs);
        return 1;
    }
    rd_ctx *ctx = cli_open_device(&common);
    int rc = 0;
    if (ctx) {
        uint64_t cap = rd_search_cap(&cfg, rd_ctx_device(ctx));
        char b[8][32];
        printf("device %s, memory cap %s; supernet C=%d, %d cells, batch %d, input %dx%dx%d, %s order\n",
               rd_ctx_device(ctx)->name, rd_format_bytes(cap, b[0], 32), cfg.C, cfg.layers, cfg.batch, ds.c, ds.h,
               ds.w, cfg.order ? "second" : "first");
        if (ranks > 1)
            printf("per rank of %d: %d images of every batch in the DARTS phase (the RL phase's paths take whole "
                   "batches of %d)\n", ranks, cfg.batch / ranks, cfg.batch);
        printf("%-10s %4s %12s %12s %12s %12s %12s %12s  %s\n", "op set", "ops", "activations", "gradients",
               "weights", "optimizer", "data+other", "total", "fits");
        const char *sets[3] = {"darts", "large", cfg.ops};
        int nsets = strcmp(cfg.ops, "darts") && strcmp(cfg.ops, "large") ? 3 : 2;
        for (int i = 0; i < nsets && !rc; i++) {
            rd_search_config c2 = cfg;
            snprintf(c2.ops, sizeof c2.ops, "%s", sets[i]);
            rd_supernet_config nc;
            rd_search_memory m;
            if (rd_search_supernet_config(&c2, ds.c, ds.h, ds.w, ds.classes, &nc, &err) != RD_OK) {
                rc = cli_error("%s", err.msg);
                break;
            }
            nc.batch = cfg.batch / ranks;
            rd_arch_mask all;
            rd_arch_mask_all(&all, &nc.ops);
            if (rd_search_predict(ctx, &c2, &nc, &all, NULL, &m) != RD_OK) {
                rc = cli_error("%s", rd_ctx_error(ctx));
                break;
            }
            uint64_t other = m.data + m.net.bn_state + m.net.arch + m.net.scratch;
            printf("%-10s %4d %12s %12s %12s %12s %12s %12s  %s\n", i == 2 ? "recipe" : sets[i], nc.ops.count,
                   rd_format_bytes(m.net.activations, b[1], 32), rd_format_bytes(m.net.gradients, b[2], 32),
                   rd_format_bytes(m.net.weights + m.net.grads, b[3], 32), rd_format_bytes(m.optimizer, b[4], 32),
                   rd_format_bytes(other, b[5], 32), rd_format_bytes(m.total, b[6], 32),
                   m.total <= cap ? "yes" : "no: RADARS prunes it");
        }
        rd_ctx_free(ctx);
    } else {
        rc = 1;
    }
    rd_dataset_free(&ds);
    cli_config_free(&cargs);
    return rc;
}
