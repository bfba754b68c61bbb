/* Companion files: a checkpoint's optimizer state as tensors in a file of its own.
 *
 * A checkpoint holds exactly a PyTorch state dict (the DARTS peers load it with
 * strict names), so optimizer buffers cannot be tensors of it; as base64 in its
 * header they made the header grow with the model past the 100 MB readers
 * accept. They live in "<stem>.optim-<16 hex>.safetensors" beside it, named in
 * its metadata. A new companion gets a new name and is committed before the
 * checkpoint that names it, so a crash between the two renames leaves the old
 * checkpoint with its old companion; pruning after the commit removes the rest. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "radars/io.h"

static const char TAG[] = ".optim-";
static const char EXT[] = ".safetensors";

/* dir (with its '/', or "") and stem (file name less ".safetensors") of a checkpoint path */
static void split_path(const char *path, char *dir, size_t dlen, char *stem, size_t slen) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    snprintf(dir, dlen, "%.*s", (int)(base - path), path);
    size_t n = strlen(base), e = sizeof EXT - 1;
    if (n > e && !strcmp(base + n - e, EXT)) n -= e;
    snprintf(stem, slen, "%.*s", (int)n, base);
}

static uint64_t fresh_token(void) {
    uint64_t t = 0;
    if (getrandom(&t, sizeof t, 0) != (ssize_t)sizeof t) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
    }
    return t;
}

/* A companion's file name: "<any stem>.optim-<16 lower-case hex>.safetensors", no '/'. */
static int companion_name_ok(const char *name) {
    if (!name || name[0] == '.' || strchr(name, '/')) return 0;
    const char *tag = strstr(name, TAG);
    if (!tag) return 0;
    const char *hex = tag + sizeof TAG - 1;
    for (int i = 0; i < 16; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) return 0;
    return !strcmp(hex + 16, EXT);
}

rd_status rd_st_companion_write(rd_st_writer *w, const char *ckpt_path, char *name, size_t len, rd_err *err) {
    char dir[4096], stem[1024], path[8192];
    split_path(ckpt_path, dir, sizeof dir, stem, sizeof stem);
    int n = snprintf(name, len, "%s%s%016" PRIx64 "%s", stem, TAG, fresh_token(), EXT);
    if (n < 0 || (size_t)n >= len || (size_t)snprintf(path, sizeof path, "%s%s", dir, name) >= sizeof path)
        return rd_fail(err, RD_ERR_ARG, "%s: path too long for its optimizer file", ckpt_path);
    RD_TRY(rd_st_add_metadata(w, "checkpoint", stem, err));
    return rd_st_write(w, path, err);
}

void rd_st_companion_prune(const char *ckpt_path, const char *keep) {
    char dir[4096], stem[1024];
    split_path(ckpt_path, dir, sizeof dir, stem, sizeof stem);
    DIR *d = opendir(dir[0] ? dir : ".");
    if (!d) return;
    size_t sl = strlen(stem);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, stem, sl) || strncmp(nm + sl, TAG, sizeof TAG - 1)) continue;
        /* other companions, and the temporary files of companions a crash interrupted */
        if (!companion_name_ok(nm) && !rd_is_stale_tmp(nm)) continue;
        if (keep && !strcmp(nm, keep)) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s%s", dir, nm);
        unlink(path);
    }
    closedir(d);
}

void rd_st_companion_remove(const char *ckpt_path, const char *name) {
    if (!companion_name_ok(name)) return;
    char dir[4096], stem[1024], path[8192];
    split_path(ckpt_path, dir, sizeof dir, stem, sizeof stem);
    snprintf(path, sizeof path, "%s%s", dir, name);
    unlink(path);
}

rd_status rd_st_companion_open(const rd_st_file *f, const char *ckpt_path, rd_st_file **out, rd_err *err) {
    *out = NULL;
    const char *name = rd_st_metadata(f, "optimizer");
    if (!name) return RD_OK;
    if (!companion_name_ok(name))
        return rd_fail(err, RD_ERR_FORMAT, "%s: metadata 'optimizer' = '%.80s' is not the name of an optimizer file",
                       ckpt_path, name);
    char dir[4096], stem[1024], path[8192];
    split_path(ckpt_path, dir, sizeof dir, stem, sizeof stem);
    snprintf(path, sizeof path, "%s%s", dir, name);
    if (access(path, F_OK) != 0)
        return rd_fail(err, RD_ERR_IO, "%s: its optimizer state %s is missing (copy it along with the checkpoint)",
                       ckpt_path, path);
    return rd_st_open(path, out, err);
}

rd_status rd_st_optimizer_read(const rd_st_file *f, const rd_st_file *companion, const char *ckpt_path,
                               const char *key, float *dst, size_t count, rd_err *err) {
    if (!companion) return rd_st_metadata_blob(f, ckpt_path, key, dst, count * sizeof(float), err);
    int64_t shape[1] = {(int64_t)count};
    if (!rd_st_find(companion, key))
        return rd_fail(err, RD_ERR_FORMAT, "%s: its optimizer file has no tensor '%s'", ckpt_path, key);
    return rd_st_read(companion, key, RD_ST_F32, 1, shape, dst, count * sizeof(float), err);
}
