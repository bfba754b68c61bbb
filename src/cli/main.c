/* radars: command dispatch. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "radars/tune.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices"},
    {"selfcheck", cmd_selfcheck, "build every kernel and check each op against its host reference"},
    {"search", cmd_search, "search an architecture: RADARS (default), DARTS or RL"},
    {"train", cmd_train, "train a genotype's network from scratch (DARTS' evaluation), then test it"},
    {"eval", cmd_eval, "test a trained network: top-1, per-class accuracy, images/s, peak memory"},
    {"tune", cmd_tune, "time this device's kernel parameters at a recipe's shapes; later runs use the winners"},
    {"plan", cmd_plan, "predict a search's peak device memory per op set, and whether it fits"},
    {"genotype", cmd_genotype, "print the genotype of a checkpoint or run directory"},
    {"config", cmd_config, "print a resolved search recipe with every key documented"},
    {"plot", cmd_plot, "draw a run directory's curves, alphas, RL rounds and cells into RUN_DIR/plots/"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: radars <command> [options]   (radars <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment: RADARS_DEVICE (device index or name), RADARS_CACHE_DIR (kernel binary cache)\n");
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("radars: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int cli_common_option(cli_common *c, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char **slot = NULL;
    if (!strcmp(a, "--device")) slot = &c->device;
    else if (!strcmp(a, "--mem-cap")) slot = &c->mem_cap;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { c->verbose = 1; return 1; }
    else if (!strncmp(a, "--device=", 9)) { c->device = a + 9; return 1; }
    else if (!strncmp(a, "--mem-cap=", 10)) { c->mem_cap = a + 10; return 1; }
    if (!slot) return 0;
    if (*i + 1 >= argc) { cli_error("%s needs a value", a); return -1; }
    *slot = argv[++*i];
    return 1;
}

rd_ctx *cli_open_device(const cli_common *c) {
    rd_ctx_options opt = {0};
    rd_err err = {0};
    opt.device = c->device;
    opt.verbose = c->verbose;
    if (c->mem_cap && rd_parse_bytes(c->mem_cap, &opt.mem_cap, &err) != RD_OK) {
        cli_error("--mem-cap: %s", err.msg);
        return NULL;
    }
    rd_ctx *ctx = NULL;
    if (rd_ctx_create(&opt, &ctx, &err) != RD_OK) {
        cli_error("%s", err.msg);
        return NULL;
    }
    char note[1400];
    rd_tuning_load(ctx, note, sizeof note);
    fprintf(stderr, "radars: %s\n", note);
    return ctx;
}

rd_ctx *cli_open_device_built(const cli_common *c) {
    rd_ctx *ctx = cli_open_device(c);
    if (ctx && rd_build_all_programs(ctx, stderr) != RD_OK) {
        cli_error("%s", rd_ctx_error(ctx));
        rd_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

int main(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see 'radars --help')", argv[1]);
    return 2;
}
