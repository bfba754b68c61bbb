/* radars config: print a recipe resolved (defaults + file + --set) with every key documented. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_config(int argc, char **argv) {
    cli_config_args cargs;
    memset(&cargs, 0, sizeof cargs);
    const char *schema = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars config [--schema search|train] [--config FILE] [--set k=v ...] [--defaults]\n"
                   "Prints the recipe that --config and --set resolve to, as a complete INI file with every\n"
                   "key's documentation, type, range and default: a starting point for a new recipe.\n"
                   "  --schema S  search (radars search; default configs/default.ini) or train (radars train;\n"
                   "              default configs/train.ini); by default the schema FILE declares, else search\n"
                   "  --defaults  start from the built-in defaults instead of the default recipe\n");
            return 0;
        }
        if (!strcmp(argv[i], "--defaults")) {
            cargs.no_default = 1;
            continue;
        }
        if (!strcmp(argv[i], "--schema")) {
            if (i + 1 >= argc) return cli_error("--schema needs a value");
            schema = argv[++i];
            if (strcmp(schema, "search") && strcmp(schema, "train"))
                return cli_error("config: unknown schema '%s' (search or train)", schema);
            continue;
        }
        int r = cli_config_option(&cargs, argc, argv, &i);
        if (r <= 0) {
            cli_config_free(&cargs);
            return r < 0 ? 2 : cli_error("config: unknown option '%s'", argv[i]);
        }
    }
    rd_err err = {0};
    char declared[64] = "";
    if (!schema && cargs.config) {
        if (rd_config_file_schema(cargs.config, declared, sizeof declared, &err) != RD_OK) {
            cli_config_free(&cargs);
            return cli_error("%s", err.msg);
        }
        if (!strcmp(declared, "train")) schema = "train";
    }
    int rc = 0;
    if (schema && !strcmp(schema, "train")) {
        const char *path = cargs.config ? cargs.config : cargs.no_default ? NULL : cli_find_config("train.ini");
        rd_train_config cfg;
        if (rd_train_config_load(&cfg, path, (const char *const *)cargs.sets, cargs.n_sets, &err) != RD_OK ||
            rd_config_write(&rd_train_schema, &cfg, stdout, &err) != RD_OK)
            rc = cli_error("%s", err.msg);
    } else {
        rd_search_config cfg;
        rc = cli_config_load(&cargs, &cfg);
        if (!rc && rd_config_write(&rd_search_schema, &cfg, stdout, &err) != RD_OK) rc = cli_error("%s", err.msg);
    }
    cli_config_free(&cargs);
    return rc;
}
