/* CIFAR-10 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html):
 * records of 1 label byte (0..9) and 3072 pixel bytes, the 1024 red values of
 * a 32x32 image row by row, then green, then blue: already C x H x W. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

enum { CIFAR_SIDE = 32, CIFAR_PIXELS = 3 * 32 * 32, CIFAR_RECORD = 1 + CIFAR_PIXELS };

static const char *const cifar_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

rd_status rd_load_cifar10(const char *const *paths, int npaths, rd_dataset *out, rd_err *err) {
    memset(out, 0, sizeof *out);
    if (npaths < 1) return rd_fail(err, RD_ERR_ARG, "CIFAR-10: no batch file given");
    /* Sizes first: the record count comes from the file sizes, so nothing is
     * allocated that the files do not hold. */
    size_t total = 0;
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", paths[i], strerror(errno));
        if (!S_ISREG(st.st_mode)) return rd_fail(err, RD_ERR_IO, "%s: not a regular file", paths[i]);
        size_t bytes = (size_t)st.st_size;
        if (bytes == 0) return rd_fail(err, RD_ERR_FORMAT, "%s: empty file (no CIFAR-10 record)", paths[i]);
        if (bytes % CIFAR_RECORD != 0)
            return rd_fail(err, RD_ERR_FORMAT,
                           "%s: truncated or not CIFAR-10 binary: %zu bytes is not a whole number of %d-byte records "
                           "(1 label + 3x32x32), %zu bytes past the last whole record",
                           paths[i], bytes, CIFAR_RECORD, bytes % CIFAR_RECORD);
        total += bytes / CIFAR_RECORD;
    }
    if (total > (size_t)INT32_MAX) return rd_fail(err, RD_ERR_FORMAT, "CIFAR-10: %zu records: too many", total);
    out->images = malloc(total * CIFAR_PIXELS);
    out->labels = malloc(total * sizeof *out->labels);
    if (!out->images || !out->labels) {
        rd_dataset_free(out);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "CIFAR-10: out of host memory for %zu images", total);
    }
    size_t k = 0;
    uint8_t rec[CIFAR_RECORD];
    for (int i = 0; i < npaths; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", paths[i], strerror(errno));
            rd_dataset_free(out);
            return RD_ERR_IO;
        }
        setvbuf(f, NULL, _IOFBF, 1 << 20);
        size_t r = 0;
        while (fread(rec, 1, CIFAR_RECORD, f) == CIFAR_RECORD) {
            if (rec[0] > 9) {
                fclose(f);
                rd_dataset_free(out);
                return rd_fail(err, RD_ERR_FORMAT, "%s: record %zu: label %d is out of range (CIFAR-10 labels are 0..9)",
                               paths[i], r, rec[0]);
            }
            if (k == total) break;  /* the file grew since it was measured */
            out->labels[k] = rec[0];
            memcpy(out->images + k * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
            k++;
            r++;
        }
        int bad = ferror(f);
        fclose(f);
        if (bad) {
            rd_dataset_free(out);
            return rd_fail(err, RD_ERR_IO, "%s: read error after %zu records", paths[i], r);
        }
    }
    if (k != total) {
        rd_dataset_free(out);
        return rd_fail(err, RD_ERR_IO, "%s: the batch files changed while being read (%zu of %zu records)",
                       paths[npaths - 1], k, total);
    }
    out->n = (int)total;
    out->c = 3;
    out->h = out->w = CIFAR_SIDE;
    out->classes = 10;
    rd_status s = rd_dataset_set_names(out, cifar_names, err);
    if (s == RD_OK)
        s = rd_dataset_describe(out, err, "CIFAR-10: %d images 3x32x32, 10 classes (%s%s)", out->n, paths[0],
                                npaths > 1 ? ", ..." : "");
    if (s != RD_OK) rd_dataset_free(out);
    return s;
}
