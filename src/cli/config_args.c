/* Shared by the commands that take a search recipe: --config, --set, the default recipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* configs/default.ini: next to the working directory, the source tree of this
 * build, or the installed data directory. */
const char *cli_default_config(void) {
    static char found[4096];
    const char *env = getenv("RADARS_CONFIG_DIR");
    const char *candidates[4] = {"configs/default.ini", NULL, RADARS_SOURCE_DIR "/configs/default.ini",
                                 RADARS_DATA_DIR "/configs/default.ini"};
    char envpath[4096];
    if (env) {
        snprintf(envpath, sizeof envpath, "%s/default.ini", env);
        candidates[1] = envpath;
    }
    for (int i = 0; i < 4; i++)
        if (candidates[i] && access(candidates[i], R_OK) == 0) {
            snprintf(found, sizeof found, "%s", candidates[i]);
            return found;
        }
    return NULL;
}

int cli_config_option(cli_config_args *a, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
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
        if (a->n_sets >= CLI_MAX_SETS) {
            cli_error("too many --set options");
            return -1;
        }
        char *s = a->owned[a->n_sets] = malloc(strlen(v) + 32);
        if (!s) return -1;
        if (!strcmp(arg, "--set")) strcpy(s, v);
        else if (!strcmp(arg, "--strategy")) sprintf(s, "search.strategy=%s", v);
        else sprintf(s, "memory.cap=%s", v);
        a->sets[a->n_sets++] = s;
        return 1;
    }
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
