/* Internal to src/io: number formatting shared by the config writer and the metrics. */
#ifndef RADARS_IO_INTERNAL_H
#define RADARS_IO_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

/* The shortest "%.Ng" text that reads back (strtod) as exactly v. */
static inline void io_shortest_double(double v, char *buf, size_t len) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* The same for a float: the shortest text that reads back as the same float. */
static inline void io_shortest_float(float v, char *buf, size_t len) {
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, len, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v) return;
    }
}

#endif
