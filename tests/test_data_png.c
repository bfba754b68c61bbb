/* PNG-folder loader: images written here with libpng (grey 8/16/2-bit, RGB,
 * RGBA, palette, interlaced), read back exactly under the channel policy;
 * resizing; malformed folders and files. */
#include <png.h>

#include "data_fixtures.h"
#include "test_util.h"

static char g_dir[256];

static void setup(void) { fx_mkdtemp(g_dir, sizeof g_dir, "png"); }
static void teardown(void) { fx_rmdir(g_dir); }

/* A PNG of w x h: data holds the rows as PNG stores them (rowbytes each, 16-bit big-endian). */
static void write_png(const char *path, int w, int h, int color_type, int depth, const unsigned char *data,
                      int interlace, const png_color *palette, int npal) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, npal);
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(data + (size_t)y * rowbytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static void path_of(char *p, size_t len, const char *rel) { snprintf(p, len, "%s/%s", g_dir, rel); }

/* 8-bit grey w x h with value base + i. */
static void grey8(const char *rel, int w, int h, int base) {
    unsigned char d[4096];
    for (int i = 0; i < w * h; i++) d[i] = (unsigned char)(base + i);
    char p[512];
    path_of(p, sizeof p, rel);
    write_png(p, w, h, PNG_COLOR_TYPE_GRAY, 8, d, 0, NULL, 0);
}

/* RGB value of pixel i of a colour test image. */
static void rgb_of(int i, int base, unsigned char *r, unsigned char *g, unsigned char *b) {
    *r = (unsigned char)(base + 3 * i);
    *g = (unsigned char)(200 - 5 * i);
    *b = (unsigned char)(17 * i + base / 2);
}

static void rgb8(const char *rel, int w, int h, int base, int alpha, int interlace) {
    unsigned char d[4096];
    int ch = alpha ? 4 : 3;
    for (int i = 0; i < w * h; i++) {
        rgb_of(i, base, &d[ch * i], &d[ch * i + 1], &d[ch * i + 2]);
        if (alpha) d[ch * i + 3] = (unsigned char)(i * 40);
    }
    char p[512];
    path_of(p, sizeof p, rel);
    write_png(p, w, h, alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, 8, d, interlace, NULL, 0);
}

static unsigned char luma(unsigned char r, unsigned char g, unsigned char b) {
    return (unsigned char)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

static void write_text(const char *rel, const char *text) {
    char p[512];
    path_of(p, sizeof p, rel);
    fx_write(p, text, strlen(text), 0);
}

START_TEST(png_grey_folder_read_exactly) {
    /* classes sorted by name: a_cls = 0, b_cls = 1; files sorted by name within */
    fx_mkdir(g_dir, "b_cls");
    fx_mkdir(g_dir, "a_cls");
    grey8("a_cls/1.png", 4, 3, 100);
    grey8("a_cls/0.png", 4, 3, 10);
    /* 16-bit grey: values k * 257 scale to exactly k */
    unsigned char d16[24];
    for (int i = 0; i < 12; i++) {
        unsigned v = (unsigned)(50 + 9 * i) * 257u;
        d16[2 * i] = (unsigned char)(v >> 8);
        d16[2 * i + 1] = (unsigned char)v;
    }
    char p[512];
    path_of(p, sizeof p, "b_cls/x16.png");
    write_png(p, 4, 3, PNG_COLOR_TYPE_GRAY, 16, d16, 0, NULL, 0);
    /* 2-bit grey: values 0..3 expand to 0, 85, 170, 255; four pixels per byte */
    unsigned char d2[3] = {0x1B, 0xE4, 0x00};  /* rows: 0 1 2 3 | 3 2 1 0 | 0 0 0 0 */
    path_of(p, sizeof p, "b_cls/y2.png");
    write_png(p, 4, 3, PNG_COLOR_TYPE_GRAY, 2, d2, 0, NULL, 0);
    /* ignored: hidden files, files at the top, folders inside a class */
    write_text("a_cls/.DS_Store", "junk");
    write_text("README.txt", "not a class");
    fx_mkdir(g_dir, "a_cls/nested");
    grey8("a_cls/nested/z.png", 9, 9, 0);

    rd_dataset ds;
    rd_err err = {0};
    ck_assert_msg(rd_load_png_folder(g_dir, NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert(ds.n == 4 && ds.c == 1 && ds.h == 3 && ds.w == 4 && ds.classes == 2 && ds.skipped == 0);
    ck_assert_str_eq(ds.class_names[0], "a_cls");
    ck_assert_str_eq(ds.class_names[1], "b_cls");
    int want_labels[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ds.labels[i], want_labels[i]);
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(rd_dataset_image(&ds, 0)[i], 10 + i);
        ck_assert_int_eq(rd_dataset_image(&ds, 1)[i], 100 + i);
        ck_assert_int_eq(rd_dataset_image(&ds, 2)[i], 50 + 9 * i);
    }
    static const int two_bit[12] = {0, 85, 170, 255, 255, 170, 85, 0, 0, 0, 0, 0};
    for (int i = 0; i < 12; i++) ck_assert_int_eq(rd_dataset_image(&ds, 3)[i], two_bit[i]);
    rd_dataset_free(&ds);
}
END_TEST

START_TEST(png_channel_policy) {
    fx_mkdir(g_dir, "cat");
    fx_mkdir(g_dir, "dog");
    grey8("cat/g.png", 3, 2, 40);
    rgb8("dog/a_rgb.png", 3, 2, 30, 0, 0);
    rgb8("dog/b_rgba.png", 3, 2, 60, 1, 0);
    rgb8("dog/c_interlaced.png", 3, 2, 90, 0, 1);
    png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}, {200, 100, 50}};
    unsigned char dp[6] = {0, 1, 2, 3, 2, 1};
    char p[512];
    path_of(p, sizeof p, "dog/d_palette.png");
    write_png(p, 3, 2, PNG_COLOR_TYPE_PALETTE, 8, dp, 0, pal, 4);

    /* automatic: colour present, so RGB; grey expanded R = G = B; alpha dropped */
    rd_dataset ds;
    rd_err err = {0};
    ck_assert_msg(rd_load_png_folder(g_dir, NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert(ds.n == 5 && ds.c == 3 && ds.h == 2 && ds.w == 3);
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++) ck_assert_int_eq(rd_dataset_image(&ds, 0)[c * 6 + i], 40 + i);
    int bases[3] = {30, 60, 90};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 6; i++) {
            unsigned char rgb[3];
            rgb_of(i, bases[k], &rgb[0], &rgb[1], &rgb[2]);
            for (int c = 0; c < 3; c++) ck_assert_int_eq(rd_dataset_image(&ds, 1 + k)[c * 6 + i], rgb[c]);
        }
    for (int i = 0; i < 6; i++) {
        const png_color *q = &pal[dp[i]];
        ck_assert_int_eq(rd_dataset_image(&ds, 4)[0 * 6 + i], q->red);
        ck_assert_int_eq(rd_dataset_image(&ds, 4)[1 * 6 + i], q->green);
        ck_assert_int_eq(rd_dataset_image(&ds, 4)[2 * 6 + i], q->blue);
    }
    rd_dataset_free(&ds);

    /* forced grey: luma of the colour images, grey unchanged */
    rd_data_options opt = {0};
    opt.channels = 1;
    ck_assert_msg(rd_load_png_folder(g_dir, &opt, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert(ds.n == 5 && ds.c == 1);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(rd_dataset_image(&ds, 0)[i], 40 + i);
        unsigned char r, g, b;
        rgb_of(i, 30, &r, &g, &b);
        ck_assert_int_eq(rd_dataset_image(&ds, 1)[i], luma(r, g, b));
        const png_color *q = &pal[dp[i]];
        ck_assert_int_eq(rd_dataset_image(&ds, 4)[i], luma(q->red, q->green, q->blue));
    }
    rd_dataset_free(&ds);

    /* forced RGB on a grey-only folder */
    fx_mkdir(g_dir, "grey_only");
    fx_mkdir(g_dir, "grey_only/k");
    grey8("grey_only/k/g.png", 3, 2, 7);
    char sub[512];
    path_of(sub, sizeof sub, "grey_only");
    ck_assert_msg(rd_load_png_folder(sub, NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.c, 1);
    rd_dataset_free(&ds);
    opt.channels = 3;
    ck_assert_msg(rd_load_png_folder(sub, &opt, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.c, 3);
    for (int c = 0; c < 3; c++) ck_assert_int_eq(ds.images[c * 6 + 5], 12);
    rd_dataset_free(&ds);
    opt.channels = 2;
    fx_expect_error("channels 2", rd_load_png_folder(sub, &opt, &ds, &err), &err, RD_ERR_ARG, "channels", NULL);
}
END_TEST

START_TEST(png_sizes_rejected_or_resized) {
    fx_mkdir(g_dir, "a");
    fx_mkdir(g_dir, "b");
    /* a/0: 4x4 in 2x2 blocks of 10,20,30,40 (block means 25, 45, 65, 85) */
    unsigned char d[16];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            int block = (y / 2) * 2 + x / 2, k = (y % 2) * 2 + x % 2;
            d[y * 4 + x] = (unsigned char)(20 * block + 10 * (k + 1));
        }
    char p[512], p2[512];
    path_of(p, sizeof p, "a/0.png");
    write_png(p, 4, 4, PNG_COLOR_TYPE_GRAY, 8, d, 0, NULL, 0);
    /* b/0: 2 wide, 1 high: 0, 200 */
    unsigned char e[2] = {0, 200};
    path_of(p2, sizeof p2, "b/0.png");
    write_png(p2, 2, 1, PNG_COLOR_TYPE_GRAY, 8, e, 0, NULL, 0);
    /* b/1: already 2x2 */
    unsigned char s[4] = {1, 2, 3, 4};
    char p3[512];
    path_of(p3, sizeof p3, "b/1.png");
    write_png(p3, 2, 2, PNG_COLOR_TYPE_GRAY, 8, s, 0, NULL, 0);

    rd_dataset ds;
    rd_err err = {0};
    rd_status st = rd_load_png_folder(g_dir, NULL, &ds, &err);
    fx_expect_error("mixed sizes", st, &err, RD_ERR_FORMAT, p2, "mixed sizes");
    ck_assert_ptr_nonnull(strstr(err.msg, p));  /* both files named */

    rd_data_options opt = {0};
    opt.resize_h = 2;
    opt.resize_w = 2;
    ck_assert_msg(rd_load_png_folder(g_dir, &opt, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert(ds.n == 3 && ds.h == 2 && ds.w == 2 && ds.c == 1);
    /* shrinking: area means */
    int want0[4] = {25, 45, 65, 85};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(rd_dataset_image(&ds, 0)[i], want0[i]);
    /* 2x1 -> 2x2: rows repeated (bilinear, one source row) */
    int want1[4] = {0, 200, 0, 200};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(rd_dataset_image(&ds, 1)[i], want1[i]);
    /* same size: exact copy */
    for (int i = 0; i < 4; i++) ck_assert_int_eq(rd_dataset_image(&ds, 2)[i], s[i]);
    rd_dataset_free(&ds);

    /* enlarging: 2x1 -> 4x1 bilinear between pixel centres: 0, 50, 150, 200 */
    opt.resize_h = 1;
    opt.resize_w = 4;
    ck_assert_msg(rd_load_png_folder(g_dir, &opt, &ds, &err) == RD_OK, "%s", err.msg);
    int want2[4] = {0, 50, 150, 200};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(rd_dataset_image(&ds, 1)[i], want2[i]);
    /* 4x4 -> 4x1: each column's mean */
    for (int x = 0; x < 4; x++) {
        int sum = 0;
        for (int y = 0; y < 4; y++) sum += d[y * 4 + x];
        ck_assert_int_eq(rd_dataset_image(&ds, 0)[x], (sum + 2) / 4);
    }
    rd_dataset_free(&ds);
    opt.resize_w = 0;
    fx_expect_error("half a resize", rd_load_png_folder(g_dir, &opt, &ds, &err), &err, RD_ERR_ARG, "resize", NULL);
}
END_TEST

START_TEST(png_bad_files_fatal_or_skipped) {
    fx_mkdir(g_dir, "a");
    fx_mkdir(g_dir, "b");
    grey8("a/0.png", 5, 5, 1);
    grey8("a/1.png", 5, 5, 2);
    grey8("b/0.png", 5, 5, 3);
    write_text("b/notes.png", "this is not an image\n");
    char notpng[512];
    path_of(notpng, sizeof notpng, "b/notes.png");
    rd_dataset ds;
    rd_err err = {0};
    rd_data_options skip = {0};
    skip.skip_bad_files = 1;
    /* not a PNG: fatal by default, skipped on request */
    fx_expect_error("not a PNG", rd_load_png_folder(g_dir, NULL, &ds, &err), &err, RD_ERR_FORMAT, notpng,
                    "not a PNG");
    ck_assert_ptr_nonnull(strstr(err.msg, "fatal"));
    ck_assert_msg(rd_load_png_folder(g_dir, &skip, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.n, 3);
    ck_assert_int_eq(ds.skipped, 1);
    rd_dataset_free(&ds);
    ck_assert_int_eq(unlink(notpng), 0);

    /* corrupt image data (bytes flipped after the header): found when decoding */
    char good[512], bad[512];
    path_of(good, sizeof good, "a/1.png");
    path_of(bad, sizeof bad, "a/2.png");
    size_t len;
    unsigned char *b = fx_read(good, &len);
    for (size_t i = len - 30; i < len - 20; i++) b[i] ^= 0x5A;
    fx_write(bad, b, len, 0);
    fx_expect_error("corrupt PNG", rd_load_png_folder(g_dir, NULL, &ds, &err), &err, RD_ERR_FORMAT, bad,
                    "corrupt PNG");
    ck_assert_msg(rd_load_png_folder(g_dir, &skip, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(ds.n, 3);
    ck_assert_int_eq(ds.skipped, 1);
    int want_labels[3] = {0, 0, 1};
    for (int i = 0; i < 3; i++) ck_assert_int_eq(ds.labels[i], want_labels[i]);
    ck_assert_int_eq(rd_dataset_image(&ds, 2)[0], 3);
    rd_dataset_free(&ds);
    /* cut in half */
    fx_write(bad, b, len / 2, 0);
    fx_expect_error("truncated PNG", rd_load_png_folder(g_dir, NULL, &ds, &err), &err, RD_ERR_FORMAT, bad,
                    "truncated PNG");
    /* a header announcing 60000 x 60000 in a small file (valid CRC): refused before any allocation */
    memcpy(b + 16, "\x00\x00\xea\x60\x00\x00\xea\x60", 8);
    uLong crc = crc32(0L, b + 12, 17);
    b[29] = (unsigned char)(crc >> 24);
    b[30] = (unsigned char)(crc >> 16);
    b[31] = (unsigned char)(crc >> 8);
    b[32] = (unsigned char)crc;
    fx_write(bad, b, len, 0);
    fx_expect_error("huge PNG header", rd_load_png_folder(g_dir, NULL, &ds, &err), &err, RD_ERR_FORMAT, bad,
                    "more pixels than the file can hold");
    free(b);
    ck_assert_int_eq(unlink(bad), 0);

    /* every file of a class skipped */
    fx_mkdir(g_dir, "c");
    write_text("c/x.png", "nope");
    fx_expect_error("class all skipped", rd_load_png_folder(g_dir, &skip, &ds, &err), &err, RD_ERR_FORMAT, "/c",
                    "no readable PNG");
    char cx[512];
    path_of(cx, sizeof cx, "c/x.png");
    ck_assert_int_eq(unlink(cx), 0);
    /* empty class folder (hidden files do not count) */
    write_text("c/.hidden", "x");
    char cdir[512];
    path_of(cdir, sizeof cdir, "c");
    fx_expect_error("empty class", rd_load_png_folder(g_dir, NULL, &ds, &err), &err, RD_ERR_FORMAT, cdir,
                    "empty class folder");
    /* no class folders; no folder at all */
    char empty[512];
    path_of(empty, sizeof empty, "c");
    fx_expect_error("no classes", rd_load_png_folder(empty, NULL, &ds, &err), &err, RD_ERR_FORMAT, empty,
                    "no class folders");
    fx_expect_error("no folder", rd_load_png_folder("/nonexistent/pngs", NULL, &ds, &err), &err, RD_ERR_IO,
                    "/nonexistent/pngs", "cannot open");
    ck_assert_ptr_null(ds.images);
}
END_TEST

/* Random damage to valid PNGs of every kind: a data set or an error naming the
 * damaged file, never a crash (run under ASan / UBSan too). */
START_TEST(png_random_damage_never_crashes) {
    fx_mkdir(g_dir, "k");
    rgb8("k/a.png", 7, 5, 10, 0, 0);
    rgb8("k/b.png", 7, 5, 20, 1, 1);
    unsigned char d16[70 * 2];
    for (int i = 0; i < 70 * 2; i++) d16[i] = (unsigned char)(i * 13);
    char p[512];
    path_of(p, sizeof p, "k/c.png");
    write_png(p, 7, 5, PNG_COLOR_TYPE_GRAY, 16, d16, 0, NULL, 0);
    const char *names[3] = {"k/a.png", "k/b.png", "k/c.png"};
    unsigned long long seed = 99;
    int refused = 0, trials = 0;
    for (int fi = 0; fi < 3; fi++) {
        path_of(p, sizeof p, names[fi]);
        size_t len;
        unsigned char *orig = fx_read(p, &len);
        for (int t = 0; t < 100; t++) {
            unsigned char *c = malloc(len);
            memcpy(c, orig, len);
            size_t n = len;
            int flips = 1 + (int)(fx_rand(&seed) % 3);
            for (int k = 0; k < flips; k++) c[8 + fx_rand(&seed) % (len - 8)] ^= (unsigned char)(1 + fx_rand(&seed) % 255);
            if (fx_rand(&seed) % 3 == 0) n = fx_rand(&seed) % len;
            fx_write(p, c, n, 0);
            rd_dataset ds;
            rd_err err = {0};
            rd_data_options opt = {0};
            opt.resize_h = 5;
            opt.resize_w = 7;
            rd_status s = rd_load_png_folder(g_dir, &opt, &ds, &err);
            trials++;
            if (s == RD_OK) {
                ck_assert_int_eq(ds.n, 3);
                rd_dataset_free(&ds);
            } else {
                refused++;
                ck_assert_msg(strstr(err.msg, p) && !strchr(err.msg, '\n'), "bad message: %s", err.msg);
            }
            free(c);
        }
        fx_write(p, orig, len, 0);
        free(orig);
    }
    printf("random damage: %d of %d damaged PNG files refused, the rest loaded\n", refused, trials);
    ck_assert_int_gt(refused, trials / 2);
}
END_TEST

START_TEST(png_opened_by_name) {
    fx_mkdir(g_dir, "train");
    fx_mkdir(g_dir, "train/x");
    fx_mkdir(g_dir, "train/y");
    grey8("train/x/0.png", 2, 2, 0);
    grey8("train/y/0.png", 2, 2, 9);
    char spec[300];
    snprintf(spec, sizeof spec, "png:%s", g_dir);
    rd_dataset ds;
    rd_err err = {0};
    ck_assert_msg(rd_dataset_open(spec, "train", NULL, &ds, &err) == RD_OK, "%s", err.msg);
    ck_assert(ds.n == 2 && ds.classes == 2 && ds.labels[1] == 1);
    ck_assert_ptr_nonnull(strstr(ds.description, "PNG folder"));
    rd_dataset_free(&ds);
    fx_expect_error("no test folder", rd_dataset_open(spec, "test", NULL, &ds, &err), &err, RD_ERR_IO, "/test",
                    "no such folder");
    /* a test split whose classes differ from the training split's */
    fx_mkdir(g_dir, "test");
    fx_mkdir(g_dir, "test/x");
    fx_mkdir(g_dir, "test/z");
    grey8("test/x/0.png", 2, 2, 1);
    grey8("test/z/0.png", 2, 2, 2);
    rd_dataset tr, te;
    ck_assert_msg(rd_dataset_open(spec, "train", NULL, &tr, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_dataset_open(spec, "test", NULL, &te, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(rd_dataset_check_compatible(&tr, &tr, &err), RD_OK);
    fx_expect_error("test classes differ", rd_dataset_check_compatible(&tr, &te, &err), &err, RD_ERR_FORMAT,
                    "class 1 is 'z'", "'y'");
    te.h = 3;
    fx_expect_error("test shape differs", rd_dataset_check_compatible(&tr, &te, &err), &err, RD_ERR_FORMAT, "1x3x2",
                    "1x2x2");
    rd_dataset_free(&tr);
    rd_dataset_free(&te);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("data_png");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, png_grey_folder_read_exactly);
    tcase_add_test(tc, png_channel_policy);
    tcase_add_test(tc, png_sizes_rejected_or_resized);
    tcase_add_test(tc, png_bad_files_fatal_or_skipped);
    tcase_add_test(tc, png_random_damage_never_crashes);
    tcase_add_test(tc, png_opened_by_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
