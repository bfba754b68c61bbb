/* radars-cl: genotypes — the discrete architecture a search ends with, in DARTS' own form.
 *
 *   Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=[2, 3, 4, 5])
 *
 * Node i (0-based) of a cell has the two entries 2i and 2i+1: an op and the
 * state it reads (0, 1 = the cell inputs, 2 + j = node j < i). */
#ifndef RADARS_GENOTYPE_H
#define RADARS_GENOTYPE_H

#include "radars/supernet.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { RD_GENO_MAX_NODES = 8 };

typedef struct rd_geno_edge {
    rd_op_id op;
    int input;
} rd_geno_edge;

typedef struct rd_geno_cell {
    int steps;                                /* nodes */
    rd_geno_edge edges[2 * RD_GENO_MAX_NODES];
    int n_concat;
    int concat[RD_GENO_MAX_NODES + 2];        /* states concatenated into the output */
} rd_geno_cell;

typedef struct rd_genotype {
    rd_geno_cell normal, reduce;
} rd_genotype;

/* The supernet's edge (row of the alphas) that feeds node `node` from state `input`: the
 * nodes before it have 2, 3, ... inputs. */
static inline int rd_cell_edge_row(int node, int input) { return node * (node + 3) / 2 + input; }

/* DARTS' derivation (SEARCH.md section 2): for each node keep the 2 incoming
 * edges whose best non-`none` op weight is highest (ties: lower input first),
 * and on each its best non-`none` op. weights: [2][14][set->count] (dead ops 0),
 * alive masks which ops exist per edge (NULL = all). An edge whose only alive
 * op is `none` yields `none` if it must be chosen. */
void rd_genotype_derive(const float *weights, const rd_opset *set, const rd_arch_mask *alive, int steps,
                        int multiplier, rd_genotype *out);
/* Rules on the derived normal cell (each < 0: off). max_skip: P-DARTS' guard against DARTS'
 * skip-connect collapse, at most this many skip_connect edges. max_param_free: at most this
 * many edges holding an op without weights (skip_connect, pools): short searches favour them
 * because they need no training (see README, "The strategy study"). */
typedef struct rd_geno_guard {
    int max_skip;
    int max_param_free;
} rd_geno_guard;
/* rd_genotype_derive, then the guard: while the normal cell breaks a rule, the edge whose
 * offending op has the lowest weight loses that op from its candidates and the cell is
 * derived again (edges where no op outside the rule's is alive keep theirs; skip_connect's
 * rule goes first). guard NULL: no rule. Returns how many ops the guard took (0: the plain
 * derivation). */
int rd_genotype_guarded(const float *weights, const rd_opset *set, const rd_arch_mask *alive, int steps,
                        int multiplier, const rd_geno_guard *guard, rd_genotype *out);
/* Mixed-op-like weights from alphas [2][14][set->count]: their softmax over each edge's alive
 * ops (as the supernet's mixed ops weigh them), dead ops 0; alive NULL = all. */
void rd_genotype_alpha_weights(const float *alphas, const rd_opset *set, const rd_arch_mask *alive, float *weights);
/* PC-DARTS' derivation weights: each row of weights [2][14][K] times its edge's share of
 * the per-node softmax of the betas [2][14]. */
void rd_genotype_beta_scale(const float *betas, const rd_opset *set, float *weights);
/* rd_genotype_guarded of rd_genotype_alpha_weights (PC-DARTS: times the betas' edge
 * weights; betas NULL: DARTS). */
int rd_genotype_derive_alphas(const float *alphas, const float *betas, const rd_opset *set, const rd_arch_mask *alive,
                              int steps, int multiplier, const rd_geno_guard *guard, rd_genotype *out);

/* DARTS' printed form (see above). Returns out. */
char *rd_genotype_format(const rd_genotype *g, char *out, size_t len);
/* JSON: {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": ..., "reduce_concat": ...} */
char *rd_genotype_to_json(const rd_genotype *g, char *out, size_t len);

/* Parses DARTS' printed form (concat as a list or range(a, b); single or double
 * quotes; whitespace and newlines anywhere) or the JSON form. Errors name the
 * field and what is wrong: unknown op, input out of range for its node,
 * missing field, odd number of edges, syntax. */
rd_status rd_genotype_parse(const char *text, rd_genotype *out, rd_err *err);
/* 1 if both genotypes are the same architecture */
int rd_genotype_equal(const rd_genotype *a, const rd_genotype *b);

#ifdef __cplusplus
}
#endif
#endif
