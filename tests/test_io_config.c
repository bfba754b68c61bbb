/* Schema-driven INI config: every key type, every error (with file, line and
 * key), --set overrides, write/load round trips, JSON, and the configs/ INI files
 * files of the source tree against the schemas they declare. */
#include "io_tmp.h"

#include <glob.h>
#include <json-c/json.h>
#include <math.h>

#include "test_util.h"

/* ---------------------------------------------------------------- a schema with every type */

typedef struct test_cfg {
    int epochs;
    int64_t seed;
    double lr;
    float momentum;
    int optimizer;
    rd_cfg_list ops;
    bool cutout;
    char dir[32];
    uint64_t mem_cap;
    int untouched; /* not in the schema: loading must leave it alone */
} test_cfg;

static const char *const optimizers[] = {"sgd", "adam", NULL};
static const char *const op_names[] = {"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                                       "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "sep_conv_7x7", "dil_conv_7x7",
                                       "conv_1x1", "conv_3x3", "conv_7x1_1x7", "max_pool_5x5", "avg_pool_5x5", NULL};
#define ALL_OPS                                                                                                        \
    "none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5, "       \
    "sep_conv_7x7, dil_conv_7x7, conv_1x1, conv_3x3, conv_7x1_1x7, max_pool_5x5, avg_pool_5x5"

static const rd_cfg_key test_keys[] = {
    RD_CFG_INT_KEY(test_cfg, "search", "epochs", epochs, "50", 1, 10000, "Search epochs."),
    RD_CFG_INT_KEY(test_cfg, "search", "seed", seed, "2", 0, 1e18, "Random seed (64-bit)."),
    RD_CFG_DOUBLE_KEY(test_cfg, "search", "lr", lr, "0.025", 0, 10, "Weight learning rate."),
    RD_CFG_DOUBLE_KEY(test_cfg, "search", "momentum", momentum, "0.9", 0, 1, "SGD momentum (a float field)."),
    RD_CFG_ENUM_KEY(test_cfg, "search", "optimizer", optimizer, "sgd", optimizers, "Weight optimizer."),
    RD_CFG_LIST_KEY(test_cfg, "search", "ops", ops, "none, max_pool_3x3, sep_conv_3x3", op_names, 1, 15,
                    "Candidate operations of every edge, in this order. A long documentation string that needs "
                    "to be wrapped over several comment lines when the file is written, to check the wrapping."),
    RD_CFG_BOOL_KEY(test_cfg, "data", "cutout", cutout, "false", "Cutout augmentation."),
    RD_CFG_STRING_KEY(test_cfg, "data", "dir", dir, "datasets/mnist", "Where the data set is."),
    RD_CFG_BYTES_KEY(test_cfg, "memory", "cap", mem_cap, "2GiB", 1 << 20, 1099511627776.0, "Device memory cap."),
};
static const rd_cfg_section test_sections[] = {{"search", "The DARTS search."}, {"memory", "Device memory."}, {NULL, NULL}};
static const rd_cfg_schema test_schema = {"test", "A test schema with every key type.", test_keys,
                                          sizeof test_keys / sizeof *test_keys, sizeof(test_cfg), test_sections};

static test_cfg defaults(void) {
    test_cfg c;
    memset(&c, 0xAB, sizeof c); /* garbage, as a caller's uninitialised struct */
    c.untouched = 77;
    rd_err err = {0};
    ck_assert_msg(rd_config_defaults(&test_schema, &c, &err) == RD_OK, "%s", err.msg);
    return c;
}

START_TEST(defaults_fill_every_field) {
    test_cfg c = defaults();
    ck_assert_int_eq(c.epochs, 50);
    ck_assert_int_eq(c.seed, 2);
    ck_assert(c.lr == 0.025);
    ck_assert(c.momentum == 0.9f);
    ck_assert_int_eq(c.optimizer, 0);
    ck_assert_int_eq(c.ops.count, 3);
    ck_assert_str_eq(c.ops.item[0], "none");
    ck_assert_str_eq(c.ops.item[2], "sep_conv_3x3");
    ck_assert(!c.cutout);
    ck_assert_str_eq(c.dir, "datasets/mnist");
    ck_assert_uint_eq(c.mem_cap, 2ull << 30);
    ck_assert_int_eq(c.untouched, 77);
    const rd_cfg_key *k = rd_config_find(&test_schema, "memory.cap");
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(k->key, "cap");
    ck_assert_ptr_null(rd_config_find(&test_schema, "memory.capp"));
    ck_assert_ptr_null(rd_config_find(&test_schema, "memory"));
}
END_TEST

START_TEST(load_good_file) {
    const char *p = io_tmp_path("good.ini");
    io_write_text(p, "; a recipe\n"
                     "# another comment\n"
                     "schema = test\n"
                     "\n"
                     "[search]\n"
                     "epochs = 3   ; inline comment\n"
                     "seed = 123456789012\n"
                     "lr=1e-3\n"
                     "momentum : 0.5\n"
                     "optimizer = adam\n"
                     "ops = sep_conv_3x3, max_pool_3x3,\n"
                     "    none,skip_connect\n"
                     "  avg_pool_5x5\n"
                     "[data]\n"
                     "cutout = Yes\n"
                     "dir = /data/mnist files\n"
                     "[memory]\n"
                     "cap = 512MiB\n");
    test_cfg c = defaults();
    rd_err err = {0};
    ck_assert_msg(rd_config_load_file(&test_schema, p, &c, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(c.epochs, 3);
    ck_assert_int_eq(c.seed, 123456789012ll);
    ck_assert(c.lr == 1e-3);
    ck_assert(c.momentum == 0.5f);
    ck_assert_int_eq(c.optimizer, 1);
    ck_assert_int_eq(c.ops.count, 5);
    ck_assert_str_eq(c.ops.item[0], "sep_conv_3x3");
    ck_assert_str_eq(c.ops.item[2], "none");
    ck_assert_str_eq(c.ops.item[3], "skip_connect");
    ck_assert_str_eq(c.ops.item[4], "avg_pool_5x5");
    ck_assert(c.cutout);
    ck_assert_str_eq(c.dir, "/data/mnist files");
    ck_assert_uint_eq(c.mem_cap, 512ull << 20);
    ck_assert_int_eq(c.untouched, 77);

    /* a file with only some keys changes only those */
    io_write_text(p, "[search]\nepochs = 7\n");
    ck_assert_msg(rd_config_load_file(&test_schema, p, &c, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(c.epochs, 7);
    ck_assert_int_eq(c.optimizer, 1);
    /* Windows line endings and a UTF-8 byte-order mark */
    io_write_text(p, "\xEF\xBB\xBF[search]\r\nepochs = 8\r\nops = none,\r\n  conv_1x1\r\n[data]\r\ndir = x y\r\n");
    ck_assert_msg(rd_config_load_file(&test_schema, p, &c, &err) == RD_OK, "%s", err.msg);
    ck_assert_int_eq(c.epochs, 8);
    ck_assert_int_eq(c.ops.count, 2);
    ck_assert_str_eq(c.ops.item[1], "conv_1x1");
    ck_assert_str_eq(c.dir, "x y");
    /* an empty file is fine */
    io_write_text(p, "");
    ck_assert_int_eq(rd_config_load_file(&test_schema, p, &c, &err), RD_OK);
}
END_TEST

typedef struct bad_case {
    const char *text;
    rd_status code;
    const char *want[3]; /* substrings of the message */
} bad_case;

START_TEST(load_errors_name_file_line_and_key) {
    static const bad_case cases[] = {
        {"[search]\nepochs = 3\nepoch = 4\n", RD_ERR_CONFIG,
         {"bad.ini:3: unknown key 'search.epoch' (did you mean 'search.epochs'?)"}},
        {"[search]\nwarmup = 4\n", RD_ERR_CONFIG, {"bad.ini:2: unknown key 'search.warmup'"}},
        {"[data]\nepochs = 4\n", RD_ERR_CONFIG, {"bad.ini:2: unknown key 'data.epochs' (did you mean 'search.epochs'?)"}},
        {"[search]\n\nepochs = abc\n", RD_ERR_CONFIG, {"bad.ini:3: search.epochs: 'abc' is not an integer"}},
        {"[search]\nepochs = 3.5\n", RD_ERR_CONFIG, {"bad.ini:2:", "'3.5' is not an integer"}},
        {"[search]\nepochs = 0\n", RD_ERR_CONFIG, {"bad.ini:2: search.epochs: 0 is out of range: must be in [1, 10000]"}},
        {"[search]\nepochs = 99999999999\n", RD_ERR_CONFIG, {"bad.ini:2:", "too large"}},
        {"[search]\nseed = 99999999999999999999\n", RD_ERR_CONFIG, {"bad.ini:2: search.seed:", "too large"}},
        {"[search]\nepochs =\n", RD_ERR_CONFIG, {"bad.ini:2: search.epochs: no value"}},
        {"[search]\nlr = fast\n", RD_ERR_CONFIG, {"bad.ini:2: search.lr: 'fast' is not a number"}},
        {"[search]\nlr = nan\n", RD_ERR_CONFIG, {"bad.ini:2:", "'nan' is not a finite number"}},
        {"[search]\nlr = 11\n", RD_ERR_CONFIG, {"must be in [0, 10]"}},
        {"[search]\nmomentum = 1e39\n", RD_ERR_CONFIG, {"search.momentum", "finite"}},
        {"[search]\noptimizer = adamw\n", RD_ERR_CONFIG,
         {"bad.ini:2: search.optimizer: 'adamw' is not one of: sgd, adam"}},
        {"[search]\nops = sep_conv_3x3, conv_9x9\n", RD_ERR_CONFIG, {"bad.ini:2: search.ops: 'conv_9x9' is not one of:", "avg_pool_5x5"}},
        {"[search]\nops = sep_conv_3x3,, none\n", RD_ERR_CONFIG, {"bad.ini:2: search.ops: empty item"}},
        {"[search]\nops =\n", RD_ERR_CONFIG, {"search.ops: 0 items: must have 1 to 15"}},
        {"[data]\ncutout = maybe\n", RD_ERR_CONFIG, {"bad.ini:2: data.cutout: 'maybe' is not a boolean"}},
        {"[data]\ndir = a-path-that-is-much-too-long-for-the-field\n", RD_ERR_CONFIG,
         {"bad.ini:2: data.dir:", "longer than 31 characters"}},
        {"[memory]\ncap = lots\n", RD_ERR_CONFIG, {"bad.ini:2: memory.cap:", "'lots' is not a memory size"}},
        {"[memory]\ncap = 2 parsecs\n", RD_ERR_CONFIG, {"bad.ini:2: memory.cap:", "unknown unit"}},
        {"[memory]\ncap = 1KiB\n", RD_ERR_CONFIG, {"bad.ini:2: memory.cap: 1KiB is out of range: must be in [1.00 MiB, 1.00 TiB]"}},
        {"[search]\nepochs = 3\n\n[serach]\nepochs = 4\n", RD_ERR_CONFIG,
         {"bad.ini:4: unknown section [serach] (did you mean [search]?)"}},
        {"[training]\nx = 1\n", RD_ERR_CONFIG, {"bad.ini:1: unknown section [training] (sections: [search], [data], [memory])"}},
        {"[search]\nepochs = 3\nlr = 0.1\nepochs = 4\n", RD_ERR_CONFIG,
         {"bad.ini:4: duplicate key 'search.epochs' (first set on line 2)"}},
        {"[search]\nepochs = 3\n[data]\n[search]\nepochs = 4\n", RD_ERR_CONFIG, {"bad.ini:5: duplicate key"}},
        {"[search]\nepochs 3\n", RD_ERR_CONFIG, {"bad.ini:2: syntax error: expected 'key = value', got 'epochs 3'"}},
        {"[search\nepochs = 3\n", RD_ERR_CONFIG, {"bad.ini:1: section header without a closing ']': '[search'"}},
        /* the first error in the file is the one reported */
        {"[search]\nepochs = 0\nepochs 3\n", RD_ERR_CONFIG, {"bad.ini:2:", "out of range"}},
        {"[search]\nepochs 3\nepochs = 0\n", RD_ERR_CONFIG, {"bad.ini:2: syntax error"}},
        {"epochs = 3\n", RD_ERR_CONFIG, {"bad.ini:1: key 'epochs' is outside any section"}},
        {"schema = search\n[search]\nepochs = 3\n", RD_ERR_CONFIG, {"bad.ini:1: this file is for schema 'search', not 'test'"}},
        {"[search]\nepochs = 3\n  lr = 0.1\n", RD_ERR_CONFIG,
         {"bad.ini:3: indented line continues 'search.epochs', which is not a list"}},
        {"[search]\nops = none,\n  conv_9x9\n", RD_ERR_CONFIG, {"bad.ini:2: search.ops: 'conv_9x9' is not one of"}},
        {"[data]\ndir = "
         "x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789"
         "x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789x123456789\n"
         "[search]\nepochs = 3\n",
         RD_ERR_CONFIG, {"bad.ini:2: line is longer than 197 characters"}},
    };
    const char *p = io_tmp_path("bad.ini");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        io_write_text(p, cases[i].text);
        test_cfg c = defaults(), before = c;
        rd_err err = {0};
        rd_status st = rd_config_load_file(&test_schema, p, &c, &err);
        ck_assert_msg(st == cases[i].code, "case %zu: status %s, want %s (%s)", i, rd_status_name(st),
                      rd_status_name(cases[i].code), err.msg);
        for (int w = 0; w < 3 && cases[i].want[w]; w++)
            ck_assert_msg(strstr(err.msg, cases[i].want[w]), "case %zu: message '%s' lacks '%s'", i, err.msg,
                          cases[i].want[w]);
        ck_assert_msg(strchr(err.msg, '\n') == NULL, "case %zu: message is not one line", i);
        /* a failed load changes nothing */
        ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "case %zu: the struct was modified", i);
    }
    /* unreadable files */
    test_cfg c = defaults();
    rd_err err = {0};
    ck_assert_int_eq(rd_config_load_file(&test_schema, io_tmp_path("missing.ini"), &c, &err), RD_ERR_IO);
    IO_ASSERT_HAS(err.msg, "missing.ini");
    IO_ASSERT_HAS(err.msg, "No such file");
    ck_assert_int_eq(rd_config_load_file(&test_schema, io_tmp_dir(), &c, &err), RD_ERR_IO);
    io_write_bytes(p, "[search]\nepochs = 3\0\n", 21);
    ck_assert_int_eq(rd_config_load_file(&test_schema, p, &c, &err), RD_ERR_CONFIG);
    IO_ASSERT_HAS(err.msg, "NUL");
}
END_TEST

START_TEST(set_overrides) {
    test_cfg c = defaults();
    rd_err err = {0};
    ck_assert_int_eq(rd_config_set(&test_schema, "search.epochs=3", &c, &err), RD_OK);
    ck_assert_int_eq(c.epochs, 3);
    ck_assert_int_eq(rd_config_set(&test_schema, " search.lr = 0.5 ", &c, &err), RD_OK);
    ck_assert(c.lr == 0.5);
    ck_assert_int_eq(rd_config_set(&test_schema, "search.ops=conv_1x1,conv_3x3", &c, &err), RD_OK);
    ck_assert_int_eq(c.ops.count, 2);
    ck_assert_str_eq(c.ops.item[1], "conv_3x3");
    ck_assert_int_eq(rd_config_set(&test_schema, "data.dir=a=b ; c", &c, &err), RD_OK);
    ck_assert_str_eq(c.dir, "a=b ; c");
    ck_assert_int_eq(rd_config_set(&test_schema, "memory.cap=1.5G", &c, &err), RD_OK);
    ck_assert_uint_eq(c.mem_cap, 3ull << 29);

    static const struct { const char *arg, *want; } bad[] = {
        {"search.epochs=abc", "--set search.epochs: 'abc' is not an integer"},
        {"search.epochs=0", "--set search.epochs: 0 is out of range: must be in [1, 10000]"},
        {"search.epoch=3", "--set search.epoch: unknown key 'search.epoch' (did you mean 'search.epochs'?)"},
        {"serach.epochs=3", "--set serach.epochs: unknown section [serach] (did you mean [search]?)"},
        {"search.epochs", "--set search.epochs: expected section.key=value"},
        {"epochs=3", "--set epochs: expected section.key=value"},
        {"search.optimizer=rmsprop", "--set search.optimizer: 'rmsprop' is not one of: sgd, adam"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        test_cfg before = c;
        ck_assert_int_eq(rd_config_set(&test_schema, bad[i].arg, &c, &err), RD_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, bad[i].want), "'%s': message '%s' lacks '%s'", bad[i].arg, err.msg, bad[i].want);
        ck_assert(memcmp(&c, &before, sizeof c) == 0);
    }
}
END_TEST

static char *json_text(const test_cfg *c) {
    json_object *o = NULL;
    rd_err err = {0};
    ck_assert_msg(rd_config_to_json(&test_schema, c, &o, &err) == RD_OK, "%s", err.msg);
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

START_TEST(write_then_load_round_trip) {
    test_cfg c = defaults();
    rd_err err = {0};
    /* values that stress the writer: 0.1 (shortest form), a float, a 64-bit int, every op (a long list),
       a size that is not a whole number of KiB */
    c.epochs = 9999;
    c.seed = 900000000000000001ll;
    c.lr = 0.1;
    c.momentum = 0.3f;
    c.optimizer = 1;
    ck_assert_int_eq(rd_config_set(&test_schema, "search.ops=" ALL_OPS, &c, &err), RD_OK);
    ck_assert_int_eq(c.ops.count, 15);
    c.cutout = true;
    strcpy(c.dir, "my data;x #1");
    c.mem_cap = 3000000;
    const char *p = io_tmp_path("resolved.ini");
    ck_assert_msg(rd_config_save(&test_schema, &c, p, &err) == RD_OK, "%s", err.msg);

    test_cfg d = defaults();
    ck_assert_msg(rd_config_load_file(&test_schema, p, &d, &err) == RD_OK, "%s", err.msg);
    char *a = json_text(&c), *b = json_text(&d);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    ck_assert(d.lr == c.lr && d.momentum == c.momentum && d.seed == c.seed && d.mem_cap == c.mem_cap);

    /* the file documents every key and declares its schema */
    char *text = NULL;
    ck_assert_int_eq(rd_read_file(p, &text, NULL, &err), RD_OK);
    IO_ASSERT_HAS(text, "schema = test\n");
    IO_ASSERT_HAS(text, "; The DARTS search.\n");
    IO_ASSERT_HAS(text, "; Search epochs.\n; integer in [1, 10000]; default: 50\nepochs = 9999\n");
    IO_ASSERT_HAS(text, "; one of: sgd, adam; default: sgd\noptimizer = adam\n");
    IO_ASSERT_HAS(text, "lr = 0.1\n");
    IO_ASSERT_HAS(text, "momentum = 0.3\n");
    IO_ASSERT_HAS(text, "; size in bytes (e.g. 512MiB, 2GiB) in [1.00 MiB, 1.00 TiB]; default: 2GiB\ncap = 3000000\n");
    for (int i = 0; i < test_schema.nkeys; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n%s =", test_keys[i].key);
        IO_ASSERT_HAS(text, want);
    }
    /* no line reaches inih's limit */
    for (const char *l = text; *l;) {
        size_t n = strcspn(l, "\n");
        ck_assert_msg(n < 100, "line too long: %.*s", (int)n, l);
        l += n + (l[n] != 0);
    }
    free(text);
    char declared[32];
    ck_assert_int_eq(rd_config_file_schema(p, declared, sizeof declared, &err), RD_OK);
    ck_assert_str_eq(declared, "test");

    /* the defaults written as a recipe read back as the defaults */
    test_cfg e = defaults(), f = defaults();
    ck_assert_int_eq(rd_config_save(&test_schema, &e, p, &err), RD_OK);
    f.epochs = 1;
    ck_assert_int_eq(rd_config_load_file(&test_schema, p, &f, &err), RD_OK);
    ck_assert(memcmp(&e, &f, sizeof e) == 0);

    /* values INI cannot hold are refused, and the old file stays */
    strcpy(e.dir, "x ;comment");
    ck_assert_int_eq(rd_config_save(&test_schema, &e, p, &err), RD_ERR_CONFIG);
    IO_ASSERT_HAS(err.msg, "data.dir");
    IO_ASSERT_HAS(err.msg, "comment");
    strcpy(e.dir, ";first"); /* "dir = ;first" reads back as empty (a fuzz finding) */
    ck_assert_int_eq(rd_config_save(&test_schema, &e, p, &err), RD_ERR_CONFIG);
    IO_ASSERT_HAS(err.msg, "comment");
    strcpy(e.dir, " lead");
    ck_assert_int_eq(rd_config_save(&test_schema, &e, p, &err), RD_ERR_CONFIG);
    IO_ASSERT_HAS(err.msg, "spaces");
    ck_assert_int_eq(rd_config_load_file(&test_schema, p, &f, &err), RD_OK);
    ck_assert_str_eq(f.dir, "datasets/mnist");
}
END_TEST

START_TEST(to_json_types) {
    test_cfg c = defaults();
    json_object *o = NULL, *sec, *v;
    rd_err err = {0};
    ck_assert_int_eq(rd_config_to_json(&test_schema, &c, &o, &err), RD_OK);
    ck_assert(json_object_object_get_ex(o, "search", &sec));
    ck_assert(json_object_object_get_ex(sec, "epochs", &v) && json_object_is_type(v, json_type_int));
    ck_assert_int_eq(json_object_get_int(v), 50);
    ck_assert(json_object_object_get_ex(sec, "lr", &v) && json_object_is_type(v, json_type_double));
    ck_assert(json_object_object_get_ex(sec, "optimizer", &v));
    ck_assert_str_eq(json_object_get_string(v), "sgd");
    ck_assert(json_object_object_get_ex(sec, "ops", &v) && json_object_is_type(v, json_type_array));
    ck_assert_uint_eq(json_object_array_length(v), 3);
    ck_assert(json_object_object_get_ex(o, "data", &sec));
    ck_assert(json_object_object_get_ex(sec, "cutout", &v) && json_object_is_type(v, json_type_boolean));
    ck_assert(json_object_object_get_ex(o, "memory", &sec));
    ck_assert(json_object_object_get_ex(sec, "cap", &v) && json_object_is_type(v, json_type_int));
    ck_assert_int_eq(json_object_get_int64(v), 2ll << 30);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    IO_ASSERT_HAS(s, "\"lr\":0.025");
    IO_ASSERT_HAS(s, "\"momentum\":0.9,");
    json_object_put(o);
}
END_TEST

/* A broken schema is a programming error that rd_config_defaults reports. */
START_TEST(schema_checked) {
    test_cfg c;
    rd_err err = {0};
    static const rd_cfg_key bad_default[] = {RD_CFG_INT_KEY(test_cfg, "a", "b", epochs, "x", 0, 1, "doc")};
    static const rd_cfg_key out_of_range[] = {RD_CFG_INT_KEY(test_cfg, "a", "b", epochs, "5", 0, 1, "doc")};
    static const rd_cfg_key twice[] = {RD_CFG_INT_KEY(test_cfg, "a", "b", epochs, "1", 0, 1, "doc"),
                                       RD_CFG_BOOL_KEY(test_cfg, "a", "b", cutout, "true", "doc")};
    static const rd_cfg_key wrong_size[] = {RD_CFG_BOOL_KEY(test_cfg, "a", "b", epochs, "true", "doc")};
    static const rd_cfg_key no_doc[] = {RD_CFG_INT_KEY(test_cfg, "a", "b", epochs, "1", 0, 1, "")};
    static const rd_cfg_key bad_name[] = {RD_CFG_INT_KEY(test_cfg, "a.x", "b", epochs, "1", 0, 1, "doc")};
    static const rd_cfg_key bad_range[] = {RD_CFG_INT_KEY(test_cfg, "a", "b", epochs, "1", 5, 1, "doc")};
    static const struct { const rd_cfg_key *keys; const char *want; } cases[] = {
        {bad_default, "bad default: 'x' is not an integer"}, {out_of_range, "bad default: 5 is out of range"},
        {twice, "appears twice"}, {wrong_size, "does not fit type boolean"}, {no_doc, "no doc"},
        {bad_name, "names must be"}, {bad_range, "min 5 is above max 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = cases[i].keys == twice ? 2 : 1;
        rd_cfg_schema s = {"broken", NULL, cases[i].keys, n, sizeof(test_cfg), NULL};
        ck_assert_int_eq(rd_config_defaults(&s, &c, &err), RD_ERR_ARG);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
        IO_ASSERT_HAS(err.msg, "schema 'broken'");
        IO_ASSERT_HAS(err.msg, "a");
    }
    rd_cfg_schema small = {"small", NULL, test_keys, 1, 2, NULL}; /* struct_size too small for epochs */
    ck_assert_int_eq(rd_config_defaults(&small, &c, &err), RD_ERR_ARG);
    IO_ASSERT_HAS(err.msg, "past the struct");
}
END_TEST

/* ---------------------------------------------------------------- configs/ INI files of the source tree */

/* The schemas that files under configs/ may declare ("schema = name"). The lead
 * adds each real schema (e.g. the search recipe's) here. */
static const rd_cfg_schema *const config_schemas[] = {
    &rd_search_schema,
    &rd_train_schema,
    NULL,
};

/* Loads every .ini file of dir against the schema it declares, and checks that writing
 * the result and loading it again gives the same values. Returns the number of
 * files that failed; the first failure's message goes to why. */
static int check_config_dir(const char *dir, const rd_cfg_schema *const *schemas, int *nfiles, char *why, size_t len) {
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/*.ini", dir);
    glob_t g;
    int failed = 0;
    *nfiles = 0;
    if (glob(pattern, 0, NULL, &g) != 0) return 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        char name[64], msg[1200] = "";
        rd_err err = {0};
        (*nfiles)++;
        const rd_cfg_schema *s = NULL;
        if (rd_config_file_schema(path, name, sizeof name, &err) != RD_OK) snprintf(msg, sizeof msg, "%s", err.msg);
        else if (!name[0]) snprintf(msg, sizeof msg, "%s: declares no schema (add a first line 'schema = NAME')", path);
        else {
            for (int k = 0; schemas[k] && !s; k++)
                if (!strcmp(schemas[k]->name, name)) s = schemas[k];
            if (!s) snprintf(msg, sizeof msg, "%s: schema '%s' is not in the test's registry", path, name);
        }
        if (s) {
            void *a = calloc(1, s->struct_size), *b = calloc(1, s->struct_size);
            const char *back = io_tmp_path("config-check.ini");
            json_object *ja = NULL, *jb = NULL;
            if (rd_config_defaults(s, a, &err) || rd_config_load_file(s, path, a, &err) || rd_config_save(s, a, back, &err) ||
                rd_config_defaults(s, b, &err) || rd_config_load_file(s, back, b, &err) ||
                rd_config_to_json(s, a, &ja, &err) || rd_config_to_json(s, b, &jb, &err))
                snprintf(msg, sizeof msg, "%s", err.msg);
            else if (strcmp(json_object_to_json_string(ja), json_object_to_json_string(jb)))
                snprintf(msg, sizeof msg, "%s: written and read back, the values differ", path);
            json_object_put(ja);
            json_object_put(jb);
            free(a);
            free(b);
        }
        if (msg[0] && !failed++) snprintf(why, len, "%s", msg);
    }
    globfree(&g);
    return failed;
}

START_TEST(config_dir_checker_can_fail) {
    /* the checker itself, on a directory of its own with the test schema */
    static const rd_cfg_schema *const reg[] = {&test_schema, NULL};
    char dir[512], why[1200] = "";
    snprintf(dir, sizeof dir, "%s", io_tmp_path("configs"));
    rd_err err = {0};
    ck_assert_int_eq(rd_mkdir_p(dir, &err), RD_OK);
    io_write_text(io_tmp_path("configs/good.ini"), "schema = test\n[search]\nepochs = 5\n");
    int n = 0;
    ck_assert_int_eq(check_config_dir(dir, reg, &n, why, sizeof why), 0);
    ck_assert_int_eq(n, 1);
    io_write_text(io_tmp_path("configs/typo.ini"), "schema = test\n[search]\nepoch = 5\n");
    ck_assert_int_eq(check_config_dir(dir, reg, &n, why, sizeof why), 1);
    IO_ASSERT_HAS(why, "typo.ini:3: unknown key 'search.epoch'");
    io_write_text(io_tmp_path("configs/typo.ini"), "[search]\nepochs = 5\n");
    ck_assert_int_eq(check_config_dir(dir, reg, &n, why, sizeof why), 1);
    IO_ASSERT_HAS(why, "declares no schema");
    io_write_text(io_tmp_path("configs/typo.ini"), "schema = nosuch\n");
    ck_assert_int_eq(check_config_dir(dir, reg, &n, why, sizeof why), 1);
    IO_ASSERT_HAS(why, "'nosuch' is not in the test's registry");
}
END_TEST

START_TEST(source_tree_configs_parse) {
    const char *src = getenv("RADARS_SOURCE_DIR");
    char dir[600], why[1200] = "";
    snprintf(dir, sizeof dir, "%s/configs", src && *src ? src : ".");
    int n = 0, failed = check_config_dir(dir, config_schemas, &n, why, sizeof why);
    if (n == 0) {
        printf("source_tree_configs_parse: no %s/*.ini: skipped\n", dir);
        return;
    }
    ck_assert_msg(failed == 0, "%d of %d config files fail; first: %s", failed, n, why);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("io_config");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, defaults_fill_every_field);
    tcase_add_test(tc, load_good_file);
    tcase_add_test(tc, load_errors_name_file_line_and_key);
    tcase_add_test(tc, set_overrides);
    tcase_add_test(tc, write_then_load_round_trip);
    tcase_add_test(tc, to_json_types);
    tcase_add_test(tc, schema_checked);
    tcase_add_test(tc, config_dir_checker_can_fail);
    tcase_add_test(tc, source_tree_configs_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
