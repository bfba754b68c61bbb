/* A training checkpoint's metadata (rd_train_checkpoint_peek: what `radars
 * train --resume` and `radars eval` read first): format, state, normalisation,
 * input shape, recipe and genotype. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char path[300];
    fz_path(path, sizeof path, "checkpoint.safetensors");
    fz_write(path, data, len);
    rd_err err = {0};
    rd_train_checkpoint_info info;
    memset(&info, 0, sizeof info);
    rd_status st = rd_train_checkpoint_peek(path, &info, &err);
    fz_check_error(st, &err);
    if (st == RD_OK) FZ_ASSERT(info.in_c > 0 && info.in_h > 0 && info.in_w > 0 && info.classes > 0);
    return 0;
}
