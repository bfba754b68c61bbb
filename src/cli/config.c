/* radars config: print a recipe resolved (defaults + file + --set) with every key documented. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_config(int argc, char **argv) {
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars config [--config FILE] [--set k=v ...] [--defaults]\n"
                   "Prints the search recipe that --config and --set resolve to, as a complete INI file\n"
                   "with every key's documentation, type, range and default: a starting point for a new\n"
                   "recipe. --defaults starts from the built-in defaults instead of configs/default.ini.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--defaults")) {
            cargs.no_default = 1;
            continue;
        }
        int r = cli_config_option(&cargs, argc, argv, &i);
        if (r <= 0) {
            cli_config_free(&cargs);
            return r < 0 ? 2 : cli_error("config: unknown option '%s'", argv[i]);
        }
    }
    rd_search_config cfg;
    int rc = cli_config_load(&cargs, &cfg);
    rd_err err = {0};
    if (!rc && rd_config_write(&rd_search_schema, &cfg, stdout, &err) != RD_OK) rc = cli_error("%s", err.msg);
    cli_config_free(&cargs);
    return rc;
}
