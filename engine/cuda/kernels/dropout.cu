// Dropout with the mask of engine.DropoutKeep: element i is kept when the
// top 24 bits of splitmix64(seed + (i+1)·golden), scaled to [0, 1), are at
// least p. Kept elements are multiplied by inv = 1/(1−p) (rounded to float
// by the caller), dropped ones are 0.

__device__ int dropout_keep(unsigned long long seed, long long i, float p)
{
    unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

// dropout_fwd: y = keep ? x·inv : 0. y may alias x.
extern "C" __global__ void dropout_fwd(float* y, const float* x, int n, float p, float inv, unsigned long long seed)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        float v = 0.0f;
        if (dropout_keep(seed, i, p)) {
            v = x[i] * inv;
        }
        y[i] = v;
    }
}

// dropout_bwd: dx += dy·inv where kept.
extern "C" __global__ void dropout_bwd(float* dx, const float* dy, int n, float p, float inv, unsigned long long seed)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        if (dropout_keep(seed, i, p)) {
            dx[i] += dy[i] * inv;
        }
    }
}
