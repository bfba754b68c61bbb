/* The report of a search run, built from its metrics (so a resumed run reports
 * every round and epoch): report.json for programs, report.txt for people. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/search.h"
#include "runtime/c_locale.h"

/* Records are keyed by (type, round/epoch[, sample]); a record redone after a
 * crash replaces the earlier one. */
static int same_key(json_object *a, json_object *b) {
    const char *keys[] = {"type", "round", "sample", "epoch"};
    for (size_t i = 0; i < 4; i++) {
        json_object *x = NULL, *y = NULL;
        int hx = json_object_object_get_ex(a, keys[i], &x), hy = json_object_object_get_ex(b, keys[i], &y);
        if (hx != hy) return 0;
        if (hx && strcmp(json_object_to_json_string(x), json_object_to_json_string(y))) return 0;
    }
    return 1;
}

static void put(json_object *arr, json_object *rec) {
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++)
        if (same_key(json_object_array_get_idx(arr, i), rec)) {
            json_object_array_put_idx(arr, i, json_object_get(rec));
            return;
        }
    json_object_array_add(arr, json_object_get(rec));
}

static double num(json_object *o, const char *k) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : NAN;
}

static const char *str(json_object *o, const char *k) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static void fmt_bytes(double b, char *buf, size_t len) { rd_format_bytes(isfinite(b) && b > 0 ? (uint64_t)b : 0, buf, len); }

static rd_status rd_search_write_report_c(const char *run_dir, rd_err *err) {
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, run_dir, "metrics.jsonl", err));
    rd_metrics_reader *rd;
    RD_TRY(rd_metrics_reader_open(path, &rd, err));
    json_object *samples = json_object_new_array(), *rounds = json_object_new_array(),
                *epochs = json_object_new_array(), *final = NULL, *trained = NULL;
    const rd_record *rec;
    rd_status s;
    while ((s = rd_metrics_next(rd, &rec, err)) == RD_OK && rec) {
        json_object *o = rd_record_json((rd_record *)rec);
        const char *type = str(o, "type");
        if (!strcmp(type, "rl_sample")) put(samples, o);
        else if (!strcmp(type, "rl_round")) put(rounds, o);
        else if (!strcmp(type, "epoch")) put(epochs, o);
        else if (!strcmp(type, "final")) {
            json_object_put(final);
            final = json_object_get(o);
        } else if (!strcmp(type, "then_train")) { /* radars search --then-train */
            json_object_put(trained);
            trained = json_object_get(o);
        }
    }
    rd_metrics_reader_close(rd);
    if (s != RD_OK) {
        json_object_put(trained);
        json_object_put(samples);
        json_object_put(rounds);
        json_object_put(epochs);
        json_object_put(final);
        return s;
    }
    /* reward curve per round: mean reward of its samples */
    json_object *report = json_object_new_object();
    size_t nr = json_object_array_length(rounds), ns = json_object_array_length(samples);
    for (size_t i = 0; i < nr; i++) {
        json_object *r = json_object_array_get_idx(rounds, i);
        double sum = 0, best = -INFINITY;
        int n = 0;
        json_object *curve = json_object_new_array();
        for (size_t j = 0; j < ns; j++) {
            json_object *sm = json_object_array_get_idx(samples, j);
            if (num(sm, "round") != num(r, "round")) continue;
            double v = num(sm, "reward");
            sum += v;
            best = fmax(best, v);
            n++;
            json_object_array_add(curve, json_object_new_double(v));
        }
        json_object_object_add(r, "mean_reward", json_object_new_double(n ? sum / n : NAN));
        json_object_object_add(r, "best_reward", json_object_new_double(n ? best : NAN));
        json_object_object_add(r, "rewards", curve);
    }
    json_object_object_add(report, "rl_rounds", rounds);
    json_object_object_add(report, "darts_epochs", epochs);
    json_object_object_add(report, "final", final ? final : json_object_new_null());
    if (trained) json_object_object_add(report, "then_train", trained);
    json_object_put(samples);

    RD_TRY(rd_path_join(path, sizeof path, run_dir, "report.json", err));
    const char *text = json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    s = rd_write_file_atomic(path, text, strlen(text), err);

    /* human-readable summary */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f && s == RD_OK) {
        char b1[32], b2[32], b3[32];
        fprintf(f, "radars-cl search report: %s\n\n", run_dir);
        if (final) {
            fprintf(f, "strategy      %s\n", str(final, "strategy"));
            fprintf(f, "genotype      %s\n", str(final, "genotype"));
            if (isfinite(num(final, "valid_acc")))
                fprintf(f, "valid acc     %.2f%% (supernet on the alpha half of the training set)\n", 100 * num(final, "valid_acc"));
            else
                fprintf(f, "valid acc     none (nothing was trained: a genotype drawn at random)\n");
            fmt_bytes(num(final, "peak_bytes"), b1, sizeof b1);
            fmt_bytes(num(final, "predicted_bytes"), b2, sizeof b2);
            fmt_bytes(num(final, "cap"), b3, sizeof b3);
            fprintf(f, "memory        measured peak %s, predicted %s (final phase), cap %s\n", b1, b2, b3);
            if (!strcmp(str(final, "strategy"), "random"))
                fprintf(f, "time          %.1f s (a draw: nothing searched)\n\n", num(final, "total_seconds"));
            else if (!strcmp(str(final, "strategy"), "random-ws"))
                fprintf(f, "time          %.1f s total: one-shot training on uniform paths %.1f s, drawing and "
                           "evaluating the candidates %.1f s\n\n",
                        num(final, "total_seconds"), num(final, "rl_seconds"), num(final, "darts_seconds"));
            else
                fprintf(f, "time          %.1f s total: RL %.1f s, DARTS %.1f s\n\n", num(final, "total_seconds"),
                        num(final, "rl_seconds"), num(final, "darts_seconds"));
        }
        if (trained)
            fprintf(f, "trained       test top-1 %.2f%% after %.0f epochs from scratch (C=%.0f, %.0f cells, %.2f M parameters, "
                       "%.1f s; %s)\n\n",
                    100 * num(trained, "test_acc"), num(trained, "epochs"), num(trained, "C"), num(trained, "layers"),
                    num(trained, "params") / 1e6, num(trained, "seconds"), str(trained, "run_dir"));
        if (nr) {
            fprintf(f, "RL rounds (pruning):\n  %-5s %-8s %-12s %-12s %-14s %-14s %-8s\n", "round", "removed", "mean reward",
                    "best reward", "DARTS needs", "measured peak", "seconds");
            for (size_t i = 0; i < nr; i++) {
                json_object *r = json_object_array_get_idx(rounds, i);
                fmt_bytes(num(r, "predicted_darts_peak"), b1, sizeof b1);
                fmt_bytes(num(r, "measured_peak"), b2, sizeof b2);
                fprintf(f, "  %-5.0f %-8.0f %-12.4f %-12.4f %-14s %-14s %-8.1f\n", num(r, "round") + 1, num(r, "removed"),
                        num(r, "mean_reward"), num(r, "best_reward"), b1, b2, num(r, "seconds"));
            }
            json_object *last = json_object_array_get_idx(rounds, nr - 1);
            fprintf(f, "\nops alive per edge after the last round (normal cell):\n");
            const char *alive = str(last, "alive_normal");
            int e = 0;
            fprintf(f, "  edge %2d: ", e);
            for (const char *p = alive; *p; p++) {
                if (*p == ';') fprintf(f, "\n  edge %2d: ", ++e);
                else fputc(*p == ',' ? ' ' : *p, f);
            }
            fprintf(f, "\nreduction cell:\n");
            alive = str(last, "alive_reduce");
            e = 0;
            fprintf(f, "  edge %2d: ", e);
            for (const char *p = alive; *p; p++) {
                if (*p == ';') fprintf(f, "\n  edge %2d: ", ++e);
                else fputc(*p == ',' ? ' ' : *p, f);
            }
            fprintf(f, "\n\n");
        }
        size_t ne = json_object_array_length(epochs);
        if (ne) {
            fprintf(f, "DARTS epochs:\n  %-5s %-9s %-10s %-9s %-10s %-9s %-8s %-12s\n", "epoch", "lr", "train loss",
                    "train acc", "valid loss", "valid acc", "s/step", "peak");
            for (size_t i = 0; i < ne; i++) {
                json_object *r = json_object_array_get_idx(epochs, i);
                fmt_bytes(num(r, "peak_bytes"), b1, sizeof b1);
                fprintf(f, "  %-5.0f %-9.4g %-10.4f %-9.2f %-10.4f %-9.2f %-8.3f %-12s\n", num(r, "epoch"), num(r, "lr"),
                        num(r, "train_loss"), 100 * num(r, "train_acc"), num(r, "valid_loss"), 100 * num(r, "valid_acc"),
                        num(r, "step_seconds"), b1);
            }
        }
        fclose(f);
        RD_TRY(rd_path_join(path, sizeof path, run_dir, "report.txt", err));
        s = rd_write_file_atomic(path, buf, len, err);
    } else if (f) {
        fclose(f);
    }
    free(buf);
    json_object_put(report);
    return s;
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
rd_status rd_search_write_report(const char *run_dir, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = rd_search_write_report_c(run_dir, err);
    RD_C_LOCALE_END;
    return r_;
}
