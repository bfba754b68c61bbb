/* Minimal reproducer of an Oclgrind 21.10 false report (ctest: oclgrind_offset_write_bug):
 * a host write into the middle of a buffer that has had no earlier host write
 * is forgotten by the --uninitialized check, so a kernel that reads exactly the
 * written floats is told they are uninitialised. The test passes while Oclgrind
 * still reports it (then the workaround in tests/test_util.c, tu_tensor's full
 * NaN write, is needed); if a newer Oclgrind fixes it, the test fails: drop the
 * workaround and this test. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>

static const char *src =
    "__kernel void copy_half(__global const float *x, __global float *y, const int n) {\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n) y[i] = x[n + i];  /* the second half: the floats the host wrote */\n"
    "}\n";

int main(void) {
    cl_platform_id p;
    cl_device_id d;
    cl_int rc;
    if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS || clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS)
        return 2;
    cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, &rc);
    cl_command_queue q = clCreateCommandQueue(c, d, 0, &rc);
    cl_program prog = clCreateProgramWithSource(c, 1, &src, NULL, &rc);
    if (clBuildProgram(prog, 1, &d, "", NULL, NULL) != CL_SUCCESS) return 2;
    cl_kernel k = clCreateKernel(prog, "copy_half", &rc);
    enum { N = 8 };
    float half[N];
    for (int i = 0; i < N; i++) half[i] = (float)i;
    cl_mem x = clCreateBuffer(c, CL_MEM_READ_WRITE, 2 * N * sizeof(float), NULL, &rc);
    cl_mem y = clCreateBuffer(c, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &rc);
    rc = clEnqueueWriteBuffer(q, x, CL_TRUE, N * sizeof(float), sizeof half, half, 0, NULL, NULL);
    cl_int n = N;
    clSetKernelArg(k, 0, sizeof x, &x);
    clSetKernelArg(k, 1, sizeof y, &y);
    clSetKernelArg(k, 2, sizeof n, &n);
    size_t g = N;
    clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
    float out[N];
    clEnqueueReadBuffer(q, y, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= out[i] == (float)i;
    printf("oclgrind_offset_write: values %s\n", ok ? "right" : "WRONG");
    clReleaseMemObject(x);
    clReleaseMemObject(y);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(c);
    return ok ? 0 : 1;
}
