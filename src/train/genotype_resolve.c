/* Where a genotype comes from: its text, a run directory, a file, or a name
 * under configs/genotypes (the folders the caller knows). */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "radars/train.h"

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static const char *skip_space(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return s;
}

static void set_source(char *source, size_t len, const char *fmt, const char *a) {
    if (source && len) snprintf(source, len, fmt, a);
}

/* Parses a file's text: '#' comment lines are blanked; "NAME = Genotype(...)"
 * (DARTS' genotypes.py form) is accepted by starting at "Genotype(". */
static rd_status parse_file(const char *path, rd_genotype *out, rd_err *err) {
    char *text;
    size_t len;
    RD_TRY(rd_read_file(path, &text, &len, err));
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (*skip_space(line) == '#') memset(line, ' ', nl ? (size_t)(nl - line) : strlen(line));
        line = nl ? nl + 1 : NULL;
    }
    const char *start = skip_space(text);
    const char *g = strstr(text, "Genotype(");
    if (*start != '{' && g) start = g;
    rd_status s;
    if (!*start) s = rd_fail(err, RD_ERR_FORMAT, "%s: holds no genotype", path);
    else if ((s = rd_genotype_parse(start, out, err)) != RD_OK) rd_err_prefix(err, "%s", path);
    free(text);
    return s;
}

static int valid_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
    return 1;
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* "DARTS_V1, DARTS_V2 (in DIR)" of every NAME.txt in the folders. */
static void known_names(const char *const *dirs, char *out, size_t len) {
    out[0] = 0;
    size_t o = 0;
    for (int i = 0; dirs && dirs[i]; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        char names[64][128];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 64) {
            size_t l = strlen(e->d_name);
            if (l > 4 && l < 128 && !strcmp(e->d_name + l - 4, ".txt") && e->d_name[0] != '.') {
                snprintf(names[n], sizeof names[n], "%.*s", (int)(l - 4), e->d_name);
                n++;
            }
        }
        closedir(d);
        if (!n) continue;
        qsort(names, (size_t)n, sizeof names[0], cmp_name);
        for (int k = 0; k < n && o < len; k++) o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "", names[k]);
        if (o < len) o += (size_t)snprintf(out + o, len - o, " in %s", dirs[i]);
        return; /* the first folder that has any is the one used */
    }
}

rd_status rd_genotype_resolve(const char *spec, const char *const *dirs, rd_genotype *out, char *source,
                              size_t source_len, rd_err *err) {
    const char *s = skip_space(spec);
    if (!*s) return rd_fail(err, RD_ERR_CONFIG, "genotype: empty (give a name such as DARTS_V2, a file or a run directory)");
    if (!strncmp(s, "Genotype", 8) || *s == '{') {
        set_source(source, source_len, "%s", "given as text");
        return rd_genotype_parse(s, out, err); /* its errors start with "genotype:" */
    }
    char path[4200];
    if (is_dir(s)) {
        snprintf(path, sizeof path, "%s/genotype.txt", s);
        if (!is_file(path)) snprintf(path, sizeof path, "%s/genotype.json", s);
        if (!is_file(path))
            return rd_fail(err, RD_ERR_CONFIG, "genotype '%s': a directory without genotype.txt or genotype.json "
                                               "(not a finished search run?)", s);
        set_source(source, source_len, "%s", path);
        return parse_file(path, out, err);
    }
    if (is_file(s)) {
        set_source(source, source_len, "%s", s);
        return parse_file(s, out, err);
    }
    if (valid_name(s)) {
        for (int i = 0; dirs && dirs[i]; i++) {
            snprintf(path, sizeof path, "%s/%s.txt", dirs[i], s);
            if (is_file(path)) {
                set_source(source, source_len, "%s", path);
                return parse_file(path, out, err);
            }
        }
        char known[1024];
        known_names(dirs, known, sizeof known);
        return rd_fail(err, RD_ERR_CONFIG, "unknown genotype '%s': not a file, a run directory or a known name (%s%s)", s,
                       known[0] ? "known: " : "no configs/genotypes folder found", known);
    }
    return rd_fail(err, RD_ERR_CONFIG, "genotype '%.200s': neither Genotype(...) text, JSON, a file, a run directory nor a name",
                   s);
}
