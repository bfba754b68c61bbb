/* Helpers for the io tests: a fresh temporary directory per test process,
 * paths inside it, and small file writes. */
#ifndef RADARS_TESTS_IO_TMP_H
#define RADARS_TESTS_IO_TMP_H

#define _XOPEN_SOURCE 700 /* nftw */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char io_tmp_root[256];

static int io_tmp_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void io_tmp_cleanup(void) {
    if (io_tmp_root[0]) nftw(io_tmp_root, io_tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    io_tmp_root[0] = 0;
}

/* The test directory (created on first use, removed at exit). */
static const char *io_tmp_dir(void) {
    if (!io_tmp_root[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(io_tmp_root, sizeof io_tmp_root, "%s/radars-io-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(io_tmp_root)) {
            perror("mkdtemp");
            abort();
        }
        atexit(io_tmp_cleanup);
    }
    return io_tmp_root;
}

/* A path inside the test directory (a few rotating static buffers). */
static const char *io_tmp_path(const char *name) {
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", io_tmp_dir(), name);
    return b;
}

static void io_write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void io_write_text(const char *path, const char *text) { io_write_bytes(path, text, strlen(text)); }

/* ck_assert that msg contains want. */
#define IO_ASSERT_HAS(msg, want) \
    ck_assert_msg(strstr((msg), (want)) != NULL, "message '%s' lacks '%s'", (msg), (want))

#endif
