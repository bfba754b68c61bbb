/* The radars command line: one file per command, all thin over libradars. */
#ifndef RADARS_CLI_H
#define RADARS_CLI_H

#include "radars/radars.h"

/* Options every device-using command accepts: --device SEL, --mem-cap SIZE, -v. */
typedef struct cli_common {
    const char *device;
    const char *mem_cap;
    int verbose;
} cli_common;

/* If argv[*i] is a common option, consumes it (and its value) and returns 1;
 * returns -1 (after printing an error) when its value is missing. */
int cli_common_option(cli_common *c, int argc, char **argv, int *i);
/* Creates the context from the common options; prints the error and returns NULL on failure. */
rd_ctx *cli_open_device(const cli_common *c);
/* "radars: <message>" on stderr; returns 1 (the exit status). */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
int cli_is_help(const char *arg);

/* --config FILE, --set k=v, --strategy S, --mem-cap SIZE (the last two are --set shorthands). */
enum { CLI_MAX_SETS = 64 };
typedef struct cli_config_args {
    const char *config;
    const char *sets[CLI_MAX_SETS];
    char *owned[CLI_MAX_SETS];
    int n_sets;
    int no_default;          /* do not fall back to configs/default.ini */
    const char *loaded_from; /* the file actually read (NULL: schema defaults) */
} cli_config_args;
int cli_config_option(cli_config_args *a, int argc, char **argv, int *i);
int cli_config_load(cli_config_args *a, rd_search_config *cfg);
void cli_config_free(cli_config_args *a);
const char *cli_default_config(void);

int cmd_devices(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_genotype(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_plot(int argc, char **argv);

#endif
