/* Metrics JSON lines: records of every kind written and read back, appends
 * across opens, a crash's partial line cut, malformed lines refused. */
#include "io_tmp.h"

#include <json-c/json.h>
#include <math.h>

#include "test_util.h"

static void append_epoch(rd_metrics *m, int epoch) {
    rd_err err = {0};
    rd_record *r = rd_record_new();
    ck_assert_ptr_nonnull(r);
    rd_record_int(r, "epoch", epoch);
    rd_record_double(r, "train_loss", 2.5 / (epoch + 1));
    rd_record_double(r, "valid_acc", 0.1 * epoch);
    rd_record_string(r, "phase", "search");
    rd_record_bool(r, "pruned", epoch % 2 == 1);
    float softmax[2][3] = {{0.2f, 0.3f, 0.5f}, {1.0f / 3, 1.0f / 3, 1.0f / 3}};
    rd_record_matrix_f(r, "alpha_normal", &softmax[0][0], 2, 3);
    double times[3] = {0.125, 1e-7, 12345.678};
    rd_record_doubles(r, "step_time", times, 3);
    rd_record_int(r, "peak_bytes", 3000000000ll);
    ck_assert_int_eq(rd_metrics_append(m, r, &err), RD_OK);
    rd_record_free(r);
}

START_TEST(write_and_read_back) {
    rd_err err = {0};
    const char *p = io_tmp_path("run/sub/metrics.jsonl"); /* parents are created */
    rd_metrics *m = NULL;
    ck_assert_int_eq(rd_metrics_open(p, &m, &err), RD_OK);
    append_epoch(m, 0);
    append_epoch(m, 1);
    /* flushed per record: visible to a reader before close */
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(rd_read_file(p, &text, &len, &err), RD_OK);
    ck_assert_int_eq(text[len - 1], '\n');
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    ck_assert_int_eq(lines, 2);
    /* numbers in their shortest exact form */
    IO_ASSERT_HAS(text, "\"train_loss\":2.5,");
    IO_ASSERT_HAS(text, "\"alpha_normal\":[[0.2,0.3,0.5],[0.33333334,0.33333334,0.33333334]]");
    IO_ASSERT_HAS(text, "\"step_time\":[0.125,1e-07,12345.678]");
    IO_ASSERT_HAS(text, "\"peak_bytes\":3000000000");
    free(text);
    ck_assert_int_eq(rd_metrics_close(m, &err), RD_OK);

    /* reopening appends */
    ck_assert_int_eq(rd_metrics_open(p, &m, &err), RD_OK);
    append_epoch(m, 2);
    /* non-finite numbers survive the round trip */
    rd_record *r = rd_record_new();
    rd_record_double(r, "loss", NAN);
    rd_record_double(r, "grad_norm", INFINITY);
    rd_record_double(r, "x", -INFINITY);
    rd_record_double(r, "tiny", 5e-324);
    rd_record_string(r, "path", "runs/a \"quoted\" name");
    rd_record_double(r, "x", 1.0); /* replaces */
    ck_assert_int_eq(rd_metrics_append(m, r, &err), RD_OK);
    rd_record_free(r);
    ck_assert_int_eq(rd_metrics_close(m, &err), RD_OK);

    rd_metrics_reader *rd = NULL;
    ck_assert_int_eq(rd_metrics_reader_open(p, &rd, &err), RD_OK);
    const rd_record *rec;
    for (int e = 0; e < 3; e++) {
        ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
        ck_assert_ptr_nonnull(rec);
        ck_assert_int_eq(rd_record_get_int(rec, "epoch"), e);
        ck_assert(rd_record_get_double(rec, "train_loss") == 2.5 / (e + 1));
        ck_assert(rd_record_get_double(rec, "valid_acc") == 0.1 * e);
        ck_assert_str_eq(rd_record_get_string(rec, "phase"), "search");
        ck_assert_int_eq(rd_record_get_int(rec, "peak_bytes"), 3000000000ll);
        double a[8];
        ck_assert_uint_eq(rd_record_get_doubles(rec, "alpha_normal", a, 8), 6);
        /* floats are written in their shortest float form: exact once read back as float */
        ck_assert(a[2] == 0.5f && (float)a[5] == 1.0f / 3);
        ck_assert_uint_eq(rd_record_get_doubles(rec, "step_time", a, 2), 3); /* length, copies only 2 */
        ck_assert(a[0] == 0.125 && a[1] == 1e-7);
        ck_assert(rd_record_has(rec, "pruned"));
        ck_assert(!rd_record_has(rec, "nope"));
        ck_assert(isnan(rd_record_get_double(rec, "nope")));
        ck_assert_ptr_null(rd_record_get_string(rec, "epoch"));
        ck_assert_uint_eq(rd_record_get_doubles(rec, "epoch", a, 8), 0);
    }
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
    ck_assert(isnan(rd_record_get_double(rec, "loss")));
    ck_assert(rd_record_get_double(rec, "grad_norm") == INFINITY);
    ck_assert(rd_record_get_double(rec, "x") == 1.0);
    ck_assert(rd_record_get_double(rec, "tiny") == 5e-324);
    ck_assert_str_eq(rd_record_get_string(rec, "path"), "runs/a \"quoted\" name");
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
    ck_assert_ptr_null(rec);
    rd_metrics_reader_close(rd);
}
END_TEST

START_TEST(partial_last_line_is_cut) {
    rd_err err = {0};
    const char *p = io_tmp_path("crash.jsonl");
    /* a crash left half a record */
    io_write_text(p, "{\"epoch\":0}\n{\"epoch\":1}\n{\"epo");
    rd_metrics_reader *rd = NULL;
    const rd_record *rec;
    ck_assert_int_eq(rd_metrics_reader_open(p, &rd, &err), RD_OK);
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
    ck_assert_int_eq(rd_record_get_int(rec, "epoch"), 0);
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
    ck_assert_int_eq(rd_record_get_int(rec, "epoch"), 1);
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
    ck_assert_ptr_null(rec); /* the unfinished record is not one */
    rd_metrics_reader_close(rd);

    rd_metrics *m = NULL;
    ck_assert_int_eq(rd_metrics_open(p, &m, &err), RD_OK);
    rd_record *r = rd_record_new();
    rd_record_int(r, "epoch", 2);
    ck_assert_int_eq(rd_metrics_append(m, r, &err), RD_OK);
    rd_record_free(r);
    ck_assert_int_eq(rd_metrics_close(m, &err), RD_OK);
    char *text = NULL;
    ck_assert_int_eq(rd_read_file(p, &text, NULL, &err), RD_OK);
    ck_assert_str_eq(text, "{\"epoch\":0}\n{\"epoch\":1}\n{\"epoch\":2}\n");
    free(text);
    /* a file that is nothing but a partial line */
    io_write_text(p, "{\"a\":");
    ck_assert_int_eq(rd_metrics_open(p, &m, &err), RD_OK);
    ck_assert_int_eq(rd_metrics_close(m, &err), RD_OK);
    ck_assert_int_eq(rd_read_file(p, &text, NULL, &err), RD_OK);
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

START_TEST(malformed_lines_refused) {
    static const struct { const char *text, *want; } cases[] = {
        {"{\"a\":1}\n{\"a\":\n", "bad.jsonl:2: not valid JSON: the record is cut short"},
        {"{\"a\":1}\n\n[1,2]\n", "bad.jsonl:3: a record must be a JSON object"},
        {"{\"a\":1} {\"b\":2}\n", "bad.jsonl:1: unexpected text after the record"},
        {"{\"a\":tru}\n", "bad.jsonl:1: not valid JSON"},
        {"hello\n", "bad.jsonl:1: not valid JSON"},
    };
    const char *p = io_tmp_path("bad.jsonl");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        io_write_text(p, cases[i].text);
        rd_err err = {0};
        rd_metrics_reader *rd = NULL;
        ck_assert_int_eq(rd_metrics_reader_open(p, &rd, &err), RD_OK);
        const rd_record *rec;
        rd_status st;
        while ((st = rd_metrics_next(rd, &rec, &err)) == RD_OK && rec) {
        }
        ck_assert_msg(st == RD_ERR_FORMAT, "case %zu: status %s", i, rd_status_name(st));
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].want);
        rd_metrics_reader_close(rd);
    }
    rd_err err = {0};
    rd_metrics_reader *rd = NULL;
    ck_assert_int_eq(rd_metrics_reader_open(io_tmp_path("none.jsonl"), &rd, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "none.jsonl: cannot open");
    rd_metrics *m = NULL;
    io_write_text(io_tmp_path("afile"), "x");
    ck_assert_int_eq(rd_metrics_open(io_tmp_path("afile/m.jsonl"), &m, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "afile");
    ck_assert_int_eq(rd_metrics_close(NULL, &err), RD_OK);
    /* an endless line is refused at RD_TEXT_MAX_BYTES */
    ck_assert_int_eq(rd_metrics_reader_open("/dev/zero", &rd, &err), RD_OK);
    const rd_record *rec;
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "/dev/zero:1: a line longer than 64 MiB");
    rd_metrics_reader_close(rd);
}
END_TEST

START_TEST(record_json_is_usable) {
    rd_record *r = rd_record_new();
    json_object *o = rd_record_json(r);
    json_object_object_add(o, "custom", json_object_new_string("x"));
    ck_assert_str_eq(rd_record_get_string(r, "custom"), "x");
    double m[4] = {1, 2, 3, 4};
    rd_record_matrix(r, "m", m, 2, 2);
    ck_assert_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"custom\":\"x\",\"m\":[[1,2],[3,4]]}");
    rd_record_doubles(r, "empty", NULL, 0);
    double out[1];
    ck_assert_uint_eq(rd_record_get_doubles(r, "empty", out, 1), 0);
    rd_record_free(r);
    rd_record_free(NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("io_metrics");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, write_and_read_back);
    tcase_add_test(tc, partial_last_line_is_cut);
    tcase_add_test(tc, malformed_lines_refused);
    tcase_add_test(tc, record_json_is_usable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
