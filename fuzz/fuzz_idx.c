/* IDX images + labels (rd_load_idx), plain or gzip. Input: a mode byte, the
 * length of the images part (2 bytes, little-endian), the images file, then
 * the labels file. Mode bit 0: the harness gzips both parts (the fuzzer
 * mutates what is inside); bit 1: the images part is written as it is under a
 * .gz name (the fuzzer mutates the compressed stream); bit 2: classes = 10. */
#include <zlib.h>

#include "fuzz_util.h"

static void write_gz(const char *path, const uint8_t *data, size_t len) {
    gzFile f = gzopen(path, "wb1");
    if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) || gzclose(f) != Z_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 3) return 0;
    int mode = data[0];
    size_t split = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    len -= 3;
    if (split > len) split = len;
    char images[300], labels[300];
    int gz = mode & 1, raw_gz = mode & 2;
    fz_path(images, sizeof images, gz || raw_gz ? "images.gz" : "images");
    fz_path(labels, sizeof labels, gz ? "labels.gz" : "labels");
    if (gz && !raw_gz) write_gz(images, data, split);
    else fz_write(images, data, split);
    if (gz) write_gz(labels, data + split, len - split);
    else fz_write(labels, data + split, len - split);
    rd_err err = {0};
    rd_dataset ds;
    memset(&ds, 0, sizeof ds);
    rd_status st = rd_load_idx(images, labels, mode & 4 ? 10 : 0, &ds, &err);
    fz_check_error(st, &err);
    if (st == RD_OK) {
        FZ_ASSERT(ds.n > 0 && ds.c > 0 && ds.h > 0 && ds.w > 0 && ds.classes > 0);
        for (int i = 0; i < ds.n; i++) FZ_ASSERT(ds.labels[i] >= 0 && ds.labels[i] < ds.classes);
        rd_dataset_free(&ds);
    }
    unlink(images);
    unlink(labels);
    return 0;
}
