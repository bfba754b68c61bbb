/* Genotypes: DARTS' derivation rule, its printed form, parsing and malformed input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/genotype.h"
#include "runtime/rng.h"
#include "test_util.h"

static const char *DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

START_TEST(derive_follows_darts_rule) {
    rd_opset set;
    ck_assert_int_eq(rd_opset_parse("darts", &set, NULL), RD_OK);
    int K = set.count;
    float w[2 * RD_CELL_EDGES * 8];
    /* every op weight small; 'none' is the largest everywhere and must be ignored */
    for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) w[i] = 0.01f;
    for (int i = 0; i < 2 * RD_CELL_EDGES; i++) w[i * K + 0] = 0.9f;
    /* normal node 0 (edges 0, 1): edge 1 best with sep_conv_5x5 (k=5), edge 0 with max_pool (k=1) */
    w[1 * K + 5] = 0.5f;
    w[0 * K + 1] = 0.3f;
    /* node 1 (edges 2, 3, 4): input 2 (edge 4) dil_conv_3x3 0.6 and input 0 (edge 2) skip 0.4; input 1 weaker */
    w[4 * K + 6] = 0.6f;
    w[2 * K + 3] = 0.4f;
    w[3 * K + 4] = 0.2f;
    /* node 2 (edges 5..8), node 3 (edges 9..13): ties everywhere -> lowest inputs, first op after none */
    rd_genotype g;
    rd_genotype_derive(w, &set, NULL, 4, 4, &g);
    ck_assert_int_eq(g.normal.edges[0].op, RD_OP_SEP_CONV_5X5);
    ck_assert_int_eq(g.normal.edges[0].input, 1);
    ck_assert_int_eq(g.normal.edges[1].op, RD_OP_MAX_POOL_3X3);
    ck_assert_int_eq(g.normal.edges[1].input, 0);
    ck_assert_int_eq(g.normal.edges[2].op, RD_OP_DIL_CONV_3X3);
    ck_assert_int_eq(g.normal.edges[2].input, 2);
    ck_assert_int_eq(g.normal.edges[3].op, RD_OP_SKIP_CONNECT);
    ck_assert_int_eq(g.normal.edges[3].input, 0);
    ck_assert_int_eq(g.normal.edges[4].op, RD_OP_MAX_POOL_3X3);
    ck_assert_int_eq(g.normal.edges[4].input, 0);
    ck_assert_int_eq(g.normal.edges[5].input, 1);
    ck_assert_int_eq(g.normal.n_concat, 4);
    ck_assert_int_eq(g.normal.concat[0], 2);
    ck_assert_int_eq(g.normal.concat[3], 5);
    /* a dead op is never chosen even with the largest weight */
    rd_arch_mask alive;
    rd_arch_mask_all(&alive, &set);
    alive.edge[0][1] &= ~(1u << 5);
    rd_genotype_derive(w, &set, &alive, 4, 4, &g);
    ck_assert_int_ne(g.normal.edges[0].op, RD_OP_SEP_CONV_5X5);
    /* an edge with only 'none' alive yields 'none' when it must be chosen (node 0 has 2 inputs) */
    alive.edge[1][0] = 1u;
    rd_genotype_derive(w, &set, &alive, 4, 4, &g);
    int found_none = 0;
    for (int i = 0; i < 2; i++) found_none |= g.reduce.edges[i].op == RD_OP_NONE && g.reduce.edges[i].input == 0;
    ck_assert(found_none);
}
END_TEST

static int normal_skips(const rd_genotype *g) {
    int n = 0;
    for (int i = 0; i < 2 * g->normal.steps; i++) n += g->normal.edges[i].op == RD_OP_SKIP_CONNECT;
    return n;
}

/* P-DARTS' rule: the weakest skip_connect edges lose skip_connect until the normal cell
 * holds at most M; edges with no other real op keep it; the reduction cell is left alone. */
START_TEST(skip_guard_keeps_the_strongest_skips) {
    rd_opset set;
    ck_assert_int_eq(rd_opset_parse("darts", &set, NULL), RD_OK);
    int K = set.count, skip = rd_opset_find(&set, RD_OP_SKIP_CONNECT), sep = rd_opset_find(&set, RD_OP_SEP_CONV_3X3);
    float w[2 * RD_CELL_EDGES * 8];
    for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) w[i] = 0.01f;
    for (int row = 0; row < 2 * RD_CELL_EDGES; row++) {
        w[row * K + skip] = 0.5f + 0.01f * row; /* later edges: stronger skips */
        w[row * K + sep] = 0.1f;
    }
    rd_genotype plain, g;
    rd_genotype_derive(w, &set, NULL, 4, 4, &plain);
    ck_assert_int_eq(normal_skips(&plain), 8); /* collapse: every chosen edge a skip */
    /* off, or a limit already met: the plain derivation */
    ck_assert_int_eq(rd_genotype_guarded(w, &set, NULL, 4, 4, &(rd_geno_guard){-1, -1}, &g), 0);
    ck_assert(rd_genotype_equal(&g, &plain));
    ck_assert_int_eq(rd_genotype_guarded(w, &set, NULL, 4, 4, &(rd_geno_guard){8, -1}, &g), 0);
    ck_assert(rd_genotype_equal(&g, &plain));
    /* at most 2: the two strongest (node 3 reading states 3 and 4, rows 12 and 13) stay */
    int removed = rd_genotype_guarded(w, &set, NULL, 4, 4, &(rd_geno_guard){2, -1}, &g);
    ck_assert_int_ge(removed, 6);
    ck_assert_int_eq(normal_skips(&g), 2);
    for (int i = 0; i < 8; i++) {
        const rd_geno_edge *e = &g.normal.edges[i];
        if (i < 6) ck_assert_int_eq(e->op, RD_OP_SEP_CONV_3X3);
        else ck_assert(e->op == RD_OP_SKIP_CONNECT && (e->input == 3 || e->input == 4));
    }
    ck_assert_int_ne(g.normal.edges[6].input, g.normal.edges[7].input);
    ck_assert_mem_eq(&g.reduce, &plain.reduce, sizeof g.reduce);
    /* edges where skip_connect is the only real op keep it, even at a limit of 0 */
    rd_arch_mask alive;
    rd_arch_mask_all(&alive, &set);
    alive.edge[0][0] = alive.edge[0][1] = (1u << skip) | 1u; /* node 0: none and skip only */
    rd_genotype_guarded(w, &set, &alive, 4, 4, &(rd_geno_guard){0, -1}, &g);
    ck_assert_int_eq(normal_skips(&g), 2);
    ck_assert_int_eq(g.normal.edges[0].op, RD_OP_SKIP_CONNECT);
    ck_assert_int_eq(g.normal.edges[1].op, RD_OP_SKIP_CONNECT);
    /* the same through the alphas (the checkpoint's path): softmax keeps the order */
    float a[2 * RD_CELL_EDGES * 8];
    for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) a[i] = logf(w[i]);
    ck_assert_int_ge(rd_genotype_derive_alphas(a, NULL, &set, NULL, 4, 4, &(rd_geno_guard){2, -1}, &g), 6);
    ck_assert_int_eq(normal_skips(&g), 2);
}
END_TEST

static int normal_param_free(const rd_genotype *g) {
    int n = 0;
    for (int i = 0; i < 2 * g->normal.steps; i++) n += rd_op_is_param_free(g->normal.edges[i].op);
    return n;
}

/* search.max_param_free_normal: the weakest pool/skip edges lose their op until the normal
 * cell holds at most M; the strongest stays; skip_connect's own rule goes first; an edge
 * with only weightless ops alive keeps one; the reduction cell is left alone. */
START_TEST(param_free_guard_keeps_the_strongest) {
    rd_opset set;
    ck_assert_int_eq(rd_opset_parse("large", &set, NULL), RD_OK);
    int K = set.count, mp5 = rd_opset_find(&set, RD_OP_MAX_POOL_5X5), ap3 = rd_opset_find(&set, RD_OP_AVG_POOL_3X3),
        skip = rd_opset_find(&set, RD_OP_SKIP_CONNECT), conv = rd_opset_find(&set, RD_OP_CONV_3X3),
        sep = rd_opset_find(&set, RD_OP_SEP_CONV_3X3);
    float w[2 * RD_CELL_EDGES * RD_MAX_OPS];
    for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) w[i] = 0.01f;
    for (int row = 0; row < 2 * RD_CELL_EDGES; row++) {
        w[row * K + mp5] = 0.5f + 0.01f * row; /* later edges: stronger pools */
        w[row * K + ap3] = 0.3f;               /* each edge's runner-up is weightless too */
        w[row * K + conv] = 0.2f;
    }
    rd_genotype plain, g;
    rd_genotype_derive(w, &set, NULL, 4, 4, &plain);
    ck_assert_int_eq(normal_param_free(&plain), 8);
    ck_assert_int_eq(rd_genotype_guarded(w, &set, NULL, 4, 4, &(rd_geno_guard){-1, 8}, &g), 0);
    ck_assert(rd_genotype_equal(&g, &plain));
    /* at most 1: the strongest pool (node 3 reading state 4, row 13) stays; the others fall
     * past their weightless runner-up to conv_3x3 */
    int changes = rd_genotype_guarded(w, &set, NULL, 4, 4, &(rd_geno_guard){-1, 1}, &g);
    ck_assert_int_ge(changes, 14);
    ck_assert_int_eq(normal_param_free(&g), 1);
    for (int i = 0; i < 8; i++) {
        const rd_geno_edge *e = &g.normal.edges[i];
        if (e->op == RD_OP_MAX_POOL_5X5) ck_assert(i >= 6 && e->input == 4);
        else ck_assert_int_eq(e->op, RD_OP_CONV_3X3);
    }
    ck_assert_mem_eq(&g.reduce, &plain.reduce, sizeof g.reduce);
    /* 0 with an edge of only weightless ops alive (node 0, both inputs): those keep theirs */
    rd_arch_mask alive;
    rd_arch_mask_all(&alive, &set);
    alive.edge[0][0] = alive.edge[0][1] = (1u << mp5) | (1u << skip) | 1u;
    rd_genotype_guarded(w, &set, &alive, 4, 4, &(rd_geno_guard){-1, 0}, &g);
    ck_assert_int_eq(normal_param_free(&g), 2);
    ck_assert_int_eq(g.normal.edges[0].op, RD_OP_MAX_POOL_5X5);
    for (int i = 2; i < 8; i++) ck_assert_int_eq(g.normal.edges[i].op, RD_OP_CONV_3X3);
    /* both rules: skip_connect's limit first (0 skips), then the weightless count (at most 2) */
    for (int row = 0; row < RD_CELL_EDGES; row++) w[row * K + skip] = 0.9f + 0.01f * row;
    w[0 * K + sep] = 0.95f;
    rd_genotype_derive(w, &set, NULL, 4, 4, &plain);
    ck_assert_int_eq(normal_skips(&plain), 7);
    changes = rd_genotype_guarded(w, &set, NULL, 4, 4, &(rd_geno_guard){0, 2}, &g);
    ck_assert_int_eq(normal_skips(&g), 0);
    ck_assert_int_eq(normal_param_free(&g), 2);
    ck_assert_int_ge(changes, 7 + 6);
    /* the same through the alphas (the checkpoint's path) */
    float a[2 * RD_CELL_EDGES * RD_MAX_OPS];
    for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) a[i] = logf(w[i]);
    rd_genotype h;
    ck_assert_int_eq(rd_genotype_derive_alphas(a, NULL, &set, NULL, 4, 4, &(rd_geno_guard){0, 2}, &h), changes);
    ck_assert(rd_genotype_equal(&g, &h));
}
END_TEST

START_TEST(format_and_parse_round_trip) {
    rd_genotype g, h;
    rd_err err;
    ck_assert_msg(rd_genotype_parse(DARTS_V2, &g, &err) == RD_OK, "%s", err.msg);
    char buf[2048], json[2048];
    rd_genotype_format(&g, buf, sizeof buf);
    ck_assert_str_eq(buf, DARTS_V2);
    rd_genotype_to_json(&g, json, sizeof json);
    ck_assert_msg(rd_genotype_parse(json, &h, &err) == RD_OK, "%s: %s", json, err.msg);
    ck_assert(rd_genotype_equal(&g, &h));
    /* DARTS as printed by train_search.py: range() concat, double quotes, newlines */
    const char *printed =
        "Genotype(normal=[(\"sep_conv_3x3\", 1), ('sep_conv_3x3', 0),\n ('skip_connect', 0), ('sep_conv_3x3', 1), "
        "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=range(2, 6), "
        "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=range(2, 6))";
    ck_assert_msg(rd_genotype_parse(printed, &g, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(g.normal.n_concat, 4);
    ck_assert_int_eq(g.normal.concat[0], 2);
    ck_assert_int_eq(g.reduce.edges[7].op, RD_OP_AVG_POOL_3X3);
    ck_assert_int_eq(g.normal.edges[0].input, 1);
}
END_TEST

static void expect_error(const char *text, const char *needle) {
    rd_genotype g;
    rd_err err = {0};
    ck_assert_msg(rd_genotype_parse(text, &g, &err) == RD_ERR_FORMAT, "accepted: %s", text);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
}

START_TEST(malformed_genotypes) {
    expect_error("Genotype(normal=[('sep_conv_9x9', 0), ('skip_connect', 1)], normal_concat=[2], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "unknown op 'sep_conv_9x9'");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "node 0 can only read states 0..1");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)])", "missing field 'reduce_concat'");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "each node needs exactly 2");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2, 7], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "names state 7");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)", "expected");
    expect_error("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], shape=[1], "
                 "reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])", "unknown field 'shape'");
    expect_error("Phenotype()", "expected 'Genotype('");
    expect_error("", "expected a name");
}
END_TEST

/* Out-of-contract input (more nodes than the alphas have rows for; a mask naming no
 * op of a set without `none`) is clamped, never read past: ASan checks the reads. */
START_TEST(derive_never_reads_past_its_inputs) {
    rd_opset set;
    ck_assert_int_eq(rd_opset_parse("sep_conv_3x3,max_pool_3x3", &set, NULL), RD_OK);
    float *w = malloc(sizeof(float) * 2 * RD_CELL_EDGES * set.count);
    for (int i = 0; i < 2 * RD_CELL_EDGES * set.count; i++) w[i] = (float)(i % 5);
    rd_arch_mask alive;
    rd_arch_mask_all(&alive, &set);
    alive.edge[0][0] = 1u << 5; /* beyond the set's 2 ops */
    rd_genotype g;
    rd_genotype_derive(w, &set, &alive, 8, 9, &g);
    ck_assert_int_eq(g.normal.steps, RD_CELL_NODES);
    ck_assert_int_eq(g.normal.n_concat, RD_CELL_NODES);
    for (int k = 0; k < 2 * RD_CELL_NODES; k++)
        ck_assert(g.normal.edges[k].op == RD_OP_SEP_CONV_3X3 || g.normal.edges[k].op == RD_OP_MAX_POOL_3X3);
    free(w);
}
END_TEST

/* The random baseline's claim (src/search/radars.c, random_genotype): alphas drawn i.i.d.
 * uniform and derived as DARTS derives give every non-`none` op of the space the same chance
 * on each chosen edge, and each node's pair of inputs is uniform over the pairs of earlier
 * states. Chi-square against uniform over 20,000 draws of the large space, at a bound that a
 * uniform sample exceeds with probability below 1e-6 (df + 6 sqrt(2 df) + 6). */
static double chi_square(const long *count, int cells, long total) {
    double e = (double)total / cells, x = 0;
    for (int i = 0; i < cells; i++) x += (count[i] - e) * (count[i] - e) / e;
    return x;
}
static double chi_bound(int df) { return df + 6 * sqrt(2.0 * df) + 6; }

START_TEST(derive_from_uniform_alphas_is_uniform) {
    rd_opset set;
    ck_assert_int_eq(rd_opset_parse("large", &set, NULL), RD_OK);
    int K = set.count, none = rd_opset_find(&set, RD_OP_NONE);
    ck_assert_int_ge(none, 0);
    enum { DRAWS = 20000 };
    long ops[RD_MAX_OPS] = {0}, pairs[RD_CELL_NODES][10] = {{0}};
    float a[2 * RD_CELL_EDGES * RD_MAX_OPS];
    uint64_t rng = 77;
    for (int d = 0; d < DRAWS; d++) {
        for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) a[i] = (float)rd_splitmix64_uniform(&rng);
        rd_genotype g;
        rd_genotype_derive_alphas(a, NULL, &set, NULL, RD_CELL_NODES, RD_CELL_NODES, NULL, &g);
        for (int t = 0; t < 2; t++) {
            const rd_geno_cell *cell = t ? &g.reduce : &g.normal;
            ck_assert_int_eq(cell->steps, RD_CELL_NODES);
            for (int n = 0; n < RD_CELL_NODES; n++) {
                int x = cell->edges[2 * n].input, y = cell->edges[2 * n + 1].input;
                ck_assert_msg(x != y && x >= 0 && y >= 0 && x < n + 2 && y < n + 2, "node %d: inputs %d, %d", n, x, y);
                int lo = x < y ? x : y, hi = x < y ? y : x;
                pairs[n][hi * (hi - 1) / 2 + lo]++; /* index of the pair among those of states 0..n+1 */
                for (int e = 0; e < 2; e++) {
                    int k = rd_opset_find(&set, cell->edges[2 * n + e].op);
                    ck_assert_msg(k >= 0 && k != none, "node %d: op %d", n, k);
                    ops[k]++;
                }
            }
        }
    }
    long nonnone[RD_MAX_OPS], m = 0;
    for (int k = 0; k < K; k++)
        if (k != none) nonnone[m++] = ops[k];
    double x = chi_square(nonnone, (int)m, 2L * DRAWS * 2 * RD_CELL_NODES);
    printf("uniform alphas: ops chi-square %.1f (df %ld, bound %.1f)", x, m - 1, chi_bound((int)m - 1));
    ck_assert_msg(x < chi_bound((int)m - 1), "ops are not uniform: chi-square %.1f", x);
    for (int n = 1; n < RD_CELL_NODES; n++) {
        int np = (n + 2) * (n + 1) / 2;
        double xn = chi_square(pairs[n], np, 2L * DRAWS);
        printf("; node %d pairs %.1f (df %d)", n, xn, np - 1);
        ck_assert_msg(xn < chi_bound(np - 1), "node %d: input pairs are not uniform: chi-square %.1f", n, xn);
    }
    printf("\n");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_genotype");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, derive_follows_darts_rule);
    tcase_add_test(tc, skip_guard_keeps_the_strongest_skips);
    tcase_add_test(tc, param_free_guard_keeps_the_strongest);
    tcase_add_test(tc, format_and_parse_round_trip);
    tcase_add_test(tc, malformed_genotypes);
    tcase_add_test(tc, derive_never_reads_past_its_inputs);
    tcase_add_test(tc, derive_from_uniform_alphas_is_uniform);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
