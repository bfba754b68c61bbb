/* base64 as checkpoints keep blobs: the first byte is the byte count asked
 * for; the rest is the text. Any text that decodes re-encodes to itself. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    size_t bytes = data[0];
    char *text = fz_string(data + 1, len - 1);
    uint8_t dst[256];
    rd_err err = {0};
    rd_status st = rd_base64_decode(text, dst, bytes, "fuzz", &err);
    fz_check_error(st, &err);
    if (st == RD_OK) {
        char *again = rd_base64_encode(dst, bytes);
        FZ_ASSERT(again && strcmp(again, text) == 0);
        free(again);
    }
    free(text);
    return 0;
}
