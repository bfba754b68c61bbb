/* rd_plot_run_dir: every picture a run directory's files allow, into plots/. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot/chart.h"
#include "radars/io.h"
#include "radars/plot.h"
#include "radars/search.h"
#include "runtime/c_locale.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- records: collected by type, ordered, the last of equal keys kept ---- */

typedef struct mrec {
    json_object *o;
    double k1, k2; /* epoch, or round and sample */
    int seq;       /* order in the file */
} mrec;

typedef struct rec_list {
    mrec *v;
    int n, cap;
} rec_list;

static double num(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v)) return NAN;
    json_type t = json_object_get_type(v);
    return t == json_type_double || t == json_type_int ? json_object_get_double(v) : NAN;
}

static const char *str(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

static int push(rec_list *l, json_object *o, double k1, double k2, int seq) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        mrec *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    /* a record without its key takes its place in the file's order */
    if (!isfinite(k1)) k1 = l->n ? l->v[l->n - 1].k1 + 1 : 1;
    l->v[l->n++] = (mrec){json_object_get(o), k1, isfinite(k2) ? k2 : 0, seq};
    return 1;
}

static int rec_cmp(const void *a, const void *b) {
    const mrec *x = a, *y = b;
    if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2) return x->k2 < y->k2 ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts by key and keeps, of records with equal keys, the last written (a step
 * redone after a crash and a resume replaces the first try). */
static void order(rec_list *l) {
    if (!l->n) return;
    qsort(l->v, (size_t)l->n, sizeof *l->v, rec_cmp);
    int m = 0;
    for (int i = 0; i < l->n; i++) {
        if (m && l->v[m - 1].k1 == l->v[i].k1 && l->v[m - 1].k2 == l->v[i].k2) {
            json_object_put(l->v[m - 1].o);
            l->v[m - 1] = l->v[i];
        } else {
            l->v[m++] = l->v[i];
        }
    }
    l->n = m;
}

static void rec_list_free(rec_list *l) {
    for (int i = 0; i < l->n; i++) json_object_put(l->v[i].o);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- the run ---- */

typedef struct run {
    const char *dir;
    char out[4200];
    char name[256];            /* the run directory's last component: every figure's subtitle */
    rec_list epochs, samples, rounds;
    json_object *final;
    rd_opset ops;              /* the search's op set (ops.count 0: unknown) */
    rd_plot_result *res;
    rd_err *err;
} run;

static rd_status wrote(run *r, const char *file) {
    if (r->res && r->res->count < RD_PLOT_MAX_FILES)
        snprintf(r->res->files[r->res->count++], sizeof r->res->files[0], "%.31s", file);
    return RD_OK;
}

static rd_status out_path(run *r, const char *file, char *path, size_t len) {
    return rd_path_join(path, len, r->out, file, r->err);
}

static rd_status write_figure(run *r, pl_figure *f, const char *file) {
    char path[4300];
    rd_status st = out_path(r, file, path, sizeof path);
    if (st != RD_OK) {
        pl_figure_free(f);
        return st;
    }
    RD_TRY(pl_figure_write(f, path, r->err));
    return wrote(r, file);
}

/* Per op, a colour kept the same in every picture (the first ten are
 * matplotlib's tab10, the rest distinct dark tones); ops outside DARTS' own
 * eight are dashed so that neighbours in the legend stay apart. */
static pl_rgb op_color(rd_op_id op) {
    static const unsigned hex[RD_OP_COUNT] = {0x7f7f7f, 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b,
                                              0xe377c2, 0x17becf, 0xbcbd22, 0x000080, 0x800000, 0x006d5b, 0x1f77b4,
                                              0xff7f0e};
    unsigned h = (unsigned)op < RD_OP_COUNT ? hex[op] : 0;
    return (pl_rgb){(h >> 16 & 255) / 255.0, (h >> 8 & 255) / 255.0, (h & 255) / 255.0};
}
static int op_dashed(rd_op_id op) { return op == RD_OP_NONE || op >= RD_OP_SEP_CONV_7X7; }

/* matplotlib's tab10: people know these, and the tests look for them */
#define HEX_RGB(h) {((h) >> 16 & 255) / 255.0, ((h) >> 8 & 255) / 255.0, ((h) & 255) / 255.0}
static const pl_rgb BLUE = HEX_RGB(0x1f77b4), ORANGE = HEX_RGB(0xff7f0e), GREEN = HEX_RGB(0x2ca02c),
                    RED = HEX_RGB(0xd62728), PURPLE = HEX_RGB(0x9467bd);

static double *doubles(int n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

static int any_finite(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) return 1;
    return 0;
}

/* ---- per-epoch curves ---- */

typedef struct curve_key {
    const char *key, *label;
    pl_rgb color;
    int dashed;
} curve_key;

/* One single-panel figure of the listed keys per epoch; skipped when no key has a value. */
static rd_status epoch_figure(run *r, const char *file, const char *title, const char *ylabel, double scale,
                              const curve_key *keys, int n_keys) {
    int n = r->epochs.n;
    if (!n) return RD_OK;
    double *x = doubles(n), *y[8] = {0};
    rd_status st = RD_OK;
    pl_panel p = {.xlabel = "epoch", .ylabel = ylabel, .legend = 1, .x_integer = 1, .font = 14};
    if (!x) return rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
    for (int i = 0; i < n; i++) x[i] = r->epochs.v[i].k1;
    for (int k = 0; k < n_keys && k < 8; k++) {
        if (!(y[k] = doubles(n))) {
            st = rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
            goto done;
        }
        for (int i = 0; i < n; i++) y[k][i] = scale * num(r->epochs.v[i].o, keys[k].key);
        if (!any_finite(y[k], n)) continue;
        p.series[p.n_series++] = (pl_series){keys[k].label, x, y[k], n, keys[k].color,
                                             PL_LINE | (n <= 60 ? PL_MARKERS : 0), keys[k].dashed, 2.2};
    }
    if (p.n_series) {
        pl_figure f;
        if ((st = pl_figure_begin(&f, 900, 560, title, r->name, r->err)) != RD_OK) goto done;
        pl_panel_draw(&f, 10, 40, 880, 515, &p);
        st = write_figure(r, &f, file);
    }
done:
    free(x);
    for (int k = 0; k < 8; k++) free(y[k]);
    return st;
}

static rd_status plot_epochs(run *r) {
    const curve_key loss[] = {{"train_loss", "train", BLUE, 0},
                              {"valid_loss", "valid", ORANGE, 0},
                              {"search_valid_loss", "valid (architecture steps)", GREEN, 1}};
    const curve_key acc[] = {{"train_acc", "train", BLUE, 0},
                             {"valid_acc", "valid", ORANGE, 0},
                             {"search_valid_acc", "valid (architecture steps)", GREEN, 1}};
    const curve_key lr[] = {{"lr", "weight learning rate", PURPLE, 0}};
    RD_TRY(epoch_figure(r, "loss.png", "Loss per epoch", "cross-entropy loss", 1, loss, 3));
    RD_TRY(epoch_figure(r, "accuracy.png", "Accuracy per epoch", "accuracy (%)", 100, acc, 3));
    return epoch_figure(r, "lr.png", "Learning rate per epoch", "learning rate", 1, lr, 1);
}

/* ---- alphas: 14 small panels per cell type, laid out node by node ---- */

/* The op names of the K columns: the search's op set when config.ini gives one
 * of K ops, else the standard set of that size, else "op k". */
static void column_names(const run *r, int K, char names[][32], rd_op_id *ids) {
    rd_opset set = r->ops;
    rd_err e;
    if (set.count != K) {
        set.count = 0;
        if (K == 8) rd_opset_parse("darts", &set, &e);
        else if (K == RD_OP_COUNT) rd_opset_parse("large", &set, &e);
    }
    for (int k = 0; k < K; k++) {
        ids[k] = set.count == K ? set.ops[k] : (rd_op_id)(k % RD_OP_COUNT);
        if (set.count == K) snprintf(names[k], 32, "%s", rd_op_name(set.ops[k]));
        else snprintf(names[k], 32, "op %d", k);
    }
}

/* Reads a 14 x K matrix; returns K, 0 when the key is absent, -1 when malformed. */
static int read_matrix(json_object *o, const char *key, double *out, int cap_k) {
    json_object *m;
    if (!json_object_object_get_ex(o, key, &m) || json_object_is_type(m, json_type_null)) return 0;
    if (!json_object_is_type(m, json_type_array) || json_object_array_length(m) != RD_CELL_EDGES) return -1;
    int K = -1;
    for (int e = 0; e < RD_CELL_EDGES; e++) {
        json_object *row = json_object_array_get_idx(m, (size_t)e);
        if (!json_object_is_type(row, json_type_array)) return -1;
        int n = (int)json_object_array_length(row);
        if (n < 1 || n > cap_k || (K >= 0 && n != K)) return -1;
        K = n;
        for (int k = 0; k < n; k++) {
            json_object *v = json_object_array_get_idx(row, (size_t)k);
            json_type t = json_object_get_type(v);
            if (t != json_type_double && t != json_type_int) return -1;
            out[e * cap_k + k] = json_object_get_double(v);
        }
    }
    return K;
}

static void state_label(int j, char *out, size_t len) {
    if (j == 0) snprintf(out, len, "c_{k-2}");
    else if (j == 1) snprintf(out, len, "c_{k-1}");
    else snprintf(out, len, "node %d", j - 2);
}

static rd_status plot_alphas(run *r, int reduce) {
    const char *key = reduce ? "alphas_reduce_softmax" : "alphas_normal_softmax";
    int n = r->epochs.n, K = 0;
    enum { CAP = 32 };
    double m[RD_CELL_EDGES * CAP];
    /* which epochs have the matrix, and its width (the same in every record) */
    for (int i = 0; i < n; i++) {
        int k = read_matrix(r->epochs.v[i].o, key, m, CAP);
        if (k < 0 || (K && k && k != K))
            return rd_fail(r->err, RD_ERR_FORMAT, "%s/metrics.jsonl: epoch %g: '%s' is not a 14 x K matrix of numbers%s",
                           r->dir, r->epochs.v[i].k1, key, k > 0 ? " (K differs from an earlier epoch)" : "");
        if (k) K = k;
    }
    if (!K) return RD_OK;
    double *x = doubles(n), *y = doubles(RD_CELL_EDGES * K * n);
    if (!x || !y) {
        free(x);
        free(y);
        return rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
    }
    for (int i = 0; i < n; i++) {
        x[i] = r->epochs.v[i].k1;
        int k = read_matrix(r->epochs.v[i].o, key, m, CAP);
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int c = 0; c < K; c++) {
                double v = k ? m[e * CAP + c] : NAN;
                y[((size_t)e * K + c) * n + i] = v;
            }
    }
    char names[CAP][32];
    rd_op_id ids[CAP];
    column_names(r, K, names, ids);

    /* row = node, column = the state it reads: the empty upper right holds the legend */
    const int W = 1560, H = 1060, cols = RD_CELL_NODES + 1;
    const double top = 44, left = 8, cw = (W - 2 * left) / cols, ch = (H - top - 6) / RD_CELL_NODES;
    pl_figure f;
    char title[128];
    snprintf(title, sizeof title, "%s cell: softmax of the alphas per edge", reduce ? "Reduction" : "Normal");
    rd_status st = pl_figure_begin(&f, W, H, title, r->name, r->err);
    if (st != RD_OK) {
        free(x);
        free(y);
        return st;
    }
    /* an op whose weight is 0 in every epoch was pruned before DARTS (RADARS): not drawn,
     * and each panel scales to what is left, so that small moves of the alphas show */
    int drawn[RD_CELL_EDGES][CAP] = {{0}}, any_drawn[CAP] = {0}, pruned = 0;
    for (int e = 0; e < RD_CELL_EDGES; e++)
        for (int c = 0; c < K; c++) {
            for (int i = 0; i < n; i++)
                if (y[((size_t)e * K + c) * n + i] > 0) drawn[e][c] = 1;
            any_drawn[c] |= drawn[e][c];
            pruned |= !drawn[e][c];
        }
    pl_series legend[CAP];
    int n_legend = 0;
    for (int c = 0; c < K; c++)
        if (any_drawn[c])
            legend[n_legend++] = (pl_series){names[c], NULL, NULL, 1, op_color(ids[c]), PL_LINE, op_dashed(ids[c]), 2.2};
    for (int e = 0; e < RD_CELL_EDGES; e++) {
        int node, input;
        rd_edge_endpoints(e, &node, &input);
        char from[32], ptitle[64];
        state_label(input, from, sizeof from);
        snprintf(ptitle, sizeof ptitle, "edge %d: %s \xe2\x86\x92 node %d", e, from, node);
        pl_panel p = {.title = ptitle,
                      .xlabel = node == RD_CELL_NODES - 1 ? "epoch" : NULL,
                      .ylabel = input == 0 ? "softmax weight" : NULL,
                      .x_integer = 1,
                      .font = 12};
        for (int c = 0; c < K && p.n_series < PL_MAX_SERIES; c++)
            if (drawn[e][c]) p.series[p.n_series++] = (pl_series){names[c], x, y + ((size_t)e * K + c) * n, n, op_color(ids[c]),
                                                 PL_LINE | (n == 1 ? PL_MARKERS : 0), op_dashed(ids[c]), 1.8};
        pl_panel_draw(&f, left + input * cw, top + node * ch, cw, ch, &p);
    }
    /* the legend in the empty corner right of node 0's two panels */
    pl_legend_draw(&f, left + 2 * cw + 30, top + 10, 3 * cw - 60, ch - 20, legend, n_legend,
                   pruned ? "ops (those pruned before DARTS are not drawn)" : "ops", 14);
    free(x);
    free(y);
    return write_figure(r, &f, reduce ? "alphas_reduce.png" : "alphas_normal.png");
}

/* ---- RL: rewards per sample, ops alive and memory per round ---- */

static rd_status plot_rewards(run *r) {
    int n = r->samples.n;
    if (!n) return RD_OK;
    double *x = doubles(n), *y = doubles(n), *mx = doubles(3 * n), *my = doubles(3 * n);
    rd_status st = RD_OK;
    if (!x || !y || !mx || !my) {
        st = rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
        goto done;
    }
    pl_panel p = {.xlabel = "sample (in the order drawn, all rounds)", .ylabel = "reward", .legend = 1, .font = 14};
    char labels[PL_MAX_MARKS][24];
    int nm = 0, start = 0;
    for (int i = 0; i < n; i++) {
        x[i] = i + 1;
        y[i] = num(r->samples.v[i].o, "reward");
    }
    /* each round: a boundary line and its mean reward as a flat segment */
    for (int i = 1; i <= n; i++) {
        if (i < n && r->samples.v[i].k1 == r->samples.v[start].k1) continue;
        double sum = 0;
        int cnt = 0;
        for (int j = start; j < i; j++)
            if (isfinite(y[j])) {
                sum += y[j];
                cnt++;
            }
        mx[nm * 3] = start + 0.5;
        mx[nm * 3 + 1] = i + 0.5;
        mx[nm * 3 + 2] = NAN;
        my[nm * 3] = my[nm * 3 + 1] = cnt ? sum / cnt : NAN;
        my[nm * 3 + 2] = NAN;
        if (p.n_vmarks < PL_MAX_MARKS) {
            snprintf(labels[p.n_vmarks], sizeof labels[0], "round %g", r->samples.v[start].k1 + 1);
            p.vmarks[p.n_vmarks] = (pl_mark){start + 0.5, labels[p.n_vmarks]};
            p.n_vmarks++;
        }
        nm++;
        start = i;
    }
    if (!any_finite(y, n)) goto done;
    p.series[p.n_series++] = (pl_series){"reward of a sample", x, y, n, BLUE, PL_MARKERS, 0, 0};
    p.series[p.n_series++] = (pl_series){"mean reward of the round", mx, my, 3 * nm, RED, PL_LINE, 0, 2.5};
    pl_figure f;
    if ((st = pl_figure_begin(&f, 1000, 560, "RL: reward of each sampled sub-network", r->name, r->err)) != RD_OK)
        goto done;
    pl_panel_draw(&f, 10, 40, 980, 515, &p);
    st = write_figure(r, &f, "rl_reward.png");
done:
    free(x);
    free(y);
    free(mx);
    free(my);
    return st;
}

/* ---- Pareto plot: every sampled path's accuracy against its cost ---- */

typedef struct cost_point {
    double cost, acc;
} cost_point;

static int cost_cmp(const void *a, const void *b) {
    const cost_point *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? -1 : 1;
    return (x->acc < y->acc) - (x->acc > y->acc); /* equal cost: the most accurate first */
}

/* The samples with a finite positive cost (key, times scale) and a finite accuracy into
 * (x, y), and their Pareto front (nothing both cheaper and more accurate) into (fx, fy),
 * cheapest first. Returns the point count; *nf the front's. */
static int cost_points(const run *r, const char *key, double scale, cost_point *pts, double *x, double *y, double *fx,
                       double *fy, int *nf) {
    int n = 0;
    for (int i = 0; i < r->samples.n; i++) {
        double c = num(r->samples.v[i].o, key) * scale, a = num(r->samples.v[i].o, "accuracy");
        if (!isfinite(c) || c <= 0 || !isfinite(a)) continue;
        pts[n++] = (cost_point){c, a};
    }
    qsort(pts, (size_t)n, sizeof *pts, cost_cmp);
    *nf = 0;
    double best = -INFINITY;
    for (int i = 0; i < n; i++) {
        x[i] = pts[i].cost;
        y[i] = 100 * pts[i].acc;
        if (pts[i].acc > best) {
            best = pts[i].acc;
            fx[*nf] = x[i];
            fy[(*nf)++] = y[i];
        }
    }
    return n;
}

static rd_status plot_pareto(run *r) {
    int n = r->samples.n;
    if (!n) return RD_OK;
    enum { PANELS = 2 };
    const char *keys[PANELS] = {"latency_ms", "params"};
    const double scales[PANELS] = {1, 1e-6};
    const char *xlabels[PANELS] = {"forward time of one batch on the device (ms)", "parameters (millions)"};
    const char *titles[PANELS] = {"accuracy against latency", "accuracy against size"};
    double *buf = doubles(4 * n * PANELS);
    cost_point *pts = calloc((size_t)n, sizeof *pts);
    rd_status st = RD_OK;
    if (!buf || !pts) {
        st = rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
        goto done;
    }
    pl_panel p[PANELS];
    int drawn = 0;
    for (int k = 0; k < PANELS; k++) {
        double *x = buf + (size_t)4 * n * k, *y = x + n, *fx = y + n, *fy = fx + n;
        int nf, np = cost_points(r, keys[k], scales[k], pts, x, y, fx, fy, &nf);
        memset(&p[k], 0, sizeof p[k]);
        if (!np) continue; /* e.g. a run from before latencies were always measured */
        p[drawn] = (pl_panel){.title = titles[k], .xlabel = xlabels[k], .ylabel = "validation accuracy (%)",
                              .legend = 1, .font = 13};
        p[drawn].series[p[drawn].n_series++] = (pl_series){"sampled path", x, y, np, BLUE, PL_MARKERS, 0, 0};
        p[drawn].series[p[drawn].n_series++] =
            (pl_series){"Pareto front", fx, fy, nf, RED, PL_LINE | PL_MARKERS, 0, 2};
        drawn++;
    }
    if (!drawn) goto done;
    pl_figure f;
    if ((st = pl_figure_begin(&f, 1100, 520, "RL: every sampled path, accuracy against its cost", r->name, r->err)) !=
        RD_OK)
        goto done;
    double w = 1080.0 / drawn;
    for (int k = 0; k < drawn; k++) pl_panel_draw(&f, 10 + k * w, 40, w - 10, 475, &p[k]);
    st = write_figure(r, &f, "rl_pareto.png");
done:
    free(buf);
    free(pts);
    return st;
}

/* Ops alive in a cell: the names in "a,b;c;..." (edges by ';', ops by ','). NaN when absent. */
static double count_alive(const char *s) {
    if (!s) return NAN;
    int n = 0, in_name = 0;
    for (const char *p = s; *p; p++) {
        if (*p == ',' || *p == ';') in_name = 0;
        else if (*p != ' ' && !in_name) {
            in_name = 1;
            n++;
        }
    }
    return n;
}

static rd_status plot_rounds(run *r) {
    int n = r->rounds.n;
    if (!n) return RD_OK;
    /* one more point: the op space before the first round, when the op set is known */
    int n0 = r->ops.count ? 1 : 0, m = n + n0;
    double *x = doubles(m), *an = doubles(m), *ar = doubles(m), *xr = doubles(n), *need = doubles(n),
           *peak = doubles(n);
    rd_status st = RD_OK;
    if (!x || !an || !ar || !xr || !need || !peak) {
        st = rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
        goto done;
    }
    if (n0) {
        x[0] = 0;
        an[0] = ar[0] = (double)RD_CELL_EDGES * r->ops.count;
    }
    double cap = NAN;
    const double MiB = 1024.0 * 1024.0;
    for (int i = 0; i < n; i++) {
        json_object *o = r->rounds.v[i].o;
        x[n0 + i] = xr[i] = r->rounds.v[i].k1 + 1;
        an[n0 + i] = count_alive(str(o, "alive_normal"));
        ar[n0 + i] = count_alive(str(o, "alive_reduce"));
        need[i] = num(o, "predicted_darts_peak") / MiB;
        peak[i] = num(o, "measured_peak") / MiB;
        if (isfinite(num(o, "cap")) && num(o, "cap") > 0) cap = num(o, "cap") / MiB;
    }
    pl_panel alive = {.title = "Ops alive after each round (all 14 edges)",
                      .xlabel = n0 ? "round (0 = before pruning)" : "round",
                      .ylabel = "ops alive",
                      .legend = 1,
                      .y_zero = 1,
                      .x_integer = 1,
                      .font = 14};
    if (any_finite(an, m)) alive.series[alive.n_series++] = (pl_series){"normal cell", x, an, m, BLUE, PL_LINE | PL_MARKERS, 0, 2.2};
    if (any_finite(ar, m))
        alive.series[alive.n_series++] = (pl_series){"reduction cell", x, ar, m, ORANGE, PL_LINE | PL_MARKERS, 1, 2.2};
    pl_panel mem = {.title = "Device memory per round",
                    .xlabel = "round",
                    .ylabel = "MiB",
                    .legend = 1,
                    .y_zero = 1,
                    .x_integer = 1,
                    .font = 14,
                    .hmark_color = RED};
    char cap_label[64];
    if (any_finite(need, n))
        mem.series[mem.n_series++] = (pl_series){"DARTS would need (predicted)", xr, need, n, PURPLE, PL_LINE | PL_MARKERS, 0, 2.2};
    if (any_finite(peak, n))
        mem.series[mem.n_series++] = (pl_series){"measured peak (RL phase)", xr, peak, n, GREEN, PL_LINE | PL_MARKERS, 0, 2.2};
    if (isfinite(cap) && mem.n_series) {
        snprintf(cap_label, sizeof cap_label, "cap %.0f MiB", cap);
        mem.hmarks[mem.n_hmarks++] = (pl_mark){cap, cap_label};
    }
    if (!alive.n_series && !mem.n_series) goto done;
    pl_figure f;
    if ((st = pl_figure_begin(&f, 1300, 560, "RL rounds: pruning the op space", r->name, r->err)) != RD_OK) goto done;
    if (alive.n_series && mem.n_series) {
        pl_panel_draw(&f, 10, 40, 640, 515, &alive);
        pl_panel_draw(&f, 655, 40, 635, 515, &mem);
    } else {
        pl_panel_draw(&f, 10, 40, 1280, 515, alive.n_series ? &alive : &mem);
    }
    st = write_figure(r, &f, "rl_rounds.png");
done:
    free(x);
    free(an);
    free(ar);
    free(xr);
    free(need);
    free(peak);
    return st;
}

/* The ops alive on each edge, from "a,b;c;..." into masks over rd_op_id. */
static rd_status parse_alive(run *r, const char *text, double round, const char *key, uint32_t *mask) {
    memset(mask, 0, RD_CELL_EDGES * sizeof *mask);
    int e = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",;");
        char name[48];
        if (len) {
            snprintf(name, sizeof name, "%.*s", (int)(len < 47 ? len : 47), p);
            rd_op_id op;
            rd_err e2;
            if (rd_op_from_name(name, &op, &e2) != RD_OK)
                return rd_fail(r->err, RD_ERR_FORMAT, "%s/metrics.jsonl: round %g: %s: unknown op '%s'", r->dir, round + 1,
                               key, name);
            mask[e] |= 1u << op;
        }
        p += len;
        if (*p == ';' && ++e >= RD_CELL_EDGES)
            return rd_fail(r->err, RD_ERR_FORMAT, "%s/metrics.jsonl: round %g: %s has more than 14 edges", r->dir,
                           round + 1, key);
        if (*p) p++;
    }
    return RD_OK;
}

/* Which op each RL round removed from each edge: a table per cell, rows =
 * edges, columns = ops; a survivor is green, a removed op grey with the round
 * that removed it (darker = later). */
static rd_status plot_pruning(run *r) {
    int n = r->rounds.n;
    if (!n) return RD_OK;
    uint32_t (*alive)[2][RD_CELL_EDGES] = calloc((size_t)n, sizeof *alive);
    if (!alive) return rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "plots: out of host memory");
    uint32_t seen = 0;
    int have = 0;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < 2; t++) {
            const char *key = t ? "alive_reduce" : "alive_normal", *text = str(r->rounds.v[i].o, key);
            if (!text) {
                free(alive);
                return RD_OK; /* an older record without the names: nothing to draw from */
            }
            rd_status st = parse_alive(r, text, r->rounds.v[i].k1, key, alive[i][t]);
            if (st != RD_OK) {
                free(alive);
                return st;
            }
            for (int e = 0; e < RD_CELL_EDGES; e++) seen |= alive[i][t][e];
            have = 1;
        }
    /* columns: the search's op set, else every op any round names, in catalogue order */
    rd_op_id cols[RD_OP_COUNT];
    int K = 0;
    if (r->ops.count)
        for (int k = 0; k < r->ops.count && K < RD_OP_COUNT; k++) cols[K++] = r->ops.ops[k];
    else
        for (int op = 0; op < RD_OP_COUNT; op++)
            if (seen >> op & 1) cols[K++] = (rd_op_id)op;
    if (!have || !K) {
        free(alive);
        return RD_OK;
    }
    const int W = 1500, H = 620;
    pl_figure f;
    rd_status st = pl_figure_begin(&f, W, H, "RL rounds: which round removed each op", r->name, r->err);
    if (st != RD_OK) {
        free(alive);
        return st;
    }
    cairo_t *cr = f.cr;
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    const double label_w = 150, head_h = 105, top = 44, foot = 40, gap = 30;
    const double pw = (W - 2 * gap - 2 * label_w - 60) / 2.0, cw = pw / K, chh = (H - top - head_h - foot) / RD_CELL_EDGES;
    for (int t = 0; t < 2; t++) {
        double x0 = 10 + t * (label_w + pw + gap) + label_w, y0 = top + head_h;
        cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
        cairo_set_font_size(cr, 14);
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_move_to(cr, x0 - label_w, top + 14);
        cairo_show_text(cr, t ? "Reduction cell" : "Normal cell");
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 11.5);
        for (int k = 0; k < K; k++) { /* op names, slanted above their column */
            cairo_save(cr);
            cairo_move_to(cr, x0 + (k + 0.5) * cw - 3, y0 - 6);
            cairo_rotate(cr, -M_PI / 3);
            cairo_show_text(cr, rd_op_name(cols[k]));
            cairo_restore(cr);
        }
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            int node, input;
            rd_edge_endpoints(e, &node, &input);
            char from[32], label[64];
            state_label(input, from, sizeof from);
            snprintf(label, sizeof label, "%s \xe2\x86\x92 node %d", from, node);
            cairo_text_extents_t te;
            cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
            cairo_text_extents(cr, label, &te);
            cairo_move_to(cr, x0 - 8 - te.x_advance, y0 + (e + 0.5) * chh + 4);
            cairo_show_text(cr, label);
            for (int k = 0; k < K; k++) {
                int removed = 0; /* the first round without it; 0: alive after the last round */
                for (int i = 0; i < n && !removed; i++)
                    if (!(alive[i][t][e] >> cols[k] & 1)) removed = (int)r->rounds.v[i].k1 + 1;
                double shade = n > 1 ? 0.93 - 0.35 * (removed - 1) / (double)(n - 1) : 0.8;
                if (removed) cairo_set_source_rgb(cr, shade, shade, shade);
                else cairo_set_source_rgb(cr, 0x2c / 255.0, 0xa0 / 255.0, 0x2c / 255.0);
                cairo_rectangle(cr, x0 + k * cw + 1, y0 + e * chh + 1, cw - 2, chh - 2);
                cairo_fill(cr);
                if (removed) {
                    char num_text[16];
                    snprintf(num_text, sizeof num_text, "%d", removed);
                    cairo_text_extents(cr, num_text, &te);
                    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
                    cairo_move_to(cr, x0 + (k + 0.5) * cw - te.x_advance / 2, y0 + (e + 0.5) * chh + 4);
                    cairo_show_text(cr, num_text);
                }
            }
        }
    }
    /* the key */
    char key_text[160];
    snprintf(key_text, sizeof key_text,
             "green: alive after round %g (what DARTS searches);  grey with a number: removed by that round (darker = later)",
             r->rounds.v[n - 1].k1 + 1);
    cairo_set_font_size(cr, 13);
    cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
    cairo_move_to(cr, 10 + label_w, H - 14);
    cairo_show_text(cr, key_text);
    free(alive);
    return write_figure(r, &f, "rl_pruning.png");
}

/* ---- cells ---- */

static rd_status plot_cells(run *r) {
    char path[4300], title[256];
    rd_genotype g;
    char *text = NULL;
    size_t len;
    const char *source = NULL;
    RD_TRY(rd_path_join(path, sizeof path, r->dir, "genotype.txt", r->err));
    struct stat sb;
    if (stat(path, &sb) == 0) {
        RD_TRY(rd_read_file(path, &text, &len, r->err));
        rd_status st = rd_genotype_parse(text, &g, r->err);
        free(text);
        if (st != RD_OK) return rd_err_prefix(r->err, "%s", path);
        source = "";
    } else {
        /* no genotype.txt yet: the final record's, else the last epoch's (a search in progress) */
        const char *t = r->final ? str(r->final, "genotype") : NULL;
        double epoch = NAN;
        for (int i = r->epochs.n - 1; !t && i >= 0; i--)
            if ((t = str(r->epochs.v[i].o, "genotype"))) epoch = r->epochs.v[i].k1;
        if (!t) return RD_OK;
        if (rd_genotype_parse(t, &g, r->err) != RD_OK)
            return rd_err_prefix(r->err, "%s/metrics.jsonl: %s genotype", r->dir, isfinite(epoch) ? "epoch" : "final");
        if (isfinite(epoch)) {
            snprintf(title, sizeof title, " (epoch %g, search in progress)", epoch);
            source = title;
        } else {
            source = "";
        }
    }
    char suffix[64];
    snprintf(suffix, sizeof suffix, "%.63s", source);
    for (int t = 0; t < 2; t++) {
        char *dot = NULL, file[64];
        snprintf(title, sizeof title, "%s cell%s", t ? "Reduction" : "Normal", suffix);
        RD_TRY(rd_plot_cell_dot(&g, t, title, &dot, r->err));
        snprintf(file, sizeof file, "cell_%s.dot", t ? "reduce" : "normal");
        rd_status st = out_path(r, file, path, sizeof path);
        if (st == RD_OK) st = rd_write_file_atomic(path, dot, strlen(dot), r->err);
        if (st == RD_OK) st = wrote(r, file);
        snprintf(file, sizeof file, "cell_%s.png", t ? "reduce" : "normal");
        if (st == RD_OK) st = out_path(r, file, path, sizeof path);
        if (st == RD_OK) st = rd_plot_dot_to_png(dot, path, r->err);
        if (st == RD_OK) st = wrote(r, file);
        free(dot);
        RD_TRY(st);
    }
    return RD_OK;
}

/* ---- reading ---- */

static rd_status read_metrics(run *r, const char *path) {
    rd_metrics_reader *rd;
    RD_TRY(rd_metrics_reader_open(path, &rd, r->err));
    const rd_record *record;
    rd_status st;
    int seq = 0;
    while ((st = rd_metrics_next(rd, &record, r->err)) == RD_OK && record) {
        json_object *o = rd_record_json((rd_record *)record);
        const char *type = str(o, "type");
        int ok = 1;
        seq++;
        if (!type) continue; /* records of other kinds are not ours to judge */
        if (!strcmp(type, "epoch")) ok = push(&r->epochs, o, num(o, "epoch"), 0, seq);
        else if (!strcmp(type, "rl_sample")) ok = push(&r->samples, o, num(o, "round"), num(o, "sample"), seq);
        else if (!strcmp(type, "rl_round")) ok = push(&r->rounds, o, num(o, "round"), 0, seq);
        else if (!strcmp(type, "final")) {
            json_object_put(r->final);
            r->final = json_object_get(o);
        }
        if (!ok) {
            st = rd_fail(r->err, RD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
            break;
        }
    }
    rd_metrics_reader_close(rd);
    order(&r->epochs);
    order(&r->samples);
    order(&r->rounds);
    return st;
}

/* The op set of a search run (for the alphas' legend); unknown when config.ini
 * is absent or is not a search recipe (a training run's). */
static void read_opset(run *r) {
    char path[4300], schema[64];
    rd_err e;
    r->ops.count = 0;
    if (rd_path_join(path, sizeof path, r->dir, "config.ini", &e) != RD_OK) return;
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    if (rd_config_file_schema(path, schema, sizeof schema, &e) != RD_OK) return;
    if (schema[0] && strcmp(schema, rd_search_schema.name)) return;
    rd_search_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return;
    if (rd_search_config_load(cfg, path, NULL, 0, &e) == RD_OK) rd_opset_parse(cfg->ops, &r->ops, &e);
    free(cfg);
}

static rd_status rd_plot_run_dir_c(const char *run_dir, rd_plot_result *res, rd_err *err) {
    if (res) memset(res, 0, sizeof *res);
    struct stat sb;
    if (!run_dir || !*run_dir) return rd_fail(err, RD_ERR_ARG, "plot: no run directory given");
    if (stat(run_dir, &sb) != 0)
        return rd_fail(err, RD_ERR_IO, "%s: %s", run_dir, errno == ENOENT ? "no such run directory" : strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return rd_fail(err, RD_ERR_ARG, "%s: not a directory", run_dir);

    run *r = calloc(1, sizeof *r);
    if (!r) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "plot: out of host memory");
    r->dir = run_dir;
    r->res = res;
    r->err = err;
    /* the subtitle: the directory's own name */
    size_t n = strlen(run_dir);
    while (n > 1 && run_dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && run_dir[b - 1] != '/') b--;
    snprintf(r->name, sizeof r->name, "%.*s", (int)(n - b), run_dir + b);

    char metrics[4300], geno[4300];
    rd_status st = rd_path_join(metrics, sizeof metrics, run_dir, "metrics.jsonl", err);
    if (st == RD_OK) st = rd_path_join(geno, sizeof geno, run_dir, "genotype.txt", err);
    int has_metrics = st == RD_OK && stat(metrics, &sb) == 0, has_geno = st == RD_OK && stat(geno, &sb) == 0;
    if (st == RD_OK && !has_metrics && !has_geno)
        st = rd_fail(err, RD_ERR_IO, "%s: nothing to plot (no metrics.jsonl or genotype.txt)", run_dir);
    if (st == RD_OK && has_metrics) st = read_metrics(r, metrics);
    if (st == RD_OK) {
        read_opset(r);
        st = rd_path_join(r->out, sizeof r->out, run_dir, "plots", err);
    }
    if (st == RD_OK) st = rd_mkdir_p(r->out, err);
    if (st == RD_OK) st = plot_cells(r);
    if (st == RD_OK) st = plot_epochs(r);
    if (st == RD_OK) st = plot_alphas(r, 0);
    if (st == RD_OK) st = plot_alphas(r, 1);
    if (st == RD_OK) st = plot_rewards(r);
    if (st == RD_OK) st = plot_pareto(r);
    if (st == RD_OK) st = plot_rounds(r);
    if (st == RD_OK) st = plot_pruning(r);
    rec_list_free(&r->epochs);
    rec_list_free(&r->samples);
    rec_list_free(&r->rounds);
    json_object_put(r->final);
    free(r);
    return st;
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
rd_status rd_plot_run_dir(const char *run_dir, rd_plot_result *res, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = rd_plot_run_dir_c(run_dir, res, err);
    RD_C_LOCALE_END;
    return r_;
}
