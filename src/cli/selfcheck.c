/* radars selfcheck: builds every kernel program for the chosen device and runs
 * each op on a small random input against its host reference. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_selfcheck(int argc, char **argv) {
    cli_common common = {0};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars selfcheck [--device SEL] [-v]\n"
                   "Builds (or loads from the binary cache) every kernel program for the device,\n"
                   "reports build time and cache use, then runs each op family once on small random\n"
                   "inputs against its plain-C host reference. Exit status 1 if any differs.\n");
            return 0;
        }
        int r = cli_common_option(&common, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) return cli_error("selfcheck: unknown option '%s'", argv[i]);
    }
    rd_ctx *ctx = cli_open_device(&common);
    if (!ctx) return 1;
    const rd_device_info *d = rd_ctx_device(ctx);
    printf("device: %s (%s)\n", d->name, d->platform_name);
    if (rd_build_all_programs(ctx, stderr) != RD_OK) {
        int rc = cli_error("%s", rd_ctx_error(ctx));
        rd_ctx_free(ctx);
        return rc;
    }
    rd_build_stats bs = rd_ctx_build_stats(ctx);
    printf("kernels: %d programs built, %d loaded from cache (%s), %.2f s\n", bs.programs_built, bs.cache_hits,
           rd_ctx_cache_dir(ctx), bs.build_seconds);
    if (bs.programs_warned)
        printf("kernels: %d programs compiled with warnings on this driver (-v shows them)\n", bs.programs_warned);
    printf("ops against their host references:\n");
    int failures = 0, checks = 0;
    rd_status st = rd_selfcheck(ctx, stdout, &failures, &checks);
    int rc = 0;
    if (st != RD_OK) rc = cli_error("selfcheck: %s", rd_ctx_error(ctx));
    else if (failures) rc = cli_error("selfcheck: %d of %d ops differ from their references on '%s'", failures, checks, d->name);
    else printf("all %d checks passed\n", checks);
    rd_ctx_free(ctx);
    return rc;
}
