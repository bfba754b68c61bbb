/* Searches end to end on real Fashion-MNIST (Debian's dataset-fashion-mnist):
 * resume gives the same genotype as an uninterrupted run; RADARS prunes a
 * space that does not fit until it does and stays under the cap; DARTS
 * refuses an over-cap space at once; the RL and random baselines run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radars/search.h"
#include "test_util.h"

static int have_fmnist(void) {
    return access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0;
}

static void tiny(rd_search_config *c, const char *strategy, const char *ops) {
    char s1[64], s2[600];
    snprintf(s1, sizeof s1, "search.strategy=%s", strategy);
    snprintf(s2, sizeof s2, "model.ops=%s", ops);
    const char *sets[] = {s1, s2, "model.C=4", "model.layers=3", "data.batch=16", "data.train_limit=1024",
                          "search.epochs=2", "search.steps_per_epoch=6", "search.eval_batches=2", "rl.samples=4",
                          "rl.train_steps=1", "rl.reward_batches=1", "rl.rounds=6", "rl.prune_per_round=4",
                          "output.checkpoint_every=2"};
    rd_err err;
    ck_assert_msg(rd_search_config_load(c, NULL, sets, (int)(sizeof sets / sizeof *sets), &err) == RD_OK, "%s", err.msg);
}

static void temp_dir(char *out, size_t len) {
    snprintf(out, len, "/tmp/radars-e2e-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

static void rm_dir(const char *d) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    ck_assert_int_eq(system(cmd), 0);
}

static rd_status run(const rd_search_config *c, const char *dir, int resume, int64_t stop, rd_search_result *res,
                     rd_err *err) {
    rd_search_options o;
    memset(&o, 0, sizeof o);
    o.run_dir = dir;
    o.resume = resume;
    o.stop_after_steps = stop;
    return rd_search_run(tu_ctx(), c, &o, res, err);
}

static void read_alphas(const char *dir, float *out, size_t n) {
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    rd_st_file *f;
    rd_err err;
    ck_assert_msg(rd_st_open(path, &f, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(rd_st_read(f, "alphas_normal", RD_ST_F32, -1, NULL, out, n / 2 * sizeof(float), &err), RD_OK);
    ck_assert_int_eq(rd_st_read(f, "alphas_reduce", RD_ST_F32, -1, NULL, out + n / 2, n / 2 * sizeof(float), &err), RD_OK);
    rd_st_close(f);
}

/* The run's checkpoint names the genotype it found (rd_checkpoint_genotype: alphas and
 * betas, or the controller, with the recipe's genotype guard). */
static void check_checkpoint_names(const char *dir, const rd_genotype *want) {
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    rd_genotype g;
    rd_err err;
    ck_assert_msg(rd_checkpoint_genotype(path, NULL, &g, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_genotype_equal(&g, want), "the checkpoint names another genotype");
}

/* What the run added to the context's buffers (held: before it) is at most its prediction
 * and within 1% of it (a fresh process measures the two equal). */
static void check_peak_is_predicted(const rd_search_result *r, uint64_t held) {
    ck_assert_msg(r->peak - held <= r->predicted_peak && r->peak - held > r->predicted_peak / 100 * 99,
                  "measured peak %llu B (%llu B held before), predicted %llu B", (unsigned long long)r->peak,
                  (unsigned long long)held, (unsigned long long)r->predicted_peak);
}

/* metrics.jsonl of a run directory (free it). */
static char *read_metrics_text(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *text = NULL;
    size_t len = 0;
    rd_err err;
    ck_assert_msg(rd_read_file(path, &text, &len, &err) == RD_OK, "%s", err.msg);
    return text;
}

static void check_resume(const char *strategy, const char *ops, int64_t stop) {
    if (!have_fmnist()) {
        printf("resume (%s): skipped, no Fashion-MNIST (apt-get install dataset-fashion-mnist)\n", strategy);
        return;
    }
    rd_search_config c;
    tiny(&c, strategy, ops);
    char a[64], b[64];
    temp_dir(a, sizeof a);
    temp_dir(b, sizeof b);
    rd_search_result r1, r2;
    rd_err err;
    ck_assert_msg(run(&c, a, 0, 0, &r1, &err) == RD_OK, "%s", err.msg);
    ck_assert(!r1.interrupted);
    ck_assert_msg(run(&c, b, 0, stop, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(r2.interrupted, "the run did not stop after %lld steps", (long long)stop);
    ck_assert_msg(run(&c, b, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert(!r2.interrupted);
    printf("resume (%s, stopped after %lld steps): %s\n", strategy, (long long)stop, r2.genotype_text);
    ck_assert_msg(rd_genotype_equal(&r1.genotype, &r2.genotype), "resumed genotype differs:\n%s\n%s",
                  r1.genotype_text, r2.genotype_text);
    if (strcmp(strategy, "rl")) {
        rd_opset set;
        rd_opset_parse(ops, &set, NULL);
        size_t n = 2 * RD_CELL_EDGES * set.count;
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        read_alphas(a, x, n);
        read_alphas(b, y, n);
        ck_assert_msg(memcmp(x, y, n * sizeof *x) == 0, "resumed alphas differ from the uninterrupted run's");
        free(x);
        free(y);
    }
    rm_dir(a);
    rm_dir(b);
}

START_TEST(darts_resume_mid_epoch_same_genotype) { check_resume("darts", "darts", 3); }
END_TEST

START_TEST(darts_resume_at_epoch_end_same_genotype) { check_resume("darts", "darts", 6); }
END_TEST

START_TEST(radars_resume_in_rl_phase_same_genotype) { check_resume("radars", "large", 2); }
END_TEST

START_TEST(pcdarts_resume_mid_epoch_same_genotype) { check_resume("pcdarts", "darts", 3); }
END_TEST

/* PC-DARTS: within its prediction, well under DARTS' for the same space; the checkpoint
 * (alphas and betas) names the genotype the run found; RADARS over a PC-DARTS supernet
 * prunes until it fits a cap DARTS' supernet could not. */
/* search.arch_warmup_epochs: the alphas stay as they were through the first epoch (stopped
 * after step 1 and after step 6, the epoch's end: the same alphas), move after it, and a run
 * stopped in the warm-up resumes to the uninterrupted run's alphas and genotype. */
START_TEST(arch_warmup_keeps_the_alphas_then_resumes) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "darts", "darts");
    c.arch_warmup_epochs = 1;
    size_t n = 2 * RD_CELL_EDGES * 8;
    float *x1 = malloc(n * sizeof *x1), *x6 = malloc(n * sizeof *x6), *xa = malloc(n * sizeof *xa),
          *xb = malloc(n * sizeof *xb);
    char a[64], b[64], d[64];
    temp_dir(a, sizeof a);
    temp_dir(b, sizeof b);
    temp_dir(d, sizeof d);
    rd_search_result r;
    rd_err err;
    ck_assert_msg(run(&c, d, 0, 1, &r, &err) == RD_OK, "%s", err.msg);
    read_alphas(d, x1, n);
    ck_assert_msg(run(&c, b, 0, 6, &r, &err) == RD_OK, "%s", err.msg);
    ck_assert(r.interrupted);
    read_alphas(b, x6, n);
    ck_assert_msg(memcmp(x1, x6, n * sizeof *x1) == 0, "the alphas moved in the warm-up epoch");
    rd_search_result ra, rb;
    ck_assert_msg(run(&c, a, 0, 0, &ra, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(run(&c, b, 1, 0, &rb, &err) == RD_OK, "%s", err.msg);
    read_alphas(a, xa, n);
    read_alphas(b, xb, n);
    ck_assert_msg(memcmp(xa, x6, n * sizeof *xa) != 0, "the alphas did not move after the warm-up");
    ck_assert_msg(memcmp(xa, xb, n * sizeof *xa) == 0, "resumed alphas differ from the uninterrupted run's");
    ck_assert(rd_genotype_equal(&ra.genotype, &rb.genotype));
    free(x1); free(x6); free(xa); free(xb);
    rm_dir(a); rm_dir(b); rm_dir(d);
}
END_TEST

START_TEST(pcdarts_fits_where_darts_does_not) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "pcdarts", "large");
    c.pc_k = 2;
    char d[64];
    temp_dir(d, sizeof d);
    rd_search_result r;
    rd_err err;
    uint64_t held = rd_mem_get_stats(tu_ctx()).current;
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    check_peak_is_predicted(&r, held);
    check_checkpoint_names(d, &r.genotype);
    rm_dir(d);
    /* the same space as DARTS: over a cap between the two, DARTS is refused, PC-DARTS is not */
    rd_search_config dc;
    tiny(&dc, "darts", "large");
    rd_supernet_config nc;
    ck_assert_int_eq(rd_search_supernet_config(&dc, 1, 28, 28, 10, &nc, &err), RD_OK);
    rd_arch_mask all;
    rd_arch_mask_all(&all, &nc.ops);
    rd_search_memory mem;
    TU_OK(rd_search_predict(tu_ctx(), &dc, &nc, &all, NULL, &mem));
    printf("PC-DARTS (K = 2) predicted %llu B, DARTS %llu B\n", (unsigned long long)r.predicted_peak,
           (unsigned long long)mem.total);
    ck_assert_msg(r.predicted_peak < mem.total * 3 / 4, "PC-DARTS %llu B, DARTS %llu B",
                  (unsigned long long)r.predicted_peak, (unsigned long long)mem.total);
    dc.mem_cap = c.mem_cap = (r.predicted_peak + mem.total) / 2;
    temp_dir(d, sizeof d);
    ck_assert_int_eq(run(&dc, d, 0, 0, &r, &err), RD_ERR_OVER_CAP);
    rm_dir(d);
    temp_dir(d, sizeof d);
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    rm_dir(d);
    /* RADARS over the PC-DARTS supernet, under a cap that the full PC space exceeds */
    rd_search_config rc;
    tiny(&rc, "radars", "large");
    rc.dnas = RD_DNAS_PCDARTS;
    rc.pc_k = 2;
    rc.mem_cap = r.predicted_peak * 9 / 10;
    temp_dir(d, sizeof d);
    ck_assert_msg(run(&rc, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_ge(r.rl_rounds, 1);
    ck_assert_uint_le(r.predicted_peak, rc.mem_cap);
    ck_assert_uint_le(r.peak, rc.mem_cap);
    rm_dir(d);
}
END_TEST

/* The lowest cap that the space minus its 4 heaviest ops per edge still exceeds:
 * RADARS must prune at least twice. */
static uint64_t cap_for_two_rounds(const rd_search_config *c) {
    rd_err err;
    rd_supernet_config nc;
    ck_assert_int_eq(rd_search_supernet_config(c, 1, 28, 28, 10, &nc, &err), RD_OK);
    rd_arch_mask m;
    rd_arch_mask_all(&m, &nc.ops);
    const rd_op_id heavy[] = {RD_OP_SEP_CONV_3X3, RD_OP_SEP_CONV_5X5, RD_OP_SEP_CONV_7X7, RD_OP_DIL_CONV_7X7};
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            for (int h = 0; h < 4; h++) m.edge[t][e] &= ~(1u << rd_opset_find(&nc.ops, heavy[h]));
    rd_search_memory mem;
    TU_OK(rd_search_predict(tu_ctx(), c, &nc, &m, NULL, &mem));
    return mem.total - 4096;
}

START_TEST(radars_prunes_until_it_fits) {
    if (!have_fmnist()) {
        printf("radars: skipped, no Fashion-MNIST\n");
        return;
    }
    rd_search_config c;
    tiny(&c, "radars", "large");
    c.epochs = 1;
    c.mem_cap = cap_for_two_rounds(&c);
    char d[64];
    temp_dir(d, sizeof d);
    rd_search_result r;
    rd_err err;
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    char b1[32], b2[32], b3[32];
    printf("radars: %d RL rounds, peak %s (predicted %s), cap %s\n%s\n", r.rl_rounds,
           rd_format_bytes(r.peak, b1, sizeof b1), rd_format_bytes(r.predicted_peak, b2, sizeof b2),
           rd_format_bytes(r.cap, b3, sizeof b3), r.genotype_text);
    ck_assert_int_ge(r.rl_rounds, 2);
    ck_assert_uint_le(r.peak, r.cap);
    ck_assert_uint_eq(r.cap, c.mem_cap);
    /* the genotype is valid: it parses back, and every op it names survived pruning */
    rd_genotype g;
    ck_assert_int_eq(rd_genotype_parse(r.genotype_text, &g, &err), RD_OK);
    rd_opset set;
    rd_opset_parse("large", &set, NULL);
    int none_alive = 0;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            ck_assert_int_ge(rd_arch_mask_count(&r.alive, t, e), 1);
            ck_assert_int_lt(rd_arch_mask_count(&r.alive, t, e), 15);
            none_alive += r.alive.edge[t][e] == 1u;
        }
    (void)none_alive;
    char path[600];
    snprintf(path, sizeof path, "%s/report.json", d);
    ck_assert_int_eq(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/genotype.txt", d);
    ck_assert_int_eq(access(path, R_OK), 0);
    rm_dir(d);
}
END_TEST

START_TEST(darts_refuses_an_over_cap_space_at_once) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "darts", "large");
    c.mem_cap = cap_for_two_rounds(&c);
    char d[64];
    temp_dir(d, sizeof d);
    rd_search_result r;
    rd_err err;
    ck_assert_int_eq(run(&c, d, 0, 0, &r, &err), RD_ERR_OVER_CAP);
    ck_assert_msg(strstr(err.msg, "needs") && strstr(err.msg, "cap") && strstr(err.msg, "radars"), "%s", err.msg);
    /* nothing was searched */
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", d);
    ck_assert_int_ne(access(path, R_OK), 0);
    rm_dir(d);
}
END_TEST

START_TEST(rl_baseline_runs) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "rl", "large");
    c.rl_rounds = 2;
    char d[64];
    temp_dir(d, sizeof d);
    rd_search_result r;
    rd_err err;
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(r.rl_rounds, 2);
    rd_genotype g;
    ck_assert_int_eq(rd_genotype_parse(r.genotype_text, &g, &err), RD_OK);
    check_checkpoint_names(d, &g);
    rm_dir(d);
}
END_TEST

static double field(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

/* The RL reward with UNAS' gap term is accuracy - gap_weight * (train accuracy - accuracy),
 * every sample's latency is measured; the skip-connect guard leaves no skip_connect in the
 * normal cell where another op could stand, says how many it changed, and the checkpoint
 * names the same genotype. */
START_TEST(rl_gap_reward_and_genotype_guard) {
    if (!have_fmnist()) return;
    rd_search_config c;
    /* a space where skip_connect is one op in three: an unguarded cell holds some */
    tiny(&c, "rl", "skip_connect,sep_conv_3x3,max_pool_3x3");
    c.rl_rounds = 1;
    c.rl_samples = 6;
    c.rl_train_steps = 2;
    c.gap_weight = 0.5;
    c.max_skip_normal = 0;
    c.max_param_free_normal = 1; /* and at most one max_pool_3x3 */
    char d[64];
    temp_dir(d, sizeof d);
    rd_search_result r;
    rd_err err;
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    int pools = 0;
    for (int i = 0; i < 2 * r.genotype.normal.steps; i++) {
        ck_assert_int_ne(r.genotype.normal.edges[i].op, RD_OP_SKIP_CONNECT);
        pools += r.genotype.normal.edges[i].op == RD_OP_MAX_POOL_3X3;
    }
    ck_assert_int_le(pools, 1);
    ck_assert_msg(r.guard_changes > 0, "the guard changed nothing: %s", r.genotype_text);
    check_checkpoint_names(d, &r.genotype);
    char *text = read_metrics_text(d);
    int samples = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "\"type\":\"final\"")) {
            char want[64];
            snprintf(want, sizeof want, "\"guard_changes\":%d", r.guard_changes);
            ck_assert_msg(strstr(line, want), "%s", line);
        }
        if (!strstr(line, "\"type\":\"rl_sample\"")) continue;
        double acc = field(line, "accuracy"), train = field(line, "train_accuracy"), reward = field(line, "reward");
        ck_assert_msg(isfinite(acc) && isfinite(train), "%s", line);
        ck_assert_msg(fabs(reward - (acc - 0.5 * (train - acc))) < 1e-9, "%s", line);
        ck_assert_msg(field(line, "latency_ms") > 0, "%s", line);
        samples++;
    }
    ck_assert_int_eq(samples, 6);
    free(text);
    rm_dir(d);
}
END_TEST

/* The genotypes of the records of one type in metrics text, in order, and their valid_acc;
 * returns how many (at most max). */
static int read_genotype_records(const char *text, const char *type, rd_genotype *g, double *acc, int max) {
    char want[64];
    snprintf(want, sizeof want, "\"type\":\"%s\"", type);
    int n = 0;
    for (const char *line = text, *end; line && *line && n < max; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char rec[4096];
        snprintf(rec, sizeof rec, "%.*s", (int)len, line);
        if (!strstr(rec, want)) continue;
        const char *s = strstr(rec, "\"genotype\":\"");
        ck_assert_ptr_nonnull(s);
        char geno[2048];
        snprintf(geno, sizeof geno, "%s", s + 12);
        *strchr(geno, '"') = 0;
        rd_err err;
        ck_assert_msg(rd_genotype_parse(geno, &g[n], &err) == RD_OK, "%s", err.msg);
        acc[n++] = field(rec, "valid_acc");
    }
    return n;
}

/* random-ws: uniform paths train the one-shot supernet; of the drawn candidates (the first
 * is the random baseline's draw) the one with the best accuracy on the shared weights is
 * the result; the checkpoint names it; a resumed finished run finds the same genotype and
 * accuracy, and scores given genotypes on the same weights (search options' score).
 * Refused over an op set without `none`. */
START_TEST(random_ws_picks_the_best_candidate) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "random-ws", "darts");
    c.rl_rounds = 1;
    c.ws_candidates = 5;
    char d[64];
    temp_dir(d, sizeof d);
    rd_search_result r, r2;
    rd_err err;
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    char *text = read_metrics_text(d);
    rd_genotype cand[5], best_g;
    double cand_acc[5], best = -1;
    ck_assert_int_eq(read_genotype_records(text, "ws_candidate", cand, cand_acc, 5), 5);
    free(text);
    for (int i = 0; i < 5; i++)
        if (cand_acc[i] > best) {
            best = cand_acc[i];
            best_g = cand[i];
        }
    rd_genotype first_g = cand[0];
    ck_assert_msg(fabs(r.valid_accuracy - best) < 1e-12, "result %g, best candidate %g", r.valid_accuracy, best);
    ck_assert_msg(rd_genotype_equal(&r.genotype, &best_g), "the result is not the best candidate");
    check_checkpoint_names(d, &r.genotype);
    ck_assert_msg(run(&c, d, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&r2.genotype, &r.genotype));
    ck_assert_msg(r2.valid_accuracy == r.valid_accuracy, "resumed: %g, first: %g", r2.valid_accuracy, r.valid_accuracy);
    /* resumed once more, scoring the candidates in reverse order on the shared weights: each
     * scores what it scored as a candidate (the same weights and batches) */
    rd_genotype rev[5];
    for (int i = 0; i < 5; i++) rev[i] = cand[4 - i];
    rd_search_options o;
    memset(&o, 0, sizeof o);
    o.run_dir = d;
    o.resume = 1;
    o.score = rev;
    o.score_count = 5;
    ck_assert_msg(rd_search_run(tu_ctx(), &c, &o, &r2, &err) == RD_OK, "%s", err.msg);
    rd_genotype scored[6];
    double score_acc[6];
    text = read_metrics_text(d);
    ck_assert_int_eq(read_genotype_records(text, "ws_score", scored, score_acc, 6), 5);
    free(text);
    for (int i = 0; i < 5; i++) {
        ck_assert(rd_genotype_equal(&scored[i], &cand[4 - i]));
        ck_assert_msg(score_acc[i] == cand_acc[4 - i], "score %d: %g, as candidate %d: %g", i, score_acc[i], 4 - i,
                      cand_acc[4 - i]);
    }
    /* a genotype that is not a path of the supernet, and a strategy without a one-shot supernet */
    rd_genotype bad = cand[0];
    bad.normal.edges[3].op = RD_OP_SEP_CONV_7X7;
    o.score = &bad;
    o.score_count = 1;
    ck_assert_int_eq(rd_search_run(tu_ctx(), &c, &o, &r2, &err), RD_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "genotype 1 to score: op 'sep_conv_7x7' is not in model.ops"), "%s", err.msg);
    bad = cand[0];
    bad.reduce.n_concat = 2; /* DARTS' form allows it; the supernet concatenates all 4 nodes */
    ck_assert_int_eq(rd_search_run(tu_ctx(), &c, &o, &r2, &err), RD_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "genotype 1 to score: its reduce cell is not a path of the supernet's (4 nodes, "
                                  "the last 4 concatenated)"), "%s", err.msg);
    rm_dir(d);
    /* candidate 0 is the random baseline's draw for the same seed */
    tiny(&c, "random", "darts");
    temp_dir(d, sizeof d);
    ck_assert_msg(run(&c, d, 0, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_genotype_equal(&r2.genotype, &first_g), "candidate 0 is not the random baseline's genotype");
    o.run_dir = d;
    o.score = &first_g;
    ck_assert_int_eq(rd_search_run(tu_ctx(), &c, &o, &r2, &err), RD_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "needs a one-shot supernet (search.strategy = rl or random-ws), not 'random'"), "%s",
                  err.msg);
    rm_dir(d);
    const char *sets[] = {"search.strategy=random-ws", "model.ops=skip_connect,sep_conv_3x3"};
    ck_assert_int_eq(rd_search_config_load(&c, NULL, sets, 2, &err), RD_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "random-ws needs 'none' in model.ops"), "%s", err.msg);
}
END_TEST

/* The zero-cost warm start (prune): scored once before the first round, it removes
 * rl.prune_per_round ops per edge; a run stopped and resumed in the RL phase does not
 * redo it and finds the uninterrupted run's genotype. */
START_TEST(warm_start_prunes_once) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "radars", "large");
    c.warm_start = RD_WARM_PRUNE;
    c.warm_start_paths = 15;
    c.mem_cap = cap_for_two_rounds(&c); /* the RL phase runs */
    char a[64], b[64];
    temp_dir(a, sizeof a);
    temp_dir(b, sizeof b);
    rd_search_result r1, r2;
    rd_err err;
    ck_assert_msg(run(&c, a, 0, 0, &r1, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(run(&c, b, 0, 2, &r2, &err) == RD_OK && r2.interrupted, "%s", err.msg);
    ck_assert_msg(run(&c, b, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_genotype_equal(&r1.genotype, &r2.genotype), "resumed genotype differs:\n%s\n%s",
                  r1.genotype_text, r2.genotype_text);
    char *text = read_metrics_text(b);
    int records = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"type\":\"warm_start\"")) continue;
        records++;
        ck_assert_msg(field(line, "removed") == 4 * 2 * RD_CELL_EDGES, "%s", line);
        ck_assert_msg(field(line, "seconds") > 0 && field(line, "paths") == 15, "%s", line);
    }
    ck_assert_int_eq(records, 1);
    free(text);
    rm_dir(a);
    rm_dir(b);
}
END_TEST

/* A run killed before its first checkpoint (its directory holds the recipe and some
 * records, no checkpoint): --resume starts it over, dropping the stale records, and
 * finds what an uninterrupted run finds. */
START_TEST(resume_before_the_first_checkpoint_starts_over) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "darts", "darts");
    c.epochs = 1;
    char a[64], b[64];
    temp_dir(a, sizeof a);
    temp_dir(b, sizeof b);
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", b);
    FILE *f = fopen(path, "w");
    fputs("{\"type\":\"epoch\",\"epoch\":7}\n", f);
    fclose(f);
    rd_search_result r1, r2;
    rd_err err;
    ck_assert_msg(run(&c, a, 0, 0, &r1, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(run(&c, b, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert(!r2.interrupted);
    ck_assert_msg(rd_genotype_equal(&r1.genotype, &r2.genotype), "%s\n%s", r1.genotype_text, r2.genotype_text);
    size_t len;
    f = fopen(path, "r");
    char *text = calloc(1, 1 << 20);
    len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    ck_assert_msg(len > 0 && !strstr(text, "\"epoch\":7"), "the stale record was kept");
    free(text);
    rm_dir(a);
    rm_dir(b);
}
END_TEST

/* The random baseline: a genotype drawn from the seed, nothing trained; the same seed draws
 * the same genotype, others differ; the checkpoint names it; a resumed finished run keeps it. */
START_TEST(random_baseline_draws_from_the_seed) {
    if (!have_fmnist()) return;
    rd_search_config c;
    tiny(&c, "random", "large");
    char d[64], e[64];
    temp_dir(d, sizeof d);
    rd_search_result r, r2;
    rd_err err;
    uint64_t held = rd_mem_get_stats(tu_ctx()).current; /* the context's own buffers, from earlier tests */
    ck_assert_msg(run(&c, d, 0, 0, &r, &err) == RD_OK, "%s", err.msg);
    printf("random (seed %lld): %s\n", (long long)c.seed, r.genotype_text);
    ck_assert(isnan(r.valid_accuracy));
    ck_assert_uint_le(r.peak, r.cap);
    check_peak_is_predicted(&r, held);
    ck_assert_int_eq(r.rl_rounds, 0);
    check_checkpoint_names(d, &r.genotype);
    char path[600];
    ck_assert_msg(run(&c, d, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_genotype_equal(&r2.genotype, &r.genotype), "the resumed finished run changed the genotype");
    snprintf(path, sizeof path, "%s/report.txt", d);
    char *report = NULL;
    size_t len = 0;
    ck_assert_int_eq(rd_read_file(path, &report, &len, &err), RD_OK);
    ck_assert_msg(strstr(report, "strategy      random") && strstr(report, "nothing was trained"), "%s", report);
    free(report);
    rm_dir(d);
    temp_dir(d, sizeof d);
    ck_assert_msg(run(&c, d, 0, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(rd_genotype_equal(&r2.genotype, &r.genotype), "the same seed drew another genotype");
    rm_dir(d);
    int differ = 0;
    for (int seed = 3; seed < 6; seed++) {
        c.seed = seed;
        temp_dir(e, sizeof e);
        ck_assert_msg(run(&c, e, 0, 0, &r2, &err) == RD_OK, "%s", err.msg);
        differ += !rd_genotype_equal(&r2.genotype, &r.genotype);
        rm_dir(e);
    }
    ck_assert_msg(differ == 3, "only %d of 3 other seeds drew another genotype", differ);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("search_e2e");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 1500);
    tcase_add_test(tc, darts_resume_mid_epoch_same_genotype);
    tcase_add_test(tc, darts_resume_at_epoch_end_same_genotype);
    tcase_add_test(tc, radars_resume_in_rl_phase_same_genotype);
    tcase_add_test(tc, pcdarts_resume_mid_epoch_same_genotype);
    tcase_add_test(tc, pcdarts_fits_where_darts_does_not);
    tcase_add_test(tc, arch_warmup_keeps_the_alphas_then_resumes);
    tcase_add_test(tc, radars_prunes_until_it_fits);
    tcase_add_test(tc, darts_refuses_an_over_cap_space_at_once);
    tcase_add_test(tc, rl_baseline_runs);
    tcase_add_test(tc, rl_gap_reward_and_genotype_guard);
    tcase_add_test(tc, random_ws_picks_the_best_candidate);
    tcase_add_test(tc, warm_start_prunes_once);
    tcase_add_test(tc, random_baseline_draws_from_the_seed);
    tcase_add_test(tc, resume_before_the_first_checkpoint_starts_over);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
