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
/* A run directory, created by rank 0 and named to every rank (NULL want: a new one under root). */
int cli_run_dir(const char *want, const char *root, const char *tag, int resume, char *out, size_t len);
/* Creates the context from the common options (in a job, without --device, the node-local
 * rank picks the node's device of the preferred kind) and gives it the job; prints the
 * error and returns NULL on failure. */
rd_ctx *cli_open_device(const cli_common *c);
/* The same, then every kernel program built (or loaded) up front, in parallel,
 * with progress on stderr: a cold first run compiles in one visible batch. */
rd_ctx *cli_open_device_built(const cli_common *c);
/* The job this process belongs to (radars/comm.h; a job of one without mpirun). */
rd_comm *cli_comm(void);
/* Whether this process writes the run directory and the log (rank 0 of a job). */
int cli_is_writer(void);
/* "radars: <message>" on stderr (in a job of several ranks, "radars: rank R of N: ...");
 * returns 1 (the exit status). */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
int cli_is_help(const char *arg);
/* An option's integer value v (NULL: it was missing) in lo..hi, into *out; 0, or 1 after printing
 * "CMD: OPT needs an integer from LO to HI[, not 'v']". */
int cli_int_arg(const char *cmd, const char *opt, const char *v, long lo, long hi, int *out);

/* --config FILE, --set k=v, --strategy S, --mem-cap SIZE or --mem-cap=SIZE (the last two are --set
 * shorthands; taken before the common options, so a recipe's cap is memory.cap). */
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
/* Appends one "section.key=value" setting, printf-style; 0, or 1 after printing the error. */
int cli_config_add_set(cli_config_args *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int cli_config_load(cli_config_args *a, rd_search_config *cfg);
/* The recipe's training split (its data set, image size, classes); 0, or 1 after printing the error. */
int cli_open_train_split(const rd_search_config *cfg, rd_dataset *ds);
void cli_config_free(cli_config_args *a);
const char *cli_default_config(void);

/* A recipe by file name (e.g. "train.ini"): ./configs/, $RADARS_CONFIG_DIR, the
 * source tree of this build, the installed data directory; NULL if none. */
const char *cli_find_config(const char *name);
/* Folders of named genotypes (configs/genotypes, same places), NULL-terminated. */
const char *const *cli_genotype_dirs(void);

/* Progress of long commands: a bar on a terminal, plain lines elsewhere. */
typedef struct cli_progress {
    int tty;
    double last_print;
    int bar_shown;
} cli_progress;
rd_search_observer cli_progress_start(cli_progress *p);
void cli_progress_end(cli_progress *p);
/* Ctrl-C (SIGINT), SIGTERM and SIGUSR1 set the flag (checkpoint and stop at the next step;
 * every rank of a job stops there); cli_catch_sigint(0) restores the defaults. */
volatile int *cli_interrupt_flag(void);
void cli_catch_sigint(int on);

int cmd_devices(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_genotype(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* Draws a finished run directory's pictures (radars plot); a failure is one line on stderr. */
void cli_draw(const char *run_dir);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tune(int argc, char **argv);

#endif
