/* Pictures of a run directory: DOT text of the cells, the PNGs that Graphviz
 * and cairo draw (decoded back with libpng: size, not blank, the series'
 * colours present), which pictures a search run and a training run get, and
 * clear errors for what cannot be drawn. */
#include "io_tmp.h"

#include <math.h>
#include <png.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "plot/chart.h"
#include "radars/plot.h"
#include "radars/search.h"
#include "test_util.h"

/* A genotype with every kind of edge: cell inputs, earlier nodes, a none-free
 * mix of ops; the reduction cell concatenates only two nodes. */
static const char *GENO =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('skip_connect', 0), ('dil_conv_3x3', 2), "
    "('max_pool_3x3', 1), ('dil_conv_5x5', 3), ('avg_pool_3x3', 4), ('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('conv_7x1_1x7', 1), ('skip_connect', 2), ('sep_conv_7x7', 1), ('conv_1x1', 3), "
    "('avg_pool_5x5', 0), ('dil_conv_7x7', 4), ('max_pool_5x5', 2)], reduce_concat=[4, 5])";

/* ---- PNG decoding ---- */

typedef struct image {
    int w, h;
    unsigned char *rgb;
} image;

static image load_png(const char *path) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&pi, path), "%s: not a PNG: %s", path, pi.message);
    pi.format = PNG_FORMAT_RGB;
    image im = {(int)pi.width, (int)pi.height, malloc(PNG_IMAGE_SIZE(pi))};
    ck_assert_ptr_nonnull(im.rgb);
    ck_assert_msg(png_image_finish_read(&pi, NULL, im.rgb, 0, NULL), "%s: %s", path, pi.message);
    return im;
}

/* Distinct colours (up to a bitmap of all 2^24) and the share of non-white pixels. */
static int distinct_colours(const image *im, double *ink) {
    unsigned char *seen = calloc(1 << 21, 1);
    ck_assert_ptr_nonnull(seen);
    int n = 0;
    long dark = 0;
    for (long i = 0; i < (long)im->w * im->h; i++) {
        const unsigned char *p = im->rgb + 3 * i;
        unsigned c = (unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2];
        if (!(seen[c >> 3] >> (c & 7) & 1)) {
            seen[c >> 3] |= (unsigned char)(1 << (c & 7));
            n++;
        }
        if (c != 0xffffff) dark++;
    }
    free(seen);
    *ink = (double)dark / ((double)im->w * im->h);
    return n;
}

/* Pixels of exactly this colour (the solid middle of a line, a marker, a filled node). */
static long pixels_of(const image *im, unsigned hex) {
    long n = 0;
    for (long i = 0; i < (long)im->w * im->h; i++) {
        const unsigned char *p = im->rgb + 3 * i;
        n += ((unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2]) == hex;
    }
    return n;
}

/* A readable, non-blank picture of a sane size; returns it for colour checks. */
static image check_png(const char *path, int min_w, int min_h) {
    image im = load_png(path);
    ck_assert_msg(im.w >= min_w && im.h >= min_h && im.w <= 4000 && im.h <= 4000, "%s: %d x %d", path, im.w, im.h);
    double ink;
    int colours = distinct_colours(&im, &ink);
    ck_assert_msg(colours >= 8, "%s: only %d colours (blank?)", path, colours);
    ck_assert_msg(ink > 0.01 && ink < 0.9, "%s: %.1f%% of the pixels are not white", path, 100 * ink);
    return im;
}

static void check_colour(const image *im, const char *what, unsigned hex, long at_least) {
    long n = pixels_of(im, hex);
    ck_assert_msg(n >= at_least, "%s: %ld pixels of #%06x (want >= %ld)", what, n, hex, at_least);
}

/* ---- the synthetic run directory ---- */

static int count_of(const char *text, const char *what) {
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

static void add(rd_metrics *m, rd_record *r) {
    rd_err err = {0};
    ck_assert_msg(rd_metrics_append(m, r, &err) == RD_OK, "%s", err.msg);
    rd_record_free(r);
}

/* Softmax rows that drift apart over the epochs, op k growing on edge e when (e + k) % 8 == 0. */
static void alphas(int epoch, int K, int shift, float *out) {
    for (int e = 0; e < RD_CELL_EDGES; e++) {
        double z = 0, a[16];
        for (int k = 0; k < K; k++) z += a[k] = exp(((e + k + shift) % K == 0 ? 0.4 : -0.05 * k) * epoch);
        for (int k = 0; k < K; k++) out[e * K + k] = (float)(a[k] / z);
    }
}

/* RL rounds (samples, then the round with its alive ops), epochs with alphas
 * and a config naming the darts op set; when finished, the final record and
 * genotype.txt. An epoch is written twice (a resumed run redoes it): the last counts. */
static void write_search_run(const char *dir, int finished) {
    rd_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    rd_metrics *m;
    ck_assert_msg(rd_metrics_open(path, &m, &err) == RD_OK, "%s", err.msg);
    const char *ops[8] = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                          "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"};
    int alive = 8;
    for (int round = 0; round < 3; round++) {
        for (int s = 0; s < 5; s++) {
            rd_record *r = rd_record_new();
            rd_record_string(r, "type", "rl_sample");
            rd_record_int(r, "round", round);
            rd_record_int(r, "sample", s);
            rd_record_double(r, "reward", 0.2 + 0.1 * round + 0.02 * ((s * 7) % 5));
            rd_record_double(r, "accuracy", 0.2 + 0.1 * round + 0.01 * s);
            rd_record_double(r, "latency_ms", 10 + 3 * s + round);
            rd_record_double(r, "params", 1e5 * (1 + (s * 3) % 5));
            add(m, r);
        }
        alive -= 2; /* the reduction cell keeps one more op per edge */
        char cell[2][2048] = {"", ""};
        for (int t = 0; t < 2; t++)
            for (int e = 0; e < RD_CELL_EDGES; e++) {
                if (e) strcat(cell[t], ";");
                for (int k = 0; k < alive + t; k++) {
                    if (k) strcat(cell[t], ",");
                    strcat(cell[t], ops[8 - alive - t + k]);
                }
            }
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "rl_round");
        rd_record_int(r, "round", round);
        rd_record_int(r, "removed", 28);
        rd_record_int(r, "predicted_darts_peak", (int64_t)(900 - 200 * round) << 20);
        rd_record_int(r, "measured_peak", (int64_t)150 << 20);
        rd_record_int(r, "cap", (int64_t)600 << 20);
        rd_record_string(r, "alive_normal", cell[0]);
        rd_record_string(r, "alive_reduce", cell[1]);
        add(m, r);
    }
    char geno[2048];
    for (int epoch = 1; epoch <= 5; epoch++) {
        float a[RD_CELL_EDGES * 8];
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "epoch");
        rd_record_int(r, "epoch", epoch);
        rd_record_double(r, "lr", 0.025 * (1 + cos(M_PI * epoch / 5)) / 2);
        rd_record_double(r, "train_loss", 2.0 / epoch);
        rd_record_double(r, "train_acc", 0.5 + 0.08 * epoch);
        rd_record_double(r, "valid_loss", 2.2 / epoch);
        rd_record_double(r, "valid_acc", 0.45 + 0.07 * epoch);
        rd_record_double(r, "search_valid_loss", 2.3 / epoch);
        rd_record_double(r, "search_valid_acc", 0.4 + 0.07 * epoch);
        rd_record_double(r, "step_seconds", 0.25);
        rd_record_int(r, "peak_bytes", (int64_t)300 << 20);
        alphas(epoch, 8, 0, a);
        rd_record_matrix_f(r, "alphas_normal_softmax", a, RD_CELL_EDGES, 8);
        alphas(epoch, 8, 3, a);
        rd_record_matrix_f(r, "alphas_reduce_softmax", a, RD_CELL_EDGES, 8);
        rd_record_string(r, "genotype", GENO);
        add(m, r);
        if (epoch == 2) { /* the same epoch again, as after a resume */
            r = rd_record_new();
            rd_record_string(r, "type", "epoch");
            rd_record_int(r, "epoch", 2);
            rd_record_double(r, "train_loss", 1.0);
            add(m, r);
        }
    }
    if (finished) {
        rd_record *r = rd_record_new();
        rd_record_string(r, "type", "final");
        rd_record_string(r, "genotype", GENO);
        add(m, r);
    }
    ck_assert_int_eq(rd_metrics_close(m, &err), RD_OK);
    if (finished) {
        rd_genotype g;
        ck_assert_msg(rd_genotype_parse(GENO, &g, &err) == RD_OK, "%s", err.msg);
        rd_genotype_format(&g, geno, sizeof geno);
        strcat(geno, "\n");
        snprintf(path, sizeof path, "%s/genotype.txt", dir);
        io_write_text(path, geno);
    }
    snprintf(path, sizeof path, "%s/config.ini", dir);
    io_write_text(path, "schema = search\n[model]\nops = darts\n");
}

static const char *new_dir(const char *name) {
    const char *d = io_tmp_path(name);
    ck_assert_int_eq(mkdir(d, 0777), 0);
    return d;
}

static int wrote(const rd_plot_result *res, const char *file) {
    for (int i = 0; i < res->count; i++)
        if (!strcmp(res->files[i], file)) return 1;
    return 0;
}

/* ---- tests ---- */

START_TEST(cell_dot_names_every_op_and_edge) {
    rd_genotype g;
    rd_err err = {0};
    ck_assert_msg(rd_genotype_parse(GENO, &g, &err) == RD_OK, "%s", err.msg);
    for (int t = 0; t < 2; t++) {
        char *dot = NULL;
        ck_assert_msg(rd_plot_cell_dot(&g, t, "A \"quoted\" title", &dot, &err) == RD_OK, "%s", err.msg);
        const rd_geno_cell *c = t ? &g.reduce : &g.normal;
        /* one labelled edge per genotype entry, one edge per concatenated state */
        ck_assert_int_eq(count_of(dot, "->"), 2 * c->steps + c->n_concat);
        ck_assert_int_eq(count_of(dot, "label=\"") - 1 /* the title */, 2 * c->steps);
        ck_assert_int_eq(count_of(dot, "-> \"c_{k}\""), c->n_concat);
        for (int k = 0; k < 2 * c->steps; k++) {
            char want[96];
            snprintf(want, sizeof want, "[label=\"%s\"", rd_op_name(c->edges[k].op));
            IO_ASSERT_HAS(dot, want);
        }
        IO_ASSERT_HAS(dot, "\"c_{k-2}\" [fillcolor=darkseagreen2]");
        IO_ASSERT_HAS(dot, "\"c_{k-1}\" [fillcolor=darkseagreen2]");
        IO_ASSERT_HAS(dot, "\"c_{k}\" [fillcolor=palegoldenrod]");
        IO_ASSERT_HAS(dot, "label=\"A \\\"quoted\\\" title\"");
        free(dot);
    }
    /* the edges of the normal cell, exactly */
    char *dot = NULL;
    ck_assert_int_eq(rd_plot_cell_dot(&g, 0, NULL, &dot, &err), RD_OK);
    IO_ASSERT_HAS(dot, "\"c_{k-2}\" -> \"0\" [label=\"sep_conv_3x3\"");
    IO_ASSERT_HAS(dot, "\"c_{k-1}\" -> \"0\" [label=\"sep_conv_5x5\"");
    IO_ASSERT_HAS(dot, "\"0\" -> \"1\" [label=\"dil_conv_3x3\"");
    IO_ASSERT_HAS(dot, "\"2\" -> \"3\" [label=\"avg_pool_3x3\"");
    IO_ASSERT_HAS(dot, "\"3\" -> \"c_{k}\"");
    ck_assert_ptr_null(strstr(dot, "label=\"none\""));
    free(dot);
    /* a cell that reads a state it cannot */
    g.normal.edges[1].input = 1 + 1; /* node 0 reading node 0 */
    ck_assert_int_eq(rd_plot_cell_dot(&g, 0, NULL, &dot, &err), RD_ERR_ARG);
    ck_assert_ptr_null(dot);
    IO_ASSERT_HAS(err.msg, "node 0 reads state 2");
}
END_TEST

START_TEST(cell_png_is_rendered_by_graphviz) {
    rd_genotype g;
    rd_err err = {0};
    ck_assert_int_eq(rd_genotype_parse(GENO, &g, &err), RD_OK);
    char *dot = NULL;
    ck_assert_int_eq(rd_plot_cell_dot(&g, 0, "Normal cell", &dot, &err), RD_OK);
    const char *path = io_tmp_path("cell.png");
    ck_assert_msg(rd_plot_dot_to_png(dot, path, &err) == RD_OK, "%s", err.msg);
    free(dot);
    image im = check_png(path, 300, 150);
    /* the filled boxes: inputs (darkseagreen2), nodes (lightblue), output (palegoldenrod) */
    check_colour(&im, "inputs", 0xb4eeb4, 500);
    check_colour(&im, "nodes", 0xadd8e6, 1000);
    check_colour(&im, "output", 0xeee8aa, 300);
    ck_assert_int_gt(im.w, im.h); /* rankdir=LR */
    free(im.rgb);

    /* Graphviz's complaint becomes our error, and no file is left */
    const char *bad = io_tmp_path("bad.png");
    ck_assert_int_eq(rd_plot_dot_to_png("digraph { a -> ", bad, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "bad.png: graphviz cannot read the DOT text");
    struct stat sb;
    ck_assert_int_ne(stat(bad, &sb), 0);
}
END_TEST

START_TEST(search_run_gets_every_picture) {
    const char *dir = new_dir("search");
    write_search_run(dir, 1);
    rd_plot_result res;
    rd_err err = {0};
    ck_assert_msg(rd_plot_run_dir(dir, &res, &err) == RD_OK, "%s", err.msg);
    const char *want[] = {"cell_normal.dot", "cell_normal.png", "cell_reduce.dot", "cell_reduce.png",
                          "loss.png", "accuracy.png", "lr.png", "alphas_normal.png",
                          "alphas_reduce.png", "rl_reward.png", "rl_pareto.png", "rl_rounds.png", "rl_pruning.png"};
    ck_assert_int_eq(res.count, 13);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) ck_assert_msg(wrote(&res, want[i]), "no %s", want[i]);

    char path[700];
    /* curves: tab10 blue (train), orange (valid), green (architecture steps) */
    snprintf(path, sizeof path, "%s/plots/loss.png", dir);
    image im = check_png(path, 600, 400);
    check_colour(&im, "loss train", 0x1f77b4, 100);
    check_colour(&im, "loss valid", 0xff7f0e, 100);
    check_colour(&im, "loss search valid", 0x2ca02c, 50);
    free(im.rgb);
    snprintf(path, sizeof path, "%s/plots/accuracy.png", dir);
    im = check_png(path, 600, 400);
    check_colour(&im, "accuracy train", 0x1f77b4, 100);
    free(im.rgb);
    snprintf(path, sizeof path, "%s/plots/lr.png", dir);
    im = check_png(path, 600, 400);
    check_colour(&im, "lr", 0x9467bd, 100);
    free(im.rgb);
    /* alphas: every op of the darts set has its colour in the panels and the legend */
    const unsigned op_colours[8] = {0x7f7f7f, 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2};
    for (int t = 0; t < 2; t++) {
        snprintf(path, sizeof path, "%s/plots/alphas_%s.png", dir, t ? "reduce" : "normal");
        im = check_png(path, 1000, 700);
        for (int k = 0; k < 8; k++) check_colour(&im, path, op_colours[k], 100);
        free(im.rgb);
    }
    snprintf(path, sizeof path, "%s/plots/rl_reward.png", dir);
    im = check_png(path, 600, 400);
    check_colour(&im, "reward markers", 0x1f77b4, 200);
    check_colour(&im, "round means", 0xd62728, 100);
    free(im.rgb);
    /* Pareto: the samples as blue markers, the front as a red line, in two panels */
    snprintf(path, sizeof path, "%s/plots/rl_pareto.png", dir);
    im = check_png(path, 1000, 450);
    check_colour(&im, "sampled paths", 0x1f77b4, 200);
    check_colour(&im, "Pareto front", 0xd62728, 200);
    free(im.rgb);
    snprintf(path, sizeof path, "%s/plots/rl_rounds.png", dir);
    im = check_png(path, 800, 400);
    check_colour(&im, "alive normal", 0x1f77b4, 100);
    check_colour(&im, "alive reduce", 0xff7f0e, 100);
    check_colour(&im, "memory", 0x9467bd, 100);
    free(im.rgb);
    /* pruning map: after 3 rounds 2 of 8 ops survive per normal edge, 3 per reduction edge:
     * 14 x 5 green cells; the grey ones carry the round (1, 2, 3) */
    snprintf(path, sizeof path, "%s/plots/rl_pruning.png", dir);
    im = check_png(path, 800, 400);
    long green = pixels_of(&im, 0x2ca02c);
    ck_assert_msg(green > 5000, "pruning map: %ld green pixels", green);
    free(im.rgb);
    snprintf(path, sizeof path, "%s/plots/cell_reduce.png", dir);
    im = check_png(path, 300, 150);
    free(im.rgb);
    /* the DOT file is what rd_plot_cell_dot gives, titled */
    snprintf(path, sizeof path, "%s/plots/cell_reduce.dot", dir);
    char *text = NULL;
    size_t len;
    ck_assert_int_eq(rd_read_file(path, &text, &len, &err), RD_OK);
    IO_ASSERT_HAS(text, "label=\"Reduction cell\"");
    IO_ASSERT_HAS(text, "[label=\"conv_7x1_1x7\"");
    ck_assert_int_eq(count_of(text, "->"), 8 + 2);
    free(text);

    /* drawing again replaces the files (and a trailing slash is fine) */
    char slash[600];
    snprintf(slash, sizeof slash, "%s/", dir);
    ck_assert_msg(rd_plot_run_dir(slash, NULL, &err) == RD_OK, "%s", err.msg);
}
END_TEST

START_TEST(run_in_progress_uses_last_epoch_genotype) {
    const char *dir = new_dir("progress");
    write_search_run(dir, 0);
    rd_plot_result res;
    rd_err err = {0};
    ck_assert_msg(rd_plot_run_dir(dir, &res, &err) == RD_OK, "%s", err.msg);
    ck_assert(wrote(&res, "cell_normal.png"));
    char path[700], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/plots/cell_normal.dot", dir);
    ck_assert_int_eq(rd_read_file(path, &text, &len, &err), RD_OK);
    IO_ASSERT_HAS(text, "[label=\"sep_conv_5x5\"");
    IO_ASSERT_HAS(text, "label=\"Normal cell (epoch 5, search in progress)\"");
    free(text);
}
END_TEST

/* What a training run writes: epochs with six keys, some missing here and there. */
START_TEST(training_run_gets_curves_only) {
    const char *dir = new_dir("train");
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    io_write_text(path,
                  "{\"type\":\"epoch\",\"epoch\":1,\"lr\":0.025,\"train_loss\":1.9,\"train_acc\":0.31,\"valid_loss\":1.7,\"valid_acc\":0.4}\n"
                  "{\"type\":\"epoch\",\"epoch\":2,\"lr\":0.02,\"train_loss\":1.2,\"train_acc\":0.55}\n"
                  "{\"type\":\"epoch\",\"epoch\":3,\"lr\":0.01,\"train_loss\":0.8,\"train_acc\":0.71,\"valid_loss\":NaN,\"valid_acc\":0.73}\n"
                  "{\"type\":\"note\",\"text\":\"records of other types are ignored\"}\n"
                  "{\"type\":\"epoch\",\"epoch\":4,\"lr\":\"not a number\",\"train_loss\":0.6,\"train_acc\":0.8,\"valid_loss\":0.7,\"valid_acc\":0.77}\n");
    rd_plot_result res;
    rd_err err = {0};
    ck_assert_msg(rd_plot_run_dir(dir, &res, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(res.count, 3);
    ck_assert(wrote(&res, "loss.png") && wrote(&res, "accuracy.png") && wrote(&res, "lr.png"));
    snprintf(path, sizeof path, "%s/plots/accuracy.png", dir);
    image im = check_png(path, 600, 400);
    check_colour(&im, "train", 0x1f77b4, 100);
    check_colour(&im, "valid", 0xff7f0e, 30);
    ck_assert_int_eq(pixels_of(&im, 0x2ca02c), 0); /* no architecture-step curve in a training run */
    free(im.rgb);

    /* one epoch only, lr absent everywhere: still drawn, lr skipped */
    const char *one = new_dir("one");
    snprintf(path, sizeof path, "%s/metrics.jsonl", one);
    io_write_text(path, "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":1.9}\n");
    ck_assert_msg(rd_plot_run_dir(one, &res, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(res.count, 1);
    ck_assert_str_eq(res.files[0], "loss.png");
    snprintf(path, sizeof path, "%s/plots/loss.png", one);
    im = check_png(path, 600, 400);
    check_colour(&im, "lone point", 0x1f77b4, 20);
    free(im.rgb);
}
END_TEST

START_TEST(errors_are_clear) {
    rd_plot_result res;
    rd_err err = {0};
    ck_assert_int_eq(rd_plot_run_dir(io_tmp_path("absent"), &res, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "absent: no such run directory");
    io_write_text(io_tmp_path("afile"), "x");
    ck_assert_int_eq(rd_plot_run_dir(io_tmp_path("afile"), &res, &err), RD_ERR_ARG);
    IO_ASSERT_HAS(err.msg, "afile: not a directory");
    const char *empty = new_dir("empty");
    ck_assert_int_eq(rd_plot_run_dir(empty, &res, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "nothing to plot");

    /* a corrupt line names the file and the line */
    const char *bad = new_dir("bad");
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", bad);
    io_write_text(path, "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":1}\n\n{\"type\":\"epoch\",\"epoch\":2,\n");
    ck_assert_int_eq(rd_plot_run_dir(bad, &res, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "bad/metrics.jsonl:3: not valid JSON");

    /* alphas that are not 14 x K */
    const char *alpha = new_dir("alpha");
    snprintf(path, sizeof path, "%s/metrics.jsonl", alpha);
    io_write_text(path, "{\"type\":\"epoch\",\"epoch\":1,\"alphas_normal_softmax\":[[0.5,0.5],[0.5,0.5]]}\n");
    ck_assert_int_eq(rd_plot_run_dir(alpha, &res, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "alpha/metrics.jsonl: epoch 1: 'alphas_normal_softmax' is not a 14 x K matrix");

    /* an RL round naming an op that does not exist */
    const char *alive = new_dir("alive");
    snprintf(path, sizeof path, "%s/metrics.jsonl", alive);
    io_write_text(path, "{\"type\":\"rl_round\",\"round\":0,\"alive_normal\":\"sep_conv_3x3;conv_9x9\",\"alive_reduce\":\"\"}\n");
    ck_assert_int_eq(rd_plot_run_dir(alive, &res, &err), RD_ERR_FORMAT);
    IO_ASSERT_HAS(err.msg, "alive/metrics.jsonl: round 1: alive_normal: unknown op 'conv_9x9'");

    /* a genotype that does not parse names the file */
    const char *geno = new_dir("geno");
    snprintf(path, sizeof path, "%s/genotype.txt", geno);
    io_write_text(path, "Genotype(normal=[('sep_conv_9x9', 0)])\n");
    ck_assert_int_eq(rd_plot_run_dir(geno, &res, &err) != RD_OK, 1);
    IO_ASSERT_HAS(err.msg, "geno/genotype.txt: ");
    IO_ASSERT_HAS(err.msg, "sep_conv_9x9");
}
END_TEST

/* radars plot: lists what it wrote; one-line errors; --help. Needs the built CLI (ctest sets RADARS_BUILD_DIR). */
START_TEST(cli_plot) {
    const char *build = getenv("RADARS_BUILD_DIR");
    if (!build) return;
    const char *dir = new_dir("cli");
    write_search_run(dir, 1);
    char cmd[1600], out[600], *text = NULL;
    size_t len;
    rd_err err = {0};
    snprintf(out, sizeof out, "%s", io_tmp_path("cli.out"));
    snprintf(cmd, sizeof cmd, "%s/radars plot %s > %s 2>&1", build, dir, out);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(rd_read_file(out, &text, &len, &err), RD_OK);
    ck_assert_int_eq(count_of(text, "/plots/"), 13);
    IO_ASSERT_HAS(text, "/plots/alphas_reduce.png\n");
    free(text);
    snprintf(cmd, sizeof cmd, "%s/radars plot %s/absent > %s 2>&1", build, dir, out);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
    ck_assert_int_eq(rd_read_file(out, &text, &len, &err), RD_OK);
    IO_ASSERT_HAS(text, "radars: plot: ");
    IO_ASSERT_HAS(text, "/absent: no such run directory\n");
    ck_assert_int_eq(count_of(text, "\n"), 1);
    free(text);
    snprintf(cmd, sizeof cmd, "%s/radars plot --help > %s 2>&1", build, out);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(rd_read_file(out, &text, &len, &err), RD_OK);
    IO_ASSERT_HAS(text, "usage: radars plot");
    free(text);
    snprintf(cmd, sizeof cmd, "%s/radars plot > %s 2>&1", build, out);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
}
END_TEST

START_TEST(nice_ticks) {
    double first, step;
    int n;
    pl_nice_ticks(0.37, 2.41, 6, 0, &first, &step, &n);
    ck_assert(fabs(step - 0.5) < 1e-12 && fabs(first - 0.5) < 1e-12 && n == 4); /* 0.5 1 1.5 2 */
    pl_nice_ticks(1, 20, 8, 1, &first, &step, &n);
    ck_assert(step == 2 && first == 2 && n == 10);
    pl_nice_ticks(1, 2, 10, 1, &first, &step, &n); /* whole numbers only */
    ck_assert(step == 1 && first == 1 && n == 2);
    pl_nice_ticks(0, 0.025, 5, 0, &first, &step, &n);
    ck_assert(fabs(step - 0.005) < 1e-15 && n == 6);
    pl_nice_ticks(3, 3, 5, 0, &first, &step, &n); /* empty range: still ticks */
    ck_assert(n >= 1 && isfinite(step) && step > 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cell_dot_names_every_op_and_edge);
    tcase_add_test(tc, cell_png_is_rendered_by_graphviz);
    tcase_add_test(tc, search_run_gets_every_picture);
    tcase_add_test(tc, run_in_progress_uses_last_epoch_genotype);
    tcase_add_test(tc, training_run_gets_curves_only);
    tcase_add_test(tc, errors_are_clear);
    tcase_add_test(tc, cli_plot);
    tcase_add_test(tc, nice_ticks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
