/* Shared by the fuzz targets (libFuzzer): the reader under test takes paths,
 * so each input is written to files in one folder on tmpfs, made once per
 * process and removed at exit. Readers must return an rd_status for any input:
 * a crash, a sanitizer report or a leak is a finding. */
#ifndef RADARS_FUZZ_UTIL_H
#define RADARS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "radars/radars.h"

static char fz_dir_[256];

static void fz_cleanup_(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir_);
    if (fz_dir_[0] && system(cmd) != 0) fprintf(stderr, "fuzz: cannot remove %s\n", fz_dir_);
}

/* The folder this process writes its inputs into. */
static inline const char *fz_dir(void) {
    if (!fz_dir_[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fz_dir_, sizeof fz_dir_, "%s/radars-fuzz-XXXXXX", base);
        if (!mkdtemp(fz_dir_)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fz_cleanup_);
    }
    return fz_dir_;
}

/* dir/name (static buffer per call site: copy it if two are needed). */
static inline void fz_path(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", fz_dir(), name); }

static inline void fz_write(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* data as a NUL-terminated string (malloc'ed). */
static inline char *fz_string(const uint8_t *data, size_t len) {
    char *s = malloc(len + 1);
    if (!s) abort();
    memcpy(s, data, len);
    s[len] = 0;
    return s;
}

/* A property the reader promises for every input it accepts. */
#define FZ_ASSERT(cond)                                                             \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz: %s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* An error message is one non-empty line. */
static inline void fz_check_error(rd_status st, const rd_err *err) {
    if (st == RD_OK) return;
    FZ_ASSERT(err->msg[0] != 0);
    FZ_ASSERT(strchr(err->msg, '\n') == NULL);
}

#endif
