/* radars eval: test a trained network (a training checkpoint or run directory). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(void) {
    printf("usage: radars eval CKPT|RUN_DIR [--batch B] [--limit N] [--json] [--device SEL] [--mem-cap SIZE] [-v]\n"
           "Builds the network a training checkpoint describes (genotype and recipe from its metadata),\n"
           "runs the test split of its data set with running statistics, and prints the top-1 accuracy,\n"
           "the accuracy of each class, the inference throughput (images/s after a warm-up batch, waiting\n"
           "for the device) and the peak device memory counted by the allocator.\n"
           "  --batch B   images per forward pass (default: the training batch)\n"
           "  --limit N   the first N test images only (default: the recipe's data.test_limit, 0 = all)\n"
           "  --json      one JSON object on stdout instead of the table\n");
}

static void print_json(const char *path, const rd_eval_result *r) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "checkpoint", json_object_new_string(path));
    json_object_object_add(o, "genotype", json_object_new_string(r->genotype_text));
    json_object_object_add(o, "dataset", json_object_new_string(r->dataset));
    json_object_object_add(o, "epochs_trained", json_object_new_int(r->epochs_trained));
    json_object_object_add(o, "images", json_object_new_int(r->n));
    json_object_object_add(o, "correct", json_object_new_int(r->correct));
    json_object_object_add(o, "top1", json_object_new_double(r->top1));
    json_object_object_add(o, "loss", json_object_new_double(r->loss));
    json_object *pc = json_object_new_array();
    for (int k = 0; k < r->classes; k++) {
        json_object *c = json_object_new_object();
        json_object_object_add(c, "class", json_object_new_string(r->class_names[k]));
        json_object_object_add(c, "correct", json_object_new_int(r->class_correct[k]));
        json_object_object_add(c, "total", json_object_new_int(r->class_total[k]));
        json_object_object_add(c, "accuracy", json_object_new_double(r->class_total[k] ? (double)r->class_correct[k] / r->class_total[k] : 0));
        json_object_array_add(pc, c);
    }
    json_object_object_add(o, "per_class", pc);
    json_object_object_add(o, "images_per_s", json_object_new_double(r->images_per_s));
    json_object_object_add(o, "peak_device_mb", json_object_new_double(r->peak / 1048576.0));
    json_object_object_add(o, "params", json_object_new_double(r->params));
    json_object_object_add(o, "flops_per_image", json_object_new_double(r->flops_per_image));
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static void print_table(const char *path, const rd_eval_result *r) {
    char b[32];
    printf("checkpoint    %s (%d epochs trained)\n", path, r->epochs_trained);
    printf("genotype      %s\n", r->genotype_text);
    printf("data          test split of %s: %d images\n", r->dataset, r->n);
    printf("network       %.3f M parameters, %.1f MFLOPs per image\n", r->params / 1e6, r->flops_per_image / 1e6);
    printf("top-1         %.2f%% (%d of %d), loss %.4f\n", 100 * r->top1, r->correct, r->n, r->loss);
    printf("per class:\n  %-4s %-20s %8s %8s %9s\n", "#", "class", "correct", "total", "accuracy");
    for (int k = 0; k < r->classes; k++)
        printf("  %-4d %-20.20s %8d %8d %8.2f%%\n", k, r->class_names[k], r->class_correct[k], r->class_total[k],
               r->class_total[k] ? 100.0 * r->class_correct[k] / r->class_total[k] : 0.0);
    if (r->images_per_s > 0)
        printf("throughput    %.1f images/s (inference, after a warm-up batch)\n", r->images_per_s);
    else
        printf("throughput    n/a (a single batch: nothing to time after the warm-up; lower --batch)\n");
    printf("peak memory   %s (device allocator)\n", rd_format_bytes(r->peak, b, sizeof b));
}

int cmd_eval(int argc, char **argv) {
    cli_common common = {0};
    const char *path = NULL;
    int json = 0;
    rd_eval_options eo = {0, 0};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage();
            return 0;
        }
        int r = cli_common_option(&common, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if ((!strcmp(argv[i], "--batch") || !strcmp(argv[i], "--limit")) && i + 1 < argc) {
            if (cli_int_arg("eval", argv[i], argv[i + 1], 1, 1000000, !strcmp(argv[i], "--batch") ? &eo.batch : &eo.limit))
                return 2;
            i++;
        } else if (!path && argv[i][0] != '-') path = argv[i];
        else return cli_error("eval: unknown option or missing value '%s' (see 'radars eval --help')", argv[i]);
    }
    if (!path) return cli_error("eval: which checkpoint? (radars eval CKPT|RUN_DIR)");
    rd_ctx *ctx = cli_open_device_built(&common);
    if (!ctx) return 1;
    rd_eval_result res;
    rd_err err = {0};
    int rc = 0;
    if (rd_train_evaluate(ctx, path, &eo, &res, &err) != RD_OK) rc = cli_error("%s", err.msg);
    else if (json) print_json(path, &res);
    else print_table(path, &res);
    rd_eval_result_free(&res);
    rd_ctx_free(ctx);
    return rc;
}
