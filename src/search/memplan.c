/* The memory model of a search step (SEARCH.md 3.2). Everything here is the
 * allocating code's own arithmetic, so the prediction is the plan itself. */
#include <string.h>

#include "radars/search.h"

uint64_t rd_search_cap(const rd_search_config *cfg, const rd_device_info *dev) {
    if (cfg->mem_cap) return cfg->mem_cap < dev->global_mem ? cfg->mem_cap : dev->global_mem;
    return (uint64_t)((double)dev->global_mem * cfg->safety_fraction);
}

/* The heaviest op of each edge by the activations it keeps (the supernet's own
 * plan, at a reduction cell's stride where the edge has it; the first of equals). */
void rd_largest_single_path(const rd_arch_mask *alive, const rd_opset *set, rd_arch_mask *out) {
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) {
            int node, input, best = -1;
            size_t most = 0;
            rd_edge_endpoints(e, &node, &input);
            int stride = (t == 1 && input < 2) ? 2 : 1;
            for (int k = 0; k < set->count; k++) {
                if (!(alive->edge[t][e] >> k & 1)) continue;
                size_t f = rd_op_activation_floats(set->ops[k], stride, 2, 8, 8);
                if (best < 0 || f > most) {
                    best = k;
                    most = f;
                }
            }
            out->edge[t][e] = 1u << best;
        }
}

rd_status rd_search_predict(rd_ctx *ctx, const rd_search_config *cfg, const rd_supernet_config *net,
                            const rd_arch_mask *alive, const rd_arch_mask *active, rd_search_memory *out) {
    memset(out, 0, sizeof *out);
    RD_TRY(rd_supernet_plan(ctx, net, alive, active, &out->net));
    size_t nw = out->net.n_weights, na = out->net.n_arch;
    /* rd_darts_create: momentum, Adam m and v (of the whole architecture vector: PC-DARTS' betas
     * too), two scalars; second order: a weights backup, two architecture vectors */
    out->optimizer = (nw + 2 * na + 2) * sizeof(float);
    if (cfg->order == RD_DARTS_SECOND_ORDER) out->optimizer += (nw + 2 * na) * sizeof(float);
    /* the loaders hold whole batches of the recipe's size on every rank (a rank of a job takes its
     * share of each, or in the RL phase whole batches of its own), whatever the supernet's batch */
    out->data = RD_SEARCH_LOADERS * rd_loader_device_bytes(cfg->batch, net->in_channels, net->in_h, net->in_w);
    out->total = out->net.total + out->optimizer + out->data;
    return RD_OK;
}
