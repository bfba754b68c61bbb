/* A PNG folder (rd_load_png_folder, libpng): the input is one PNG file, put in
 * both class folders; the first byte picks the resize (0: none, else 1..32). */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    int size = data[0] % 33;
    char dir[300], a[320], b[320];
    fz_path(dir, sizeof dir, "png");
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(dir, 0755);
    mkdir(a, 0755);
    mkdir(b, 0755);
    char pa[340], pb[340];
    snprintf(pa, sizeof pa, "%s/x.png", a);
    snprintf(pb, sizeof pb, "%s/y.png", b);
    fz_write(pa, data + 1, len - 1);
    fz_write(pb, data + 1, len - 1);
    rd_data_options opt;
    memset(&opt, 0, sizeof opt);
    opt.resize_h = opt.resize_w = size;
    rd_err err = {0};
    rd_dataset ds;
    memset(&ds, 0, sizeof ds);
    rd_status st = rd_load_png_folder(dir, &opt, &ds, &err);
    fz_check_error(st, &err);
    if (st == RD_OK) {
        FZ_ASSERT(ds.n == 2 && ds.classes == 2 && ds.c > 0 && ds.h > 0 && ds.w > 0);
        if (size) FZ_ASSERT(ds.h == size && ds.w == size);
        rd_dataset_free(&ds);
    }
    return 0;
}
