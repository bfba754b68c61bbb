/* bench_train: seconds per training step of a genotype's network (forward,
 * backward, gradient clip, SGD with momentum; waiting for the device after
 * each step) after a warm-up step, on random data, and the peak device memory
 * counted by the allocator. tools/bench_train.py runs it beside PyTorch and
 * parses images_per_s and peak_device_mb.
 *   bench_train [--genotype DARTS_V2] [--C 16] [--layers 8] [--batch 64] [--steps 5] [--hw 28] [--cin 1]
 *               [--classes 10] [--auxiliary] [--drop-path P] [--device SEL] [--profile] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radars/radars.h"
#include "bench_util.h"

static int fail(rd_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_train: %s: %s\n", what, ctx ? rd_ctx_error(ctx) : "");
    return 1;
}

int main(int argc, char **argv) {
    int C = 16, layers = 8, batch = 64, hw = 28, cin = 1, classes = 10, steps = 5, aux = 0, profile = 0;
    double drop_path = 0;
    const char *genotype = "DARTS_V2", *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: bench_train [--genotype DARTS_V2] [--C 16] [--layers 8] [--batch 64] [--steps 5] [--hw 28]\n"
                   "                   [--cin 1] [--classes 10] [--auxiliary] [--drop-path P] [--device SEL] [--profile]\n"
                   "Times training steps of the network a genotype describes (forward + backward + gradient clip\n"
                   "+ SGD, waiting for the device after each) on random data after one warm-up step, and prints\n"
                   "  images_per_s=X step_s_median=Y peak_device_mb=Z params=P\n"
                   "(peak: the allocator's, network + optimizer + batch). --genotype: a name under\n"
                   "configs/genotypes, a file, a run directory or Genotype(...) text.\n");
            return 0;
        }
        if (!strcmp(a, "--auxiliary")) { aux = 1; continue; }
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!v) { fprintf(stderr, "bench_train: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--C")) C = atoi(v);
        else if (!strcmp(a, "--layers")) layers = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--hw")) hw = atoi(v);
        else if (!strcmp(a, "--cin")) cin = atoi(v);
        else if (!strcmp(a, "--classes")) classes = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--drop-path")) drop_path = atof(v);
        else if (!strcmp(a, "--genotype")) genotype = v;
        else if (!strcmp(a, "--device")) device = v;
        else { fprintf(stderr, "bench_train: unknown option %s\n", a); return 2; }
        i++;
    }
    if (steps < 1 || batch < 1 || classes < 2) { fprintf(stderr, "bench_train: --steps, --batch >= 1, --classes >= 2\n"); return 2; }
    rd_err err = {0};
    char d1[4200], d2[4200];
    const char *src = getenv("RADARS_SOURCE_DIR");
    snprintf(d1, sizeof d1, "configs/genotypes");
    snprintf(d2, sizeof d2, "%s/configs/genotypes", src ? src : RADARS_SOURCE_DIR);
    const char *dirs[] = {d1, d2, NULL};
    rd_network_config c;
    rd_network_config_default(&c);
    if (rd_genotype_resolve(genotype, dirs, &c.genotype, NULL, 0, &err) != RD_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    c.C = C; c.layers = layers; c.batch = batch; c.in_channels = cin; c.in_h = c.in_w = hw; c.classes = classes;
    c.auxiliary = aux;
    if (rd_network_config_check(&c, &err) != RD_OK) { fprintf(stderr, "bench_train: %s\n", err.msg); return 1; }
    rd_ctx_options opt = {0};
    opt.device = device;
    opt.profile = profile;
    rd_ctx *ctx;
    if (rd_ctx_create(&opt, &ctx, &err) != RD_OK) { fprintf(stderr, "bench_train: %s\n", err.msg); return 1; }
    char note[1400];
    rd_tuning_load(ctx, note, sizeof note);
    fprintf(stderr, "bench_train: %s\n", note);
    rd_mem_reset_peak(ctx);
    uint64_t base = rd_mem_get_stats(ctx).current;
    rd_network *net;
    if (rd_network_create(ctx, &c, 1, &net) != RD_OK) return fail(ctx, "network");
    rd_network_set_drop_path(net, (float)drop_path, 1, 0);
    rd_vec w = rd_network_weights(net), g = rd_network_weight_grads(net);
    rd_buffer *ob, *xb, *lb;
    rd_tensor x;
    if (rd_alloc(ctx, (w.len + 2) * sizeof(float), "SGD momentum", &ob) != RD_OK) return fail(ctx, "optimizer");
    rd_vec all = rd_vec_make(rd_buffer_mem(ob), 0, w.len + 2);
    rd_vec mom = rd_vec_slice(all, 0, w.len), scale = rd_vec_slice(all, w.len, 1), norm = rd_vec_slice(all, w.len + 1, 1);
    if (rd_vec_fill(ctx, &all, 0.0f) != RD_OK) return fail(ctx, "optimizer");
    if (rd_tensor_alloc(ctx, batch, cin, hw, hw, "bench x", &xb, &x) != RD_OK ||
        rd_alloc(ctx, batch * sizeof(int32_t), "bench labels", &lb) != RD_OK)
        return fail(ctx, "batch");
    size_t nx = (size_t)batch * cin * hw * hw;
    float *hx = malloc(nx * sizeof *hx);
    int32_t *hl = malloc(batch * sizeof *hl);
    unsigned long long s = 42;
    for (size_t i = 0; i < nx; i++) { s = s * 6364136223846793005ull + 1; hx[i] = (float)((s >> 33) % 2000) / 1000.f - 1; }
    for (int i = 0; i < batch; i++) { s = s * 6364136223846793005ull + 1; hl[i] = (int32_t)((s >> 33) % (unsigned)classes); }
    if (rd_tensor_write(ctx, &x, hx) != RD_OK) return fail(ctx, "upload");
    if (clEnqueueWriteBuffer(rd_ctx_queue(ctx), rd_buffer_mem(lb), CL_TRUE, 0, batch * sizeof(int32_t), hl, 0, NULL, NULL) != CL_SUCCESS)
        return fail(ctx, "upload labels");
    rd_sgd_params sp = {0.9f, 3e-4f};
    double *times = calloc((size_t)steps + 1, sizeof *times);
    float loss = 0;
    for (int i = 0; i <= steps; i++) {
        if (i == 1 && profile) rd_profile_reset(ctx);
        double t = bench_now();
        if (rd_network_zero_grads(net) != RD_OK || rd_network_forward(net, &x, rd_buffer_mem(lb), 1) != RD_OK ||
            rd_network_backward(net) != RD_OK || rd_clip_grad_norm(ctx, &g, 5.0f, &scale, &norm) != RD_OK ||
            rd_sgd_step(ctx, &sp, 0.025f, &w, &g, &mom, &scale) != RD_OK)
            return fail(ctx, "step");
        if (rd_finish(ctx) != RD_OK) return fail(ctx, "finish");
        times[i] = bench_now() - t;
    }
    if (rd_network_read_loss(net, &loss, NULL, NULL) != RD_OK) return fail(ctx, "loss");
    double med = bench_median(times + 1, (size_t)steps);
    double params, flops;
    rd_network_cost(net, &params, &flops);
    rd_mem_stats ms = rd_mem_get_stats(ctx);
    printf("C=%d layers=%d batch=%d in=%dx%dx%d auxiliary=%d images_per_s=%.1f step_s_median=%.4f peak_device_mb=%.1f "
           "params=%.0f first_step_s=%.3f planned_mb=%.1f mflops_per_image=%.1f loss=%.4f\n",
           C, layers, batch, cin, hw, hw, aux, batch / med, med, (ms.peak - base) / 1048576.0, params, times[0],
           rd_network_memory(net)->total / 1048576.0, flops / 1e6, loss);
    if (profile) {
        printf("per-kernel device time over %d steps:\n", steps);
        rd_profile_print(ctx, stdout);
    }
    rd_network_free(net);
    rd_free(ctx, ob);
    rd_free(ctx, xb);
    rd_free(ctx, lb);
    free(hx);
    free(hl);
    free(times);
    rd_ctx_free(ctx);
    return 0;
}
