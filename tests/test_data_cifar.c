/* CIFAR-10 binary loader: batch files written here in the real format (records
 * of 1 label byte + 3072 pixel bytes), read back exactly; malformed files fail
 * with their name in the message. */
#include "data_fixtures.h"
#include "test_util.h"

enum { REC = 3073, PIX = 3072 };
static char g_dir[256];

static void setup(void) { fx_mkdtemp(g_dir, sizeof g_dir, "cifar"); }
static void teardown(void) { fx_rmdir(g_dir); }

/* Writes n records into path; pixel (c, y, x) of record r is f(r, c, y, x); labels from lab. */
static unsigned char pixel_of(int r, int c, int y, int x) { return (unsigned char)(r * 31 + c * 101 + y * 7 + x * 3); }

static void write_batch(const char *path, int first, int n, const unsigned char *labels) {
    unsigned char *b = malloc((size_t)n * REC);
    for (int r = 0; r < n; r++) {
        unsigned char *rec = b + (size_t)r * REC;
        rec[0] = labels[r];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) rec[1 + c * 1024 + y * 32 + x] = pixel_of(first + r, c, y, x);
    }
    fx_write(path, b, (size_t)n * REC, 0);
    free(b);
}

static void check_images(const rd_dataset *ds, int first) {
    for (int r = 0; r < ds->n; r++) {
        const uint8_t *img = rd_dataset_image(ds, r);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    if (img[(c * 32 + y) * 32 + x] != pixel_of(first + r, c, y, x))
                        ck_abort_msg("image %d pixel (%d,%d,%d): %d, expected %d", r, c, y, x,
                                     img[(c * 32 + y) * 32 + x], pixel_of(first + r, c, y, x));
    }
}

START_TEST(cifar_batches_read_exactly) {
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/a.bin", g_dir);
    snprintf(p2, sizeof p2, "%s/b.bin", g_dir);
    unsigned char l1[3] = {0, 9, 4}, l2[2] = {7, 1};
    write_batch(p1, 0, 3, l1);
    write_batch(p2, 3, 2, l2);
    const char *paths[2] = {p1, p2};
    rd_dataset ds;
    rd_err err = {0};
    ck_assert_msg(rd_load_cifar10(paths, 2, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert(ds.n == 5 && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.classes == 10);
    int want[5] = {0, 9, 4, 7, 1};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ds.labels[i], want[i]);
    check_images(&ds, 0);
    ck_assert_str_eq(ds.class_names[0], "airplane");
    ck_assert_str_eq(ds.class_names[9], "truck");
    rd_dataset_free(&ds);
}
END_TEST

START_TEST(cifar_opened_by_name) {
    /* the layout of the tarball: DIR/cifar-10-batches-bin/data_batch_{1..5}.bin, test_batch.bin */
    fx_mkdir(g_dir, "cifar-10-batches-bin");
    char path[512];
    unsigned char labels[4] = {3, 5, 8, 2};
    for (int b = 1; b <= 5; b++) {
        snprintf(path, sizeof path, "%s/cifar-10-batches-bin/data_batch_%d.bin", g_dir, b);
        write_batch(path, (b - 1) * 2, 2, labels);
    }
    snprintf(path, sizeof path, "%s/cifar-10-batches-bin/test_batch.bin", g_dir);
    write_batch(path, 100, 4, labels);
    char spec[300];
    snprintf(spec, sizeof spec, "cifar10:%s", g_dir);
    rd_dataset ds;
    rd_err err = {0};
    ck_assert_msg(rd_dataset_open(spec, "train", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.n, 10);
    check_images(&ds, 0);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(ds.labels[i], labels[i % 2]);
    ck_assert_ptr_nonnull(strstr(ds.description, "CIFAR-10 train"));
    rd_dataset_free(&ds);
    ck_assert_msg(rd_dataset_open(spec, "test", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.n, 4);
    check_images(&ds, 100);
    rd_dataset_free(&ds);
    /* the batches directly in DIR work too */
    snprintf(spec, sizeof spec, "cifar10:%s/cifar-10-batches-bin", g_dir);
    ck_assert_msg(rd_dataset_open(spec, "test", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.n, 4);
    rd_dataset_free(&ds);
    /* a missing batch is named */
    snprintf(path, sizeof path, "%s/cifar-10-batches-bin/data_batch_3.bin", g_dir);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(spec, sizeof spec, "cifar10:%s", g_dir);
    fx_expect_error("missing batch", rd_dataset_open(spec, "train", NULL, &ds, &err), &err, RD_ERR_IO,
                    "data_batch_3.bin", "cannot open");
}
END_TEST

START_TEST(cifar_malformed_inputs_fail_cleanly) {
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s/good.bin", g_dir);
    snprintf(bad, sizeof bad, "%s/bad.bin", g_dir);
    unsigned char labels[3] = {1, 2, 3};
    write_batch(good, 0, 3, labels);
    rd_dataset ds;
    rd_err err = {0};
    const char *paths[2] = {good, bad};
    /* missing */
    fx_expect_error("missing", rd_load_cifar10(paths, 2, &ds, &err), &err, RD_ERR_IO, bad, "cannot open");
    /* truncated: not a whole number of records */
    write_batch(bad, 0, 3, labels);
    fx_truncate(bad, 2 * REC + 100);
    fx_expect_error("truncated", rd_load_cifar10(paths, 2, &ds, &err), &err, RD_ERR_FORMAT, bad, "truncated");
    fx_truncate(bad, 0);
    fx_expect_error("empty", rd_load_cifar10(paths, 2, &ds, &err), &err, RD_ERR_FORMAT, bad, "empty");
    /* label above 9 names the file and the record */
    unsigned char bad_labels[3] = {4, 10, 2};
    write_batch(bad, 0, 3, bad_labels);
    fx_expect_error("label 10", rd_load_cifar10(paths, 2, &ds, &err), &err, RD_ERR_FORMAT, bad,
                    "record 1: label 10 is out of range");
    ck_assert_ptr_null(ds.images);
    /* a folder is not a batch; no file at all is an argument error */
    fx_expect_error("folder", rd_load_cifar10((const char *const[]){g_dir}, 1, &ds, &err), &err, RD_ERR_IO, g_dir,
                    NULL);
    fx_expect_error("no files", rd_load_cifar10(paths, 0, &ds, &err), &err, RD_ERR_ARG, "CIFAR-10", NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("data_cifar");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cifar_batches_read_exactly);
    tcase_add_test(tc, cifar_opened_by_name);
    tcase_add_test(tc, cifar_malformed_inputs_fail_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
