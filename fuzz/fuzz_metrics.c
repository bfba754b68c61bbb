/* metrics.jsonl (json-c, rd_metrics_reader): every record it yields can be
 * queried with every getter. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char path[300];
    fz_path(path, sizeof path, "metrics.jsonl");
    fz_write(path, data, len);
    rd_err err = {0};
    rd_metrics_reader *rd = NULL;
    rd_status st = rd_metrics_reader_open(path, &rd, &err);
    fz_check_error(st, &err);
    if (st != RD_OK) return 0;
    for (int guard = 0; guard < 100000; guard++) {
        const rd_record *r = NULL;
        st = rd_metrics_next(rd, &r, &err);
        fz_check_error(st, &err);
        if (st != RD_OK || !r) break;
        double v[8];
        (void)rd_record_get_string(r, "type");
        (void)rd_record_get_int(r, "epoch");
        (void)rd_record_get_double(r, "valid_acc");
        FZ_ASSERT(rd_record_get_doubles(r, "alive_count_normal", v, 8) <= (size_t)-1);
    }
    rd_metrics_reader_close(rd);
    return 0;
}
