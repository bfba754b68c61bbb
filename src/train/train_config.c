/* The training recipe schema: every key a configs/train*.ini file may set,
 * with its default, range and documentation (rd_config_write prints them). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "radars/train.h"

#define T rd_train_config

static const rd_cfg_key keys[] = {
    RD_CFG_STRING_KEY(T, "data", "dataset", dataset, "fashion-mnist",
                      "Data set: fashion-mnist (Debian's dataset-fashion-mnist), mnist:DIR or idx:DIR (IDX files), "
                      "cifar10:DIR (CIFAR-10 binary batches), png:DIR (one sub-folder of PNG images per class). "
                      "Training uses its training split; the final accuracy is measured on its test split."),
    RD_CFG_INT_KEY(T, "data", "batch", batch, "64", 1, 4096, "Images per training batch (DARTS: 96)."),
    RD_CFG_DOUBLE_KEY(T, "data", "valid_portion", valid_portion, "0.1", 0, 0.9,
                      "Share of the training set held out (a seeded random sample) for the validation accuracy "
                      "reported each epoch; the rest trains. 0 = train on the whole training set and validate on "
                      "the test set each epoch, as DARTS' train.py does."),
    RD_CFG_INT_KEY(T, "data", "train_limit", train_limit, "0", 0, 100000000,
                   "Use only the first N training images (0 = all), before the validation share is taken."),
    RD_CFG_INT_KEY(T, "data", "test_limit", test_limit, "0", 0, 100000000,
                   "Evaluate on the first N test images only (0 = all): quick runs."),
    RD_CFG_INT_KEY(T, "data", "crop_padding", crop_padding, "0", 0, 64,
                   "Random crop after zero padding by this many pixels (0 = off; DARTS uses 4 on CIFAR-10)."),
    RD_CFG_BOOL_KEY(T, "data", "flip", flip, "false", "Random horizontal flip (DARTS: on for CIFAR-10)."),
    RD_CFG_INT_KEY(T, "data", "cutout", cutout, "0", 0, 1024,
                   "Cutout: a random square of this side is zeroed after normalisation (0 = off; DARTS: 16)."),
    RD_CFG_INT_KEY(T, "data", "image_size", image_size, "0", 0, 4096,
                   "PNG folders: resize every image to this size (0 = all images must have one size)."),
    RD_CFG_INT_KEY(T, "data", "classes", classes, "0", 0, 256,
                   "IDX data sets (idx:DIR): the number of classes (0 = the largest label + 1; then a class below it without a single image is refused as a corrupt label file)."),

    RD_CFG_STRING_KEY(T, "model", "genotype", genotype, "DARTS_V2",
                      "The architecture: a name from configs/genotypes (DARTS_V1, DARTS_V2, PC_DARTS), a search run "
                      "directory (its genotype.txt), a file holding a genotype (DARTS' printed form or JSON), or "
                      "the text Genotype(normal=[...], ...) itself. --genotype sets it."),
    RD_CFG_INT_KEY(T, "model", "C", C, "16", 2, 1024, "Initial channels (even; DARTS' CIFAR-10 network: 36)."),
    RD_CFG_INT_KEY(T, "model", "layers", layers, "8", 1, 64,
                   "Cells; cells L/3 and 2L/3 are reduction cells (DARTS' CIFAR-10 network: 20)."),
    RD_CFG_BOOL_KEY(T, "model", "auxiliary", auxiliary, "false",
                    "Auxiliary classifier after cell 2L/3 (DARTS: on). It needs an 8..10 pixel feature map there, "
                    "i.e. 32x32 inputs: leave it off for 28x28 Fashion-MNIST."),
    RD_CFG_DOUBLE_KEY(T, "model", "auxiliary_weight", auxiliary_weight, "0.4", 0, 100,
                      "Training loss = loss + auxiliary_weight x auxiliary head's loss (DARTS: 0.4)."),
    RD_CFG_DOUBLE_KEY(T, "model", "drop_path", drop_path, "0.2", 0, 0.95,
                      "Drop-path probability, scaled as DARTS: epoch e (0-based) uses drop_path x e / epochs "
                      "(0 = off; DARTS: 0.2)."),

    RD_CFG_INT_KEY(T, "train", "epochs", epochs, "10", 1, 100000, "Training epochs (DARTS: 600)."),
    RD_CFG_INT_KEY(T, "train", "steps_per_epoch", steps_per_epoch, "0", 0, 100000000,
                   "Steps per epoch (0 = one pass over the training split, the last partial batch dropped)."),
    RD_CFG_INT_KEY(T, "train", "seed", seed, "0", 0, 2147483647,
                   "Seed of the weights' initialisation, the split, the batches, augmentation and drop-path: "
                   "same seed, same device, same weights."),
    RD_CFG_DOUBLE_KEY(T, "train", "lr", lr, "0.025", 0, 10, "SGD learning rate at the start (DARTS: 0.025)."),
    RD_CFG_DOUBLE_KEY(T, "train", "lr_min", lr_min, "0", 0, 10,
                      "Learning rate the cosine schedule reaches at the end (DARTS' train.py anneals to 0)."),
    RD_CFG_DOUBLE_KEY(T, "train", "momentum", momentum, "0.9", 0, 0.999, "SGD momentum (DARTS: 0.9)."),
    RD_CFG_DOUBLE_KEY(T, "train", "weight_decay", weight_decay, "3e-4", 0, 1, "SGD weight decay (DARTS: 3e-4)."),
    RD_CFG_DOUBLE_KEY(T, "train", "grad_clip", grad_clip, "5", 0, 1e6, "Gradient-norm clip (0 = off; DARTS: 5)."),
    RD_CFG_INT_KEY(T, "train", "eval_batches", eval_batches, "0", 0, 100000000,
                   "Validation batches for the accuracy reported each epoch (0 = the whole validation set)."),

    RD_CFG_STRING_KEY(T, "output", "root", out_root, "runs", "Run directories are made under this folder (--out names one)."),
    RD_CFG_INT_KEY(T, "output", "checkpoint_every", checkpoint_every, "0", 0, 100000000,
                   "Also checkpoint every N steps inside an epoch (0 = at the end of each epoch only)."),
};

static const rd_cfg_section sections[] = {
    {"data", "Where images come from, the validation split and augmentation."},
    {"model", "The network: DARTS' evaluation network (NetworkCIFAR) built from a genotype."},
    {"train", "SGD with momentum, cosine learning rate, gradient clipping (DARTS' train.py)."},
    {"output", "Run directory, checkpoints."},
    {NULL, NULL},
};

const rd_cfg_schema rd_train_schema = {
    "train",
    "radars-cl training recipe: train a genotype's network from scratch and measure its test accuracy. "
    "Every key is optional: a missing key keeps its default. Override any key on the command line with "
    "--set section.key=value.",
    keys,
    (int)(sizeof keys / sizeof *keys),
    sizeof(rd_train_config),
    sections,
};

rd_status rd_train_config_load(rd_train_config *cfg, const char *path, const char *const *sets, int n_sets,
                               rd_err *err) {
    RD_TRY(rd_config_load(&rd_train_schema, cfg, path, sets, n_sets, err));
    if (cfg->C % 2) return rd_fail(err, RD_ERR_CONFIG, "model.C = %d: must be even (FactorizedReduce halves it)", cfg->C);
    if (cfg->lr_min > cfg->lr)
        return rd_fail(err, RD_ERR_CONFIG, "train.lr_min = %g is above train.lr = %g", cfg->lr_min, cfg->lr);
    if (!cfg->genotype[0]) return rd_fail(err, RD_ERR_CONFIG, "model.genotype is empty: name an architecture (e.g. DARTS_V2)");
    return RD_OK;
}
