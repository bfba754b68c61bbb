/* Genotype text (DARTS' Genotype(normal=[...], ...) form): whatever parses
 * formats back to text that parses to the same genotype. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char *text = fz_string(data, len);
    rd_err err = {0};
    rd_genotype g;
    rd_status st = rd_genotype_parse(text, &g, &err);
    fz_check_error(st, &err);
    if (st == RD_OK) {
        char out[4096], json[4096];
        rd_genotype_format(&g, out, sizeof out);
        rd_genotype_to_json(&g, json, sizeof json);
        rd_genotype back;
        FZ_ASSERT(rd_genotype_parse(out, &back, &err) == RD_OK);
        FZ_ASSERT(rd_genotype_equal(&g, &back));
    }
    free(text);
    return 0;
}
