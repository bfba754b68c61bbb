/* radars-cl: per-device kernel tuning (radars tune).
 *
 * rd_tune times every tunable kernel parameter (rd_tunables, radars/device.h)
 * at a recipe's shapes — the whole mixed op of the recipe's op set, every
 * candidate forward and backward, at each distinct edge shape of its supernet,
 * weighted by how many edges have it — one parameter at a time from the
 * device's defaults, and keeps a candidate only when it is faster by more than
 * the noise margin. The winners go to <cache dir>/tuning-<device key>.json
 * (device, driver and a hash of the kernel sources in it); rd_tuning_load
 * applies them to a context, and ignores a corrupt or stale file with a reason. */
#ifndef RADARS_TUNE_H
#define RADARS_TUNE_H

#include "radars/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rd_tune_request {
    const char *ops;      /* the recipe's op set ("darts", "large" or a list) */
    int C, layers, batch; /* the supernet's channels, cells and batch */
    int hw;               /* input height = width (the first cells run at it) */
    double budget_s;      /* wall-clock limit of the timing (0: 600 s); what is left untimed keeps its default */
    FILE *progress;       /* one line per candidate (NULL: quiet) */
} rd_tune_request;

typedef struct rd_tune_result {
    rd_tuning tuning;        /* the winners */
    rd_tuning defaults;      /* the device's defaults it started from */
    double default_s;        /* weighted time of one pass over the edges with the defaults */
    double tuned_s;          /* the same with the winners */
    double elapsed_s;        /* the whole tuning, builds included */
    int timed, skipped;      /* candidates timed; candidates left out by the budget */
    char path[1100];         /* the tuning file written */
} rd_tune_result;

/* Tunes the device opt selects and writes its tuning file. */
rd_status rd_tune(const rd_ctx_options *opt, const rd_tune_request *req, rd_tune_result *out, rd_err *err);

/* <cache dir>/tuning-<16 hex digits of platform, device and driver>.json */
void rd_tuning_path(const char *cache_dir, const rd_device_info *dev, char *out, size_t len);

typedef enum rd_tuning_source {
    RD_TUNING_LOADED,   /* the device's tuning file applied */
    RD_TUNING_NONE,     /* no tuning file for this device: defaults */
    RD_TUNING_IGNORED,  /* a corrupt or stale file: defaults, note says why */
    RD_TUNING_OFF       /* RADARS_TUNING=0 or no cache directory: defaults */
} rd_tuning_source;
/* Applies the device's tuning file to ctx (before its first kernel is built) and
 * writes one line for the user into note ("kernel parameters: ..."). Never fails:
 * anything wrong with the file leaves the defaults, and note says so. */
rd_tuning_source rd_tuning_load(rd_ctx *ctx, char *note, size_t len);
/* Reads and checks a tuning file for dev (RD_ERR_IO / RD_ERR_FORMAT naming the file and why). */
rd_status rd_tuning_read(const char *path, const rd_device_info *dev, rd_tuning *out, rd_err *err);

#ifdef __cplusplus
}
#endif
#endif
