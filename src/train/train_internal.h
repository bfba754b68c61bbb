/* Shared inside src/train/: one evaluation pass, used by the training loop
 * (validation, final test) and by rd_train_evaluate, so both report the same
 * accuracy for the same weights. */
#ifndef RADARS_TRAIN_INTERNAL_H
#define RADARS_TRAIN_INTERNAL_H

#include "radars/comm.h"
#include "radars/train.h"

typedef struct train_eval_pass {
    int64_t n, correct;
    double loss_sum;
    int classes;
    int *class_correct, *class_total; /* NULL: not counted */
    double timed_seconds;             /* batches after the first, waiting for the device */
    int64_t timed_images;
} train_eval_pass;

/* Runs the network in evaluation mode (running statistics) over the first
 * max_batches batches (0 = all) of one pass of loader, from its start. */
rd_status train_eval_run(rd_network *net, rd_loader *loader, int max_batches, train_eval_pass *out, rd_err *err);

/* The data a run or an evaluation reads: the test split of cfg's data set
 * (test_limit applied; limit > 0 overrides it). */
rd_status train_open_test(const rd_train_config *cfg, int limit, rd_dataset *out, rd_err *err);

double train_now(void);

#endif
