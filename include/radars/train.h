/* radars-cl: training a genotype's network from scratch, and evaluating it
 * (DARTS' train.py / test.py on the network of radars/network.h).
 *
 * A training run is configured by an rd_train_config (INI recipes of schema
 * "train", configs/train*.ini, every key documented there) and writes into a
 * run directory: config.ini, genotype.txt / genotype.json, metrics.jsonl (one
 * "epoch" record per epoch and a "final" one with the test accuracy),
 * checkpoint.safetensors (the network's state dict under PyTorch DARTS names,
 * loadable by PyTorch with strict names; optimizer, loader, drop-path and
 * config in its metadata), report.json / report.txt and plots/. */
#ifndef RADARS_TRAIN_H
#define RADARS_TRAIN_H

#include "radars/data.h"
#include "radars/io.h"
#include "radars/network.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rd_train_config {
    /* [data] */
    char dataset[512];        /* fashion-mnist | mnist:DIR | idx:DIR | cifar10:DIR | png:DIR */
    int batch;
    double valid_portion;     /* share of the training set held out for validation; 0 = the test set */
    int train_limit;          /* first N training images (0 = all) */
    int test_limit;           /* first N test images (0 = all) */
    int crop_padding;
    bool flip;
    int cutout;               /* cutout length (0 = off; DARTS: 16) */
    int image_size;           /* PNG folders: resize to this size */
    int classes;              /* IDX: class count (0 = largest label + 1) */
    /* [model] */
    char genotype[1024];      /* name, run directory, file or Genotype(...) text */
    int C;
    int layers;
    bool auxiliary;
    double auxiliary_weight;
    double drop_path;         /* drop-path probability at the end (scaled by epoch / epochs) */
    /* [train] */
    int epochs;
    int steps_per_epoch;      /* 0 = one pass over the training split */
    int64_t seed;
    double lr, lr_min, momentum, weight_decay, grad_clip;
    int eval_batches;         /* validation batches per epoch (0 = all) */
    /* [output] */
    char out_root[512];
    int checkpoint_every;     /* steps between checkpoints inside an epoch (0 = at the end of each epoch only) */
} rd_train_config;

extern const rd_cfg_schema rd_train_schema;

/* Defaults + file (NULL = none) + overrides, validated. */
rd_status rd_train_config_load(rd_train_config *cfg, const char *path, const char *const *sets, int n_sets,
                               rd_err *err);

/* ---- genotypes by name, run directory, file or text ----
 * spec is, in this order: DARTS' printed form "Genotype(...)" or JSON "{...}";
 * a run directory (its genotype.txt, else genotype.json); a file holding a
 * genotype (lines starting with '#' are comments); a name NAME with
 * dirs[i]/NAME.txt (dirs: a NULL-terminated list of folders, e.g.
 * configs/genotypes). An unknown name lists the known ones; parse errors name
 * the file. source (may be NULL) receives where the genotype came from. */
rd_status rd_genotype_resolve(const char *spec, const char *const *dirs, rd_genotype *out, char *source,
                              size_t source_len, rd_err *err);

/* ---- checkpoints (train_checkpoint.c) ---- */
typedef struct rd_train_state {
    int epoch;                 /* current epoch (0-based) */
    int64_t step;              /* next step within the epoch */
    int64_t global_step;       /* training steps so far */
    uint64_t drop_path_counter;
    rd_loader_state loader;    /* the training loader */
    double seconds;            /* training time before this process */
    double loss_sum, correct, seen; /* the current epoch's running totals */
    double aux_loss_sum;       /* the auxiliary head's loss, summed like loss_sum */
    int64_t metrics_bytes;     /* metrics.jsonl's size at this checkpoint (-1: unknown) */
} rd_train_state;

/* What a training checkpoint says about itself, read before anything is built. */
typedef struct rd_train_checkpoint_info {
    rd_train_config cfg;       /* from its "config" metadata */
    rd_genotype genotype;
    char genotype_text[2048];
    rd_norm norm;              /* normalisation of the training split */
    int in_c, in_h, in_w, classes;
    rd_train_state state;
} rd_train_checkpoint_info;

/* Tensors: every named tensor of net (PyTorch names) and, for each batch-norm
 * module, "<module>.num_batches_tracked" (I64 scalar = state->global_step), so
 * that PyTorch's load_state_dict(strict=True) accepts the file. Metadata: SGD
 * momentum (base64; momentum.mem NULL: none), state, normalisation, config,
 * genotype. Written atomically. */
rd_status rd_train_checkpoint_save(const char *path, rd_network *net, const rd_vec *momentum,
                                   const rd_train_state *state, const rd_norm *norm, const char *config_text,
                                   const char *genotype_text, rd_err *err);
/* Loads weights and running statistics into net (same shapes), and the
 * momentum (NULL to skip) and state (NULL to skip). */
rd_status rd_train_checkpoint_load(const char *path, rd_network *net, const rd_vec *momentum,
                                   rd_train_state *state, rd_err *err);
rd_status rd_train_checkpoint_peek(const char *path, rd_train_checkpoint_info *info, rd_err *err);

/* ---- one training run (train.c) ---- */
typedef struct rd_train_options {
    const char *run_dir;           /* existing directory */
    int resume;                    /* continue from run_dir/checkpoint.safetensors */
    int64_t stop_after_steps;      /* stop (with a checkpoint) after this many steps in total: tests; 0 = off */
    volatile int *interrupt;       /* set to 1 (e.g. by SIGINT) to checkpoint and stop at the next step */
    rd_search_observer observer;   /* log lines and progress, as the search's */
    const char *const *genotype_dirs; /* NULL-terminated folders of NAME.txt genotypes (NULL: none) */
    int sync_check_every;          /* data-parallel jobs: compare a hash of every rank's parameters every
                                      K steps; a rank that differs stops the job (0 = off) */
} rd_train_options;

typedef struct rd_train_result {
    rd_genotype genotype;
    char genotype_text[2048];
    double test_accuracy, test_loss;
    double valid_accuracy;         /* of the last epoch */
    int epochs;                    /* epochs completed */
    double params;                 /* trainable parameters (auxiliary head excluded) */
    double seconds;                /* training time, all processes together */
    uint64_t peak;                 /* allocator's peak (bytes) */
    int interrupted;
} rd_train_result;

/* Trains cfg's network from scratch on ctx's device (SGD with momentum, cosine
 * learning rate, gradient clipping, drop-path rising linearly, optional
 * auxiliary head), validating each epoch, then evaluates on the test set. */
rd_status rd_train_run(rd_ctx *ctx, const rd_train_config *cfg, const rd_train_options *opt, rd_train_result *res,
                       rd_err *err);
/* report.json and report.txt of a training run directory from its metrics. */
rd_status rd_train_write_report(const char *run_dir, rd_err *err);

/* ---- evaluation (train_eval.c) ---- */
typedef struct rd_eval_options {
    int batch;                     /* 0 = the checkpoint's training batch */
    int limit;                     /* first N test images (0 = the checkpoint's data.test_limit) */
} rd_eval_options;

typedef struct rd_eval_result {
    int n, correct;
    double top1, loss;
    int classes;
    int *class_correct, *class_total;  /* per class (malloc'ed) */
    char **class_names;                /* per class (malloc'ed) */
    double images_per_s;           /* after a warm-up batch, waiting for the device */
    double seconds;                /* of the timed part */
    uint64_t peak;                 /* allocator's peak during the evaluation (bytes) */
    double params, flops_per_image;
    char genotype_text[2048];
    char dataset[512];
    int epochs_trained;
} rd_eval_result;

/* Builds the network a training checkpoint (or run directory) describes, loads
 * it, and runs the test split of its data set with running statistics. */
rd_status rd_train_evaluate(rd_ctx *ctx, const char *ckpt_or_run_dir, const rd_eval_options *opt,
                            rd_eval_result *res, rd_err *err);
void rd_eval_result_free(rd_eval_result *res);


#ifdef __cplusplus
}
#endif
#endif
