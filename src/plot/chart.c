/* Line charts with cairo: axes, nice ticks, grid, series, reference lines, legends. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot/chart.h"
#include "radars/io.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *const FONT = "DejaVu Sans";
static const pl_rgb INK = {0.13, 0.13, 0.13}, GRID = {0.88, 0.88, 0.88}, FRAME = {0.55, 0.55, 0.55},
                    MUTED = {0.45, 0.45, 0.45};

static void set_rgb(cairo_t *cr, pl_rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

static void set_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* Draws s with its anchor at (x, y): ax 0 left, 0.5 centre, 1 right; ay 0 top,
 * 0.5 middle, 1 bottom (of the font's ascent + descent); rotated by angle radians. */
static void text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay, double angle) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_width(cr, s), h = fe.ascent + fe.descent;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * w, -ay * h + fe.ascent);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

void pl_nice_ticks(double lo, double hi, int target, int integer, double *first, double *step, int *count) {
    double range = hi - lo;
    if (!(range > 0) || !isfinite(range)) range = fabs(lo) > 0 ? fabs(lo) : 1;
    double raw = range / (target > 1 ? target : 1), mag = pow(10, floor(log10(raw))), norm = raw / mag;
    double s = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    if (integer && s < 1) s = 1;
    *step = s;
    *first = ceil(lo / s - 1e-9) * s;
    *count = (int)floor((hi - *first) / s + 1e-9) + 1;
    if (*count < 0) *count = 0;
    if (*count > 100) *count = 100;
}

static void tick_label(double v, double step, char *buf, size_t len) {
    if (fabs(v) < step * 1e-6) v = 0; /* -0.000 */
    if (fabs(v) >= 1e6) {
        snprintf(buf, len, "%.3g", v);
        return;
    }
    /* as many decimals as the step needs, so neighbouring ticks never read the same */
    int decimals = step >= 1 ? 0 : (int)fmin(10, ceil(-log10(step) - 1e-9));
    snprintf(buf, len, "%.*f", decimals, v);
}

rd_status pl_figure_begin(pl_figure *f, int width, int height, const char *title, const char *subtitle, rd_err *err) {
    memset(f, 0, sizeof *f);
    f->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    if (cairo_surface_status(f->surface) != CAIRO_STATUS_SUCCESS) {
        rd_status st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "cairo: %dx%d image: %s", width, height,
                               cairo_status_to_string(cairo_surface_status(f->surface)));
        pl_figure_free(f);
        return st;
    }
    f->cr = cairo_create(f->surface);
    f->width = width;
    f->height = height;
    cairo_t *cr = f->cr;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (title) {
        set_rgb(cr, INK);
        set_font(cr, 19, 1);
        text_at(cr, width / 2.0, 10, title, 0.5, 0, 0);
    }
    if (subtitle) {
        set_rgb(cr, MUTED);
        set_font(cr, 12, 0);
        text_at(cr, width - 12, 14, subtitle, 1, 0, 0);
    }
    return RD_OK;
}

void pl_figure_free(pl_figure *f) {
    if (f->cr) cairo_destroy(f->cr);
    if (f->surface) cairo_surface_destroy(f->surface);
    f->cr = NULL;
    f->surface = NULL;
}

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int length) {
    return fwrite(data, 1, length, (FILE *)closure) == length ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

rd_status pl_figure_write(pl_figure *f, const char *path, rd_err *err) {
    cairo_status_t cs = cairo_status(f->cr);
    if (cs != CAIRO_STATUS_SUCCESS) {
        pl_figure_free(f);
        return rd_fail(err, RD_ERR_IO, "%s: cairo drawing failed: %s", path, cairo_status_to_string(cs));
    }
    cairo_surface_flush(f->surface);
    rd_atomic_file af;
    rd_status st = rd_atomic_open(&af, path, err);
    if (st == RD_OK) {
        cs = cairo_surface_write_to_png_stream(f->surface, write_stream, af.f);
        if (cs != CAIRO_STATUS_SUCCESS) {
            rd_atomic_abort(&af);
            st = rd_fail(err, RD_ERR_IO, "%s: cannot write PNG: %s", path, cairo_status_to_string(cs));
        } else {
            st = rd_atomic_commit(&af, err);
        }
    }
    pl_figure_free(f);
    return st;
}

/* ---- panels ---- */

typedef struct view {
    double px, py, pw, ph;         /* plot area in pixels */
    double x0, x1, y0, y1;         /* data range */
} view;

static double sx(const view *v, double x) { return v->px + (x - v->x0) / (v->x1 - v->x0) * v->pw; }
static double sy(const view *v, double y) { return v->py + v->ph - (y - v->y0) / (v->y1 - v->y0) * v->ph; }

static void data_range(const pl_panel *p, double *xlo, double *xhi, double *ylo, double *yhi) {
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            *xlo = fmin(*xlo, x);
            *xhi = fmax(*xhi, x);
            *ylo = fmin(*ylo, y);
            *yhi = fmax(*yhi, y);
        }
    for (int i = 0; i < p->n_hmarks; i++)
        if (isfinite(p->hmarks[i].at)) {
            *ylo = fmin(*ylo, p->hmarks[i].at);
            *yhi = fmax(*yhi, p->hmarks[i].at);
        }
    for (int i = 0; i < p->n_vmarks; i++)
        if (isfinite(p->vmarks[i].at)) {
            *xlo = fmin(*xlo, p->vmarks[i].at);
            *xhi = fmax(*xhi, p->vmarks[i].at);
        }
}

static void pad_range(double *lo, double *hi, double frac, double empty_pad) {
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
        return;
    }
    if (*hi <= *lo) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : empty_pad;
        *lo -= d;
        *hi += d;
        return;
    }
    double d = (*hi - *lo) * frac;
    *lo -= d;
    *hi += d;
}

static void draw_series(cairo_t *cr, const view *v, const pl_series *s, double font) {
    double width = s->width > 0 ? s->width : 2;
    cairo_save(cr);
    set_rgb(cr, s->color);
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    if (s->dashed) {
        double d[2] = {6, 4};
        cairo_set_dash(cr, d, 2, 0);
    }
    if (s->style & PL_LINE) {
        int open = 0, run = 0;
        for (int i = 0; i < s->n; i++) {
            double x = s->x[i], y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) {
                open = 0;
                continue;
            }
            /* a lone point between gaps is drawn as a dot, or it would not show */
            int next_ok = i + 1 < s->n && isfinite(s->x[i + 1]) && isfinite(s->y[i + 1]);
            if (!open && !next_ok && !(s->style & PL_MARKERS)) {
                cairo_new_sub_path(cr);
                cairo_arc(cr, sx(v, x), sy(v, y), width + 1, 0, 2 * M_PI);
                cairo_fill(cr);
                continue;
            }
            if (!open) cairo_move_to(cr, sx(v, x), sy(v, y));
            else cairo_line_to(cr, sx(v, x), sy(v, y));
            open = 1;
            run++;
        }
        if (run) cairo_stroke(cr);
    }
    if (s->style & PL_MARKERS) {
        double r = s->n > 400 ? 1.6 : s->n > 100 ? 2.4 : 3.2;
        (void)font;
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
            cairo_new_sub_path(cr);
            cairo_arc(cr, sx(v, s->x[i]), sy(v, s->y[i]), r, 0, 2 * M_PI);
        }
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

/* The sample of a series in a legend: a short line and/or a dot. */
static void legend_swatch(cairo_t *cr, double x, double y, double len, const pl_series *s) {
    cairo_save(cr);
    set_rgb(cr, s->color);
    if (s->style & PL_LINE) {
        cairo_set_line_width(cr, s->width > 0 ? s->width : 2);
        if (s->dashed) {
            double d[2] = {6, 4};
            cairo_set_dash(cr, d, 2, 0);
        }
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + len, y);
        cairo_stroke(cr);
    }
    if (s->style & PL_MARKERS) {
        cairo_arc(cr, x + len / 2, y, 3.2, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

static int legend_entries(const pl_panel *p) {
    int n = 0;
    for (int s = 0; s < p->n_series; s++)
        if (p->series[s].label && p->series[s].n > 0) n++;
    return n;
}

/* Points of the panel's series inside the pixel box: the legend goes where this is least. */
static int points_inside(const pl_panel *p, const view *v, double bx, double by, double bw, double bh) {
    int n = 0;
    for (int s = 0; s < p->n_series; s++) {
        const pl_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i])) continue;
            double x = sx(v, se->x[i]), y = sy(v, se->y[i]);
            if (x >= bx && x <= bx + bw && y >= by && y <= by + bh) n++;
            /* and the segments' midpoints, so that lines crossing the box count */
            if ((se->style & PL_LINE) && i + 1 < se->n && isfinite(se->x[i + 1]) && isfinite(se->y[i + 1])) {
                double mx = (x + sx(v, se->x[i + 1])) / 2, my = (y + sy(v, se->y[i + 1])) / 2;
                if (mx >= bx && mx <= bx + bw && my >= by && my <= by + bh) n++;
            }
        }
    }
    return n;
}

/* Labels of vertical marks (drawn at the top, right of their line) that the box would hide. */
static int mark_labels_inside(const pl_panel *p, const view *v, double bx, double by, double bw, double bh,
                              double font) {
    int n = 0;
    for (int i = 0; i < p->n_vmarks; i++) {
        if (!p->vmarks[i].label) continue;
        double x = sx(v, p->vmarks[i].at), y = v->py + 3;
        if (x + font * 4 >= bx && x <= bx + bw && y + font >= by && y <= by + bh) n++;
    }
    return n;
}

static void draw_legend_inside(cairo_t *cr, const view *v, const pl_panel *p, double font) {
    int n = legend_entries(p);
    if (!n) return;
    set_font(cr, font, 0);
    double wmax = 0;
    for (int s = 0; s < p->n_series; s++)
        if (p->series[s].label && p->series[s].n > 0) wmax = fmax(wmax, text_width(cr, p->series[s].label));
    double row = font * 1.45, swatch = font * 2.2, pad = font * 0.6;
    double bw = pad * 2 + swatch + font * 0.5 + wmax, bh = pad * 1.4 + row * n;
    double margin = font * 0.6;
    double xs[4] = {v->px + v->pw - margin - bw, v->px + margin, v->px + v->pw - margin - bw, v->px + margin};
    double ys[4] = {v->py + margin, v->py + margin, v->py + v->ph - margin - bh, v->py + v->ph - margin - bh};
    int best = 0, best_n = -1;
    for (int c = 0; c < 4; c++) {
        int k = points_inside(p, v, xs[c], ys[c], bw, bh) + 10 * mark_labels_inside(p, v, xs[c], ys[c], bw, bh, font);
        if (best_n < 0 || k < best_n) {
            best = c;
            best_n = k;
        }
    }
    double bx = xs[best], by = ys[best];
    cairo_save(cr);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    set_rgb(cr, GRID);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    int k = 0;
    for (int s = 0; s < p->n_series; s++) {
        const pl_series *se = &p->series[s];
        if (!se->label || se->n <= 0) continue;
        double y = by + pad * 0.7 + row * (k + 0.5);
        legend_swatch(cr, bx + pad, y, swatch, se);
        set_rgb(cr, INK);
        text_at(cr, bx + pad + swatch + font * 0.5, y, se->label, 0, 0.5, 0);
        k++;
    }
    cairo_restore(cr);
}

void pl_legend_draw(pl_figure *f, double x, double y, double w, double h, const pl_series *s, int n, const char *title,
                    double font) {
    cairo_t *cr = f->cr;
    if (font <= 0) font = 13;
    cairo_save(cr);
    double top = y;
    if (title) {
        set_rgb(cr, INK);
        set_font(cr, font * 1.1, 1);
        text_at(cr, x, y, title, 0, 0, 0);
        top += font * 1.9;
    }
    set_font(cr, font, 0);
    double row = font * 1.5, swatch = font * 2.4, wmax = 0;
    for (int i = 0; i < n; i++)
        if (s[i].label) wmax = fmax(wmax, text_width(cr, s[i].label));
    double col = swatch + font * 0.6 + wmax + font * 1.5;
    int rows = (int)floor((y + h - top) / row);
    if (rows < 1) rows = 1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i].label) continue;
        double cx = x + (k / rows) * col, cy = top + (k % rows + 0.5) * row;
        if (cx + col > x + w + font * 1.5) break; /* no room left */
        legend_swatch(cr, cx, cy, swatch, &s[i]);
        set_rgb(cr, INK);
        text_at(cr, cx + swatch + font * 0.6, cy, s[i].label, 0, 0.5, 0);
        k++;
    }
    cairo_restore(cr);
}

void pl_panel_draw(pl_figure *f, double x, double y, double w, double h, const pl_panel *p) {
    cairo_t *cr = f->cr;
    double font = p->font > 0 ? p->font : 13;
    cairo_save(cr);

    double xlo, xhi, ylo, yhi;
    data_range(p, &xlo, &xhi, &ylo, &yhi);
    if (p->fix_y) {
        ylo = p->y_min;
        yhi = p->y_max;
    } else {
        int from_zero = p->y_zero && isfinite(ylo) && ylo >= 0; /* no padding below 0 then */
        if (p->y_zero && isfinite(ylo)) {
            ylo = fmin(ylo, 0);
            yhi = fmax(yhi, 0);
        }
        pad_range(&ylo, &yhi, 0.06, 1);
        if (from_zero) ylo = 0;
    }
    if (p->x_integer && isfinite(xlo) && xhi - xlo < 1) {
        xlo -= 0.5;
        xhi += 0.5;
    } else {
        pad_range(&xlo, &xhi, 0.02, 1);
    }

    /* room for the title, labels and tick labels */
    double top = y + (p->title ? font * 1.9 : font * 0.8);
    double bottom = y + h - font * 1.6 - (p->xlabel ? font * 1.5 : 0);
    double left = x + font * 0.5 + (p->ylabel ? font * 1.6 : 0);
    double yfirst, ystep, xfirst, xstep;
    int ny, nx;
    int ytarget = (int)fmax(2, fmin(8, (bottom - top) / (font * 3))),
        xtarget = (int)fmax(2, fmin(10, (w - font * 6) / (font * 6)));
    pl_nice_ticks(ylo, yhi, ytarget, 0, &yfirst, &ystep, &ny);
    pl_nice_ticks(xlo, xhi, xtarget, p->x_integer, &xfirst, &xstep, &nx);
    set_font(cr, font * 0.92, 0);
    double label_w = 0;
    char buf[64];
    for (int i = 0; i < ny; i++) {
        tick_label(yfirst + i * ystep, ystep, buf, sizeof buf);
        label_w = fmax(label_w, text_width(cr, buf));
    }
    left += label_w + font * 0.6;
    double right = x + w - font * 0.9;
    view v = {left, top, right - left, bottom - top, xlo, xhi, ylo, yhi};
    if (v.pw < 10 || v.ph < 10) {
        cairo_restore(cr);
        return;
    }

    /* grid and ticks */
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < ny; i++) {
        double val = yfirst + i * ystep, py = round(sy(&v, val)) + 0.5;
        if (sy(&v, val) < v.py - 0.5 || sy(&v, val) > v.py + v.ph + 0.5) continue;
        set_rgb(cr, GRID);
        cairo_move_to(cr, v.px, py);
        cairo_line_to(cr, v.px + v.pw, py);
        cairo_stroke(cr);
        set_rgb(cr, INK);
        tick_label(val, ystep, buf, sizeof buf);
        text_at(cr, v.px - font * 0.4, py, buf, 1, 0.5, 0);
    }
    for (int i = 0; i < nx; i++) {
        double val = xfirst + i * xstep, px = round(sx(&v, val)) + 0.5;
        if (sx(&v, val) < v.px - 0.5 || sx(&v, val) > v.px + v.pw + 0.5) continue;
        set_rgb(cr, GRID);
        cairo_move_to(cr, px, v.py);
        cairo_line_to(cr, px, v.py + v.ph);
        cairo_stroke(cr);
        set_rgb(cr, INK);
        tick_label(val, xstep, buf, sizeof buf);
        text_at(cr, px, v.py + v.ph + font * 0.3, buf, 0.5, 0, 0);
    }
    set_rgb(cr, FRAME);
    cairo_rectangle(cr, round(v.px) + 0.5, round(v.py) + 0.5, round(v.pw), round(v.ph));
    cairo_stroke(cr);

    /* title and axis labels */
    set_rgb(cr, INK);
    if (p->title) {
        set_font(cr, font * 1.1, 1);
        text_at(cr, v.px + v.pw / 2, y + font * 0.35, p->title, 0.5, 0, 0);
    }
    set_font(cr, font, 0);
    if (p->xlabel) text_at(cr, v.px + v.pw / 2, y + h - font * 0.2, p->xlabel, 0.5, 1, 0);
    if (p->ylabel) text_at(cr, x + font * 0.3, v.py + v.ph / 2, p->ylabel, 0.5, 0, -M_PI / 2);

    /* everything in data coordinates is clipped to the plot area */
    cairo_save(cr);
    cairo_rectangle(cr, v.px, v.py, v.pw, v.ph);
    cairo_clip(cr);
    double dash[2] = {5, 4};
    set_font(cr, font * 0.8, 0);
    double last_label_end = -INFINITY;
    for (int i = 0; i < p->n_vmarks; i++) {
        double px = round(sx(&v, p->vmarks[i].at)) + 0.5;
        cairo_save(cr);
        cairo_set_dash(cr, dash, 2, 0);
        set_rgb(cr, FRAME);
        cairo_move_to(cr, px, v.py);
        cairo_line_to(cr, px, v.py + v.ph);
        cairo_stroke(cr);
        cairo_restore(cr);
        /* labels only where they do not run into the previous one */
        if (p->vmarks[i].label && px + 3 > last_label_end) {
            set_rgb(cr, MUTED);
            text_at(cr, px + 3, v.py + 3, p->vmarks[i].label, 0, 0, 0);
            last_label_end = px + 3 + text_width(cr, p->vmarks[i].label) + font * 0.5;
        }
    }
    for (int i = 0; i < p->n_hmarks; i++) {
        double py = round(sy(&v, p->hmarks[i].at)) + 0.5;
        cairo_save(cr);
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_line_width(cr, 1.5);
        set_rgb(cr, p->hmark_color);
        cairo_move_to(cr, v.px, py);
        cairo_line_to(cr, v.px + v.pw, py);
        cairo_stroke(cr);
        cairo_restore(cr);
        if (p->hmarks[i].label) {
            set_rgb(cr, p->hmark_color);
            text_at(cr, v.px + 4, py - 2, p->hmarks[i].label, 0, 1, 0);
        }
    }
    for (int s = 0; s < p->n_series; s++) draw_series(cr, &v, &p->series[s], font);
    cairo_restore(cr);

    if (p->legend) draw_legend_inside(cr, &v, p, font * 0.92);
    cairo_restore(cr);
}
