/* radars plot: the pictures of a run directory (curves, alphas, RL rounds, cells). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_plot(int argc, char **argv) {
    const char *dir = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars plot [-q] RUN_DIR\n"
                   "(Re)draws every picture the run directory's files allow into RUN_DIR/plots/:\n"
                   "  cell_normal.png, cell_reduce.png (+ .dot)  the genotype's cells (genotype.txt, else the\n"
                   "                                            last genotype in metrics.jsonl)\n"
                   "  loss.png, accuracy.png, lr.png            per epoch (search or training runs)\n"
                   "  alphas_normal.png, alphas_reduce.png      softmax of the alphas per edge over the epochs\n"
                   "  rl_reward.png                             reward of every RL sample, rounds marked\n"
                   "  rl_pareto.png                             every RL sample's accuracy against its measured\n"
                   "                                            latency and its parameters, Pareto front marked\n"
                   "  rl_rounds.png                             ops alive and device memory per RL round\n"
                   "  rl_pruning.png                            per edge and op: the round that removed it\n"
                   "Pictures whose data the run does not have are skipped. Works on a run in progress.\n"
                   "  -q, --quiet   do not list the files written\n");
            return 0;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!dir && argv[i][0] != '-') dir = argv[i];
        else if (argv[i][0] == '-') return cli_error("plot: unknown option '%s' (see 'radars plot --help')", argv[i]);
        else return cli_error("plot: one run directory at a time ('%s' is a second)", argv[i]);
    }
    if (!dir) return cli_error("plot: which run directory? (radars plot RUN_DIR)");
    rd_plot_result res;
    rd_err err = {0};
    if (rd_plot_run_dir(dir, &res, &err) != RD_OK) return cli_error("plot: %s", err.msg);
    if (!quiet) {
        size_t n = strlen(dir);
        const char *sep = n && dir[n - 1] == '/' ? "" : "/";
        for (int i = 0; i < res.count; i++) printf("%s%splots/%s\n", dir, sep, res.files[i]);
        if (!res.count) printf("%s: no picture to draw yet (no epochs, RL samples or genotype)\n", dir);
    }
    return 0;
}

void cli_draw(const char *run_dir) {
    rd_err err = {0};
    if (rd_plot_run_dir(run_dir, NULL, &err) != RD_OK) fprintf(stderr, "radars: pictures not drawn: %s\n", err.msg);
}
