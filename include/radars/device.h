/* radars-cl: OpenCL devices, the run-time context, and the counted device allocator.
 *
 * One rd_ctx = one device, one in-order queue, built programs, and the allocator
 * through which every device buffer of the library is made. The allocator knows
 * the bytes in use now and at peak, and refuses to go over a cap (default: the
 * device's global memory) or over CL_DEVICE_MAX_MEM_ALLOC_SIZE for one buffer. */
#ifndef RADARS_DEVICE_H
#define RADARS_DEVICE_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stdio.h>

#include "radars/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rd_device_info {
    int index;               /* position in rd_list_devices order (all platforms) */
    int platform_index;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    char driver_version[64];
    char device_version[128];
    char opencl_c_version[64];
    cl_device_type type;
    unsigned compute_units;
    uint64_t global_mem;     /* CL_DEVICE_GLOBAL_MEM_SIZE */
    uint64_t max_alloc;      /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    uint64_t local_mem;      /* CL_DEVICE_LOCAL_MEM_SIZE */
    int local_mem_is_global; /* CL_GLOBAL local memory (CPU devices): tiling in local memory does not pay */
    size_t max_work_group;
    unsigned mem_base_align; /* bytes */
    int has_fp64;
    unsigned native_float_width; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: 16 on POCL with AVX-512, 8 with AVX2 */
    cl_platform_id platform;
    cl_device_id device;
} rd_device_info;

/* "GPU", "CPU", "accelerator" or "other". */
const char *rd_device_type_name(cl_device_type t);

/* Lists every device of every platform. *out is malloc'ed (free it). A machine
 * without any OpenCL platform returns RD_ERR_NO_PLATFORM with a message saying
 * which package to install. */
rd_status rd_list_devices(rd_device_info **out, int *count, rd_err *err);

/* Every OpenCL platform, with the number of devices it offers (0 is possible:
 * Mesa's Clover without a supported GPU, a GPU driver without its GPU). */
typedef struct rd_platform_info {
    char name[128];
    char version[128];
    int devices;
} rd_platform_info;
rd_status rd_list_platforms(rd_platform_info **out, int *count, rd_err *err);

/* Picks a device: selector is an index ("1") or a case-insensitive substring of
 * the device, vendor or platform name; NULL or "" means $RADARS_DEVICE, and when
 * that is unset the first GPU, else accelerator, else CPU. */
rd_status rd_select_device(const rd_device_info *devs, int count, const char *selector,
                           int *chosen, rd_err *err);
/* The same, but without a selector the nth device (modulo their number) of the kind
 * chosen: the node-local rank's device of a job with one rank per device. */
rd_status rd_select_device_nth(const rd_device_info *devs, int count, const char *selector, int nth,
                               int *chosen, rd_err *err);

typedef struct rd_ctx_options {
    const char *device;      /* selector, see rd_select_device */
    const char *cache_dir;   /* program-binary cache; NULL = $RADARS_CACHE_DIR, else
                                $XDG_CACHE_HOME/radars-cl, else ~/.cache/radars-cl; "" disables */
    uint64_t mem_cap;        /* 0 = the device's global memory */
    int nth;                 /* without a selector: the nth device of the preferred kind (MPI: node-local rank) */
    int verbose;             /* print builds and cache hits to stderr */
    int profile;             /* time every kernel with OpenCL events (also: RADARS_PROFILE=1) */
    int binary_cache;        /* store program binaries in cache_dir: 0 = auto (every driver but POCL,
                                which caches builds itself: asking it for a binary compiles every
                                kernel for a generic work-group size, minutes on a cold start),
                                1 = always, -1 = never; also RADARS_BINARY_CACHE=auto|1|0 */
} rd_ctx_options;

typedef struct rd_ctx rd_ctx;

/* Creates a context on the selected device. On failure *out is NULL and err says why. */
rd_status rd_ctx_create(const rd_ctx_options *opt, rd_ctx **out, rd_err *err);
void rd_ctx_free(rd_ctx *ctx);

const rd_device_info *rd_ctx_device(const rd_ctx *ctx);
cl_context rd_ctx_cl_context(const rd_ctx *ctx);
cl_command_queue rd_ctx_queue(const rd_ctx *ctx);
/* The last error recorded on this context (message and code). */
rd_err *rd_ctx_err(rd_ctx *ctx);
/* The API boundary of a call that reported into the context: copies its error
 * into err (unless err is the context's own) and returns its code (RD_ERR_CL
 * when the context holds none, so a failure is never reported as success). */
rd_status rd_ctx_take_error(rd_ctx *ctx, rd_err *err);
const char *rd_ctx_error(const rd_ctx *ctx);
/* Waits for all queued work; reports asynchronous failures. */
rd_status rd_finish(rd_ctx *ctx);

/* ---- kernel parameters per device (CLBlast-style: one table, src/runtime/tuning.c) ----
 * Every context starts from rd_tuning_defaults for its device; `radars tune`
 * (rd_tune, radars/tune.h) times the candidates at a recipe's shapes and stores
 * the winners per device and driver; rd_tuning_load applies them. */
typedef struct rd_tuning {
    int wg;          /* 1-D work-group size of the element-wise kernels and the reductions */
    int conv_pw;     /* 1x1 dense convolutions: 1 = the tiled kernels, 0 = generic (one item per element),
                        RD_CONV_LOCAL = 16x16 GEMM tiles through local memory (written for GPUs) */
    int conv_row;    /* the other dense convolutions DARTS uses (3x3, 1x7, 7x1, 1x1 s2): 1 tiled, 0 generic,
                        RD_CONV_LOCAL = an implicit GEMM in 16x16 tiles through local memory (GPUs) */
    int conv_dwc;    /* depthwise 3x3/5x5/7x7: 1 tiled, 0 generic, RD_CONV_LOCAL 16x16 tiles from patches in local memory */
    int conv_group;  /* work-items per group of the tiled convolutions (CPUs: planes; GPUs: all) */
    int conv_rows;   /* output rows per work-item of the tiled depthwise convolutions (DWC_RB in cl/conv.cl) */
    int conv_block;  /* channels per work-item of the tiled 3x3/1x7/7x1/strided 1x1 forward and dx
                        (CONV_COB, CONV_CIB) */
    int conv_pw_block;   /* channels per work-item of the tiled 1x1 forward and dx (PW_COB in cl/conv.cl) */
    int conv_pw_pixels;  /* pixels per work-item of the tiled 1x1 forward and dx, in runs of 8 (8 * PW_PB) */
    int conv_pw_walk;    /* channel blocks per tiled 1x1 forward / dx work-item: 1 one (GPUs), 2 all of them
                            over the same pixels (CPUs: the item's pixels then stay in L1) */
    int conv_pw_dw_block; /* input channels per 1x1 weight-gradient work-item, with 4 output channels
                             (PW_DW_CIB in cl/conv.cl): 4 x 4 needs 24 vector registers, 4 x 2 14 */
    int mixed_pass;  /* mixed-op entries per pass, 1..16 */
    int mixed_walk;  /* mixed-op walk over the elements: 1 coalesced (GPUs), 2 contiguous runs (CPUs) */
} rd_tuning;

enum { RD_CONV_LOCAL = 2 };

/* One tunable parameter: its key in the tuning file, what it is, its candidates. */
enum { RD_TUNE_MAX_VALUES = 8 };
typedef struct rd_tunable {
    const char *key;
    const char *what;
    int values[RD_TUNE_MAX_VALUES];
    const char *labels[RD_TUNE_MAX_VALUES];  /* names of the values; NULL: printed as numbers */
    int n_values;
} rd_tunable;
/* The table of tunables, in the order rd_tune times them; *count set. */
const rd_tunable *rd_tunables(int *count);
/* The field of t that tunable i sets. */
int *rd_tuning_field(rd_tuning *t, int i);
/* "tiled", "64", ...: value v of tunable i (buf holds numbers). */
const char *rd_tuning_label(int i, int v, char *buf, size_t len);
/* Value of tunable i named by text (a label or a number); 0 if it is not a candidate. */
int rd_tuning_parse(int i, const char *text, int *v);
/* The defaults for a device: what each kernel was written for (GPU or CPU). */
void rd_tuning_defaults(const rd_device_info *dev, rd_tuning *t);
/* Checks t for this device (every value a candidate, the work-group within the device's limit). */
rd_status rd_tuning_check(const rd_device_info *dev, const rd_tuning *t, rd_err *err);
/* Uses t from now on. Only before the first kernel is built (the work-group size is a
 * build option): RD_ERR_ARG afterwards, or when t does not pass rd_tuning_check. */
rd_status rd_ctx_set_tuning(rd_ctx *ctx, const rd_tuning *t);
const rd_tuning *rd_ctx_tuning(const rd_ctx *ctx);
/* Sets the parameters named in text ("wg=32 conv_dwc=generic ..."), then checks t. */
rd_status rd_tuning_from_text(const rd_device_info *dev, const char *text, rd_tuning *t, rd_err *err);
/* "key=value key=value ...": the whole of t in one line. */
void rd_tuning_format(const rd_tuning *t, char *buf, size_t len);

/* ---- per-kernel profile (when profiling is on) ----
 * Device time of every kernel launch, summed per kernel name (CLBlast GEMMs
 * under "clblast_sgemm"). rd_profile_print waits for the device. */
int rd_profile_enabled(const rd_ctx *ctx);
void rd_profile_reset(rd_ctx *ctx);
/* Prints the kernels by total time, with launches and share, to f. */
rd_status rd_profile_print(rd_ctx *ctx, FILE *f);

/* ---- program cache statistics (for tests and -v output) ---- */
typedef struct rd_build_stats {
    int programs_built;      /* compiled from source in this context */
    int cache_hits;          /* loaded from the on-disk binary cache */
    int cache_rejected;      /* corrupt or stale cache entries that were rebuilt */
    int programs_warned;     /* programs whose build log holds a warning (-v prints it) */
    double build_seconds;
} rd_build_stats;
rd_build_stats rd_ctx_build_stats(const rd_ctx *ctx);
const char *rd_ctx_cache_dir(const rd_ctx *ctx);
/* Longest program spec: "<cl file>[ <-D options of one variant>]" (cl/conv.cl's row build:
 * its tile constants and its list of variants, ~200 characters). */
enum { RD_PROGRAM_SPEC_LEN = 384 };
/* Builds (or loads from cache) the programs not built yet, several at once (one
 * thread per core, RADARS_BUILD_THREADS overrides). With progress != NULL, a
 * batch that takes longer than two seconds reports its progress there. */
rd_status rd_build_programs(rd_ctx *ctx, const char *const *specs, int n, FILE *progress);

/* ---- the counted device allocator ---- */
typedef struct rd_buffer rd_buffer;

/* Allocates bytes of device memory; what names the buffer in errors. Refuses
 * (RD_ERR_OVER_CAP / RD_ERR_TOO_LARGE, nothing allocated) when the request
 * would pass the cap or the device's per-buffer limit. */
rd_status rd_alloc(rd_ctx *ctx, size_t bytes, const char *what, rd_buffer **out);
void rd_free(rd_ctx *ctx, rd_buffer *buf);
cl_mem rd_buffer_mem(const rd_buffer *buf);
size_t rd_buffer_bytes(const rd_buffer *buf);

typedef struct rd_mem_stats {
    uint64_t current;        /* bytes in live buffers */
    uint64_t peak;           /* max of current since creation or the last reset */
    uint64_t cap;
    uint64_t max_alloc;
    uint64_t live_buffers;
    uint64_t total_allocs;
    uint64_t refused;        /* requests refused for the cap or the per-buffer limit */
} rd_mem_stats;
rd_mem_stats rd_mem_get_stats(const rd_ctx *ctx);
void rd_mem_reset_peak(rd_ctx *ctx);
/* Sets the cap (bytes); 0 = the device's global memory. A cap below what is
 * already in use is refused. */
rd_status rd_mem_set_cap(rd_ctx *ctx, uint64_t cap);
/* Prints every live buffer (name, bytes) to stderr: for leak reports. */
void rd_mem_dump(const rd_ctx *ctx);

/* Scratch: per-context reusable buffers that grow on demand and are never
 * shrunk during a run, so hot paths do not allocate per call. Slots let one op
 * hold several scratch buffers at once. The memory is counted by the allocator. */
enum { RD_SCRATCH_SLOTS = 4 };
rd_status rd_scratch(rd_ctx *ctx, int slot, size_t bytes, cl_mem *out);
/* Grows scratch slot to at least bytes now (a plan reserves its scratch up front). */
rd_status rd_scratch_reserve(rd_ctx *ctx, int slot, size_t bytes);
void rd_scratch_release(rd_ctx *ctx);

/* Parses "2GiB", "512MiB", "1.5G", "100000" (bytes) into bytes. */
rd_status rd_parse_bytes(const char *s, uint64_t *out, rd_err *err);
/* Formats bytes as "1.23 GiB" into buf. */
const char *rd_format_bytes(uint64_t bytes, char *buf, size_t len);
/* rd_format_bytes into a buffer of its own (a compound literal that lives to the
 * end of the enclosing block): two sizes in one message never share a buffer. */
#define RD_BYTES(bytes) rd_format_bytes((bytes), (char[32]){0}, 32)

#ifdef __cplusplus
}
#endif
#endif
