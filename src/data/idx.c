/* IDX files (MNIST, Fashion-MNIST): a big-endian header
 *   0x00 0x00 <type 0x08 = unsigned byte> <ndim>, then ndim uint32 sizes,
 * then the elements. Images: ndim 3 (N x H x W); labels: ndim 1 (N).
 * gzip content is inflated transparently. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"


static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads and checks the header of an IDX file of unsigned bytes with ndim dimensions. */
static rd_status read_header(rd_dfile *f, int ndim, const char *kind, uint32_t *dims, rd_err *err) {
    uint8_t magic[4], raw[12];
    RD_TRY(rd_dfile_read(f, magic, 4, "the IDX magic number", err));
    uint32_t m = be32(magic), expect = 0x0800u | (uint32_t)ndim;
    if (magic[0] != 0 || magic[1] != 0)
        return rd_fail(err, RD_ERR_FORMAT, "%s: wrong magic 0x%08x: not an IDX file (expected 0x%08x for %s)", f->path,
                       m, expect, kind);
    if (magic[2] != 0x08)
        return rd_fail(err, RD_ERR_FORMAT,
                       "%s: wrong magic 0x%08x: element type 0x%02x is not unsigned byte (expected 0x%08x for %s)",
                       f->path, m, magic[2], expect, kind);
    if (magic[3] != ndim)
        return rd_fail(err, RD_ERR_FORMAT,
                       "%s: dimension mismatch: magic 0x%08x says %d dimension(s), %s need %d (expected 0x%08x)",
                       f->path, m, magic[3], kind, ndim, expect);
    RD_TRY(rd_dfile_read(f, raw, (size_t)ndim * 4, "the IDX dimensions", err));
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(raw + 4 * i);
        if (dims[i] == 0) return rd_fail(err, RD_ERR_FORMAT, "%s: dimension %d is 0 (%s hold nothing)", f->path, i, kind);
    }
    if (dims[0] > (uint32_t)INT32_MAX)
        return rd_fail(err, RD_ERR_FORMAT, "%s: header announces %u items, more than supported", f->path, dims[0]);
    for (int i = 1; i < ndim; i++)
        if (dims[i] > RD_DATA_MAX_SIDE)
            return rd_fail(err, RD_ERR_FORMAT, "%s: image side %u in the header is implausible (over %d)", f->path,
                           dims[i], RD_DATA_MAX_SIDE);
    return RD_OK;
}

rd_status rd_load_idx(const char *images_path, const char *labels_path, int classes, rd_dataset *out, rd_err *err) {
    memset(out, 0, sizeof *out);
    if (classes < 0 || classes > 256)
        return rd_fail(err, RD_ERR_ARG, "%s: %d classes requested: an IDX label byte allows 1 to 256", labels_path,
                       classes);
    rd_dfile fi, fl;
    uint32_t di[3], dl[1];
    uint8_t *pix = NULL, *lab = NULL;
    rd_status s = rd_dfile_open(&fi, images_path, err);
    if (s != RD_OK) return s;
    s = rd_dfile_open(&fl, labels_path, err);
    if (s != RD_OK) {
        rd_dfile_close(&fi);
        return s;
    }
    size_t image_bytes = 0, total = 0;
    if ((s = read_header(&fi, 3, "images", di, err)) != RD_OK) goto done;
    if ((s = read_header(&fl, 1, "labels", dl, err)) != RD_OK) goto done;
    if (di[0] != dl[0]) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: holds %u labels but %s holds %u images (image/label count mismatch)",
                    labels_path, dl[0], images_path, di[0]);
        goto done;
    }
    image_bytes = (size_t)di[1] * di[2];
    if (!rd_mul_ok(image_bytes, di[0], SIZE_MAX / 4, &total)) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: header announces %u images of %ux%u: too large", images_path, di[0], di[1],
                    di[2]);
        goto done;
    }
    if ((s = rd_dfile_read_payload(&fi, total, "the image data", &pix, err)) != RD_OK) goto done;
    if ((s = rd_dfile_read_payload(&fl, di[0], "the labels", &lab, err)) != RD_OK) goto done;

    int n = (int)di[0], maxl = 0, count[256] = {0};
    for (int i = 0; i < n; i++) {
        if (classes > 0 && lab[i] >= classes) {
            s = rd_fail(err, RD_ERR_FORMAT, "%s: label %d of item %d is out of range (%d classes)", labels_path, lab[i],
                        i, classes);
            goto done;
        }
        if (lab[i] > maxl) maxl = lab[i];
        count[lab[i]]++;
    }
    /* Classes inferred from the labels: one that no image has (below the largest label) is
     * far more likely a corrupt label byte than a class; the caller may name the count. */
    for (int c = 0; classes == 0 && c < maxl; c++)
        if (!count[c]) {
            int empty = 0;
            for (int k = 0; k < maxl; k++) empty += !count[k];
            s = rd_fail(err, RD_ERR_FORMAT,
                        "%s: the labels go up to %d but %d of those classes (the first: %d) have no image: a corrupt "
                        "label file? (set data.classes to the class count to accept it)",
                        labels_path, maxl, empty, c);
            goto done;
        }
    out->labels = malloc((size_t)n * sizeof *out->labels);
    if (!out->labels) {
        s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory for %d labels", labels_path, n);
        goto done;
    }
    for (int i = 0; i < n; i++) out->labels[i] = lab[i];
    out->images = pix;
    pix = NULL;
    out->n = n;
    out->c = 1;
    out->h = (int)di[1];
    out->w = (int)di[2];
    out->classes = classes > 0 ? classes : maxl + 1;
    if ((s = rd_dataset_set_names(out, NULL, err)) != RD_OK) goto done;
    s = rd_dataset_describe(out, err, "IDX: %d images %dx%dx%d, %d classes (%s)", out->n, out->c, out->h, out->w,
                            out->classes, images_path);
done:
    free(pix);
    free(lab);
    rd_dfile_close(&fi);
    rd_dfile_close(&fl);
    if (s != RD_OK) rd_dataset_free(out);
    return s;
}
