/* Safetensors: round trip (host data, streamed fills, scalars, empty tensors),
 * every corruption refused with its own message, writer errors leave the old
 * file, and a cross-check with PyTorch reading the file the way the peer does. */
#include "io_tmp.h"

#include <math.h>
#include <sys/stat.h>

#include "test_util.h"

static void put_u64le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A raw file: declared header length (or the real one when declared == UINT64_MAX), header text, data. */
static void raw_file(const char *path, uint64_t declared, const char *header, const void *data, size_t ndata) {
    size_t nh = strlen(header);
    uint8_t *buf = malloc(8 + nh + ndata + 1);
    put_u64le(buf, declared == UINT64_MAX ? nh : declared);
    memcpy(buf + 8, header, nh);
    if (ndata) memcpy(buf + 8 + nh, data, ndata);
    io_write_bytes(path, buf, 8 + nh + ndata);
    free(buf);
}

/* A fill callback producing x[i] = i * 0.5 for a float tensor, recording its calls. */
typedef struct fill_state {
    int calls;
    size_t max_chunk;
    int fail_at_call; /* 0 = never */
} fill_state;

static rd_status fill_ramp(void *user, size_t offset, void *dst, size_t bytes, rd_err *err) {
    fill_state *s = user;
    s->calls++;
    if (bytes > s->max_chunk) s->max_chunk = bytes;
    if (s->fail_at_call && s->calls == s->fail_at_call) return rd_fail(err, RD_ERR_CL, "device read failed");
    ck_assert(offset % 4 == 0 && bytes % 4 == 0);
    float *f = dst;
    for (size_t i = 0; i < bytes / 4; i++) f[i] = (float)((offset / 4 + i) * 0.5);
    return RD_OK;
}

typedef struct sink_state {
    size_t next;
    double sum;
} sink_state;

static rd_status sink_sum(void *user, size_t offset, const void *src, size_t bytes, rd_err *err) {
    sink_state *s = user;
    ck_assert_uint_eq(offset, s->next);
    s->next += bytes;
    const float *f = src;
    for (size_t i = 0; i < bytes / 4; i++) s->sum += f[i];
    return RD_OK;
}

enum { BIG = (RD_ST_CHUNK / 4) * 2 + 1000 }; /* floats: three chunks, the last one short */

START_TEST(round_trip) {
    rd_err err = {0};
    rd_st_writer *w = NULL;
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    float conv[16 * 3 * 3 * 3];
    for (int i = 0; i < 16 * 27; i++) conv[i] = (float)sin(i * 0.1);
    double alphas[14 * 8];
    for (int i = 0; i < 14 * 8; i++) alphas[i] = 1e-3 * (i - 50);
    int64_t steps = 123456789012345ll;
    int32_t labels[5] = {0, -1, 7, 2147483647, -2147483647 - 1};
    uint8_t bytes[3] = {0, 128, 255};
    const int64_t conv_shape[] = {16, 3, 3, 3}, alpha_shape[] = {14, 8}, lab_shape[] = {5}, byte_shape[] = {3},
                  empty_shape[] = {0, 4}, big_shape[] = {BIG};
    ck_assert_int_eq(rd_st_add(w, "cells.3._ops.5._ops.4.op.1.weight", RD_ST_F32, 4, conv_shape, conv, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "alphas_normal", RD_ST_F64, 2, alpha_shape, alphas, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "step", RD_ST_I64, 0, NULL, &steps, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "labels", RD_ST_I32, 1, lab_shape, labels, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "bytes", RD_ST_U8, 1, byte_shape, bytes, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "empty", RD_ST_F32, 2, empty_shape, conv, &err), RD_OK);
    fill_state fs = {0};
    ck_assert_int_eq(rd_st_add_fill(w, "big.streamed", RD_ST_F32, 1, big_shape, fill_ramp, &fs, &err), RD_OK);
    ck_assert_int_eq(rd_st_add_metadata(w, "format", "pt", &err), RD_OK);
    ck_assert_int_eq(rd_st_add_metadata(w, "genotype", "Genotype(normal=[('sep_conv_3x3', 0)])", &err), RD_OK);
    const char *p = io_tmp_path("ckpt.safetensors");
    ck_assert_msg(rd_st_write(w, p, &err) == RD_OK, "%s", err.msg);
    rd_st_writer_free(w);
    ck_assert_int_eq(fs.calls, 3);
    ck_assert_uint_eq(fs.max_chunk, RD_ST_CHUNK);

    /* the header length is a multiple of 8, the header is JSON padded with spaces */
    char *raw = NULL;
    size_t len = 0;
    ck_assert_int_eq(rd_read_file(p, &raw, &len, &err), RD_OK);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)raw[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    ck_assert(raw[8 + hlen - 1] == '}' || raw[8 + hlen - 1] == ' ');
    ck_assert_uint_eq(len, 8 + hlen + sizeof conv + sizeof alphas + 8 + sizeof labels + 3 + (size_t)BIG * 4);
    free(raw);

    rd_st_file *f = NULL;
    ck_assert_msg(rd_st_open(p, &f, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(rd_st_count(f), 7);
    /* data order is the order added */
    static const char *const order[] = {"cells.3._ops.5._ops.4.op.1.weight", "alphas_normal", "step", "labels",
                                        "bytes", "empty", "big.streamed"};
    for (int i = 0; i < 7; i++) ck_assert_str_eq(rd_st_at(f, i)->name, order[i]);
    ck_assert_ptr_null(rd_st_at(f, 7));
    const rd_st_info *t = rd_st_find(f, "alphas_normal");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, RD_ST_F64);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 14);
    ck_assert_int_eq(t->shape[1], 8);
    ck_assert_uint_eq(t->numel, 112);
    ck_assert_uint_eq(t->nbytes, 896);
    ck_assert_ptr_null(rd_st_find(f, "alphas_reduce"));
    t = rd_st_find(f, "step");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    ck_assert_uint_eq(rd_st_find(f, "empty")->nbytes, 0);

    float conv2[16 * 27];
    ck_assert_int_eq(rd_st_read(f, "cells.3._ops.5._ops.4.op.1.weight", RD_ST_F32, 4, conv_shape, conv2, sizeof conv2, &err), RD_OK);
    ck_assert(memcmp(conv, conv2, sizeof conv) == 0);
    double alphas2[112];
    ck_assert_int_eq(rd_st_read(f, "alphas_normal", RD_ST_F64, -1, NULL, alphas2, sizeof alphas2, &err), RD_OK);
    ck_assert(memcmp(alphas, alphas2, sizeof alphas) == 0);
    int64_t steps2 = 0;
    ck_assert_int_eq(rd_st_read(f, "step", RD_ST_I64, 0, NULL, &steps2, 8, &err), RD_OK);
    ck_assert_int_eq(steps2, steps);
    int32_t labels2[5];
    ck_assert_int_eq(rd_st_read(f, "labels", RD_ST_I32, 1, lab_shape, labels2, sizeof labels2, &err), RD_OK);
    ck_assert(memcmp(labels, labels2, sizeof labels) == 0);
    uint8_t bytes2[3];
    ck_assert_int_eq(rd_st_read(f, "bytes", RD_ST_U8, 1, byte_shape, bytes2, 3, &err), RD_OK);
    ck_assert(memcmp(bytes, bytes2, 3) == 0);
    ck_assert_int_eq(rd_st_read(f, "empty", RD_ST_F32, 2, empty_shape, NULL, 0, &err), RD_OK);
    float *big = malloc((size_t)BIG * 4);
    ck_assert_int_eq(rd_st_read(f, "big.streamed", RD_ST_F32, 1, big_shape, big, (size_t)BIG * 4, &err), RD_OK);
    double want = 0;
    for (size_t i = 0; i < BIG; i++) {
        ck_assert(big[i] == (float)(i * 0.5));
        want += big[i];
    }
    free(big);
    sink_state ss = {0};
    ck_assert_int_eq(rd_st_read_stream(f, "big.streamed", RD_ST_F32, 1, big_shape, sink_sum, &ss, &err), RD_OK);
    ck_assert_uint_eq(ss.next, (size_t)BIG * 4);
    ck_assert(ss.sum == want);

    ck_assert_int_eq(rd_st_metadata_count(f), 2);
    ck_assert_str_eq(rd_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(rd_st_metadata(f, "genotype"), "Genotype(normal=[('sep_conv_3x3', 0)])");
    ck_assert_ptr_null(rd_st_metadata(f, "nope"));
    const char *k, *v;
    rd_st_metadata_at(f, 0, &k, &v);
    ck_assert(k && v);

    /* reads with the wrong expectation are refused, naming file and tensor */
    ck_assert_int_eq(rd_st_read(f, "alphas_reduce", RD_ST_F64, -1, NULL, alphas2, sizeof alphas2, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "ckpt.safetensors: no tensor named 'alphas_reduce'");
    ck_assert_int_eq(rd_st_read(f, "alphas_normal", RD_ST_F32, -1, NULL, alphas2, sizeof alphas2, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "tensor 'alphas_normal' is F64, expected F32");
    const int64_t wrong[] = {16, 1, 3, 3};
    ck_assert_int_eq(rd_st_read(f, "cells.3._ops.5._ops.4.op.1.weight", RD_ST_F32, 4, wrong, conv2, sizeof conv2, &err),
                     RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "has shape [16, 3, 3, 3], expected [16, 1, 3, 3]");
    ck_assert_int_eq(rd_st_read(f, "alphas_normal", RD_ST_F64, 1, alpha_shape, alphas2, sizeof alphas2, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "expected [14]");
    ck_assert_int_eq(rd_st_read(f, "alphas_normal", RD_ST_F64, -1, NULL, alphas2, 8, &err), RD_ERR_ARG);
    IO_ASSERT_HAS(err.msg, "896 bytes");
    rd_st_close(f);
}
END_TEST

START_TEST(writer_errors_keep_old_file) {
    rd_err err = {0};
    rd_st_writer *w = NULL;
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    float x[4] = {1, 2, 3, 4};
    const int64_t s4[] = {4}, neg[] = {-1}, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(rd_st_add(w, "x", RD_ST_F32, 1, s4, x, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "x", RD_ST_F32, 1, s4, x, &err), RD_ERR_ARG);
    IO_ASSERT_HAS(err.msg, "'x' added twice");
    ck_assert_int_eq(rd_st_add(w, "", RD_ST_F32, 1, s4, x, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_st_add(w, "__metadata__", RD_ST_F32, 1, s4, x, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_st_add(w, "n", RD_ST_F32, 1, neg, x, &err), RD_ERR_ARG);
    IO_ASSERT_HAS(err.msg, "bad shape [-1]");
    ck_assert_int_eq(rd_st_add(w, "d", RD_ST_F32, 9, nine, x, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_st_add(w, "z", RD_ST_F32, 1, s4, NULL, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_st_add(w, "t", (rd_st_dtype)42, 1, s4, x, &err), RD_ERR_ARG);
    ck_assert_int_eq(rd_st_add_metadata(w, "k", "v", &err), RD_OK);
    ck_assert_int_eq(rd_st_add_metadata(w, "k", "w", &err), RD_ERR_ARG);

    const char *p = io_tmp_path("keep.safetensors");
    ck_assert_int_eq(rd_st_write(w, p, &err), RD_OK);
    struct stat before;
    ck_assert_int_eq(stat(p, &before), 0);

    /* a fill callback failing mid-write: the old file stays, no temporary left */
    fill_state fs = {.fail_at_call = 2};
    const int64_t big[] = {(RD_ST_CHUNK / 4) * 2};
    ck_assert_int_eq(rd_st_add_fill(w, "streamed", RD_ST_F32, 1, big, fill_ramp, &fs, &err), RD_OK);
    ck_assert_int_eq(rd_st_write(w, p, &err), RD_ERR_CL);
    IO_ASSERT_HAS(err.msg, "keep.safetensors: tensor 'streamed': device read failed");
    struct stat after;
    ck_assert_int_eq(stat(p, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size);
    ck_assert_int_eq(after.st_ino, before.st_ino);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);
    rd_st_file *f = NULL;
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_OK);
    ck_assert_int_eq(rd_st_count(f), 1);
    rd_st_close(f);

    /* an unwritable destination */
    ck_assert_int_eq(rd_st_write(w, io_tmp_path("no/dir/x.safetensors"), &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "no/dir/x.safetensors");
    rd_st_writer_free(w);
}
END_TEST

typedef struct corrupt_case {
    const char *header;
    size_t ndata;
    const char *want;
} corrupt_case;

START_TEST(corruptions_refused) {
    rd_err err = {0};
    rd_st_file *f = NULL;
    const char *p = io_tmp_path("bad.safetensors");
    uint8_t data[64];
    for (int i = 0; i < 64; i++) data[i] = (uint8_t)i;

    /* framing */
    io_write_bytes(p, "abc", 3);
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "bad.safetensors: 3 bytes: too short");
    raw_file(p, 1000, "{}", NULL, 0);
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "header length 1000 goes past the end of the file (10 bytes");
    raw_file(p, 0xFFFFFFFFFFFFFFFFull - 1, "{}", NULL, 0);
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "goes past the end");
    raw_file(p, 0, "{}", NULL, 0);
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "header length is 0");
    ck_assert_int_eq(rd_st_open(io_tmp_path("missing.safetensors"), &f, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "missing.safetensors: cannot open");
    ck_assert_int_eq(rd_st_open(io_tmp_dir(), &f, &err), RD_ERR_IO);
    ck_assert_ptr_null(f);

    static const corrupt_case cases[] = {
        {"PK\003\004 not json", 0, "does not start with '{'"},
        {"[1, 2]", 0, "does not start with '{'"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", 4, "header is not valid JSON: unexpected end"},
        {"{\"a\": {\"dtype\": F32}}", 4, "header is not valid JSON"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4],}}", 4, "header is not valid JSON"},
        {"{} {}", 0, "bad.safetensors: header is not valid JSON"}, /* json-c strict mode, or our own check */
        {"{\"a\": 5}", 0, "tensor 'a': entry is not a JSON object"},
        {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'a': no \"dtype\""},
        {"{\"a\": {\"dtype\": 1, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'a': \"dtype\" is not a string"},
        {"{\"a\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, "tensor 'a': unsupported dtype 'BF16'"},
        {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "tensor 'a': no \"shape\""},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4, "tensor 'a': \"shape\" is not an array"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "tensor 'a': shape[0] is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "shape[0] is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4, "9 dimensions"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}", 4, "is too large"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "tensor 'a': no \"data_offsets\""},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "\"data_offsets\" is not [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, -4]}}", 4, "\"data_offsets\" is not [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4, "data_offsets [4, 0] end before they begin"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
         "tensor 'a': data_offsets [0, 16] go past the end of the data (8 bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
         "tensor 'a': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
         "\"b\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
         12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
         "\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [12, 14]}}",
         14, "tensor 'b': gap of 4 unused bytes before its data_offsets [12, 14]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12,
         "4 bytes of data after the last tensor"},
        {"{\"__metadata__\": [\"x\"]}", 0, "\"__metadata__\" is not a JSON object"},
        {"{\"__metadata__\": {\"epoch\": 3}}", 0, "metadata 'epoch' is not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        raw_file(p, UINT64_MAX, cases[i].header, data, cases[i].ndata);
        err.msg[0] = 0;
        rd_status st = rd_st_open(p, &f, &err);
        ck_assert_msg(st == RD_ERR_FORMAT, "case %zu: status %s (%s)", i, rd_status_name(st), err.msg);
        ck_assert_ptr_null(f);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].want);
        ck_assert_msg(strstr(err.msg, "bad.safetensors: "), "case %zu: message '%s' does not name the file", i, err.msg);
    }

    /* a well-formed hand-made file is accepted: the checks above are not over-eager */
    raw_file(p, UINT64_MAX,
             "{\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [8, 10]},"
             " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"__metadata__\": {}}   ",
             data, 10);
    ck_assert_msg(rd_st_open(p, &f, &err) == RD_OK, "%s", err.msg);
    ck_assert_str_eq(rd_st_at(f, 0)->name, "a");
    ck_assert_str_eq(rd_st_at(f, 1)->name, "b");
    uint8_t b2[2];
    ck_assert_int_eq(rd_st_read(f, "b", RD_ST_U8, -1, NULL, b2, 2, &err), RD_OK);
    ck_assert(b2[0] == 8 && b2[1] == 9);
    rd_st_close(f);

    /* a real file cut short */
    rd_st_writer *w = NULL;
    float x[64] = {0};
    const int64_t s[] = {64};
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "x", RD_ST_F32, 1, s, x, &err), RD_OK);
    ck_assert_int_eq(rd_st_write(w, p, &err), RD_OK);
    rd_st_writer_free(w);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_int_eq(truncate(p, sb.st_size - 1), 0);
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "tensor 'x': data_offsets [0, 256] go past the end of the data (255 bytes; file truncated?)");
    ck_assert_int_eq(truncate(p, 20), 0);
    ck_assert_int_eq(rd_st_open(p, &f, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "goes past the end of the file");
}
END_TEST

/* The same reading as load_safetensors in peers/torch_darts_ref.py (struct, json,
 * torch.frombuffer), printing name, dtype, shape and sum for each tensor. */
static const char *const py_reader =
    "import json, struct, sys, torch\n"
    "dtypes = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32, 'U8': torch.uint8}\n"
    "blob = open(sys.argv[1], 'rb').read()\n"
    "(n,) = struct.unpack('<Q', blob[:8])\n"
    "header = json.loads(blob[8:8 + n]); data = blob[8 + n:]\n"
    "assert n % 8 == 0, 'header not padded to 8'\n"
    "print('meta', header.get('__metadata__', {}).get('run', '-'))\n"
    "for name, meta in header.items():\n"
    "    if name == '__metadata__': continue\n"
    "    a, b = meta['data_offsets']\n"
    "    t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[meta['dtype']]).reshape(meta['shape'])\n"
    "    print(name, meta['dtype'], 'x'.join(str(d) for d in t.shape) or 'scalar', repr(float(t.double().sum())))\n";

static int python_has_torch(const char *py) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", py);
    return system(cmd) == 0;
}

START_TEST(pytorch_reads_what_we_write) {
    const char *py = getenv("RADARS_PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    if (access(py, X_OK) != 0 || !python_has_torch(py)) {
        printf("pytorch_reads_what_we_write: %s with torch not available: skipped\n", py);
        return;
    }
    rd_err err = {0};
    rd_st_writer *w = NULL;
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    tu_rng rng = {7};
    enum { NW = 16 * 8 * 5 * 5 };
    float wgt[NW];
    double wsum = 0;
    for (int i = 0; i < NW; i++) wsum += wgt[i] = (float)tu_uniform(&rng, -1, 1);
    double al[14 * 15], asum = 0;
    for (int i = 0; i < 14 * 15; i++) asum += al[i] = tu_uniform(&rng, -1e-3, 1e-3);
    int64_t ids[3] = {1ll << 40, -5, 9};
    int32_t small[4] = {-7, 3, 100000, 2};
    uint8_t u8[5] = {255, 1, 2, 3, 4};
    int64_t scalar = 42;
    const int64_t ws[] = {16, 8, 5, 5}, as[] = {14, 15}, is[] = {3}, ss[] = {2, 2}, us[] = {5};
    ck_assert_int_eq(rd_st_add(w, "cells.0._ops.1._ops.5.op.1.weight", RD_ST_F32, 4, ws, wgt, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "alphas_reduce", RD_ST_F64, 2, as, al, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "ids", RD_ST_I64, 1, is, ids, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "small", RD_ST_I32, 2, ss, small, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "u8", RD_ST_U8, 1, us, u8, &err), RD_OK);
    ck_assert_int_eq(rd_st_add(w, "scalar", RD_ST_I64, 0, NULL, &scalar, &err), RD_OK);
    ck_assert_int_eq(rd_st_add_metadata(w, "run", "darts/seed=2", &err), RD_OK);
    const char *p = io_tmp_path("for_torch.safetensors"), *script = io_tmp_path("read.py");
    ck_assert_int_eq(rd_st_write(w, p, &err), RD_OK);
    rd_st_writer_free(w);
    io_write_text(script, py_reader);

    char cmd[1600];
    snprintf(cmd, sizeof cmd, "%s %s %s 2>&1", py, script, p);
    FILE *pipe = popen(cmd, "r");
    ck_assert_ptr_nonnull(pipe);
    char line[512];
    int seen = 0, meta = 0;
    while (fgets(line, sizeof line, pipe)) {
        char name[128], dtype[8], shape[64];
        double sum;
        if (!strncmp(line, "meta ", 5)) {
            ck_assert_str_eq(line, "meta darts/seed=2\n");
            meta = 1;
            continue;
        }
        ck_assert_msg(sscanf(line, "%127s %7s %63s %lf", name, dtype, shape, &sum) == 4, "python said: %s", line);
        seen++;
        if (!strcmp(name, "cells.0._ops.1._ops.5.op.1.weight")) {
            ck_assert_str_eq(dtype, "F32");
            ck_assert_str_eq(shape, "16x8x5x5");
            ck_assert_msg(fabs(sum - wsum) <= 1e-12 * NW, "weight sum %.17g vs %.17g", sum, wsum);
        } else if (!strcmp(name, "alphas_reduce")) {
            ck_assert_str_eq(shape, "14x15");
            ck_assert_msg(fabs(sum - asum) <= 1e-15, "alpha sum %.17g vs %.17g", sum, asum);
        } else if (!strcmp(name, "ids")) {
            ck_assert(sum == (double)((1ll << 40) + 4));
        } else if (!strcmp(name, "small")) {
            ck_assert_str_eq(shape, "2x2");
            ck_assert(sum == 100000 - 2);
        } else if (!strcmp(name, "u8")) {
            ck_assert(sum == 265);
        } else if (!strcmp(name, "scalar")) {
            ck_assert_str_eq(shape, "scalar");
            ck_assert(sum == 42);
        } else {
            ck_abort_msg("unexpected line from python: %s", line);
        }
    }
    int rc = pclose(pipe);
    ck_assert_msg(rc == 0, "python exited with %d", rc);
    ck_assert_int_eq(seen, 6);
    ck_assert(meta);
}
END_TEST

/* base64 as checkpoints use it: canonical text only; and every message one line */
START_TEST(base64_canonical_and_messages_one_line) {
    rd_err err;
    for (size_t n = 0; n <= 10; n++) {
        unsigned char in[10], out[10];
        for (size_t i = 0; i < n; i++) in[i] = (unsigned char)(37 * i + 11);
        char *t = rd_base64_encode(in, n);
        ck_assert_uint_eq(strlen(t), rd_base64_length(n));
        ck_assert_int_eq(rd_base64_decode(t, out, n, "x", &err), RD_OK);
        ck_assert(n == 0 || !memcmp(in, out, n));
        free(t);
    }
    unsigned char out[16];
    /* '=' before the end, bits past the end, padding where the length needs none: refused */
    const char *bad[][2] = {{"BgcICQoLDA0ODw==DA0ODw==", "16"}, {"QR==", "1"}, {"QUI=", "3"}, {"QUJD", "2"}, {"Q=JD", "3"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(rd_base64_decode(bad[i][0], out, (size_t)atoi(bad[i][1]), "metadata 'm'", &err) == RD_ERR_FORMAT,
                      "'%s' (%s bytes) accepted", bad[i][0], bad[i][1]);
        ck_assert_ptr_nonnull(strstr(err.msg, "metadata 'm'"));
    }
    ck_assert_int_eq(rd_base64_decode("QQ==", out, 1, "x", &err), RD_OK);
    ck_assert_int_eq(out[0], 'A');
    /* a value with control characters (a crafted tensor name) cannot break the message's line */
    rd_fail(&err, RD_ERR_FORMAT, "f: tensor '%s'", "a\nb\rc\td");
    ck_assert_str_eq(err.msg, "f: tensor 'a?b?c?d'");
    rd_err_prefix(&err, "p\nq");
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("io_safetensors");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, writer_errors_keep_old_file);
    tcase_add_test(tc, corruptions_refused);
    tcase_add_test(tc, pytorch_reads_what_we_write);
    tcase_add_test(tc, base64_canonical_and_messages_one_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
