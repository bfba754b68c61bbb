/* Training end to end on a tiny data set the test writes (IDX files, 4
 * classes of 16x16 patterns): a run writes metrics, checkpoint, report and
 * plots; an interrupted and resumed run ends with bit-identical weights; the
 * evaluation of the checkpoint reports the final record's test accuracy; the
 * checkpoint loads in the PyTorch peer (tools/torch_darts_eval.py) with strict
 * names and gives the same eval-mode logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "radars/plot.h"
#include "radars/train.h"
#include "data_fixtures.h"
#include "test_util.h"

static const char *V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/* Every op of the `large` set once (skip_connect at both strides), for the PyTorch
 * cross-check of names and logits. */
static const char *ALL_OPS =
    "Genotype(normal=[('sep_conv_5x5', 0), ('conv_7x1_1x7', 1), ('dil_conv_5x5', 0), ('conv_3x3', 2), "
    "('avg_pool_3x3', 1), ('conv_1x1', 3), ('none', 2), ('skip_connect', 4)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('skip_connect', 0), ('max_pool_5x5', 1), ('sep_conv_7x7', 0), ('dil_conv_7x7', 2), ('max_pool_3x3', 1), "
    "('avg_pool_5x5', 3), ('sep_conv_3x3', 4), ('dil_conv_3x3', 2)], reduce_concat=[2, 3, 4, 5])";

enum { HW = 16, CLASSES = 4, N_TRAIN = 288, N_TEST = 72 };
static char data_dir[128];

static void be32(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Class k: a bright horizontal band in quarter k of the image, over noise. */
static void write_split(const char *prefix, int n, unsigned long long seed) {
    size_t ni = 16 + (size_t)n * HW * HW, nl = 8 + (size_t)n;
    unsigned char *img = calloc(ni, 1), *lab = calloc(nl, 1);
    be32(img, 0x803);
    be32(img + 4, (unsigned)n);
    be32(img + 8, HW);
    be32(img + 12, HW);
    be32(lab, 0x801);
    be32(lab + 4, (unsigned)n);
    unsigned long long s = seed;
    for (int i = 0; i < n; i++) {
        int k = (int)(fx_rand(&s) % CLASSES);
        lab[8 + i] = (unsigned char)k;
        unsigned char *p = img + 16 + (size_t)i * HW * HW;
        int row = k * (HW / CLASSES) + (int)(fx_rand(&s) % 2);
        for (int y = 0; y < HW; y++)
            for (int x = 0; x < HW; x++) {
                int v = (int)(fx_rand(&s) % 90);
                if (y == row || y == row + 1) v += 150;
                p[y * HW + x] = (unsigned char)v;
            }
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", data_dir, prefix);
    fx_write(path, img, ni, 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", data_dir, prefix);
    fx_write(path, lab, nl, 0);
    free(img);
    free(lab);
}

static void make_data(void) {
    if (data_dir[0]) return;
    fx_mkdtemp(data_dir, sizeof data_dir, "train-data");
    write_split("train", N_TRAIN, 11);
    write_split("t10k", N_TEST, 12);
}

static void tiny(rd_train_config *c, int epochs) {
    make_data();
    char ds[300], ep[64];
    snprintf(ds, sizeof ds, "data.dataset=idx:%s", data_dir);
    snprintf(ep, sizeof ep, "train.epochs=%d", epochs);
    const char *sets[] = {ds, ep, "model.C=4", "model.layers=3", "data.batch=16", "model.drop_path=0.3",
                          "data.crop_padding=2", "data.cutout=4", "data.flip=true", "output.checkpoint_every=4",
                          "train.seed=5"};
    rd_err err;
    ck_assert_msg(rd_train_config_load(c, NULL, sets, (int)(sizeof sets / sizeof *sets), &err) == RD_OK, "%s", err.msg);
    snprintf(c->genotype, sizeof c->genotype, "%s", V2);
}

static rd_status run(const rd_train_config *c, const char *dir, int resume, int64_t stop, rd_train_result *res,
                     rd_err *err) {
    rd_train_options o;
    memset(&o, 0, sizeof o);
    o.run_dir = dir;
    o.resume = resume;
    o.stop_after_steps = stop;
    return rd_train_run(tu_ctx(), c, &o, res, err);
}

static void exists(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_msg(access(p, R_OK) == 0, "%s missing", p);
}

static json_object *final_record(const char *dir, int *epochs) {
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    rd_metrics_reader *rd;
    rd_err err;
    ck_assert_msg(rd_metrics_reader_open(p, &rd, &err) == RD_OK, "%s", err.msg);
    const rd_record *r;
    json_object *fin = NULL;
    *epochs = 0;
    while (rd_metrics_next(rd, &r, &err) == RD_OK && r) {
        const char *type = rd_record_get_string(r, "type");
        if (!strcmp(type, "epoch")) {
            (*epochs)++;
            const char *keys[] = {"epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "drop_path",
                                  "seconds", "peak_device_mb"};
            for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
                ck_assert_msg(rd_record_has(r, keys[k]), "epoch record without '%s'", keys[k]);
            ck_assert(isfinite(rd_record_get_double(r, "train_loss")));
        } else if (!strcmp(type, "final")) {
            json_object_put(fin);
            fin = json_object_get(rd_record_json((rd_record *)r));
        }
    }
    rd_metrics_reader_close(rd);
    ck_assert_msg(fin != NULL, "no final record");
    return fin;
}

static double jnum(json_object *o, const char *k) {
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, k, &v), "no '%s'", k);
    return json_object_get_double(v);
}

/* ---- the PyTorch peer ---- */
static const char *python(void) {
    const char *p = getenv("RADARS_PYTHON");
    return p ? p : "/usr/bin/python3";
}

static int have_peer(char *peer, size_t len) {
    const char *src = getenv("RADARS_SOURCE_DIR");
    char cmd[1200];
    snprintf(peer, len, "%s/tools/torch_darts_eval.py", src ? src : ".");
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", python());
    if (access(peer, R_OK) != 0 || system(cmd) != 0) {
        printf("PyTorch: skipped (%s or python3-torch missing)\n", peer);
        return 0;
    }
    return 1;
}

/* load_state_dict(strict=True) of PyTorch's own module (the peer's NetworkCIFAR)
 * takes the file as is, num_batches_tracked and auxiliary head included. */
static void torch_strict_load(const char *dir, const char *ckpt, int cin, int C, int classes, int layers, int aux) {
    char peer[1024], cmd[8192], errf[700];
    if (!have_peer(peer, sizeof peer)) return;
    const char *src = getenv("RADARS_SOURCE_DIR");
    snprintf(errf, sizeof errf, "%s/strict.err", dir);
    snprintf(cmd, sizeof cmd,
             "%s -c \"import sys; sys.path.insert(0, '%s/tools'); import torch_darts_eval as t; "
             "net = t.NetworkCIFAR(t.load_genotype('%s/genotype.txt'), %d, %d, %d, %d, %s); "
             "r = net.load_state_dict(t.load_safetensors('%s'), strict=True); print('strict load:', r)\" 2> %s",
             python(), src ? src : ".", dir, cin, C, classes, layers, aux ? "True" : "False", ckpt, errf);
    fflush(stdout);
    int rc = system(cmd);
    if (rc != 0) {
        size_t len;
        unsigned char *e = fx_read(errf, &len);
        ck_abort_msg("PyTorch's load_state_dict(strict=True) refused %s (%d): %.*s", ckpt, rc, (int)len, e);
    }
}

START_TEST(tiny_run_writes_everything) {
    rd_train_config c;
    tiny(&c, 2);
    char dir[] = "/tmp/radars-train-run-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rd_train_result res;
    rd_err err;
    ck_assert_msg(run(&c, dir, 0, 0, &res, &err) == RD_OK, "%s", err.msg);
    ck_assert(!res.interrupted);
    ck_assert_int_eq(res.epochs, 2);
    printf("tiny run: test accuracy %.3f, %.0f parameters, %.1f s\n", res.test_accuracy, res.params, res.seconds);
    /* the pictures are drawn from the run directory's files (radars train does this at the end) */
    ck_assert_msg(rd_plot_run_dir(dir, NULL, &err) == RD_OK, "%s", err.msg);
    const char *files[] = {"config.ini", "genotype.txt", "genotype.json", "metrics.jsonl", "checkpoint.safetensors",
                           "report.json", "report.txt", "plots/loss.png", "plots/accuracy.png", "plots/lr.png",
                           "plots/cell_normal.png", "plots/cell_reduce.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) exists(dir, files[i]);
    int epochs;
    json_object *fin = final_record(dir, &epochs);
    ck_assert_int_eq(epochs, 2);
    ck_assert(jnum(fin, "test_acc") == res.test_accuracy);
    ck_assert(jnum(fin, "test_images") == N_TEST);
    json_object_put(fin);
    /* the saved config loads back (the genotype text was replaced by the run's genotype.txt) */
    char p[600];
    snprintf(p, sizeof p, "%s/config.ini", dir);
    rd_train_config back;
    ck_assert_msg(rd_train_config_load(&back, p, NULL, 0, &err) == RD_OK, "%s", err.msg);
    rd_genotype g;
    ck_assert_msg(rd_genotype_resolve(back.genotype, NULL, &g, NULL, 0, &err) == RD_OK, "%s", err.msg);
    ck_assert(rd_genotype_equal(&g, &res.genotype));
    /* the checkpoint: PyTorch names, a num_batches_tracked per batch-norm = steps taken */
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
    rd_st_file *f;
    ck_assert_msg(rd_st_open(p, &f, &err) == RD_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(rd_st_find(f, "stem.0.weight"));
    ck_assert_ptr_nonnull(rd_st_find(f, "classifier.weight"));
    ck_assert_ptr_nonnull(rd_st_find(f, "classifier.bias"));
    int n_bn = 0, n_tracked = 0;
    int64_t steps = (int64_t)(2 * ((N_TRAIN - (int)lround(0.1 * N_TRAIN)) / 16));
    for (int i = 0; i < rd_st_count(f); i++) {
        const rd_st_info *t = rd_st_at(f, i);
        size_t l = strlen(t->name);
        if (l > 12 && !strcmp(t->name + l - 12, "running_mean")) {
            n_bn++;
            char nb[200];
            snprintf(nb, sizeof nb, "%.*snum_batches_tracked", (int)(l - 12), t->name);
            const rd_st_info *x = rd_st_find(f, nb);
            ck_assert_msg(x && x->dtype == RD_ST_I64 && x->ndim == 0, "%s missing or not an I64 scalar", nb);
            int64_t v;
            ck_assert_int_eq(rd_st_read(f, nb, RD_ST_I64, 0, NULL, &v, sizeof v, &err), RD_OK);
            ck_assert_int_eq(v, steps);
        }
        if (l > 19 && !strcmp(t->name + l - 19, "num_batches_tracked")) n_tracked++;
    }
    ck_assert_int_gt(n_bn, 10);
    ck_assert_int_eq(n_bn, n_tracked);
    /* the momentum is in the one optimizer file the checkpoint names, not in its header */
    ck_assert_ptr_null(rd_st_metadata(f, "sgd_momentum"));
    const char *optim = rd_st_metadata(f, "optimizer");
    ck_assert_ptr_nonnull(optim);
    ck_assert_ptr_nonnull(rd_st_metadata(f, "genotype"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test \"$(ls '%s' | grep -c 'optim-')\" = 1 && test -r '%s/%s'", dir, dir, optim);
    ck_assert_msg(system(cmd) == 0, "%s: not exactly one optimizer file, %s", dir, optim);
    rd_st_close(f);
    fx_rmdir(dir);
}
END_TEST

/* Every tensor of the checkpoint, and the momentum its optimizer file holds (malloc'ed, *mlen bytes). */
static unsigned char *tensor_bytes(const char *dir, size_t *len, unsigned char **momentum, size_t *mlen) {
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
    rd_st_file *f;
    rd_err err;
    ck_assert_msg(rd_st_open(p, &f, &err) == RD_OK, "%s", err.msg);
    size_t total = 0;
    for (int i = 0; i < rd_st_count(f); i++) total += rd_st_at(f, i)->nbytes;
    unsigned char *all = malloc(total + 1), *o = all;
    for (int i = 0; i < rd_st_count(f); i++) {
        const rd_st_info *t = rd_st_at(f, i);
        ck_assert_int_eq(rd_st_read(f, t->name, t->dtype, -1, NULL, o, t->nbytes, &err), RD_OK);
        o += t->nbytes;
    }
    rd_st_file *optim;
    ck_assert_msg(rd_st_companion_open(f, p, &optim, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(optim != NULL, "%s names no optimizer file", p);
    const rd_st_info *m = rd_st_find(optim, "sgd_momentum");
    ck_assert_ptr_nonnull(m);
    *momentum = malloc(m->nbytes + 1);
    *mlen = m->nbytes;
    ck_assert_int_eq(rd_st_read(optim, m->name, m->dtype, -1, NULL, *momentum, m->nbytes, &err), RD_OK);
    rd_st_close(optim);
    rd_st_close(f);
    *len = total;
    return all;
}

static void check_resume(int64_t stop) {
    rd_train_config c;
    tiny(&c, 2);
    char a[] = "/tmp/radars-train-a-XXXXXX", b[] = "/tmp/radars-train-b-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(a));
    ck_assert_ptr_nonnull(mkdtemp(b));
    rd_train_result r1, r2;
    rd_err err;
    ck_assert_msg(run(&c, a, 0, 0, &r1, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(run(&c, b, 0, stop, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(r2.interrupted, "the run did not stop after %lld steps", (long long)stop);
    ck_assert_msg(run(&c, b, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert(!r2.interrupted);
    size_t la, lb, lma, lmb;
    unsigned char *ma, *mb;
    unsigned char *x = tensor_bytes(a, &la, &ma, &lma), *y = tensor_bytes(b, &lb, &mb, &lmb);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(x, y, la) == 0, "resumed weights differ from the uninterrupted run's (stop after %lld)",
                  (long long)stop);
    ck_assert_msg(lma == lmb && !memcmp(ma, mb, lma), "resumed SGD momentum differs");
    ck_assert(r1.test_accuracy == r2.test_accuracy);
    printf("resume after %lld steps: %zu bytes of tensors identical, test accuracy %.4f both\n", (long long)stop, la,
           r1.test_accuracy);
    free(x);
    free(y);
    free(ma);
    free(mb);
    fx_rmdir(a);
    fx_rmdir(b);
}

/* 259 training images / 16 = 16 steps per epoch: step 6 is mid-epoch (after a
 * checkpoint_every checkpoint), step 16 the end of the first epoch (drop-path
 * changes from 0 to 0.15 after it). */
START_TEST(resume_mid_epoch_bit_identical) { check_resume(6); }
END_TEST

START_TEST(resume_at_epoch_end_bit_identical) { check_resume(16); }
END_TEST

START_TEST(eval_reports_the_final_accuracy) {
    rd_train_config c;
    tiny(&c, 1);
    char dir[] = "/tmp/radars-train-eval-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rd_train_result res;
    rd_err err;
    ck_assert_msg(run(&c, dir, 0, 0, &res, &err) == RD_OK, "%s", err.msg);
    rd_eval_result ev;
    ck_assert_msg(rd_train_evaluate(tu_ctx(), dir, NULL, &ev, &err) == RD_OK, "%s", err.msg);
    int epochs;
    json_object *fin = final_record(dir, &epochs);
    printf("eval: top-1 %.4f (%d of %d), final record %.4f, %.0f images/s, peak %.1f MiB\n", ev.top1, ev.correct, ev.n,
           jnum(fin, "test_acc"), ev.images_per_s, ev.peak / 1048576.0);
    ck_assert_int_eq(ev.n, N_TEST);
    ck_assert(ev.top1 == jnum(fin, "test_acc"));
    ck_assert_int_eq(ev.correct, (int)jnum(fin, "test_correct"));
    int sum_c = 0, sum_t = 0;
    for (int k = 0; k < ev.classes; k++) {
        sum_c += ev.class_correct[k];
        sum_t += ev.class_total[k];
    }
    ck_assert_int_eq(ev.classes, CLASSES);
    ck_assert_int_eq(sum_t, N_TEST);
    ck_assert_int_le(abs(sum_c - ev.correct), 1); /* arg-max ties aside, the same count */
    ck_assert(ev.images_per_s > 0 && ev.peak > 0);
    json_object_put(fin);
    rd_eval_result_free(&ev);
    /* a search checkpoint or garbage is refused with the file named */
    char p[600];
    snprintf(p, sizeof p, "%s/junk.safetensors", dir);
    fx_write(p, "not a safetensors file", 22, 0);
    rd_status s = rd_train_evaluate(tu_ctx(), p, NULL, &ev, &err);
    fx_expect_error("garbage checkpoint", s, &err, RD_ERR_FORMAT, "junk.safetensors", NULL);
    rd_eval_result_free(&ev);
    fx_rmdir(dir);
}
END_TEST


START_TEST(checkpoint_loads_in_pytorch_with_the_same_logits) {
    char peer[1024], cmd[8192];
    if (!have_peer(peer, sizeof peer)) return;
    rd_train_config c;
    tiny(&c, 1);
    snprintf(c.genotype, sizeof c.genotype, "%s", ALL_OPS);
    char dir[] = "/tmp/radars-train-torch-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rd_train_result res;
    rd_err err;
    ck_assert_msg(run(&c, dir, 0, 0, &res, &err) == RD_OK, "%s", err.msg);
    /* the trained network, rebuilt from its checkpoint, on random inputs in evaluation mode */
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    rd_train_checkpoint_info info;
    ck_assert_msg(rd_train_checkpoint_peek(ckpt, &info, &err) == RD_OK, "%s", err.msg);
    const int n = 8;
    rd_network_config nc;
    rd_network_config_default(&nc);
    nc.C = info.cfg.C;
    nc.layers = info.cfg.layers;
    nc.in_channels = info.in_c;
    nc.in_h = info.in_h;
    nc.in_w = info.in_w;
    nc.classes = info.classes;
    nc.batch = n;
    nc.genotype = info.genotype;
    rd_network *net;
    TU_OK(rd_network_create(tu_ctx(), &nc, 99, &net));
    ck_assert_msg(rd_train_checkpoint_load(ckpt, net, NULL, NULL, &err) == RD_OK, "%s", err.msg);
    size_t nx = (size_t)n * info.in_c * info.in_h * info.in_w;
    double *x = malloc(nx * sizeof *x);
    tu_rng r = {7};
    tu_fill(&r, x, nx, -2, 2);
    rd_tensor tx = tu_tensor_from(x, n, info.in_c, info.in_h, info.in_w);
    rd_buffer *lb;
    TU_OK(rd_alloc(tu_ctx(), n * sizeof(int32_t), "labels", &lb));
    int32_t labels[8] = {0};
    clEnqueueWriteBuffer(rd_ctx_queue(tu_ctx()), rd_buffer_mem(lb), CL_TRUE, 0, sizeof labels, labels, 0, NULL, NULL);
    TU_OK(rd_network_forward(net, &tx, rd_buffer_mem(lb), 0));
    float mine[8 * CLASSES];
    TU_OK(rd_network_read_logits(net, mine));
    char in[600], out[600], errf[600];
    snprintf(in, sizeof in, "%s/x.f32", dir);
    snprintf(out, sizeof out, "%s/logits.txt", dir);
    snprintf(errf, sizeof errf, "%s/peer.err", dir);
    FILE *f = fopen(in, "wb");
    for (size_t i = 0; i < nx; i++) {
        float v = (float)x[i];
        fwrite(&v, sizeof v, 1, f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s %s --load %s --input %s --genotype %s/genotype.txt --C %d --layers %d --cin %d --hw %d --classes %d > %s 2> %s",
             python(), peer, ckpt, in, dir, nc.C, nc.layers, nc.in_channels, nc.in_h, nc.classes, out, errf);
    int rc = system(cmd);
    if (rc != 0) {
        size_t len;
        unsigned char *e = fx_read(errf, &len);
        ck_abort_msg("the peer failed (%d): %.*s", rc, (int)len, e);
    }
    f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    double worst = 0;
    for (int i = 0; i < n * CLASSES; i++) {
        double v;
        ck_assert_msg(fscanf(f, "%lf", &v) == 1, "the peer printed fewer than %d logits", n * CLASSES);
        double d = fabs(v - mine[i]) / fmax(1e-3, fabs(v));
        if (d > worst) worst = d;
        ck_assert_msg(fabs(v - mine[i]) <= 1e-3 * fmax(1.0, fabs(v)), "logit %d: radars-cl %.6g, PyTorch %.6g", i, mine[i], v);
    }
    fclose(f);
    printf("PyTorch logits (eval mode): worst relative difference %.2g\n", worst);
    torch_strict_load(dir, ckpt, nc.in_channels, nc.C, nc.classes, nc.layers, 0);
    rd_free(tu_ctx(), lb);
    rd_network_free(net);
    free(x);
    fx_rmdir(dir);
}
END_TEST


/* DARTS' CIFAR-10 evaluation set-up, small: 32x32 colour images in CIFAR-10's
 * binary format, auxiliary head (weight 0.4), cutout 16, crop 4, flip, drop-path,
 * validation on the test set (valid_portion 0). The auxiliary head's tensors
 * are in the checkpoint, and a resumed run still matches bit for bit. */
START_TEST(auxiliary_head_on_cifar10_format) {
    char dir[128];
    fx_mkdtemp(dir, sizeof dir, "train-cifar");
    unsigned long long s = 3;
    enum { PER = 24, REC = 1 + 3 * 32 * 32 };
    unsigned char *buf = malloc((size_t)PER * REC);
    for (int b = 0; b <= 5; b++) {
        for (int i = 0; i < PER; i++) {
            unsigned char *r = buf + (size_t)i * REC;
            int k = (int)(fx_rand(&s) % 10);
            r[0] = (unsigned char)k;
            for (int j = 1; j < REC; j++) r[j] = (unsigned char)(fx_rand(&s) % 100 + ((j - 1) / 1024 == k % 3 ? 120 : 0));
        }
        char p[300];
        if (b < 5) snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, b + 1);
        else snprintf(p, sizeof p, "%s/test_batch.bin", dir);
        fx_write(p, buf, (size_t)PER * REC, 0);
    }
    free(buf);
    char ds[300];
    snprintf(ds, sizeof ds, "data.dataset=cifar10:%s", dir);
    const char *sets[] = {ds, "model.C=4", "model.layers=3", "data.batch=8", "data.valid_portion=0", "data.cutout=16",
                          "data.crop_padding=4", "data.flip=true", "model.auxiliary=true", "model.auxiliary_weight=0.4",
                          "model.drop_path=0.2", "train.epochs=2", "train.steps_per_epoch=4"};
    rd_train_config c;
    rd_err err;
    ck_assert_msg(rd_train_config_load(&c, NULL, sets, (int)(sizeof sets / sizeof *sets), &err) == RD_OK, "%s", err.msg);
    snprintf(c.genotype, sizeof c.genotype, "%s", V2);
    char a[] = "/tmp/radars-train-aux-a-XXXXXX", b[] = "/tmp/radars-train-aux-b-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(a));
    ck_assert_ptr_nonnull(mkdtemp(b));
    rd_train_result r1, r2;
    ck_assert_msg(run(&c, a, 0, 0, &r1, &err) == RD_OK, "%s", err.msg);
    ck_assert_msg(run(&c, b, 0, 3, &r2, &err) == RD_OK, "%s", err.msg);
    ck_assert(r2.interrupted);
    ck_assert_msg(run(&c, b, 1, 0, &r2, &err) == RD_OK, "%s", err.msg);
    size_t la, lb, lma, lmb;
    unsigned char *ma, *mb;
    unsigned char *x = tensor_bytes(a, &la, &ma, &lma), *y = tensor_bytes(b, &lb, &mb, &lmb);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(x, y, la) == 0 && lma == lmb && !memcmp(ma, mb, lma), "resumed run with the auxiliary head differs");
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", a);
    rd_st_file *f;
    ck_assert_msg(rd_st_open(p, &f, &err) == RD_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(rd_st_find(f, "auxiliary_head.classifier.weight"));
    rd_st_close(f);
    torch_strict_load(a, p, 3, 4, 10, 3, 1);
    /* validation ran on the test set */
    int epochs;
    json_object *fin = final_record(a, &epochs);
    ck_assert_int_eq(epochs, 2);
    ck_assert(jnum(fin, "test_images") == PER);
    json_object_put(fin);
    printf("auxiliary head, CIFAR-10 format: test accuracy %.3f, resume identical (%zu bytes)\n", r1.test_accuracy, la);
    free(x);
    free(y);
    free(ma);
    free(mb);
    fx_rmdir(a);
    fx_rmdir(b);
    fx_rmdir(dir);
}
END_TEST

/* radars search --then-train: the found genotype trained from scratch, its test
 * accuracy in the search's report. */
START_TEST(search_then_train_reports_test_accuracy) {
    make_data();
    char ds[300];
    snprintf(ds, sizeof ds, "data.dataset=idx:%s", data_dir);
    const char *sets[] = {ds, "search.strategy=darts", "model.ops=darts", "model.C=4", "model.layers=3", "data.batch=16",
                          "search.epochs=1", "search.steps_per_epoch=2", "search.eval_batches=1"};
    rd_search_config sc;
    rd_err err;
    ck_assert_msg(rd_search_config_load(&sc, NULL, sets, (int)(sizeof sets / sizeof *sets), &err) == RD_OK, "%s", err.msg);
    char dir[] = "/tmp/radars-then-train-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rd_search_options so;
    memset(&so, 0, sizeof so);
    so.run_dir = dir;
    rd_search_result sr;
    ck_assert_msg(rd_search_run(tu_ctx(), &sc, &so, &sr, &err) == RD_OK, "%s", err.msg);
    rd_train_options to;
    memset(&to, 0, sizeof to);
    rd_train_result tr;
    ck_assert_msg(rd_search_then_train(tu_ctx(), &sc, dir, 2, &to, &tr, &err) == RD_OK, "%s", err.msg);
    ck_assert(!tr.interrupted);
    ck_assert_int_eq(tr.epochs, 2);
    ck_assert_msg(rd_genotype_equal(&tr.genotype, &sr.genotype), "trained another genotype than the search found");
    char p[600];
    snprintf(p, sizeof p, "%s/train", dir);
    exists(p, "checkpoint.safetensors");
    exists(p, "report.json");
    snprintf(p, sizeof p, "%s/report.json", dir);
    json_object *rep = json_object_from_file(p), *tt;
    ck_assert_ptr_nonnull(rep);
    ck_assert_msg(json_object_object_get_ex(rep, "then_train", &tt), "the search's report has no then_train");
    ck_assert(jnum(tt, "test_acc") == tr.test_accuracy);
    ck_assert(jnum(tt, "C") == 4 && jnum(tt, "layers") == 3);
    json_object_put(rep);
    size_t len;
    snprintf(p, sizeof p, "%s/report.txt", dir);
    unsigned char *txt = fx_read(p, &len);
    txt[len] = 0;
    ck_assert_msg(strstr((char *)txt, "trained       test top-1"), "report.txt lacks the training line");
    free(txt);
    printf("then-train: test accuracy %.3f after %d epochs\n", tr.test_accuracy, tr.epochs);
    fx_rmdir(dir);
}
END_TEST

/* dst = src with metadata key set to value (every tensor and other entry as they were) */
static void rewrite_metadata(const char *src, const char *dst, const char *key, const char *value) {
    rd_err err;
    rd_st_file *f;
    ck_assert_msg(rd_st_open(src, &f, &err) == RD_OK, "%s", err.msg);
    rd_st_writer *w;
    ck_assert_int_eq(rd_st_writer_create(&w, &err), RD_OK);
    void **bufs = calloc((size_t)rd_st_count(f) + 1, sizeof *bufs);
    for (int i = 0; i < rd_st_count(f); i++) {
        const rd_st_info *t = rd_st_at(f, i);
        bufs[i] = malloc(t->nbytes + 1);
        ck_assert_int_eq(rd_st_read(f, t->name, t->dtype, -1, NULL, bufs[i], t->nbytes, &err), RD_OK);
        ck_assert_int_eq(rd_st_add(w, t->name, t->dtype, t->ndim, t->shape, bufs[i], &err), RD_OK);
    }
    for (int i = 0; i < rd_st_metadata_count(f); i++) {
        const char *k, *v;
        rd_st_metadata_at(f, i, &k, &v);
        ck_assert_int_eq(rd_st_add_metadata(w, k, strcmp(k, key) ? v : value, &err), RD_OK);
    }
    ck_assert_msg(rd_st_write(w, dst, &err) == RD_OK, "%s", err.msg);
    rd_st_writer_free(w);
    for (int i = 0; i < rd_st_count(f); i++) free(bufs[i]);
    free(bufs);
    rd_st_close(f);
}

/* A training checkpoint whose metadata is out of range, not finite or malformed is refused,
 * naming the file and the entry (what fuzz_train_checkpoint exercises at random). */
START_TEST(crafted_train_metadata_is_refused) {
    rd_train_config c;
    tiny(&c, 2);
    char dir[] = "/tmp/radars-train-crafted-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rd_train_result r;
    rd_err err;
    ck_assert_msg(run(&c, dir, 0, 6, &r, &err) == RD_OK, "%s", err.msg);
    char ck[600], bad[700];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    static const char *cases[][3] = {
        {"norm", "1 0.5 nan", "norm"},
        {"norm", "9 0 1", "norm"},
        {"norm", "1 inf 1", "norm"},
        {"state", "-1 0 0 0 0 0 0 0 0", "state"},
        {"state", "0 0 0 0 inf 0 0 0 0", "state"},
        {"state", "0 0 0 0 0 0 5 2 0", "state"}, /* more correct than seen */
        {"loader", "1 0 -4", "loader"},
        {"network", "C=4 layers=3 stem_multiplier=3 input=0x28x28 classes=10 batch=16 auxiliary=0", "network"},
        {"network", "C=4 layers=3 stem_multiplier=3 input=1x28x28 classes=1 batch=16 auxiliary=0", "network"},
        {"format", "radars-cl train checkpoint 9", "format 9"},
        {"genotype", "Genotype(normal=[", "genotype"},
        {"config", "[train]\nepoch = 3\n", "train.epoch"},
        {"metrics_bytes", "-7", "metrics_bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rewrite_metadata(ck, bad, cases[i][0], cases[i][1]);
        rd_train_checkpoint_info info;
        rd_status st = rd_train_checkpoint_peek(bad, &info, &err);
        ck_assert_msg(st == RD_ERR_FORMAT || st == RD_ERR_CONFIG, "%s = '%s': accepted (%d)", cases[i][0], cases[i][1], (int)st);
        ck_assert_msg(strstr(err.msg, bad) && strstr(err.msg, cases[i][2]), "%s: %s", cases[i][0], err.msg);
        ck_assert_ptr_null(strchr(err.msg, '\n'));
        printf("crafted %s = '%s': %s\n", cases[i][0], cases[i][1], err.msg);
    }
    /* an optimizer file named outside the checkpoint's folder: refused when the momentum is loaded */
    rewrite_metadata(ck, bad, "optimizer", "../../etc/passwd");
    rd_train_config c2;
    tiny(&c2, 2);
    char dir2[] = "/tmp/radars-train-crafted2-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir2));
    char ck2[600], cmd[1500];
    snprintf(ck2, sizeof ck2, "%s/checkpoint.safetensors", dir2);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s/config.ini' '%s/'", bad, ck2, dir, dir2);
    ck_assert_int_eq(system(cmd), 0);
    rd_status st = run(&c2, dir2, 1, 0, &r, &err);
    ck_assert_int_eq(st, RD_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "not the name of an optimizer file"), "%s", err.msg);
    fx_rmdir(dir);
    fx_rmdir(dir2);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("train_e2e");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 1500);
    tcase_add_test(tc, tiny_run_writes_everything);
    tcase_add_test(tc, crafted_train_metadata_is_refused);
    tcase_add_test(tc, resume_mid_epoch_bit_identical);
    tcase_add_test(tc, resume_at_epoch_end_bit_identical);
    tcase_add_test(tc, eval_reports_the_final_accuracy);
    tcase_add_test(tc, checkpoint_loads_in_pytorch_with_the_same_logits);
    tcase_add_test(tc, search_then_train_reports_test_accuracy);
    tcase_add_test(tc, auxiliary_head_on_cifar10_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int rc = tu_run_suite(suite());
    if (data_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
        if (system(cmd) != 0) rc = 1;
    }
    return rc;
}
