/* Recipes (INI through inih and the schema): the first byte picks the search
 * or the train schema. Whatever loads writes back as text that loads to the
 * same recipe. */
#include "fuzz_util.h"

static int load(const rd_cfg_schema *schema, const char *text, void *cfg) {
    rd_err err = {0};
    if (rd_config_defaults(schema, cfg, &err) != RD_OK) abort();
    rd_status st = rd_config_load_string(schema, text, "fuzz.ini", cfg, &err);
    fz_check_error(st, &err);
    return st == RD_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    const rd_cfg_schema *schema = data[0] & 1 ? &rd_train_schema : &rd_search_schema;
    char *text = fz_string(data + 1, len - 1);
    void *cfg = calloc(1, schema->struct_size), *back = calloc(1, schema->struct_size);
    if (load(schema, text, cfg)) {
        rd_err err = {0};
        char *written = NULL;
        if (rd_config_text(schema, cfg, &written, &err) == RD_OK) {
            FZ_ASSERT(load(schema, written, back));
            char *again = NULL;
            FZ_ASSERT(rd_config_text(schema, back, &again, &err) == RD_OK);
            FZ_ASSERT(strcmp(written, again) == 0);
            free(again);
        } else {
            fz_check_error(RD_ERR_CONFIG, &err); /* a value INI cannot hold: refused with a message */
        }
        free(written);
    }
    free(cfg);
    free(back);
    free(text);
    return 0;
}
