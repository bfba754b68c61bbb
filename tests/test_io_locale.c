/* A host program in a locale with a decimal comma (de_DE) gets the same files
 * and messages as one in the C locale: recipes written with '.', numbers read
 * with '.', metadata, metrics and messages too (runtime/c_locale.h). The
 * locale is compiled for the test with localedef (package locales). */
#include "io_tmp.h" /* first: it asks for nftw */

#include <locale.h>
#include <math.h>

#include "radars/radars.h"
#include "test_util.h"

static int g_have_locale;

/* de_DE.UTF-8 under a private LOCPATH, made with localedef; 0 when that cannot be done */
static int comma_locale(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' > /dev/null 2>&1", io_tmp_dir());
    if (system(cmd) != 0) return 0;
    setenv("LOCPATH", io_tmp_dir(), 1);
    if (!setlocale(LC_ALL, "de_DE.UTF-8")) return 0;
    char buf[16];
    snprintf(buf, sizeof buf, "%.1f", 0.5);
    return strcmp(buf, "0,5") == 0; /* the host program's own printf is localised */
}

START_TEST(numbers_are_c_locale) {
    if (!g_have_locale) {
        printf("test_io_locale: skipped (localedef or the de_DE locale data missing: apt-get install locales)\n");
        return;
    }
    rd_err err = {0};
    rd_search_config c;
    ck_assert_int_eq(rd_config_defaults(&rd_search_schema, &c, &err), RD_OK);
    io_write_text(io_tmp_path("x.ini"), "[search]\nw_lr = 0.0125\na_lr = 2.5e-4\n[memory]\ncap = 1.5GiB\n");
    ck_assert_msg(rd_config_load_file(&rd_search_schema, io_tmp_path("x.ini"), &c, &err) == RD_OK, "%s", err.msg);
    ck_assert(c.w_lr == 0.0125);
    ck_assert(fabs(c.a_lr - 2.5e-4) < 1e-18);
    ck_assert_uint_eq(c.mem_cap, (uint64_t)3 << 29);
    char *text = NULL;
    ck_assert_int_eq(rd_config_text(&rd_search_schema, &c, &text, &err), RD_OK);
    ck_assert_msg(strstr(text, "w_lr = 0.0125"), "the recipe was written with a decimal comma");
    rd_search_config back;
    ck_assert_int_eq(rd_config_defaults(&rd_search_schema, &back, &err), RD_OK);
    ck_assert_msg(rd_config_load_string(&rd_search_schema, text, "written", &back, &err) == RD_OK, "%s", err.msg);
    ck_assert(back.w_lr == 0.0125);
    free(text);
    /* out-of-range numbers are refused whatever the locale: 1e-400 is not 0 */
    ck_assert_int_eq(rd_config_set(&rd_search_schema, "search.w_lr=1e-400", &c, &err), RD_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of the range"));
    uint64_t b;
    ck_assert_int_eq(rd_parse_bytes("2.5MiB", &b, &err), RD_OK);
    ck_assert_uint_eq(b, (uint64_t)5 << 19);
    ck_assert_str_eq(RD_BYTES((uint64_t)3 << 29), "1.50 GiB");
    rd_fail(&err, RD_ERR_ARG, "lr %g", 0.5);
    ck_assert_str_eq(err.msg, "lr 0.5");
    /* metadata and metrics */
    rd_st_writer *w;
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    ck_assert_int_eq(rd_st_add_metadataf(w, "x", &err, "%.3f", 0.25), RD_OK);
    const char *st_path = io_tmp_path("m.safetensors");
    ck_assert_int_eq(rd_st_write(w, st_path, &err), RD_OK);
    rd_st_writer_free(w);
    rd_st_file *f;
    ck_assert_int_eq(rd_st_open(st_path, &f, &err), RD_OK);
    ck_assert_str_eq(rd_st_metadata(f, "x"), "0.250");
    rd_st_close(f);
    rd_metrics *m;
    ck_assert_int_eq(rd_metrics_open(io_tmp_path("m.jsonl"), &m, &err), RD_OK);
    rd_record *r = rd_record_new();
    rd_record_double(r, "acc", 0.875);
    float fl[2] = {0.1f, 1.5f};
    rd_record_floats(r, "f", fl, 2);
    ck_assert_int_eq(rd_metrics_append_free(m, r, &err), RD_OK);
    ck_assert_int_eq(rd_metrics_close(m, &err), RD_OK);
    char *raw;
    size_t len;
    ck_assert_int_eq(rd_read_file(io_tmp_path("m.jsonl"), &raw, &len, &err), RD_OK);
    ck_assert_msg(strstr(raw, "0.875") && strstr(raw, "0.1") && strstr(raw, "1.5"), "metrics: %s", raw);
    free(raw);
    rd_metrics_reader *rd;
    ck_assert_int_eq(rd_metrics_reader_open(io_tmp_path("m.jsonl"), &rd, &err), RD_OK);
    const rd_record *rec;
    ck_assert_int_eq(rd_metrics_next(rd, &rec, &err), RD_OK);
    ck_assert(rec && rd_record_get_double(rec, "acc") == 0.875);
    rd_metrics_reader_close(rd);
    /* the host program's locale is left as it was */
    char buf[16];
    snprintf(buf, sizeof buf, "%.1f", 0.5);
    ck_assert_str_eq(buf, "0,5");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("io_locale");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, numbers_are_c_locale);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    g_have_locale = comma_locale();
    return tu_run_suite(suite());
}
