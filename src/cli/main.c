/* radars: command dispatch. */
#include <errno.h>
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

static rd_comm *g_comm;
rd_comm *cli_comm(void) { return g_comm; }
int cli_is_writer(void) { return rd_comm_rank(g_comm) == 0; }

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("radars: ", stderr);
    if (rd_comm_size(g_comm) > 1) fprintf(stderr, "rank %d of %d: ", rd_comm_rank(g_comm), rd_comm_size(g_comm));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int cli_int_arg(const char *cmd, const char *opt, const char *v, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v) return cli_error("%s: %s needs an integer from %ld to %ld", cmd, opt, lo, hi);
    if (end == v || *end || errno || x < lo || x > hi)
        return cli_error("%s: %s needs an integer from %ld to %ld, not '%s'", cmd, opt, lo, hi, v);
    *out = (int)x;
    return 0;
}

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
    opt.nth = rd_comm_local_rank(g_comm);
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
    rd_ctx_set_comm(ctx, g_comm);
    char note[1400];
    rd_tuning_load(ctx, note, sizeof note);
    if (cli_is_writer()) fprintf(stderr, "radars: %s\n", note);
    return ctx;
}

int cli_run_dir(const char *want, const char *root, const char *tag, int resume, char *out, size_t len) {
    rd_err err = {0};
    int failed = 0;
    if (cli_is_writer()) {
        rd_run_dir_options ro = {want, root, tag, resume};
        failed = rd_run_dir_create(&ro, out, len, &err) != RD_OK;
    }
    /* the writer's outcome and name, to every rank */
    if (rd_comm_bcast(g_comm, &failed, sizeof failed, 0, &err) != RD_OK ||
        (!failed && rd_comm_bcast(g_comm, out, len, 0, &err) != RD_OK))
        failed = 1;
    if (failed) return cli_error("%s", err.msg[0] ? err.msg : "rank 0 could not create the run directory");
    return 0;
}

rd_ctx *cli_open_device_built(const cli_common *c) {
    rd_ctx *ctx = cli_open_device(c);
    if (ctx && rd_build_all_programs(ctx, cli_is_writer() ? stderr : NULL) != RD_OK) {
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
    rd_err err = {0};
    if (rd_comm_init(&argc, &argv, &g_comm, &err) != RD_OK) return cli_error("%s", err.msg);
    int rc = -1;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) rc = commands[i].run(argc - 1, argv + 1);
    if (rc < 0) rc = cli_error("unknown command '%s' (see 'radars --help')", argv[1]) + 1;
    /* a rank that fails while the others wait in a collective stops the whole job */
    if (rc != 0 && rc != 130 && rd_comm_size(g_comm) > 1) rd_comm_abort(g_comm, rc);
    rd_comm_free(g_comm);
    return rc;
}
