/* radars genotype: the genotype a checkpoint (or run directory) holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

int cmd_genotype(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    rd_geno_guard guard = {RD_GUARD_STORED, RD_GUARD_STORED};
    /* each option sets one guard limit; its range is its config key's (search_config.c's table) */
    const struct { const char *opt, *key; int *limit; } limits[] = {
        {"--max-skip-normal", "search.max_skip_normal", &guard.max_skip},
        {"--max-param-free-normal", "search.max_param_free_normal", &guard.max_param_free},
    };
    enum { N_LIMITS = sizeof limits / sizeof *limits };
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars genotype [--json] [--max-skip-normal M] [--max-param-free-normal M] CKPT|RUN_DIR\n"
                   "Derives the genotype from a search checkpoint (DARTS' rule on its alphas over the\n"
                   "alive ops, or the RL policy's most likely ops for the RL strategy), or reads the one a\n"
                   "training checkpoint trained, and prints it in DARTS' Genotype(...) form, or as JSON.\n"
                   "The search's guard rules (search.max_skip_normal, search.max_param_free_normal) apply;\n"
                   "--max-skip-normal / --max-param-free-normal derive it again under another limit (-1: off).\n");
            return 0;
        }
        int l = 0;
        while (l < N_LIMITS && strcmp(argv[i], limits[l].opt)) l++;
        if (l < N_LIMITS) {
            const rd_cfg_key *k = rd_config_find(&rd_search_schema, limits[l].key);
            if (cli_int_arg("genotype", argv[i], i + 1 < argc ? argv[i + 1] : NULL, (long)k->min, (long)k->max,
                            limits[l].limit))
                return 1;
            i++;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else return cli_error("genotype: unknown option '%s'", argv[i]);
    }
    if (!path) return cli_error("genotype: which checkpoint? (radars genotype CKPT)");
    char file[4200];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(file, sizeof file, "%s/checkpoint.safetensors", path);
    else snprintf(file, sizeof file, "%s", path);
    rd_genotype g;
    rd_err err = {0};
    if (rd_checkpoint_genotype(file, &guard, &g, &err) != RD_OK) {
        /* a training checkpoint holds the genotype it trained (no rule changes it) */
        rd_train_checkpoint_info info;
        rd_err terr = {0};
        if (rd_train_checkpoint_peek(file, &info, &terr) != RD_OK) return cli_error("%s", err.msg);
        if (guard.max_skip != RD_GUARD_STORED || guard.max_param_free != RD_GUARD_STORED)
            return cli_error("genotype: %s is a training checkpoint: its genotype is fixed (the guard options "
                             "apply to a search's)", file);
        g = info.genotype;
    }
    char buf[2048];
    printf("%s\n", json ? rd_genotype_to_json(&g, buf, sizeof buf) : rd_genotype_format(&g, buf, sizeof buf));
    return 0;
}
