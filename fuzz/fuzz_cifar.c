/* CIFAR-10 binary batches (rd_load_cifar10): the input is one batch file. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char path[300];
    fz_path(path, sizeof path, "data_batch_1.bin");
    fz_write(path, data, len);
    const char *paths[1] = {path};
    rd_err err = {0};
    rd_dataset ds;
    memset(&ds, 0, sizeof ds);
    rd_status st = rd_load_cifar10(paths, 1, &ds, &err);
    fz_check_error(st, &err);
    if (st == RD_OK) {
        FZ_ASSERT(ds.n > 0 && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.classes == 10);
        for (int i = 0; i < ds.n; i++) FZ_ASSERT(ds.labels[i] >= 0 && ds.labels[i] < 10);
        rd_dataset_free(&ds);
    }
    return 0;
}
