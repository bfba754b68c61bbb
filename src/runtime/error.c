/* Status names and error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "radars/common.h"
#include "runtime/c_locale.h"

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

/* A message is one line of printable text: control characters a file put into
 * it (a tensor name, a metadata value) become '?'. */
static void one_line(char *msg) {
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
}

rd_status rd_fail(rd_err *err, rd_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        RD_C_LOCALE_BEGIN;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        RD_C_LOCALE_END;
        va_end(ap);
        one_line(err->msg);
        err->code = code;
    }
    return code;
}

rd_status rd_err_prefix(rd_err *err, const char *fmt, ...) {
    if (!err) return RD_OK;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    RD_C_LOCALE_BEGIN;
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    RD_C_LOCALE_END;
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t np = strlen(prefix);
    if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, ": ", 2);
    size_t room = sizeof err->msg - np - 3, no = strnlen(old, room);
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = 0;
    one_line(err->msg);
    return err->code;
}
