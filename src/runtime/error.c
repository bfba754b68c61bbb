/* Status names and error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "radars/common.h"

const char *rd_status_name(rd_status s) {
    switch (s) {
    case RD_OK: return "ok";
    case RD_ERR_ARG: return "bad-argument";
    case RD_ERR_NO_PLATFORM: return "no-opencl-platform";
    case RD_ERR_NO_DEVICE: return "no-device";
    case RD_ERR_CL: return "opencl";
    case RD_ERR_BUILD: return "kernel-build";
    case RD_ERR_OVER_CAP: return "over-memory-cap";
    case RD_ERR_TOO_LARGE: return "buffer-too-large";
    case RD_ERR_OUT_OF_MEMORY: return "out-of-memory";
    case RD_ERR_IO: return "io";
    case RD_ERR_FORMAT: return "format";
    case RD_ERR_CONFIG: return "config";
    case RD_ERR_BLAS: return "clblast";
    case RD_ERR_NUMERIC: return "numeric";
    case RD_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}

rd_status rd_fail(rd_err *err, rd_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

rd_status rd_err_prefix(rd_err *err, const char *fmt, ...) {
    if (!err) return RD_OK;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t np = strlen(prefix);
    if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, ": ", 2);
    size_t room = sizeof err->msg - np - 3, no = strnlen(old, room);
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = 0;
    return err->code;
}
