/* Schema-driven INI configuration. inih reads the file; this file maps its
 * key/value pairs onto the caller's struct through the schema, with messages
 * that name the file, the line and the key. inih gives no line numbers to the
 * handler (Debian builds it without INI_HANDLER_LINENO), so the text is fed to
 * it through a reader that counts lines. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/io_internal.h"
#include "radars/device.h"
#include "radars/io.h"
#include "runtime/c_locale.h"

/* ------------------------------------------------------------------ helpers */

static void *field(void *cfg, const rd_cfg_key *k) { return (char *)cfg + k->offset; }
static const void *cfield(const void *cfg, const rd_cfg_key *k) { return (const char *)cfg + k->offset; }

static const char *type_name(rd_cfg_type t) {
    switch (t) {
    case RD_CFG_INT: return "integer";
    case RD_CFG_DOUBLE: return "number";
    case RD_CFG_BOOL: return "boolean";
    case RD_CFG_STRING: return "string";
    case RD_CFG_ENUM: return "choice";
    case RD_CFG_BYTES: return "size in bytes";
    case RD_CFG_LIST: return "list";
    }
    return "?";
}

/* Appends printf output to buf (of size len, holding a string), truncating. */
static void appendf(char *buf, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void appendf(char *buf, size_t len, const char *fmt, ...) {
    size_t used = strnlen(buf, len);
    if (used + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static void choices_str(const char *const *choices, char *buf, size_t len) {
    buf[0] = 0;
    for (int i = 0; choices && choices[i]; i++) appendf(buf, len, "%s%s", i ? ", " : "", choices[i]);
}

/* Edit distance, for "did you mean" (strings longer than 63 characters are not compared). */
static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return INT_MAX;
    int prev[64], cur[64];
    for (size_t j = 0; j <= nb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (nb + 1) * sizeof *prev);
    }
    return prev[nb];
}

/* A close match is within a third of the length (at least 2 edits allowed). */
static int close_enough(int d, const char *s) {
    int allowed = (int)strlen(s) / 3;
    return d <= (allowed < 2 ? 2 : allowed);
}

static int section_exists(const rd_cfg_schema *s, const char *section) {
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i].section, section)) return 1;
    return 0;
}

static int find_key(const rd_cfg_schema *s, const char *section, const char *key) {
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i].section, section) && !strcmp(s->keys[i].key, key)) return i;
    return -1;
}

/* "unknown key 'a.b' (did you mean 'a.c'?)" or "unknown section [x] (did you mean [y]?)" */
static void unknown_msg(const rd_cfg_schema *s, const char *section, const char *key, char *msg, size_t len) {
    char want[256], best[256] = "";
    int bestd = INT_MAX;
    if (!section_exists(s, section)) {
        for (int i = 0; i < s->nkeys; i++) {
            int d = edit_distance(section, s->keys[i].section);
            if (d < bestd) bestd = d, snprintf(best, sizeof best, "%s", s->keys[i].section);
        }
        snprintf(msg, len, "unknown section [%s]", section);
        if (bestd != INT_MAX && close_enough(bestd, section)) appendf(msg, len, " (did you mean [%s]?)", best);
        else {
            appendf(msg, len, " (sections: ");
            for (int i = 0, n = 0; i < s->nkeys; i++) {
                int first = 1;
                for (int j = 0; j < i && first; j++) first = strcmp(s->keys[j].section, s->keys[i].section) != 0;
                if (first) appendf(msg, len, "%s[%s]", n++ ? ", " : "", s->keys[i].section);
            }
            appendf(msg, len, ")");
        }
        return;
    }
    snprintf(want, sizeof want, "%s.%s", section, key);
    for (int i = 0; i < s->nkeys; i++) {
        if (!strcmp(s->keys[i].key, key)) { /* the right key under another section */
            snprintf(msg, len, "unknown key '%s' (did you mean '%s.%s'?)", want, s->keys[i].section, key);
            return;
        }
    }
    for (int i = 0; i < s->nkeys; i++) {
        char cand[256];
        snprintf(cand, sizeof cand, "%s.%s", s->keys[i].section, s->keys[i].key);
        int d = edit_distance(want, cand);
        if (d < bestd) bestd = d, snprintf(best, sizeof best, "%s", cand);
    }
    snprintf(msg, len, "unknown key '%s'", want);
    if (bestd != INT_MAX && close_enough(bestd, key)) appendf(msg, len, " (did you mean '%s'?)", best);
}

static void format_range_c(const rd_cfg_key *k, char *buf, size_t len) {
    if (k->type == RD_CFG_BYTES) {
        char a[32], b[32];
        snprintf(buf, len, "[%s, %s]", rd_format_bytes((uint64_t)k->min, a, sizeof a),
                 rd_format_bytes((uint64_t)k->max, b, sizeof b));
    } else {
        char a[32], b[32];
        io_shortest_double(k->min, a, sizeof a);
        io_shortest_double(k->max, b, sizeof b);
        snprintf(buf, len, "[%s, %s]", a, b);
    }
}

/* the C locale around every number parsed or written (runtime/c_locale.h) */
static void format_range(const rd_cfg_key *k, char *buf, size_t len) {
    RD_C_LOCALE_BEGIN;
    format_range_c(k, buf, len);
    RD_C_LOCALE_END;
}

static int out_of_range(const rd_cfg_key *k, double v) { return k->ranged && !(v >= k->min && v <= k->max); }

/* ------------------------------------------------------------------ values */

static const char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int parse_list(const rd_cfg_key *k, const char *v, rd_cfg_list *out, char *msg, size_t len) {
    rd_cfg_list l;
    memset(&l, 0, sizeof l);
    char tmp[4096];
    if (strlen(v) >= sizeof tmp) return snprintf(msg, len, "list is longer than %zu characters", sizeof tmp - 1), 0;
    strcpy(tmp, v);
    if (*trim(tmp)) {
        char *p = tmp;
        for (;;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = 0;
            const char *item = trim(p);
            if (!*item) return snprintf(msg, len, "empty item in list '%s'", v), 0;
            if (l.count == RD_CFG_LIST_MAX) return snprintf(msg, len, "more than %d items", RD_CFG_LIST_MAX), 0;
            if (strlen(item) >= RD_CFG_ITEM_MAX)
                return snprintf(msg, len, "item '%s' is longer than %d characters", item, RD_CFG_ITEM_MAX - 1), 0;
            if (k->choices) {
                int i = 0;
                while (k->choices[i] && strcmp(k->choices[i], item)) i++;
                if (!k->choices[i]) {
                    char names[768];
                    choices_str(k->choices, names, sizeof names);
                    return snprintf(msg, len, "'%s' is not one of: %s", item, names), 0;
                }
            }
            strcpy(l.item[l.count++], item);
            if (!comma) break;
            p = comma + 1;
        }
    }
    if (out_of_range(k, l.count))
        return snprintf(msg, len, "%d items: must have %g to %g", l.count, k->min, k->max), 0;
    *out = l;
    return 1;
}

/* Parses text v for key k into the field in cfg; 0 with msg on error. */
static int parse_value_c(const rd_cfg_key *k, const char *v, void *cfg, char *msg, size_t len) {
    char *end = NULL;
    char range[96];
    if (!*v && k->type != RD_CFG_STRING && k->type != RD_CFG_LIST)
        return snprintf(msg, len, "no value (expected %s)", k->type == RD_CFG_ENUM ? "a choice" : type_name(k->type)), 0;
    switch (k->type) {
    case RD_CFG_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end) return snprintf(msg, len, "'%s' is not an integer", v), 0;
        int fits = errno != ERANGE && (k->size == sizeof(int64_t) || (x >= INT_MIN && x <= INT_MAX));
        if (!fits) return snprintf(msg, len, "'%s' is too large for an integer of %zu bytes", v, k->size), 0;
        if (out_of_range(k, (double)x)) {
            format_range(k, range, sizeof range);
            return snprintf(msg, len, "%s is out of range: must be in %s", v, range), 0;
        }
        if (k->size == sizeof(int64_t)) *(int64_t *)field(cfg, k) = x;
        else *(int *)field(cfg, k) = (int)x;
        return 1;
    }
    case RD_CFG_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end) return snprintf(msg, len, "'%s' is not a number", v), 0;
        /* 1e-400 is not 0: a value that under- or overflows the field is refused */
        if (errno == ERANGE || (x != 0 && k->size == sizeof(float) && (float)x == 0))
            return snprintf(msg, len, "'%s' is out of the range a %s can hold", v,
                            k->size == sizeof(float) ? "float" : "double"), 0;
        if (!isfinite(x) || (k->size == sizeof(float) && !isfinite((float)x)))
            return snprintf(msg, len, "'%s' is not a finite number", v), 0;
        if (out_of_range(k, x)) {
            format_range(k, range, sizeof range);
            return snprintf(msg, len, "%s is out of range: must be in %s", v, range), 0;
        }
        if (k->size == sizeof(float)) *(float *)field(cfg, k) = (float)x;
        else *(double *)field(cfg, k) = x;
        return 1;
    }
    case RD_CFG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(v, yes[i])) return *(bool *)field(cfg, k) = true, 1;
            if (!strcasecmp(v, no[i])) return *(bool *)field(cfg, k) = false, 1;
        }
        return snprintf(msg, len, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", v), 0;
    }
    case RD_CFG_STRING:
        if (strlen(v) >= k->size) return snprintf(msg, len, "'%s' is longer than %zu characters", v, k->size - 1), 0;
        strcpy(field(cfg, k), v);
        return 1;
    case RD_CFG_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (!strcmp(k->choices[i], v)) return *(int *)field(cfg, k) = i, 1;
        {
            char names[768];
            choices_str(k->choices, names, sizeof names);
            return snprintf(msg, len, "'%s' is not one of: %s", v, names), 0;
        }
    case RD_CFG_BYTES: {
        uint64_t x;
        rd_err e = {0};
        if (rd_parse_bytes(v, &x, &e) != RD_OK) return snprintf(msg, len, "%.600s", e.msg), 0;
        if (out_of_range(k, (double)x)) {
            format_range(k, range, sizeof range);
            return snprintf(msg, len, "%s is out of range: must be in %s", v, range), 0;
        }
        *(uint64_t *)field(cfg, k) = x;
        return 1;
    }
    case RD_CFG_LIST:
        return parse_list(k, v, field(cfg, k), msg, len);
    }
    return snprintf(msg, len, "unknown key type %d", (int)k->type), 0;
}

static int parse_value(const rd_cfg_key *k, const char *v, void *cfg, char *msg, size_t len) {
    RD_C_LOCALE_BEGIN;
    int ok = parse_value_c(k, v, cfg, msg, len);
    RD_C_LOCALE_END;
    return ok;
}

/* ------------------------------------------------------------------ schema check and defaults */

static int size_ok(const rd_cfg_key *k) {
    switch (k->type) {
    case RD_CFG_INT: return k->size == sizeof(int) || k->size == sizeof(int64_t);
    case RD_CFG_DOUBLE: return k->size == sizeof(double) || k->size == sizeof(float);
    case RD_CFG_BOOL: return k->size == sizeof(bool);
    case RD_CFG_STRING: return k->size >= 1;
    case RD_CFG_ENUM: return k->size == sizeof(int);
    case RD_CFG_BYTES: return k->size == sizeof(uint64_t);
    case RD_CFG_LIST: return k->size == sizeof(rd_cfg_list);
    }
    return 0;
}

/* Section and key names are plain words, so that they survive INI and --set. */
static int plain_name(const char *s) {
    if (!s || !*s) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-')) return 0;
    return 1;
}

static rd_status check_schema(const rd_cfg_schema *s, rd_err *err) {
    if (!s || !s->name || !s->keys || s->nkeys <= 0 || !s->struct_size)
        return rd_fail(err, RD_ERR_ARG, "config schema '%s': no name, keys or struct size", s && s->name ? s->name : "?");
    if (!plain_name(s->name)) return rd_fail(err, RD_ERR_ARG, "config schema '%s': the name must be a plain word", s->name);
    for (int i = 0; i < s->nkeys; i++) {
        const rd_cfg_key *k = &s->keys[i];
        const char *sec = k->section ? k->section : "", *key = k->key ? k->key : "";
        if (!plain_name(k->section) || !plain_name(k->key))
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s': names must be letters, digits, '_' or '-'",
                           s->name, sec, key);
        if ((unsigned)k->type > RD_CFG_LIST || !size_ok(k))
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s': field size %zu does not fit type %s", s->name,
                           sec, key, k->size, type_name(k->type));
        if (k->offset + k->size > s->struct_size)
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s': field goes past the struct (%zu bytes)",
                           s->name, sec, key, s->struct_size);
        if (!k->def) return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s' has no default", s->name, sec, key);
        if (!k->doc || !*k->doc)
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s' has no doc string", s->name, sec, key);
        if (k->type == RD_CFG_ENUM && (!k->choices || !k->choices[0]))
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s' has no choices", s->name, sec, key);
        if (k->ranged && !(k->min <= k->max))
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s': min %g is above max %g", s->name, sec, key,
                           k->min, k->max);
        if (find_key(s, sec, key) != i)
            return rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s' appears twice", s->name, sec, key);
    }
    return RD_OK;
}

rd_status rd_config_defaults(const rd_cfg_schema *schema, void *cfg, rd_err *err) {
    rd_status st = check_schema(schema, err);
    if (st) return st;
    void *work = malloc(schema->struct_size);
    if (!work) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "config '%s': out of memory", schema->name);
    memcpy(work, cfg, schema->struct_size);
    for (int i = 0; i < schema->nkeys && !st; i++) {
        const rd_cfg_key *k = &schema->keys[i];
        char msg[900];
        if (!parse_value(k, k->def, work, msg, sizeof msg))
            st = rd_fail(err, RD_ERR_ARG, "config schema '%s': key '%s.%s': bad default: %s", schema->name, k->section,
                         k->key, msg);
    }
    if (!st) memcpy(cfg, work, schema->struct_size);
    free(work);
    return st;
}

/* ------------------------------------------------------------------ loading */

typedef struct load_state {
    const rd_cfg_schema *schema;
    void *work;               /* copy of the caller's struct, committed on success */
    const char *origin;
    const char *text;         /* the file, fed line by line to inih */
    size_t len, pos;
    int lineno;               /* line inih is working on */
    const char *line;         /* its raw text (not NUL-terminated) */
    size_t line_len;
    int section_line;         /* line of the last [section] header */
    int *set_line;            /* per key: line it was set on, 0 if not yet */
    int prev_key;             /* key of the previous handler call (continuations) */
    int list_key;             /* list whose value is being gathered, or -1 */
    char list_text[4096];     /* its value, accumulated over continuation lines */
    int err_line;             /* first error found here (0: none) */
    char err_msg[900];
} load_state;

static int fail_at(load_state *ls, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail_at(load_state *ls, int line, const char *fmt, ...) {
    if (!ls->err_line) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ls->err_msg, sizeof ls->err_msg, fmt, ap);
        va_end(ap);
        ls->err_line = line;
    }
    return 0;
}

/* fgets for inih over the text in memory; also notes where each line starts. */
static char *reader(char *str, int num, void *stream) {
    load_state *ls = stream;
    if (ls->pos >= ls->len || ls->err_line) return NULL;
    const char *p = ls->text + ls->pos, *nl = memchr(p, '\n', ls->len - ls->pos);
    size_t n = nl ? (size_t)(nl - p) + 1 : ls->len - ls->pos;
    ls->lineno++;
    if (n + 1 > (size_t)num) {
        /* inih would read the rest of the line as a new line: refuse instead */
        fail_at(ls, ls->lineno, "line is longer than %d characters", num - 3);
        return NULL;
    }
    memcpy(str, p, n);
    str[n] = 0;
    ls->line = p;
    ls->line_len = n;
    ls->pos += n;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    if (i < n && p[i] == '[') ls->section_line = ls->lineno;
    return str;
}

/* Parses the list value gathered so far (its first line names it in errors). */
static int flush_list(load_state *ls) {
    if (ls->list_key < 0) return 1;
    const rd_cfg_key *k = &ls->schema->keys[ls->list_key];
    int line = ls->set_line[ls->list_key];
    ls->list_key = -1;
    char msg[900];
    if (!parse_value(k, ls->list_text, ls->work, msg, sizeof msg))
        return fail_at(ls, line, "%s.%s: %s", k->section, k->key, msg);
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    load_state *ls = user;
    const rd_cfg_schema *s = ls->schema;
    int line = ls->lineno;
    int indented = ls->line_len > 0 && (ls->line[0] == ' ' || ls->line[0] == '\t');
    if (ls->err_line) return 1; /* the first error is the one reported */
    if (!*section) {
        if (indented) return fail_at(ls, line, "indented line (remove the leading spaces)");
        if (strcmp(name, "schema"))
            return fail_at(ls, line, "key '%s' is outside any section (put it under a [section])", name);
        if (strcmp(value, s->name))
            return fail_at(ls, line, "this file is for schema '%s', not '%s'", value, s->name);
        ls->prev_key = -1;
        return 1;
    }
    int ki = find_key(s, section, name);
    if (ki < 0) {
        char msg[900];
        unknown_msg(s, section, name, msg, sizeof msg);
        return fail_at(ls, section_exists(s, section) ? line : ls->section_line, "%s", msg);
    }
    const rd_cfg_key *k = &s->keys[ki];
    if (indented) {
        /* inih hands an indented line to the previous key as a continuation */
        if (ki != ls->prev_key || k->type != RD_CFG_LIST)
            return fail_at(ls, line, "indented line continues '%s.%s', which is not a list (remove the leading spaces)",
                           section, name);
        size_t used = strlen(ls->list_text);
        int ends_comma = used > 0 && ls->list_text[used - 1] == ',';
        appendf(ls->list_text, sizeof ls->list_text, "%s%s", ends_comma ? " " : ", ", value);
        return 1;
    }
    if (!flush_list(ls)) return 0;
    if (ls->set_line[ki])
        return fail_at(ls, line, "duplicate key '%s.%s' (first set on line %d)", section, name, ls->set_line[ki]);
    ls->set_line[ki] = line;
    ls->prev_key = ki;
    if (k->type == RD_CFG_LIST) {
        /* parsed once complete: continuation lines may follow */
        snprintf(ls->list_text, sizeof ls->list_text, "%s", value);
        ls->list_key = ki;
        return 1;
    }
    char msg[900];
    if (!parse_value(k, value, ls->work, msg, sizeof msg)) return fail_at(ls, line, "%s.%s: %s", section, name, msg);
    return 1;
}

/* Text of line n (1-based) of the file, trimmed, into buf. */
static void line_text(const load_state *ls, int n, char *buf, size_t len) {
    const char *p = ls->text, *end = ls->text + ls->len;
    for (int i = 1; i < n && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t m = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (m >= len) m = len - 1;
    memcpy(buf, p, m);
    buf[m] = 0;
    char *t = (char *)trim(buf);
    memmove(buf, t, strlen(t) + 1);
}

rd_status rd_config_load_string(const rd_cfg_schema *schema, const char *text, const char *origin, void *cfg,
                                rd_err *err) {
    rd_status st = check_schema(schema, err);
    if (st) return st;
    load_state ls;
    memset(&ls, 0, sizeof ls);
    ls.schema = schema;
    ls.origin = origin ? origin : "<config>";
    ls.text = text;
    ls.len = strlen(text);
    ls.prev_key = -1;
    ls.list_key = -1;
    ls.work = malloc(schema->struct_size);
    ls.set_line = calloc((size_t)schema->nkeys, sizeof *ls.set_line);
    if (!ls.work || !ls.set_line) {
        free(ls.work);
        free(ls.set_line);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", ls.origin);
    }
    memcpy(ls.work, cfg, schema->struct_size);
    int bad = ini_parse_stream(reader, &ls, handler, &ls);
    flush_list(&ls);
    if (bad > 0 && (!ls.err_line || bad < ls.err_line)) {
        /* a line inih could not parse: it calls no handler for it */
        char t[160];
        line_text(&ls, bad, t, sizeof t);
        if (t[0] == '[') st = rd_fail(err, RD_ERR_CONFIG, "%s:%d: section header without a closing ']': '%s'", ls.origin, bad, t);
        else st = rd_fail(err, RD_ERR_CONFIG, "%s:%d: syntax error: expected 'key = value', got '%s'", ls.origin, bad, t);
    } else if (ls.err_line) {
        st = rd_fail(err, RD_ERR_CONFIG, "%s:%d: %s", ls.origin, ls.err_line, ls.err_msg);
    } else if (bad < 0) {
        st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: the INI parser ran out of memory", ls.origin);
    }
    if (!st) memcpy(cfg, ls.work, schema->struct_size);
    free(ls.work);
    free(ls.set_line);
    return st;
}

rd_status rd_config_load_file(const rd_cfg_schema *schema, const char *path, void *cfg, rd_err *err) {
    char *text = NULL;
    size_t len = 0;
    rd_status st = rd_read_file(path, &text, &len, err);
    if (st) return st;
    if (strlen(text) != len) st = rd_fail(err, RD_ERR_CONFIG, "%s: contains NUL bytes: not a text file", path);
    else st = rd_config_load_string(schema, text, path, cfg, err);
    free(text);
    return st;
}

/* Splits "section.key" into its parts; 0 when there is no dot. */
static int split_name(const char *name, char *sec, size_t ns, char *key, size_t nk) {
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1] || (size_t)(dot - name) >= ns || strlen(dot + 1) >= nk) return 0;
    memcpy(sec, name, (size_t)(dot - name));
    sec[dot - name] = 0;
    strcpy(key, dot + 1);
    return 1;
}

const rd_cfg_key *rd_config_find(const rd_cfg_schema *schema, const char *name) {
    char sec[128], key[128];
    if (!split_name(name, sec, sizeof sec, key, sizeof key)) return NULL;
    int i = find_key(schema, sec, key);
    return i < 0 ? NULL : &schema->keys[i];
}

rd_status rd_config_set(const rd_cfg_schema *schema, const char *assignment, void *cfg, rd_err *err) {
    rd_status st = check_schema(schema, err);
    if (st) return st;
    char buf[4096];
    if (strlen(assignment) >= sizeof buf) return rd_fail(err, RD_ERR_CONFIG, "--set: value too long");
    strcpy(buf, assignment);
    char *eq = strchr(buf, '=');
    if (eq) *eq = 0;
    char *name = (char *)trim(buf);
    if (!eq) return rd_fail(err, RD_ERR_CONFIG, "--set %s: expected section.key=value", name);
    const char *value = trim(eq + 1);
    char sec[128], key[128];
    if (!split_name(name, sec, sizeof sec, key, sizeof key))
        return rd_fail(err, RD_ERR_CONFIG, "--set %s: expected section.key=value", name);
    int ki = find_key(schema, sec, key);
    if (ki < 0) {
        char msg[900];
        unknown_msg(schema, sec, key, msg, sizeof msg);
        return rd_fail(err, RD_ERR_CONFIG, "--set %s: %s", name, msg);
    }
    void *work = malloc(schema->struct_size);
    if (!work) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "--set %s: out of memory", name);
    memcpy(work, cfg, schema->struct_size);
    char msg[900];
    if (parse_value(&schema->keys[ki], value, work, msg, sizeof msg)) memcpy(cfg, work, schema->struct_size);
    else st = rd_fail(err, RD_ERR_CONFIG, "--set %s: %s", name, msg);
    free(work);
    return st;
}

typedef struct schema_peek {
    char *out;
    size_t len;
} schema_peek;

static int peek_handler(void *user, const char *section, const char *name, const char *value) {
    schema_peek *p = user;
    if (!*section && !strcmp(name, "schema") && !p->out[0]) snprintf(p->out, p->len, "%s", value);
    return 1;
}

rd_status rd_config_file_schema(const char *path, char *out, size_t len, rd_err *err) {
    if (!len) return rd_fail(err, RD_ERR_ARG, "%s: no room for the schema name", path);
    out[0] = 0;
    char *text = NULL;
    rd_status st = rd_read_file(path, &text, NULL, err);
    if (st) return st;
    schema_peek p = {out, len};
    if (ini_parse_string(text, peek_handler, &p) < 0) st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    free(text);
    return st;
}

/* ------------------------------------------------------------------ writing */

static rd_status config_format_c(const rd_cfg_key *k, const void *cfg, char *out, size_t len, rd_err *err) {
    char buf[4096];
    const void *f = cfield(cfg, k);
    switch (k->type) {
    case RD_CFG_INT:
        if (k->size == sizeof(int64_t)) snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)f);
        else snprintf(buf, sizeof buf, "%d", *(const int *)f);
        break;
    case RD_CFG_DOUBLE:
        if (k->size == sizeof(float)) io_shortest_float(*(const float *)f, buf, sizeof buf);
        else io_shortest_double(*(const double *)f, buf, sizeof buf);
        break;
    case RD_CFG_BOOL: snprintf(buf, sizeof buf, "%s", *(const bool *)f ? "true" : "false"); break;
    case RD_CFG_STRING: {
        size_t n = strnlen(f, k->size);
        if (n == k->size) return rd_fail(err, RD_ERR_ARG, "%s.%s: string is not terminated", k->section, k->key);
        memcpy(buf, f, n + 1);
        break;
    }
    case RD_CFG_ENUM: {
        int v = *(const int *)f, n = 0;
        while (k->choices[n]) n++;
        if (v < 0 || v >= n) return rd_fail(err, RD_ERR_ARG, "%s.%s: choice index %d out of range", k->section, k->key, v);
        snprintf(buf, sizeof buf, "%s", k->choices[v]);
        break;
    }
    case RD_CFG_BYTES: {
        uint64_t v = *(const uint64_t *)f;
        static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
        int u = 0;
        while (u < 4 && (v == 0 || v % (1ull << (10 * (4 - u))) != 0)) u++;
        if (u < 4) snprintf(buf, sizeof buf, "%llu%s", (unsigned long long)(v >> (10 * (4 - u))), units[u]);
        else snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        break;
    }
    case RD_CFG_LIST: {
        const rd_cfg_list *l = f;
        buf[0] = 0;
        for (int i = 0; i < l->count && i < RD_CFG_LIST_MAX; i++) appendf(buf, sizeof buf, "%s%s", i ? ", " : "", l->item[i]);
        break;
    }
    default: return rd_fail(err, RD_ERR_ARG, "%s.%s: unknown type", k->section, k->key);
    }
    if (strlen(buf) >= len) return rd_fail(err, RD_ERR_ARG, "%s.%s: value does not fit in %zu characters", k->section, k->key, len);
    strcpy(out, buf);
    return RD_OK;
}

rd_status rd_config_format(const rd_cfg_key *k, const void *cfg, char *out, size_t len, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status st = config_format_c(k, cfg, out, len, err);
    RD_C_LOCALE_END;
    return st;
}

/* "; text" lines wrapped at 78 columns (and at the text's own newlines). */
static void write_comment(FILE *f, const char *text) {
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        while (n > 0) {
            size_t take = n;
            if (take > 76) {
                take = 76;
                while (take > 0 && p[take] != ' ') take--;
                if (take == 0) take = 76;
            }
            fprintf(f, "; %.*s\n", (int)take, p);
            p += take;
            n -= take;
            while (n > 0 && *p == ' ') p++, n--;
        }
        if (*p == '\n') p++;
    }
}

/* Whether inih reads value back as written on "key = value". */
static const char *unwritable(const char *v) {
    if (*v && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[strlen(v) - 1])))
        return "leading or trailing spaces are lost in INI";
    for (const char *p = v; *p; p++) {
        if (*p == '\n' || *p == '\r') return "it holds a line break";
        /* written after "key = ": a ';' first or after a space starts a comment */
        if (*p == ';' && (p == v || isspace((unsigned char)p[-1]))) return "' ;' would start a comment";
    }
    return NULL;
}

static void describe(const rd_cfg_key *k, char *buf, size_t len) {
    char range[96], names[768];
    buf[0] = 0;
    switch (k->type) {
    case RD_CFG_INT:
    case RD_CFG_DOUBLE:
    case RD_CFG_BYTES:
        appendf(buf, len, "%s", k->type == RD_CFG_BYTES ? "size in bytes (e.g. 512MiB, 2GiB)" : type_name(k->type));
        if (k->ranged) format_range(k, range, sizeof range), appendf(buf, len, " in %s", range);
        break;
    case RD_CFG_BOOL: appendf(buf, len, "true or false"); break;
    case RD_CFG_STRING: appendf(buf, len, "string (at most %zu characters)", k->size - 1); break;
    case RD_CFG_ENUM: choices_str(k->choices, names, sizeof names), appendf(buf, len, "one of: %s", names); break;
    case RD_CFG_LIST:
        appendf(buf, len, "comma-separated list");
        if (k->ranged) appendf(buf, len, " of %g to %g items", k->min, k->max);
        if (k->choices) choices_str(k->choices, names, sizeof names), appendf(buf, len, " from: %s", names);
        break;
    }
    appendf(buf, len, "; default: %s", *k->def ? k->def : "(empty)");
}

/* Writes "key = value", wrapping a long list over indented continuation lines. */
static int write_assignment(FILE *f, const rd_cfg_key *k, const char *value) {
    size_t limit = 150; /* well under inih's 197 characters per line */
    if (k->type != RD_CFG_LIST) {
        if (strlen(k->key) + 3 + strlen(value) > limit) return 0;
        fprintf(f, "%s = %s\n", k->key, value);
        return 1;
    }
    size_t col = (size_t)fprintf(f, "%s =", k->key);
    const char *p = value;
    int first = 1;
    while (*p) {
        size_t n = strcspn(p, ",");
        int last = p[n] == 0;
        size_t need = 1 + n + (last ? 0 : 1);
        if (!first && col + need > 76) {
            fputs("\n   ", f);
            col = 3;
        }
        col += (size_t)fprintf(f, " %.*s%s", (int)n, p, last ? "" : ",");
        first = 0;
        p += n + (last ? 0 : 1);
        while (*p == ' ') p++;
    }
    fputc('\n', f);
    return 1;
}

rd_status rd_config_write(const rd_cfg_schema *schema, const void *cfg, FILE *f, rd_err *err) {
    rd_status st = check_schema(schema, err);
    if (st) return st;
    if (schema->doc && *schema->doc) write_comment(f, schema->doc);
    fprintf(f, "; Every key of schema '%s' with its documentation. Lines starting with ';' are comments.\n",
            schema->name);
    fprintf(f, "schema = %s\n", schema->name);
    for (int i = 0; i < schema->nkeys; i++) {
        const char *sec = schema->keys[i].section;
        int first = 1;
        for (int j = 0; j < i && first; j++) first = strcmp(schema->keys[j].section, sec) != 0;
        if (!first) continue;
        fprintf(f, "\n[%s]\n", sec);
        for (const rd_cfg_section *s = schema->sections; s && s->name; s++)
            if (!strcmp(s->name, sec) && s->doc && *s->doc) write_comment(f, s->doc);
        for (int j = i; j < schema->nkeys; j++) {
            const rd_cfg_key *k = &schema->keys[j];
            if (strcmp(k->section, sec)) continue;
            char value[4096], about[1024];
            st = rd_config_format(k, cfg, value, sizeof value, err);
            if (st) return st;
            const char *why = unwritable(value);
            if (why) return rd_fail(err, RD_ERR_CONFIG, "%s.%s: cannot write '%s': %s", sec, k->key, value, why);
            fputc('\n', f);
            write_comment(f, k->doc);
            describe(k, about, sizeof about);
            write_comment(f, about);
            if (!write_assignment(f, k, value))
                return rd_fail(err, RD_ERR_CONFIG, "%s.%s: cannot write '%s': too long for one INI line", sec, k->key, value);
        }
    }
    if (ferror(f)) return rd_fail(err, RD_ERR_IO, "config '%s': write error", schema->name);
    return RD_OK;
}

rd_status rd_config_save(const rd_cfg_schema *schema, const void *cfg, const char *path, rd_err *err) {
    rd_atomic_file af;
    rd_status st = rd_atomic_open(&af, path, err);
    if (st) return st;
    st = rd_config_write(schema, cfg, af.f, err);
    if (st) {
        rd_atomic_abort(&af);
        return rd_err_prefix(err, "%s", path);
    }
    return rd_atomic_commit(&af, err);
}

rd_status rd_config_load(const rd_cfg_schema *schema, void *cfg, const char *path, const char *const *sets,
                         int n_sets, rd_err *err) {
    memset(cfg, 0, schema->struct_size);
    RD_TRY(rd_config_defaults(schema, cfg, err));
    if (path) RD_TRY(rd_config_load_file(schema, path, cfg, err));
    for (int i = 0; i < n_sets; i++) RD_TRY(rd_config_set(schema, sets[i], cfg, err));
    return RD_OK;
}

rd_status rd_config_text(const rd_cfg_schema *schema, const void *cfg, char **out, rd_err *err) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "config '%s': out of host memory", schema->name);
    rd_status st = rd_config_write(schema, cfg, f, err);
    if (fclose(f) != 0 && st == RD_OK) st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "config '%s': out of host memory", schema->name);
    if (st != RD_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return RD_OK;
}

rd_status rd_config_to_json(const rd_cfg_schema *schema, const void *cfg, struct json_object **out, rd_err *err) {
    *out = NULL;
    rd_status st = check_schema(schema, err);
    if (st) return st;
    json_object *root = json_object_new_object();
    if (!root) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "config '%s': out of memory", schema->name);
    for (int i = 0; i < schema->nkeys && !st; i++) {
        const rd_cfg_key *k = &schema->keys[i];
        const void *f = cfield(cfg, k);
        json_object *sec = NULL, *v = NULL;
        if (!json_object_object_get_ex(root, k->section, &sec)) {
            sec = json_object_new_object();
            if (!sec || json_object_object_add(root, k->section, sec) != 0) {
                json_object_put(sec);
                st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "config '%s': out of memory", schema->name);
                break;
            }
        }
        char text[4096];
        switch (k->type) {
        case RD_CFG_INT:
            v = json_object_new_int64(k->size == sizeof(int64_t) ? *(const int64_t *)f : *(const int *)f);
            break;
        case RD_CFG_DOUBLE: {
            double x = k->size == sizeof(float) ? (double)*(const float *)f : *(const double *)f;
            if (k->size == sizeof(float)) io_shortest_float(*(const float *)f, text, sizeof text);
            else io_shortest_double(x, text, sizeof text);
            v = json_object_new_double_s(x, text);
            break;
        }
        case RD_CFG_BOOL: v = json_object_new_boolean(*(const bool *)f); break;
        case RD_CFG_BYTES: v = json_object_new_uint64(*(const uint64_t *)f); break;
        case RD_CFG_STRING:
        case RD_CFG_ENUM:
            st = rd_config_format(k, cfg, text, sizeof text, err);
            if (!st) v = json_object_new_string(text);
            break;
        case RD_CFG_LIST: {
            const rd_cfg_list *l = f;
            v = json_object_new_array();
            for (int j = 0; v && j < l->count && j < RD_CFG_LIST_MAX; j++)
                json_object_array_add(v, json_object_new_string(l->item[j]));
            break;
        }
        }
        if (st) break;
        if (!v || json_object_object_add(sec, k->key, v) != 0) {
            json_object_put(v);
            st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "config '%s': out of memory", schema->name);
        }
    }
    if (st) {
        json_object_put(root);
        return st;
    }
    *out = root;
    return RD_OK;
}
