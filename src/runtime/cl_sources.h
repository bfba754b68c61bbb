/* The OpenCL C sources embedded at build time (cmake/embed_cl.cmake). */
#ifndef RADARS_CL_SOURCES_H
#define RADARS_CL_SOURCES_H
#include <stddef.h>

typedef struct rd_cl_source {
    const char *name;   /* file name without .cl */
    const char *text;
    size_t len;
} rd_cl_source;

/* Terminated by an entry with name == NULL. "common" is prepended to every program. */
extern const rd_cl_source rd_cl_sources[];

#endif
