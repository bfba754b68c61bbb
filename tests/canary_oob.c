/* A test of the test: a throwaway kernel that reads one element past its
 * buffer. On a real device it usually "works"; under Oclgrind the run must
 * report "Invalid read" (ctest: oclgrind_catches_oob), or the Oclgrind checks
 * of the suite could not be trusted to catch such bugs in our kernels. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>

static const char *src =
    "__kernel void past_the_end(__global const float *x, __global float *y, const int n) {\n"
    "    const int i = get_global_id(0);\n"
    "    if (i < n) y[i] = x[i + 1];  /* i = n - 1 reads x[n] */\n"
    "}\n";

int main(void) {
    cl_platform_id p;
    cl_device_id d;
    cl_int rc;
    if (clGetPlatformIDs(1, &p, NULL) != CL_SUCCESS || clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS) {
        fprintf(stderr, "canary_oob: no OpenCL device\n");
        return 2;
    }
    cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, &rc);
    cl_command_queue q = clCreateCommandQueue(c, d, 0, &rc);
    cl_program prog = clCreateProgramWithSource(c, 1, &src, NULL, &rc);
    if (clBuildProgram(prog, 1, &d, "", NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "canary_oob: build failed\n");
        return 2;
    }
    cl_kernel k = clCreateKernel(prog, "past_the_end", &rc);
    enum { N = 16 };
    float host[N];
    for (int i = 0; i < N; i++) host[i] = (float)i;
    cl_mem x = clCreateBuffer(c, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof host, host, &rc);
    cl_mem y = clCreateBuffer(c, CL_MEM_WRITE_ONLY, sizeof host, NULL, &rc);
    cl_int n = N;
    clSetKernelArg(k, 0, sizeof x, &x);
    clSetKernelArg(k, 1, sizeof y, &y);
    clSetKernelArg(k, 2, sizeof n, &n);
    size_t g = N;
    rc = clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
    clFinish(q);
    clReleaseMemObject(x);
    clReleaseMemObject(y);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(q);
    clReleaseContext(c);
    printf("canary_oob: kernel ran (%d)\n", (int)rc);
    return 0;
}
