/* Internal to the data area: file reading (plain or gzip), data-set assembly,
 * counter-based random numbers. */
#ifndef RADARS_DATA_INTERNAL_H
#define RADARS_DATA_INTERNAL_H

#include <stdio.h>
#include <zlib.h>

#include "radars/data.h"
#include "runtime/rng.h"

#ifndef RD_TRY
#define RD_TRY(expr) do { rd_status rd_try_s_ = (expr); if (rd_try_s_ != RD_OK) return rd_try_s_; } while (0)
#endif

/* ---- files ---- */
/* A file read through zlib: gzip content is inflated, anything else is read as is. */
typedef struct rd_dfile {
    gzFile gz;
    const char *path;
    uint64_t file_bytes;   /* size on disk */
} rd_dfile;

/* RD_ERR_IO "PATH: cannot open: <strerror>" when missing or unreadable. */
rd_status rd_dfile_open(rd_dfile *f, const char *path, rd_err *err);
void rd_dfile_close(rd_dfile *f);
/* Reads exactly n bytes. Short: RD_ERR_FORMAT "PATH: truncated: <what> needs n bytes, only k left";
 * a gzip error: RD_ERR_FORMAT "PATH: corrupt gzip data (<zlib message>)". */
rd_status rd_dfile_read(rd_dfile *f, void *buf, size_t n, const char *what, rd_err *err);
/* Reads the n bytes of a payload that a header announced, into a buffer that
 * grows only as data actually arrives (a corrupt header cannot cause a giant
 * allocation), then checks that nothing follows. *out is malloc'ed. A payload
 * over rd_data_max_bytes() is refused before anything is read (a gzip bomb
 * inflates to what its header announces). */
rd_status rd_dfile_read_payload(rd_dfile *f, size_t n, const char *what, uint8_t **out, rd_err *err);
/* snprintf into a path buffer: RD_ERR_ARG "path too long" instead of a truncated path
 * (which could name another file). */
rd_status rd_path_fmt(char *out, size_t len, rd_err *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The largest payload a data file may announce: half of the host's memory, or
 * RADARS_DATA_MAX_BYTES when set (tests). */
size_t rd_data_max_bytes(void);
/* 1 if path names an existing regular file. */
int rd_file_exists(const char *path);
int rd_dir_exists(const char *path);

/* ---- data sets ---- */
/* Sets ds->description (printf-style). Returns RD_ERR_OUT_OF_MEMORY on failure. */
rd_status rd_dataset_describe(rd_dataset *ds, rd_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* ds->class_names from names[0..classes) (NULL: "0", "1", ...). */
rd_status rd_dataset_set_names(rd_dataset *ds, const char *const *names, rd_err *err);
char *rd_strdup(const char *s);
/* a * b (and * c) into *out unless it overflows or passes limit. */
int rd_mul_ok(size_t a, size_t b, size_t limit, size_t *out);

/* ---- counter-based random numbers ---- */
typedef struct rd_rng { uint64_t s; } rd_rng;  /* splitmix64 (runtime/rng.h) */
static inline uint64_t rd_rng_next(rd_rng *r) { return rd_splitmix64_next(&r->s); }
/* Uniform in [0, n), unbiased (rejection), n >= 1. */
static inline uint64_t rd_rng_below(rd_rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = rd_rng_next(r);
    while (v >= limit);
    return v % n;
}
/* Fisher-Yates shuffle of a[0..n) with a generator seeded by key. */
void rd_shuffle_i32(int32_t *a, int64_t n, uint64_t key);

/* Stream tags, so that split, permutations and augmentation draw independent numbers. */
enum { RD_TAG_SPLIT = 0x5370, RD_TAG_PERM = 0x5065, RD_TAG_AUG = 0x4175 };

/* ---- rendering (augment.c), used by the loader ---- */
typedef struct rd_norm_lut {
    float v[RD_DATA_MAX_CHANNELS][256];   /* normalised value of each pixel byte */
} rd_norm_lut;
void rd_norm_lut_make(const rd_norm *norm, rd_norm_lut *lut);
void rd_render_lut(const rd_dataset *ds, int index, const rd_norm_lut *lut, const rd_augment *aug,
                   const rd_aug_draw *d, float *out);

#endif
