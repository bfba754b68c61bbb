/* Internal to src/plot: line charts drawn with cairo onto an image surface.
 *
 * A figure is one PNG; it holds panels (axes with a title, axis labels, nice
 * ticks, a grid, series as lines and/or markers, reference lines and a legend)
 * placed by the caller. Non-finite points are gaps. Text uses cairo's own text
 * API with the "DejaVu Sans" face (fontconfig picks a substitute if missing). */
#ifndef RADARS_PLOT_CHART_H
#define RADARS_PLOT_CHART_H

#include <cairo.h>

#include "radars/common.h"

typedef struct pl_rgb {
    double r, g, b;
} pl_rgb;

enum { PL_LINE = 1, PL_MARKERS = 2 };
enum { PL_MAX_SERIES = 24, PL_MAX_MARKS = 256 };

typedef struct pl_series {
    const char *label;     /* legend text (NULL: not in the legend) */
    const double *x, *y;
    int n;
    pl_rgb color;
    int style;             /* PL_LINE | PL_MARKERS */
    int dashed;
    double width;          /* line width in pixels (0: 2) */
} pl_series;

/* A reference line across the panel: vertical at x, or horizontal at y. */
typedef struct pl_mark {
    double at;
    const char *label;     /* written along the line (may be NULL) */
} pl_mark;

typedef struct pl_panel {
    const char *title, *xlabel, *ylabel;
    pl_series series[PL_MAX_SERIES];
    int n_series;
    pl_mark vmarks[PL_MAX_MARKS];
    int n_vmarks;
    pl_mark hmarks[8];
    int n_hmarks;
    pl_rgb hmark_color;
    int legend;            /* draw a legend inside, in the emptiest corner */
    int x_integer;         /* ticks only at whole numbers (epochs, rounds) */
    int y_zero;            /* the y range reaches down (or up) to 0: amounts such as MiB or counts */
    int fix_y;             /* use y_min..y_max instead of the data's range */
    double y_min, y_max;
    double font;           /* base text size in pixels (0: 13) */
} pl_panel;

typedef struct pl_figure {
    cairo_surface_t *surface;
    cairo_t *cr;
    int width, height;
} pl_figure;

/* A white figure with a title (bold, centred) and a subtitle (grey, right). */
rd_status pl_figure_begin(pl_figure *f, int width, int height, const char *title, const char *subtitle, rd_err *err);
/* Draws a panel into the box (x, y, w, h) of the figure. */
void pl_panel_draw(pl_figure *f, double x, double y, double w, double h, const pl_panel *p);
/* A free-standing legend of the labelled series, in rows filling the box. */
void pl_legend_draw(pl_figure *f, double x, double y, double w, double h, const pl_series *s, int n, const char *title,
                    double font);
/* Writes the figure as a PNG, atomically, and frees it. */
rd_status pl_figure_write(pl_figure *f, const char *path, rd_err *err);
void pl_figure_free(pl_figure *f);

/* Nice tick positions covering [lo, hi]: first tick, step, count. */
void pl_nice_ticks(double lo, double hi, int target, int integer, double *first, double *step, int *count);

#endif
