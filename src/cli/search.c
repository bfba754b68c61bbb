/* radars search: run a search and show its progress. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static volatile int g_interrupt;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

typedef struct progress {
    int tty;
    double last_print;
    int bar_shown;
} progress;

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_time(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, len, "?");
    else if (s >= 3600) snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void on_log(void *user, const char *line) {
    progress *p = user;
    if (p->tty && p->bar_shown) fputs("\r\033[K", stderr);
    p->bar_shown = 0;
    fprintf(stderr, "%s\n", line);
}

/* A bar on a terminal; elsewhere a plain line at most every 30 s (and at the end of a phase). */
static void on_progress(void *user, const char *phase, int64_t step, int64_t total, double loss, double ips,
                        double eta) {
    progress *p = user;
    double t = wall();
    char eta_s[32];
    fmt_time(eta, eta_s, sizeof eta_s);
    if (p->tty) {
        if (t - p->last_print < 0.1 && step < total) return;
        int width = 30, fill = total ? (int)(width * step / total) : 0;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K%-5s [%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s", phase, bar, (long long)step,
                (long long)total, loss, ips, eta_s);
        p->bar_shown = 1;
    } else {
        if (t - p->last_print < 30 && step < total) return;
        fprintf(stderr, "%s step %lld/%lld loss %.4f %.0f img/s eta %s\n", phase, (long long)step, (long long)total,
                loss, ips, eta_s);
    }
    p->last_print = t;
}

static void usage(void) {
    printf("usage: radars search [--config FILE] [--set section.key=value ...] [--strategy radars|darts|rl]\n"
           "                     [--device SEL] [--mem-cap SIZE] [--out RUN_DIR] [--resume RUN_DIR]\n"
           "                     [--then-train EPOCHS] [-v]\n"
           "Searches an architecture on the device found (see 'radars devices').\n"
           "  --config FILE    recipe (default: configs/default.ini: RADARS on the large op set, Fashion-MNIST)\n"
           "  --set k=v        override any key of the recipe (see the comments in configs/*.ini)\n"
           "  --strategy S     radars: RL rounds prune the ops until DARTS fits the memory cap, then DARTS;\n"
           "                   darts: plain DARTS (refused at once if it does not fit); rl: RL-only baseline\n"
           "  --mem-cap SIZE   memory cap, e.g. 2GiB (default: device global memory x memory.safety_fraction)\n"
           "  --out RUN_DIR    run directory (default: runs/<time>-<strategy>); must be new or empty\n"
           "  --resume RUN_DIR continue an interrupted run (Ctrl-C checkpoints and stops cleanly)\n"
           "  --then-train N   train the found network from scratch for N epochs afterwards\n"
           "Writes into the run directory: config.ini, metrics.jsonl, checkpoint.safetensors,\n"
           "genotype.txt (DARTS' Genotype(...) form), genotype.json, report.json, report.txt.\n");
}

int cmd_search(int argc, char **argv) {
    cli_common common = {0};
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    const char *out = NULL, *resume = NULL, *then_train = NULL;
    int64_t stop_after = 0;
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
        } else if (!strcmp(argv[i], "--stop-after") && i + 1 < argc) {
            stop_after = atoll(argv[++i]); /* testing aid: checkpoint and stop after N steps */
        } else {
            cli_config_free(&cargs);
            return cli_error("search: unknown option or missing value '%s' (see 'radars search --help')", argv[i]);
        }
    }
    /* the common parser took --mem-cap; route it into the recipe */
    if (common.mem_cap) {
        char *s = cargs.owned[cargs.n_sets] = malloc(strlen(common.mem_cap) + 16);
        sprintf(s, "memory.cap=%s", common.mem_cap);
        cargs.sets[cargs.n_sets++] = s;
        common.mem_cap = NULL;
    }
    if (then_train) {
        char *s = cargs.owned[cargs.n_sets] = malloc(strlen(then_train) + 32);
        sprintf(s, "output.then_train_epochs=%s", then_train);
        cargs.sets[cargs.n_sets++] = s;
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
    rd_run_dir_options ro = {resume ? resume : out, cfg.out_root, rd_strategy_names[cfg.strategy], resume != NULL};
    if (rd_run_dir_create(&ro, run_dir, sizeof run_dir, &err) != RD_OK) {
        cli_config_free(&cargs);
        return cli_error("%s", err.msg);
    }
    rd_ctx *ctx = cli_open_device(&common);
    if (!ctx) {
        cli_config_free(&cargs);
        return 1;
    }
    fprintf(stderr, "radars search: %s, recipe %s, run directory %s\n", rd_strategy_names[cfg.strategy],
            cargs.loaded_from ? cargs.loaded_from : "(built-in defaults)", run_dir);
    progress prog = {isatty(STDERR_FILENO), 0, 0};
    rd_search_options opt;
    memset(&opt, 0, sizeof opt);
    opt.run_dir = run_dir;
    opt.resume = resume != NULL;
    opt.stop_after_steps = stop_after;
    opt.interrupt = &g_interrupt;
    opt.observer.user = &prog;
    opt.observer.log = on_log;
    opt.observer.progress = on_progress;
    signal(SIGINT, on_sigint);
    rd_search_result res;
    rd_status st = rd_search_run(ctx, &cfg, &opt, &res, &err);
    signal(SIGINT, SIG_DFL);
    if (prog.bar_shown) fputs("\r\033[K", stderr);
    int rc = 0;
    if (st != RD_OK) {
        rc = cli_error("%s", err.msg);
    } else if (res.interrupted) {
        fprintf(stderr, "radars search: stopped; resume with: radars search --resume %s\n", run_dir);
        rc = g_interrupt ? 130 : 0;
    } else {
        char b1[32], b2[32];
        printf("%s\n", res.genotype_text);
        fprintf(stderr, "valid accuracy %.2f%%, peak device memory %s (cap %s), %.1f s; results in %s\n",
                100 * res.valid_accuracy, rd_format_bytes(res.peak, b1, sizeof b1),
                rd_format_bytes(res.cap, b2, sizeof b2), res.seconds, run_dir);
    }
    rd_ctx_free(ctx);
    cli_config_free(&cargs);
    return rc;
}
