/* Times pooling and batch norm, forward and backward, at the DARTS supernet's
 * shapes on the selected OpenCL device.
 *   bench_poolbn [-d DEVICE] [-n BATCH] [-r REPS] [-k KEYWORD] [-s SETS]
 * (-k: only the lines whose name contains KEYWORD, e.g. max_pool, "3x3 s2", bn;
 *  -s: cycle through SETS copies of every buffer, so that with enough of them
 *  (over the last-level cache) each call streams from memory as in a network
 *  step; default 1: the data stay in cache between calls).
 * Each figure is the median over REPS timed runs of one call (after a warm-up),
 * queue drained before and after; the fastest run is shown too (on a shared
 * machine it is the better guide to what the op costs). GB/s counts the bytes
 * each kernel of the op reads and writes once (an op that reads x in two
 * kernels counts it twice): the traffic the implementation asks of memory per
 * call, part of which the caches may serve. An axpy (y += a x) at the same
 * sizes gives the element-wise kernels' rate for comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radars/radars.h"
#include "bench_util.h"

static rd_ctx *g_ctx;
static int g_reps = 15, g_sets = 1;
static const char *g_keyword;
static double g_min;  /* fastest run of the last time_op */

static int wanted(const char *name) { return !g_keyword || strstr(name, g_keyword); }

static void die(const char *what) {
    fprintf(stderr, "bench_poolbn: %s: %s\n", what, rd_ctx_error(g_ctx));
    exit(1);
}
#define CHECK(expr) do { if ((expr) != RD_OK) die(#expr); } while (0)

/* One op call, for timing. */
typedef rd_status (*op_fn)(void *u);

/* u: g_sets argument structs of size bytes, used in turn; returns the median */
static double time_op(op_fn f, void *u, size_t size) {
    double t[64];
    int reps = g_reps < 64 ? g_reps : 64;
    for (int i = 0; i < g_sets + 1; i++) CHECK(f((char *)u + (size_t)(i % g_sets) * size));
    CHECK(rd_finish(g_ctx));
    for (int i = 0; i < reps; i++) {
        void *ui = (char *)u + (size_t)(i % g_sets) * size;
        double t0 = bench_now();
        CHECK(f(ui));
        CHECK(rd_finish(g_ctx));
        t[i] = bench_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
    g_min = t[0];
    return t[reps / 2];
}

/* median time and its GB/s, then the fastest run's */
static void report(const char *name, const char *shape, double sec, double min_sec, double bytes) {
    printf("%-34s %-14s %8.3f ms %7.2f GB/s", name, shape, sec * 1e3, bytes / sec * 1e-9);
    if (min_sec > 0) printf("   (min %7.3f ms %7.2f GB/s)", min_sec * 1e3, bytes / min_sec * 1e-9);
    printf("\n");
}

/* buffers of the current configuration, freed by free_buffers() */
static rd_buffer *g_bufs[1024];
static int g_nbufs;

static void track(rd_buffer *b) {
    if (g_nbufs == 1024) {
        fprintf(stderr, "bench_poolbn: too many buffers\n");
        exit(1);
    }
    g_bufs[g_nbufs++] = b;
}

static void free_buffers(void) {
    CHECK(rd_finish(g_ctx));
    while (g_nbufs) rd_free(g_ctx, g_bufs[--g_nbufs]);
}

static rd_tensor tensor(int n, int c, int h, int w, float value) {
    rd_buffer *b;
    rd_tensor t;
    CHECK(rd_tensor_alloc(g_ctx, n, c, h, w, "bench", &b, &t));
    track(b);
    CHECK(rd_fill(g_ctx, &t, value));
    return t;
}

static rd_vec vec(size_t len, float value) {
    rd_buffer *b;
    CHECK(rd_alloc(g_ctx, len * sizeof(float), "bench", &b));
    track(b);
    rd_vec v = rd_vec_make(rd_buffer_mem(b), 0, len);
    CHECK(rd_vec_fill(g_ctx, &v, value));
    return v;
}

typedef struct pool_args { rd_pool_params p; rd_tensor x, y, dy, dx; } pool_args;
static rd_status pool_fwd(void *u) {
    pool_args *a = u;
    return rd_pool2d_forward(g_ctx, &a->p, &a->x, &a->y);
}
static rd_status pool_bwd(void *u) {
    pool_args *a = u;
    return rd_pool2d_backward(g_ctx, &a->p, &a->x, &a->dy, &a->dx, 1);
}

typedef struct bn_args { rd_bn_params p; rd_bn_state s; rd_tensor x, y, acc, dy, dx; rd_vec w, dot; } bn_args;
static rd_status bn_fwd(void *u) {
    bn_args *a = u;
    return rd_batchnorm_forward_train(g_ctx, &a->p, &a->s, &a->x, &a->y, &a->w, &a->acc);
}
static rd_status bn_fwd_plain(void *u) {
    bn_args *a = u;
    return rd_batchnorm_forward_train(g_ctx, &a->p, &a->s, &a->x, &a->y, NULL, NULL);
}
static rd_status bn_eval(void *u) {
    bn_args *a = u;
    return rd_batchnorm_forward_eval(g_ctx, &a->p, &a->s, &a->x, &a->y);
}
static rd_status bn_bwd(void *u) {
    bn_args *a = u;
    return rd_batchnorm_backward(g_ctx, &a->p, &a->s, NULL, &a->y, &a->dy, &a->w, &a->dx, 0, NULL, NULL, &a->dot);
}

typedef struct axpy_args { rd_tensor x, y; } axpy_args;
static rd_status axpy(void *u) {
    axpy_args *a = u;
    return rd_axpy(g_ctx, 0.5f, &a->x, &a->y, 1);
}

int main(int argc, char **argv) {
    const char *device = NULL;
    int batch = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-k") && i + 1 < argc) g_keyword = argv[++i];
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) g_sets = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_poolbn [-d DEVICE] [-n BATCH] [-r REPS] [-k KEYWORD] [-s SETS]\n");
            return 2;
        }
    }
    if (g_reps < 1) g_reps = 1;
    if (g_sets < 1 || g_sets > 64) g_sets = g_sets < 1 ? 1 : 64;
    rd_err err = {0};
    rd_ctx_options opt = {0};
    opt.device = device;
    if (rd_ctx_create(&opt, &g_ctx, &err) != RD_OK) {
        fprintf(stderr, "bench_poolbn: %s\n", err.msg);
        return 1;
    }
    const rd_device_info *d = rd_ctx_device(g_ctx);
    printf("device: %s (%s, %u compute units), batch %d, median of %d, %d buffer set%s\n", d->name,
           rd_device_type_name(d->type), d->compute_units, batch, g_reps, g_sets, g_sets > 1 ? "s" : "");
    const double F = sizeof(float);
    char shape[64];

    /* the supernet's feature maps: C=16 at 28x28, 32 at 14x14, 64 at 7x7 */
    static const int maps[3][2] = {{16, 28}, {32, 14}, {64, 7}};
    for (int m = 0; m < 3; m++) {
        int C = maps[m][0], H = maps[m][1];
        if (!wanted("axpy")) break;
        axpy_args a[64];
        for (int k = 0; k < g_sets; k++) a[k] = (axpy_args){tensor(batch, C, H, H, 0), tensor(batch, C, H, H, 0)};
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", batch, C, H, H);
        double t = time_op(axpy, a, sizeof *a);
        report("axpy y += a x (reference)", shape, t, g_min, 3.0 * F * rd_tensor_numel(&a[0].x));
        free_buffers();
    }

    for (int m = 0; m < 3; m++)
        for (int stride = 1; stride <= 2; stride++) {
            int C = maps[m][0], H = maps[m][1];
            if (H == 7 && stride == 2) continue;  /* the last reduction is at 14x14 */
            for (int kind = 0; kind < 2; kind++)
                for (int k = 3; k <= 5; k += 2) {
                    char name[64];
                    snprintf(name, sizeof name, "%s_pool %dx%d s%d", kind ? "avg" : "max", k, k, stride);
                    if (!wanted(name)) continue;
                    pool_args a[64];
                    for (int q = 0; q < g_sets; q++) {
                        a[q].p = (rd_pool_params){kind ? RD_POOL_AVG : RD_POOL_MAX, k, stride, k / 2};
                        int oh = rd_pool_out_size(&a[q].p, H);
                        a[q].x = tensor(batch, C, H, H, 0);
                        CHECK(bench_random_tensor(g_ctx, &a[q].x, 7 + (unsigned)q));
                        a[q].y = tensor(batch, C, oh, oh, 0);
                        a[q].dy = tensor(batch, C, oh, oh, 0.5f);
                        a[q].dx = tensor(batch, C, H, H, 0);
                    }
                    double nx = (double)rd_tensor_numel(&a[0].x), ny = (double)rd_tensor_numel(&a[0].y);
                    snprintf(name, sizeof name, "%s_pool %dx%d s%d forward", kind ? "avg" : "max", k, k, stride);
                    snprintf(shape, sizeof shape, "%dx%dx%dx%d", batch, C, H, H);
                    double tf = time_op(pool_fwd, a, sizeof *a), tf_min = g_min;
                    report(name, shape, tf, tf_min, F * (nx + ny));
                    snprintf(name, sizeof name, "%s_pool %dx%d s%d backward", kind ? "avg" : "max", k, k, stride);
                    /* max: arg-max pass (x in, a byte per output out), gather (dy, bytes, dx read+write);
                     * avg: gather (dy, dx read + write); dx accumulates */
                    double bytes = kind ? F * (ny + 2 * nx) : F * nx + ny + (F * ny + ny + 2 * F * nx);
                    double tb = time_op(pool_bwd, a, sizeof *a), tb_min = g_min;
                    report(name, shape, tb, tb_min, bytes);
                    snprintf(name, sizeof name, "%s_pool %dx%d s%d fwd+bwd", kind ? "avg" : "max", k, k, stride);
                    report(name, shape, tf + tb, tf_min + tb_min, F * (nx + ny) + bytes);
                    free_buffers();
                }
        }

    for (int m = 0; m < 3; m++) {
        int C = maps[m][0], H = maps[m][1];
        if (!wanted("bn")) break;
        bn_args a[64];
        memset(a, 0, sizeof a);
        for (int q = 0; q < g_sets; q++) {
            a[q].p = (rd_bn_params){1e-5f, 0.1f};
            a[q].x = tensor(batch, C, H, H, 0);
            CHECK(bench_random_tensor(g_ctx, &a[q].x, 3 + (unsigned)q));
            a[q].y = tensor(batch, C, H, H, 0);
            a[q].acc = tensor(batch, C, H, H, 0);
            a[q].dy = tensor(batch, C, H, H, 0);
            CHECK(bench_random_tensor(g_ctx, &a[q].dy, 5 + (unsigned)q));
            a[q].dx = tensor(batch, C, H, H, 0);
            a[q].w = vec(1, 0.3f);
            a[q].dot = vec((size_t)C, 0);
            a[q].s.running_mean = vec((size_t)C, 0);
            a[q].s.running_var = vec((size_t)C, 1);
            a[q].s.save_mean = vec((size_t)C, 0);
            a[q].s.save_invstd = vec((size_t)C, 1);
        }
        double n = (double)rd_tensor_numel(&a[0].x);
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", batch, C, H, H);
        /* stats read x twice (the second read from cache on most devices: counted once), apply reads x,
         * writes y */
        double tf0 = time_op(bn_fwd_plain, a, sizeof *a);
        report("bn train forward", shape, tf0, g_min, F * 3 * n);
        /* + accum read and write */
        double tf = time_op(bn_fwd, a, sizeof *a), tf_min = g_min;
        report("bn train forward + accumulate", shape, tf, tf_min, F * 5 * n);
        double te = time_op(bn_eval, a, sizeof *a);
        report("bn eval forward", shape, te, g_min, F * 2 * n);
        /* partial sums read y and dy, the dx pass reads both again and writes dx */
        double tb = time_op(bn_bwd, a, sizeof *a), tb_min = g_min;
        report("bn backward (from y, scale, dot)", shape, tb, tb_min, F * 5 * n);
        report("bn fwd(+acc)+bwd", shape, tf + tb, tf_min + tb_min, F * 10 * n);
        free_buffers();
    }
    rd_ctx_free(g_ctx);
    return 0;
}
