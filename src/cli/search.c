/* radars search: run a search and show its progress. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static void usage(void) {
    printf("usage: radars search [--config FILE] [--set section.key=value ...] [--strategy S]\n"
           "                     [--device SEL] [--mem-cap SIZE] [--out RUN_DIR] [--resume RUN_DIR]\n"
           "                     [--then-train EPOCHS] [--score GENOTYPE ...] [-v]\n"
           "Searches an architecture on the device found (see 'radars devices').\n"
           "  --config FILE    recipe (default: configs/default.ini: RADARS on the large op set, Fashion-MNIST)\n"
           "  --set k=v        override any key of the recipe (see the comments in configs/*.ini)\n"
           "  --strategy S     radars: RL rounds prune the ops until DARTS fits the memory cap, then DARTS;\n"
           "                   darts: plain DARTS (refused at once if it does not fit); rl: RL-only baseline;\n"
           "                   random: a genotype drawn uniformly from the space (the baseline; nothing trained);\n"
           "                   random-ws: uniform paths train a one-shot supernet, then the best of\n"
           "                   search.ws_candidates random genotypes on its shared weights;\n"
           "                   pcdarts: PC-DARTS (partial channels, search.pc_k; refused if it does not fit)\n"
           "  --mem-cap SIZE   memory cap, e.g. 2GiB (default: device global memory x memory.safety_fraction)\n"
           "  --out RUN_DIR    run directory (default: runs/<time>-<strategy>); must be new or empty\n"
           "  --resume RUN_DIR continue an interrupted run (Ctrl-C checkpoints and stops cleanly)\n"
           "  --then-train N   train the found network from scratch for N epochs afterwards\n"
           "  --score G        rl, random-ws: at the end, also score genotype G (a name, file, run directory or\n"
           "                   text, as 'radars train --genotype' takes) as a path of the trained one-shot\n"
           "                   supernet: its validation accuracy on the same batches as the others scored\n"
           "                   (\"ws_score\" records in metrics.jsonl); repeat for more. With --resume of a\n"
           "                   finished run it scores them on that run's supernet without training again.\n"
           "  --check-sync K   under mpirun: compare a hash of every rank's parameters every K steps and stop\n"
           "                   naming the rank and step where they diverge (a debugging aid; 0 = off)\n"
           "Under mpirun (one rank per device: mpirun -np N radars search ...) the ranks share every batch\n"
           "of the DARTS phase and sample different paths in the RL phase; rank 0 writes the run directory.\n"
           "Writes into the run directory: config.ini, metrics.jsonl, checkpoint.safetensors,\n"
           "genotype.txt (DARTS' Genotype(...) form), genotype.json, report.json, report.txt.\n");
}

int cmd_search(int argc, char **argv) {
    cli_common common = {0};
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    const char *out = NULL, *resume = NULL, *then_train = NULL;
    int64_t stop_after = 0;
    int check_sync = 0;
    enum { MAX_SCORE = 256 };
    static rd_genotype score[MAX_SCORE];
    int n_score = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage();
            cli_config_free(&cargs);
            return 0;
        }
        int r = cli_config_option(&cargs, argc, argv, &i);
        if (r == 0) r = cli_common_option(&common, argc, argv, &i);
        if (r < 0) {
            cli_config_free(&cargs);
            return 2;
        }
        if (r) continue;
        const char **slot = !strcmp(argv[i], "--out") ? &out : !strcmp(argv[i], "--resume") ? &resume
                            : !strcmp(argv[i], "--then-train") ? &then_train : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (!strcmp(argv[i], "--check-sync") && i + 1 < argc) {
            if (cli_int_arg("search", argv[i], argv[i + 1], 0, 1000000, &check_sync)) {
                cli_config_free(&cargs);
                return 1;
            }
            i++;
        } else if (!strcmp(argv[i], "--score") && i + 1 < argc) {
            rd_err gerr = {0};
            const char *spec = argv[++i];
            if (n_score == MAX_SCORE) {
                cli_config_free(&cargs);
                return cli_error("search: at most %d --score genotypes", MAX_SCORE);
            }
            if (rd_genotype_resolve(spec, cli_genotype_dirs(), &score[n_score++], NULL, 0, &gerr) != RD_OK) {
                cli_config_free(&cargs);
                return cli_error("search --score %s: %s", spec, gerr.msg);
            }
        } else if (!strcmp(argv[i], "--stop-after") && i + 1 < argc) {
            stop_after = atoll(argv[++i]); /* testing aid: checkpoint and stop after N steps */
        } else {
            cli_config_free(&cargs);
            return cli_error("search: unknown option or missing value '%s' (see 'radars search --help')", argv[i]);
        }
    }
    if (then_train && cli_config_add_set(&cargs, "output.then_train_epochs=%s", then_train)) {
        cli_config_free(&cargs);
        return 1;
    }
    char run_dir[4096], cfg_path[4200];
    rd_err err = {0};
    if (resume) {
        if (cargs.config) {
            cli_config_free(&cargs);
            return cli_error("search: --resume takes the recipe saved in %s/config.ini; drop --config", resume);
        }
        snprintf(cfg_path, sizeof cfg_path, "%s/config.ini", resume);
        if (access(cfg_path, R_OK) != 0) {
            cli_config_free(&cargs);
            return cli_error("search --resume %s: not a run directory (no readable config.ini)", resume);
        }
        cargs.config = cfg_path;
    }
    rd_search_config cfg;
    if (cli_config_load(&cargs, &cfg)) {
        cli_config_free(&cargs);
        return 1;
    }
    if (cli_run_dir(resume ? resume : out, cfg.out_root, rd_strategy_names[cfg.strategy], resume != NULL, run_dir,
                    sizeof run_dir)) {
        cli_config_free(&cargs);
        return 1;
    }
    rd_ctx *ctx = cli_open_device_built(&common);
    if (!ctx) {
        cli_config_free(&cargs);
        return 1;
    }
    if (cli_is_writer())
        fprintf(stderr, "radars search: %s, recipe %s, run directory %s\n", rd_strategy_names[cfg.strategy],
                cargs.loaded_from ? cargs.loaded_from : "(built-in defaults)", run_dir);
    cli_progress prog;
    rd_search_options opt;
    memset(&opt, 0, sizeof opt);
    opt.run_dir = run_dir;
    opt.resume = resume != NULL;
    opt.stop_after_steps = stop_after;
    opt.sync_check_every = check_sync;
    opt.score = score;
    opt.score_count = n_score;
    opt.interrupt = cli_interrupt_flag();
    opt.observer = cli_progress_start(&prog);
    cli_catch_sigint(1);
    rd_search_result res;
    rd_status st = rd_search_run(ctx, &cfg, &opt, &res, &err);
    cli_progress_end(&prog);
    int rc = 0;
    if (st != RD_OK) {
        rc = cli_error("%s", err.msg);
    } else if (res.interrupted) {
        if (cli_is_writer()) fprintf(stderr, "radars search: stopped; resume with: radars search --resume %s\n", run_dir);
        rc = *cli_interrupt_flag() ? 130 : 0;
    } else {
        if (cli_is_writer()) {
            printf("%s\n", res.genotype_text);
            fflush(stdout);
            cli_draw(run_dir);
        }
        rd_train_result tr;
        memset(&tr, 0, sizeof tr);
        if (cfg.then_train_epochs > 0) {
            if (cli_is_writer()) fprintf(stderr, "radars search: training the found genotype from scratch for %d epochs in %s/train\n",
                    cfg.then_train_epochs, run_dir);
            rd_train_options to;
            memset(&to, 0, sizeof to);
            to.interrupt = cli_interrupt_flag();
            to.observer = opt.observer;
            to.genotype_dirs = cli_genotype_dirs();
            st = rd_search_then_train(ctx, &cfg, run_dir, cfg.then_train_epochs, &to, &tr, &err);
            cli_progress_end(&prog);
            if (st == RD_OK && !tr.interrupted && cli_is_writer()) {
                char train_dir[4200];
                snprintf(train_dir, sizeof train_dir, "%s/train", run_dir);
                cli_draw(train_dir);
            }
            if (st != RD_OK) rc = cli_error("then-train: %s", err.msg);
            else if (tr.interrupted && cli_is_writer()) {
                fprintf(stderr, "radars search: training stopped; resume with: radars search --resume %s "
                                "(or radars train --resume %s/train)\n", run_dir, run_dir);
                rc = *cli_interrupt_flag() ? 130 : 0;
            }
        }
        if (rc == 0 && !tr.interrupted && cli_is_writer()) {
            char trained[256] = "";
            if (cfg.then_train_epochs > 0)
                snprintf(trained, sizeof trained, ", trained from scratch: test accuracy %.2f%% after %d epochs",
                         100 * tr.test_accuracy, tr.epochs);
            char valid[64] = "a random genotype (nothing trained)";
            if (isfinite(res.valid_accuracy)) snprintf(valid, sizeof valid, "valid accuracy %.2f%%", 100 * res.valid_accuracy);
            fprintf(stderr, "%s%s, peak device memory %s (cap %s), %.1f s; results in %s\n", valid, trained,
                    RD_BYTES(res.peak), RD_BYTES(res.cap), res.seconds, run_dir);
        }
    }
    cli_catch_sigint(0);
    rd_ctx_free(ctx);
    cli_config_free(&cargs);
    return rc;
}
