/* Data sets: reading files (plain or gzip), assembling and freeing data sets,
 * and opening a data set by name. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"

/* ---------------- files ---------------- */
int rd_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int rd_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

rd_status rd_dfile_open(rd_dfile *f, const char *path, rd_err *err) {
    memset(f, 0, sizeof *f);
    f->path = path;
    struct stat st;
    if (stat(path, &st) != 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return rd_fail(err, RD_ERR_IO, "%s: not a regular file", path);
    f->file_bytes = (uint64_t)st.st_size;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(f->gz, 1 << 18);
    return RD_OK;
}

void rd_dfile_close(rd_dfile *f) {
    if (f->gz) gzclose_r(f->gz);
    f->gz = NULL;
}

/* zlib's message without the "path: " prefix gzerror puts in front. */
static const char *zlib_message(rd_dfile *f, int *zerr) {
    const char *m = gzerror(f->gz, zerr);
    size_t pl = strlen(f->path);
    if (m && strncmp(m, f->path, pl) == 0 && m[pl] == ':' && m[pl + 1] == ' ') m += pl + 2;
    if (*zerr == Z_ERRNO) m = strerror(errno);
    return m ? m : "?";
}

/* After a short read: a gzip error, or the end of the data. */
static rd_status short_read(rd_dfile *f, const char *what, size_t want, size_t got, rd_err *err) {
    int zerr = Z_OK;
    const char *zmsg = zlib_message(f, &zerr);
    if (zerr == Z_BUF_ERROR)
        return rd_fail(err, RD_ERR_FORMAT, "%s: truncated gzip stream (%s)", f->path, zmsg);
    if (zerr != Z_OK && zerr != Z_STREAM_END)
        return rd_fail(err, RD_ERR_FORMAT, "%s: corrupt gzip data (%s)", f->path, zmsg);
    return rd_fail(err, RD_ERR_FORMAT, "%s: truncated: %s: %zu bytes expected, only %zu present%s", f->path, what,
                   want, got, gzdirect(f->gz) ? "" : " after decompression");
}

/* Reads up to n bytes; *got = bytes read. Stops early only at the end of the data or on an error. */
static int read_some(rd_dfile *f, uint8_t *buf, size_t n, size_t *got) {
    *got = 0;
    while (*got < n) {
        size_t chunk = n - *got;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        int r = gzread(f->gz, buf + *got, (unsigned)chunk);
        if (r <= 0) return r;
        *got += (size_t)r;
    }
    return 1;
}

rd_status rd_dfile_read(rd_dfile *f, void *buf, size_t n, const char *what, rd_err *err) {
    size_t got;
    read_some(f, buf, n, &got);
    if (got < n) return short_read(f, what, n, got, err);
    return RD_OK;
}

rd_status rd_path_fmt(char *out, size_t len, rd_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        return rd_fail(err, RD_ERR_ARG, "path too long (over %zu characters): %.200s...", len ? len - 1 : 0, out);
    return RD_OK;
}

size_t rd_data_max_bytes(void) {
    const char *env = getenv("RADARS_DATA_MAX_BYTES");
    if (env && *env) return (size_t)strtoull(env, NULL, 10);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return (size_t)1 << 34;
    return (size_t)pages / 2 * (size_t)page;
}

rd_status rd_dfile_read_payload(rd_dfile *f, size_t n, const char *what, uint8_t **out, rd_err *err) {
    *out = NULL;
    size_t max = rd_data_max_bytes();
    if (n > max)
        return rd_fail(err, RD_ERR_FORMAT,
                       "%s: the header announces %zu bytes of %s, over the limit of %zu (half of this host's memory): too "
                       "large to load (a corrupt header, or a gzip bomb?)", f->path, n, what, max);
    /* Start at what the file could plausibly hold: a plain file holds at most
     * its size; inflating more than ~4x is rare for images, and past that the
     * buffer doubles as data arrives. */
    uint64_t plausible = f->file_bytes * 4 + (1u << 16);
    size_t cap = n < plausible ? n : (size_t)plausible;
    if (cap == 0) cap = 1;
    uint8_t *buf = malloc(cap);
    if (!buf) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory for %s (%zu bytes)", f->path, what, cap);
    size_t have = 0;
    for (;;) {
        size_t got;
        size_t want = (n < cap ? n : cap) - have;
        read_some(f, buf + have, want, &got);
        have += got;
        if (got < want) {
            rd_status s = short_read(f, what, n, have, err);
            free(buf);
            return s;
        }
        if (have == n) break;
        size_t ncap = cap > n / 2 ? n : cap * 2;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory for %s (%zu bytes)", f->path, what, ncap);
        }
        buf = nb;
        cap = ncap;
    }
    /* Nothing may follow: extra bytes mean the header and the data disagree
     * (counted up to 1 MiB, enough to say how far off the header is). */
    uint8_t extra[4096];
    size_t more = 0;
    int r;
    while (more < (1u << 20) && (r = gzread(f->gz, extra, sizeof extra)) > 0) more += (size_t)r;
    int zerr = Z_OK;
    const char *zmsg = zlib_message(f, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        free(buf);
        return rd_fail(err, RD_ERR_FORMAT, "%s: %s (%s)", f->path,
                       zerr == Z_BUF_ERROR ? "truncated gzip stream" : "corrupt gzip data", zmsg);
    }
    if (more) {
        free(buf);
        return rd_fail(err, RD_ERR_FORMAT, "%s: %zu%s unexpected bytes after %s (%zu bytes announced by the header)",
                       f->path, more, more >= (1u << 20) ? "+" : "", what, n);
    }
    *out = buf;
    return RD_OK;
}

/* ---------------- data sets ---------------- */
char *rd_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int rd_mul_ok(size_t a, size_t b, size_t limit, size_t *out) {
    if (a != 0 && b > limit / a) return 0;
    *out = a * b;
    return *out <= limit;
}

rd_status rd_dataset_describe(rd_dataset *ds, rd_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!s) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory for a data set description");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    free(ds->description);
    ds->description = s;
    return RD_OK;
}

static void free_names(rd_dataset *ds) {
    if (ds->class_names)
        for (int i = 0; i < ds->classes; i++) free(ds->class_names[i]);
    free(ds->class_names);
    ds->class_names = NULL;
}

rd_status rd_dataset_set_names(rd_dataset *ds, const char *const *names, rd_err *err) {
    free_names(ds);
    ds->class_names = calloc((size_t)(ds->classes > 0 ? ds->classes : 1), sizeof *ds->class_names);
    if (!ds->class_names) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory for class names");
    for (int i = 0; i < ds->classes; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        ds->class_names[i] = rd_strdup(names ? names[i] : num);
        if (!ds->class_names[i]) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory for class names");
    }
    return RD_OK;
}

void rd_dataset_free(rd_dataset *ds) {
    if (!ds) return;
    free_names(ds);
    free(ds->images);
    free(ds->labels);
    free(ds->description);
    memset(ds, 0, sizeof *ds);
}

rd_status rd_dataset_check_compatible(const rd_dataset *train, const rd_dataset *test, rd_err *err) {
    const char *tn = test->description ? test->description : "test set";
    if (train->c != test->c || train->h != test->h || train->w != test->w)
        return rd_fail(err, RD_ERR_FORMAT, "%s: images are %dx%dx%d, the training images %dx%dx%d", tn, test->c,
                       test->h, test->w, train->c, train->h, train->w);
    if (train->classes != test->classes)
        return rd_fail(err, RD_ERR_FORMAT, "%s: %d classes, the training set has %d", tn, test->classes,
                       train->classes);
    for (int i = 0; train->class_names && test->class_names && i < train->classes; i++)
        if (strcmp(train->class_names[i], test->class_names[i]) != 0)
            return rd_fail(err, RD_ERR_FORMAT, "%s: class %d is '%s', in the training set '%s'", tn, i,
                           test->class_names[i], train->class_names[i]);
    return RD_OK;
}

/* ---------------- opening by name ---------------- */
static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* DIR/<prefix>-<kind>-ubyte[.gz] (or the dotted name some mirrors use) into path. */
static rd_status find_idx_file(const char *dir, const char *prefix, const char *kind, char *path, size_t len,
                               rd_err *err) {
    const char *forms[] = {"%s/%s-%s-ubyte", "%s/%s-%s-ubyte.gz", NULL, NULL};
    char dotted[32];
    snprintf(dotted, sizeof dotted, "%s", kind);
    char *dash = strrchr(dotted, '-');  /* images-idx3 -> images.idx3 */
    if (dash) *dash = '.';
    for (int i = 0; i < 2; i++) {
        RD_TRY(rd_path_fmt(path, len, err, forms[i], dir, prefix, kind));
        if (rd_file_exists(path)) return RD_OK;
    }
    for (int i = 0; i < 2; i++) {
        RD_TRY(rd_path_fmt(path, len, err, forms[i], dir, prefix, dotted));
        if (rd_file_exists(path)) return RD_OK;
    }
    return rd_fail(err, RD_ERR_IO, "%s/%s-%s-ubyte: cannot open: no such file (nor .gz, nor %s-%s-ubyte[.gz])", dir,
                   prefix, kind, prefix, dotted);
}

static rd_status open_idx_dir(const char *dir, const char *split, int classes, const char *title,
                              const char *const *names, rd_dataset *out, rd_err *err) {
    char images[4096], labels[4096];
    const char *prefix = strcmp(split, "train") == 0 ? "train" : "t10k";
    RD_TRY(find_idx_file(dir, prefix, "images-idx3", images, sizeof images, err));
    RD_TRY(find_idx_file(dir, prefix, "labels-idx1", labels, sizeof labels, err));
    RD_TRY(rd_load_idx(images, labels, classes, out, err));
    if (names) RD_TRY(rd_dataset_set_names(out, names, err));
    return rd_dataset_describe(out, err, "%s %s: %d images %dx%dx%d, %d classes (%s)", title, split, out->n, out->c,
                               out->h, out->w, out->classes, images);
}

static rd_status open_cifar_dir(const char *dir, const char *split, rd_dataset *out, rd_err *err) {
    char base[4200], paths[5][4300];
    RD_TRY(rd_path_fmt(base, sizeof base, err, "%s", dir));
    char probe[4200];
    RD_TRY(rd_path_fmt(probe, sizeof probe, err, "%s/data_batch_1.bin", dir));
    char sub[4200];
    RD_TRY(rd_path_fmt(sub, sizeof sub, err, "%s/cifar-10-batches-bin", dir));
    if (!rd_file_exists(probe) && rd_dir_exists(sub)) RD_TRY(rd_path_fmt(base, sizeof base, err, "%s", sub));
    const char *list[5];
    int n = 0;
    if (strcmp(split, "train") == 0) {
        for (int i = 0; i < 5; i++) RD_TRY(rd_path_fmt(paths[i], sizeof paths[i], err, "%s/data_batch_%d.bin", base, i + 1));
        n = 5;
    } else {
        RD_TRY(rd_path_fmt(paths[0], sizeof paths[0], err, "%s/test_batch.bin", base));
        n = 1;
    }
    for (int i = 0; i < n; i++) list[i] = paths[i];
    RD_TRY(rd_load_cifar10(list, n, out, err));
    return rd_dataset_describe(out, err, "CIFAR-10 %s: %d images %dx%dx%d, %d classes (%s)", split, out->n, out->c,
                               out->h, out->w, out->classes, base);
}

static rd_status open_png_dir(const char *dir, const char *split, const rd_data_options *opt, rd_dataset *out,
                              rd_err *err) {
    char path[4200];
    RD_TRY(rd_path_fmt(path, sizeof path, err, "%s/%s", dir, split));
    if (!rd_dir_exists(path))
        return rd_fail(err, RD_ERR_IO, "%s: no such folder (png:DIR expects DIR/train/<class>/*.png and DIR/test/<class>/*.png)",
                       path);
    RD_TRY(rd_load_png_folder(path, opt, out, err));
    return rd_dataset_describe(out, err, "PNG folder %s: %d images %dx%dx%d, %d classes, %d files skipped (%s)", split,
                               out->n, out->c, out->h, out->w, out->classes, out->skipped, path);
}

rd_status rd_dataset_open(const char *spec, const char *split, const rd_data_options *opt, rd_dataset *out,
                          rd_err *err) {
    rd_data_options none = {0};
    if (!opt) opt = &none;
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) return rd_fail(err, RD_ERR_ARG, "data set: no name given");
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "test") != 0))
        return rd_fail(err, RD_ERR_ARG, "data set '%s': split '%s' is neither 'train' nor 'test'", spec,
                       split ? split : "(null)");
    const char *colon = strchr(spec, ':');
    size_t kind_len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *dir = colon ? colon + 1 : NULL;
    char kind[32];
    if (kind_len >= sizeof kind) kind_len = sizeof kind - 1;
    memcpy(kind, spec, kind_len);
    kind[kind_len] = 0;
    if (colon && !*dir) return rd_fail(err, RD_ERR_ARG, "data set '%s': no folder after ':'", spec);
    rd_status s;
    if (strcmp(kind, "fashion-mnist") == 0) {
        s = open_idx_dir(dir ? dir : FASHION_MNIST_DIR, split, 10, "Fashion-MNIST", fashion_names, out, err);
        if (s != RD_OK && !dir && !rd_dir_exists(FASHION_MNIST_DIR))
            rd_err_prefix(err, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    } else if (strcmp(kind, "mnist") == 0 && dir) {
        s = open_idx_dir(dir, split, 10, "MNIST", NULL, out, err);
    } else if (strcmp(kind, "idx") == 0 && dir) {
        s = open_idx_dir(dir, split, opt->classes, "IDX", NULL, out, err);
    } else if (strcmp(kind, "cifar10") == 0 && dir) {
        s = open_cifar_dir(dir, split, out, err);
    } else if (strcmp(kind, "png") == 0 && dir) {
        s = open_png_dir(dir, split, opt, out, err);
    } else {
        return rd_fail(err, RD_ERR_ARG,
                       "data set '%s': unknown (use fashion-mnist, fashion-mnist:DIR, mnist:DIR, idx:DIR, cifar10:DIR or png:DIR)",
                       spec);
    }
    if (s != RD_OK) rd_dataset_free(out);
    return s;
}
