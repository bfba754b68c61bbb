/* Kernel programs: embedded sources built at run time for the chosen device,
 * with an on-disk cache of program binaries so a second run builds nothing.
 *
 * Cache entry: <cache_dir>/<program>-<key hash>.bin holding a header (magic,
 * format version, a second hash of the key, binary size, binary checksum) and
 * the binary. The key covers platform, device, driver, build options and the
 * source text, so a new driver or an edited kernel misses the cache. Anything
 * that does not validate, or that the driver refuses to load, is rebuilt from
 * source and overwritten: a cache entry is never trusted blindly. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/cl_sources.h"
#include "runtime/runtime.h"

#define CACHE_MAGIC "RDCLBIN1"
#define CACHE_VERSION 1u

uint64_t rd_hash64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* A program spec is "<source>[ <extra build options>]": the embedded file
 * (cl/<source>.cl) and the -D defines of one variant of it. */
static const rd_cl_source *find_source(const char *spec) {
    size_t n = strcspn(spec, " ");
    for (const rd_cl_source *s = rd_cl_sources; s->name; s++)
        if (strlen(s->name) == n && strncmp(s->name, spec, n) == 0) return s;
    return NULL;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* mkdir -p */
static int make_dirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

typedef struct cache_key {
    uint64_t h1, h2;  /* two independent hashes of the key text */
    char path[sizeof ((rd_ctx *)0)->cache_dir + RD_PROGRAM_SPEC_LEN + 24];
} cache_key;

/* The key hashes every part whole (each with its terminating zero, so parts cannot run into
 * one another): the device and driver, the build options, the source. */
static void make_cache_key(const rd_ctx *ctx, const char *name, const char *options, const char *source,
                           size_t len, cache_key *key) {
    const rd_device_info *d = &ctx->dev;
    const char *parts[] = {d->platform_name, d->platform_version, d->name, d->vendor, d->driver_version,
                           d->device_version, options};
    key->h1 = 0;
    key->h2 = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        key->h1 = rd_hash64(parts[i], strlen(parts[i]) + 1, key->h1);
        key->h2 = rd_hash64(parts[i], strlen(parts[i]) + 1, key->h2);
    }
    key->h1 = rd_hash64(source, len, key->h1);
    key->h2 = rd_hash64(source, len, key->h2);
    snprintf(key->path, sizeof key->path, "%s/%s-%016llx.bin", ctx->cache_dir, name,
             (unsigned long long)key->h1);
}

/* Reads and validates a cache entry; returns a malloc'ed binary or NULL. */
static unsigned char *cache_load(const cache_key *key, size_t *size_out) {
    FILE *f = fopen(key->path, "rb");
    if (!f) return NULL;
    char magic[8];
    uint32_t version = 0;
    uint64_t h2 = 0, size = 0, sum = 0;
    unsigned char *bin = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0) goto bad;
    if (fread(&version, sizeof version, 1, f) != 1 || version != CACHE_VERSION) goto bad;
    if (fread(&h2, sizeof h2, 1, f) != 1 || h2 != key->h2) goto bad;
    if (fread(&size, sizeof size, 1, f) != 1 || fread(&sum, sizeof sum, 1, f) != 1) goto bad;
    if (size == 0 || size > (1ull << 30)) goto bad;
    bin = malloc(size);
    if (!bin || fread(bin, 1, size, f) != size) goto bad;
    if (fgetc(f) != EOF) goto bad;  /* trailing bytes: not what we wrote */
    if (rd_hash64(bin, size, 0) != sum) goto bad;
    fclose(f);
    *size_out = size;
    return bin;
bad:
    free(bin);
    fclose(f);
    return (unsigned char *)-1;  /* present but invalid */
}

static void cache_store(const rd_ctx *ctx, const cache_key *key, const unsigned char *bin, size_t size) {
    if (make_dirs(ctx->cache_dir) != 0) return;  /* a read-only home only costs speed */
    char tmp[sizeof key->path + 48];
    static unsigned counter;  /* several threads may store at once */
    snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", key->path, (long)getpid(),
             __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED));
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint32_t version = CACHE_VERSION;
    uint64_t size64 = size, sum = rd_hash64(bin, size, 0);
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&version, sizeof version, 1, f) == 1 &&
             fwrite(&key->h2, sizeof key->h2, 1, f) == 1 && fwrite(&size64, sizeof size64, 1, f) == 1 &&
             fwrite(&sum, sizeof sum, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (ok) ok = rename(tmp, key->path) == 0;
    if (!ok) remove(tmp);
}

/* One program to build: filled by build_program, which touches nothing else of
 * the context, so several run at once (rd_build_programs). */
typedef struct build_job {
    const char *spec;
    cl_program program;
    rd_status status;
    rd_err err;
    int built, cache_hit, cache_rejected, warned;
    double seconds;
} build_job;

/* The build log of prog on the context's device (malloc'ed, "" when none). */
static char *build_log(const rd_ctx *ctx, cl_program prog) {
    size_t len = 0;
    clGetProgramBuildInfo(prog, ctx->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (!log) return NULL;
    log[0] = 0;
    if (len) clGetProgramBuildInfo(prog, ctx->dev.device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
    log[len] = 0;
    return log;
}

static rd_status build_log_fail(const rd_ctx *ctx, cl_program prog, build_job *job, const char *options,
                                cl_int rc) {
    char *log = build_log(ctx, prog);
    if (log) {
        fprintf(stderr, "radars: build log of kernel program '%s' on '%s' (options %s):\n%s\n", job->spec,
                ctx->dev.name, options, log);
    }
    /* the one-line error keeps the first line of the log */
    char first[300] = "";
    if (log) {
        size_t i = 0;
        while (log[i] == '\n' || log[i] == ' ') i++;
        snprintf(first, sizeof first, "%s", log + i);
        char *nl = strchr(first, '\n');
        if (nl) *nl = 0;
    }
    free(log);
    return rd_fail(&job->err, RD_ERR_BUILD, "kernel program '%s' failed to build on '%s' (%s): %s", job->spec,
                   ctx->dev.name, rd_cl_error_name(rc), first);
}

static rd_status build_program(const rd_ctx *ctx, build_job *job) {
    const rd_cl_source *src = find_source(job->spec), *common = find_source("common");
    if (!src) return job->status = rd_fail(&job->err, RD_ERR_ARG, "no embedded kernel program named '%s'", job->spec);
    char options[RD_PROGRAM_SPEC_LEN + 600];
    const char *extra = job->spec + strcspn(job->spec, " ");
    snprintf(options, sizeof options, "%s%s", ctx->build_options, extra);
    /* source = common preamble + program */
    size_t clen = common ? common->len : 0, len = clen + 1 + src->len;
    char *text = malloc(len + 1);
    if (!text) return job->status = rd_fail(&job->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (common) memcpy(text, common->text, clen);
    text[clen] = '\n';
    memcpy(text + clen + 1, src->text, src->len);
    text[len] = 0;

    double t0 = now_seconds();
    cache_key key;
    int use_cache = ctx->cache_dir[0] != 0 && ctx->binary_cache;
    cl_int rc;
    cl_program prog = NULL;
    if (use_cache) {
        char cname[RD_PROGRAM_SPEC_LEN];
        snprintf(cname, sizeof cname, "%.*s", (int)strcspn(job->spec, " "), job->spec);
        make_cache_key(ctx, cname, options, text, len, &key);
        size_t bsize = 0;
        unsigned char *bin = cache_load(&key, &bsize);
        if (bin == (unsigned char *)-1) {
            job->cache_rejected = 1;
            if (ctx->verbose) fprintf(stderr, "radars: cache entry %s is corrupt or stale: rebuilding\n", key.path);
        } else if (bin) {
            const unsigned char *bins[1] = {bin};
            cl_int bstatus = CL_SUCCESS;
            prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device, &bsize, bins, &bstatus, &rc);
            if (rc == CL_SUCCESS && bstatus == CL_SUCCESS)
                rc = clBuildProgram(prog, 1, &ctx->dev.device, options, NULL, NULL);
            free(bin);
            if (rc == CL_SUCCESS && bstatus == CL_SUCCESS) {
                job->cache_hit = 1;
                if (ctx->verbose) fprintf(stderr, "radars: program '%s' loaded from cache\n", job->spec);
                free(text);
                job->program = prog;
                job->seconds = now_seconds() - t0;
                return job->status = RD_OK;
            }
            if (prog) clReleaseProgram(prog);
            prog = NULL;
            job->cache_rejected = 1;
            if (ctx->verbose) fprintf(stderr, "radars: driver refused cached binary %s: rebuilding\n", key.path);
        }
    }
    const char *texts[1] = {text};
    prog = clCreateProgramWithSource(ctx->context, 1, texts, &len, &rc);
    free(text);
    if (rc != CL_SUCCESS)
        return job->status = rd_fail(&job->err, RD_ERR_CL, "creating kernel program '%s': %s (%d)", job->spec,
                                     rd_cl_error_name(rc), (int)rc);
    rc = clBuildProgram(prog, 1, &ctx->dev.device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        job->status = build_log_fail(ctx, prog, job, options, rc);
        clReleaseProgram(prog);
        return job->status;
    }
    job->built = 1;
    job->seconds = now_seconds() - t0;
    /* Our kernels compile without warnings on every driver: count any, show them with -v. */
    char *log = build_log(ctx, prog);
    if (log && strstr(log, "warning")) {
        job->warned = 1;
        if (ctx->verbose)
            fprintf(stderr, "radars: warnings building '%s' on '%s':\n%s\n", job->spec, ctx->dev.name, log);
    }
    free(log);
    if (ctx->verbose) fprintf(stderr, "radars: built program '%s' in %.2f s\n", job->spec, job->seconds);
    if (use_cache) {
        size_t bsize = 0;
        if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bsize, &bsize, NULL) == CL_SUCCESS && bsize) {
            unsigned char *bin = malloc(bsize);
            unsigned char *bins[1] = {bin};
            if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
                cache_store(ctx, &key, bin, bsize);
            free(bin);
        }
    }
    job->program = prog;
    return job->status = RD_OK;
}

static int find_program(const rd_ctx *ctx, const char *spec) {
    for (int i = 0; i < ctx->n_programs; i++)
        if (strcmp(ctx->programs[i].spec, spec) == 0) return i;
    return -1;
}

/* Takes a finished job into the context: its program, statistics and error. */
static rd_status adopt_job(rd_ctx *ctx, build_job *job, int *index) {
    ctx->build.programs_built += job->built;
    ctx->build.cache_hits += job->cache_hit;
    ctx->build.cache_rejected += job->cache_rejected;
    ctx->build.programs_warned += job->warned;
    ctx->build.build_seconds += job->seconds;
    if (job->status != RD_OK) {
        ctx->err = job->err;
        return job->status;
    }
    if (ctx->n_programs == RD_MAX_PROGRAMS) {
        clReleaseProgram(job->program);
        return rd_fail(&ctx->err, RD_ERR_ARG, "too many kernel programs (raise RD_MAX_PROGRAMS)");
    }
    int i = ctx->n_programs++;
    snprintf(ctx->programs[i].spec, sizeof ctx->programs[i].spec, "%s", job->spec);
    ctx->programs[i].program = job->program;
    if (index) *index = i;
    return RD_OK;
}

static rd_status check_spec(rd_ctx *ctx, const char *spec) {
    if (strlen(spec) >= RD_PROGRAM_SPEC_LEN)
        return rd_fail(&ctx->err, RD_ERR_ARG, "kernel program spec '%s' too long", spec);
    if (!find_source(spec)) return rd_fail(&ctx->err, RD_ERR_ARG, "no embedded kernel program named '%s'", spec);
    return RD_OK;
}

/* The program of spec, built on first use (a build that takes a while says so). */
static rd_status get_program(rd_ctx *ctx, const char *spec, int *index) {
    int i = find_program(ctx, spec);
    if (i >= 0) { *index = i; return RD_OK; }
    RD_TRY(check_spec(ctx, spec));
    build_job job = {.spec = spec};
    build_program(ctx, &job);
    if (job.built && job.seconds > 2.0 && !ctx->verbose)
        fprintf(stderr, "radars: compiled kernel program '%s' for '%s' in %.1f s (first use; cached from now on)\n",
                spec, ctx->dev.name, job.seconds);
    return adopt_job(ctx, &job, index);
}

/* ---- building many programs at once ---- */

typedef struct build_pool {
    const rd_ctx *ctx;
    build_job *jobs;
    int n, next, done;
    pthread_mutex_t lock;
} build_pool;

static void *build_worker(void *arg) {
    build_pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        int i = pool->next < pool->n ? pool->next++ : -1;
        pthread_mutex_unlock(&pool->lock);
        if (i < 0) return NULL;
        build_program(pool->ctx, &pool->jobs[i]);
        pthread_mutex_lock(&pool->lock);
        pool->done++;
        pthread_mutex_unlock(&pool->lock);
    }
}

static int build_threads(const rd_ctx *ctx, int jobs) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    /* Oclgrind 21.10 crashes (inside LLVM's bitcode reader) when two threads
     * create programs at once: one at a time there. */
    if (rd_platform_is(&ctx->dev, RD_PLATFORM_OCLGRIND)) cpus = 1;
    const char *env = getenv("RADARS_BUILD_THREADS");
    if (env && *env) cpus = strtol(env, NULL, 10);
    if (cpus < 1) cpus = 1;
    if (cpus > 16) cpus = 16;
    return jobs < cpus ? jobs : (int)cpus;
}

rd_status rd_build_programs(rd_ctx *ctx, const char *const *specs, int n, FILE *progress) {
    build_job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
    if (!jobs) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    int pending = 0;
    for (int i = 0; i < n; i++) {
        if (find_program(ctx, specs[i]) >= 0) continue;
        int dup = 0;
        for (int j = 0; j < pending; j++) dup |= strcmp(jobs[j].spec, specs[i]) == 0;
        if (dup) continue;
        rd_status s = check_spec(ctx, specs[i]);
        if (s != RD_OK) { free(jobs); return s; }
        jobs[pending++].spec = specs[i];
    }
    build_pool pool = {.ctx = ctx, .jobs = jobs, .n = pending};
    pthread_mutex_init(&pool.lock, NULL);
    int nt = build_threads(ctx, pending);
    pthread_t threads[16];
    int started = 0;
    for (int t = 0; t < nt; t++)
        if (pthread_create(&threads[started], NULL, build_worker, &pool) == 0) started++;
    if (started == 0) build_worker(&pool);  /* no threads: build here */
    /* Progress: nothing when everything comes from a cache at once; after two
     * seconds, a count of programs built (rewritten in place on a terminal). */
    double t0 = now_seconds();
    int shown = 0, tty = progress && isatty(fileno(progress));
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        int done = pool.done;
        pthread_mutex_unlock(&pool.lock);
        if (done == pending) break;
        double dt = now_seconds() - t0;
        if (progress && dt > 2.0 && (tty || !shown)) {
            fprintf(progress, "%sradars: compiling kernels for '%s': %d of %d programs, %.0f s%s", tty ? "\r" : "",
                    ctx->dev.name, done, pending, dt, tty ? " " : " (first run on this device; cached afterwards)\n");
            fflush(progress);
            shown = 1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    pthread_mutex_destroy(&pool.lock);
    if (shown) {
        /* POCL compiles each kernel once more at its first launch (for the work-group
         * size used): say so, or the first steps' speed looks like the run's. */
        int pocl = rd_platform_is(&ctx->dev, RD_PLATFORM_POCL);
        fprintf(progress, "%sradars: compiled %d kernel programs for '%s' in %.1f s%s\n", tty ? "\r" : "", pending,
                ctx->dev.name, now_seconds() - t0,
                pocl ? "; POCL compiles each kernel again at its first launch: the first steps are slower" : "");
        fflush(progress);
    }
    rd_status first = RD_OK;
    rd_err first_err = {0};
    for (int i = 0; i < pending; i++) {
        rd_status s = adopt_job(ctx, &jobs[i], NULL);
        if (s != RD_OK && first == RD_OK) first = s, first_err = ctx->err;
    }
    free(jobs);
    if (first != RD_OK) ctx->err = first_err;
    return first;
}

cl_kernel rd_kernel(rd_ctx *ctx, const char *program, const char *name) {
    size_t nlen = strlen(name);
    uint64_t h = rd_hash64(name, nlen, rd_hash64(program, strlen(program), 0));
    size_t slot = (size_t)(h % RD_KERNEL_TABLE);
    for (size_t probe = 0; probe < RD_KERNEL_TABLE; probe++) {
        rd_kernel_slot *s = &ctx->kernels[(slot + probe) % RD_KERNEL_TABLE];
        if (!s->kernel) {
            int pi;
            if (get_program(ctx, program, &pi) != RD_OK) return NULL;
            cl_program prog = ctx->programs[pi].program;
            if (nlen >= sizeof s->name) {
                rd_fail(&ctx->err, RD_ERR_ARG, "kernel name '%s' too long", name);
                return NULL;
            }
            cl_int rc;
            cl_kernel k = clCreateKernel(prog, name, &rc);
            if (rc != CL_SUCCESS) {
                rd_cl_fail(ctx, rc, "kernel '%s' in program '%s'", name, program);
                return NULL;
            }
            s->kernel = k;
            s->hash = h;
            s->program = ctx->programs[pi].spec;  /* the context's copy outlives the caller's */
            memcpy(s->name, name, nlen + 1);
            return k;
        }
        if (s->hash == h && strcmp(s->name, name) == 0 && strcmp(s->program, program) == 0) return s->kernel;
    }
    rd_fail(&ctx->err, RD_ERR_ARG, "kernel table full (raise RD_KERNEL_TABLE)");
    return NULL;
}

static rd_kernel_slot *slot_of(rd_ctx *ctx, cl_kernel k) {
    for (int i = 0; i < RD_KERNEL_TABLE; i++)
        if (ctx->kernels[i].kernel == k) return &ctx->kernels[i];
    return NULL;
}

/* ---- profiling ---- */
int rd_profile_enabled(const rd_ctx *ctx) { return ctx->profile; }

cl_event *rd_profile_event(rd_ctx *ctx, cl_event *ev) {
    *ev = NULL;
    return ctx->profile ? ev : NULL;
}

static void profile_fold(rd_ctx *ctx) {
    if (!ctx->n_pending) return;
    clWaitForEvents((cl_uint)ctx->n_pending, ctx->pending);
    for (int i = 0; i < ctx->n_pending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        clGetEventProfilingInfo(ctx->pending[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        clGetEventProfilingInfo(ctx->pending[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        if (ctx->pending_slot[i]) {
            ctx->pending_slot[i]->seconds += (t1 > t0 ? t1 - t0 : 0) * 1e-9;
            ctx->pending_slot[i]->launches++;
        }
        clReleaseEvent(ctx->pending[i]);
    }
    ctx->n_pending = 0;
}

void rd_profile_track(rd_ctx *ctx, rd_kernel_slot *slot, cl_event ev) {
    if (ctx->n_pending == RD_PROFILE_PENDING) profile_fold(ctx);
    ctx->pending[ctx->n_pending] = ev;
    ctx->pending_slot[ctx->n_pending++] = slot ? slot : &ctx->blas_slot;
}

void rd_profile_reset(rd_ctx *ctx) {
    profile_fold(ctx);
    for (int i = 0; i < RD_KERNEL_TABLE; i++) ctx->kernels[i].seconds = 0, ctx->kernels[i].launches = 0;
    ctx->blas_slot.seconds = 0;
    ctx->blas_slot.launches = 0;
}

static int by_time(const void *a, const void *b) {
    double x = (*(rd_kernel_slot *const *)a)->seconds, y = (*(rd_kernel_slot *const *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

rd_status rd_profile_print(rd_ctx *ctx, FILE *f) {
    if (!ctx->profile) return rd_fail(&ctx->err, RD_ERR_ARG, "profiling is off (RADARS_PROFILE=1 turns it on)");
    profile_fold(ctx);
    rd_kernel_slot *rows[RD_KERNEL_TABLE + 1];
    int n = 0;
    double total = 0;
    for (int i = 0; i < RD_KERNEL_TABLE; i++)
        if (ctx->kernels[i].launches) rows[n++] = &ctx->kernels[i];
    if (ctx->blas_slot.launches) rows[n++] = &ctx->blas_slot;
    for (int i = 0; i < n; i++) total += rows[i]->seconds;
    qsort(rows, (size_t)n, sizeof *rows, by_time);
    fprintf(f, "%-14s %-34s %10s %10s %9s %6s\n", "program", "kernel", "launches", "total s", "mean us", "share");
    for (int i = 0; i < n; i++)
        fprintf(f, "%-14.*s %-34s %10llu %10.3f %9.1f %5.1f%%\n", (int)strcspn(rows[i]->program, " "),
                rows[i]->program, rows[i]->name,
                (unsigned long long)rows[i]->launches, rows[i]->seconds, 1e6 * rows[i]->seconds / rows[i]->launches,
                total > 0 ? 100 * rows[i]->seconds / total : 0);
    fprintf(f, "%-49s %10s %10.3f\n", "device time of all kernels", "", total);
    return RD_OK;
}

rd_status rd_launch(rd_ctx *ctx, const char *program, const char *kernel, int dims, const size_t *global,
                    const size_t *local, ...) {
    cl_kernel k = rd_kernel(ctx, program, kernel);
    if (!k) return ctx->err.code;
    va_list ap;
    va_start(ap, local);
    for (cl_uint i = 0;; i++) {
        size_t size = va_arg(ap, size_t);
        if (size == 0) break;
        const void *ptr = va_arg(ap, const void *);
        cl_int rc = clSetKernelArg(k, i, size, ptr);
        if (rc != CL_SUCCESS) {
            va_end(ap);
            return rd_cl_fail(ctx, rc, "argument %u of kernel '%s'", i, kernel);
        }
    }
    va_end(ap);
    size_t loc[3], glob[3];
    for (int d = 0; d < dims; d++) {
        loc[d] = local ? local[d] : (d == 0 ? ctx->wg : 1);
        if (loc[d] == 0) loc[d] = 1;
        if (global[d] == 0) return RD_OK;  /* empty launch */
        glob[d] = rd_round_up(global[d], loc[d]);
    }
    cl_event ev = NULL;
    cl_int rc = ++ctx->n_launch_calls == ctx->fault_launch
                    ? CL_OUT_OF_RESOURCES /* injected (RADARS_FAULT_LAUNCH) */
                    : clEnqueueNDRangeKernel(ctx->queue, k, (cl_uint)dims, NULL, glob, loc, 0, NULL,
                                             rd_profile_event(ctx, &ev));
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "launching kernel '%s'", kernel);
    if (ev) rd_profile_track(ctx, slot_of(ctx, k), ev);
    return RD_OK;
}
