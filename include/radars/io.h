/* radars-cl: host-side files — configuration (INI), safetensors checkpoints,
 * JSON-lines metrics, and safe file writing (atomic replace, run directories).
 *
 * Nothing here needs OpenCL. Every fallible call returns an rd_status and
 * leaves a one-line message in an rd_err naming the file (and the line, key or
 * tensor) at fault. Files that matter are written atomically: to
 * "<path>.tmp.<pid>", flushed, fsync'ed, renamed over path, and the directory
 * fsync'ed, so a crash never leaves a half-written file where a good one was. */
#ifndef RADARS_IO_H
#define RADARS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "radars/common.h"
#include "radars/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object; /* json-c; include <json-c/json.h> to use the objects handed out */

/* =========================================================================
 * File utilities
 * ========================================================================= */

/* Creates path and its missing parents (mode 0777 & ~umask). An existing directory is fine. */
rd_status rd_mkdir_p(const char *path, rd_err *err);

/* Text files radars-cl reads whole (recipes, genotypes) and metrics lines are at most
 * this long: larger is not such a file (--config /dev/zero), and is refused. */
#define RD_TEXT_MAX_BYTES ((size_t)64 << 20)
/* Reads the whole file (at most RD_TEXT_MAX_BYTES) into a malloc'ed buffer with a NUL
 * appended (not counted in *len). */
rd_status rd_read_file(const char *path, char **data, size_t *len, rd_err *err);

/* Whether a file name is "<anything>.tmp.<pid>" of a process that no longer runs: a
 * temporary file a crash left (rd_atomic_open removes those of the path it writes). */
int rd_is_stale_tmp(const char *name);

/* Replaces path with data atomically (tmp + fsync + rename + fsync of the directory). */
rd_status rd_write_file_atomic(const char *path, const void *data, size_t len, rd_err *err);

/* An atomic replacement in progress: write to f, then commit (or abort). */
typedef struct rd_atomic_file {
    FILE *f;             /* the temporary file, open for writing */
    char path[4096];     /* final path */
    char tmp[4120];      /* "<path>.tmp.<pid>" */
} rd_atomic_file;
rd_status rd_atomic_open(rd_atomic_file *af, const char *path, rd_err *err);
/* Flushes, fsyncs, closes, renames over path and fsyncs the directory. On
 * failure the temporary file is removed and path is left as it was. */
rd_status rd_atomic_commit(rd_atomic_file *af, rd_err *err);
/* Closes and removes the temporary file; path is untouched. Safe to call twice. */
void rd_atomic_abort(rd_atomic_file *af);

/* out = a "/" b (b absolute: b; a empty: b). RD_ERR_ARG when out is too small. */
rd_status rd_path_join(char *out, size_t len, const char *a, const char *b, rd_err *err);

/* 1 if path is a directory with no entries, 0 if it has entries, -1 if it does not exist
 * or is not a directory. */
int rd_dir_is_empty(const char *path);

typedef struct rd_run_dir_options {
    const char *dir;     /* explicit run directory (--run-dir); NULL or "" = <root>/<timestamp>-<name> */
    const char *root;    /* NULL or "" = "runs" */
    const char *name;    /* run name (characters other than [A-Za-z0-9._-] become '_'); may be NULL */
    bool resume;         /* continue an existing run: the directory must exist (it may be non-empty) */
} rd_run_dir_options;
/* Creates the run directory and writes its path to out. A non-empty existing
 * directory is refused unless resuming; resuming a directory that does not
 * exist is refused. An automatic name that is taken gets a "-2", "-3"... suffix. */
rd_status rd_run_dir_create(const rd_run_dir_options *opt, char *out, size_t len, rd_err *err);

/* =========================================================================
 * Configuration: schema-driven INI
 *
 * A schema is a static table of keys; each key names a field of the caller's
 * struct (by offsetof) that loading fills. Files look like
 *
 *     schema = search          ; optional: the schema the file is for
 *     [search]
 *     epochs = 50              ; inline comments start with " ;"
 *     mem_cap = 2GiB
 *     ops = sep_conv_3x3, max_pool_3x3
 *
 * Defaults are written as text in the schema and parsed like file values, so
 * rd_config_defaults also checks the schema. Layering: rd_config_defaults, then
 * rd_config_load_file (only the keys in the file change), then rd_config_set
 * for each --set. A failed load or set leaves the struct unchanged.
 * Values are trimmed; " ;" starts an inline comment. A line holds at most 197
 * characters (inih's limit): a long list goes on over indented continuation
 * lines; any other indented line is refused.
 * ========================================================================= */

typedef enum rd_cfg_type {
    RD_CFG_INT,      /* int or int64_t (by field size); "42", "-3"; min/max */
    RD_CFG_DOUBLE,   /* double or float (by field size); "0.025", "3e-4" (finite); min/max */
    RD_CFG_BOOL,     /* bool;       true/false, yes/no, on/off, 1/0 */
    RD_CFG_STRING,   /* char[size]; the text as written */
    RD_CFG_ENUM,     /* int;        index into choices ("sgd" -> 0) */
    RD_CFG_BYTES,    /* uint64_t;   "2GiB", "512MiB", "100000" (rd_parse_bytes); min/max in bytes */
    RD_CFG_LIST      /* rd_cfg_list; "a, b, c"; items in choices if given; min/max = item count */
} rd_cfg_type;

enum { RD_CFG_LIST_MAX = 32, RD_CFG_ITEM_MAX = 48 };
typedef struct rd_cfg_list {
    int count;
    char item[RD_CFG_LIST_MAX][RD_CFG_ITEM_MAX];
} rd_cfg_list;

typedef struct rd_cfg_key {
    const char *section;
    const char *key;
    rd_cfg_type type;
    size_t offset;               /* offsetof(struct, field) */
    size_t size;                 /* sizeof the field (RD_CFG_STRING: the array size) */
    const char *def;             /* default, as it would be written in a file */
    bool ranged;                 /* check min <= value <= max */
    double min, max;
    const char *const *choices;  /* RD_CFG_ENUM / RD_CFG_LIST: NULL-terminated allowed names */
    const char *doc;             /* one or more sentences; written as comments */
} rd_cfg_key;

typedef struct rd_cfg_section {
    const char *name;
    const char *doc;
} rd_cfg_section;

typedef struct rd_cfg_schema {
    const char *name;            /* what files declare with "schema = name" */
    const char *doc;             /* written at the top of generated files */
    const rd_cfg_key *keys;
    int nkeys;
    size_t struct_size;          /* sizeof the struct the keys point into */
    const rd_cfg_section *sections; /* optional docs, {NULL, NULL}-terminated; may be NULL */
} rd_cfg_schema;

/* Table helpers: RD_CFG_INT_KEY(my_cfg, "search", "epochs", epochs, "50", 1, 10000, "Epochs.") */
#define RD_CFG_FIELD_(T, f) offsetof(T, f), sizeof(((T *)0)->f)
#define RD_CFG_INT_KEY(T, sec, k, f, d, lo, hi, doc) {sec, k, RD_CFG_INT, RD_CFG_FIELD_(T, f), d, true, lo, hi, NULL, doc}
#define RD_CFG_DOUBLE_KEY(T, sec, k, f, d, lo, hi, doc) {sec, k, RD_CFG_DOUBLE, RD_CFG_FIELD_(T, f), d, true, lo, hi, NULL, doc}
#define RD_CFG_BOOL_KEY(T, sec, k, f, d, doc) {sec, k, RD_CFG_BOOL, RD_CFG_FIELD_(T, f), d, false, 0, 0, NULL, doc}
#define RD_CFG_STRING_KEY(T, sec, k, f, d, doc) {sec, k, RD_CFG_STRING, RD_CFG_FIELD_(T, f), d, false, 0, 0, NULL, doc}
#define RD_CFG_ENUM_KEY(T, sec, k, f, d, names, doc) {sec, k, RD_CFG_ENUM, RD_CFG_FIELD_(T, f), d, false, 0, 0, names, doc}
#define RD_CFG_BYTES_KEY(T, sec, k, f, d, lo, hi, doc) {sec, k, RD_CFG_BYTES, RD_CFG_FIELD_(T, f), d, true, lo, hi, NULL, doc}
#define RD_CFG_LIST_KEY(T, sec, k, f, d, names, lo, hi, doc) {sec, k, RD_CFG_LIST, RD_CFG_FIELD_(T, f), d, true, lo, hi, names, doc}

/* Checks the schema (unique keys, field sizes, defaults that parse and are in range)
 * and sets every field to its default. The rest of the struct is left alone. */
rd_status rd_config_defaults(const rd_cfg_schema *schema, void *cfg, rd_err *err);

/* Applies the keys of an INI file. Errors: "path:line: message", e.g.
 * "configs/x.ini:12: unknown key 'search.epoch' (did you mean 'search.epochs'?)". */
rd_status rd_config_load_file(const rd_cfg_schema *schema, const char *path, void *cfg, rd_err *err);
/* The same for INI text in memory; origin names it in errors. */
rd_status rd_config_load_string(const rd_cfg_schema *schema, const char *text, const char *origin, void *cfg,
                                rd_err *err);

/* One command-line override, "section.key=value" (name and value trimmed; the
 * value is taken as is, with no comment stripping). Errors: "--set search.epochs: ...". */
rd_status rd_config_set(const rd_cfg_schema *schema, const char *assignment, void *cfg, rd_err *err);

/* The key named "section.key", or NULL. */
const rd_cfg_key *rd_config_find(const rd_cfg_schema *schema, const char *name);

/* The schema a file declares with a top-level "schema = name" line, into out
 * ("" when it declares none). */
rd_status rd_config_file_schema(const char *path, char *out, size_t len, rd_err *err);

/* A key's value as it would be written in a file ("2GiB" is written "2147483648"
 * unless it is a whole number of KiB/MiB/GiB/TiB, then "2GiB"). */
rd_status rd_config_format(const rd_cfg_key *key, const void *cfg, char *out, size_t len, rd_err *err);

/* Writes a complete INI file: the schema line, every section and key, each key
 * preceded by its doc, type, range/choices and default as comments. Loading
 * the output gives back the same struct. Values that INI cannot hold (leading
 * or trailing spaces, " ;", newlines) are refused. */
rd_status rd_config_write(const rd_cfg_schema *schema, const void *cfg, FILE *f, rd_err *err);
/* rd_config_write to path, atomically. */
rd_status rd_config_save(const rd_cfg_schema *schema, const void *cfg, const char *path, rd_err *err);
/* A recipe: the defaults, then path's keys (NULL: no file), then each "section.key=value". */
rd_status rd_config_load(const rd_cfg_schema *schema, void *cfg, const char *path, const char *const *sets,
                         int n_sets, rd_err *err);
/* rd_config_write into a malloc'ed string (*out, the caller frees it). */
rd_status rd_config_text(const rd_cfg_schema *schema, const void *cfg, char **out, rd_err *err);

/* {"section": {"key": value, ...}, ...} with JSON types (ints, numbers, booleans,
 * strings, enum names, bytes as integers, lists as arrays). Free with json_object_put. */
rd_status rd_config_to_json(const rd_cfg_schema *schema, const void *cfg, struct json_object **out, rd_err *err);

/* =========================================================================
 * Safetensors (Hugging Face format; what the PyTorch peer reads)
 *
 * u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * padded with spaces to a multiple of 8, then the raw little-endian tensor data
 * (offsets relative to its start), packed in order with no gaps.
 * ========================================================================= */

typedef enum rd_st_dtype { RD_ST_F32, RD_ST_F64, RD_ST_I32, RD_ST_I64, RD_ST_U8 } rd_st_dtype;
enum { RD_ST_MAX_DIMS = 8 };

size_t rd_st_dtype_size(rd_st_dtype dtype);
const char *rd_st_dtype_name(rd_st_dtype dtype); /* "F32", ... */

/* --- writer --- */
typedef struct rd_st_writer rd_st_writer;

/* Fills dst with bytes [offset, offset + bytes) of a tensor's data; called in
 * order during rd_st_write, with chunks of at most RD_ST_CHUNK bytes, so that a
 * caller can stream from the device without a host copy of the whole tensor. */
typedef rd_status (*rd_st_fill_fn)(void *user, size_t offset, void *dst, size_t bytes, rd_err *err);
enum { RD_ST_CHUNK = 4 << 20 };

rd_status rd_st_writer_create(rd_st_writer **out, rd_err *err);
void rd_st_writer_free(rd_st_writer *w);
/* Adds a tensor whose bytes are at data (borrowed: it must stay valid until rd_st_write).
 * ndim 0 is a scalar. Names must be unique, non-empty and not "__metadata__". */
rd_status rd_st_add(rd_st_writer *w, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                    const void *data, rd_err *err);
/* Adds a tensor whose bytes fill(user, ...) provides at write time. */
rd_status rd_st_add_fill(rd_st_writer *w, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                         rd_st_fill_fn fill, void *user, rd_err *err);
/* Adds a "__metadata__" entry (string to string; keys unique). */
rd_status rd_st_add_metadata(rd_st_writer *w, const char *key, const char *value, rd_err *err);
/* The same with a printf-formatted value (at most 511 characters; numbers, short fields). */
rd_status rd_st_add_metadataf(rd_st_writer *w, const char *key, rd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes every tensor added, atomically replacing path. The writer can be written again. */
rd_status rd_st_write(rd_st_writer *w, const char *path, rd_err *err);

/* --- reader --- */
typedef struct rd_st_file rd_st_file;

typedef struct rd_st_info {
    const char *name;
    rd_st_dtype dtype;
    int ndim;
    int64_t shape[RD_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t nbytes;
    uint64_t offset;             /* from the start of the data */
} rd_st_info;

/* Opens and validates the whole header against the file size (the data is read
 * on demand). Errors: "ckpt.safetensors: tensor 'x': data_offsets [..] ...". */
rd_status rd_st_open(const char *path, rd_st_file **out, rd_err *err);
void rd_st_close(rd_st_file *f);

int rd_st_count(const rd_st_file *f);
/* Tensors in data order (the order they were written), i in [0, count). */
const rd_st_info *rd_st_at(const rd_st_file *f, int i);
/* NULL when absent. */
const rd_st_info *rd_st_find(const rd_st_file *f, const char *name);
int rd_st_metadata_count(const rd_st_file *f);
void rd_st_metadata_at(const rd_st_file *f, int i, const char **key, const char **value);
/* NULL when absent. */
const char *rd_st_metadata(const rd_st_file *f, const char *key);

/* Copies tensor name into dst (dst_bytes must be its size). Checks that its
 * dtype is dtype and, when ndim >= 0, that its shape is shape[0..ndim). */
rd_status rd_st_read(const rd_st_file *f, const char *name, rd_st_dtype dtype, int ndim, const int64_t *shape,
                     void *dst, size_t dst_bytes, rd_err *err);
/* Same checks; hands the data to sink in chunks of at most RD_ST_CHUNK bytes (e.g. to upload to a device). */
typedef rd_status (*rd_st_sink_fn)(void *user, size_t offset, const void *src, size_t bytes, rd_err *err);
rd_status rd_st_read_stream(const rd_st_file *f, const char *name, rd_st_dtype dtype, int ndim,
                            const int64_t *shape, rd_st_sink_fn sink, void *user, rd_err *err);
/* Binary data in the string-to-string metadata, as base64 (RFC 4648, padded):
 * checkpoints keep optimizer buffers there, so the tensors stay exactly a
 * PyTorch state dict. rd_base64_encode returns malloc'ed text (NULL when out
 * of memory); rd_base64_decode wants exactly `bytes` bytes' worth of text and
 * names `what` in its errors. */
size_t rd_base64_length(size_t bytes);
char *rd_base64_encode(const void *data, size_t bytes);
rd_status rd_base64_decode(const char *text, void *dst, size_t bytes, const char *what, rd_err *err);
rd_status rd_st_add_metadata_blob(rd_st_writer *w, const char *key, const void *data, size_t bytes, rd_err *err);
/* Errors: "path: no metadata 'key'", "path: metadata 'key' holds N characters, expected M". */
rd_status rd_st_metadata_blob(const rd_st_file *f, const char *path, const char *key, void *dst, size_t bytes,
                              rd_err *err);
/* --- companion files: a checkpoint's optimizer state (st_companion.c) ---
 * A checkpoint holds exactly a PyTorch state dict; optimizer buffers (SGD momentum,
 * Adam moments) are F32 tensors of "<stem>.optim-<16 hex>.safetensors" in its folder,
 * which its metadata 'optimizer' names. Write the companion first (a fresh name each
 * time), then the checkpoint naming it, then prune the others: a crash in between
 * leaves the previous checkpoint and its companion as they were. */
/* Writes w as a new companion of the checkpoint at ckpt_path; its file name into name. */
rd_status rd_st_companion_write(rd_st_writer *w, const char *ckpt_path, char *name, size_t len, rd_err *err);
/* Removes every companion of ckpt_path but keep (NULL: all of them). */
void rd_st_companion_prune(const char *ckpt_path, const char *keep);
/* Removes the companion called name (a checkpoint that was to name it failed to commit). */
void rd_st_companion_remove(const char *ckpt_path, const char *name);
/* Opens the companion checkpoint f names; *out NULL when it names none (no optimizer
 * state, or a checkpoint written before companions: base64 metadata). */
rd_status rd_st_companion_open(const rd_st_file *f, const char *ckpt_path, rd_st_file **out, rd_err *err);
/* count floats of optimizer buffer key: the companion's tensor, or (companion NULL) the
 * base64 metadata of an older checkpoint. */
rd_status rd_st_optimizer_read(const rd_st_file *f, const rd_st_file *companion, const char *ckpt_path,
                               const char *key, float *dst, size_t count, rd_err *err);
/* "[16, 3, 3, 3]" */
const char *rd_st_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* =========================================================================
 * Metrics: JSON lines, one record per line
 *
 * Records are appended, each written whole and flushed, so a crash loses at
 * most the record being written; on open, a partial last line left by a crash
 * is cut off. Non-finite numbers are written as NaN / Infinity / -Infinity
 * (read back by json-c and Python's json, not by strict JSON parsers).
 * ========================================================================= */

typedef struct rd_record rd_record;

/* A new empty record (NULL only when out of memory). Adders never fail
 * visibly: an allocation failure is remembered and reported by rd_metrics_append.
 * Adding a key that exists replaces it. */
rd_record *rd_record_new(void);
void rd_record_free(rd_record *r);
void rd_record_int(rd_record *r, const char *key, int64_t v);
void rd_record_double(rd_record *r, const char *key, double v);
void rd_record_bool(rd_record *r, const char *key, bool v);
void rd_record_string(rd_record *r, const char *key, const char *v);
void rd_record_doubles(rd_record *r, const char *key, const double *v, size_t n);
/* Floats are written in their shortest float form ("0.33333334"): converting
 * what is read back to float gives the same float. */
void rd_record_floats(rd_record *r, const char *key, const float *v, size_t n);
/* rows x cols, row-major, written as an array of rows. */
void rd_record_matrix(rd_record *r, const char *key, const double *v, size_t rows, size_t cols);
void rd_record_matrix_f(rd_record *r, const char *key, const float *v, size_t rows, size_t cols);
/* The record's JSON object (owned by the record), to add anything else with json-c. */
struct json_object *rd_record_json(rd_record *r);

/* Getters, for readers. 0 / NULL / false when the key is absent or of another type. */
bool rd_record_has(const rd_record *r, const char *key);
int64_t rd_record_get_int(const rd_record *r, const char *key);
double rd_record_get_double(const rd_record *r, const char *key); /* NaN when absent */
const char *rd_record_get_string(const rd_record *r, const char *key);
/* Copies up to cap numbers of an array into out; returns the array's length (0 when absent). */
size_t rd_record_get_doubles(const rd_record *r, const char *key, double *out, size_t cap);

typedef struct rd_metrics rd_metrics;
/* Opens path for appending (created if missing; parent directories too). */
rd_status rd_metrics_open(const char *path, rd_metrics **out, rd_err *err);
/* Writes r as one line and flushes. */
rd_status rd_metrics_append(rd_metrics *m, const rd_record *r, rd_err *err);
/* rd_metrics_append, then rd_record_free(r) whatever the outcome. */
rd_status rd_metrics_append_free(rd_metrics *m, rd_record *r, rd_err *err);
/* The file's size after the records appended so far: what a checkpoint records, so that a
 * run resumed from it drops the records of the work it redoes (rd_metrics_truncate). */
int64_t rd_metrics_bytes(const rd_metrics *m);
/* Cuts path to bytes (a size rd_metrics_bytes gave); nothing when bytes < 0 or the file is
 * no longer (a missing file is fine). */
rd_status rd_metrics_truncate(const char *path, int64_t bytes, rd_err *err);
/* Closes; RD_ERR_IO if the final flush failed. NULL is fine. */
rd_status rd_metrics_close(rd_metrics *m, rd_err *err);

typedef struct rd_metrics_reader rd_metrics_reader;
rd_status rd_metrics_reader_open(const char *path, rd_metrics_reader **out, rd_err *err);
/* The next record in *rec (owned by the reader, valid until the next call), or
 * *rec = NULL at the end. Blank lines are skipped; a last line without its
 * newline (a record being written) is ignored; any other line that is not a JSON
 * object is an error "path:line: ...". */
rd_status rd_metrics_next(rd_metrics_reader *rd, const rd_record **rec, rd_err *err);
void rd_metrics_reader_close(rd_metrics_reader *rd);

/* ---- progress of a long run (a search, a training) ---- */
typedef struct rd_search_observer {
    void *user;
    /* a finished unit of work worth a log line (round, epoch, phase change) */
    void (*log)(void *user, const char *line);
    /* progress inside a phase: step of total, last loss, throughput, seconds left */
    void (*progress)(void *user, const char *phase, int64_t step, int64_t total, double loss, double images_per_s,
                     double eta_s);
} rd_search_observer;
/* One log line through the observer (printf-style); nothing when it has no log. */
void rd_observer_say(const rd_search_observer *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A long run stops (with a checkpoint) at the next step boundary when *interrupt is
 * set or, with stop_after > 0, once global_step reaches it (tests' resume points). */
int rd_run_should_stop(const volatile int *interrupt, int64_t stop_after, int64_t global_step);
/* The same decision for every rank of a job (radars/comm.h; NULL: one process): a run stops
 * where any rank is asked to (Ctrl-C or SIGTERM may reach only one). */
rd_status rd_run_should_stop_all(rd_comm *comm, const volatile int *interrupt, int64_t stop_after,
                                 int64_t global_step, int *stop, rd_err *err);
/* Whether a run continues from its checkpoint ckpt: asked (--resume) and the file is there.
 * Rank 0, which writes the run, decides; a rank that cannot read what rank 0 resumes from
 * fails, naming itself (every rank reads the run directory). */
rd_status rd_run_resumes(rd_comm *comm, const char *ckpt, int asked, int *resume, rd_err *err);

#ifdef __cplusplus
}
#endif
#endif
