/* Minimal reproducers of three Oclgrind 21.10 bugs in its --uninitialized check
 * (ctest: oclgrind_offset_write_bug, oclgrind_buffer_reuse_bug,
 * oclgrind_shuffle_crash). It crashes (SIGSEGV) on the vector shuffle that
 * LLVM's optimiser makes of v.s0 + v.s3 (shuffle: hence -cl-opt-disable on
 * Oclgrind), and it keeps one shadow block per buffer and
 *   offset: replaces it at every host write with one the size of that write, so a
 *           kernel that reads exactly the floats a host write put into the second
 *           half of a buffer is told they are uninitialised (a full write first
 *           does not help);
 *   reuse:  keeps the shadow block of a released buffer for the next buffer
 *           created, so the kernel writes past the old size into a larger new
 *           buffer are lost, and a kernel that reads them is told they are
 *           uninitialised.
 * Each test passes while Oclgrind still reports; the runtime works around both
 * (src/runtime/runtime.h, driver quirks). If a newer Oclgrind fixes one, its test
 * fails: drop that half of the workaround and the test. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <string.h>

static const char *src =
    "__kernel void copy_half(__global const float *x, __global float *y, const int n) {\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n) y[i] = x[n + i];  /* the second half: the floats the host wrote */\n"
    "}\n"
    "__kernel void sum_ends(__global const float *x, __global float *y, const int n) {\n"
    "    const float4 v = vload4(0, x);\n"
    "    if (get_global_id(0) < n) y[get_global_id(0)] = v.s0 + v.s3;\n"
    "}\n"
    "__kernel void fill(__global float *y, const int n) {\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n) y[i] = (float)(i % (n / 2));  /* the values the host writes in the other case */\n"
    "}\n";

enum { N = 8 };

static void run(cl_command_queue q, cl_kernel k, cl_mem a, cl_mem b, cl_int n) {
    int argi = 0;
    clSetKernelArg(k, argi++, sizeof a, &a);
    if (b) clSetKernelArg(k, argi++, sizeof b, &b);
    clSetKernelArg(k, argi, sizeof n, &n);
    size_t g = (size_t)n;
    clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
}

int main(int argc, char **argv) {
    int reuse = argc > 1 && !strcmp(argv[1], "reuse"), shuffle = argc > 1 && !strcmp(argv[1], "shuffle");
    cl_platform_id p;
    cl_device_id d;
    cl_int rc;
    if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS || clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS)
        return 2;
    cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, &rc);
    cl_command_queue q = clCreateCommandQueue(c, d, 0, &rc);
    cl_program prog = clCreateProgramWithSource(c, 1, &src, NULL, &rc);
    if (clBuildProgram(prog, 1, &d, "", NULL, NULL) != CL_SUCCESS) return 2;
    float host[2 * N];
    for (int i = 0; i < 2 * N; i++) host[i] = (float)(i % N);
    cl_mem x, y;
    cl_kernel k;
    const char *kernel = "copy_half";
    if (shuffle) {
        x = clCreateBuffer(c, CL_MEM_READ_WRITE, 2 * N * sizeof(float), NULL, &rc);
        y = clCreateBuffer(c, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &rc);
        clEnqueueWriteBuffer(q, x, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL);
        kernel = "sum_ends";
    } else if (reuse) {
        cl_mem old = clCreateBuffer(c, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &rc);
        clEnqueueWriteBuffer(q, old, CL_TRUE, 0, N * sizeof(float), host, 0, NULL, NULL);
        clReleaseMemObject(old);
        x = clCreateBuffer(c, CL_MEM_READ_WRITE, 2 * N * sizeof(float), NULL, &rc);
        y = clCreateBuffer(c, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &rc);
        cl_kernel fill = clCreateKernel(prog, "fill", &rc);
        run(q, fill, x, NULL, 2 * N);
        clReleaseKernel(fill);
    } else {
        x = clCreateBuffer(c, CL_MEM_READ_WRITE, 2 * N * sizeof(float), NULL, &rc);
        y = clCreateBuffer(c, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &rc);
        clEnqueueWriteBuffer(q, x, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL);
        clEnqueueWriteBuffer(q, x, CL_TRUE, N * sizeof(float), N * sizeof(float), host + N, 0, NULL, NULL);
    }
    k = clCreateKernel(prog, kernel, &rc);
    run(q, k, x, y, N);
    float out[N];
    clEnqueueReadBuffer(q, y, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= out[i] == (shuffle ? 3.0f : (float)i);
    printf("oclgrind_shadow %s: values %s\n", argc > 1 ? argv[1] : "offset", ok ? "right" : "WRONG");
    clReleaseMemObject(x);
    clReleaseMemObject(y);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(c);
    return ok ? 0 : 1;
}
