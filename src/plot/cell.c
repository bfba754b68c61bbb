/* Cell drawings: a genotype's cell as DOT text (DARTS' visualize.py), laid
 * out and rendered to PNG by Graphviz's own library (libgvc). */
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/io.h"
#include "radars/plot.h"

/* The name of state j of a cell: the two inputs, then node j - 2. */
static void state_name(int j, char *out, size_t len) {
    if (j == 0) snprintf(out, len, "c_{k-2}");
    else if (j == 1) snprintf(out, len, "c_{k-1}");
    else snprintf(out, len, "%d", j - 2);
}

rd_status rd_plot_cell_dot(const rd_genotype *g, int reduce, const char *title, char **dot, rd_err *err) {
    const rd_geno_cell *c = reduce ? &g->reduce : &g->normal;
    *dot = NULL;
    if (c->steps < 1 || c->steps > RD_GENO_MAX_NODES)
        return rd_fail(err, RD_ERR_ARG, "cell drawing: %d nodes (1 to %d)", c->steps, RD_GENO_MAX_NODES);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "cell drawing: out of host memory");
    /* the attributes of visualize.py, plus a title and a resolution fit for a screen */
    fprintf(f, "digraph \"%s\" {\n", reduce ? "reduce" : "normal");
    fprintf(f, "  rankdir=LR;\n  dpi=110;\n");
    if (title && *title) {
        fputs("  labelloc=t;\n  fontsize=22;\n  fontname=\"times\";\n  label=\"", f);
        for (const char *p = title; *p; p++) {
            if (*p == '"' || *p == '\\') fputc('\\', f);
            fputc(*p, f);
        }
        fputs("\";\n", f);
    }
    fprintf(f, "  node [style=filled, shape=rect, align=center, fontsize=20, height=0.5, width=0.5, penwidth=2, "
               "fontname=\"times\"];\n");
    fprintf(f, "  edge [fontsize=20, fontname=\"times\"];\n");
    fprintf(f, "  \"c_{k-2}\" [fillcolor=darkseagreen2];\n  \"c_{k-1}\" [fillcolor=darkseagreen2];\n");
    for (int i = 0; i < c->steps; i++) fprintf(f, "  \"%d\" [fillcolor=lightblue];\n", i);
    for (int i = 0; i < c->steps; i++)
        for (int k = 2 * i; k < 2 * i + 2; k++) {
            const rd_geno_edge *e = &c->edges[k];
            if (e->input < 0 || e->input >= i + 2) {
                fclose(f);
                free(buf);
                return rd_fail(err, RD_ERR_ARG, "cell drawing: node %d reads state %d (0 to %d)", i, e->input, i + 1);
            }
            char from[16];
            state_name(e->input, from, sizeof from);
            fprintf(f, "  \"%s\" -> \"%d\" [label=\"%s\", fillcolor=gray];\n", from, i, rd_op_name(e->op));
        }
    fprintf(f, "  \"c_{k}\" [fillcolor=palegoldenrod];\n");
    for (int i = 0; i < c->n_concat; i++) {
        char from[16];
        state_name(c->concat[i], from, sizeof from);
        fprintf(f, "  \"%s\" -> \"c_{k}\" [fillcolor=gray];\n", from);
    }
    fputs("}\n", f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return rd_fail(err, RD_ERR_OUT_OF_MEMORY, "cell drawing: out of host memory");
    }
    *dot = buf;
    return RD_OK;
}

/* Graphviz reports through agerr, which prints to stderr unless a hook takes
 * the text: keep the first message for our error line instead. */
static char gv_message[512];
static int gv_capture(char *msg) {
    if (!gv_message[0]) {
        snprintf(gv_message, sizeof gv_message, "%s", msg);
        size_t n = strlen(gv_message);
        while (n && (gv_message[n - 1] == '\n' || gv_message[n - 1] == ' ')) gv_message[--n] = 0;
    }
    return 0;
}

/* One Graphviz context for the whole process, never freed: Graphviz 2.42's
 * pango plugin caches a pointer to the last font name, a string the context
 * owns, and compares against it on the next layout, so a context freed between
 * two drawings is read after free (seen under AddressSanitizer). */
static GVC_t *gv_context(void) {
    static GVC_t *gvc;
    if (!gvc) gvc = gvContext();
    return gvc;
}

rd_status rd_plot_dot_to_png(const char *dot, const char *path, rd_err *err) {
    gv_message[0] = 0;
    agusererrf previous = agseterrf(gv_capture);
    rd_status st = RD_OK;
    GVC_t *gvc = gv_context();
    Agraph_t *g = NULL;
    char *data = NULL;
    unsigned int len = 0;
    int laid_out = 0;
    if (!gvc) {
        st = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "%s: graphviz could not start", path);
        goto done;
    }
    g = agmemread(dot);
    if (!g) {
        st = rd_fail(err, RD_ERR_FORMAT, "%s: graphviz cannot read the DOT text: %s", path,
                     gv_message[0] ? gv_message : "syntax error");
        goto done;
    }
    if (gvLayout(gvc, g, "dot") != 0) {
        st = rd_fail(err, RD_ERR_IO, "%s: graphviz layout 'dot' failed: %s", path,
                     gv_message[0] ? gv_message : "is the dot layout plugin installed (libgvc6)?");
        goto done;
    }
    laid_out = 1;
    if (gvRenderData(gvc, g, "png", &data, &len) != 0 || !data || !len) {
        st = rd_fail(err, RD_ERR_IO, "%s: graphviz cannot render PNG: %s", path,
                     gv_message[0] ? gv_message : "is a png renderer plugin installed (libgvc6)?");
        goto done;
    }
    st = rd_write_file_atomic(path, data, len, err);
done:
    if (data) gvFreeRenderData(data);
    if (laid_out) gvFreeLayout(gvc, g);
    if (g) agclose(g);
    agseterrf(previous);
    return st;
}
