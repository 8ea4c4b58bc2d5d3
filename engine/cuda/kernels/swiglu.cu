// SwiGLU: y = silu(gate)·up with silu(g) = g·σ(g), and its backward.

extern "C" __global__ void swiglu_fwd(float* y, const float* gate, const float* up, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        float g = gate[i];
        float s = 1.0f / (1.0f + expf(-g));
        y[i] = g * s * up[i];
    }
}

// swiglu_bwd: with s = σ(g), du += dy·g·s and dg += dy·u·s·(1 + g·(1−s)).
// A null dgate or dup skips that gradient.
extern "C" __global__ void swiglu_bwd(float* dgate, float* dup, const float* dy, const float* gate, const float* up, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        float g = gate[i];
        float s = 1.0f / (1.0f + expf(-g));
        float d = dy[i];
        if (dup) {
            dup[i] += d * g * s;
        }
        if (dgate) {
            dgate[i] += d * up[i] * s * (1.0f + g * (1.0f - s));
        }
    }
}
