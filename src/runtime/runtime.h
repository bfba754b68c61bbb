/* Internal to libradars: the context's layout and the kernel-launch helpers ops use. */
#ifndef RADARS_RUNTIME_INTERNAL_H
#define RADARS_RUNTIME_INTERNAL_H

#include <string.h>

#include "radars/device.h"
#include "radars/tensor.h"

enum { RD_MAX_PROGRAMS = 64, RD_KERNEL_TABLE = 512 };

struct rd_buffer {
    cl_mem mem;
    size_t bytes;
    char what[64];
    struct rd_buffer *prev, *next;
};

typedef struct rd_kernel_slot {
    const char *program;    /* program spec: embedded .cl file (without extension) and -D options */
    char name[64];
    uint64_t hash;
    cl_kernel kernel;
    double seconds;         /* profiling: device time summed over launches */
    uint64_t launches;
} rd_kernel_slot;

enum { RD_PROFILE_PENDING = 2048 };

struct rd_ctx {
    rd_device_info dev;
    cl_context context;
    cl_command_queue queue;
    rd_err err;
    int verbose;
    struct rd_comm *comm;   /* the job this context's work belongs to (NULL: one process) */

    /* programs and kernels */
    char cache_dir[1024];
    char build_options[512];
    rd_build_stats build;
    int binary_cache;       /* store program binaries in cache_dir (see rd_ctx_options) */
    struct { char spec[RD_PROGRAM_SPEC_LEN]; cl_program program; } programs[RD_MAX_PROGRAMS];
    int n_programs;
    rd_kernel_slot kernels[RD_KERNEL_TABLE];
    size_t wg;              /* 1-D work-group size (tune.wg) */
    rd_tuning tune;         /* kernel parameters (rd_ctx_set_tuning) */

    /* profiling: events not yet read, and the slot each belongs to */
    int profile;
    cl_event pending[RD_PROFILE_PENDING];
    rd_kernel_slot *pending_slot[RD_PROFILE_PENDING];
    int n_pending;
    rd_kernel_slot blas_slot;

    /* allocator */
    uint64_t mem_current, mem_peak, mem_cap, mem_refused, mem_total_allocs, mem_live;
    rd_buffer *live;
    rd_buffer *scratch[RD_SCRATCH_SLOTS];
    cl_mem *retired;          /* Oclgrind only: freed buffers kept until rd_ctx_free (rd_retire) */
    size_t n_retired, cap_retired;
    int oclgrind_shadow;
    /* fault injection (tests): the Nth buffer allocation / kernel launch of the context fails as
     * the driver would fail it (RADARS_FAULT_ALLOC=N, RADARS_FAULT_LAUNCH=N; 0: never) */
    int64_t fault_alloc, fault_launch, n_alloc_calls, n_launch_calls;           /* Oclgrind: freed buffers retired, partial host writes staged */
};

/* ctx->build_options from the device and ctx->wg. */
void rd_ctx_build_options(rd_ctx *ctx);

/* Returns the kernel (building its program on first use), or NULL with ctx->err set. */
cl_kernel rd_kernel(rd_ctx *ctx, const char *program, const char *name);

/* Launch: rd_launch(ctx, "prog", "kernel" (prog: a program spec, "conv" or
 * "conv -DDWC_K=3 ...", one build per distinct spec), dims, global, local_or_NULL, RD_ARG(a), RD_ARG(b), ..., RD_END).
 * Global sizes are rounded up to a multiple of the local size: kernels bound-check.
 * local == NULL picks (wg) for 1-D and (wg, 1[, 1]) for 2-D / 3-D launches. */
#define RD_ARG(x) sizeof(x), (const void *)&(x)
#define RD_LOCAL(bytes) (size_t)(bytes), (const void *)NULL
#define RD_END (size_t)0
rd_status rd_launch(rd_ctx *ctx, const char *program, const char *kernel, int dims,
                    const size_t *global, const size_t *local, ...);

/* Profiling: an event to attach to the next command of slot (NULL when not
 * profiling); rd_profile_track takes ownership of the event. */
cl_event *rd_profile_event(rd_ctx *ctx, cl_event *ev);
void rd_profile_track(rd_ctx *ctx, rd_kernel_slot *slot, cl_event ev);

/* Records an OpenCL failure: "what: CL_ERROR_NAME (code)". */
rd_status rd_cl_fail(rd_ctx *ctx, cl_int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const char *rd_cl_error_name(cl_int code);

/* Driver quirks are keyed by platform name, here and nowhere else:
 * POCL caches builds itself and compiles each kernel again at its first launch;
 * Oclgrind 21.10 cannot create programs from two threads at once, and loses
 * track of kernel writes into a buffer created after another was released
 * and replaces a buffer's whole shadow state at every host write, so that a write
 * into part of a buffer makes the rest look uninitialised (tests/oclgrind_shadow.c):
 * there, freed buffers are released only with the context and partial host writes
 * go through a staging buffer and a copy kernel (rd_free, tensor.c). */
/* Oclgrind's quirk: rd_retire keeps a memory object alive until rd_release_retired
 * (rd_ctx_free) releases it; 0 when the list cannot grow (then release it now). */
int rd_retire(rd_ctx *ctx, cl_mem mem);
void rd_release_retired(rd_ctx *ctx);
#define RD_PLATFORM_POCL "Portable Computing Language"
#define RD_PLATFORM_OCLGRIND "Oclgrind"
static inline int rd_platform_is(const rd_device_info *d, const char *name) {
    return strstr(d->platform_name, name) != NULL;
}

static inline size_t rd_round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* FNV-1a 64-bit: cache keys, kernel table. */
uint64_t rd_hash64(const void *data, size_t len, uint64_t seed);
/* A hash of every embedded kernel source: tuning measured on other kernels is stale. */
uint64_t rd_cl_sources_hash(void);


#endif
