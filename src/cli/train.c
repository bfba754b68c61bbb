/* radars train: train a genotype's network from scratch and test it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static void usage(void) {
    printf("usage: radars train [--genotype G] [--config FILE] [--set section.key=value ...] [--epochs N]\n"
           "                    [--device SEL] [--mem-cap SIZE] [--out RUN_DIR] [--resume RUN_DIR] [--no-plots] [-v]\n"
           "Trains the network of a genotype from scratch (DARTS' evaluation network: SGD with momentum,\n"
           "cosine learning rate, gradient clipping, drop-path, optional auxiliary head, cutout), validating\n"
           "each epoch, then measures its test accuracy.\n"
           "  --genotype G     a name from configs/genotypes (DARTS_V1, DARTS_V2, PC_DARTS), a search run\n"
           "                   directory (its genotype.txt), a genotype file, or the text Genotype(...)\n"
           "  --config FILE    recipe of schema 'train' (default: configs/train.ini: DARTS_V2 on Fashion-MNIST);\n"
           "                   configs/train_darts_cifar10.ini is the DARTS paper's CIFAR-10 evaluation\n"
           "  --set k=v        override any key of the recipe (see the comments in configs/train.ini)\n"
           "  --epochs N       shorthand for --set train.epochs=N\n"
           "  --mem-cap SIZE   device memory cap, e.g. 2GiB (default: the device's global memory)\n"
           "  --out RUN_DIR    run directory (default: runs/<time>-train); must be new or empty\n"
           "  --resume RUN_DIR continue an interrupted run (Ctrl-C checkpoints and stops cleanly); the\n"
           "                   result is the same as an uninterrupted run's\n"
           "  --check-sync K   under mpirun: compare a hash of every rank's parameters every K steps and stop\n"
           "                   naming the rank and step where they diverge (a debugging aid; 0 = off)\n"
           "Under mpirun (one rank per device: mpirun -np N radars train ...) the ranks share every batch\n"
           "(data.batch must be a multiple of N); rank 0 writes the run directory.\n"
           "Writes into the run directory: config.ini, genotype.txt, genotype.json, metrics.jsonl (one\n"
           "record per epoch, a final one with the test accuracy), checkpoint.safetensors (PyTorch names,\n"
           "loadable with load_state_dict(strict=True)), report.json, report.txt, plots/.\n"
           "Test it again with: radars eval RUN_DIR\n");
}

int cmd_train(int argc, char **argv) {
    cli_common common = {0};
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    const char *out = NULL, *resume = NULL, *genotype = NULL, *epochs = NULL;
    int64_t stop_after = 0;
    int no_plots = 0, rc = 0, check_sync = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (cli_is_help(argv[i])) {
            usage();
            cli_config_free(&cargs);
            return 0;
        }
        int r = cli_common_option(&common, argc, argv, &i);
        if (r == 0 && (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--set")))
            r = cli_config_option(&cargs, argc, argv, &i);
        if (r < 0) rc = 2;
        if (r) continue;
        const char **slot = !strcmp(argv[i], "--out")        ? &out
                            : !strcmp(argv[i], "--resume")   ? &resume
                            : !strcmp(argv[i], "--genotype") ? &genotype
                            : !strcmp(argv[i], "--epochs")   ? &epochs
                                                             : NULL;
        if (slot && i + 1 < argc) *slot = argv[++i];
        else if (!strcmp(argv[i], "--stop-after") && i + 1 < argc) stop_after = atoll(argv[++i]); /* testing aid */
        else if (!strcmp(argv[i], "--no-plots")) no_plots = 1;
        else if (!strcmp(argv[i], "--check-sync") && i + 1 < argc) {
            rc = cli_int_arg("train", argv[i], argv[i + 1], 0, 1000000, &check_sync);
            i++;
        }
        else rc = cli_error("train: unknown option or missing value '%s' (see 'radars train --help')", argv[i]);
    }
    if (!rc && genotype) rc = cli_config_add_set(&cargs, "model.genotype=%s", genotype);
    if (!rc && epochs) rc = cli_config_add_set(&cargs, "train.epochs=%s", epochs);
    char cfg_path[4200];
    if (!rc && resume) {
        if (cargs.config || genotype)
            rc = cli_error("train: --resume takes the recipe and genotype saved in %s; drop --config and --genotype", resume);
        snprintf(cfg_path, sizeof cfg_path, "%s/config.ini", resume);
        if (!rc && access(cfg_path, R_OK) != 0)
            rc = cli_error("train --resume %s: not a training run directory (no readable config.ini)", resume);
        cargs.config = cfg_path;
    }
    const char *path = cargs.config ? cargs.config : cli_find_config("train.ini");
    rd_train_config cfg;
    rd_err err = {0};
    if (!rc && rd_train_config_load(&cfg, path, (const char *const *)cargs.sets, cargs.n_sets, &err) != RD_OK)
        rc = cli_error("%s", err.msg);
    /* a bad genotype is refused before any directory is made or device opened */
    rd_genotype g;
    if (!rc && !resume && rd_genotype_resolve(cfg.genotype, cli_genotype_dirs(), &g, NULL, 0, &err) != RD_OK)
        rc = cli_error("model.genotype: %s", err.msg);
    char run_dir[4096];
    if (!rc) rc = cli_run_dir(resume ? resume : out, cfg.out_root, "train", resume != NULL, run_dir, sizeof run_dir);
    rd_ctx *ctx = rc ? NULL : cli_open_device_built(&common);
    if (!rc && !ctx) rc = 1;
    if (rc) {
        cli_config_free(&cargs);
        return rc;
    }
    if (cli_is_writer())
        fprintf(stderr, "radars train: recipe %s, run directory %s\n", path ? path : "(built-in defaults)", run_dir);
    cli_progress prog;
    rd_train_options opt;
    memset(&opt, 0, sizeof opt);
    opt.run_dir = run_dir;
    opt.resume = resume != NULL;
    opt.stop_after_steps = stop_after;
    opt.sync_check_every = check_sync;
    opt.interrupt = cli_interrupt_flag();
    opt.observer = cli_progress_start(&prog);
    opt.genotype_dirs = cli_genotype_dirs();
    cli_catch_sigint(1);
    rd_train_result res;
    rd_status st = rd_train_run(ctx, &cfg, &opt, &res, &err);
    cli_catch_sigint(0);
    cli_progress_end(&prog);
    if (st != RD_OK) {
        rc = cli_error("%s", err.msg);
    } else if (res.interrupted) {
        if (cli_is_writer()) fprintf(stderr, "radars train: stopped; resume with: radars train --resume %s\n", run_dir);
        rc = *cli_interrupt_flag() ? 130 : 0;
    } else if (cli_is_writer()) {
        if (!no_plots) cli_draw(run_dir);
        printf("test_acc=%.4f epochs=%d params=%.0f seconds=%.1f run_dir=%s\n", res.test_accuracy, res.epochs,
               res.params, res.seconds, run_dir);
        fprintf(stderr, "test accuracy %.2f%% after %d epochs, %.2f M parameters, peak device memory %s, %.1f s; results in %s\n",
                100 * res.test_accuracy, res.epochs, res.params / 1e6, RD_BYTES(res.peak),
                res.seconds, run_dir);
    }
    rd_ctx_free(ctx);
    cli_config_free(&cargs);
    return rc;
}
