/* One supernet edge as a workload (see edge_bench.h). */
#include <string.h>

#include "nn/edge_bench.h"

static rd_status new_tensor(rd_ctx *ctx, rd_edge_bench *b, int n, int c, int h, int w, float value, rd_tensor *t) {
    if (b->nbufs == RD_EDGE_BENCH_BUFS) return rd_fail(&ctx->err, RD_ERR_ARG, "edge bench: too many buffers");
    RD_TRY(rd_tensor_alloc(ctx, n, c, h, w, "edge bench", &b->bufs[b->nbufs], t));
    b->nbufs++;
    return rd_fill(ctx, t, value);
}

static rd_status new_vec(rd_ctx *ctx, rd_edge_bench *b, size_t len, float value, rd_vec *v) {
    rd_tensor t;
    RD_TRY(new_tensor(ctx, b, 1, 1, 1, (int)len, value, &t));
    *v = rd_tensor_as_vec(&t);
    return RD_OK;
}

/* The node is one of the four channel slices of the cell output, as in the supernet. */
static rd_status new_node(rd_ctx *ctx, rd_edge_bench *b, int n, int c, int hw, float value, rd_tensor *t) {
    rd_tensor big;
    RD_TRY(new_tensor(ctx, b, n, 4 * c, hw, hw, value, &big));
    *t = rd_tensor_channels(big, 0, c);
    return RD_OK;
}

static void layout(rd_ctx *ctx, rd_edge_bench *b, int bind, rd_scratch_need *need) {
    rd_arena_begin(&b->acts, bind);
    for (int k = 0; k < b->K; k++) rd_op_plan(ctx, &b->ops[k], &b->x, b->node.h, b->node.w, &b->acts, need);
}

rd_status rd_edge_bench_setup(rd_ctx *ctx, const char *ops, int C, int hw, int stride, int batch,
                              rd_edge_bench *b) {
    memset(b, 0, sizeof *b);
    rd_opset set;
    RD_TRY(rd_opset_parse(ops, &set, &ctx->err));
    if (C < 1 || hw < 2 || batch < 1 || (stride != 1 && stride != 2))
        return rd_fail(&ctx->err, RD_ERR_ARG, "edge bench: C %d, %dx%d, stride %d, batch %d", C, hw, hw, stride, batch);
    int n = batch, hi = hw, ho = hw / stride;
    size_t n_w = 0, n_bn = 0;
    double macs = 0;
    b->K = set.count;
    for (int k = 0; k < b->K; k++) {
        rd_op_inst *op = &b->ops[k];
        op->id = set.ops[k];
        op->index = k;
        op->stride = stride;
        op->C = C;
        op->pool_bn = 1;
        op->mix_slot = (size_t)k;
        op->partial_off = (size_t)k * C;
        rd_param_desc pd[RD_OP_MAX_WEIGHTS];
        op->n_w = rd_op_params(op->id, C, stride, pd);
        for (int w = 0; w < op->n_w; w++) {
            op->w_off[w] = n_w;
            op->w_len[w] = (size_t)pd[w].shape[0] * pd[w].shape[1] * pd[w].shape[2] * pd[w].shape[3];
            n_w += op->w_len[w];
            /* conv_7x1_1x7's first (1x7) stage runs at the input height */
            int rows = op->id == RD_OP_CONV_7X1_1X7 && w == 0 ? hi : ho;
            macs += (double)op->w_len[w] * rows * ho;
        }
        const char *names[RD_OP_MAX_BN];
        op->n_bn = rd_op_bn_names(op->id, stride, 1, names);
        for (int i = 0; i < op->n_bn; i++, n_bn += 2 * (size_t)C) op->bn_off[i] = n_bn;
    }
    RD_TRY(new_tensor(ctx, b, n, C, hi, hi, 0.5f, &b->x));
    RD_TRY(new_tensor(ctx, b, n, C, hi, hi, 0.0f, &b->dx));
    RD_TRY(new_node(ctx, b, n, C, ho, 0.0f, &b->node));
    RD_TRY(new_node(ctx, b, n, C, ho, 0.01f, &b->dnode));
    rd_op_exec *e = &b->exec;
    e->bn = (rd_bn_params){1e-5f, 0.1f};
    e->train = 1;
    RD_TRY(new_vec(ctx, b, n_w ? n_w : 1, 0.01f, &e->weights));
    RD_TRY(new_vec(ctx, b, n_w ? n_w : 1, 0.0f, &e->weight_grads));
    RD_TRY(new_vec(ctx, b, n_bn ? n_bn : 1, 1.0f, &e->bn_state));
    RD_TRY(new_vec(ctx, b, (size_t)b->K, 1.0f / b->K, &e->mix_weights));
    RD_TRY(new_vec(ctx, b, (size_t)b->K * C, 0.0f, &e->alpha_partials));
    size_t temp = 1;
    for (int k = 0; k < b->K; k++) {
        size_t t = rd_op_temp_floats(&b->ops[k], &b->x, ho, ho);
        if (t > temp) temp = t;
    }
    RD_TRY(new_tensor(ctx, b, 1, 1, 1, (int)temp, 0.0f, &b->ta));
    RD_TRY(new_tensor(ctx, b, 1, 1, 1, (int)temp, 0.0f, &b->tb));
    /* activations: plan, allocate through the counted allocator, bind (as the supernet does) */
    rd_scratch_need need;
    memset(&need, 0, sizeof need);
    b->acts.name = "edge bench activations";
    b->acts.chunk_limit = ctx->dev.max_alloc / sizeof(float);
    layout(ctx, b, 0, &need);
    RD_TRY(rd_arena_allocate(ctx, &b->acts, b->acts.name));
    layout(ctx, b, 1, &need);
    for (int i = 0; i < RD_SCRATCH_SLOTS; i++)
        if (need.bytes[i]) RD_TRY(rd_scratch_reserve(ctx, i, need.bytes[i]));
    b->flops = 2 * macs * n * 3;
    double t_in = 4.0 * n * C * hi * hi, t_out = 4.0 * n * C * ho * ho;
    b->bytes = t_in + t_out + t_out + t_in;
    return RD_OK;
}

rd_status rd_edge_bench_run(rd_ctx *ctx, rd_edge_bench *b) {
    RD_TRY(rd_fill(ctx, &b->node, 0.0f));
    for (int k = 0; k < b->K; k++) RD_TRY(rd_op_forward(ctx, &b->exec, &b->ops[k], &b->x, &b->node));
    RD_TRY(rd_fill(ctx, &b->dx, 0.0f));
    for (int k = b->K - 1; k >= 0; k--)
        RD_TRY(rd_op_backward(ctx, &b->exec, &b->ops[k], &b->x, &b->dnode, &b->dx, &b->ta, &b->tb));
    return RD_OK;
}

void rd_edge_bench_free(rd_ctx *ctx, rd_edge_bench *b) {
    rd_arena_free(ctx, &b->acts);
    for (int i = 0; i < b->nbufs; i++) rd_free(ctx, b->bufs[i]);
    b->nbufs = 0;
    rd_scratch_release(ctx);
}
