/* File utilities: mkdir -p, whole-file read, atomic replace, path join, run directories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "radars/io.h"

rd_status rd_mkdir_p(const char *path, rd_err *err) {
    if (!path || !*path) return rd_fail(err, RD_ERR_ARG, "mkdir: empty path");
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "mkdir '%s': out of memory", path);
    memcpy(buf, path, n + 1);
    rd_status st = RD_OK;
    /* create each prefix ending before a '/', then the whole path */
    for (size_t i = 1; i <= n && st == RD_OK; i++) {
        if (i < n && buf[i] != '/') continue;
        if (buf[i - 1] == '/') continue; /* "a//b" */
        char keep = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0) {
            int e = errno;
            struct stat sb;
            if (e != EEXIST)
                st = rd_fail(err, RD_ERR_IO, "cannot create directory '%s': %s", buf, strerror(e));
            else if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
                st = rd_fail(err, RD_ERR_IO, "cannot create directory '%s': a file of that name exists", buf);
        }
        buf[i] = keep;
    }
    free(buf);
    return st;
}

rd_status rd_read_file(const char *path, char **data, size_t *len, rd_err *err) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return rd_fail(err, RD_ERR_IO, "%s: cannot read: is a directory", path);
    }
    /* grow as needed: the size from stat is only a hint (pipes, /proc) */
    size_t cap = (sb.st_size > 0 ? (size_t)sb.st_size : 4096) + 1, n = 0;
    if (cap > RD_TEXT_MAX_BYTES + 1) cap = RD_TEXT_MAX_BYTES + 1;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (n >= RD_TEXT_MAX_BYTES) {
                free(buf);
                fclose(f);
                return rd_fail(err, RD_ERR_FORMAT, "%s: larger than %zu MiB: not a file radars-cl reads whole "
                               "(a recipe or a genotype)", path, RD_TEXT_MAX_BYTES >> 20);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: out of memory reading %zu bytes", path, cap * 2);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return rd_fail(err, RD_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return RD_OK;
}

/* fsync of the directory holding path, so that the rename itself is durable. */
static rd_status fsync_parent(const char *path, rd_err *err) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == path) strcpy(dir, "/");
    else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return rd_fail(err, RD_ERR_ARG, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open directory '%s' to sync it: %s", path, dir, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    /* some file systems cannot sync a directory: the data itself is already synced */
    if (rc != 0 && e != EINVAL && e != ENOTSUP && e != EROFS)
        return rd_fail(err, RD_ERR_IO, "%s: cannot sync directory '%s': %s", path, dir, strerror(e));
    return RD_OK;
}

int rd_is_stale_tmp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t) return 0;
    while (strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp.");
    char *end;
    long pid = strtol(t + 5, &end, 10);
    return !*end && pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Temporary files "<path>.tmp.<pid>" that a process which no longer runs left behind
 * (killed between open and rename): removed, so crashes do not pile them up. */
static void remove_stale_tmps(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash ? slash + 1 : path;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 0, path);
    DIR *d = opendir(dir[0] ? dir : ".");
    if (!d) return;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) || strncmp(nm + bl, ".tmp.", 5) || !rd_is_stale_tmp(nm)) continue;
        char stale[8192];
        snprintf(stale, sizeof stale, "%s%s", dir, nm);
        unlink(stale);
    }
    closedir(d);
}

rd_status rd_atomic_open(rd_atomic_file *af, const char *path, rd_err *err) {
    memset(af, 0, sizeof *af);
    if (!path || !*path) return rd_fail(err, RD_ERR_ARG, "atomic write: empty path");
    if (strlen(path) >= sizeof af->path) return rd_fail(err, RD_ERR_ARG, "%s: path too long", path);
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    remove_stale_tmps(path);
    /* a fresh file only: never through a link someone left at that name, never another's file */
    unlink(af->tmp);
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return rd_fail(err, RD_ERR_IO, "%s: cannot create '%s': %s", path, af->tmp, strerror(errno));
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        return rd_fail(err, RD_ERR_IO, "%s: cannot open '%s': %s", path, af->tmp, strerror(e));
    }
    return RD_OK;
}

rd_status rd_atomic_commit(rd_atomic_file *af, rd_err *err) {
    if (!af->f) return rd_fail(err, RD_ERR_ARG, "%s: atomic write is not open", af->path);
    const char *step = NULL;
    int e = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) step = "write", e = errno;
    else if (fsync(fileno(af->f)) != 0) step = "fsync", e = errno;
    int rc = fclose(af->f);
    af->f = NULL;
    if (!step && rc != 0) step = "close", e = errno;
    /* fault injection (tests): RADARS_FAULT_KILL_COMMIT=N kills the process at its Nth commit,
     * after the temporary file is written and before the rename (the window a crash may hit) */
    static int commits;
    const char *kill_at = getenv("RADARS_FAULT_KILL_COMMIT");
    if (!step && kill_at && ++commits == atoi(kill_at)) raise(SIGKILL);
    if (!step && rename(af->tmp, af->path) != 0) step = "rename", e = errno;
    if (step) {
        unlink(af->tmp);
        return rd_fail(err, RD_ERR_IO, "%s: %s of '%s' failed: %s (the file was not changed)", af->path, step, af->tmp,
                       strerror(e ? e : EIO));
    }
    return fsync_parent(af->path, err);
}

void rd_atomic_abort(rd_atomic_file *af) {
    if (!af->f) return;
    fclose(af->f);
    af->f = NULL;
    unlink(af->tmp);
}

rd_status rd_write_file_atomic(const char *path, const void *data, size_t len, rd_err *err) {
    rd_atomic_file af;
    rd_status st = rd_atomic_open(&af, path, err);
    if (st) return st;
    if (len && fwrite(data, 1, len, af.f) != len) {
        int e = errno;
        rd_atomic_abort(&af);
        return rd_fail(err, RD_ERR_IO, "%s: write failed: %s (the file was not changed)", path, strerror(e));
    }
    return rd_atomic_commit(&af, err);
}

rd_status rd_path_join(char *out, size_t len, const char *a, const char *b, rd_err *err) {
    int n;
    if (!a || !*a || (b && b[0] == '/')) n = snprintf(out, len, "%s", b ? b : "");
    else if (!b || !*b) n = snprintf(out, len, "%s", a);
    else n = snprintf(out, len, "%s%s%s", a, a[strlen(a) - 1] == '/' ? "" : "/", b);
    if (n < 0 || (size_t)n >= len)
        return rd_fail(err, RD_ERR_ARG, "path '%s/%s' is longer than %zu characters", a ? a : "", b ? b : "",
                       len ? len - 1 : 0);
    return RD_OK;
}

int rd_dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

static rd_status copy_out(char *out, size_t len, const char *path, rd_err *err) {
    if (strlen(path) >= len) return rd_fail(err, RD_ERR_ARG, "run directory '%s' is too long", path);
    strcpy(out, path);
    return RD_OK;
}

rd_status rd_run_dir_create(const rd_run_dir_options *opt, char *out, size_t len, rd_err *err) {
    rd_run_dir_options none = {0};
    if (!opt) opt = &none;
    struct stat sb;
    if (opt->dir && *opt->dir) {
        const char *dir = opt->dir;
        int exists = stat(dir, &sb) == 0;
        if (exists && !S_ISDIR(sb.st_mode))
            return rd_fail(err, RD_ERR_IO, "run directory '%s' is a file, not a directory", dir);
        if (opt->resume) {
            if (!exists) return rd_fail(err, RD_ERR_IO, "cannot resume: run directory '%s' does not exist", dir);
            return copy_out(out, len, dir, err);
        }
        if (exists && rd_dir_is_empty(dir) == 0)
            return rd_fail(err, RD_ERR_IO,
                           "run directory '%s' is not empty: refusing to overwrite it (resume that run, or "
                           "choose another directory)",
                           dir);
        rd_status st = rd_mkdir_p(dir, err);
        return st ? st : copy_out(out, len, dir, err);
    }
    if (opt->resume) return rd_fail(err, RD_ERR_ARG, "cannot resume: name the run directory to resume");

    const char *root = opt->root && *opt->root ? opt->root : "runs";
    rd_status st = rd_mkdir_p(root, err);
    if (st) return st;
    char stamp[32], name[128] = "";
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    if (opt->name && *opt->name) {
        size_t i = 0;
        name[i++] = '-';
        for (const char *p = opt->name; *p && i < sizeof name - 1; p++) {
            char c = *p;
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '_' || c == '-';
            name[i++] = ok ? c : '_';
        }
        name[i] = 0;
    }
    char path[4096];
    for (int k = 1; k <= 1000; k++) {
        char leaf[192];
        if (k == 1) snprintf(leaf, sizeof leaf, "%s%s", stamp, name);
        else snprintf(leaf, sizeof leaf, "%s%s-%d", stamp, name, k);
        st = rd_path_join(path, sizeof path, root, leaf, err);
        if (st) return st;
        /* mkdir is the atomic claim: two runs started in the same second get different names */
        if (mkdir(path, 0777) == 0) return copy_out(out, len, path, err);
        if (errno != EEXIST) return rd_fail(err, RD_ERR_IO, "cannot create run directory '%s': %s", path, strerror(errno));
    }
    return rd_fail(err, RD_ERR_IO, "cannot find a free run directory name under '%s'", root);
}
