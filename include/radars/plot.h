/* radars-cl: pictures of a run directory (src/plot/).
 *
 * rd_plot_run_dir reads what a run directory holds (metrics.jsonl, genotype.txt,
 * config.ini) and draws into <run_dir>/plots/ every picture those files allow:
 *
 *   cell_normal.dot/.png, cell_reduce.dot/.png   the genotype's two cells, as DARTS'
 *                                                visualize.py draws them (Graphviz dot)
 *   loss.png, accuracy.png, lr.png               per epoch ("epoch" records: search or training)
 *   rl_reward.png                                the reward of every RL sample, rounds marked
 *   rl_rounds.png                                ops alive and memory (DARTS need, peak, cap) per round
 *   rl_pruning.png                               per edge and op: the round that removed it, or alive
 *   alphas_normal.png, alphas_reduce.png         the alpha softmax of each edge over the epochs
 *
 * A picture whose data are absent is skipped (a training run has no alphas, a
 * DARTS search no RL rounds); keys absent from a record are gaps in its curve.
 * Curves are drawn with cairo (image surfaces, no display needed), cells are
 * laid out and rendered by Graphviz's libgvc. Files are replaced atomically.
 *
 * Graphviz keeps global state (its error hook, its layout engines), so these
 * calls must not run on two threads at once. */
#ifndef RADARS_PLOT_H
#define RADARS_PLOT_H

#include "radars/genotype.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { RD_PLOT_MAX_FILES = 24 };

typedef struct rd_plot_result {
    int count;                              /* files written */
    char files[RD_PLOT_MAX_FILES][32];      /* their names under plots/ */
} rd_plot_result;

/* Draws every picture the run directory's files allow into run_dir/plots/
 * (created if missing). res (may be NULL) lists what was written. Errors: a
 * missing directory, a directory with neither metrics.jsonl nor genotype.txt,
 * a corrupt metrics line ("run/metrics.jsonl:12: not valid JSON: ..."), a
 * genotype that does not parse, a record whose alphas are not 14 x K. */
rd_status rd_plot_run_dir(const char *run_dir, rd_plot_result *res, rd_err *err);

/* The DOT text of one cell of g (reduce: 0 normal, 1 reduction), in the form of
 * DARTS' visualize.py: inputs c_{k-2} and c_{k-1}, nodes 0..steps-1, output
 * c_{k}; one edge per genotype entry labelled with its op, and one edge from
 * each concatenated state to c_{k}. *dot is malloc'ed; free it. */
rd_status rd_plot_cell_dot(const rd_genotype *g, int reduce, const char *title, char **dot, rd_err *err);

/* Lays out DOT text with Graphviz's dot engine and writes it as a PNG to path. */
rd_status rd_plot_dot_to_png(const char *dot, const char *path, rd_err *err);

#ifdef __cplusplus
}
#endif
#endif
