/* radars genotype: the genotype a checkpoint (or run directory) holds. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

int cmd_genotype(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars genotype [--json] CKPT|RUN_DIR\n"
                   "Derives the genotype from a search checkpoint (DARTS' rule on its alphas over the\n"
                   "alive ops, or the RL policy's most likely ops for the RL strategy), or reads the one a\n"
                   "training checkpoint trained, and prints it in DARTS' Genotype(...) form, or as JSON.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--json")) json = 1;
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
    if (rd_checkpoint_genotype(file, &g, &err) != RD_OK) {
        /* a training checkpoint holds the genotype it trained */
        rd_train_checkpoint_info info;
        rd_err terr = {0};
        if (rd_train_checkpoint_peek(file, &info, &terr) != RD_OK) return cli_error("%s", err.msg);
        g = info.genotype;
    }
    char buf[2048];
    printf("%s\n", json ? rd_genotype_to_json(&g, buf, sizeof buf) : rd_genotype_format(&g, buf, sizeof buf));
    return 0;
}
