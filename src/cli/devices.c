/* radars devices: every OpenCL platform and device, and which one radars would pick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cmd_devices(int argc, char **argv) {
    const char *sel = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: radars devices [--device SEL]\n"
                   "Lists every OpenCL platform and device (name, vendor, driver, OpenCL C version,\n"
                   "compute units, global memory, largest allocation, local memory) and marks the\n"
                   "one radars uses: --device / RADARS_DEVICE (index or name substring), else the\n"
                   "first GPU, else accelerator, else CPU.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--device") && i + 1 < argc) sel = argv[++i];
        else if (!strncmp(argv[i], "--device=", 9)) sel = argv[i] + 9;
        else return cli_error("devices: unknown option '%s' (see 'radars devices --help')", argv[i]);
    }
    rd_device_info *devs = NULL;
    int n = 0, chosen = -1;
    rd_err err = {0};
    if (rd_list_devices(&devs, &n, &err) != RD_OK) return cli_error("%s", err.msg);
    if (rd_select_device(devs, n, sel, &chosen, &err) != RD_OK) {
        free(devs);
        return cli_error("%s", err.msg);
    }
    rd_platform_info *plats = NULL;
    int np = 0;
    if (rd_list_platforms(&plats, &np, &err) != RD_OK) {
        free(devs);
        return cli_error("%s", err.msg);
    }
    for (int p = 0; p < np; p++) {
        printf("platform %d: %s (%s)%s\n", p, plats[p].name, plats[p].version, plats[p].devices ? "" : ": no device");
        for (int i = 0; i < n; i++) {
            const rd_device_info *d = &devs[i];
            if (d->platform_index != p) continue;
            char g[32], a[32], l[32];
            printf("  %s device %d: %s [%s]\n", i == chosen ? "*" : " ", d->index, d->name,
                   rd_device_type_name(d->type));
            printf("      vendor %s, driver %s, %s\n", d->vendor, d->driver_version, d->opencl_c_version);
            printf("      %u compute units, global memory %s, max allocation %s, local memory %s%s, fp64 %s\n",
                   d->compute_units, rd_format_bytes(d->global_mem, g, sizeof g),
                   rd_format_bytes(d->max_alloc, a, sizeof a), rd_format_bytes(d->local_mem, l, sizeof l),
                   d->local_mem_is_global ? " (in global memory)" : "", d->has_fp64 ? "yes" : "no");
        }
    }
    free(plats);
    printf("(* = the device radars uses; pick another with --device or RADARS_DEVICE)\n");
    free(devs);
    return 0;
}
