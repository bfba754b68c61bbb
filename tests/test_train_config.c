/* The training recipe and genotype resolution: defaults, errors that name the
 * file, line and key, and genotypes by name, file, run directory or text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "radars/train.h"
#include "data_fixtures.h"
#include "test_util.h"

static const char *V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

static void write_text(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    fx_write(p, text, strlen(text), 0);
}

START_TEST(defaults_are_darts_train_py) {
    rd_train_config c;
    rd_err err;
    ck_assert_msg(rd_train_config_load(&c, NULL, NULL, 0, &err) == RD_OK, "%s", err.msg);
    ck_assert_str_eq(c.dataset, "fashion-mnist");
    ck_assert_str_eq(c.genotype, "DARTS_V2");
    ck_assert_int_eq(c.batch, 64);
    ck_assert(c.lr == 0.025 && c.lr_min == 0 && c.momentum == 0.9 && c.weight_decay == 3e-4 && c.grad_clip == 5);
    ck_assert(c.auxiliary_weight == 0.4 && c.drop_path == 0.2 && c.valid_portion == 0.1);
    ck_assert(!c.auxiliary);
    ck_assert_int_eq(c.cutout, 0);
    /* every key documented */
    for (int i = 0; i < rd_train_schema.nkeys; i++)
        ck_assert_msg(rd_train_schema.keys[i].doc && strlen(rd_train_schema.keys[i].doc) > 10, "%s.%s undocumented",
                      rd_train_schema.keys[i].section, rd_train_schema.keys[i].key);
}
END_TEST

START_TEST(errors_name_file_line_and_key) {
    char dir[128];
    fx_mkdtemp(dir, sizeof dir, "train-cfg");
    write_text(dir, "bad.ini", "schema = train\n[train]\nepochs = 3\nepoch = 4\n");
    char path[4200];
    snprintf(path, sizeof path, "%s/bad.ini", dir);
    rd_train_config c;
    rd_err err;
    rd_status s = rd_train_config_load(&c, path, NULL, 0, &err);
    fx_expect_error("unknown key in a file", s, &err, RD_ERR_CONFIG, "bad.ini:4", "train.epoch");
    ck_assert_msg(strstr(err.msg, "train.epochs"), "no suggestion: %s", err.msg);
    const char *sets1[] = {"model.layer=3"};
    s = rd_train_config_load(&c, NULL, sets1, 1, &err);
    fx_expect_error("unknown key in --set", s, &err, RD_ERR_CONFIG, "model.layer", NULL);
    const char *sets2[] = {"model.drop_path=1.5"};
    s = rd_train_config_load(&c, NULL, sets2, 1, &err);
    fx_expect_error("out of range", s, &err, RD_ERR_CONFIG, "model.drop_path", "range");
    const char *sets3[] = {"model.C=7"};
    s = rd_train_config_load(&c, NULL, sets3, 1, &err);
    fx_expect_error("odd C", s, &err, RD_ERR_CONFIG, "model.C", "even");
    const char *sets4[] = {"train.lr=0.01", "train.lr_min=0.1"};
    s = rd_train_config_load(&c, NULL, sets4, 2, &err);
    fx_expect_error("lr_min above lr", s, &err, RD_ERR_CONFIG, "train.lr_min", NULL);
    /* a search recipe is not a training recipe */
    write_text(dir, "search.ini", "schema = search\n[search]\nepochs = 3\n");
    snprintf(path, sizeof path, "%s/search.ini", dir);
    s = rd_train_config_load(&c, path, NULL, 0, &err);
    ck_assert_int_ne(s, RD_OK);
    ck_assert_msg(strstr(err.msg, "search.ini"), "%s", err.msg);
    printf("  expected error (search recipe): %s\n", err.msg);
    fx_rmdir(dir);
}
END_TEST

START_TEST(genotype_by_name_file_dir_and_text) {
    char dir[128], gdir[200], run[200];
    fx_mkdtemp(dir, sizeof dir, "train-geno");
    snprintf(gdir, sizeof gdir, "%s/genotypes", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    ck_assert_int_eq(mkdir(gdir, 0755), 0);
    ck_assert_int_eq(mkdir(run, 0755), 0);
    char text[2048];
    snprintf(text, sizeof text, "# DARTS_V2, from DARTS' genotypes.py\n%s\n", V2);
    write_text(gdir, "MY_V2.txt", text);
    write_text(gdir, "OTHER.txt", text);
    write_text(run, "genotype.txt", V2);
    rd_genotype want, g;
    rd_err err;
    ck_assert_int_eq(rd_genotype_parse(V2, &want, &err), RD_OK);
    const char *dirs[] = {"/nonexistent/genotypes", gdir, NULL};
    char source[4200];
    /* by name */
    ck_assert_msg(rd_genotype_resolve("MY_V2", dirs, &g, source, sizeof source, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&g, &want));
    ck_assert_msg(strstr(source, "MY_V2.txt"), "%s", source);
    /* a run directory */
    ck_assert_msg(rd_genotype_resolve(run, dirs, &g, source, sizeof source, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&g, &want));
    /* a file, DARTS' genotypes.py form */
    snprintf(text, sizeof text, "DARTS_V2 = %s\n", V2);
    write_text(dir, "g.py.txt", text);
    char path[4200];
    snprintf(path, sizeof path, "%s/g.py.txt", dir);
    ck_assert_msg(rd_genotype_resolve(path, dirs, &g, NULL, 0, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&g, &want));
    /* JSON */
    char json[2048];
    rd_genotype_to_json(&want, json, sizeof json);
    ck_assert_msg(rd_genotype_resolve(json, dirs, &g, NULL, 0, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&g, &want));
    /* text */
    ck_assert_msg(rd_genotype_resolve(V2, NULL, &g, NULL, 0, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&g, &want));

    /* errors */
    rd_status s = rd_genotype_resolve("DARTS_V9", dirs, &g, NULL, 0, &err);
    fx_expect_error("unknown name", s, &err, RD_ERR_CONFIG, "DARTS_V9", "MY_V2, OTHER");
    s = rd_genotype_resolve("Genotype(normal=[('sep_conv_9x9', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])",
                            dirs, &g, NULL, 0, &err);
    ck_assert_int_ne(s, RD_OK);
    ck_assert_msg(strstr(err.msg, "genotype") && strchr(err.msg, '\n') == NULL, "%s", err.msg);
    printf("  expected error (malformed text): %s\n", err.msg);
    write_text(gdir, "BROKEN.txt", "Genotype(normal=[('sep_conv_3x3', 0)");
    s = rd_genotype_resolve("BROKEN", dirs, &g, NULL, 0, &err);
    ck_assert_int_ne(s, RD_OK);
    ck_assert_msg(strstr(err.msg, "BROKEN.txt"), "the file is not named: %s", err.msg);
    printf("  expected error (malformed file): %s\n", err.msg);
    char empty[200];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    ck_assert_int_eq(mkdir(empty, 0755), 0);
    s = rd_genotype_resolve(empty, dirs, &g, NULL, 0, &err);
    fx_expect_error("directory without genotype", s, &err, RD_ERR_CONFIG, "genotype.txt", NULL);
    s = rd_genotype_resolve("two words", dirs, &g, NULL, 0, &err);
    fx_expect_error("not a name", s, &err, RD_ERR_CONFIG, "two words", NULL);
    fx_rmdir(dir);
}
END_TEST

/* The published genotypes this source tree ships parse (configs/genotypes). */
START_TEST(shipped_genotypes_parse) {
    const char *src = getenv("RADARS_SOURCE_DIR");
    char gdir[4200];
    snprintf(gdir, sizeof gdir, "%s/configs/genotypes", src ? src : ".");
    const char *dirs[] = {gdir, NULL};
    const char *names[] = {"DARTS_V1", "DARTS_V2", "PC_DARTS"};
    char p[4300];
    snprintf(p, sizeof p, "%s/DARTS_V2.txt", gdir);
    if (access(p, R_OK) != 0) {
        printf("shipped genotypes: skipped (no %s)\n", p);
        return;
    }
    for (int i = 0; i < 3; i++) {
        rd_genotype g;
        rd_err err;
        snprintf(p, sizeof p, "%s/%s.txt", gdir, names[i]);
        if (access(p, R_OK) != 0) continue;
        ck_assert_msg(rd_genotype_resolve(names[i], dirs, &g, NULL, 0, &err) == RD_OK, "%s: %s", names[i], err.msg);
        if (!strcmp(names[i], "DARTS_V2")) {
            rd_genotype want;
            ck_assert_int_eq(rd_genotype_parse(V2, &want, &err), RD_OK);
            ck_assert_msg(rd_genotype_equal(&g, &want), "configs/genotypes/DARTS_V2.txt is not DARTS' DARTS_V2");
        }
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("train_config");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, defaults_are_darts_train_py);
    tcase_add_test(tc, errors_name_file_line_and_key);
    tcase_add_test(tc, genotype_by_name_file_dir_and_text);
    tcase_add_test(tc, shipped_genotypes_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
