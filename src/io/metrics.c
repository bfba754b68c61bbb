/* Metrics as JSON lines: records built with json-c, appended one per line and
 * flushed; a reader that iterates them (for tests and plots). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"
#include "radars/io.h"

struct rd_record {
    json_object *obj;
    int oom; /* an add failed for lack of memory: reported by rd_metrics_append */
};

rd_record *rd_record_new(void) {
    rd_record *r = calloc(1, sizeof *r);
    if (r && !(r->obj = json_object_new_object())) {
        free(r);
        r = NULL;
    }
    return r;
}

void rd_record_free(rd_record *r) {
    if (!r) return;
    json_object_put(r->obj);
    free(r);
}

struct json_object *rd_record_json(rd_record *r) { return r ? r->obj : NULL; }

/* Numbers are written in their shortest form that reads back to the same value
 * (json-c's default "%.17g" writes 0.1 as 0.10000000000000001). */
static json_object *new_double(double v) {
    if (!isfinite(v)) return json_object_new_double(v);
    char buf[32];
    io_shortest_double(v, buf, sizeof buf);
    return json_object_new_double_s(v, buf);
}

static json_object *new_float(float v) {
    if (!isfinite(v)) return json_object_new_double(v);
    char buf[32];
    io_shortest_float(v, buf, sizeof buf);
    return json_object_new_double_s((double)v, buf);
}

static void put(rd_record *r, const char *key, json_object *v) {
    if (!r) return;
    if (!v || json_object_object_add(r->obj, key, v) != 0) {
        json_object_put(v);
        r->oom = 1;
    }
}

void rd_record_int(rd_record *r, const char *key, int64_t v) { put(r, key, json_object_new_int64(v)); }
void rd_record_double(rd_record *r, const char *key, double v) { put(r, key, new_double(v)); }
void rd_record_bool(rd_record *r, const char *key, bool v) { put(r, key, json_object_new_boolean(v)); }
void rd_record_string(rd_record *r, const char *key, const char *v) {
    put(r, key, v ? json_object_new_string(v) : NULL);
}

/* An array of n numbers made by make(v, i); NULL when out of memory. */
static json_object *number_array(const void *v, size_t n, json_object *(*make)(const void *, size_t)) {
    json_object *a = json_object_new_array_ext((int)n);
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) {
        json_object *x = make(v, i);
        if (!x || json_object_array_add(a, x) != 0) {
            json_object_put(x);
            json_object_put(a);
            return NULL;
        }
    }
    return a;
}
static json_object *make_double(const void *v, size_t i) { return new_double(((const double *)v)[i]); }
static json_object *make_float(const void *v, size_t i) { return new_float(((const float *)v)[i]); }

void rd_record_doubles(rd_record *r, const char *key, const double *v, size_t n) {
    put(r, key, number_array(v, n, make_double));
}
void rd_record_floats(rd_record *r, const char *key, const float *v, size_t n) {
    put(r, key, number_array(v, n, make_float));
}

static json_object *matrix(const void *v, size_t rows, size_t cols, size_t elem,
                           json_object *(*make)(const void *, size_t)) {
    json_object *m = json_object_new_array_ext((int)rows);
    if (!m) return NULL;
    for (size_t i = 0; i < rows; i++) {
        json_object *row = number_array((const char *)v + i * cols * elem, cols, make);
        if (!row || json_object_array_add(m, row) != 0) {
            json_object_put(row);
            json_object_put(m);
            return NULL;
        }
    }
    return m;
}

void rd_record_matrix(rd_record *r, const char *key, const double *v, size_t rows, size_t cols) {
    put(r, key, matrix(v, rows, cols, sizeof *v, make_double));
}
void rd_record_matrix_f(rd_record *r, const char *key, const float *v, size_t rows, size_t cols) {
    put(r, key, matrix(v, rows, cols, sizeof *v, make_float));
}

/* ---- getters ---- */

static json_object *get(const rd_record *r, const char *key) {
    json_object *v = NULL;
    if (!r || !json_object_object_get_ex(r->obj, key, &v)) return NULL;
    return v;
}

static int is_number(json_object *v) { return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double); }

bool rd_record_has(const rd_record *r, const char *key) { return get(r, key) != NULL; }

int64_t rd_record_get_int(const rd_record *r, const char *key) {
    json_object *v = get(r, key);
    return v && is_number(v) ? json_object_get_int64(v) : 0;
}

double rd_record_get_double(const rd_record *r, const char *key) {
    json_object *v = get(r, key);
    return v && is_number(v) ? json_object_get_double(v) : NAN;
}

const char *rd_record_get_string(const rd_record *r, const char *key) {
    json_object *v = get(r, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

size_t rd_record_get_doubles(const rd_record *r, const char *key, double *out, size_t cap) {
    json_object *a = get(r, key);
    if (!a || !json_object_is_type(a, json_type_array)) return 0;
    size_t n = 0, len = json_object_array_length(a);
    for (size_t i = 0; i < len; i++) {
        json_object *x = json_object_array_get_idx(a, i);
        if (json_object_is_type(x, json_type_array)) { /* a matrix: flattened row-major */
            size_t m = json_object_array_length(x);
            for (size_t j = 0; j < m; j++, n++) {
                json_object *y = json_object_array_get_idx(x, j);
                if (n < cap) out[n] = is_number(y) ? json_object_get_double(y) : NAN;
            }
        } else {
            if (n < cap) out[n] = is_number(x) ? json_object_get_double(x) : NAN;
            n++;
        }
    }
    return n;
}

/* ---- writer ---- */

struct rd_metrics {
    FILE *f;
    char *path;
};

/* Cuts a last line that has no newline (a record a crash interrupted), so the
 * next record starts on a line of its own. */
static rd_status cut_partial_line(int fd, const char *path, rd_err *err) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return rd_fail(err, RD_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    off_t end = sb.st_size, keep = 0;
    if (end == 0) return RD_OK;
    char buf[4096];
    for (off_t pos = end; pos > 0;) {
        size_t n = pos < (off_t)sizeof buf ? (size_t)pos : sizeof buf;
        pos -= (off_t)n;
        if (pread(fd, buf, n, pos) != (ssize_t)n) return rd_fail(err, RD_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        size_t i = n;
        while (i > 0 && buf[i - 1] != '\n') i--;
        if (i > 0) {
            keep = pos + (off_t)i;
            break;
        }
    }
    if (keep != end && ftruncate(fd, keep) != 0)
        return rd_fail(err, RD_ERR_IO, "%s: cannot cut the unfinished last record: %s", path, strerror(errno));
    return RD_OK;
}

rd_status rd_metrics_open(const char *path, rd_metrics **out, rd_err *err) {
    *out = NULL;
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[4096];
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return rd_fail(err, RD_ERR_ARG, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = 0;
        rd_status st = rd_mkdir_p(dir, err);
        if (st) return st;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
    rd_status st = cut_partial_line(fd, path, err);
    rd_metrics *m = NULL;
    if (!st && (!(m = calloc(1, sizeof *m)) || !(m->path = strdup(path))))
        st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (!st && !(m->f = fdopen(fd, "ab"))) st = rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (st) {
        close(fd);
        if (m) free(m->path);
        free(m);
        return st;
    }
    *out = m;
    return RD_OK;
}

int64_t rd_metrics_bytes(const rd_metrics *m) {
    if (!m || fflush(m->f) != 0) return -1;
    struct stat sb;
    return fstat(fileno(m->f), &sb) == 0 ? (int64_t)sb.st_size : -1;
}

rd_status rd_metrics_truncate(const char *path, int64_t bytes, rd_err *err) {
    struct stat sb;
    if (bytes < 0 || stat(path, &sb) != 0 || sb.st_size <= bytes) return RD_OK;
    if (truncate(path, (off_t)bytes) != 0)
        return rd_fail(err, RD_ERR_IO, "%s: cannot cut to the checkpoint's %lld bytes: %s", path, (long long)bytes,
                       strerror(errno));
    return RD_OK;
}

rd_status rd_metrics_append(rd_metrics *m, const rd_record *r, rd_err *err) {
    if (r->oom) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory building a record", m->path);
    size_t n = 0;
    const char *text = json_object_to_json_string_length(r->obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (!text) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory writing a record", m->path);
    if (fwrite(text, 1, n, m->f) != n || fputc('\n', m->f) == EOF || fflush(m->f) != 0)
        return rd_fail(err, RD_ERR_IO, "%s: cannot append a record: %s", m->path, strerror(errno));
    return RD_OK;
}

rd_status rd_metrics_close(rd_metrics *m, rd_err *err) {
    if (!m) return RD_OK;
    rd_status st = RD_OK;
    if (fclose(m->f) != 0) st = rd_fail(err, RD_ERR_IO, "%s: close failed: %s", m->path, strerror(errno));
    free(m->path);
    free(m);
    return st;
}

/* ---- reader ---- */

struct rd_metrics_reader {
    FILE *f;
    char *path;
    char *line;
    size_t cap;
    long lineno;
    json_tokener *tok;
    rd_record rec;
};

rd_status rd_metrics_reader_open(const char *path, rd_metrics_reader **out, rd_err *err) {
    *out = NULL;
    rd_metrics_reader *rd = calloc(1, sizeof *rd);
    if (!rd || !(rd->path = strdup(path)) || !(rd->tok = json_tokener_new())) {
        if (rd) free(rd->path);
        free(rd);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (!(rd->f = fopen(path, "rb"))) {
        rd_status st = rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        rd_metrics_reader_close(rd);
        return st;
    }
    *out = rd;
    return RD_OK;
}

void rd_metrics_reader_close(rd_metrics_reader *rd) {
    if (!rd) return;
    if (rd->f) fclose(rd->f);
    if (rd->tok) json_tokener_free(rd->tok);
    json_object_put(rd->rec.obj);
    free(rd->line);
    free(rd->path);
    free(rd);
}

/* getline, but at most RD_TEXT_MAX_BYTES: -1 at the end (or an error), -2 past the limit. */
static ssize_t read_line(rd_metrics_reader *rd) {
    size_t n = 0;
    int c = 0;
    while (c != '\n' && (c = getc(rd->f)) != EOF) {
        if (n + 2 > rd->cap) {
            if (rd->cap >= RD_TEXT_MAX_BYTES) return -2;
            size_t ncap = rd->cap ? 2 * rd->cap : 4096;
            char *nl = realloc(rd->line, ncap);
            if (!nl) return -1;
            rd->line = nl;
            rd->cap = ncap;
        }
        rd->line[n++] = (char)c;
    }
    if (!n) return -1;
    rd->line[n] = 0;
    return (ssize_t)n;
}

rd_status rd_metrics_next(rd_metrics_reader *rd, const rd_record **rec, rd_err *err) {
    *rec = NULL;
    json_object_put(rd->rec.obj);
    rd->rec.obj = NULL;
    for (;;) {
        errno = 0;
        ssize_t n = read_line(rd);
        if (n == -2)
            return rd_fail(err, RD_ERR_FORMAT, "%s:%ld: a line longer than %zu MiB: not a metrics file", rd->path,
                           rd->lineno + 1, RD_TEXT_MAX_BYTES >> 20);
        if (n < 0) {
            if (ferror(rd->f)) return rd_fail(err, RD_ERR_IO, "%s: read error: %s", rd->path, strerror(errno));
            return RD_OK; /* end */
        }
        rd->lineno++;
        if (rd->line[n - 1] != '\n') return RD_OK; /* a record still being written */
        size_t i = 0;
        while (i < (size_t)n && strchr(" \t\r\n", rd->line[i])) i++;
        if (i == (size_t)n) continue; /* blank */
        if ((size_t)n != strlen(rd->line))
            return rd_fail(err, RD_ERR_FORMAT, "%s:%ld: NUL byte in a record", rd->path, rd->lineno);
        json_tokener_reset(rd->tok);
        json_object *o = json_tokener_parse_ex(rd->tok, rd->line, (int)n);
        enum json_tokener_error je = json_tokener_get_error(rd->tok);
        size_t end = json_tokener_get_parse_end(rd->tok);
        if (!o)
            return rd_fail(err, RD_ERR_FORMAT, "%s:%ld: not valid JSON: %s", rd->path, rd->lineno,
                           je == json_tokener_continue ? "the record is cut short" : json_tokener_error_desc(je));
        for (size_t k = end; k < (size_t)n; k++)
            if (!strchr(" \t\r\n", rd->line[k])) {
                json_object_put(o);
                return rd_fail(err, RD_ERR_FORMAT, "%s:%ld: unexpected text after the record", rd->path, rd->lineno);
            }
        if (!json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            return rd_fail(err, RD_ERR_FORMAT, "%s:%ld: a record must be a JSON object", rd->path, rd->lineno);
        }
        rd->rec.obj = o;
        *rec = &rd->rec;
        return RD_OK;
    }
}

rd_status rd_metrics_append_free(rd_metrics *m, rd_record *r, rd_err *err) {
    rd_status s = rd_metrics_append(m, r, err);
    rd_record_free(r);
    return s;
}
