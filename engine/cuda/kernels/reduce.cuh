// Block reductions shared by the kernels. Every toolchain puts this file in
// front of each kernels/*.cu file (the emulation includes it in each file's
// namespace, clang with -include, NVRTC as the head of each program; see
// kernels.go), so the kernels use these without an #include.
//
// block_sum and block_max reduce v over the block and return the result to
// every thread. blockDim.x is a multiple of 32 (the shuffles need whole
// warps), and sh holds blockDim.x/32 floats of shared memory that no other
// reduction of the same kernel uses (two reductions in a row need two
// regions: a thread may still read the first while another writes the
// second). Every thread combines the warp results in the same order, so
// all get the same value, and the order does not depend on the schedule.

__device__ float block_sum(float v, float* sh)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffff, v, o);
    }
    if ((threadIdx.x & 31) == 0) {
        sh[threadIdx.x >> 5] = v;
    }
    __syncthreads();
    float t = 0.0f;
    int nw = blockDim.x >> 5;
    for (int i = 0; i < nw; i++) {
        t += sh[i];
    }
    return t;
}

__device__ float block_max(float v, float* sh)
{
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    }
    if ((threadIdx.x & 31) == 0) {
        sh[threadIdx.x >> 5] = v;
    }
    __syncthreads();
    float t = __int_as_float(0xff800000);
    int nw = blockDim.x >> 5;
    for (int i = 0; i < nw; i++) {
        t = fmaxf(t, sh[i]);
    }
    return t;
}
