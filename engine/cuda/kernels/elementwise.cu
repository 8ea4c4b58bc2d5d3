// Elementwise ops, one thread per element with grid-stride loops.

// add_fwd: y = a + b.
extern "C" __global__ void add_fwd(float* y, const float* a, const float* b, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        y[i] = a[i] + b[i];
    }
}

// mul_fwd: y = a ⊙ b.
extern "C" __global__ void mul_fwd(float* y, const float* a, const float* b, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        y[i] = a[i] * b[i];
    }
}

// accumulate: dst += s·src.
extern "C" __global__ void accumulate(float* dst, const float* src, float s, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        dst[i] += s * src[i];
    }
}

// mul_accumulate: dst += a ⊙ b.
extern "C" __global__ void mul_accumulate(float* dst, const float* a, const float* b, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        dst[i] += a[i] * b[i];
    }
}

// col_sum_acc: dst[j] += Σ_r src[r·cols + j] for a [rows, cols] matrix, the
// rows added in order (deterministic); one thread per column.
extern "C" __global__ void col_sum_acc(float* dst, const float* src, int rows, int cols)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int r = 0; r < rows; r++) {
            acc += src[(long long)r * cols + j];
        }
        dst[j] += acc;
    }
}

// scale2d: c = s·c over a [rows, cols] matrix with leading dimension ld;
// s = 0 writes zeros without reading c (a GEMM with k = 0).
extern "C" __global__ void scale2d(float* c, int rows, int cols, int ld, float s)
{
    long long n = (long long)rows * cols;
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        long long r = i / cols;
        long long at = r * ld + (i - r * cols);
        float v = 0.0f;
        if (s != 0.0f) {
            v = s * c[at];
        }
        c[at] = v;
    }
}
