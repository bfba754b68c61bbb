/* Genotypes: derivation from mixed-op weights, DARTS' printed form, JSON, parsing. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/genotype.h"

static void derive_cell(const float *w /* [14][K] */, const rd_opset *set, const rd_edge_mask *alive, int steps,
                        int multiplier, rd_geno_cell *out) {
    int K = set->count, none = rd_opset_find(set, RD_OP_NONE);
    memset(out, 0, sizeof *out);
    out->steps = steps;
    int start = 0;
    for (int i = 0; i < steps; i++) {
        int n_in = i + 2;
        double best_w[RD_GENO_MAX_NODES + 2];
        int best_k[RD_GENO_MAX_NODES + 2];
        for (int j = 0; j < n_in; j++) {
            best_w[j] = -INFINITY;
            best_k[j] = -1;
            for (int k = 0; k < K; k++) {
                if (k == none || !(alive[start + j] & (1u << k))) continue;
                if (best_k[j] < 0 || w[(start + j) * K + k] > best_w[j]) {
                    best_w[j] = w[(start + j) * K + k];
                    best_k[j] = k;
                }
            }
            /* only `none` alive on this edge; a mask naming no op of the set (callers refuse
             * those) falls back to op 0 rather than reading outside the set */
            if (best_k[j] < 0) best_k[j] = none >= 0 ? none : 0;
        }
        /* the two inputs with the highest best weight; stable (lower input first on ties) */
        int first = -1, second = -1;
        for (int j = 0; j < n_in; j++)
            if (first < 0 || best_w[j] > best_w[first]) first = j;
        for (int j = 0; j < n_in; j++)
            if (j != first && (second < 0 || best_w[j] > best_w[second])) second = j;
        int pick[2] = {first, second};
        if (best_w[second] > best_w[first] || (best_w[second] == best_w[first] && second < first)) {
            pick[0] = second;
            pick[1] = first;
        }
        for (int p = 0; p < 2; p++) {
            out->edges[2 * i + p].input = pick[p];
            out->edges[2 * i + p].op = set->ops[best_k[pick[p]]];
        }
        start += n_in;
    }
    out->n_concat = multiplier;
    for (int c = 0; c < multiplier; c++) out->concat[c] = 2 + steps - multiplier + c;
}

void rd_genotype_derive(const float *weights, const rd_opset *set, const rd_arch_mask *alive, int steps,
                        int multiplier, rd_genotype *out) {
    /* the weights hold RD_CELL_EDGES rows per cell type: RD_CELL_NODES nodes, no more */
    if (steps < 1 || steps > RD_CELL_NODES) steps = RD_CELL_NODES;
    if (multiplier < 1 || multiplier > steps) multiplier = steps;
    rd_arch_mask all;
    if (!alive) {
        rd_arch_mask_all(&all, set);
        alive = &all;
    }
    derive_cell(weights, set, alive->edge[0], steps, multiplier, &out->normal);
    derive_cell(weights + (size_t)RD_CELL_EDGES * set->count, set, alive->edge[1], steps, multiplier, &out->reduce);
}

/* The normal-cell edge (row of the weights) holding the weakest chosen op among `guarded`
 * (*op: that op's bit), skipping edges where no op outside `guarded` and `none` is alive;
 * *count = how many chosen edges hold a guarded op. -1 if none can change. */
static int weakest_guarded(const float *weights, const rd_opset *set, const rd_arch_mask *a, const rd_geno_cell *cell,
                           rd_edge_mask guarded, int *count, rd_edge_mask *op) {
    int K = set->count, none = rd_opset_find(set, RD_OP_NONE), weakest = -1;
    float weakest_w = 0;
    rd_edge_mask not_real = guarded | (none >= 0 ? 1u << none : 0);
    *count = 0;
    for (int i = 0; i < 2 * cell->steps; i++) {
        int k = rd_opset_find(set, cell->edges[i].op);
        if (k < 0 || !(guarded >> k & 1)) continue;
        ++*count;
        int row = rd_cell_edge_row(i / 2, cell->edges[i].input);
        if (!(a->edge[0][row] & ~not_real)) continue; /* nothing else could stand on this edge */
        if (weakest < 0 || weights[row * K + k] < weakest_w) {
            weakest = row;
            weakest_w = weights[row * K + k];
            *op = 1u << k;
        }
    }
    return weakest;
}

int rd_genotype_guarded(const float *weights, const rd_opset *set, const rd_arch_mask *alive, int steps,
                        int multiplier, const rd_geno_guard *guard, rd_genotype *out) {
    rd_arch_mask a;
    if (alive) a = *alive;
    else rd_arch_mask_all(&a, set);
    rd_genotype_derive(weights, set, &a, steps, multiplier, out);
    rd_edge_mask skip = 0, param_free = 0;
    for (int k = 0; k < set->count; k++) {
        if (set->ops[k] == RD_OP_SKIP_CONNECT) skip |= 1u << k;
        if (set->ops[k] != RD_OP_NONE && rd_op_is_param_free(set->ops[k])) param_free |= 1u << k;
    }
    int changes = 0;
    for (;;) {
        /* P-DARTS zeroes the weakest guarded op's weight and derives again: the edge takes
         * its next best op, and the node may now prefer another input */
        int count, row = -1;
        rd_edge_mask op = 0;
        if (guard && guard->max_skip >= 0) {
            row = weakest_guarded(weights, set, &a, &out->normal, skip, &count, &op);
            if (count <= guard->max_skip) row = -1;
        }
        if (row < 0 && guard && guard->max_param_free >= 0) {
            row = weakest_guarded(weights, set, &a, &out->normal, param_free, &count, &op);
            if (count <= guard->max_param_free) row = -1;
        }
        if (row < 0) return changes;
        a.edge[0][row] &= ~op;
        changes++;
        rd_genotype_derive(weights, set, &a, steps, multiplier, out);
    }
}

void rd_genotype_alpha_weights(const float *alphas, const rd_opset *set, const rd_arch_mask *alive, float *weights) {
    rd_arch_mask all;
    if (!alive) {
        rd_arch_mask_all(&all, set);
        alive = &all;
    }
    int K = set->count;
    for (int row = 0; row < 2 * RD_CELL_EDGES; row++) {
        rd_edge_mask m = alive->edge[row / RD_CELL_EDGES][row % RD_CELL_EDGES];
        const float *a = alphas + row * K;
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++)
            if (m >> k & 1) mx = fmax(mx, a[k]);
        for (int k = 0; k < K; k++) sum += (m >> k & 1) ? exp(a[k] - mx) : 0;
        for (int k = 0; k < K; k++) weights[row * K + k] = (m >> k & 1) ? (float)(exp(a[k] - mx) / sum) : 0.0f;
    }
}

void rd_genotype_beta_scale(const float *betas, const rd_opset *set, float *weights) {
    for (int t = 0; t < 2; t++)
        for (int node = 0; node < RD_CELL_NODES; node++) {
            const float *b = betas + t * RD_CELL_EDGES + rd_cell_edge_row(node, 0);
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < node + 2; j++) mx = fmax(mx, b[j]);
            for (int j = 0; j < node + 2; j++) sum += exp(b[j] - mx);
            for (int j = 0; j < node + 2; j++) {
                float *row = weights + (size_t)(t * RD_CELL_EDGES + rd_cell_edge_row(node, j)) * set->count;
                for (int k = 0; k < set->count; k++) row[k] *= (float)(exp(b[j] - mx) / sum);
            }
        }
}

int rd_genotype_derive_alphas(const float *alphas, const float *betas, const rd_opset *set, const rd_arch_mask *alive,
                              int steps, int multiplier, const rd_geno_guard *guard, rd_genotype *out) {
    float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
    rd_genotype_alpha_weights(alphas, set, alive, w);
    if (betas) rd_genotype_beta_scale(betas, set, w);
    return rd_genotype_guarded(w, set, alive, steps, multiplier, guard, out);
}

static size_t append(char *out, size_t len, size_t pos, const char *fmt, const char *s, int v) {
    if (pos >= len) return pos;
    int n = s ? snprintf(out + pos, len - pos, fmt, s, v) : snprintf(out + pos, len - pos, fmt, v);
    return n < 0 ? pos : pos + (size_t)n;
}

static size_t format_cell(const rd_geno_cell *c, const char *name, int json, char *out, size_t len, size_t pos) {
    pos = append(out, len, pos, json ? "\"%s\": [" : "%s=[", name, 0);
    for (int i = 0; i < 2 * c->steps; i++) {
        if (i) pos = append(out, len, pos, "%s", ", ", 0);
        pos = append(out, len, pos, json ? "[\"%s\", %d]" : "('%s', %d)", rd_op_name(c->edges[i].op), c->edges[i].input);
    }
    pos = append(out, len, pos, json ? "], \"%s_concat\": [" : "], %s_concat=[", name, 0);
    for (int i = 0; i < c->n_concat; i++) pos = append(out, len, pos, i ? ", %d" : "%d", NULL, c->concat[i]);
    return append(out, len, pos, "%s", "]", 0);
}

char *rd_genotype_format(const rd_genotype *g, char *out, size_t len) {
    size_t pos = append(out, len, 0, "%s", "Genotype(", 0);
    pos = format_cell(&g->normal, "normal", 0, out, len, pos);
    pos = append(out, len, pos, "%s", ", ", 0);
    pos = format_cell(&g->reduce, "reduce", 0, out, len, pos);
    append(out, len, pos, "%s", ")", 0);
    return out;
}

char *rd_genotype_to_json(const rd_genotype *g, char *out, size_t len) {
    size_t pos = append(out, len, 0, "%s", "{", 0);
    pos = format_cell(&g->normal, "normal", 1, out, len, pos);
    pos = append(out, len, pos, "%s", ", ", 0);
    pos = format_cell(&g->reduce, "reduce", 1, out, len, pos);
    append(out, len, pos, "%s", "}", 0);
    return out;
}

int rd_genotype_equal(const rd_genotype *a, const rd_genotype *b) {
    const rd_geno_cell *ca[2] = {&a->normal, &a->reduce}, *cb[2] = {&b->normal, &b->reduce};
    for (int t = 0; t < 2; t++) {
        if (ca[t]->steps != cb[t]->steps || ca[t]->n_concat != cb[t]->n_concat) return 0;
        for (int i = 0; i < 2 * ca[t]->steps; i++)
            if (ca[t]->edges[i].op != cb[t]->edges[i].op || ca[t]->edges[i].input != cb[t]->edges[i].input) return 0;
        for (int i = 0; i < ca[t]->n_concat; i++)
            if (ca[t]->concat[i] != cb[t]->concat[i]) return 0;
    }
    return 1;
}

/* ---- parsing: a small recursive-descent reader of the Python / JSON literal ---- */
typedef struct parser {
    const char *s;
    size_t pos;
    rd_err *err;
} parser;

static void skip_ws(parser *p) {
    while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos])) p->pos++;
}

static int accept(parser *p, char c) {
    skip_ws(p);
    if (p->s[p->pos] == c) { p->pos++; return 1; }
    return 0;
}

static rd_status expect(parser *p, char c, const char *where) {
    if (accept(p, c)) return RD_OK;
    char got[16];
    if (p->s[p->pos]) snprintf(got, sizeof got, "'%c'", p->s[p->pos]);
    else snprintf(got, sizeof got, "end of text");
    return rd_fail(p->err, RD_ERR_FORMAT, "genotype: expected '%c' %s at character %zu, found %s", c, where,
                   p->pos + 1, got);
}

static rd_status parse_ident(parser *p, char *out, size_t len) {
    skip_ws(p);
    size_t n = 0;
    while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_') {
        if (n + 1 < len) out[n++] = p->s[p->pos];
        p->pos++;
    }
    out[n] = 0;
    if (!n) return rd_fail(p->err, RD_ERR_FORMAT, "genotype: expected a name at character %zu", p->pos + 1);
    return RD_OK;
}

static rd_status parse_string(parser *p, char *out, size_t len) {
    skip_ws(p);
    char q = p->s[p->pos];
    if (q != '\'' && q != '"')
        return rd_fail(p->err, RD_ERR_FORMAT, "genotype: expected a quoted op name at character %zu", p->pos + 1);
    p->pos++;
    size_t n = 0;
    while (p->s[p->pos] && p->s[p->pos] != q) {
        if (n + 1 < len) out[n++] = p->s[p->pos];
        p->pos++;
    }
    out[n] = 0;
    if (p->s[p->pos] != q) return rd_fail(p->err, RD_ERR_FORMAT, "genotype: unterminated string");
    p->pos++;
    return RD_OK;
}

static rd_status parse_int(parser *p, int *v) {
    skip_ws(p);
    char *end;
    long x = strtol(p->s + p->pos, &end, 10);
    if (end == p->s + p->pos)
        return rd_fail(p->err, RD_ERR_FORMAT, "genotype: expected an integer at character %zu", p->pos + 1);
    if (x < -1000000 || x > 1000000) return rd_fail(p->err, RD_ERR_FORMAT, "genotype: integer %ld out of range", x);
    p->pos = (size_t)(end - p->s);
    *v = (int)x;
    return RD_OK;
}

/* [('op', j), ...] or [["op", j], ...] */
static rd_status parse_edges(parser *p, const char *field, rd_geno_cell *c) {
    RD_TRY(expect(p, '[', field));
    int n = 0;
    if (!accept(p, ']')) {
        do {
            char open = accept(p, '(') ? ')' : 0;
            if (!open) {
                RD_TRY(expect(p, '[', field));
                open = ']';
            }
            char name[64];
            RD_TRY(parse_string(p, name, sizeof name));
            RD_TRY(expect(p, ',', field));
            int input;
            RD_TRY(parse_int(p, &input));
            RD_TRY(expect(p, open, field));
            if (n == 2 * RD_GENO_MAX_NODES)
                return rd_fail(p->err, RD_ERR_FORMAT, "genotype: %s has more than %d edges", field, 2 * RD_GENO_MAX_NODES);
            rd_op_id op;
            rd_err e2;
            if (rd_op_from_name(name, &op, &e2) != RD_OK)
                return rd_fail(p->err, RD_ERR_FORMAT, "genotype: %s edge %d: %s", field, n, e2.msg);
            int node = n / 2;
            if (input < 0 || input >= node + 2)
                return rd_fail(p->err, RD_ERR_FORMAT,
                               "genotype: %s edge %d ('%s', %d): node %d can only read states 0..%d", field, n, name,
                               input, node, node + 1);
            c->edges[n].op = op;
            c->edges[n].input = input;
            n++;
        } while (accept(p, ','));
        RD_TRY(expect(p, ']', field));
    }
    if (n == 0 || n % 2)
        return rd_fail(p->err, RD_ERR_FORMAT, "genotype: %s has %d edges: each node needs exactly 2", field, n);
    c->steps = n / 2;
    return RD_OK;
}

/* [2, 3, 4, 5] or range(2, 6) */
static rd_status parse_concat(parser *p, const char *field, rd_geno_cell *c) {
    skip_ws(p);
    c->n_concat = 0;
    if (!strncmp(p->s + p->pos, "range", 5)) {
        p->pos += 5;
        int a, b;
        RD_TRY(expect(p, '(', field));
        RD_TRY(parse_int(p, &a));
        RD_TRY(expect(p, ',', field));
        RD_TRY(parse_int(p, &b));
        RD_TRY(expect(p, ')', field));
        for (int v = a; v < b; v++) {
            if (c->n_concat == RD_GENO_MAX_NODES + 2)
                return rd_fail(p->err, RD_ERR_FORMAT, "genotype: %s range(%d, %d) is too long", field, a, b);
            c->concat[c->n_concat++] = v;
        }
    } else {
        RD_TRY(expect(p, '[', field));
        if (!accept(p, ']')) {
            do {
                int v;
                RD_TRY(parse_int(p, &v));
                if (c->n_concat == RD_GENO_MAX_NODES + 2)
                    return rd_fail(p->err, RD_ERR_FORMAT, "genotype: %s is too long", field);
                c->concat[c->n_concat++] = v;
            } while (accept(p, ','));
            RD_TRY(expect(p, ']', field));
        }
    }
    if (!c->n_concat) return rd_fail(p->err, RD_ERR_FORMAT, "genotype: %s is empty", field);
    return RD_OK;
}

rd_status rd_genotype_parse(const char *text, rd_genotype *out, rd_err *err) {
    parser p = {text, 0, err};
    memset(out, 0, sizeof *out);
    int json = 0;
    skip_ws(&p);
    if (p.s[p.pos] == '{') {
        json = 1;
        p.pos++;
    } else {
        char name[32];
        RD_TRY(parse_ident(&p, name, sizeof name));
        if (strcmp(name, "Genotype"))
            return rd_fail(err, RD_ERR_FORMAT, "genotype: expected 'Genotype(' or a JSON object, found '%s'", name);
        RD_TRY(expect(&p, '(', "after Genotype"));
    }
    int seen[4] = {0};
    const char *fields[4] = {"normal", "normal_concat", "reduce", "reduce_concat"};
    char close = json ? '}' : ')';
    if (!accept(&p, close)) {
        do {
            char key[32];
            if (json) RD_TRY(parse_string(&p, key, sizeof key));
            else RD_TRY(parse_ident(&p, key, sizeof key));
            RD_TRY(expect(&p, json ? ':' : '=', key));
            int f = -1;
            for (int i = 0; i < 4; i++)
                if (!strcmp(key, fields[i])) f = i;
            if (f < 0) return rd_fail(err, RD_ERR_FORMAT, "genotype: unknown field '%s'", key);
            if (seen[f]) return rd_fail(err, RD_ERR_FORMAT, "genotype: field '%s' given twice", key);
            seen[f] = 1;
            rd_geno_cell *c = f < 2 ? &out->normal : &out->reduce;
            RD_TRY(f % 2 ? parse_concat(&p, key, c) : parse_edges(&p, key, c));
        } while (accept(&p, ','));
        RD_TRY(expect(&p, close, "at the end"));
    }
    skip_ws(&p);
    if (p.s[p.pos]) return rd_fail(err, RD_ERR_FORMAT, "genotype: unexpected text after the end at character %zu", p.pos + 1);
    for (int i = 0; i < 4; i++)
        if (!seen[i]) return rd_fail(err, RD_ERR_FORMAT, "genotype: missing field '%s'", fields[i]);
    const rd_geno_cell *cells[2] = {&out->normal, &out->reduce};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < cells[t]->n_concat; i++)
            if (cells[t]->concat[i] < 0 || cells[t]->concat[i] >= cells[t]->steps + 2)
                return rd_fail(err, RD_ERR_FORMAT, "genotype: %s_concat names state %d, the cell has states 0..%d",
                               t ? "reduce" : "normal", cells[t]->concat[i], cells[t]->steps + 1);
    if (out->normal.steps != out->reduce.steps)
        return rd_fail(err, RD_ERR_FORMAT, "genotype: normal cell has %d nodes, reduction cell %d", out->normal.steps,
                       out->reduce.steps);
    return RD_OK;
}
