// RMSNorm over rows of width d: y = x·rstd·w with rstd = 1/sqrt(mean(x²)+eps),
// and its backward (dx and dw accumulate).

// rmsnorm_fwd: one block per row (grid.x = rows), dynamic shared memory
// blockDim.x/32 floats. y may alias x.
extern "C" __global__ void rmsnorm_fwd(float* y, float* rstd, const float* x, const float* w, int rows, int d, float eps)
{
    EXTERN_SHARED(float, sh);
    int r = blockIdx.x;
    if (r >= rows) {
        return; // the whole block
    }
    const float* xr = x + (long long)r * d;
    float* yr = y + (long long)r * d;
    float s = 0.0f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float v = xr[j];
        s += v * v;
    }
    s = block_sum(s, sh);
    float rs = 1.0f / sqrtf(s / (float)d + eps);
    if (threadIdx.x == 0) {
        rstd[r] = rs;
    }
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        yr[j] = xr[j] * rs * w[j];
    }
}

// rmsnorm_bwd_dx: dx += rstd·(dy⊙w − x·c), c = mean(dy⊙w⊙x)·rstd², one
// block per row, dynamic shared memory blockDim.x/32 floats.
extern "C" __global__ void rmsnorm_bwd_dx(float* dx, const float* dy, const float* x, const float* w, const float* rstd, int rows, int d)
{
    EXTERN_SHARED(float, sh);
    int r = blockIdx.x;
    if (r >= rows) {
        return;
    }
    long long off = (long long)r * d;
    const float* xr = x + off;
    const float* dyr = dy + off;
    float* dxr = dx + off;
    float dot = 0.0f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        dot += dyr[j] * w[j] * xr[j];
    }
    dot = block_sum(dot, sh);
    float rs = rstd[r];
    float c = dot / (float)d * rs * rs;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        dxr[j] += rs * (dyr[j] * w[j] - xr[j] * c);
    }
}

// rmsnorm_bwd_dw: the weight gradient over chunks of chunkRows rows: thread
// j of block (bx, c) sums dy·x·rstd down column bx·blockDim.x + j over rows
// [c·chunkRows, (c+1)·chunkRows) in order and stores the sum to out[c·d + j]
// (add: adds it there instead, for a single chunk straight into dw).
// grid = (ceil(d/blockDim.x), chunks); no shared memory.
extern "C" __global__ void rmsnorm_bwd_dw(float* out, const float* dy, const float* x, const float* rstd, int rows, int d, int chunkRows, int add)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) {
        return;
    }
    int lo = blockIdx.y * chunkRows;
    int hi = lo + chunkRows;
    if (hi > rows) {
        hi = rows;
    }
    float acc = 0.0f;
    for (int r = lo; r < hi; r++) {
        long long off = (long long)r * d + j;
        acc += dy[off] * x[off] * rstd[r];
    }
    float* o = out + (long long)blockIdx.y * d + j;
    if (add) {
        *o += acc;
    } else {
        *o = acc;
    }
}
