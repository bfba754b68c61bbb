/* Optimizers against a host re-implementation of PyTorch 1.13's update rules
 * (several steps on the device's own state, over one parameter buffer), and,
 * when /usr/bin/python3 can import torch, against torch.optim itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static double *alloc_d(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static double as_float(double x) { return (double)(float)x; }

/* Rounds x to float in place and writes it to v (as tu_vec_from, into an existing vector). */
static void write_vec(const rd_vec *v, double *x) {
    float *f = malloc(v->len * sizeof *f + 1);
    for (size_t i = 0; i < v->len; i++) x[i] = f[i] = (float)x[i];
    TU_OK(rd_vec_write(tu_ctx(), v, f));
    free(f);
}

/* The DARTS weight step: clip_grad_norm_(5), then SGD (momentum 0.9, weight decay 3e-4)
 * with the cosine learning rate; the DARTS alpha step: Adam (3e-4, betas 0.5/0.999, wd 1e-3). */
static const float max_norm = 5.0f;
static const rd_sgd_params sgd = {0.9f, 3e-4f};
static const double lr_max = 0.025, lr_min = 0.001;
static const rd_adam_params adam = {0.5f, 0.999f, 1e-8f, 1e-3f};
static const double adam_lr = 3e-4;
enum { EPOCHS = 10, STEPS = 6 };

/* step s's gradient: large (clipped) on even steps, small (not clipped) on odd ones */
static void step_grad(tu_rng *r, double *g, size_t len, int s) {
    double scale = s % 2 ? 0.05 / sqrt((double)len) : 1.0;
    tu_fill(r, g, len, -scale, scale);
}

START_TEST(sgd_with_clip_matches_reference) {
    static const size_t lens[] = {1, 65, 1000, 2000003};
    tu_rng rng = {9};
    rd_ctx *ctx = tu_ctx();
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        size_t len = lens[li];
        if (tu_too_big(len)) continue;
        double *p = alloc_d(len), *buf = alloc_d(len), *g = alloc_d(len), *got = alloc_d(len);
        tu_fill(&rng, p, len, -1, 1);
        rd_vec vp = tu_vec_from(p, len), vg = tu_vec(len), vbuf = tu_vec(len), vscale = tu_vec(1), vnorm = tu_vec(1);
        TU_OK(rd_vec_fill(ctx, &vbuf, 0.0f));
        for (int s = 0; s < STEPS; s++) {
            step_grad(&rng, g, len, s);
            write_vec(&vg, g);
            float lr = (float)rd_cosine_lr(lr_max, lr_min, s, EPOCHS);
            TU_OK(rd_clip_grad_norm(ctx, &vg, max_norm, &vscale, &vnorm));
            TU_OK(rd_sgd_step(ctx, &sgd, lr, &vp, &vg, &vbuf, &vscale));
            double norm, want_norm, scale, want_scale = ref_clip_scale(g, len, max_norm, &want_norm);
            ref_sgd_step(p, g, buf, len, lr, as_float(sgd.momentum), as_float(sgd.weight_decay), want_scale);
            tu_vec_read(&vnorm, &norm);
            tu_vec_read(&vscale, &scale);
            tu_assert_close("clip norm", &norm, &want_norm, 1, 1e-7, 1e-5);
            tu_assert_close("clip scale", &scale, &want_scale, 1, 1e-7, 1e-5);
            ck_assert_msg(s % 2 == 0 || scale == 1.0, "step %d: a small gradient was scaled by %g", s, scale);
            ck_assert_msg(s % 2 == 1 || len < 100 || scale < 1.0, "step %d: a large gradient was not clipped", s);
            tu_vec_read(&vp, got);
            tu_assert_close("sgd param", got, p, len, 1e-6, 1e-5);
            tu_vec_read(&vbuf, got);
            tu_assert_close("sgd momentum buffer", got, buf, len, 1e-6, 1e-5);
            /* the gradient is left unscaled */
            tu_vec_read(&vg, got);
            tu_assert_close("sgd grad untouched", got, g, len, 0, 0);
        }
        free(p); free(buf); free(g); free(got);
        tu_free_all();
    }
}
END_TEST

START_TEST(sgd_without_momentum_decay_or_scale) {
    tu_rng rng = {10};
    rd_ctx *ctx = tu_ctx();
    size_t len = 777;
    static const rd_sgd_params variants[] = {{0.0f, 0.0f}, {0.0f, 1e-2f}, {0.5f, 0.0f}};
    for (int vi = 0; vi < 3; vi++) {
        double *p = alloc_d(len), *buf = alloc_d(len), *g = alloc_d(len), *got = alloc_d(len);
        tu_fill(&rng, p, len, -1, 1);
        rd_vec vp = tu_vec_from(p, len), vg = tu_vec(len), vbuf = tu_vec(len);
        TU_OK(rd_vec_fill(ctx, &vbuf, 0.0f));
        const rd_sgd_params *sp = &variants[vi];
        for (int s = 0; s < STEPS; s++) {
            tu_fill(&rng, g, len, -1, 1);
            write_vec(&vg, g);
            TU_OK(rd_sgd_step(ctx, sp, 0.1f, &vp, &vg, sp->momentum != 0 ? &vbuf : NULL, NULL));
            ref_sgd_step(p, g, buf, len, as_float(0.1), as_float(sp->momentum), as_float(sp->weight_decay), 1.0);
        }
        tu_vec_read(&vp, got);
        tu_assert_close("sgd variant param", got, p, len, 1e-6, 1e-5);
        free(p); free(buf); free(g); free(got);
        tu_free_all();
    }
}
END_TEST

START_TEST(adam_matches_reference) {
    static const size_t lens[] = {2 * 14 * 8, 1, 10001};
    tu_rng rng = {12};
    rd_ctx *ctx = tu_ctx();
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        size_t len = lens[li];
        if (tu_too_big(len)) continue;
        double *p = alloc_d(len), *m = alloc_d(len), *v = alloc_d(len), *g = alloc_d(len), *got = alloc_d(len);
        tu_fill(&rng, p, len, -1e-3, 1e-3);
        rd_vec vp = tu_vec_from(p, len), vg = tu_vec(len), vm = tu_vec(len), vv = tu_vec(len);
        TU_OK(rd_vec_fill(ctx, &vm, 0.0f));
        TU_OK(rd_vec_fill(ctx, &vv, 0.0f));
        for (int s = 1; s <= STEPS; s++) {
            tu_fill(&rng, g, len, -1e-2, 1e-2);
            write_vec(&vg, g);
            TU_OK(rd_adam_step(ctx, &adam, (float)adam_lr, s, &vp, &vg, &vm, &vv));
            /* PyTorch computes 1 - beta and beta^t from the Python doubles 0.5 and 0.999 */
            ref_adam_step(p, g, m, v, len, adam_lr, 0.5, 0.999, as_float(adam.eps), as_float(adam.weight_decay), s);
            tu_vec_read(&vm, got);
            tu_assert_close("adam m", got, m, len, 1e-9, 1e-5);
            tu_vec_read(&vv, got);
            tu_assert_close("adam v", got, v, len, 1e-13, 1e-5);
            tu_vec_read(&vp, got);
            tu_assert_close("adam param", got, p, len, 1e-8, 1e-5);
        }
        free(p); free(m); free(v); free(g); free(got);
        tu_free_all();
    }
}
END_TEST

START_TEST(clip_edge_cases) {
    rd_ctx *ctx = tu_ctx();
    double g[5] = {3, 4, 0, 0, 0}, scale, norm;
    rd_vec vg = tu_vec_from(g, 5), vs = tu_vec(1), vn = tu_vec(1);
    /* norm 5 under max 5: coef = 5 / (5 + 1e-6) < 1, as in PyTorch (applied, barely) */
    TU_OK(rd_clip_grad_norm(ctx, &vg, 5.0f, &vs, &vn));
    tu_vec_read(&vs, &scale);
    tu_vec_read(&vn, &norm);
    ck_assert(norm == 5.0);
    ck_assert(scale == (double)(5.0f / (5.0f + 1e-6f)));
    /* well under the max: exactly 1; an infinite max: exactly 1 (the norm alone) */
    TU_OK(rd_clip_grad_norm(ctx, &vg, 100.0f, &vs, NULL));
    tu_vec_read(&vs, &scale);
    ck_assert(scale == 1.0);
    TU_OK(rd_clip_grad_norm(ctx, &vg, INFINITY, &vs, &vn));
    tu_vec_read(&vs, &scale);
    ck_assert(scale == 1.0);
    /* zero gradient: norm 0, scale 1 */
    double z[5] = {0};
    rd_vec vz = tu_vec_from(z, 5);
    TU_OK(rd_clip_grad_norm(ctx, &vz, 5.0f, &vs, &vn));
    tu_vec_read(&vs, &scale);
    tu_vec_read(&vn, &norm);
    ck_assert(scale == 1.0 && norm == 0.0);
    /* a NaN gradient gives a NaN norm and scale (torch.clamp keeps NaN), so SGD makes the params NaN */
    g[2] = NAN;
    vg = tu_vec_from(g, 5);
    TU_OK(rd_clip_grad_norm(ctx, &vg, 5.0f, &vs, &vn));
    tu_vec_read(&vs, &scale);
    tu_vec_read(&vn, &norm);
    ck_assert(isnan(scale) && isnan(norm));
    tu_free_all();
}
END_TEST

START_TEST(cosine_lr) {
    ck_assert(rd_cosine_lr(0.025, 0.001, 0, 50) == 0.025);
    ck_assert(fabs(rd_cosine_lr(0.025, 0.001, 50, 50) - 0.001) < 1e-15);
    ck_assert(fabs(rd_cosine_lr(0.025, 0.001, 25, 50) - 0.013) < 1e-15);
    ck_assert(fabs(rd_cosine_lr(0.025, 0.001, 10, 50) - (0.001 + 0.024 * (1 + cos(3.14159265358979323846 / 5)) / 2)) < 1e-15);
    for (int e = 1; e <= 50; e++) ck_assert(rd_cosine_lr(0.025, 0.001, e, 50) < rd_cosine_lr(0.025, 0.001, e - 1, 50));
    ck_assert(rd_cosine_lr(0.1, 0.0, 3, 0) == 0.1);
}
END_TEST

static void expect_arg_error(rd_status s, const char *needle) {
    ck_assert_int_eq(s, RD_ERR_ARG);
    const char *msg = rd_ctx_error(tu_ctx());
    ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    ck_assert_msg(strchr(msg, '\n') == NULL, "message '%s' is not one line", msg);
}

START_TEST(optim_errors) {
    rd_ctx *ctx = tu_ctx();
    rd_vec p = tu_vec(10), g = tu_vec(10), g9 = tu_vec(9), one = tu_vec(1), two = tu_vec(2), m = tu_vec(10),
           v = tu_vec(10);
    expect_arg_error(rd_sgd_step(ctx, &sgd, 0.1f, &p, &g9, &m, NULL), "sgd: grad has 9 floats, expected 10");
    expect_arg_error(rd_sgd_step(ctx, &sgd, 0.1f, &p, &g, NULL, NULL), "sgd: momentum 0.9 needs a momentum buffer");
    expect_arg_error(rd_sgd_step(ctx, &sgd, 0.1f, &p, &g, &g9, NULL), "sgd: momentum buffer has 9 floats");
    expect_arg_error(rd_sgd_step(ctx, &sgd, 0.1f, &p, &g, &m, &two), "sgd: grad_scale has 2 floats, expected 1");
    expect_arg_error(rd_adam_step(ctx, &adam, 0.1f, 0, &p, &g, &m, &v), "adam: step 0, steps count from 1");
    expect_arg_error(rd_adam_step(ctx, &adam, 0.1f, 1, &p, &g, &g9, &v), "adam: m has 9 floats");
    rd_adam_params bad = adam;
    bad.beta2 = 1.0f;
    expect_arg_error(rd_adam_step(ctx, &bad, 0.1f, 1, &p, &g, &m, &v), "adam: betas (0.5, 1) must lie in [0, 1)");
    expect_arg_error(rd_clip_grad_norm(ctx, &g, -1.0f, &one, NULL), "clip_grad_norm: max_norm -1 must be >= 0");
    expect_arg_error(rd_clip_grad_norm(ctx, &g, 5.0f, &two, NULL), "clip_grad_norm: scale has 2 floats");
    expect_arg_error(rd_clip_grad_norm(ctx, &g, 5.0f, &one, &two), "clip_grad_norm: norm has 2 floats");
    tu_free_all();
}
END_TEST

/* ---- the same steps in PyTorch ---- */
static const char torch_script[] =
    "import struct, sys\n"
    "try:\n"
    "    import torch\n"
    "except ImportError:\n"
    "    sys.exit(77)\n"
    "d, n, na, steps, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])\n"
    "lr_max, lr_min, max_norm = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])\n"
    "torch.set_num_threads(1)\n"
    "def rd(name, count):\n"
    "    b = open(d + '/' + name, 'rb').read()\n"
    "    assert len(b) == 4 * count, name\n"
    "    return torch.tensor(struct.unpack('%df' % count, b), dtype=torch.float32)\n"
    "def wr(name, t):\n"
    "    open(d + '/' + name, 'wb').write(struct.pack('%df' % t.numel(), *t.tolist()))\n"
    "# one network's weights as three parameters: clip_grad_norm_ takes the norm over all\n"
    "splits = [n // 2, 17, n - n // 2 - 17]\n"
    "g = rd('sgd_g', steps * n).view(steps, n)\n"
    "ps = [torch.nn.Parameter(x.clone()) for x in torch.split(rd('sgd_p', n), splits)]\n"
    "opt = torch.optim.SGD(ps, lr=lr_max, momentum=0.9, weight_decay=3e-4)\n"
    "sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, float(epochs), eta_min=lr_min)\n"
    "lrs = []\n"
    "for s in range(steps):\n"
    "    for p, gs in zip(ps, torch.split(g[s], splits)):\n"
    "        p.grad = gs.clone()\n"
    "    torch.nn.utils.clip_grad_norm_(ps, max_norm)\n"
    "    lrs.append(opt.param_groups[0]['lr'])\n"
    "    opt.step()\n"
    "    sch.step()\n"
    "wr('sgd_out', torch.cat([p.detach() for p in ps] + [opt.state[p]['momentum_buffer'] for p in ps]))\n"
    "open(d + '/lrs', 'wb').write(struct.pack('%dd' % steps, *lrs))\n"
    "# alphas_normal and alphas_reduce in one buffer\n"
    "ga = rd('adam_g', steps * na).view(steps, na)\n"
    "ps = [torch.nn.Parameter(x.clone()) for x in torch.split(rd('adam_p', na), [na // 2, na - na // 2])]\n"
    "opt = torch.optim.Adam(ps, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)\n"
    "for s in range(steps):\n"
    "    for p, gs in zip(ps, torch.split(ga[s], [na // 2, na - na // 2])):\n"
    "        p.grad = gs.clone()\n"
    "    opt.step()\n"
    "wr('adam_out', torch.cat([p.detach() for p in ps] + [opt.state[p]['exp_avg'] for p in ps] +\n"
    "                         [opt.state[p]['exp_avg_sq'] for p in ps]))\n";

static void write_file(const char *dir, const char *name, const void *data, size_t bytes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(data, 1, bytes, f) == bytes);
    fclose(f);
}

static void read_file(const char *dir, const char *name, void *data, size_t bytes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    ck_assert_msg(fread(data, 1, bytes, f) == bytes, "%s is short", path);
    fclose(f);
}

static void write_floats(const char *dir, const char *name, const double *x, size_t n) {
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    write_file(dir, name, f, n * sizeof *f);
    free(f);
}

static void remove_dir(const char *dir) {
    static const char *names[] = {"script.py", "sgd_p", "sgd_g", "adam_p", "adam_g", "sgd_out", "adam_out", "lrs"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    rmdir(dir);
}

START_TEST(matches_pytorch) {
    const char *python = getenv("RADARS_PYTHON") ? getenv("RADARS_PYTHON") : "/usr/bin/python3";
    if (access(python, X_OK) != 0) {
        fprintf(stderr, "test_optim: PyTorch cross-check skipped: no %s\n", python);
        return;
    }
    if (tu_too_big(10007)) return; /* a PyTorch cross-check, not a kernel path of its own */
    char dir[] = "/tmp/radars-optim-XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    const size_t n = 10007, na = 2 * 14 * 8;
    tu_rng rng = {77};
    double *p = alloc_d(n), *g = alloc_d(STEPS * n), *a = alloc_d(na), *ga = alloc_d(STEPS * na);
    tu_fill(&rng, p, n, -1, 1);
    for (int s = 0; s < STEPS; s++) step_grad(&rng, g + s * n, n, s);
    tu_fill(&rng, a, na, -1e-3, 1e-3);
    tu_fill(&rng, ga, STEPS * na, -1e-2, 1e-2);
    write_file(dir, "script.py", torch_script, sizeof torch_script - 1);
    write_floats(dir, "sgd_p", p, n);
    write_floats(dir, "sgd_g", g, STEPS * n);
    write_floats(dir, "adam_p", a, na);
    write_floats(dir, "adam_g", ga, STEPS * na);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/script.py %s %zu %zu %d %d %.17g %.17g %.9g", python, dir, dir, n, na, STEPS,
             EPOCHS, lr_max, lr_min, (double)max_norm);
    int rc = system(cmd);
    if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
        fprintf(stderr, "test_optim: PyTorch cross-check skipped: %s cannot import torch\n", python);
        remove_dir(dir);
        free(p); free(g); free(a); free(ga);
        return;
    }
    /* read PyTorch's results and clean up before any assertion can leave the test */
    int ok = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
    float *sgd_out = calloc(2 * n, sizeof *sgd_out), *adam_out = calloc(3 * na, sizeof *adam_out);
    double lrs[STEPS] = {0};
    if (ok) {
        read_file(dir, "lrs", lrs, sizeof lrs);
        read_file(dir, "sgd_out", sgd_out, 2 * n * sizeof *sgd_out);
        read_file(dir, "adam_out", adam_out, 3 * na * sizeof *adam_out);
    }
    remove_dir(dir);
    ck_assert_msg(ok, "the PyTorch script failed: %s", cmd);

    /* the same steps on the device: one buffer for all parameters */
    rd_ctx *ctx = tu_ctx();
    rd_vec vp = tu_vec_from(p, n), vg = tu_vec(n), vbuf = tu_vec(n), vs = tu_vec(1);
    TU_OK(rd_vec_fill(ctx, &vbuf, 0.0f));
    for (int s = 0; s < STEPS; s++) {
        double lr = rd_cosine_lr(lr_max, lr_min, s, EPOCHS);
        ck_assert_msg(fabs(lr - lrs[s]) <= 1e-12 * lrs[s], "epoch %d: cosine lr %.17g, PyTorch %.17g", s, lr, lrs[s]);
        write_vec(&vg, g + s * n);
        TU_OK(rd_clip_grad_norm(ctx, &vg, max_norm, &vs, NULL));
        TU_OK(rd_sgd_step(ctx, &sgd, (float)lr, &vp, &vg, &vbuf, &vs));
    }
    double *want = alloc_d(3 * n), *got = alloc_d(3 * n);
    for (size_t i = 0; i < 2 * n; i++) want[i] = sgd_out[i];
    tu_vec_read(&vp, got);
    tu_assert_close("sgd param vs PyTorch", got, want, n, 1e-7, 1e-6);
    tu_vec_read(&vbuf, got);
    tu_assert_close("sgd momentum vs PyTorch", got, want + n, n, 1e-7, 1e-6);

    rd_vec va = tu_vec_from(a, na), vga = tu_vec(na), vm = tu_vec(na), vv = tu_vec(na);
    TU_OK(rd_vec_fill(ctx, &vm, 0.0f));
    TU_OK(rd_vec_fill(ctx, &vv, 0.0f));
    for (int s = 1; s <= STEPS; s++) {
        write_vec(&vga, ga + (s - 1) * na);
        TU_OK(rd_adam_step(ctx, &adam, (float)adam_lr, s, &va, &vga, &vm, &vv));
    }
    for (size_t i = 0; i < 3 * na; i++) want[i] = adam_out[i];
    tu_vec_read(&va, got);
    tu_assert_close("adam param vs PyTorch", got, want, na, 1e-9, 1e-6);
    tu_vec_read(&vm, got);
    tu_assert_close("adam m vs PyTorch", got, want + na, na, 1e-10, 1e-6);
    tu_vec_read(&vv, got);
    tu_assert_close("adam v vs PyTorch", got, want + 2 * na, na, 1e-13, 1e-6);
    free(p); free(g); free(a); free(ga); free(sgd_out); free(adam_out); free(want); free(got);
    tu_free_all();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, sgd_with_clip_matches_reference);
    tcase_add_test(tc, sgd_without_momentum_decay_or_scale);
    tcase_add_test(tc, adam_matches_reference);
    tcase_add_test(tc, clip_edge_cases);
    tcase_add_test(tc, cosine_lr);
    tcase_add_test(tc, optim_errors);
    tcase_add_test(tc, matches_pytorch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
