/* Shared by the commands that take a search recipe: --config, --set, the default recipe. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* configs/NAME: next to the working directory, $RADARS_CONFIG_DIR, the source
 * tree of this build, or the installed data directory. */
const char *cli_find_config(const char *name) {
    static char found[4][4096];
    static int slot;
    const char *env = getenv("RADARS_CONFIG_DIR");
    char cand[4][4096];
    snprintf(cand[0], sizeof cand[0], "configs/%s", name);
    snprintf(cand[1], sizeof cand[1], "%s/%s", env ? env : "", name);
    snprintf(cand[2], sizeof cand[2], "%s/configs/%s", RADARS_SOURCE_DIR, name);
    snprintf(cand[3], sizeof cand[3], "%s/configs/%s", RADARS_DATA_DIR, name);
    for (int i = 0; i < 4; i++) {
        if (i == 1 && !env) continue;
        if (access(cand[i], R_OK) == 0) {
            char *out = found[slot++ % 4];
            snprintf(out, sizeof found[0], "%s", cand[i]);
            return out;
        }
    }
    return NULL;
}

const char *cli_default_config(void) { return cli_find_config("default.ini"); }

const char *const *cli_genotype_dirs(void) {
    static char dirs[4][4096];
    static const char *list[5];
    const char *env = getenv("RADARS_CONFIG_DIR");
    int n = 0;
    snprintf(dirs[n++], sizeof dirs[0], "configs/genotypes");
    if (env) snprintf(dirs[n++], sizeof dirs[0], "%s/genotypes", env);
    snprintf(dirs[n++], sizeof dirs[0], "%s/configs/genotypes", RADARS_SOURCE_DIR);
    snprintf(dirs[n++], sizeof dirs[0], "%s/configs/genotypes", RADARS_DATA_DIR);
    for (int i = 0; i < n; i++) list[i] = dirs[i];
    list[n] = NULL;
    return list;
}

int cli_config_option(cli_config_args *a, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    if (!strncmp(arg, "--mem-cap=", 10)) return cli_config_add_set(a, "memory.cap=%s", arg + 10) ? -1 : 1;
    if (!strcmp(arg, "--config") || !strcmp(arg, "--set") || !strcmp(arg, "--strategy") || !strcmp(arg, "--mem-cap")) {
        if (*i + 1 >= argc) {
            cli_error("%s needs a value", arg);
            return -1;
        }
        const char *v = argv[++*i];
        if (!strcmp(arg, "--config")) {
            a->config = v;
            return 1;
        }
        const char *key = !strcmp(arg, "--strategy") ? "search.strategy=" : !strcmp(arg, "--mem-cap") ? "memory.cap=" : "";
        return cli_config_add_set(a, "%s%s", key, v) ? -1 : 1;
    }
    return 0;
}

int cli_config_add_set(cli_config_args *a, const char *fmt, ...) {
    if (a->n_sets >= CLI_MAX_SETS) return cli_error("too many --set options (at most %d)", CLI_MAX_SETS);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return cli_error("out of host memory");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    a->owned[a->n_sets] = s;
    a->sets[a->n_sets++] = s;
    return 0;
}

int cli_open_train_split(const rd_search_config *cfg, rd_dataset *ds) {
    rd_data_options dopt;
    memset(&dopt, 0, sizeof dopt);
    dopt.resize_h = dopt.resize_w = cfg->image_size;
    dopt.classes = cfg->classes;
    rd_err err = {0};
    if (rd_dataset_open(cfg->dataset, "train", &dopt, ds, &err) != RD_OK) return cli_error("%s", err.msg);
    return 0;
}

int cli_config_load(cli_config_args *a, rd_search_config *cfg) {
    rd_err err = {0};
    const char *path = a->config;
    if (!path && !a->no_default) path = cli_default_config();
    if (rd_search_config_load(cfg, path, (const char *const *)a->sets, a->n_sets, &err) != RD_OK) {
        cli_error("%s", err.msg);
        return 1;
    }
    a->loaded_from = path;
    return 0;
}

void cli_config_free(cli_config_args *a) {
    for (int i = 0; i < a->n_sets; i++) free(a->owned[i]);
    a->n_sets = 0;
}
