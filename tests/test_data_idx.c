/* IDX loader (MNIST / Fashion-MNIST): files written here in the real format,
 * plain and gzip, read back exactly; every malformed input gives its error;
 * the real Fashion-MNIST when installed. */
#include "data_fixtures.h"
#include "test_util.h"

static char g_dir[256];

/* An IDX file: magic bytes, dims (big-endian), then data. */
static void write_idx(const char *path, int type, int ndim, const unsigned *dims, const unsigned char *data,
                      size_t len, int gz) {
    size_t hl = 4 + 4 * (size_t)ndim;
    unsigned char *b = malloc(hl + len + 1);
    b[0] = 0;
    b[1] = 0;
    b[2] = (unsigned char)type;
    b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    if (len) memcpy(b + hl, data, len);
    fx_write(path, b, hl + len, gz);
    free(b);
}

typedef struct idx_fixture {
    int n, h, w;
    unsigned char *pix, *lab;
    char images[512], labels[512];
} idx_fixture;

static void make_fixture(idx_fixture *f, const char *stem, int n, int h, int w, int gz, unsigned long long seed) {
    f->n = n;
    f->h = h;
    f->w = w;
    f->pix = malloc((size_t)n * h * w);
    f->lab = malloc((size_t)n);
    for (size_t i = 0; i < (size_t)n * h * w; i++) f->pix[i] = (unsigned char)fx_rand(&seed);
    for (int i = 0; i < n; i++) f->lab[i] = (unsigned char)(fx_rand(&seed) % 10);
    for (int i = 1; i < n; i++)
        if (f->lab[i] > 7) f->lab[i] = 3;
    for (int i = 0; i < n && i < 8; i++) f->lab[i] = (unsigned char)(7 - i); /* 7 the largest label; each class once */
    snprintf(f->images, sizeof f->images, "%s/%s-images-idx3-ubyte%s", g_dir, stem, gz ? ".gz" : "");
    snprintf(f->labels, sizeof f->labels, "%s/%s-labels-idx1-ubyte%s", g_dir, stem, gz ? ".gz" : "");
    unsigned di[3] = {(unsigned)n, (unsigned)h, (unsigned)w}, dl[1] = {(unsigned)n};
    write_idx(f->images, 0x08, 3, di, f->pix, (size_t)n * h * w, gz);
    write_idx(f->labels, 0x08, 1, dl, f->lab, (size_t)n, gz);
}

static void free_fixture(idx_fixture *f) {
    free(f->pix);
    free(f->lab);
}

static void check_same(const rd_dataset *ds, const idx_fixture *f) {
    ck_assert_int_eq(ds->n, f->n);
    ck_assert_int_eq(ds->c, 1);
    ck_assert_int_eq(ds->h, f->h);
    ck_assert_int_eq(ds->w, f->w);
    ck_assert_int_eq(memcmp(ds->images, f->pix, (size_t)f->n * f->h * f->w), 0);
    for (int i = 0; i < f->n; i++) ck_assert_int_eq(ds->labels[i], f->lab[i]);
}

static void setup(void) { fx_mkdtemp(g_dir, sizeof g_dir, "idx"); }
static void teardown(void) { fx_rmdir(g_dir); }

START_TEST(idx_plain_and_gzip_read_exactly) {
    for (int gz = 0; gz < 2; gz++) {
        idx_fixture f;
        make_fixture(&f, "train", 13, 5, 3, gz, 42 + gz);
        rd_dataset ds;
        rd_err err = {0};
        ck_assert_msg(rd_load_idx(f.images, f.labels, 0, &ds, &err) == RD_OK, "%s", err.msg);
        check_same(&ds, &f);
        ck_assert_int_eq(ds.classes, 8);  /* largest label + 1 */
        ck_assert_str_eq(ds.class_names[7], "7");
        ck_assert_ptr_nonnull(strstr(ds.description, f.images));
        rd_dataset_free(&ds);
        ck_assert_msg(rd_load_idx(f.images, f.labels, 10, &ds, &err) == RD_OK, "%s", err.msg);
        ck_assert_int_eq(ds.classes, 10);
        rd_dataset_free(&ds);
        free_fixture(&f);
        /* one corrupt label byte (200 among labels 0..7) would make a 201-class problem: refused,
         * unless the class count is given (then it is out of range) */
        make_fixture(&f, "train", 13, 5, 3, gz, 7 + gz);
        f.lab[12] = 200;
        unsigned dl[1] = {13};
        write_idx(f.labels, 0x08, 1, dl, f.lab, 13, gz);
        rd_status st = rd_load_idx(f.images, f.labels, 0, &ds, &err);
        fx_expect_error("a class gap", st, &err, RD_ERR_FORMAT, f.labels, "have no image");
        st = rd_load_idx(f.images, f.labels, 8, &ds, &err);
        fx_expect_error("label 200 of 8 classes", st, &err, RD_ERR_FORMAT, f.labels, "out of range");
        ck_assert_msg(rd_load_idx(f.images, f.labels, 256, &ds, &err) == RD_OK, "%s", err.msg);
        ck_assert_int_eq(ds.classes, 256);
        rd_dataset_free(&ds);
        free_fixture(&f);
        /* a gzip bomb: 64 MiB of zeros in ~64 KiB, announced as such: over the payload cap (here
         * 1 MiB), refused before anything is inflated */
        unsigned di[3] = {1024, 256, 256}, dl1[1] = {1024};
        unsigned char *zeros = calloc((size_t)1 << 26, 1);
        write_idx(f.images, 0x08, 3, di, zeros, (size_t)1 << 26, 1);
        write_idx(f.labels, 0x08, 1, dl1, zeros, 1024, 1);
        free(zeros);
        setenv("RADARS_DATA_MAX_BYTES", "1048576", 1);
        double t0 = fx_now();
        st = rd_load_idx(f.images, f.labels, 0, &ds, &err);
        unsetenv("RADARS_DATA_MAX_BYTES");
        fx_expect_error("gzip bomb", st, &err, RD_ERR_FORMAT, f.images, "too large to load");
        ck_assert_msg(fx_now() - t0 < 0.5, "the bomb was inflated before being refused (%.2f s)", fx_now() - t0);
    }
}
END_TEST

START_TEST(idx_opened_by_name) {
    idx_fixture tr, te;
    make_fixture(&tr, "train", 9, 4, 6, 1, 1);
    make_fixture(&te, "t10k", 4, 4, 6, 0, 2);  /* plain and gzip mixed in one folder */
    char spec[300];
    rd_dataset ds;
    rd_err err = {0};
    snprintf(spec, sizeof spec, "mnist:%s", g_dir);
    ck_assert_msg(rd_dataset_open(spec, "train", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    check_same(&ds, &tr);
    ck_assert_int_eq(ds.classes, 10);
    ck_assert_ptr_nonnull(strstr(ds.description, "MNIST train"));
    rd_dataset_free(&ds);
    ck_assert_msg(rd_dataset_open(spec, "test", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    check_same(&ds, &te);
    rd_dataset_free(&ds);
    snprintf(spec, sizeof spec, "idx:%s", g_dir);
    rd_data_options opt = {0};
    ck_assert_msg(rd_dataset_open(spec, "train", &opt, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.classes, 8);
    rd_dataset_free(&ds);
    opt.classes = 12;
    ck_assert_msg(rd_dataset_open(spec, "train", &opt, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.classes, 12);
    rd_dataset_free(&ds);
    /* a folder name longer than any path buffer: refused, not truncated into another path */
    char *longspec = malloc(5000);
    int o = snprintf(longspec, 5000, "idx:%s/", g_dir);
    while (o < 4990) longspec[o++] = 'x';
    longspec[o] = 0;
    rd_status lst = rd_dataset_open(longspec, "train", &opt, &ds, &err);
    fx_expect_error("a 4990-character folder", lst, &err, RD_ERR_ARG, "path too long", NULL);
    free(longspec);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", g_dir);
    ck_assert_msg(rd_dataset_open(spec, "train", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_str_eq(ds.class_names[9], "Ankle boot");
    rd_dataset_free(&ds);
    /* bad names, bad split, a folder without the files */
    fx_expect_error("unknown data set", rd_dataset_open("imagenet:/x", "train", NULL, &ds, &err), &err, RD_ERR_ARG,
                    "imagenet", "unknown");
    fx_expect_error("bad split", rd_dataset_open(spec, "valid", NULL, &ds, &err), &err, RD_ERR_ARG, "valid", NULL);
    fx_expect_error("missing dir", rd_dataset_open("mnist:/nonexistent/mnist", "train", NULL, &ds, &err), &err,
                    RD_ERR_IO, "/nonexistent/mnist/train-images-idx3-ubyte", NULL);
    ck_assert_ptr_null(ds.images);
    rd_dataset_free(&ds);  /* safe on a failed open */
    free_fixture(&tr);
    free_fixture(&te);
}
END_TEST

/* Loads images/labels expecting an error naming `names` with `keyword`. */
static void expect_idx_error(const char *what, const char *images, const char *labels, int classes, rd_status want,
                             const char *names, const char *keyword) {
    rd_dataset ds;
    rd_err err = {0};
    rd_status s = rd_load_idx(images, labels, classes, &ds, &err);
    fx_expect_error(what, s, &err, want, names, keyword);
    ck_assert_ptr_null(ds.images);
    ck_assert_ptr_null(ds.labels);
}

START_TEST(idx_malformed_inputs_fail_cleanly) {
    char img[512], lab[512], bad[512];
    unsigned char pix[4 * 3 * 3], labs[4] = {1, 2, 3, 4};
    for (int i = 0; i < 36; i++) pix[i] = (unsigned char)i;
    unsigned di[3] = {4, 3, 3}, dl[1] = {4};
    snprintf(img, sizeof img, "%s/img", g_dir);
    snprintf(lab, sizeof lab, "%s/lab", g_dir);
    snprintf(bad, sizeof bad, "%s/bad", g_dir);
    write_idx(img, 0x08, 3, di, pix, sizeof pix, 0);
    write_idx(lab, 0x08, 1, dl, labs, sizeof labs, 0);

    expect_idx_error("missing images", "/nonexistent/img.gz", lab, 0, RD_ERR_IO, "/nonexistent/img.gz", "cannot open");
    expect_idx_error("missing labels", img, "/nonexistent/lab", 0, RD_ERR_IO, "/nonexistent/lab", "cannot open");
    expect_idx_error("a folder", g_dir, lab, 0, RD_ERR_IO, g_dir, "not a regular file");

    /* truncated data, truncated header, empty file */
    write_idx(bad, 0x08, 3, di, pix, sizeof pix - 5, 0);
    expect_idx_error("truncated images", bad, lab, 0, RD_ERR_FORMAT, bad, "truncated");
    write_idx(bad, 0x08, 3, di, pix, 0, 0);
    fx_truncate(bad, 10);
    expect_idx_error("truncated header", bad, lab, 0, RD_ERR_FORMAT, bad, "truncated");
    fx_write(bad, "", 0, 0);
    expect_idx_error("empty file", bad, lab, 0, RD_ERR_FORMAT, bad, "truncated");
    write_idx(bad, 0x08, 1, dl, labs, 2, 0);
    expect_idx_error("truncated labels", img, bad, 0, RD_ERR_FORMAT, bad, "truncated");
    /* trailing bytes: the header and the data disagree */
    write_idx(bad, 0x08, 1, dl, pix, 9, 0);
    expect_idx_error("extra bytes", img, bad, 0, RD_ERR_FORMAT, bad, "unexpected bytes");

    /* wrong magic: not IDX, not unsigned bytes, wrong number of dimensions */
    fx_write(bad, "\x89PNG\r\n\x1a\n0000000000000000", 24, 0);
    expect_idx_error("PNG as IDX", bad, lab, 0, RD_ERR_FORMAT, bad, "wrong magic");
    write_idx(bad, 0x0D, 3, di, pix, sizeof pix, 0);
    expect_idx_error("float IDX", bad, lab, 0, RD_ERR_FORMAT, bad, "not unsigned byte");
    expect_idx_error("labels as images", lab, img, 0, RD_ERR_FORMAT, lab, "dimension mismatch");
    expect_idx_error("images as labels", img, img, 0, RD_ERR_FORMAT, img, "dimension mismatch");

    /* image / label count mismatch names both files */
    unsigned dl3[1] = {3};
    write_idx(bad, 0x08, 1, dl3, labs, 3, 0);
    expect_idx_error("count mismatch", img, bad, 0, RD_ERR_FORMAT, bad, "count mismatch");
    expect_idx_error("count mismatch names images", img, bad, 0, RD_ERR_FORMAT, img, NULL);

    /* label out of range */
    unsigned char big[4] = {1, 2, 12, 4};
    write_idx(bad, 0x08, 1, dl, big, 4, 0);
    expect_idx_error("label out of range", img, bad, 10, RD_ERR_FORMAT, bad, "label 12 of item 2 is out of range");

    /* zero and implausible dimensions */
    unsigned dz[3] = {4, 0, 3}, dh[3] = {4, 100000, 3};
    write_idx(bad, 0x08, 3, dz, pix, 0, 0);
    expect_idx_error("zero side", bad, lab, 0, RD_ERR_FORMAT, bad, "is 0");
    write_idx(bad, 0x08, 3, dh, pix, sizeof pix, 0);
    expect_idx_error("huge side", bad, lab, 0, RD_ERR_FORMAT, bad, "implausible");

    /* a corrupt header announcing 2^31-1 images of 65536 x 65536 (8 EiB) in a
     * tiny file, plain and gzip: an error, no giant allocation (ASan would
     * report one), and fast */
    unsigned dhuge[3] = {0x7fffffffu, 65536, 65536}, lhuge[1] = {0x7fffffffu};
    char hugel[512];
    snprintf(hugel, sizeof hugel, "%s/hugel", g_dir);
    write_idx(hugel, 0x08, 1, lhuge, labs, 4, 0);
    double t0 = fx_now();
    for (int gz = 0; gz < 2; gz++) {
        write_idx(bad, 0x08, 3, dhuge, pix, sizeof pix, gz);
        expect_idx_error("huge header", bad, hugel, 0, RD_ERR_FORMAT, bad, "too large");
    }
    unsigned dbig[3] = {0x7fffffffu, 28, 28};
    /* under the payload cap (raised here past 1.7 TB), the buffer grows only as data arrives */
    setenv("RADARS_DATA_MAX_BYTES", "2000000000000", 1);
    for (int gz = 0; gz < 2; gz++) {
        write_idx(bad, 0x08, 3, dbig, pix, sizeof pix, gz);
        expect_idx_error("2^31 images announced", bad, hugel, 0, RD_ERR_FORMAT, bad, "truncated");
    }
    unsetenv("RADARS_DATA_MAX_BYTES");
    for (int gz = 0; gz < 2; gz++) {
        write_idx(bad, 0x08, 3, dbig, pix, sizeof pix, gz);
        expect_idx_error("2^31 images announced", bad, hugel, 0, RD_ERR_FORMAT, bad, "too large to load");
    }
    ck_assert_double_lt(fx_now() - t0, 2.0);
}
END_TEST

START_TEST(idx_gzip_corruption_detected) {
    idx_fixture f;
    make_fixture(&f, "gz", 50, 12, 12, 1, 7);
    size_t len;
    unsigned char *gz = fx_read(f.images, &len);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/corrupt.gz", g_dir);
    /* flipped bytes inside the deflate stream */
    unsigned char *c = malloc(len);
    memcpy(c, gz, len);
    for (size_t i = len / 3; i < len / 3 + 8; i++) c[i] ^= 0xA5;
    fx_write(bad, c, len, 0);
    expect_idx_error("corrupt deflate data", bad, f.labels, 0, RD_ERR_FORMAT, bad, "gzip");
    /* a wrong CRC in the trailer only: the data inflate, the check fails */
    memcpy(c, gz, len);
    c[len - 6] ^= 0xFF;
    fx_write(bad, c, len, 0);
    expect_idx_error("bad gzip crc", bad, f.labels, 0, RD_ERR_FORMAT, bad, "corrupt gzip");
    /* a gzip file cut short */
    fx_write(bad, gz, len / 2, 0);
    expect_idx_error("truncated gzip", bad, f.labels, 0, RD_ERR_FORMAT, bad, "truncated gzip");
    fx_write(bad, gz, 12, 0);
    expect_idx_error("gzip header only", bad, f.labels, 0, RD_ERR_FORMAT, bad, "truncated");
    free(c);
    free(gz);
    free_fixture(&f);
}
END_TEST

/* Random damage (flipped bytes, cuts) to valid files, plain and gzip: every
 * outcome is either a data set or an error naming the file; never a crash
 * (run under ASan / UBSan too). */
START_TEST(idx_random_damage_never_crashes) {
    unsigned long long seed = 2024;
    int failures = 0, trials = 0;
    for (int gz = 0; gz < 2; gz++) {
        idx_fixture f;
        make_fixture(&f, "dmg", 20, 6, 5, gz, 11 + gz);
        size_t li, ll;
        unsigned char *img = fx_read(f.images, &li), *lab = fx_read(f.labels, &ll);
        for (int t = 0; t < 150; t++) {
            unsigned char *c = malloc(li);
            memcpy(c, img, li);
            size_t len = li;
            int flips = 1 + (int)(fx_rand(&seed) % 4);
            for (int k = 0; k < flips; k++) c[fx_rand(&seed) % li] ^= (unsigned char)(1 + fx_rand(&seed) % 255);
            if (fx_rand(&seed) % 3 == 0) len = fx_rand(&seed) % li;
            fx_write(f.images, c, len, 0);
            rd_dataset ds;
            rd_err err = {0};
            rd_status s = rd_load_idx(f.images, f.labels, 10, &ds, &err);
            trials++;
            if (s == RD_OK) {
                ck_assert_int_eq(ds.n * ds.h * ds.w > 0, 1);
                rd_dataset_free(&ds);
            } else {
                failures++;
                ck_assert_msg(strstr(err.msg, f.images) && !strchr(err.msg, '\n'), "bad message: %s", err.msg);
                ck_assert_ptr_null(ds.images);
            }
            free(c);
        }
        free(img);
        free(lab);
        free_fixture(&f);
    }
    printf("random damage: %d of %d damaged IDX files refused, the rest loaded\n", failures, trials);
    ck_assert_int_gt(failures, trials / 2);
}
END_TEST

/* The real Fashion-MNIST (Debian's dataset-fashion-mnist). Known values were
 * read independently with Python's gzip module:
 *   L = gzip.open('train-labels-idx1-ubyte.gz').read(); list(L[8:28])
 *   I = gzip.open('train-images-idx3-ubyte.gz').read(); sum(I[16:16+784]) */
START_TEST(fashion_mnist_real_files) {
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("SKIP fashion_mnist_real_files: /usr/share/datasets/fashion-mnist absent "
               "(apt-get install dataset-fashion-mnist)\n");
        return;
    }
    static const int train_first[20] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4};
    static const int test_first[20] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0};
    static const unsigned char train0_row14[28] = {0,   0,   1,   4,   6,   7,   2,   0,   0,   0,
                                                   0,   0,   237, 226, 217, 223, 222, 219, 222, 221,
                                                   216, 223, 229, 215, 218, 255, 77,  0};
    rd_dataset tr, te;
    rd_err err = {0};
    double t0 = fx_now();
    ck_assert_msg(rd_dataset_open("fashion-mnist", "train", NULL, &tr, &err) == RD_OK, "%s", err.msg);
    double t_train = fx_now() - t0;
    t0 = fx_now();
    ck_assert_msg(rd_dataset_open("fashion-mnist", "test", NULL, &te, &err) == RD_OK, "%s", err.msg);
    double t_test = fx_now() - t0;
    printf("Fashion-MNIST load: train %.3f s, test %.3f s (%s)\n", t_train, t_test, tr.description);
    ck_assert_int_eq(tr.n, 60000);
    ck_assert_int_eq(te.n, 10000);
    ck_assert(tr.c == 1 && tr.h == 28 && tr.w == 28 && te.c == 1 && te.h == 28 && te.w == 28);
    ck_assert_int_eq(tr.classes, 10);
    ck_assert_int_eq(te.classes, 10);
    ck_assert_str_eq(tr.class_names[0], "T-shirt/top");
    int count[10] = {0};
    for (int i = 0; i < tr.n; i++) count[tr.labels[i]]++;
    for (int c = 0; c < 10; c++) ck_assert_int_eq(count[c], 6000);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(tr.labels[i], train_first[i]);
        ck_assert_int_eq(te.labels[i], test_first[i]);
    }
    long s0 = 0, s1 = 0, t00 = 0;
    for (int j = 0; j < 784; j++) {
        s0 += tr.images[j];
        s1 += tr.images[784 + j];
        t00 += te.images[j];
    }
    ck_assert_int_eq(s0, 76247);
    ck_assert_int_eq(s1, 84598);
    ck_assert_int_eq(t00, 33456);
    ck_assert_int_eq(memcmp(tr.images + 14 * 28, train0_row14, 28), 0);
    /* statistics of the whole training set (Python: mean 0.2860406, std 0.3530242) */
    rd_norm nm;
    ck_assert_msg(rd_norm_compute(&tr, NULL, &nm, &err) == RD_OK, "%s", err.msg);
    ck_assert_double_eq_tol(nm.mean[0], 0.2860406, 1e-6);
    ck_assert_double_eq_tol(nm.std[0], 0.3530242, 1e-6);
    rd_dataset_free(&tr);
    rd_dataset_free(&te);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("data_idx");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idx_plain_and_gzip_read_exactly);
    tcase_add_test(tc, idx_opened_by_name);
    tcase_add_test(tc, idx_malformed_inputs_fail_cleanly);
    tcase_add_test(tc, idx_gzip_corruption_detected);
    tcase_add_test(tc, idx_random_damage_never_crashes);
    tcase_add_test(tc, fashion_mnist_real_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
