/* Tuning files (radars tune's <cache>/tuning-*.json, rd_tuning_read) and tuning text
 * ("wg=64 conv_pw=local", rd_tuning_from_text: RADARS_TEST_TUNING): any input is either
 * refused with a message or gives parameters that pass rd_tuning_check for the device. */
#include "fuzz_util.h"
#include "radars/tune.h"

/* A device as a GPU and as a CPU: the checks depend on its limits. */
static rd_device_info fake_device(int gpu) {
    rd_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "fuzz device");
    snprintf(d.driver_version, sizeof d.driver_version, "fuzz 1");
    snprintf(d.platform_name, sizeof d.platform_name, "fuzz platform");
    d.type = gpu ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
    d.compute_units = gpu ? 64 : 2;
    d.max_work_group = gpu ? 1024 : 4096;
    d.local_mem = gpu ? 65536 : 32768;
    d.local_mem_is_global = !gpu;
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    char path[300];
    fz_path(path, sizeof path, "tuning.json");
    fz_write(path, data, len);
    char *text = fz_string(data, len);
    for (int gpu = 0; gpu < 2; gpu++) {
        rd_device_info dev = fake_device(gpu);
        rd_tuning t;
        rd_err err = {0};
        rd_status st = rd_tuning_read(path, &dev, &t, &err);
        fz_check_error(st, &err);
        if (st == RD_OK) FZ_ASSERT(rd_tuning_check(&dev, &t, &err) == RD_OK);
        st = rd_tuning_from_text(&dev, text, &t, &err);
        fz_check_error(st, &err);
        if (st == RD_OK) FZ_ASSERT(rd_tuning_check(&dev, &t, &err) == RD_OK);
    }
    free(text);
    return 0;
}
