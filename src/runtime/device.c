/* Device discovery, choice, and the context (device + queue). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

const char *rd_device_type_name(cl_device_type t) {
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    return "other";
}

static void device_string(cl_device_id d, cl_device_info what, char *out, size_t len) {
    out[0] = 0;
    if (clGetDeviceInfo(d, what, len, out, NULL) != CL_SUCCESS) snprintf(out, len, "?");
    out[len - 1] = 0;
    /* drivers pad some strings with spaces */
    size_t n = strlen(out);
    while (n && isspace((unsigned char)out[n - 1])) out[--n] = 0;
}

static void fill_info(rd_device_info *di, cl_platform_id p, cl_device_id d) {
    memset(di, 0, sizeof *di);
    di->platform = p;
    di->device = d;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof di->platform_name, di->platform_name, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof di->platform_version, di->platform_version, NULL);
    di->platform_name[sizeof di->platform_name - 1] = 0;
    di->platform_version[sizeof di->platform_version - 1] = 0;
    device_string(d, CL_DEVICE_NAME, di->name, sizeof di->name);
    device_string(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
    device_string(d, CL_DRIVER_VERSION, di->driver_version, sizeof di->driver_version);
    device_string(d, CL_DEVICE_VERSION, di->device_version, sizeof di->device_version);
    device_string(d, CL_DEVICE_OPENCL_C_VERSION, di->opencl_c_version, sizeof di->opencl_c_version);
    cl_uint cu = 0, align_bits = 0, vwidth = 0;
    cl_ulong gmem = 0, maxalloc = 0, lmem = 0;
    cl_device_local_mem_type ltype = CL_LOCAL;
    size_t maxwg = 1;
    cl_device_fp_config fp64 = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof ltype, &ltype, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof maxwg, &maxwg, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof vwidth, &vwidth, NULL);
    di->compute_units = cu;
    di->global_mem = gmem;
    di->max_alloc = maxalloc;
    di->local_mem = lmem;
    di->local_mem_is_global = ltype == CL_GLOBAL;
    di->max_work_group = maxwg ? maxwg : 1;
    di->mem_base_align = align_bits / 8;
    di->has_fp64 = fp64 != 0;
    di->native_float_width = vwidth;
}

/* Every platform's id (malloc'ed), or an error saying which package to install. */
static rd_status platform_ids(cl_platform_id **out, cl_uint *count, rd_err *err) {
    cl_uint np = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &np);
    if (rc != CL_SUCCESS || np == 0)
        return rd_fail(err, RD_ERR_NO_PLATFORM,
                       "no OpenCL platform found (%s): install an OpenCL driver, e.g. "
                       "'apt-get install pocl-opencl-icd' for the CPU or your GPU vendor's ICD",
                       rc == CL_SUCCESS ? "0 platforms" : rd_cl_error_name(rc));
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    clGetPlatformIDs(np, plats, NULL);
    *out = plats;
    *count = np;
    return RD_OK;
}

rd_status rd_list_devices(rd_device_info **out, int *count, rd_err *err) {
    *out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_platform_id *plats = NULL;
    RD_TRY(platform_ids(&plats, &np, err));
    int cap = 8, n = 0;
    rd_device_info *devs = malloc(cap * sizeof *devs);
    for (cl_uint p = 0; p < np && devs; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        if (!ids) break;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
        for (cl_uint d = 0; d < nd; d++) {
            if (n == cap) {
                cap *= 2;
                rd_device_info *grown = realloc(devs, cap * sizeof *devs);
                if (!grown) { free(devs); devs = NULL; break; }
                devs = grown;
            }
            fill_info(&devs[n], plats[p], ids[d]);
            devs[n].index = n;
            devs[n].platform_index = (int)p;
            n++;
        }
        free(ids);
    }
    free(plats);
    if (!devs) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (n == 0) {
        free(devs);
        return rd_fail(err, RD_ERR_NO_DEVICE,
                       "OpenCL platforms found but no device: check the driver "
                       "(e.g. 'apt-get install pocl-opencl-icd' for the CPU)");
    }
    *out = devs;
    *count = n;
    return RD_OK;
}

rd_status rd_list_platforms(rd_platform_info **out, int *count, rd_err *err) {
    *out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_platform_id *plats = NULL;
    RD_TRY(platform_ids(&plats, &np, err));
    rd_platform_info *info = calloc(np, sizeof *info);
    if (!info) {
        free(plats);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (cl_uint p = 0; p < np; p++) {
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof info[p].name, info[p].name, NULL);
        clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof info[p].version, info[p].version, NULL);
        info[p].name[sizeof info[p].name - 1] = info[p].version[sizeof info[p].version - 1] = 0;
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) == CL_SUCCESS) info[p].devices = (int)nd;
    }
    free(plats);
    *out = info;
    *count = (int)np;
    return RD_OK;
}

static int contains_ci(const char *hay, const char *needle) {
    size_t hn = strlen(hay), nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t j = 0;
        while (j < nn && tolower((unsigned char)hay[i + j]) == tolower((unsigned char)needle[j])) j++;
        if (j == nn) return 1;
    }
    return 0;
}

rd_status rd_select_device(const rd_device_info *devs, int count, const char *sel, int *chosen,
                           rd_err *err) {
    return rd_select_device_nth(devs, count, sel, 0, chosen, err);
}

rd_status rd_select_device_nth(const rd_device_info *devs, int count, const char *sel, int nth, int *chosen,
                               rd_err *err) {
    const char *source = "--device";
    if (!sel || !*sel) {
        sel = getenv("RADARS_DEVICE");
        source = "RADARS_DEVICE";
    }
    if (sel && *sel) {
        char *end = NULL;
        long idx = strtol(sel, &end, 10);
        if (end && *end == 0) {
            if (idx < 0 || idx >= count)
                return rd_fail(err, RD_ERR_NO_DEVICE, "%s=%s: no device with that index (%d found; see 'radars devices')",
                               source, sel, count);
            *chosen = (int)idx;
            return RD_OK;
        }
        for (int i = 0; i < count; i++)
            if (contains_ci(devs[i].name, sel) || contains_ci(devs[i].vendor, sel) ||
                contains_ci(devs[i].platform_name, sel)) {
                *chosen = i;
                return RD_OK;
            }
        return rd_fail(err, RD_ERR_NO_DEVICE, "%s=%s: no device name matches (see 'radars devices')", source, sel);
    }
    const cl_device_type order[] = {CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_ACCELERATOR, CL_DEVICE_TYPE_CPU};
    for (int t = 0; t < 3; t++) {
        int of_kind = 0;
        for (int i = 0; i < count; i++) of_kind += (devs[i].type & order[t]) != 0;
        if (!of_kind) continue;
        int want = (nth < 0 ? 0 : nth) % of_kind;
        for (int i = 0; i < count; i++)
            if ((devs[i].type & order[t]) && want-- == 0) { *chosen = i; return RD_OK; }
    }
    *chosen = 0;
    return RD_OK;
}

static void default_cache_dir(char *out, size_t len) {
    const char *env = getenv("RADARS_CACHE_DIR");
    if (env) { snprintf(out, len, "%s", env); return; }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) { snprintf(out, len, "%s/radars-cl", xdg); return; }
    const char *home = getenv("HOME");
    if (home && *home) { snprintf(out, len, "%s/.cache/radars-cl", home); return; }
    out[0] = 0;
}

/* POCL caches every build and every compiled work-group function itself
 * (POCL_CACHE_DIR); asking it for a program binary makes it compile each kernel
 * of the program once more for a generic work-group size that no launch uses:
 * 4 minutes of a 4-minute cold selfcheck. Every other driver gets our cache. */
static int binary_cache_wanted(const rd_device_info *d, int option) {
    const char *env = getenv("RADARS_BINARY_CACHE");
    if (option == 0 && env && *env && strcmp(env, "auto") != 0) option = strcmp(env, "0") ? 1 : -1;
    if (option) return option > 0;
    return !rd_platform_is(d, RD_PLATFORM_POCL);
}

rd_status rd_ctx_create(const rd_ctx_options *opt, rd_ctx **out, rd_err *err) {
    static const rd_ctx_options defaults = {0};
    if (!opt) opt = &defaults;
    *out = NULL;
    rd_device_info *devs = NULL;
    int count = 0, chosen = 0;
    RD_TRY(rd_list_devices(&devs, &count, err));
    rd_status s = rd_select_device_nth(devs, count, opt->device, opt->nth, &chosen, err);
    if (s != RD_OK) { free(devs); return s; }
    rd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { free(devs); return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory"); }
    ctx->dev = devs[chosen];
    free(devs);
    ctx->verbose = opt->verbose;
    if (opt->cache_dir) snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", opt->cache_dir);
    else default_cache_dir(ctx->cache_dir, sizeof ctx->cache_dir);
    rd_tuning_defaults(&ctx->dev, &ctx->tune);
    ctx->wg = (size_t)ctx->tune.wg;
    ctx->binary_cache = binary_cache_wanted(&ctx->dev, opt->binary_cache);
    ctx->oclgrind_shadow = rd_platform_is(&ctx->dev, RD_PLATFORM_OCLGRIND);
    const char *fa = getenv("RADARS_FAULT_ALLOC"), *fl = getenv("RADARS_FAULT_LAUNCH");
    ctx->fault_alloc = fa ? strtoll(fa, NULL, 10) : 0;
    ctx->fault_launch = fl ? strtoll(fl, NULL, 10) : 0;

    cl_int rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->dev.platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->dev.device, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) {
        rd_fail(err, RD_ERR_CL, "cannot create an OpenCL context on '%s': %s", ctx->dev.name, rd_cl_error_name(rc));
        free(ctx);
        return RD_ERR_CL;
    }
    const char *prof = getenv("RADARS_PROFILE");
    ctx->profile = opt->profile || (prof && *prof && strcmp(prof, "0"));
    snprintf(ctx->blas_slot.name, sizeof ctx->blas_slot.name, "clblast_sgemm");
    ctx->blas_slot.program = "clblast";
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->dev.device,
                                      ctx->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &rc);
    if (rc != CL_SUCCESS) {
        rd_fail(err, RD_ERR_CL, "cannot create a command queue on '%s': %s", ctx->dev.name, rd_cl_error_name(rc));
        clReleaseContext(ctx->context);
        free(ctx);
        return RD_ERR_CL;
    }
    rd_ctx_build_options(ctx);
    ctx->mem_cap = ctx->dev.global_mem;
    if (opt->mem_cap) {
        s = rd_mem_set_cap(ctx, opt->mem_cap);
        if (s != RD_OK) { *err = ctx->err; rd_ctx_free(ctx); return s; }
    }
    *out = ctx;
    return RD_OK;
}

void rd_ctx_free(rd_ctx *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    for (int i = 0; i < ctx->n_pending; i++) clReleaseEvent(ctx->pending[i]);
    rd_scratch_release(ctx);
    for (int i = 0; i < RD_KERNEL_TABLE; i++)
        if (ctx->kernels[i].kernel) clReleaseKernel(ctx->kernels[i].kernel);
    for (int i = 0; i < ctx->n_programs; i++)
        if (ctx->programs[i].program) clReleaseProgram(ctx->programs[i].program);
    while (ctx->live) rd_free(ctx, ctx->live);
    rd_release_retired(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

const rd_device_info *rd_ctx_device(const rd_ctx *ctx) { return &ctx->dev; }
cl_context rd_ctx_cl_context(const rd_ctx *ctx) { return ctx->context; }
cl_command_queue rd_ctx_queue(const rd_ctx *ctx) { return ctx->queue; }
rd_err *rd_ctx_err(rd_ctx *ctx) { return &ctx->err; }

rd_status rd_ctx_take_error(rd_ctx *ctx, rd_err *err) {
    if (!ctx->err.code) rd_fail(&ctx->err, RD_ERR_CL, "OpenCL call failed without a message");
    if (err != &ctx->err) *err = ctx->err;
    return ctx->err.code;
}
const char *rd_ctx_error(const rd_ctx *ctx) { return ctx->err.msg; }
rd_build_stats rd_ctx_build_stats(const rd_ctx *ctx) { return ctx->build; }
const char *rd_ctx_cache_dir(const rd_ctx *ctx) { return ctx->cache_dir; }

rd_status rd_finish(rd_ctx *ctx) {
    cl_int rc = clFinish(ctx->queue);
    if (rc != CL_SUCCESS) return rd_cl_fail(ctx, rc, "waiting for the device '%s'", ctx->dev.name);
    return RD_OK;
}

const char *rd_cl_error_name(cl_int code) {
    switch (code) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_HOST_PTR) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE)
    E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION)
    E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET)
    E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

rd_status rd_cl_fail(rd_ctx *ctx, cl_int code, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    rd_status s = (code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES ||
                   code == CL_OUT_OF_HOST_MEMORY) ? RD_ERR_OUT_OF_MEMORY : RD_ERR_CL;
    return rd_fail(&ctx->err, s, "%s: %s (%d)", what, rd_cl_error_name(code), (int)code);
}
