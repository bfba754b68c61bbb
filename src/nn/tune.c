/* radars tune: times the tunable kernel parameters at a recipe's edge shapes
 * and keeps the winners per device and driver (see radars/tune.h). */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/edge_bench.h"
#include "radars/io.h"
#include "radars/tune.h"

enum { FORMAT = 1, MAX_SHAPES = 16 };
/* A candidate replaces the value it is timed against only when faster by this much: the
 * run-to-run noise of a timing on a shared 2-core machine is a few percent. */
#define KEEP_MARGIN 0.03

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

void rd_tuning_path(const char *cache_dir, const rd_device_info *dev, char *out, size_t len) {
    char key[512];
    int n = snprintf(key, sizeof key, "%s\n%s\n%s\n%s", dev->platform_name, dev->platform_version, dev->name,
                     dev->driver_version);
    uint64_t h = rd_hash64(key, (size_t)(n > 0 ? n : 0), 0x74756e65ull);
    snprintf(out, len, "%s/tuning-%016llx.json", cache_dir, (unsigned long long)h);
}

/* ---- the file ---- */

static const char *str_field(json_object *root, const char *key) {
    json_object *v;
    return json_object_object_get_ex(root, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

rd_status rd_tuning_read(const char *path, const rd_device_info *dev, rd_tuning *out, rd_err *err) {
    char *text = NULL;
    size_t len = 0;
    RD_TRY(rd_read_file(path, &text, &len, err));
    json_tokener *tok = json_tokener_new();
    json_object *root = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    int complete = tok && json_tokener_get_error(tok) == json_tokener_success;
    if (tok) json_tokener_free(tok);
    free(text);
    rd_status s = RD_OK;
    json_object *v, *params;
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rd_cl_sources_hash());
    const char *device = root ? str_field(root, "device") : NULL, *driver = root ? str_field(root, "driver") : NULL,
               *kernels = root ? str_field(root, "kernels") : NULL;
    if (!root || !complete || !json_object_is_type(root, json_type_object)) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: not a JSON object", path);
    } else if (!json_object_object_get_ex(root, "format", &v) || !json_object_is_type(v, json_type_int) ||
               json_object_get_int(v) != FORMAT) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: not a format-%d tuning file", path, FORMAT);
    } else if (!device || !driver || !kernels) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: device, driver or kernels missing", path);
    } else if (strcmp(device, dev->name) || strcmp(driver, dev->driver_version)) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: stale: measured on '%s' driver %s, this is '%s' driver %s", path, device,
                    driver, dev->name, dev->driver_version);
    } else if (strcmp(kernels, hash)) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: stale: the kernels changed since it was measured", path);
    } else if (!json_object_object_get_ex(root, "params", &params) ||
               !json_object_is_type(params, json_type_object)) {
        s = rd_fail(err, RD_ERR_FORMAT, "%s: no params object", path);
    } else {
        int count;
        const rd_tunable *t = rd_tunables(&count);
        rd_tuning_defaults(dev, out);
        for (int i = 0; i < count && s == RD_OK; i++) {
            char text_v[32];
            if (!json_object_object_get_ex(params, t[i].key, &v)) {
                s = rd_fail(err, RD_ERR_FORMAT, "%s: params.%s missing", path, t[i].key);
                break;
            }
            if (json_object_is_type(v, json_type_int)) snprintf(text_v, sizeof text_v, "%d", json_object_get_int(v));
            else if (json_object_is_type(v, json_type_string))
                snprintf(text_v, sizeof text_v, "%s", json_object_get_string(v));
            else text_v[0] = 0;
            if (!rd_tuning_parse(i, text_v, rd_tuning_field(out, i)))
                s = rd_fail(err, RD_ERR_FORMAT, "%s: params.%s = '%s' is not one of its candidates", path, t[i].key,
                            text_v);
        }
        if (s == RD_OK && rd_tuning_check(dev, out, err) != RD_OK)
            s = rd_fail(err, RD_ERR_FORMAT, "%s: %s", path, err->msg);
    }
    if (root) json_object_put(root);
    return s;
}

static rd_status write_file(const char *path, const rd_device_info *dev, const rd_tune_request *req,
                            const rd_tune_result *r, rd_err *err) {
    json_object *root = json_object_new_object(), *params = json_object_new_object(),
                *secs = json_object_new_object();
    char hash[32], recipe[256], when[32], num[16];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rd_cl_sources_hash());
    snprintf(recipe, sizeof recipe, "ops %s, C %d, %d cells, batch %d, input %dx%d", req->ops, req->C, req->layers,
             req->batch, req->hw, req->hw);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_object_add(root, "format", json_object_new_int(FORMAT));
    json_object_object_add(root, "platform", json_object_new_string(dev->platform_name));
    json_object_object_add(root, "device", json_object_new_string(dev->name));
    json_object_object_add(root, "driver", json_object_new_string(dev->driver_version));
    json_object_object_add(root, "kernels", json_object_new_string(hash));
    json_object_object_add(root, "recipe", json_object_new_string(recipe));
    json_object_object_add(root, "measured", json_object_new_string(when));
    int count;
    const rd_tunable *tab = rd_tunables(&count);
    rd_tuning best = r->tuning;
    for (int i = 0; i < count; i++) {
        int v = *rd_tuning_field(&best, i);
        json_object_object_add(params, tab[i].key,
                               tab[i].labels[0] ? json_object_new_string(rd_tuning_label(i, v, num, sizeof num))
                                                : json_object_new_int(v));
    }
    json_object_object_add(root, "params", params);
    json_object_object_add(secs, "defaults", json_object_new_double(r->default_s));
    json_object_object_add(secs, "tuned", json_object_new_double(r->tuned_s));
    json_object_object_add(root, "seconds_per_pass", secs);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
    size_t len = strlen(text);
    char *buf = malloc(len + 2);
    rd_status s = buf ? RD_OK : rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (buf) {
        memcpy(buf, text, len);
        buf[len] = '\n';
        char dir[1100];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        s = slash ? rd_mkdir_p(dir, err) : RD_OK;
        if (s == RD_OK) s = rd_write_file_atomic(path, buf, len + 1, err);
        free(buf);
    }
    json_object_put(root);
    return s;
}

rd_tuning_source rd_tuning_load(rd_ctx *ctx, char *note, size_t len) {
    const rd_device_info *dev = rd_ctx_device(ctx);
    const char *env = getenv("RADARS_TUNING");
    const char *dir = rd_ctx_cache_dir(ctx);
    if ((env && !strcmp(env, "0")) || !dir[0]) {
        snprintf(note, len, "kernel parameters: defaults for '%s' (%s)", dev->name,
                 dir[0] ? "RADARS_TUNING=0" : "no cache directory");
        return RD_TUNING_OFF;
    }
    char path[1100];
    rd_tuning_path(dir, dev, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(note, len, "kernel parameters: defaults for '%s' (no tuning data; 'radars tune' measures this device)",
                 dev->name);
        return RD_TUNING_NONE;
    }
    fclose(f);
    rd_tuning t;
    rd_err err = {0};
    if (rd_tuning_read(path, dev, &t, &err) != RD_OK) {
        snprintf(note, len, "kernel parameters: defaults for '%s': ignored %s ('radars tune' rebuilds it)", dev->name,
                 err.msg);
        return RD_TUNING_IGNORED;
    }
    if (rd_ctx_set_tuning(ctx, &t) != RD_OK) {
        snprintf(note, len, "kernel parameters: defaults for '%s': ignored %s: %s", dev->name, path, rd_ctx_error(ctx));
        return RD_TUNING_IGNORED;
    }
    snprintf(note, len, "kernel parameters: tuned for '%s' (%s)", dev->name, path);
    return RD_TUNING_LOADED;
}

/* ---- the timing ---- */

/* The distinct edge shapes of the recipe's supernet, with how many edges have each. */
typedef struct edge_shape { int C, hw, stride, count; } edge_shape;

static void add_shape(edge_shape *s, int *n, int C, int hw, int stride, int count) {
    for (int i = 0; i < *n; i++)
        if (s[i].C == C && s[i].hw == hw && s[i].stride == stride) { s[i].count += count; return; }
    if (*n < MAX_SHAPES) s[(*n)++] = (edge_shape){C, hw, stride, count};
}

static int recipe_shapes(const rd_tune_request *req, edge_shape *s) {
    int n = 0, C = req->C, hw = req->hw;
    for (int i = 0; i < req->layers; i++) {
        int reduce = req->layers >= 3 && (i == req->layers / 3 || i == 2 * req->layers / 3);
        if (reduce) {
            C *= 2;
            /* the 8 edges from the cell's two inputs run at stride 2, the other 6 at the new size */
            add_shape(s, &n, C, hw, 2, 8);
            hw /= 2;
            add_shape(s, &n, C, hw, 1, 6);
        } else {
            add_shape(s, &n, C, hw, 1, 14);
        }
    }
    return n;
}

typedef struct tuner {
    const rd_ctx_options *opt;
    const rd_tune_request *req;
    edge_shape shapes[MAX_SHAPES];
    int n_shapes;
    rd_ctx *ctx;       /* built with ctx_wg */
    int ctx_wg;
    double t0, budget;
    rd_err *err;
} tuner;

static rd_status open_ctx(tuner *tu, const rd_tuning *t) {
    if (tu->ctx && tu->ctx_wg == t->wg)
        return rd_ctx_set_tuning(tu->ctx, t) == RD_OK ? RD_OK : rd_ctx_take_error(tu->ctx, tu->err);
    rd_ctx_free(tu->ctx);
    tu->ctx = NULL;
    RD_TRY(rd_ctx_create(tu->opt, &tu->ctx, tu->err));
    tu->ctx_wg = t->wg;
    if (rd_ctx_set_tuning(tu->ctx, t) != RD_OK) return rd_ctx_take_error(tu->ctx, tu->err);
    return RD_OK;
}

/* Weighted seconds of one pass over the recipe's edges with tuning t: per shape a
 * warm-up run (builds, first-launch compiles), then the fastest of the runs that follow. Stops early
 * (returning a time over limit) once the weighted sum passes limit. */
static rd_status time_tuning(tuner *tu, const rd_tuning *t, double limit, double *seconds) {
    RD_TRY(open_ctx(tu, t));
    rd_ctx *ctx = tu->ctx;
    double total = 0;
    for (int i = 0; i < tu->n_shapes; i++) {
        const edge_shape *sh = &tu->shapes[i];
        rd_edge_bench b;
        rd_status s = rd_edge_bench_setup(ctx, tu->req->ops, sh->C, sh->hw, sh->stride, tu->req->batch, &b);
        double fastest = INFINITY, spent = 0;
        if (s == RD_OK) s = rd_edge_bench_run(ctx, &b);
        if (s == RD_OK) s = rd_finish(ctx);
        /* the fastest run (what the device can do, least disturbed by other work), of at least
         * 3 and until 0.2 s are spent: small shapes vary by tens of percent from run to run */
        for (int r = 0; s == RD_OK && r < 200 && (r < 3 || spent < 0.2); r++) {
            double a = now_s();
            s = rd_edge_bench_run(ctx, &b);
            if (s == RD_OK) s = rd_finish(ctx);
            double dt = now_s() - a;
            spent += dt;
            if (dt < fastest) fastest = dt;
        }
        rd_edge_bench_free(ctx, &b);
        if (s != RD_OK) return rd_ctx_take_error(ctx, tu->err);
        total += sh->count * fastest;
        if (total > limit) break;
    }
    *seconds = total;
    return RD_OK;
}

rd_status rd_tune(const rd_ctx_options *opt, const rd_tune_request *req, rd_tune_result *out, rd_err *err) {
    memset(out, 0, sizeof *out);
    if (!req->ops || req->C < 1 || req->layers < 1 || req->batch < 1 || req->hw < 4)
        return rd_fail(err, RD_ERR_ARG, "tune: C %d, %d cells, batch %d, input %d: all must be positive", req->C,
                       req->layers, req->batch, req->hw);
    tuner tu = {opt, req, {{0}}, 0, NULL, 0, now_s(), req->budget_s > 0 ? req->budget_s : 600, err};
    tu.n_shapes = recipe_shapes(req, tu.shapes);
    FILE *pr = req->progress;
    rd_ctx *probe = NULL;
    RD_TRY(rd_ctx_create(opt, &probe, err));
    rd_device_info dev = *rd_ctx_device(probe);
    char path[1100];
    if (!rd_ctx_cache_dir(probe)[0]) {
        rd_ctx_free(probe);
        return rd_fail(err, RD_ERR_IO, "tune: no cache directory to keep the results in (RADARS_CACHE_DIR is empty)");
    }
    rd_tuning_path(rd_ctx_cache_dir(probe), &dev, path, sizeof path);
    rd_ctx_free(probe);
    rd_tuning_defaults(&dev, &out->defaults);
    rd_tuning best = out->defaults;
    int count;
    const rd_tunable *tab = rd_tunables(&count);
    int total = 0;
    for (int i = 0; i < count; i++)
        for (int j = 0; j < tab[i].n_values; j++) {
            rd_tuning c = best;
            *rd_tuning_field(&c, i) = tab[i].values[j];
            total += tab[i].values[j] != *rd_tuning_field(&best, i) && rd_tuning_check(&dev, &c, err) == RD_OK;
        }
    if (pr) {
        fprintf(pr, "radars: tuning '%s' at %d edge shapes of the recipe (%s, C %d, %d cells, batch %d): up to %d "
                    "candidates, budget %.0f s\n", dev.name, tu.n_shapes, req->ops, req->C, req->layers, req->batch,
                total, tu.budget);
        fflush(pr);
    }
    double best_s = 0;
    rd_status s = time_tuning(&tu, &best, INFINITY, &best_s);
    out->default_s = best_s;
    char num[16], line[256];
    rd_tuning_format(&best, line, sizeof line);
    if (pr && s == RD_OK) fprintf(pr, "radars: defaults %s: %.4f s per pass\n", line, best_s);
    int done = 0;
    double last_cost = 0;
    for (int i = 0; i < count && s == RD_OK; i++) {
        int current = *rd_tuning_field(&best, i);
        for (int j = 0; j < tab[i].n_values && s == RD_OK; j++) {
            rd_tuning c = best;
            *rd_tuning_field(&c, i) = tab[i].values[j];
            rd_err ignored = {0};
            if (tab[i].values[j] == current || rd_tuning_check(&dev, &c, &ignored) != RD_OK) continue;
            done++;
            /* a candidate starts only when one as long as the last fits in what is left of the budget */
            if (now_s() - tu.t0 + last_cost > tu.budget) { out->skipped++; continue; }
            double t, started = now_s();
            /* The incumbent again, right before: a machine's speed drifts by more than the margin
             * over a tuning run (measured on the 2-core development machine: the defaults took 1.09
             * to 1.70 s per pass within one 10-minute run), so each candidate is compared with a
             * timing taken next to its own. */
            s = time_tuning(&tu, &best, INFINITY, &best_s);
            if (s == RD_OK) s = time_tuning(&tu, &c, best_s * 1.5, &t);
            if (s != RD_OK) break;
            out->timed++;
            int keep = t < best_s * (1 - KEEP_MARGIN);
            if (pr) {
                fprintf(pr, "radars: [%d/%d] %s=%s: %s%.4f s (best %.4f s)%s [%.0f s, %.0f s in all]\n", done,
                        total, tab[i].key, rd_tuning_label(i, tab[i].values[j], num, sizeof num),
                        t > best_s * 1.5 ? "over " : "", t, best_s, keep ? ": kept" : "", now_s() - started,
                        now_s() - tu.t0);
                fflush(pr);
            }
            if (keep) {
                best = c;
                best_s = t;
            }
            last_cost = now_s() - started;
        }
    }
    /* The winners against the defaults once more, alternating, the faster of two each: a
     * candidate kept on a lucky timing does not survive this. */
    double again_default = INFINITY, again_best = INFINITY;
    int changed = memcmp(&best, &out->defaults, sizeof best) != 0;
    for (int r = 0; r < 2 && changed && s == RD_OK; r++) {
        double t;
        s = time_tuning(&tu, &out->defaults, INFINITY, &t);
        if (s == RD_OK) again_default = fmin(again_default, t);
        if (s == RD_OK) s = time_tuning(&tu, &best, INFINITY, &t);
        if (s == RD_OK) again_best = fmin(again_best, t);
    }
    rd_ctx_free(tu.ctx);
    if (s != RD_OK) return s;
    if (changed) {
        out->default_s = again_default;
        best_s = again_best;
        if (pr) fprintf(pr, "radars: again: defaults %.4f s, winners %.4f s%s\n", again_default, again_best,
                        again_best < again_default * (1 - KEEP_MARGIN) ? "" : ": not faster beyond the noise, defaults kept");
        if (!(again_best < again_default * (1 - KEEP_MARGIN))) {
            best = out->defaults;
            best_s = again_default;
        }
    } else {
        best_s = out->default_s;  /* nothing kept: best_s is only the defaults timed again */
    }
    out->tuning = best;
    out->tuned_s = best_s;
    out->elapsed_s = now_s() - tu.t0;
    snprintf(out->path, sizeof out->path, "%s", path);
    if (out->skipped && pr)
        fprintf(pr, "radars: the budget of %.0f s left %d candidates untimed (--budget raises it)\n", tu.budget,
                out->skipped);
    return write_file(path, &dev, req, out, err);
}
