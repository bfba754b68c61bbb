/* bench_step: seconds per first-order DARTS search step and peak device memory
 * (from the allocator) for a supernet config, on random data like the PyTorch
 * peer's timing mode. tools/bench_search.py runs it beside the peer.
 *   bench_step [--C 16] [--layers 8] [--batch 64] [--hw 28] [--cin 1] [--classes 10]
 *              [--ops darts|large|list] [--steps 5] [--order first|second] [--device SEL] [--profile]
 *              [--tuning 'K=V ...'] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radars/radars.h"
#include "bench_util.h"

static int fail(rd_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_step: %s: %s\n", what, ctx ? rd_ctx_error(ctx) : "");
    return 1;
}

int main(int argc, char **argv) {
    int C = 16, layers = 8, batch = 64, hw = 28, cin = 1, classes = 10, steps = 5, profile = 0;
    const char *ops = "darts", *device = NULL, *order = "first", *tuning = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: bench_step [--C 16] [--layers 8] [--batch 64] [--hw 28] [--cin 1] [--classes 10]\n"
                   "                  [--ops darts|large|list] [--steps 5] [--order first|second] [--device SEL] [--profile]\n"
                   "                  [--tuning 'K=V ...']\n"
                   "Prints the median seconds per DARTS search step (after one warm-up step) and the peak\n"
                   "device memory counted by radars-cl's allocator; --profile adds per-kernel device time\n"
                   "and the step's place under the device's roofline. --tuning sets kernel parameters over\n"
                   "the device's tuning (radars tune's names, e.g. 'conv_pw_block=8 conv_pw_pixels=8').\n");
            return 0;
        }
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!v) { fprintf(stderr, "bench_step: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--C")) C = atoi(v);
        else if (!strcmp(a, "--layers")) layers = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--hw")) hw = atoi(v);
        else if (!strcmp(a, "--cin")) cin = atoi(v);
        else if (!strcmp(a, "--classes")) classes = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--ops")) ops = v;
        else if (!strcmp(a, "--order")) order = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--tuning")) tuning = v;
        else { fprintf(stderr, "bench_step: unknown option %s\n", a); return 2; }
        i++;
    }
    rd_err err = {0};
    rd_ctx_options opt = {0};
    opt.device = device;
    opt.profile = profile;
    rd_ctx *ctx;
    if (rd_ctx_create(&opt, &ctx, &err) != RD_OK) { fprintf(stderr, "bench_step: %s\n", err.msg); return 1; }
    char note[1400];
    if (bench_tuning(ctx, "bench_step", tuning, note, sizeof note)) {
        rd_ctx_free(ctx);
        return 2;
    }
    fprintf(stderr, "bench_step: %s\n", note);
    rd_search_config sc;
    char set_ops[600], set_order[64];
    snprintf(set_ops, sizeof set_ops, "model.ops=%s", ops);
    snprintf(set_order, sizeof set_order, "search.order=%s", order);
    const char *sets[2] = {set_ops, set_order};
    if (rd_search_config_load(&sc, NULL, sets, 2, &err) != RD_OK) { fprintf(stderr, "bench_step: %s\n", err.msg); return 1; }
    rd_supernet_config c;
    rd_supernet_config_default(&c);
    c.C = C; c.layers = layers; c.batch = batch; c.in_channels = cin; c.in_h = c.in_w = hw; c.classes = classes;
    if (rd_opset_parse(ops, &c.ops, &err) != RD_OK) { fprintf(stderr, "bench_step: %s\n", err.msg); return 1; }
    rd_memory_plan plan;
    if (rd_supernet_plan(ctx, &c, NULL, NULL, &plan) != RD_OK) return fail(ctx, "plan");
    rd_mem_reset_peak(ctx);
    uint64_t base = rd_mem_get_stats(ctx).current;
    rd_supernet *net;
    rd_darts *d;
    if (rd_supernet_create(ctx, &c, NULL, NULL, 1, &net) != RD_OK) return fail(ctx, "supernet");
    if (rd_darts_create(ctx, net, &sc, &d) != RD_OK) return fail(ctx, "optimizer");
    /* two batches (weights, alphas) of random images and labels, like the peer */
    rd_batch b[2];
    rd_buffer *bufs[4];
    size_t nx = (size_t)batch * cin * hw * hw;
    float *hx = malloc(nx * sizeof *hx);
    int32_t *hl = malloc(batch * sizeof *hl);
    unsigned long long s = 42;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < nx; i++) { s = s * 6364136223846793005ull + 1; hx[i] = (float)((s >> 33) % 2000) / 1000.f - 1; }
        for (int i = 0; i < batch; i++) hl[i] = (int32_t)((s >> 20) + i * 7) % classes;
        if (rd_tensor_alloc(ctx, batch, cin, hw, hw, "bench x", &bufs[2 * k], &b[k].x) != RD_OK ||
            rd_alloc(ctx, batch * sizeof(int32_t), "bench labels", &bufs[2 * k + 1]) != RD_OK)
            return fail(ctx, "batch");
        b[k].labels = rd_buffer_mem(bufs[2 * k + 1]);
        b[k].n = batch;
        rd_tensor_write(ctx, &b[k].x, hx);
        clEnqueueWriteBuffer(rd_ctx_queue(ctx), b[k].labels, CL_TRUE, 0, batch * sizeof(int32_t), hl, 0, NULL, NULL);
    }
    double *times = calloc(steps + 1, sizeof *times);
    for (int i = 0; i <= steps; i++) {
        if (i == 1 && profile) rd_profile_reset(ctx);
        double t = bench_now();
        rd_step_stats st;
        if (rd_darts_step(d, &b[0], &b[1], 0.025f, &st) != RD_OK) return fail(ctx, "step");
        if (rd_finish(ctx) != RD_OK) return fail(ctx, "finish");
        times[i] = bench_now() - t;
    }
    double median = bench_median(times + 1, (size_t)steps);
    rd_mem_stats ms = rd_mem_get_stats(ctx);
    uint64_t batches = 2 * (nx * 4 + batch * 4);
    printf("ops=%d C=%d layers=%d batch=%d in=%dx%dx%d order=%s step_s_median=%.3f first_step_s=%.3f "
           "peak_device_mb=%.0f predicted_mb=%.0f\n",
           c.ops.count, C, layers, batch, cin, hw, hw, order, median, times[0],
           (ms.peak - base) / 1048576.0, (plan.total + batches) / 1048576.0);
    if (profile) {
        printf("per-kernel device time over %d steps:\n", steps);
        rd_profile_print(ctx, stdout);
        /* The whole step against the device's roofline. FLOPs: a first-order step is two
         * forward + backward passes (alphas on one batch, weights on the other), each ~3x the
         * forward's multiply-adds (forward, input gradients, weight gradients). Bytes, a floor:
         * every kept activation written once and read once per pass, the weights read three
         * times and their gradients written once. The bound is the larger of the two times. */
        double params = 0, fpi = 0;
        rd_supernet_active_cost(net, &params, &fpi);
        double flops = 2 * 3 * fpi * batch, bytes = 2 * (2.0 * plan.activations + 4.0 * plan.weights);
        rd_roofline roof;
        if (rd_roofline_measure(ctx, (size_t)128 << 20, &roof) != RD_OK) return fail(ctx, "roofline");
        double bound = rd_roofline_bound_s(&roof, flops, bytes);
        printf("roofline: %.1f GB/s, %.1f GFLOP/s; step: %.2f GFLOP, >= %.1f MB moved -> %.1f GFLOP/s, %.2f GB/s "
               "achieved; %s-bound, least time %.4f s = %.1f%% of the step\n",
               roof.bytes_per_s * 1e-9, roof.flops_per_s * 1e-9, flops * 1e-9, bytes * 1e-6, flops / median * 1e-9,
               bytes / median * 1e-9, flops / roof.flops_per_s > bytes / roof.bytes_per_s ? "compute" : "memory",
               bound, 100 * bound / median);
    }
    rd_darts_free(d);
    rd_supernet_free(net);
    for (int k = 0; k < 4; k++) rd_free(ctx, bufs[k]);
    free(hx);
    free(hl);
    free(times);
    rd_ctx_free(ctx);
    return 0;
}
