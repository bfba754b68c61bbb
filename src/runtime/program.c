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

static const rd_cl_source *find_source(const char *name) {
    for (const rd_cl_source *s = rd_cl_sources; s->name; s++)
        if (strcmp(s->name, name) == 0) return s;
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
    char path[1200];
} cache_key;

static void make_cache_key(const rd_ctx *ctx, const char *name, const char *source, size_t len,
                           cache_key *key) {
    const rd_device_info *d = &ctx->dev;
    char head[1024];
    int n = snprintf(head, sizeof head, "%s|%s|%s|%s|%s|%s|%s|", d->platform_name, d->platform_version,
                     d->name, d->vendor, d->driver_version, d->device_version, ctx->build_options);
    key->h1 = rd_hash64(source, len, rd_hash64(head, (size_t)n, 0));
    key->h2 = rd_hash64(source, len, rd_hash64(head, (size_t)n, 0x9e3779b97f4a7c15ull));
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

static void cache_store(rd_ctx *ctx, const cache_key *key, const unsigned char *bin, size_t size) {
    if (make_dirs(ctx->cache_dir) != 0) return;  /* a read-only home only costs speed */
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", key->path, (long)getpid());
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

static rd_status build_log_fail(rd_ctx *ctx, cl_program prog, const char *name, cl_int rc) {
    size_t len = 0;
    clGetProgramBuildInfo(prog, ctx->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
        log[0] = 0;
        clGetProgramBuildInfo(prog, ctx->dev.device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
        log[len] = 0;
        fprintf(stderr, "radars: build log of kernel program '%s' on '%s':\n%s\n", name, ctx->dev.name, log);
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
    return rd_fail(&ctx->err, RD_ERR_BUILD, "kernel program '%s' failed to build on '%s' (%s): %s",
                   name, ctx->dev.name, rd_cl_error_name(rc), first);
}

static rd_status build_program(rd_ctx *ctx, const char *name, cl_program *out) {
    const rd_cl_source *src = find_source(name), *common = find_source("common");
    if (!src) return rd_fail(&ctx->err, RD_ERR_ARG, "no embedded kernel program named '%s'", name);
    /* source = common preamble + program */
    size_t clen = common ? common->len : 0, len = clen + 1 + src->len;
    char *text = malloc(len + 1);
    if (!text) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (common) memcpy(text, common->text, clen);
    text[clen] = '\n';
    memcpy(text + clen + 1, src->text, src->len);
    text[len] = 0;

    double t0 = now_seconds();
    cache_key key;
    int use_cache = ctx->cache_dir[0] != 0;
    cl_int rc;
    cl_program prog = NULL;
    if (use_cache) {
        make_cache_key(ctx, name, text, len, &key);
        size_t bsize = 0;
        unsigned char *bin = cache_load(&key, &bsize);
        if (bin == (unsigned char *)-1) {
            ctx->build.cache_rejected++;
            if (ctx->verbose) fprintf(stderr, "radars: cache entry %s is corrupt or stale: rebuilding\n", key.path);
        } else if (bin) {
            const unsigned char *bins[1] = {bin};
            cl_int bstatus = CL_SUCCESS;
            prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->dev.device, &bsize, bins, &bstatus, &rc);
            if (rc == CL_SUCCESS && bstatus == CL_SUCCESS)
                rc = clBuildProgram(prog, 1, &ctx->dev.device, ctx->build_options, NULL, NULL);
            free(bin);
            if (rc == CL_SUCCESS && bstatus == CL_SUCCESS) {
                ctx->build.cache_hits++;
                if (ctx->verbose) fprintf(stderr, "radars: program '%s' loaded from cache\n", name);
                free(text);
                *out = prog;
                ctx->build.build_seconds += now_seconds() - t0;
                return RD_OK;
            }
            if (prog) clReleaseProgram(prog);
            prog = NULL;
            ctx->build.cache_rejected++;
            if (ctx->verbose) fprintf(stderr, "radars: driver refused cached binary %s: rebuilding\n", key.path);
        }
    }
    const char *texts[1] = {text};
    prog = clCreateProgramWithSource(ctx->context, 1, texts, &len, &rc);
    free(text);
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "creating kernel program '%s'", name);
    rc = clBuildProgram(prog, 1, &ctx->dev.device, ctx->build_options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        rd_status s = build_log_fail(ctx, prog, name, rc);
        clReleaseProgram(prog);
        return s;
    }
    ctx->build.programs_built++;
    double dt = now_seconds() - t0;
    ctx->build.build_seconds += dt;
    if (ctx->verbose) fprintf(stderr, "radars: built program '%s' in %.2f s\n", name, dt);
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
    *out = prog;
    return RD_OK;
}

static rd_status get_program(rd_ctx *ctx, const char *name, cl_program *out) {
    for (int i = 0; i < ctx->n_programs; i++)
        if (strcmp(ctx->programs[i].name, name) == 0) { *out = ctx->programs[i].program; return RD_OK; }
    if (ctx->n_programs == RD_MAX_PROGRAMS)
        return rd_fail(&ctx->err, RD_ERR_ARG, "too many kernel programs (raise RD_MAX_PROGRAMS)");
    const rd_cl_source *src = find_source(name);
    if (!src) return rd_fail(&ctx->err, RD_ERR_ARG, "no embedded kernel program named '%s'", name);
    cl_program prog;
    RD_TRY(build_program(ctx, name, &prog));
    ctx->programs[ctx->n_programs].name = src->name;
    ctx->programs[ctx->n_programs].program = prog;
    ctx->n_programs++;
    *out = prog;
    return RD_OK;
}

rd_status rd_build_all_programs(rd_ctx *ctx) {
    for (const rd_cl_source *s = rd_cl_sources; s->name; s++) {
        if (strcmp(s->name, "common") == 0) continue;
        cl_program p;
        RD_TRY(get_program(ctx, s->name, &p));
    }
    return RD_OK;
}

cl_kernel rd_kernel(rd_ctx *ctx, const char *program, const char *name) {
    size_t nlen = strlen(name);
    uint64_t h = rd_hash64(name, nlen, rd_hash64(program, strlen(program), 0));
    size_t slot = (size_t)(h % RD_KERNEL_TABLE);
    for (size_t probe = 0; probe < RD_KERNEL_TABLE; probe++) {
        rd_kernel_slot *s = &ctx->kernels[(slot + probe) % RD_KERNEL_TABLE];
        if (!s->kernel) {
            cl_program prog;
            if (get_program(ctx, program, &prog) != RD_OK) return NULL;
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
            s->program = program;
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
        fprintf(f, "%-14s %-34s %10llu %10.3f %9.1f %5.1f%%\n", rows[i]->program, rows[i]->name,
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
    cl_int rc = clEnqueueNDRangeKernel(ctx->queue, k, (cl_uint)dims, NULL, glob, loc, 0, NULL,
                                       rd_profile_event(ctx, &ev));
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "launching kernel '%s'", kernel);
    if (ev) rd_profile_track(ctx, slot_of(ctx, k), ev);
    return RD_OK;
}
