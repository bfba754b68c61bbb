/* The op catalogue and op sets: names, parsing, per-edge masks (no device code). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "nn/nn_internal.h"

static const rd_op_info catalogue[RD_OP_COUNT] = {
    [RD_OP_NONE] = {"none", RD_KIND_NONE, 0, RD_POOL_MAX},
    [RD_OP_MAX_POOL_3X3] = {"max_pool_3x3", RD_KIND_POOL, 3, RD_POOL_MAX},
    [RD_OP_AVG_POOL_3X3] = {"avg_pool_3x3", RD_KIND_POOL, 3, RD_POOL_AVG},
    [RD_OP_SKIP_CONNECT] = {"skip_connect", RD_KIND_SKIP, 1, RD_POOL_MAX},
    [RD_OP_SEP_CONV_3X3] = {"sep_conv_3x3", RD_KIND_SEP, 3, RD_POOL_MAX},
    [RD_OP_SEP_CONV_5X5] = {"sep_conv_5x5", RD_KIND_SEP, 5, RD_POOL_MAX},
    [RD_OP_DIL_CONV_3X3] = {"dil_conv_3x3", RD_KIND_DIL, 3, RD_POOL_MAX},
    [RD_OP_DIL_CONV_5X5] = {"dil_conv_5x5", RD_KIND_DIL, 5, RD_POOL_MAX},
    [RD_OP_SEP_CONV_7X7] = {"sep_conv_7x7", RD_KIND_SEP, 7, RD_POOL_MAX},
    [RD_OP_DIL_CONV_7X7] = {"dil_conv_7x7", RD_KIND_DIL, 7, RD_POOL_MAX},
    [RD_OP_CONV_1X1] = {"conv_1x1", RD_KIND_CONV, 1, RD_POOL_MAX},
    [RD_OP_CONV_3X3] = {"conv_3x3", RD_KIND_CONV, 3, RD_POOL_MAX},
    [RD_OP_CONV_7X1_1X7] = {"conv_7x1_1x7", RD_KIND_CONV71, 7, RD_POOL_MAX},
    [RD_OP_MAX_POOL_5X5] = {"max_pool_5x5", RD_KIND_POOL, 5, RD_POOL_MAX},
    [RD_OP_AVG_POOL_5X5] = {"avg_pool_5x5", RD_KIND_POOL, 5, RD_POOL_AVG},
};

const rd_op_info *rd_op_get_info(rd_op_id op) { return (unsigned)op < RD_OP_COUNT ? &catalogue[op] : NULL; }
const char *rd_op_name(rd_op_id op) { return (unsigned)op < RD_OP_COUNT ? catalogue[op].name : "?"; }
int rd_op_is_param_free(rd_op_id op) {
    if ((unsigned)op >= RD_OP_COUNT) return 0;
    rd_op_kind k = catalogue[op].kind;
    return k == RD_KIND_NONE || k == RD_KIND_SKIP || k == RD_KIND_POOL;
}

rd_status rd_op_from_name(const char *name, rd_op_id *op, rd_err *err) {
    for (int i = 0; i < RD_OP_COUNT; i++)
        if (!strcmp(catalogue[i].name, name)) { *op = (rd_op_id)i; return RD_OK; }
    char known[512] = "";
    for (int i = 0; i < RD_OP_COUNT; i++) {
        strncat(known, catalogue[i].name, sizeof known - strlen(known) - 1);
        if (i + 1 < RD_OP_COUNT) strncat(known, ", ", sizeof known - strlen(known) - 1);
    }
    return rd_fail(err, RD_ERR_ARG, "unknown op '%s' (known: %s)", name, known);
}

rd_status rd_opset_parse(const char *spec, rd_opset *out, rd_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) return rd_fail(err, RD_ERR_ARG, "empty op set (use darts, large or a list of op names)");
    if (!strcasecmp(spec, "darts") || !strcasecmp(spec, "large")) {
        out->count = !strcasecmp(spec, "darts") ? 8 : 15;
        for (int i = 0; i < out->count; i++) out->ops[i] = (rd_op_id)i;
        return RD_OK;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        rd_op_id op = RD_OP_NONE;
        RD_TRY(rd_op_from_name(tok, &op, err));
        if (rd_opset_find(out, op) >= 0) return rd_fail(err, RD_ERR_ARG, "op '%s' listed twice in the op set", tok);
        if (out->count == RD_MAX_OPS) return rd_fail(err, RD_ERR_ARG, "more than %d ops in the op set", RD_MAX_OPS);
        out->ops[out->count++] = op;
    }
    if (!out->count) return rd_fail(err, RD_ERR_ARG, "empty op set '%s'", spec);
    return RD_OK;
}

int rd_opset_find(const rd_opset *set, rd_op_id op) {
    for (int i = 0; i < set->count; i++)
        if (set->ops[i] == op) return i;
    return -1;
}

void rd_arch_mask_all(rd_arch_mask *m, const rd_opset *set) {
    rd_edge_mask all = set->count >= 32 ? 0xffffffffu : ((1u << set->count) - 1);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++) m->edge[t][e] = all;
}

int rd_arch_mask_count(const rd_arch_mask *m, int t, int e) { return __builtin_popcount(m->edge[t][e]); }

int rd_arch_mask_subset(const rd_arch_mask *a, const rd_arch_mask *b) {
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < RD_CELL_EDGES; e++)
            if (a->edge[t][e] & ~b->edge[t][e]) return 0;
    return 1;
}

void rd_edge_endpoints(int edge, int *node, int *input) {
    int i = 0, start = 0;
    while (edge >= start + i + 2) { start += i + 2; i++; }
    *node = i;
    *input = edge - start;
}

