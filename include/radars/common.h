/* radars-cl: status codes and error messages shared by every area.
 * The library never exits: a fallible call returns an rd_status and leaves a
 * one-line message (naming the file, key, op or buffer at fault) in an rd_err. */
#ifndef RADARS_COMMON_H
#define RADARS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rd_status {
    RD_OK = 0,
    RD_ERR_ARG,          /* bad argument: shape mismatch, unknown name, out-of-range value */
    RD_ERR_NO_PLATFORM,  /* no OpenCL platform / ICD installed */
    RD_ERR_NO_DEVICE,    /* no device, or none matches the selection */
    RD_ERR_CL,           /* an OpenCL call failed */
    RD_ERR_BUILD,        /* a kernel program failed to build */
    RD_ERR_OVER_CAP,     /* a device allocation would exceed the memory cap */
    RD_ERR_TOO_LARGE,    /* a single buffer above CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    RD_ERR_OUT_OF_MEMORY,/* the device or host refused an allocation */
    RD_ERR_IO,           /* a file could not be read or written */
    RD_ERR_FORMAT,       /* a file is corrupt or not in the expected format */
    RD_ERR_CONFIG,       /* a config key is unknown, mistyped or out of range */
    RD_ERR_BLAS,         /* CLBlast returned an error */
    RD_ERR_NUMERIC,      /* NaN / Inf where a finite value is required */
    RD_ERR_INTERRUPTED   /* stopped by the user (signal) */
} rd_status;

typedef struct rd_err {
    rd_status code;
    char msg[1024];
} rd_err;

/* Short name of a status code ("over-cap", "build", ...). */
const char *rd_status_name(rd_status s);

/* Records code and a printf-style message in err (if non-NULL); returns code. */
rd_status rd_fail(rd_err *err, rd_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the message already in err with "prefix: " (adds context as an error travels up). */
rd_status rd_err_prefix(rd_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Returns the status of expr from the enclosing function unless it is RD_OK. */
#define RD_TRY(expr) do { rd_status rd_try_s_ = (expr); if (rd_try_s_ != RD_OK) return rd_try_s_; } while (0)

#ifdef __cplusplus
}
#endif
#endif
