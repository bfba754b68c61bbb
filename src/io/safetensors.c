/* Safetensors checkpoints: a writer (atomic, tensors from host memory or streamed
 * through a callback) and a validating reader (header checked whole at open,
 * tensor data read on demand with pread). The JSON header is json-c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "radars/io.h"
#include "runtime/c_locale.h"

/* Hugging Face's reader refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

static const char *const dtype_names[] = {"F32", "F64", "I32", "I64", "U8"};
static const size_t dtype_sizes[] = {4, 8, 4, 8, 1};
enum { N_DTYPES = 5 };

size_t rd_st_dtype_size(rd_st_dtype d) { return (unsigned)d < N_DTYPES ? dtype_sizes[d] : 0; }
const char *rd_st_dtype_name(rd_st_dtype d) { return (unsigned)d < N_DTYPES ? dtype_names[d] : "?"; }

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

const char *rd_st_shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

/* numel and bytes of a shape, refusing negative dimensions and overflow. */
static int shape_bytes(int ndim, const int64_t *shape, rd_st_dtype dtype, uint64_t *numel, uint64_t *bytes) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return 0;
        if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return 0;
    }
    uint64_t b;
    if (__builtin_mul_overflow(n, (uint64_t)rd_st_dtype_size(dtype), &b)) return 0;
    *numel = n;
    *bytes = b;
    return 1;
}

/* ------------------------------------------------------------------ writer */

typedef struct st_entry {
    char *name;
    rd_st_dtype dtype;
    int ndim;
    int64_t shape[RD_ST_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
    rd_st_fill_fn fill;
    void *user;
} st_entry;

struct rd_st_writer {
    st_entry *t;
    int n, cap;
    json_object *names;    /* set of names added (hash lookups for duplicates) */
    json_object *metadata; /* string -> string */
};

rd_status rd_st_writer_create(rd_st_writer **out, rd_err *err) {
    *out = NULL;
    rd_st_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->names = json_object_new_object();
        w->metadata = json_object_new_object();
    }
    if (!w || !w->names || !w->metadata) {
        rd_st_writer_free(w);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "safetensors writer: out of memory");
    }
    *out = w;
    return RD_OK;
}

void rd_st_writer_free(rd_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    json_object_put(w->names);
    json_object_put(w->metadata);
    free(w);
}

static rd_status add_entry(rd_st_writer *w, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, rd_st_fill_fn fill, void *user, rd_err *err) {
    if (!name || !*name) return rd_fail(err, RD_ERR_ARG, "safetensors: empty tensor name");
    if (!strcmp(name, "__metadata__")) return rd_fail(err, RD_ERR_ARG, "safetensors: '__metadata__' is reserved");
    if ((unsigned)dtype >= N_DTYPES) return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s': bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > RD_ST_MAX_DIMS)
        return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s': %d dimensions (0 to %d allowed)", name, ndim,
                       RD_ST_MAX_DIMS);
    if (!data && !fill) return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s': no data", name);
    if (json_object_object_get_ex(w->names, name, NULL))
        return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s' added twice", name);
    st_entry e = {0};
    e.dtype = dtype;
    e.ndim = ndim;
    for (int i = 0; i < ndim; i++) e.shape[i] = shape[i];
    uint64_t numel;
    char sh[256];
    if (!shape_bytes(ndim, e.shape, dtype, &numel, &e.nbytes))
        return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s': bad shape %s", name, rd_st_shape_str(ndim, e.shape, sh, sizeof sh));
    e.data = data;
    e.fill = fill;
    e.user = user;
    if (w->n == w->cap) {
        int ncap = w->cap ? 2 * w->cap : 64;
        st_entry *nt = realloc(w->t, (size_t)ncap * sizeof *nt);
        if (!nt) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "safetensors: out of memory adding '%s'", name);
        w->t = nt;
        w->cap = ncap;
    }
    e.name = strdup(name);
    if (!e.name || json_object_object_add(w->names, name, NULL) != 0) {
        free(e.name);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "safetensors: out of memory adding '%s'", name);
    }
    w->t[w->n++] = e;
    return RD_OK;
}

rd_status rd_st_add(rd_st_writer *w, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                    const void *data, rd_err *err) {
    if (!data) return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s': data is NULL", name ? name : "");
    return add_entry(w, name, dtype, ndim, shape, data, NULL, NULL, err);
}

rd_status rd_st_add_fill(rd_st_writer *w, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                         rd_st_fill_fn fill, void *user, rd_err *err) {
    if (!fill) return rd_fail(err, RD_ERR_ARG, "safetensors: tensor '%s': fill callback is NULL", name ? name : "");
    return add_entry(w, name, dtype, ndim, shape, NULL, fill, user, err);
}

rd_status rd_st_add_metadata(rd_st_writer *w, const char *key, const char *value, rd_err *err) {
    if (!key || !value) return rd_fail(err, RD_ERR_ARG, "safetensors: metadata key and value must not be NULL");
    if (json_object_object_get_ex(w->metadata, key, NULL))
        return rd_fail(err, RD_ERR_ARG, "safetensors: metadata '%s' added twice", key);
    json_object *v = json_object_new_string(value);
    if (!v || json_object_object_add(w->metadata, key, v) != 0) {
        json_object_put(v);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "safetensors: out of memory adding metadata '%s'", key);
    }
    return RD_OK;
}

rd_status rd_st_add_metadataf(rd_st_writer *w, const char *key, rd_err *err, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    RD_C_LOCALE_BEGIN;
    vsnprintf(buf, sizeof buf, fmt, ap);
    RD_C_LOCALE_END;
    va_end(ap);
    return rd_st_add_metadata(w, key, buf, err);
}

/* The header: __metadata__ first (as Hugging Face writes it), then tensors in data order. */
static json_object *build_header(const rd_st_writer *w) {
    json_object *h = json_object_new_object();
    if (!h) return NULL;
    if (json_object_object_length(w->metadata) > 0 &&
        json_object_object_add(h, "__metadata__", json_object_get(w->metadata)) != 0)
        goto fail;
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_entry *e = &w->t[i];
        json_object *o = json_object_new_object(), *shape = json_object_new_array(), *offs = json_object_new_array();
        if (!o || !shape || !offs) {
            json_object_put(o), json_object_put(shape), json_object_put(offs);
            goto fail;
        }
        json_object_object_add(o, "dtype", json_object_new_string(dtype_names[e->dtype]));
        for (int d = 0; d < e->ndim; d++) json_object_array_add(shape, json_object_new_int64(e->shape[d]));
        json_object_object_add(o, "shape", shape);
        json_object_array_add(offs, json_object_new_uint64(off));
        json_object_array_add(offs, json_object_new_uint64(off + e->nbytes));
        json_object_object_add(o, "data_offsets", offs);
        if (json_object_object_add(h, e->name, o) != 0) {
            json_object_put(o);
            goto fail;
        }
        off += e->nbytes;
    }
    return h;
fail:
    json_object_put(h);
    return NULL;
}

rd_status rd_st_write(rd_st_writer *w, const char *path, rd_err *err) {
    if (!host_is_little_endian())
        return rd_fail(err, RD_ERR_FORMAT, "%s: safetensors writing needs a little-endian host", path);
    json_object *h = build_header(w);
    if (!h) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
    size_t hlen = 0;
    const char *text = json_object_to_json_string_length(h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &hlen);
    if (!text) {
        json_object_put(h);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory writing the header", path);
    }
    size_t padded = (hlen + 7) / 8 * 8;
    if (padded > ST_MAX_HEADER) {
        json_object_put(h);
        return rd_fail(err, RD_ERR_ARG, "%s: a header of %zu bytes, over the %u that safetensors readers accept "
                       "(too much metadata)", path, padded, ST_MAX_HEADER);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    uint64_t max_fill = 0;
    for (int i = 0; i < w->n; i++)
        if (w->t[i].fill && w->t[i].nbytes > max_fill) max_fill = w->t[i].nbytes;
    size_t chunk = max_fill < RD_ST_CHUNK ? (size_t)max_fill : RD_ST_CHUNK;
    void *buf = chunk ? malloc(chunk) : NULL;
    if (chunk && !buf) {
        json_object_put(h);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory (%zu bytes of staging)", path, chunk);
    }

    rd_atomic_file af;
    rd_status st = rd_atomic_open(&af, path, err);
    if (st) {
        free(buf);
        json_object_put(h);
        return st;
    }
    static const char spaces[8] = "        ";
    int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(text, 1, hlen, af.f) == hlen &&
             fwrite(spaces, 1, padded - hlen, af.f) == padded - hlen;
    json_object_put(h);
    for (int i = 0; ok && i < w->n; i++) {
        const st_entry *e = &w->t[i];
        if (e->data) {
            ok = e->nbytes == 0 || fwrite(e->data, 1, (size_t)e->nbytes, af.f) == e->nbytes;
            continue;
        }
        for (uint64_t off = 0; ok && off < e->nbytes; off += chunk) {
            size_t n = e->nbytes - off < chunk ? (size_t)(e->nbytes - off) : chunk;
            st = e->fill(e->user, (size_t)off, buf, n, err);
            if (st) {
                free(buf);
                rd_atomic_abort(&af);
                return rd_err_prefix(err, "%s: tensor '%s'", path, e->name);
            }
            ok = fwrite(buf, 1, n, af.f) == n;
        }
    }
    free(buf);
    if (!ok) {
        int e = errno;
        rd_atomic_abort(&af);
        return rd_fail(err, RD_ERR_IO, "%s: write failed: %s (the file was not changed)", path, strerror(e));
    }
    return rd_atomic_commit(&af, err);
}

/* ------------------------------------------------------------------ reader */

struct rd_st_file {
    char *path;
    int fd;
    uint64_t data_start, data_size;
    rd_st_info *t;     /* in data order */
    int n;
    const rd_st_info **by_name; /* t sorted by name, for lookups */
    char **meta;       /* key, value, key, value, ... */
    int nmeta;
};

void rd_st_close(rd_st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (int i = 0; i < f->n; i++) free((char *)f->t[i].name);
    for (int i = 0; i < 2 * f->nmeta; i++) free(f->meta[i]);
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f->path);
    free(f);
}

static int pread_all(int fd, void *dst, size_t n, uint64_t off) {
    uint8_t *p = dst;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 1;
}

/* A non-negative JSON integer (json-c keeps values above INT64_MAX as uint64). */
static int json_uint(json_object *v, uint64_t *out) {
    if (!json_object_is_type(v, json_type_int)) return 0;
    int64_t s = json_object_get_int64(v);
    if (s < 0) return 0;
    *out = s == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)s;
    return 1;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const rd_st_info *const *)a)->name, (*(const rd_st_info *const *)b)->name);
}
static int cmp_offset(const void *a, const void *b) {
    const rd_st_info *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* One tensor entry of the header into *t. */
static rd_status parse_entry(const char *path, const char *name, json_object *o, uint64_t data_size, rd_st_info *t,
                             rd_err *err) {
    json_object *v;
    if (!json_object_is_type(o, json_type_object))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    if (!json_object_object_get_ex(o, "dtype", &v))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': no \"dtype\"", path, name);
    if (!json_object_is_type(v, json_type_string))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    const char *dt = json_object_get_string(v);
    int d = 0;
    while (d < N_DTYPES && strcmp(dt, dtype_names[d])) d++;
    if (d == N_DTYPES)
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%s' (known: F32, F64, I32, I64, U8)",
                       path, name, dt);
    t->dtype = (rd_st_dtype)d;

    if (!json_object_object_get_ex(o, "shape", &v))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': no \"shape\"", path, name);
    if (!json_object_is_type(v, json_type_array))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path, name);
    size_t nd = json_object_array_length(v);
    if (nd > RD_ST_MAX_DIMS)
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': %zu dimensions (at most %d supported)", path, name, nd,
                       RD_ST_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        uint64_t dim;
        if (!json_uint(json_object_array_get_idx(v, i), &dim) || dim > (uint64_t)INT64_MAX)
            return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)dim;
    }
    char sh[256];
    if (!shape_bytes(t->ndim, t->shape, t->dtype, &t->numel, &t->nbytes))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': shape %s is too large", path, name,
                       rd_st_shape_str(t->ndim, t->shape, sh, sizeof sh));

    if (!json_object_object_get_ex(o, "data_offsets", &v))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': no \"data_offsets\"", path, name);
    uint64_t a, b;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2 ||
        !json_uint(json_object_array_get_idx(v, 0), &a) || !json_uint(json_object_array_get_idx(v, 1), &b))
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not [begin, end] (non-negative integers)",
                       path, name);
    if (b < a)
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path,
                       name, (unsigned long long)a, (unsigned long long)b);
    if (b > data_size)
        return rd_fail(err, RD_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] go past the end of the data (%llu bytes; file "
                       "truncated?)",
                       path, name, (unsigned long long)a, (unsigned long long)b, (unsigned long long)data_size);
    if (b - a != t->nbytes)
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s %s needs %llu",
                       path, name, (unsigned long long)a, (unsigned long long)b, (unsigned long long)(b - a),
                       dtype_names[t->dtype], rd_st_shape_str(t->ndim, t->shape, sh, sizeof sh),
                       (unsigned long long)t->nbytes);
    t->offset = a;
    return RD_OK;
}

static rd_status parse_metadata(rd_st_file *f, json_object *o, rd_err *err) {
    if (!json_object_is_type(o, json_type_object))
        return rd_fail(err, RD_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", f->path);
    int n = json_object_object_length(o);
    f->meta = calloc((size_t)(2 * n + 1), sizeof *f->meta);
    if (!f->meta) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    json_object_object_foreach(o, key, val) {
        if (!json_object_is_type(val, json_type_string))
            return rd_fail(err, RD_ERR_FORMAT, "%s: metadata '%s' is not a string", f->path, key);
        int i = f->nmeta;
        f->meta[2 * i] = strdup(key);
        f->meta[2 * i + 1] = strdup(json_object_get_string(val));
        f->nmeta++;
        if (!f->meta[2 * i] || !f->meta[2 * i + 1]) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    }
    return RD_OK;
}

static rd_status parse_header(rd_st_file *f, const char *text, size_t len, rd_err *err) {
    json_tokener *tok = json_tokener_new();
    if (!tok) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT); /* no comments, single quotes, trailing commas */
    json_object *h = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!h) {
        const char *why = jerr == json_tokener_continue ? "unexpected end of the header" : json_tokener_error_desc(jerr);
        return rd_fail(err, RD_ERR_FORMAT, "%s: header is not valid JSON: %s (at byte %zu of %zu)", f->path, why, end, len);
    }
    rd_status st = RD_OK;
    /* json-c in strict mode refuses trailing text itself; older versions stop after the object */
    for (size_t i = end; i < len && !st; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            st = rd_fail(err, RD_ERR_FORMAT, "%s: header has trailing bytes after its JSON (at byte %zu of %zu)", f->path, i, len);
    if (!st && !json_object_is_type(h, json_type_object))
        st = rd_fail(err, RD_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    if (st) {
        json_object_put(h);
        return st;
    }
    int n = json_object_object_length(h);
    f->t = calloc((size_t)n + 1, sizeof *f->t);
    if (!f->t) st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    json_object_object_foreach(h, key, val) {
        if (st) break;
        if (!strcmp(key, "__metadata__")) {
            st = parse_metadata(f, val, err);
            continue;
        }
        rd_st_info *t = &f->t[f->n];
        st = parse_entry(f->path, key, val, f->data_size, t, err);
        if (st) break;
        t->name = strdup(key);
        if (!t->name) st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
        else f->n++;
    }
    json_object_put(h);
    return st;
}

/* The tensors, sorted by offset, must tile the data exactly: no overlap, no gap, nothing after. */
static rd_status check_layout(rd_st_file *f, rd_err *err) {
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_offset);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        const rd_st_info *t = &f->t[i];
        if (t->offset < at)
            return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                           f->path, t->name, (unsigned long long)t->offset, (unsigned long long)(t->offset + t->nbytes),
                           f->t[i - 1].name, (unsigned long long)f->t[i - 1].offset, (unsigned long long)at);
        if (t->offset > at)
            return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s': gap of %llu unused bytes before its data_offsets [%llu, %llu]",
                           f->path, t->name, (unsigned long long)(t->offset - at), (unsigned long long)t->offset,
                           (unsigned long long)(t->offset + t->nbytes));
        at = t->offset + t->nbytes;
    }
    if (at != f->data_size)
        return rd_fail(err, RD_ERR_FORMAT, "%s: %llu bytes of data after the last tensor (data is %llu bytes, tensors cover %llu)",
                       f->path, (unsigned long long)(f->data_size - at), (unsigned long long)f->data_size,
                       (unsigned long long)at);
    f->by_name = malloc(((size_t)f->n + 1) * sizeof *f->by_name);
    if (!f->by_name) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    for (int i = 0; i < f->n; i++) f->by_name[i] = &f->t[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    return RD_OK;
}

rd_status rd_st_open(const char *path, rd_st_file **out, rd_err *err) {
    *out = NULL;
    if (!host_is_little_endian())
        return rd_fail(err, RD_ERR_FORMAT, "%s: safetensors reading needs a little-endian host", path);
    rd_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    rd_status st = RD_OK;
    struct stat sb;
    uint8_t len8[8];
    uint64_t hlen = 0, size = 0;
    char *text = NULL;
    if (f->fd < 0) st = rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    else if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = rd_fail(err, RD_ERR_IO, "%s: not a regular file", path);
    if (!st) {
        size = (uint64_t)sb.st_size;
        if (size < 8) st = rd_fail(err, RD_ERR_FORMAT, "%s: %llu bytes: too short for a safetensors file", path, (unsigned long long)size);
        else if (!pread_all(f->fd, len8, 8, 0)) st = rd_fail(err, RD_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    if (!st) {
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
        if (hlen == 0) st = rd_fail(err, RD_ERR_FORMAT, "%s: header length is 0", path);
        else if (hlen > size - 8)
            st = rd_fail(err, RD_ERR_FORMAT, "%s: header length %llu goes past the end of the file (%llu bytes; not a safetensors file, or truncated)",
                         path, (unsigned long long)hlen, (unsigned long long)size);
        else if (hlen > ST_MAX_HEADER)
            st = rd_fail(err, RD_ERR_FORMAT, "%s: header length %llu is above the %u-byte limit", path,
                         (unsigned long long)hlen, ST_MAX_HEADER);
    }
    if (!st) {
        f->data_start = 8 + hlen;
        f->data_size = size - f->data_start;
        text = malloc((size_t)hlen + 1);
        if (!text) st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        else if (!pread_all(f->fd, text, (size_t)hlen, 8)) st = rd_fail(err, RD_ERR_IO, "%s: cannot read the header: %s", path, strerror(errno));
        else {
            text[hlen] = 0;
            if (text[0] != '{') st = rd_fail(err, RD_ERR_FORMAT, "%s: header does not start with '{': not a safetensors file", path);
        }
    }
    if (!st) st = parse_header(f, text, (size_t)hlen, err);
    free(text);
    if (!st) st = check_layout(f, err);
    if (st) {
        rd_st_close(f);
        return st;
    }
    *out = f;
    return RD_OK;
}

int rd_st_count(const rd_st_file *f) { return f->n; }
const rd_st_info *rd_st_at(const rd_st_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }

const rd_st_info *rd_st_find(const rd_st_file *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const rd_st_info *t = f->by_name[mid];
        int c = strcmp(name, t->name);
        if (!c) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

int rd_st_metadata_count(const rd_st_file *f) { return f->nmeta; }
void rd_st_metadata_at(const rd_st_file *f, int i, const char **key, const char **value) {
    int ok = i >= 0 && i < f->nmeta;
    if (key) *key = ok ? f->meta[2 * i] : NULL;
    if (value) *value = ok ? f->meta[2 * i + 1] : NULL;
}
const char *rd_st_metadata(const rd_st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

static rd_status check_expected(const rd_st_file *f, const char *name, rd_st_dtype dtype, int ndim,
                                const int64_t *shape, const rd_st_info **out, rd_err *err) {
    const rd_st_info *t = rd_st_find(f, name);
    if (!t) return rd_fail(err, RD_ERR_FORMAT, "%s: no tensor named '%s'", f->path, name);
    if (t->dtype != dtype)
        return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", f->path, name, dtype_names[t->dtype],
                       rd_st_dtype_name(dtype));
    if (ndim >= 0) {
        int same = ndim == t->ndim;
        for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
        if (!same) {
            char a[256], b[256];
            return rd_fail(err, RD_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", f->path, name,
                           rd_st_shape_str(t->ndim, t->shape, a, sizeof a),
                           rd_st_shape_str(ndim > RD_ST_MAX_DIMS ? RD_ST_MAX_DIMS : ndim, shape, b, sizeof b));
        }
    }
    *out = t;
    return RD_OK;
}

rd_status rd_st_read(const rd_st_file *f, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                     void *dst, size_t dst_bytes, rd_err *err) {
    const rd_st_info *t;
    rd_status st = check_expected(f, name, dtype, ndim, shape, &t, err);
    if (st) return st;
    if (dst_bytes != t->nbytes)
        return rd_fail(err, RD_ERR_ARG, "%s: tensor '%s' has %llu bytes, the destination %zu", f->path, name,
                       (unsigned long long)t->nbytes, dst_bytes);
    errno = 0;
    if (t->nbytes && !pread_all(f->fd, dst, (size_t)t->nbytes, f->data_start + t->offset))
        return rd_fail(err, RD_ERR_IO, "%s: tensor '%s': read failed: %s", f->path, name,
                       errno ? strerror(errno) : "file ended early (changed since it was opened?)");
    return RD_OK;
}

rd_status rd_st_read_stream(const rd_st_file *f, const char *name, rd_st_dtype dtype, int ndim,
                            const int64_t *shape, rd_st_sink_fn sink, void *user, rd_err *err) {
    const rd_st_info *t;
    rd_status st = check_expected(f, name, dtype, ndim, shape, &t, err);
    if (st) return st;
    size_t chunk = t->nbytes < RD_ST_CHUNK ? (size_t)t->nbytes : RD_ST_CHUNK;
    if (!chunk) return RD_OK;
    void *buf = malloc(chunk);
    if (!buf) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: tensor '%s': out of memory", f->path, name);
    for (uint64_t off = 0; off < t->nbytes && !st; off += chunk) {
        size_t n = t->nbytes - off < chunk ? (size_t)(t->nbytes - off) : chunk;
        errno = 0;
        if (!pread_all(f->fd, buf, n, f->data_start + t->offset + off))
            st = rd_fail(err, RD_ERR_IO, "%s: tensor '%s': read failed: %s", f->path, name,
                         errno ? strerror(errno) : "file ended early (changed since it was opened?)");
        else if ((st = sink(user, (size_t)off, buf, n, err)) != RD_OK)
            rd_err_prefix(err, "%s: tensor '%s'", f->path, name);
    }
    free(buf);
    return st;
}
