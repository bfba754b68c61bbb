/* The RL controller: REINFORCE finds a known best op per edge on a toy bandit;
 * pruning removes the least likely ops, never an edge's last. */
#include <math.h>
#include <string.h>

#include "radars/search.h"
#include "test_util.h"

static const int K = 15;

static int best_op(int t, int e) { return (3 * e + 5 * t + 1) % K; }

START_TEST(reinforce_solves_a_bandit) {
    rd_opset set;
    rd_opset_parse("large", &set, NULL);
    rd_arch_mask all;
    rd_arch_mask_all(&all, &set);
    rd_controller c;
    rd_controller_init(&c, &all, K, 7, 0.5, 0.9, 1e-3);
    double h0 = rd_controller_entropy(&c);
    ck_assert_double_eq_tol(h0, log(K), 1e-12);
    tu_rng noise = {99};
    for (int it = 0; it < 3000; it++) {
        int choice[2][RD_CELL_EDGES];
        rd_arch_mask path;
        rd_controller_sample(&c, choice, &path);
        /* reward: share of edges on their best op, plus noise */
        double r = 0;
        for (int t = 0; t < 2; t++)
            for (int e = 0; e < RD_CELL_EDGES; e++) {
                ck_assert_uint_eq(path.edge[t][e], 1u << choice[t][e]);
                r += choice[t][e] == best_op(t, e);
            }
        rd_controller_update(&c, choice, r / (2 * RD_CELL_EDGES) + tu_uniform(&noise, -0.05, 0.05));
    }
    rd_arch_mask best;
    rd_controller_best(&c, &best);
    int right = 0;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) right += best.edge[t][e] == 1u << best_op(t, e);
    ck_assert_msg(right == 2 * RD_CELL_EDGES, "controller found %d of %d best ops", right, 2 * RD_CELL_EDGES);
    ck_assert(rd_controller_entropy(&c) < 0.5 * h0);
    /* determinism: the same seed gives the same policy */
    rd_controller d;
    rd_controller_init(&d, &all, K, 7, 0.5, 0.9, 1e-3);
    tu_rng noise2 = {99};
    for (int it = 0; it < 3000; it++) {
        int choice[2][RD_CELL_EDGES];
        rd_arch_mask path;
        rd_controller_sample(&d, choice, &path);
        double r = 0;
        for (int t = 0; t < 2; t++)
            for (int e = 0; e < RD_CELL_EDGES; e++) r += choice[t][e] == best_op(t, e);
        rd_controller_update(&d, choice, r / (2 * RD_CELL_EDGES) + tu_uniform(&noise2, -0.05, 0.05));
    }
    ck_assert(memcmp(c.logits, d.logits, sizeof c.logits) == 0);
}
END_TEST

START_TEST(pruning_keeps_last_op_and_removes_least_likely) {
    rd_opset set;
    rd_opset_parse("large", &set, NULL);
    rd_arch_mask all;
    rd_arch_mask_all(&all, &set);
    rd_controller c;
    rd_controller_init(&c, &all, K, 1, 0.1, 0.9, 0);
    /* edge (0, 0): logit = k, so ops 0, 1, 2 are the least likely */
    for (int k = 0; k < K; k++) c.logits[0][0][k] = k;
    int removed = rd_controller_prune(&c, 3, 0, 1);
    ck_assert_int_eq(removed, 3 * 2 * RD_CELL_EDGES);
    ck_assert_uint_eq(c.alive.edge[0][0] & 7u, 0);
    ck_assert_int_eq(rd_arch_mask_count(&c.alive, 0, 0), K - 3);
    /* prune hard: every edge ends with exactly min_ops, never zero */
    for (int round = 0; round < 10; round++) rd_controller_prune(&c, 4, 0, 2);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) ck_assert_int_eq(rd_arch_mask_count(&c.alive, t, e), 2);
    ck_assert_uint_eq(c.alive.edge[0][0], (1u << 13) | (1u << 14)); /* the two most likely survive */
    for (int round = 0; round < 3; round++) rd_controller_prune(&c, 0, 0.9, 1);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) ck_assert_int_eq(rd_arch_mask_count(&c.alive, t, e), 1);
    ck_assert_int_eq(rd_controller_prune(&c, 5, 0, 1), 0);
    /* a dead op is never sampled */
    int choice[2][RD_CELL_EDGES];
    rd_arch_mask path;
    for (int i = 0; i < 100; i++) {
        rd_controller_sample(&c, choice, &path);
        ck_assert(rd_arch_mask_subset(&path, &c.alive));
    }
}
END_TEST

START_TEST(fraction_pruning_rounds_up) {
    rd_opset set;
    rd_opset_parse("large", &set, NULL);
    rd_arch_mask all;
    rd_arch_mask_all(&all, &set);
    rd_controller c;
    rd_controller_init(&c, &all, K, 1, 0.1, 0.9, 0);
    rd_controller_prune(&c, 0, 0.25, 1); /* ceil(15 / 4) = 4 */
    ck_assert_int_eq(rd_arch_mask_count(&c.alive, 1, 13), 11);
}
END_TEST

/* The warm start's prior: logits are strength x the z-score over the edge's alive ops; dead
 * ops, ops without a score and edges of equal scores get 0; pruning from it removes the
 * lowest-scored ops. */
START_TEST(prior_from_scores) {
    rd_opset set;
    rd_opset_parse("large", &set, NULL);
    rd_arch_mask all;
    rd_arch_mask_all(&all, &set);
    rd_controller c;
    rd_controller_init(&c, &all, K, 3, 0.1, 0.9, 0);
    c.alive.edge[0][1] &= ~(1u << 4); /* a dead op */
    double sc[2 * RD_CELL_EDGES * 15];
    for (int i = 0; i < 2 * RD_CELL_EDGES * K; i++) sc[i] = (i % K) * 0.5 + 1;
    for (int k = 0; k < K; k++) sc[2 * K + k] = 7;   /* edge 2: all equal */
    sc[3 * K + 5] = NAN;                             /* edge 3: one unscored op */
    rd_controller_set_prior(&c, sc, 2.0);
    /* edge 0: scores 1, 1.5, ..., 8: mean 4.5, sd 0.5 sqrt((K^2 - 1) / 12) */
    double sd = 0.5 * sqrt((K * K - 1) / 12.0);
    for (int k = 0; k < K; k++) ck_assert_double_eq_tol(c.logits[0][0][k], 2.0 * ((k * 0.5 + 1) - 4.5) / sd, 1e-9);
    ck_assert(c.logits[0][1][4] == 0.0);
    for (int k = 0; k < K; k++) ck_assert(c.logits[0][2][k] == 0.0);
    ck_assert(c.logits[0][3][5] == 0.0 && c.logits[0][3][6] != 0.0);
    ck_assert_int_eq(rd_controller_prune(&c, 2, 0, 1), 2 * 2 * RD_CELL_EDGES);
    ck_assert(!(c.alive.edge[1][7] & 1u) && !(c.alive.edge[1][7] & 2u)); /* the two lowest scores */
    ck_assert(c.alive.edge[1][7] & 4u);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("search_controller");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, reinforce_solves_a_bandit);
    tcase_add_test(tc, pruning_keeps_last_op_and_removes_least_likely);
    tcase_add_test(tc, fraction_pruning_rounds_up);
    tcase_add_test(tc, prior_from_scores);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
