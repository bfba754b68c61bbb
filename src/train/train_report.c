/* The summary of a training run from its metrics (so a resumed run reports
 * every epoch): report.json for programs, report.txt for people. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/train.h"
#include "runtime/c_locale.h"

static double num(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : NAN;
}

static const char *str(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* An epoch redone after a crash replaces the earlier record of that epoch. */
static void put_epoch(json_object *arr, json_object *rec) {
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++)
        if (num(json_object_array_get_idx(arr, i), "epoch") == num(rec, "epoch")) {
            json_object_array_put_idx(arr, i, json_object_get(rec));
            return;
        }
    json_object_array_add(arr, json_object_get(rec));
}

static void write_text(FILE *f, const char *run_dir, json_object *epochs, json_object *final) {
    fprintf(f, "radars-cl training report: %s\n\n", run_dir);
    if (final) {
        char b[32];
        double peak = num(final, "peak_bytes");
        rd_format_bytes(isfinite(peak) && peak > 0 ? (uint64_t)peak : 0, b, sizeof b);
        fprintf(f, "genotype      %s\n", str(final, "genotype"));
        fprintf(f, "network       C=%.0f, %.0f cells, %.3f M parameters, %.1f MFLOPs per image\n", num(final, "C"),
                num(final, "layers"), num(final, "params") / 1e6, num(final, "flops_per_image") / 1e6);
        fprintf(f, "data          %s\n", str(final, "dataset"));
        fprintf(f, "epochs        %.0f (%.0f steps)\n", num(final, "epochs"), num(final, "global_step"));
        fprintf(f, "test top-1    %.2f%% (%.0f of %.0f test images), test loss %.4f\n", 100 * num(final, "test_acc"),
                num(final, "test_correct"), num(final, "test_images"), num(final, "test_loss"));
        fprintf(f, "time          %.1f s\n", num(final, "total_seconds"));
        fprintf(f, "memory        peak device memory %s\n\n", b);
    } else {
        fprintf(f, "(training not finished: no final record yet)\n\n");
    }
    size_t ne = json_object_array_length(epochs);
    if (!ne) return;
    fprintf(f, "epochs:\n  %-5s %-9s %-9s %-10s %-9s %-10s %-9s %-8s\n", "epoch", "lr", "drop", "train loss", "train acc",
            "valid loss", "valid acc", "seconds");
    for (size_t i = 0; i < ne; i++) {
        json_object *r = json_object_array_get_idx(epochs, i);
        fprintf(f, "  %-5.0f %-9.4g %-9.3f %-10.4f %-9.2f %-10.4f %-9.2f %-8.1f\n", num(r, "epoch"), num(r, "lr"),
                num(r, "drop_path"), num(r, "train_loss"), 100 * num(r, "train_acc"), num(r, "valid_loss"),
                100 * num(r, "valid_acc"), num(r, "seconds"));
    }
}

static rd_status rd_train_write_report_c(const char *run_dir, rd_err *err) {
    char path[4200];
    RD_TRY(rd_path_join(path, sizeof path, run_dir, "metrics.jsonl", err));
    rd_metrics_reader *rd;
    RD_TRY(rd_metrics_reader_open(path, &rd, err));
    json_object *epochs = json_object_new_array(), *final = NULL;
    const rd_record *rec;
    rd_status s;
    while ((s = rd_metrics_next(rd, &rec, err)) == RD_OK && rec) {
        json_object *o = rd_record_json((rd_record *)rec);
        const char *type = str(o, "type");
        if (!strcmp(type, "epoch")) put_epoch(epochs, o);
        else if (!strcmp(type, "final")) {
            json_object_put(final);
            final = json_object_get(o);
        }
    }
    rd_metrics_reader_close(rd);
    if (s != RD_OK) {
        json_object_put(epochs);
        json_object_put(final);
        return s;
    }
    json_object *report = json_object_new_object();
    json_object_object_add(report, "kind", json_object_new_string("train"));
    if (final) {
        const char *keys[] = {"genotype", "params", "epochs", "test_acc", "total_seconds", "peak_device_mb"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            json_object *v;
            if (json_object_object_get_ex(final, keys[i], &v))
                json_object_object_add(report, keys[i], json_object_get(v));
        }
    }
    json_object_object_add(report, "epochs_detail", epochs);
    json_object_object_add(report, "final", final ? final : json_object_new_null());
    RD_TRY(rd_path_join(path, sizeof path, run_dir, "report.json", err));
    const char *text = json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    s = rd_write_file_atomic(path, text, strlen(text), err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = s == RD_OK ? open_memstream(&buf, &len) : NULL;
    if (s == RD_OK && !f) s = rd_fail(err, RD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (f) {
        write_text(f, run_dir, epochs, final);
        fclose(f);
        s = rd_path_join(path, sizeof path, run_dir, "report.txt", err);
        if (s == RD_OK) s = rd_write_file_atomic(path, buf, len, err);
    }
    free(buf);
    json_object_put(report);
    return s;
}

/* numbers in the C locale, whatever the host program's (runtime/c_locale.h) */
rd_status rd_train_write_report(const char *run_dir, rd_err *err) {
    RD_C_LOCALE_BEGIN;
    rd_status r_ = rd_train_write_report_c(run_dir, err);
    RD_C_LOCALE_END;
    return r_;
}
