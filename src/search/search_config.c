/* The search recipe schema: every key a configs/ recipe file may set, with its
 * default, range and documentation (rd_config_write prints them as comments). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "radars/search.h"

#define T rd_search_config

const char *const rd_strategy_names[] = {"radars", "darts", "rl", "random", "random-ws", "pcdarts", NULL};
static const char *const order_names[] = {"first", "second", NULL};
static const char *const dnas_names[] = {"darts", "pcdarts", NULL};
static const char *const warm_names[] = {"none", "prune", "prior", NULL};

static const rd_cfg_key keys[] = {
    RD_CFG_STRING_KEY(T, "data", "dataset", dataset, "fashion-mnist",
                      "Data set: fashion-mnist (Debian's dataset-fashion-mnist), mnist:DIR or idx:DIR (IDX files), "
                      "cifar10:DIR (CIFAR-10 binary batches), png:DIR (one sub-folder of PNG images per class). "
                      "The search uses only the training split; the test split is never touched."),
    RD_CFG_DOUBLE_KEY(T, "data", "train_portion", train_portion, "0.5", 0.05, 0.95,
                      "Share of the training images that train the weights; the rest train the alphas (DARTS' split)."),
    RD_CFG_INT_KEY(T, "data", "train_limit", train_limit, "0", 0, 100000000,
                   "Use only the first N training images (0 = all): a quick recipe's knob."),
    RD_CFG_INT_KEY(T, "data", "batch", batch, "64", 1, 4096, "Images per batch (weights and alphas alike)."),
    RD_CFG_INT_KEY(T, "data", "crop_padding", crop_padding, "0", 0, 64,
                   "Random crop after zero padding by this many pixels (0 = off; DARTS uses 4 on CIFAR-10)."),
    RD_CFG_BOOL_KEY(T, "data", "flip", flip, "false", "Random horizontal flip."),
    RD_CFG_INT_KEY(T, "data", "image_size", image_size, "0", 0, 4096,
                   "PNG folders: resize every image to this size (0 = all images must have one size)."),
    RD_CFG_INT_KEY(T, "data", "classes", classes, "0", 0, 256,
                   "IDX data sets (idx:DIR): the number of classes (0 = the largest label + 1; then a class below it without a single image is refused as a corrupt label file)."),

    RD_CFG_INT_KEY(T, "model", "C", C, "16", 2, 1024, "Initial channels of the supernet (even)."),
    RD_CFG_INT_KEY(T, "model", "layers", layers, "8", 1, 64, "Cells; cells L/3 and 2L/3 are reduction cells."),
    RD_CFG_STRING_KEY(T, "model", "ops", ops, "large",
                      "Candidate ops of every edge: darts (8 ops), large (15 ops) or a comma-separated list of op names."),

    RD_CFG_ENUM_KEY(T, "search", "strategy", strategy, "radars", rd_strategy_names,
                    "radars: RL rounds prune the ops until the supernet fits the memory cap, then DARTS; "
                    "darts: plain DARTS (refused at once if it does not fit); rl: the RL-only baseline; "
                    "random: the random baseline, a genotype drawn uniformly from the space (seed search.seed), nothing trained; "
                    "random-ws: random search with weight sharing (Li & Talwalkar 2019): rl.rounds x rl.samples uniformly "
                    "sampled paths train the one-shot supernet, then the best of search.ws_candidates random genotypes "
                    "on the shared weights; "
                    "pcdarts: PC-DARTS (Xu et al. 2020; 1/search.pc_k of the channels through the ops, edge "
                    "normalisation), refused at once if it does not fit."),
    RD_CFG_ENUM_KEY(T, "search", "dnas", dnas, "darts", dnas_names,
                    "The supernet RADARS prunes and then searches: darts, or pcdarts (partial channels, "
                    "search.pc_k; its RL phase trains the same partial-channel supernet)."),
    RD_CFG_INT_KEY(T, "search", "pc_k", pc_k, "4", 2, 16,
                   "PC-DARTS: 1/K of each edge's channels go through the ops (model.C must be a multiple of K)."),
    RD_CFG_INT_KEY(T, "search", "ws_candidates", ws_candidates, "20", 1, 100000,
                   "random-ws: random genotypes evaluated with the shared weights (search.eval_batches batches each, "
                   "the same for all); the best is the result."),
    RD_CFG_INT_KEY(T, "search", "epochs", epochs, "50", 0, 100000, "Epochs of the DARTS phase."),
    RD_CFG_INT_KEY(T, "search", "arch_warmup_epochs", arch_warmup_epochs, "0", 0, 100000,
                   "The first N epochs of the DARTS phase train the weights only, the alphas stay as they are "
                   "(PC-DARTS' warm-up: 15 of 50 epochs), so the architecture is not ranked on untrained weights."),
    RD_CFG_INT_KEY(T, "search", "steps_per_epoch", steps_per_epoch, "0", 0, 100000000,
                   "Search steps per epoch (0 = one pass over the weight half of the training set)."),
    RD_CFG_ENUM_KEY(T, "search", "order", order, "first", order_names,
                    "first: first-order DARTS; second: unrolled step with the finite-difference Hessian-vector product."),
    RD_CFG_INT_KEY(T, "search", "seed", seed, "2", 0, 2147483647, "Seed of every random choice: same seed, same device, same result."),
    RD_CFG_DOUBLE_KEY(T, "search", "w_lr", w_lr, "0.025", 0, 10, "Weight SGD learning rate (cosine-annealed)."),
    RD_CFG_DOUBLE_KEY(T, "search", "w_lr_min", w_lr_min, "0.001", 0, 10, "Final weight learning rate of the cosine schedule."),
    RD_CFG_DOUBLE_KEY(T, "search", "w_momentum", w_momentum, "0.9", 0, 0.999, "Weight SGD momentum."),
    RD_CFG_DOUBLE_KEY(T, "search", "w_weight_decay", w_weight_decay, "3e-4", 0, 1, "Weight SGD weight decay."),
    RD_CFG_DOUBLE_KEY(T, "search", "grad_clip", grad_clip, "5", 0, 1e6, "Gradient-norm clip of the weights (0 = off)."),
    RD_CFG_DOUBLE_KEY(T, "search", "a_lr", a_lr, "3e-4", 0, 10, "Alpha Adam learning rate."),
    RD_CFG_DOUBLE_KEY(T, "search", "a_beta1", a_beta1, "0.5", 0, 0.9999, "Alpha Adam beta1."),
    RD_CFG_DOUBLE_KEY(T, "search", "a_beta2", a_beta2, "0.999", 0, 0.99999, "Alpha Adam beta2."),
    RD_CFG_DOUBLE_KEY(T, "search", "a_weight_decay", a_weight_decay, "1e-3", 0, 1, "Alpha Adam weight decay."),
    RD_CFG_DOUBLE_KEY(T, "search", "unrolled_lr_scale", unrolled_lr_scale, "1", 0, 100,
                      "Second order: the virtual step uses the weight learning rate times this."),
    RD_CFG_INT_KEY(T, "search", "eval_batches", eval_batches, "0", 0, 100000000,
                   "Validation batches for the accuracy reported each epoch (0 = the whole alpha half)."),
    RD_CFG_INT_KEY(T, "search", "max_skip_normal", max_skip_normal, "-1", -1, 8,
                   "Guard against DARTS' skip-connect collapse (P-DARTS' rule; P-DARTS uses 2): when the derived normal "
                   "cell holds more skip_connect edges than this, the weakest lose skip_connect and the cell is derived "
                   "again; said and recorded when it changes the genotype (-1 = off)."),
    RD_CFG_INT_KEY(T, "search", "max_param_free_normal", max_param_free_normal, "-1", -1, 8,
                   "At most this many edges of the derived normal cell hold an op without weights (skip_connect, "
                   "pools): short searches favour those ops because they need no training, and networks trained from "
                   "a cell full of them test worse (README, \"The strategy study\"). The weakest lose theirs and the "
                   "cell is derived again, as for max_skip_normal; said and recorded (-1 = off)."),

    RD_CFG_BYTES_KEY(T, "memory", "cap", mem_cap, "0", 0, 1.8e19,
                     "Device memory the search may use, e.g. 2GiB (0 = the device's global memory x safety_fraction). "
                     "--mem-cap on the command line sets it too."),
    RD_CFG_DOUBLE_KEY(T, "memory", "safety_fraction", safety_fraction, "0.9", 0.05, 1,
                      "Share of CL_DEVICE_GLOBAL_MEM_SIZE the default cap allows (the driver needs some too)."),

    RD_CFG_INT_KEY(T, "rl", "rounds", rl_rounds, "8", 0, 10000,
                   "Most RL rounds; RADARS stops pruning as soon as the surviving supernet fits the cap."),
    RD_CFG_INT_KEY(T, "rl", "samples", rl_samples, "20", 1, 1000000, "Sub-networks sampled per round."),
    RD_CFG_INT_KEY(T, "rl", "train_steps", rl_train_steps, "2", 0, 100000, "Weight steps on each sampled path."),
    RD_CFG_INT_KEY(T, "rl", "reward_batches", rl_reward_batches, "1", 1, 100000, "Validation batches per reward."),
    RD_CFG_DOUBLE_KEY(T, "rl", "lr", rl_lr, "0.05", 0, 100, "Policy learning rate (REINFORCE)."),
    RD_CFG_DOUBLE_KEY(T, "rl", "baseline_decay", rl_baseline_decay, "0.9", 0, 0.9999, "Moving-average baseline decay."),
    RD_CFG_DOUBLE_KEY(T, "rl", "entropy", rl_entropy, "1e-3", 0, 100, "Entropy bonus weight."),
    RD_CFG_INT_KEY(T, "rl", "prune_per_round", prune_per_round, "2", 0, 15,
                   "Ops removed from each edge after a round (lowest probability first; never the last op)."),
    RD_CFG_DOUBLE_KEY(T, "rl", "prune_fraction", prune_fraction, "0", 0, 1,
                      "When > 0: remove this share of each edge's alive ops per round (rounded up) instead."),
    RD_CFG_INT_KEY(T, "rl", "min_ops_per_edge", min_ops_per_edge, "1", 1, 15, "Pruning never goes below this many ops on an edge."),
    RD_CFG_DOUBLE_KEY(T, "rl", "latency_weight", latency_weight, "0", 0, 1e6,
                      "Multi-objective reward: minus this times the sampled path's forward time in ms (measured on the device)."),
    RD_CFG_DOUBLE_KEY(T, "rl", "params_weight", params_weight, "0", 0, 1e6, "Minus this times the path's parameters in millions."),
    RD_CFG_DOUBLE_KEY(T, "rl", "flops_weight", flops_weight, "0", 0, 1e6, "Minus this times the path's GFLOPs per image."),
    RD_CFG_ENUM_KEY(T, "rl", "warm_start", warm_start, "none", warm_names,
                    "A zero-cost start before the first RL round: every op of every edge scored at initialisation by "
                    "the saliency of its output gate (|d loss / d gate| on one training batch per scored path, no "
                    "weight updated; SNIP's connection sensitivity at the op level), then prune: remove "
                    "rl.prune_per_round lowest-scored ops per edge, or prior: start the controller's logits from the "
                    "scores (rl.warm_start_strength x their z-score per edge); none: off."),
    RD_CFG_INT_KEY(T, "rl", "warm_start_paths", warm_start_paths, "0", 0, 100000,
                   "Single paths the warm start scores (every op of an edge the same number of times; 0 = 4 per op "
                   "of the set)."),
    RD_CFG_DOUBLE_KEY(T, "rl", "warm_start_strength", warm_start_strength, "1", 0, 100,
                      "prior: the controller's initial logits are this times the proxy's z-score over the edge's ops."),
    RD_CFG_DOUBLE_KEY(T, "rl", "gap_weight", gap_weight, "0", 0, 1e6,
                      "UNAS' generalisation-gap term: minus this times (the path's training accuracy over its weight "
                      "steps - its validation accuracy)."),

    RD_CFG_STRING_KEY(T, "output", "root", out_root, "runs", "Run directories are made under this folder (--out names one)."),
    RD_CFG_INT_KEY(T, "output", "checkpoint_every", checkpoint_every, "0", 0, 100000000,
                   "Also checkpoint every N steps inside an epoch (0 = at the end of each epoch only)."),
    RD_CFG_INT_KEY(T, "output", "then_train_epochs", then_train_epochs, "0", 0, 100000,
                   "Train the found network from scratch for this many epochs after the search (0 = no)."),
};

static const rd_cfg_section sections[] = {
    {"data", "Where images come from and how batches are made."},
    {"model", "The supernet: SEARCH.md section 1."},
    {"search", "The DARTS phase (SEARCH.md section 2) and the strategy."},
    {"memory", "The device-memory cap every search stays under."},
    {"rl", "The RL controller and pruning (SEARCH.md section 3)."},
    {"output", "Run directory, checkpoints."},
    {NULL, NULL},
};

const rd_cfg_schema rd_search_schema = {
    "search",
    "radars-cl search recipe. Every key is optional: a missing key keeps its default. "
    "Override any key on the command line with --set section.key=value.",
    keys,
    (int)(sizeof keys / sizeof *keys),
    sizeof(rd_search_config),
    sections,
};

const char *rd_warm_names(int mode) { return mode >= 0 && mode <= RD_WARM_PRIOR ? warm_names[mode] : "?"; }

int rd_search_uses_pc(const rd_search_config *cfg) {
    return cfg->strategy == RD_STRATEGY_PCDARTS || (cfg->strategy == RD_STRATEGY_RADARS && cfg->dnas == RD_DNAS_PCDARTS);
}

rd_status rd_search_config_load(rd_search_config *cfg, const char *path, const char *const *sets, int n_sets,
                                rd_err *err) {
    RD_TRY(rd_config_load(&rd_search_schema, cfg, path, sets, n_sets, err));
    rd_opset set;
    if (rd_opset_parse(cfg->ops, &set, err) != RD_OK) return rd_err_prefix(err, "model.ops");
    if (cfg->C % 2) return rd_fail(err, RD_ERR_CONFIG, "model.C = %d: must be even (FactorizedReduce halves it)", cfg->C);
    if (cfg->w_lr_min > cfg->w_lr)
        return rd_fail(err, RD_ERR_CONFIG, "search.w_lr_min = %g is above search.w_lr = %g", cfg->w_lr_min, cfg->w_lr);
    if (cfg->strategy == RD_STRATEGY_RANDOM_WS && rd_opset_find(&set, RD_OP_NONE) < 0)
        return rd_fail(err, RD_ERR_CONFIG,
                       "search.strategy = random-ws needs 'none' in model.ops (the edges a genotype does not "
                       "choose are 'none' in the shared-weight supernet)");
    if (rd_search_uses_pc(cfg) && cfg->C % cfg->pc_k)
        return rd_fail(err, RD_ERR_CONFIG, "search.pc_k = %d must divide model.C = %d", cfg->pc_k, cfg->C);
    if (cfg->arch_warmup_epochs > 0 && cfg->arch_warmup_epochs >= cfg->epochs)
        return rd_fail(err, RD_ERR_CONFIG,
                       "search.arch_warmup_epochs = %d leaves none of search.epochs = %d to train the alphas",
                       cfg->arch_warmup_epochs, cfg->epochs);
    if (cfg->min_ops_per_edge > set.count)
        return rd_fail(err, RD_ERR_CONFIG, "rl.min_ops_per_edge = %d: the op set has only %d ops", cfg->min_ops_per_edge,
                       set.count);
    return RD_OK;
}

rd_status rd_search_supernet_config(const rd_search_config *cfg, int in_c, int in_h, int in_w, int classes,
                                    rd_supernet_config *out, rd_err *err) {
    rd_supernet_config_default(out);
    out->C = cfg->C;
    out->layers = cfg->layers;
    out->in_channels = in_c;
    out->in_h = in_h;
    out->in_w = in_w;
    out->classes = classes;
    out->batch = cfg->batch;
    out->pc_k = rd_search_uses_pc(cfg) ? cfg->pc_k : 0;
    RD_TRY(rd_opset_parse(cfg->ops, &out->ops, err));
    return rd_supernet_config_check(out, err);
}
