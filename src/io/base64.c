/* Base64 (RFC 4648, with padding): how checkpoints keep binary state (optimizer
 * buffers, policy logits) in safetensors' string-to-string "__metadata__". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/io.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rd_base64_length(size_t bytes) { return 4 * ((bytes + 2) / 3); }

char *rd_base64_encode(const void *data, size_t bytes) {
    const unsigned char *p = data;
    char *out = malloc(rd_base64_length(bytes) + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < bytes; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < bytes ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < bytes ? p[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < bytes ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < bytes ? B64[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static int b64_value(char c) {
    const char *q = c ? strchr(B64, c) : NULL;
    return q ? (int)(q - B64) : -1;
}

/* Canonical text only (what rd_base64_encode writes): '=' exactly where the byte
 * count needs padding, and the unused bits before it zero. */
rd_status rd_base64_decode(const char *text, void *dst, size_t bytes, const char *what, rd_err *err) {
    size_t len = strlen(text);
    if (len != rd_base64_length(bytes))
        return rd_fail(err, RD_ERR_FORMAT, "%s holds %zu characters, expected %zu", what, len, rd_base64_length(bytes));
    size_t pad = (3 - bytes % 3) % 3;
    unsigned char *out = dst;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            int padding = i + 4 == len && j >= 4 - (int)pad;
            v[j] = padding ? (text[i + j] == '=' ? 0 : -1) : b64_value(text[i + j]);
            if (v[j] < 0) return rd_fail(err, RD_ERR_FORMAT, "%s is not base64", what);
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (i + 4 == len && (x & (pad == 2 ? 0xffffu : pad == 1 ? 0xffu : 0u)))
            return rd_fail(err, RD_ERR_FORMAT, "%s is not canonical base64 (bits set past its end)", what);
        for (int j = 0; j < 3 && o < bytes; j++) out[o++] = (unsigned char)(x >> (16 - 8 * j));
    }
    return RD_OK;
}

rd_status rd_st_add_metadata_blob(rd_st_writer *w, const char *key, const void *data, size_t bytes, rd_err *err) {
    char *text = rd_base64_encode(data, bytes);
    if (!text) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    rd_status s = rd_st_add_metadata(w, key, text, err);
    free(text);
    return s;
}

rd_status rd_st_metadata_blob(const rd_st_file *f, const char *path, const char *key, void *dst, size_t bytes,
                              rd_err *err) {
    const char *in = rd_st_metadata(f, key);
    if (!in) return rd_fail(err, RD_ERR_FORMAT, "%s: no metadata '%s'", path, key);
    char what[600];
    snprintf(what, sizeof what, "%s: metadata '%s'", path, key);
    return rd_base64_decode(in, dst, bytes, what, err);
}
