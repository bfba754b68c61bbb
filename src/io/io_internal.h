/* Internal to src/io: number formatting shared by the config writer and the metrics. */
#ifndef RADARS_IO_INTERNAL_H
#define RADARS_IO_INTERNAL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/c_locale.h"

/* The shortest "%.Ng" text that reads back (strtod) as exactly v; whole
 * numbers are written in full ("10000", not "1e+04"). */
static inline void io_shortest_double(double v, char *buf, size_t len) {
    RD_C_LOCALE_BEGIN;
    if (v == trunc(v) && fabs(v) < 1e15) {
        snprintf(buf, len, "%.0f", v);
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, len, "%.*g", p, v);
            if (strtod(buf, NULL) == v) break;
        }
    }
    RD_C_LOCALE_END;
}

/* The same for a float: the shortest text that reads back as the same float. */
static inline void io_shortest_float(float v, char *buf, size_t len) {
    RD_C_LOCALE_BEGIN;
    if (v == truncf(v) && fabsf(v) < 1e15f) {
        snprintf(buf, len, "%.0f", (double)v);
    } else {
        for (int p = 1; p <= 9; p++) {
            snprintf(buf, len, "%.*g", p, (double)v);
            if ((float)strtod(buf, NULL) == v) break;
        }
    }
    RD_C_LOCALE_END;
}

#endif
