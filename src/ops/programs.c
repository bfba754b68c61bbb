/* Every kernel program the ops may launch: each embedded .cl file once (cl/batchnorm.cl
 * with its -D options), and cl/conv.cl once per kernel variant (its own -D build). */
#include <string.h>

#include "ops/ops_internal.h"
#include "runtime/cl_sources.h"

rd_status rd_build_all_programs(rd_ctx *ctx, FILE *progress) {
    char specs[RD_MAX_PROGRAMS][RD_PROGRAM_SPEC_LEN];
    const char *list[RD_MAX_PROGRAMS];
    int n = 0;
    for (const rd_cl_source *s = rd_cl_sources; s->name && n < RD_MAX_PROGRAMS; s++)
        if (strcmp(s->name, "common") != 0 && strcmp(s->name, "conv") != 0)
            snprintf(specs[n++], RD_PROGRAM_SPEC_LEN, "%s",
                     strcmp(s->name, "batchnorm") == 0 ? rd_batchnorm_program() : s->name);
    n += rd_conv_programs(ctx, specs + n, RD_MAX_PROGRAMS - n);
    for (int i = 0; i < n; i++) list[i] = specs[i];
    return rd_build_programs(ctx, list, n, progress);
}
