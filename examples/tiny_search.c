/* A tiny RADARS search, then its genotype trained from scratch, through the
 * public API alone (#include <radars/radars.h>, link libradars).
 *
 *   tiny_search [DATASET [RUN_DIR]]
 *     DATASET  fashion-mnist (default), mnist:DIR, idx:DIR, cifar10:DIR or png:DIR
 *     RUN_DIR  where the two runs go (default: a new folder under /tmp)
 *
 * Build against an installed radars-cl:
 *   cc tiny_search.c $(pkg-config --cflags --libs radars) -o tiny_search
 * or with CMake: find_package(radars) and target_link_libraries(... radars::radars)
 * (examples/CMakeLists.txt). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <radars/radars.h>

static void log_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "  %s\n", line);
}

static int fail(const char *what, const rd_err *err) {
    fprintf(stderr, "tiny_search: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *dataset = argc > 1 ? argv[1] : "fashion-mnist";
    char base[512];
    if (argc > 2) {
        snprintf(base, sizeof base, "%s", argv[2]);
    } else {
        snprintf(base, sizeof base, "/tmp/radars-example-XXXXXX");
        if (!mkdtemp(base)) return perror("mkdtemp"), 1;
    }
    rd_err err = {0};

    /* 1. a device: $RADARS_DEVICE, else the first GPU, accelerator or CPU */
    rd_ctx_options copt;
    memset(&copt, 0, sizeof copt);
    rd_ctx *ctx;
    if (rd_ctx_create(&copt, &ctx, &err) != RD_OK) return fail("device", &err);
    printf("device: %s\n", rd_ctx_device(ctx)->name);

    /* 2. a search recipe: the defaults, made tiny with the same keys as --set */
    char data_key[600];
    snprintf(data_key, sizeof data_key, "data.dataset=%s", dataset);
    const char *search_sets[] = {data_key,          "data.train_limit=1000", "data.batch=16",
                                 "model.C=4",       "model.layers=3",        "model.ops=darts",
                                 "search.strategy=radars", "search.epochs=1", "search.steps_per_epoch=4",
                                 "search.eval_batches=2",  "rl.rounds=3",    "rl.samples=2",
                                 "rl.train_steps=1"};
    rd_search_config scfg;
    if (rd_search_config_load(&scfg, NULL, search_sets, (int)(sizeof search_sets / sizeof *search_sets), &err) !=
        RD_OK)
        return fail("search recipe", &err);

    /* RADARS prunes until DARTS over the surviving ops fits the cap: a cap below the whole
     * supernet's predicted peak (and above one sampled path's) makes it prune */
    rd_data_options dopt;
    memset(&dopt, 0, sizeof dopt);
    rd_dataset data;
    if (rd_dataset_open(scfg.dataset, "train", &dopt, &data, &err) != RD_OK) return fail("data", &err);
    rd_supernet_config ncfg;
    rd_status st = rd_search_supernet_config(&scfg, data.c, data.h, data.w, data.classes, &ncfg, &err);
    rd_dataset_free(&data);
    if (st != RD_OK) return fail("supernet", &err);
    rd_search_memory all, one;
    rd_arch_mask alive, path;
    rd_arch_mask_all(&alive, &ncfg.ops);
    rd_largest_single_path(&alive, &ncfg.ops, &path);
    if (rd_search_predict(ctx, &scfg, &ncfg, &alive, NULL, &all) != RD_OK ||
        rd_search_predict(ctx, &scfg, &ncfg, &alive, &path, &one) != RD_OK)
        return fail("memory model", rd_ctx_err(ctx));
    scfg.mem_cap = all.total / 100 * 85 > one.total ? all.total / 100 * 85 : one.total;
    printf("memory model: whole supernet %.1f MiB, one path %.1f MiB: cap %.1f MiB\n", all.total / 1048576.0,
           one.total / 1048576.0, scfg.mem_cap / 1048576.0);

    /* 3. the search, into its own run directory */
    char search_dir[600];
    snprintf(search_dir, sizeof search_dir, "%s/search", base);
    rd_run_dir_options ro = {search_dir, NULL, "search", false};
    char made[700];
    if (rd_run_dir_create(&ro, made, sizeof made, &err) != RD_OK) return fail("run directory", &err);
    rd_search_options sopt;
    memset(&sopt, 0, sizeof sopt);
    sopt.run_dir = made;
    sopt.observer.log = log_line;
    rd_search_result sres;
    if (rd_search_run(ctx, &scfg, &sopt, &sres, &err) != RD_OK) return fail("search", &err);
    printf("search: %d RL round(s), peak %.1f MiB of cap %.1f MiB\ngenotype: %s\n", sres.rl_rounds,
           sres.peak / 1048576.0, sres.cap / 1048576.0, sres.genotype_text);

    /* 4. the genotype trained from scratch (its run directory names it: genotype.txt) */
    char train_dir[600];
    snprintf(train_dir, sizeof train_dir, "%s/train", base);
    char train_key[800], geno_key[800];
    snprintf(train_key, sizeof train_key, "data.dataset=%s", dataset);
    snprintf(geno_key, sizeof geno_key, "model.genotype=%s", made);
    const char *train_sets[] = {train_key,        geno_key,           "data.train_limit=600", "data.test_limit=200",
                                "data.batch=16",  "model.C=4",        "model.layers=3",       "train.epochs=1",
                                "train.steps_per_epoch=4", "train.eval_batches=2"};
    rd_train_config tcfg;
    if (rd_train_config_load(&tcfg, NULL, train_sets, (int)(sizeof train_sets / sizeof *train_sets), &err) != RD_OK)
        return fail("train recipe", &err);
    rd_run_dir_options to = {train_dir, NULL, "train", false};
    if (rd_run_dir_create(&to, made, sizeof made, &err) != RD_OK) return fail("run directory", &err);
    rd_train_options topt;
    memset(&topt, 0, sizeof topt);
    topt.run_dir = made;
    topt.observer.log = log_line;
    rd_train_result tres;
    if (rd_train_run(ctx, &tcfg, &topt, &tres, &err) != RD_OK) return fail("training", &err);
    if (!rd_genotype_equal(&tres.genotype, &sres.genotype)) {
        fprintf(stderr, "tiny_search: trained another genotype than the search found\n");
        return 1;
    }
    printf("trained: test accuracy %.2f%% after %d epoch(s), %.0f parameters; runs in %s\n",
           100 * tres.test_accuracy, tres.epochs, tres.params, base);
    rd_ctx_free(ctx);
    return 0;
}
