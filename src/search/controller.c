/* The RL controller of RADARS (SEARCH.md section 3, step 3): per edge of the
 * normal and the reduction cell, a categorical policy over the ops still alive
 * there, trained with REINFORCE against a moving-average baseline plus an
 * entropy bonus. Host-side and deterministic for a seed. */
#include <math.h>
#include <string.h>

#include "radars/search.h"
#include "runtime/rng.h"

static double uniform(uint64_t *s) { return rd_splitmix64_uniform(s); }

void rd_controller_init(rd_controller *c, const rd_arch_mask *alive, int K, uint64_t seed, double lr,
                        double baseline_decay, double entropy_weight) {
    memset(c, 0, sizeof *c);
    c->K = K;
    c->alive = *alive;
    c->rng = seed ^ 0x5deece66dull;
    c->lr = lr;
    c->baseline_decay = baseline_decay;
    c->entropy_weight = entropy_weight;
}

void rd_controller_probs(const rd_controller *c, int t, int e, double *p) {
    double m = -INFINITY, s = 0;
    rd_edge_mask alive = c->alive.edge[t][e];
    for (int k = 0; k < c->K; k++)
        if (alive >> k & 1) m = fmax(m, c->logits[t][e][k]);
    for (int k = 0; k < c->K; k++) {
        p[k] = (alive >> k & 1) ? exp(c->logits[t][e][k] - m) : 0.0;
        s += p[k];
    }
    for (int k = 0; k < c->K; k++) p[k] /= s;
}

void rd_controller_sample(rd_controller *c, int choice[2][RD_CELL_EDGES], rd_arch_mask *path) {
    double p[RD_MAX_OPS];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_controller_probs(c, t, e, p);
            double u = uniform(&c->rng), acc = 0;
            int pick = -1;
            for (int k = 0; k < c->K; k++) {
                if (!(c->alive.edge[t][e] >> k & 1)) continue;
                pick = k; /* the last alive op absorbs rounding */
                acc += p[k];
                if (u < acc) break;
            }
            choice[t][e] = pick;
            path->edge[t][e] = 1u << pick;
        }
}

double rd_controller_update(rd_controller *c, const int choice[2][RD_CELL_EDGES], double reward) {
    if (!c->have_baseline) {
        c->baseline = reward;
        c->have_baseline = 1;
    }
    double adv = reward - c->baseline;
    c->baseline = c->baseline_decay * c->baseline + (1 - c->baseline_decay) * reward;
    double p[RD_MAX_OPS];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_controller_probs(c, t, e, p);
            double h = 0;
            for (int k = 0; k < c->K; k++)
                if (p[k] > 0) h -= p[k] * log(p[k]);
            for (int k = 0; k < c->K; k++) {
                if (!(c->alive.edge[t][e] >> k & 1)) continue;
                /* d log p(a) / d logit_k = [k == a] - p_k;  d H / d logit_k = -p_k (log p_k + H) */
                double g_logp = (k == choice[t][e]) - p[k];
                double g_ent = p[k] > 0 ? -p[k] * (log(p[k]) + h) : 0;
                c->logits[t][e][k] += c->lr * (adv * g_logp + c->entropy_weight * g_ent);
            }
        }
    return adv;
}

void rd_controller_best(const rd_controller *c, rd_arch_mask *best) {
    double p[RD_MAX_OPS];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_controller_probs(c, t, e, p);
            int b = -1;
            for (int k = 0; k < c->K; k++)
                if ((c->alive.edge[t][e] >> k & 1) && (b < 0 || p[k] > p[b])) b = k;
            best->edge[t][e] = 1u << b;
        }
}

double rd_controller_entropy(const rd_controller *c) {
    double p[RD_MAX_OPS], total = 0;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_controller_probs(c, t, e, p);
            for (int k = 0; k < c->K; k++)
                if (p[k] > 0) total -= p[k] * log(p[k]);
        }
    return total / (2 * RD_CELL_EDGES);
}

int rd_controller_prune(rd_controller *c, int per_edge, double fraction, int min_ops) {
    if (min_ops < 1) min_ops = 1;
    int removed = 0;
    double p[RD_MAX_OPS];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            int alive = __builtin_popcount(c->alive.edge[t][e]);
            int want = fraction > 0 ? (int)ceil(fraction * alive) : per_edge;
            if (want > alive - min_ops) want = alive - min_ops;
            rd_controller_probs(c, t, e, p);
            for (int r = 0; r < want; r++) {
                int worst = -1;
                for (int k = 0; k < c->K; k++) /* lowest probability; ties: the later op goes first */
                    if ((c->alive.edge[t][e] >> k & 1) && (worst < 0 || p[k] <= p[worst])) worst = k;
                c->alive.edge[t][e] &= ~(1u << worst);
                p[worst] = INFINITY;
                removed++;
            }
        }
    return removed;
}

void rd_controller_weights(const rd_controller *c, float *out) {
    double p[RD_MAX_OPS];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            rd_controller_probs(c, t, e, p);
            for (int k = 0; k < c->K; k++) out[((size_t)t * RD_CELL_EDGES + e) * c->K + k] = (float)p[k];
        }
}

void rd_controller_set_prior(rd_controller *c, const double *scores, double strength) {
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            const double *sc = scores + ((size_t)t * RD_CELL_EDGES + e) * c->K;
            double sum = 0, sq = 0;
            int n = 0;
            for (int k = 0; k < c->K; k++)
                if ((c->alive.edge[t][e] >> k & 1) && isfinite(sc[k])) {
                    sum += sc[k];
                    sq += sc[k] * sc[k];
                    n++;
                }
            double mean = n ? sum / n : 0, var = n ? sq / n - mean * mean : 0, sd = var > 0 ? sqrt(var) : 0;
            for (int k = 0; k < c->K; k++) {
                int known = (c->alive.edge[t][e] >> k & 1) && isfinite(sc[k]) && sd > 0;
                c->logits[t][e][k] = known ? strength * (sc[k] - mean) / sd : 0.0;
            }
        }
}
