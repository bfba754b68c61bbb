/* A search checkpoint's metadata, as `radars search --resume` and `radars
 * genotype FILE` read it before any device is touched: state, controller,
 * op masks, recipe, and the genotype derived from alphas or policy. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char path[300];
    fz_path(path, sizeof path, "checkpoint.safetensors");
    fz_write(path, data, len);
    rd_err err = {0};
    rd_search_state state;
    rd_controller ctrl;
    memset(&ctrl, 0, sizeof ctrl); /* left as it is when the checkpoint holds no controller */
    char *config = NULL;
    rd_status st = rd_checkpoint_peek(path, &state, &ctrl, &config, &err);
    fz_check_error(st, &err);
    if (st == RD_OK) {
        FZ_ASSERT(state.round >= 0 && state.epoch >= 0 && state.step >= 0 && state.sample >= 0);
        FZ_ASSERT(ctrl.K >= 0 && ctrl.K <= RD_MAX_OPS);
    }
    free(config);
    /* the stored rules, then the strictest guard (every rule's loop on whatever the file holds) */
    const rd_geno_guard strict = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        rd_genotype g;
        st = rd_checkpoint_genotype(path, pass ? &strict : NULL, &g, &err);
        fz_check_error(st, &err);
        if (st == RD_OK) {
            char text[2048];
            rd_genotype_format(&g, text, sizeof text);
            rd_genotype back;
            FZ_ASSERT(rd_genotype_parse(text, &back, &err) == RD_OK && rd_genotype_equal(&g, &back));
        }
    }
    return 0;
}
