/* The counted device allocator: every device buffer of the library comes from
 * here, so current and peak bytes are known exactly and a cap is enforced
 * before the driver is asked (a refused request allocates nothing). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "runtime/c_locale.h"

rd_status rd_alloc(rd_ctx *ctx, size_t bytes, const char *what, rd_buffer **out) {
    *out = NULL;
    if (bytes == 0) bytes = 4;  /* OpenCL refuses empty buffers; keep the call uniform */
    if (bytes > ctx->dev.max_alloc) {
        ctx->mem_refused++;
        return rd_fail(&ctx->err, RD_ERR_TOO_LARGE,
                       "device buffer '%s' of %s exceeds the largest single allocation of '%s' (%s, CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                       what, RD_BYTES(bytes), ctx->dev.name,
                       RD_BYTES(ctx->dev.max_alloc));
    }
    if (ctx->mem_current + bytes > ctx->mem_cap) {
        ctx->mem_refused++;
        return rd_fail(&ctx->err, RD_ERR_OVER_CAP,
                       "device buffer '%s' of %s refused: %s already in use, cap %s",
                       what, RD_BYTES(bytes),
                       RD_BYTES(ctx->mem_current),
                       RD_BYTES(ctx->mem_cap));
    }
    rd_buffer *b = calloc(1, sizeof *b);
    if (!b) return rd_fail(&ctx->err, RD_ERR_OUT_OF_MEMORY, "out of host memory for buffer '%s'", what);
    cl_int rc;
    if (++ctx->n_alloc_calls == ctx->fault_alloc) {
        b->mem = NULL;
        rc = CL_MEM_OBJECT_ALLOCATION_FAILURE; /* injected (RADARS_FAULT_ALLOC) */
    } else {
        b->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    }
    if (rc != CL_SUCCESS) {
        free(b);
        ctx->mem_refused++;
        return rd_cl_fail(ctx, rc, "allocating device buffer '%s' of %s on '%s'", what,
                          RD_BYTES(bytes), ctx->dev.name);
    }
    b->bytes = bytes;
    snprintf(b->what, sizeof b->what, "%s", what ? what : "?");
    b->next = ctx->live;
    if (ctx->live) ctx->live->prev = b;
    ctx->live = b;
    ctx->mem_current += bytes;
    ctx->mem_live++;
    ctx->mem_total_allocs++;
    if (ctx->mem_current > ctx->mem_peak) ctx->mem_peak = ctx->mem_current;
    *out = b;
    return RD_OK;
}

int rd_retire(rd_ctx *ctx, cl_mem mem) {
    if (ctx->n_retired == ctx->cap_retired) {
        size_t cap = ctx->cap_retired ? 2 * ctx->cap_retired : 64;
        cl_mem *r = realloc(ctx->retired, cap * sizeof *r);
        if (!r) return 0;
        ctx->retired = r;
        ctx->cap_retired = cap;
    }
    ctx->retired[ctx->n_retired++] = mem;
    return 1;
}

void rd_free(rd_ctx *ctx, rd_buffer *b) {
    if (!b) return;
    if (b->prev) b->prev->next = b->next;
    else ctx->live = b->next;
    if (b->next) b->next->prev = b->prev;
    ctx->mem_current -= b->bytes;
    ctx->mem_live--;
    if (!ctx->oclgrind_shadow || !rd_retire(ctx, b->mem)) clReleaseMemObject(b->mem);
    free(b);
}

void rd_release_retired(rd_ctx *ctx) {
    for (size_t i = 0; i < ctx->n_retired; i++) clReleaseMemObject(ctx->retired[i]);
    free(ctx->retired);
    ctx->retired = NULL;
    ctx->n_retired = ctx->cap_retired = 0;
}

cl_mem rd_buffer_mem(const rd_buffer *b) { return b ? b->mem : NULL; }
size_t rd_buffer_bytes(const rd_buffer *b) { return b ? b->bytes : 0; }

rd_mem_stats rd_mem_get_stats(const rd_ctx *ctx) {
    rd_mem_stats s = {ctx->mem_current, ctx->mem_peak, ctx->mem_cap, ctx->dev.max_alloc,
                      ctx->mem_live, ctx->mem_total_allocs, ctx->mem_refused};
    return s;
}

void rd_mem_reset_peak(rd_ctx *ctx) { ctx->mem_peak = ctx->mem_current; }

rd_status rd_mem_set_cap(rd_ctx *ctx, uint64_t cap) {
    if (cap == 0) cap = ctx->dev.global_mem;
    if (cap < ctx->mem_current)
        return rd_fail(&ctx->err, RD_ERR_ARG, "memory cap %s is below the %s already in use",
                       RD_BYTES(cap), RD_BYTES(ctx->mem_current));
    ctx->mem_cap = cap;
    return RD_OK;
}

void rd_mem_dump(const rd_ctx *ctx) {
    char b[32];
    for (const rd_buffer *p = ctx->live; p; p = p->next)
        fprintf(stderr, "  live buffer '%s': %s\n", p->what, rd_format_bytes(p->bytes, b, sizeof b));
}

rd_status rd_scratch_reserve(rd_ctx *ctx, int slot, size_t bytes) {
    if (slot < 0 || slot >= RD_SCRATCH_SLOTS)
        return rd_fail(&ctx->err, RD_ERR_ARG, "scratch slot %d out of range", slot);
    rd_buffer *cur = ctx->scratch[slot];
    if (cur && cur->bytes >= bytes) return RD_OK;
    /* Free first so growing never holds both: the in-order queue keeps the old
     * memory alive for commands already enqueued. */
    if (cur) rd_free(ctx, cur);
    ctx->scratch[slot] = NULL;
    char what[32];
    snprintf(what, sizeof what, "scratch[%d]", slot);
    return rd_alloc(ctx, bytes, what, &ctx->scratch[slot]);
}

rd_status rd_scratch(rd_ctx *ctx, int slot, size_t bytes, cl_mem *out) {
    RD_TRY(rd_scratch_reserve(ctx, slot, bytes));
    *out = ctx->scratch[slot]->mem;
    return RD_OK;
}

void rd_scratch_release(rd_ctx *ctx) {
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++) {
        rd_free(ctx, ctx->scratch[i]);
        ctx->scratch[i] = NULL;
    }
}

static rd_status rd_parse_bytes_c(const char *s, uint64_t *out, rd_err *err) {
    if (!s || !*s) return rd_fail(err, RD_ERR_ARG, "empty memory size");
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || !isfinite(v))
        return rd_fail(err, RD_ERR_ARG, "'%s' is not a memory size (e.g. 2GiB, 512MiB, 1.5G)", s);
    while (*end == ' ') end++;
    double mult = 1;
    char unit[8] = "";
    size_t i = 0;
    while (end[i] && i < sizeof unit - 1) { unit[i] = (char)tolower((unsigned char)end[i]); i++; }
    if (end[i]) return rd_fail(err, RD_ERR_ARG, "'%s' is not a memory size (e.g. 2GiB, 512MiB, 1.5G)", s);
    if (!*unit || !strcmp(unit, "b")) mult = 1;
    else if (!strcmp(unit, "k") || !strcmp(unit, "kib") || !strcmp(unit, "kb")) mult = 1024.0;
    else if (!strcmp(unit, "m") || !strcmp(unit, "mib") || !strcmp(unit, "mb")) mult = 1024.0 * 1024;
    else if (!strcmp(unit, "g") || !strcmp(unit, "gib") || !strcmp(unit, "gb")) mult = 1024.0 * 1024 * 1024;
    else if (!strcmp(unit, "t") || !strcmp(unit, "tib") || !strcmp(unit, "tb")) mult = 1024.0 * 1024 * 1024 * 1024;
    else return rd_fail(err, RD_ERR_ARG, "'%s': unknown unit '%s' (use B, KiB, MiB, GiB, TiB)", s, end);
    double bytes = v * mult;
    if (bytes > 1.8e19) return rd_fail(err, RD_ERR_ARG, "'%s' is too large", s);
    *out = (uint64_t)bytes;
    return RD_OK;
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
rd_status rd_parse_bytes(const char *s, uint64_t *out, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = rd_parse_bytes_c(s, out, err);
    RD_C_LOCALE_END;
    return r_;
}

static const char *rd_format_bytes_c(uint64_t bytes, char *buf, size_t len) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) { v /= 1024; u++; }
    if (u == 0) snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else snprintf(buf, len, "%.2f %s", v, units[u]);
    return buf;
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
const char *rd_format_bytes(uint64_t bytes, char *buf, size_t len) {
    RD_C_LOCALE_BEGIN;
    const char * r_ = rd_format_bytes_c(bytes, buf, len);
    RD_C_LOCALE_END;
    return r_;
}
