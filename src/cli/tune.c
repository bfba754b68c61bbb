/* radars tune: time this device's kernel parameters at a recipe's shapes and keep the winners. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "radars/tune.h"

int cmd_tune(int argc, char **argv) {
    cli_common common = {0};
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    double budget = 600;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars tune [--config FILE] [--set k=v ...] [--device SEL] [--budget SECONDS]\n"
                   "Times every tunable kernel parameter (work-group sizes, tiled or generic convolutions,\n"
                   "mixed-op passes) on the recipe's supernet edges (its op set, C, cells, batch and input\n"
                   "size), one parameter at a time from the device's defaults, and keeps the winners for\n"
                   "this device and driver in the cache directory: every later run on it uses them.\n"
                   "--budget bounds the timing (default 600 s); untimed parameters keep their defaults.\n"
                   "RADARS_TUNING=0 makes a run ignore the file.\n");
            cli_config_free(&cargs);
            return 0;
        }
        if (!strcmp(argv[i], "--budget")) {
            char *end = NULL;
            budget = i + 1 < argc ? strtod(argv[++i], &end) : 0;
            if (!end || *end || !(budget > 0)) {
                cli_config_free(&cargs);
                return cli_error("tune: --budget needs a positive number of seconds");
            }
            continue;
        }
        int r = cli_config_option(&cargs, argc, argv, &i);
        if (r == 0) r = cli_common_option(&common, argc, argv, &i);
        if (r <= 0) {
            cli_config_free(&cargs);
            return r < 0 ? 2 : cli_error("tune: unknown option '%s'", argv[i]);
        }
    }
    rd_search_config cfg;
    if (cli_config_load(&cargs, &cfg)) {
        cli_config_free(&cargs);
        return 1;
    }
    rd_err err = {0};
    rd_dataset ds;
    if (cli_open_train_split(&cfg, &ds)) {
        cli_config_free(&cargs);
        return 1;
    }
    rd_ctx_options opt = {0};
    opt.device = common.device;
    opt.verbose = common.verbose;
    rd_tune_request req = {cfg.ops, cfg.C, cfg.layers, cfg.batch, ds.h, budget, stderr};
    rd_tune_result res;
    int rc = 0;
    if (rd_tune(&opt, &req, &res, &err) != RD_OK) {
        rc = cli_error("%s", err.msg);
    } else {
        int count;
        const rd_tunable *tab = rd_tunables(&count);
        int kw = (int)strlen("parameter");  /* the key column fits the longest key */
        for (int i = 0; i < count; i++)
            if ((int)strlen(tab[i].key) > kw) kw = (int)strlen(tab[i].key);
        printf("%-*s %-10s %-10s  %s\n", kw, "parameter", "default", "tuned", "what");
        for (int i = 0; i < count; i++) {
            char a[16], b[16];
            printf("%-*s %-10s %-10s  %s\n", kw, tab[i].key,
                   rd_tuning_label(i, *rd_tuning_field(&res.defaults, i), a, 16),
                   rd_tuning_label(i, *rd_tuning_field(&res.tuning, i), b, 16), tab[i].what);
        }
        printf("one pass over the recipe's edges: %.4f s with the defaults, %.4f s tuned (%.2fx); %d candidates "
               "timed, %d left out by the budget, %.1f s in all\nwritten: %s\n",
               res.default_s, res.tuned_s, res.tuned_s > 0 ? res.default_s / res.tuned_s : 0, res.timed, res.skipped,
               res.elapsed_s, res.path);
    }
    rd_dataset_free(&ds);
    cli_config_free(&cargs);
    return rc;
}
