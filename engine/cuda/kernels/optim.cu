// The optimizer: AdamW (asm.RefAdamW) and the per-piece sums of squares
// behind the global gradient norm.

// adamw: one AdamW update of n elements, in asm.RefAdamW's order:
//   gj = g·gs; m = b1·m + c1·gj; v = b2·v + c2·gj·gj;
//   w = w·decay − step·m/(sqrt(v)/bc2sqrt + eps)
// with c1 = 1−b1 and c2 = 1−b2 rounded to float by the caller.
extern "C" __global__ void adamw(float* w, const float* g, float* m, float* v, int n,
    float b1, float c1, float b2, float c2, float decay, float step, float bc2sqrt, float eps, float gs)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        float gj = g[i] * gs;
        float mj = b1 * m[i] + c1 * gj;
        float vj = b2 * v[i] + c2 * gj * gj;
        m[i] = mj;
        v[i] = vj;
        w[i] = w[i] * decay - step * mj / (sqrtf(vj) / bc2sqrt + eps);
    }
}

// sum_squares: partial[b] = Σ x[i]² over piece b = [b·piece, (b+1)·piece)
// of x's n elements (the last piece shorter); one block per piece (grid.x =
// pieces), dynamic shared memory blockDim.x/32 floats.
extern "C" __global__ void sum_squares(float* partial, const float* x, int n, int piece)
{
    EXTERN_SHARED(float, sh);
    long long lo = (long long)blockIdx.x * piece;
    if (lo >= n) {
        return; // the whole block
    }
    long long hi = lo + piece;
    if (hi > n) {
        hi = n;
    }
    float s = 0.0f;
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        float v = x[i];
        s += v * v;
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = s;
    }
}
