/* safetensors files (rd_st_open and every accessor): any tensor the header
 * accepts can be read whole, and every metadata entry can be looked up. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char path[300];
    fz_path(path, sizeof path, "x.safetensors");
    fz_write(path, data, len);
    rd_err err = {0};
    rd_st_file *f = NULL;
    rd_status st = rd_st_open(path, &f, &err);
    fz_check_error(st, &err);
    if (st != RD_OK) return 0;
    for (int i = 0; i < rd_st_count(f); i++) {
        const rd_st_info *t = rd_st_at(f, i);
        FZ_ASSERT(rd_st_find(f, t->name) == t);
        FZ_ASSERT(t->nbytes == t->numel * rd_st_dtype_size(t->dtype));
        if (t->nbytes > (1u << 20)) continue;
        void *dst = malloc(t->nbytes ? t->nbytes : 1);
        st = rd_st_read(f, t->name, t->dtype, t->ndim, t->shape, dst, t->nbytes, &err);
        fz_check_error(st, &err);
        FZ_ASSERT(st == RD_OK); /* the header was validated against the file size */
        free(dst);
    }
    for (int i = 0; i < rd_st_metadata_count(f); i++) {
        const char *k, *v;
        rd_st_metadata_at(f, i, &k, &v);
        FZ_ASSERT(k && v && rd_st_metadata(f, k) != NULL);
        uint8_t blob[64];
        fz_check_error(rd_st_metadata_blob(f, path, k, blob, sizeof blob, &err), &err);
    }
    rd_st_close(f);
    return 0;
}
