/* Fixtures for the data tests: a temporary folder, files written byte for
 * byte (plain or gzip), and the check that a failure carries the expected
 * status and a one-line message naming the file. */
#ifndef RADARS_TEST_DATA_FIXTURES_H
#define RADARS_TEST_DATA_FIXTURES_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "radars/radars.h"

/* A fresh folder under /tmp (removed by fx_rmdir). */
static inline void fx_mkdtemp(char *dir, size_t len, const char *tag) {
    snprintf(dir, len, "/tmp/radars-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void fx_rmdir(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static inline void fx_mkdir(const char *dir, const char *sub) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* Writes len bytes to path, plainly or gzip-compressed. */
static inline void fx_write(const char *path, const void *data, size_t len, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        ck_assert_ptr_nonnull(f);
        if (len) ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        if (len) ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
}

/* The whole file (malloc'ed); *len its size. */
static inline unsigned char *fx_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline void fx_truncate(const char *path, size_t len) { ck_assert_int_eq(truncate(path, (off_t)len), 0); }

/* A failure: status want, a message on one line holding every non-NULL needle. */
static inline void fx_expect_error(const char *what, rd_status got, const rd_err *e, rd_status want,
                                   const char *needle1, const char *needle2) {
    ck_assert_msg(got == want, "%s: status %s, expected %s (message: %s)", what, rd_status_name(got),
                  rd_status_name(want), e->msg);
    ck_assert_msg(strchr(e->msg, '\n') == NULL, "%s: message is not one line: %s", what, e->msg);
    if (needle1) ck_assert_msg(strstr(e->msg, needle1), "%s: message lacks '%s': %s", what, needle1, e->msg);
    if (needle2) ck_assert_msg(strstr(e->msg, needle2), "%s: message lacks '%s': %s", what, needle2, e->msg);
    printf("  expected error (%s): %s\n", what, e->msg);
}

static inline double fx_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Deterministic bytes. */
static inline unsigned fx_rand(unsigned long long *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(*s >> 33);
}

#endif
