/* radars-cl: the searches — DARTS (the DNAS phase), the RL controller, and
 * RADARS, which alternates RL rounds that prune the op space with a final DARTS
 * phase on what survives (../shared/SEARCH.md sections 2 and 3).
 *
 * A search is configured by an rd_search_config, loaded from an INI recipe
 * (INI files in configs/, schema "search": every key documented there) with
 * command-line overrides. */
#ifndef RADARS_SEARCH_H
#define RADARS_SEARCH_H

#include "radars/genotype.h"
#include "radars/data.h"
#include "radars/io.h"
#include "radars/supernet.h"
#include "radars/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rd_strategy {
    RD_STRATEGY_RADARS,
    RD_STRATEGY_DARTS,
    RD_STRATEGY_RL,
    RD_STRATEGY_RANDOM,
    RD_STRATEGY_RANDOM_WS,
    RD_STRATEGY_PCDARTS
} rd_strategy;
typedef enum rd_dnas { RD_DNAS_DARTS, RD_DNAS_PCDARTS } rd_dnas;
typedef enum rd_warm_start { RD_WARM_NONE, RD_WARM_PRUNE, RD_WARM_PRIOR } rd_warm_start;
typedef enum rd_darts_order { RD_DARTS_FIRST_ORDER, RD_DARTS_SECOND_ORDER } rd_darts_order;

typedef struct rd_search_config {
    /* [data] */
    char dataset[512];        /* fashion-mnist | mnist:DIR | idx:DIR | cifar10:DIR | png:DIR */
    double train_portion;     /* share of the training set that trains weights; the rest trains alphas */
    int train_limit;          /* use only the first N training images (0 = all) */
    int batch;
    int crop_padding;         /* random crop with this zero padding (0 = off) */
    bool flip;                /* random horizontal flip */
    int image_size;           /* PNG folders: resize to this size (0 = reject mixed sizes) */
    int classes;              /* IDX: class count (0 = largest label + 1) */
    /* [model] */
    int C;
    int layers;
    char ops[512];            /* darts | large | comma-separated op names */
    /* [search] */
    int strategy;             /* rd_strategy */
    int epochs;               /* DARTS phase epochs */
    int arch_warmup_epochs;   /* the first N DARTS epochs train the weights only (PC-DARTS' warm-up) */
    int steps_per_epoch;      /* 0 = one pass over the weight half */
    int order;                /* rd_darts_order */
    int64_t seed;
    double w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip;
    double a_lr, a_beta1, a_beta2, a_weight_decay;
    double unrolled_lr_scale; /* second order: xi = w_lr * scale (DARTS uses the weight lr) */
    int eval_batches;         /* validation batches per epoch for accuracy (0 = all) */
    int ws_candidates;        /* random-ws: genotypes drawn and evaluated with the shared weights */
    int dnas;                 /* rd_dnas: RADARS' supernet is DARTS' or PC-DARTS' */
    int pc_k;                 /* PC-DARTS: 1/pc_k of the channels through the ops */
    int max_skip_normal;      /* P-DARTS' guard: at most this many skip_connect in the normal cell (-1 = off) */
    int max_param_free_normal; /* at most this many ops without weights in the normal cell (-1 = off) */
    /* [memory] */
    uint64_t mem_cap;         /* 0 = the device's global memory x safety_fraction */
    double safety_fraction;
    /* [rl] */
    int rl_rounds;            /* most RL rounds (RADARS stops earlier once the survivors fit) */
    int rl_samples;           /* sub-networks sampled per round */
    int rl_train_steps;       /* weight steps on each sampled path */
    int rl_reward_batches;    /* validation batches per reward */
    double rl_lr;             /* policy learning rate */
    double rl_baseline_decay; /* moving-average baseline */
    double rl_entropy;        /* entropy bonus */
    int prune_per_round;      /* ops removed per edge per round */
    double prune_fraction;    /* or this share of the alive ops (rounded up) when > 0 */
    int min_ops_per_edge;
    double latency_weight;    /* reward -= latency_weight * forward ms of the sampled path */
    double params_weight;     /* reward -= params_weight * parameters (millions) */
    double flops_weight;      /* reward -= flops_weight * GFLOPs per image */
    double gap_weight;        /* UNAS: reward -= gap_weight * (train accuracy - validation accuracy) */
    int warm_start;           /* rd_warm_start: a zero-cost proxy before the first RL round */
    int warm_start_paths;     /* paths it scores (0 = 4 per op of the set) */
    double warm_start_strength; /* prior: logits = strength x z-score of the proxy */
    /* [output] */
    char out_root[512];       /* run directories go under here */
    int checkpoint_every;     /* steps between checkpoints inside an epoch (0 = end of epoch only) */
    int then_train_epochs;    /* train the found network from scratch afterwards (0 = no) */
} rd_search_config;

extern const rd_cfg_schema rd_search_schema;
extern const char *const rd_strategy_names[];   /* "radars", "darts", "rl", "random", "random-ws", "pcdarts" */

/* Defaults + file (NULL = none) + overrides, validated (opset, sizes). */
rd_status rd_search_config_load(rd_search_config *cfg, const char *path, const char *const *sets, int n_sets,
                                rd_err *err);
/* "none", "prune", "prior" */
const char *rd_warm_names(int mode);
/* Whether the search's supernet is PC-DARTS' (strategy pcdarts, or radars with dnas = pcdarts). */
int rd_search_uses_pc(const rd_search_config *cfg);
/* The supernet a search config describes, for an input of the given shape / classes. */
rd_status rd_search_supernet_config(const rd_search_config *cfg, int in_c, int in_h, int in_w, int classes,
                                    rd_supernet_config *out, rd_err *err);

/* ---- the DARTS phase (darts.c): optimizer state and the bilevel step ---- */
typedef struct rd_darts rd_darts;
/* Optimizer state for net (SGD momentum for weights, Adam for alphas; the
 * second order adds a backup of the weights), allocated on net's context. */
rd_status rd_darts_create(rd_ctx *ctx, rd_supernet *net, const rd_search_config *cfg, rd_darts **out);
void rd_darts_free(rd_darts *d);
/* Architect step on a validation batch, then weight step on a training batch (SEARCH.md 2);
 * valid NULL: the weight step only (the architecture warm-up), st's validation part zero. */
typedef struct rd_step_stats { float train_loss, valid_loss; int train_correct, valid_correct, n_train, n_valid; } rd_step_stats;
rd_status rd_darts_step(rd_darts *d, const rd_batch *train, const rd_batch *valid, float lr, rd_step_stats *st);
/* The architect's gradient d(valid loss)/d(alphas) into out (alphas-sized),
 * first order or through the unrolled step (second order), without updating anything;
 * the weights are left as they were. */
rd_status rd_darts_arch_grad(rd_darts *d, const rd_batch *train, const rd_batch *valid, float lr, const rd_vec *out);
/* Weight step only (SGD, clip) on the active ops: also the RL phase's training of a sampled path. */
rd_status rd_darts_weight_step(rd_darts *d, const rd_batch *train, float lr, float *loss, int *correct);
/* Data-parallel jobs (radars/comm.h): after every backward pass the gradients are made the
 * same on every rank: weight gradients averaged over the ranks' shards of a batch, or with
 * sum = 1 summed (RL waves: each rank trains its own sampled path); alpha gradients and
 * running statistics averaged. Step statistics and evaluations cover every rank's shard. */
void rd_darts_set_sum_grads(rd_darts *d, int sum);
/* The running statistics averaged over the ranks (after training-mode forwards that no
 * weight step followed: rewards, the warm start's scoring). */
rd_status rd_supernet_sync_bn_state(rd_supernet *net);
/* Mean loss and accuracy over up to max_batches (0 = all) of one pass of loader, train: batch statistics. */
rd_status rd_evaluate(rd_supernet *net, rd_loader *loader, int max_batches, int train_mode, double *loss,
                      double *accuracy);
/* Optimizer state vectors (for checkpoints): SGD momentum, Adam m and v; adam step count. */
rd_vec rd_darts_momentum(const rd_darts *d);
rd_vec rd_darts_adam_m(const rd_darts *d);
rd_vec rd_darts_adam_v(const rd_darts *d);
/* Adam steps taken (its bias correction): saved and restored by checkpoints. */
int rd_darts_adam_steps(const rd_darts *d);
void rd_darts_set_adam_steps(rd_darts *d, int steps);

/* ---- the memory model (memplan.c) ----
 * The peak device memory of one search step, from the supernet's own
 * allocation plan (rd_supernet_plan) plus the optimizer state and the data
 * loaders' buffers, each computed by the code that allocates them. */
typedef struct rd_search_memory {
    rd_memory_plan net;
    uint64_t optimizer;   /* SGD momentum, Adam state, clip scalars (+ the second order's copies) */
    uint64_t data;        /* the loaders' device slots */
    uint64_t total;
} rd_search_memory;
/* Loaders a search keeps: weight half, alpha half, and evaluation over the alpha half. */
enum { RD_SEARCH_LOADERS = 3 };
rd_status rd_search_predict(rd_ctx *ctx, const rd_search_config *cfg, const rd_supernet_config *net,
                            const rd_arch_mask *alive, const rd_arch_mask *active, rd_search_memory *out);
/* The cap a search stays under: memory.cap if set (never above the device's
 * global memory), else global memory x memory.safety_fraction. */
uint64_t rd_search_cap(const rd_search_config *cfg, const rd_device_info *dev);
/* A single-path mask taking, on each alive edge, the op whose activations are
 * largest: the RL phase never needs more activation memory than this path. */
void rd_largest_single_path(const rd_arch_mask *alive, const rd_opset *set, rd_arch_mask *out);

/* ---- the RL controller (controller.c): host-side REINFORCE over per-edge ops ---- */
typedef struct rd_controller {
    int K;                                  /* ops in the set */
    rd_arch_mask alive;                     /* ops the policy may pick */
    double logits[2][RD_CELL_EDGES][RD_MAX_OPS];
    double baseline;                        /* moving average of rewards */
    int have_baseline;
    uint64_t rng;                           /* sampling state (saved in checkpoints) */
    double lr, baseline_decay, entropy_weight;
} rd_controller;

void rd_controller_init(rd_controller *c, const rd_arch_mask *alive, int K, uint64_t seed, double lr,
                        double baseline_decay, double entropy_weight);
/* Probabilities of the ops of edge e of cell type t (0 for dead ops). */
void rd_controller_probs(const rd_controller *c, int t, int e, double *p);
/* Logits from per-op scores [2][14][K] (a zero-cost proxy): strength x the score's z-score
 * over the edge's alive ops; ops without a finite score, and edges whose scores are all
 * equal, get 0. */
void rd_controller_set_prior(rd_controller *c, const double *scores, double strength);
/* Draws one op per edge: choice[t][e] = op index, path = the single-path mask. */
void rd_controller_sample(rd_controller *c, int choice[2][RD_CELL_EDGES], rd_arch_mask *path);
/* REINFORCE with the moving-average baseline and the entropy bonus; returns the advantage. */
double rd_controller_update(rd_controller *c, const int choice[2][RD_CELL_EDGES], double reward);
/* The most likely op of every edge. */
void rd_controller_best(const rd_controller *c, rd_arch_mask *best);
/* Mean entropy of the per-edge policies (nats). */
double rd_controller_entropy(const rd_controller *c);
/* Removes, on each edge, the lowest-probability alive ops: per_edge of them, or
 * ceil(fraction * alive) when fraction > 0; never below min_ops and never the
 * last op. `none` counts like any other op. Returns the number removed. */
int rd_controller_prune(rd_controller *c, int per_edge, double fraction, int min_ops);
/* The policy's probabilities as mixed-op-like weights [2][14][K] (for rd_genotype_derive). */
void rd_controller_weights(const rd_controller *c, float *out);

/* ---- checkpoints (checkpoint.c) ----
 * One safetensors file: as tensors, exactly the supernet's state dict under
 * PyTorch DARTS names (SEARCH.md), so PyTorch code loads it as is; in its
 * "__metadata__", the optimizer state (base64), the controller, the op masks,
 * where the search stands (phase, round, epoch, step, loader positions, RNG
 * state) and the resolved config. Written to a temporary file and renamed. */
typedef enum rd_search_phase { RD_PHASE_RL, RD_PHASE_DARTS, RD_PHASE_DONE } rd_search_phase;
typedef struct rd_search_state {
    int phase;                     /* rd_search_phase */
    int round, sample;             /* RL: next sample of which round */
    int epoch;                     /* DARTS: current epoch */
    int64_t step;                  /* DARTS: next step within the epoch */
    int64_t global_step;           /* steps of either phase so far */
    rd_loader_state loaders[RD_SEARCH_LOADERS];
    double seconds[2];             /* time spent in the RL and DARTS phases */
    rd_arch_mask alive;            /* ops alive now */
    int64_t metrics_bytes;         /* metrics.jsonl's size at this checkpoint (-1: unknown) */
    /* the current DARTS epoch's running totals (its record covers the whole epoch after a resume) */
    struct rd_search_epoch_sums {
        double train_loss, valid_loss, seconds;
        int64_t train_correct, valid_correct, n_train, n_valid, steps;
    } sums;
} rd_search_state;

typedef struct rd_checkpoint_parts {
    rd_supernet *net;              /* required */
    rd_darts *darts;               /* NULL: no optimizer state */
    rd_controller *controller;     /* NULL: none */
    rd_search_state *state;        /* NULL: none */
    const char *config_text;       /* resolved config (INI), NULL: none */
    const char *genotype;          /* DARTS form of the current genotype, NULL: none */
    int genotype_from_controller;  /* 1: the genotype comes from the controller's policy (RL) */
} rd_checkpoint_parts;
rd_status rd_checkpoint_save(const char *path, const rd_checkpoint_parts *parts, rd_err *err);
/* Loads into existing objects (the supernet must have the checkpoint's shapes). */
rd_status rd_checkpoint_load(const char *path, const rd_checkpoint_parts *parts, rd_err *err);
/* Reads what is needed before building anything: state, controller, config text (malloc'ed). */
rd_status rd_checkpoint_peek(const char *path, rd_search_state *state, rd_controller *controller,
                             char **config_text, rd_err *err);
/* The genotype a checkpoint holds: derived from its alphas over the alive ops
 * (DARTS phase) or from its controller's policy (RL phase / RL strategy), under the guard
 * of the recipe it stores; a field of `guard` other than RD_GUARD_STORED replaces that
 * rule (guard NULL: the stored ones). */
enum { RD_GUARD_STORED = -2 };
rd_status rd_checkpoint_genotype(const char *path, const rd_geno_guard *guard, rd_genotype *out, rd_err *err);
/* Loads the weights and running statistics of a checkpoint that net shares by
 * name and shape (not the alphas): RADARS' hand-over from the RL phase to DARTS. */
rd_status rd_checkpoint_load_shared(const char *path, rd_supernet *net, int *copied, rd_err *err);
/* Copies every tensor the two supernets share by name and shape (host round trip). */
rd_status rd_supernet_copy_shared(rd_supernet *dst, rd_supernet *src, int *copied, rd_err *err);

/* ---- one search, start to finish (radars.c) ---- */

typedef struct rd_search_options {
    const char *run_dir;           /* existing directory: config.ini, metrics.jsonl, checkpoint, report */
    int resume;                    /* continue from run_dir/checkpoint.safetensors */
    int64_t stop_after_steps;      /* stop (with a checkpoint) after this many steps in total: tests; 0 = off */
    volatile int *interrupt;       /* set to 1 (e.g. by SIGINT) to checkpoint and stop at the next step */
    rd_search_observer observer;
    int sync_check_every;          /* data-parallel jobs: compare a hash of the parameters of every rank
                                      every K steps; a rank that differs stops the job (0 = off) */
    const rd_genotype *score;      /* one-shot strategies (rl, random-ws): genotypes scored at the end as
                                      paths of the trained supernet (validation accuracy on the same
                                      batches, "ws_score" records): does weight sharing rank them? */
    int score_count;
} rd_search_options;

typedef struct rd_search_result {
    rd_genotype genotype;
    char genotype_text[2048];
    double valid_accuracy;         /* of the final supernet (or policy path) on the alpha half; NaN: random */
    double seconds;
    uint64_t cap, peak;            /* bytes: the cap and the allocator's measured peak */
    uint64_t predicted_peak;       /* the memory model's prediction for the final phase */
    int rl_rounds;
    int interrupted;               /* stopped early: resume with the same run_dir */
    rd_arch_mask alive;            /* ops that survived */
    int guard_changes;             /* ops search.max_skip_normal / max_param_free_normal took (0: none) */
} rd_search_result;

/* Runs the configured strategy on ctx's device: RADARS (RL rounds prune until
 * the supernet fits the cap, then DARTS), plain DARTS (refused at once when it
 * does not fit), the RL-only baseline, or the random baseline (a genotype drawn
 * uniformly from the space, nothing trained). Writes config, metrics, checkpoints,
 * genotype and report into opt->run_dir. */
rd_status rd_search_run(rd_ctx *ctx, const rd_search_config *cfg, const rd_search_options *opt,
                        rd_search_result *res, rd_err *err);
/* The report of a run directory from its metrics (report.json, report.txt); also done at the end of a run. */
rd_status rd_search_write_report(const char *run_dir, rd_err *err);

/* ---- a search followed by training (then_train.c) ----
 * Trains the genotype of search run directory search_dir from scratch for
 * epochs epochs (the train recipe's defaults, with the search's data set,
 * batch, C and layers) in search_dir/train (resumed when it holds a
 * checkpoint), then adds a "then_train" record (test accuracy) to the search's
 * metrics and rewrites its report. */
rd_status rd_search_then_train(rd_ctx *ctx, const rd_search_config *search, const char *search_dir, int epochs,
                               const rd_train_options *opt, rd_train_result *res, rd_err *err);

#ifdef __cplusplus
}
#endif
#endif
