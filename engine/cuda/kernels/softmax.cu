// Causal softmax for attention: count blocks of T×T scores; row t of a
// block becomes the softmax of its first t+1 entries, zero after.
//
// One warp per row (blockDim.x a multiple of 32, blockDim.x/32 rows per
// block): the reductions are warp shuffles, with no barrier. Lanes of a
// warp past the last row still run the shuffles (with nothing to add).

__device__ float sm_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    }
    return v;
}

__device__ float sm_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffff, v, o);
    }
    return v;
}

// causal_softmax_fwd: in place on p [count, T, T].
extern "C" __global__ void causal_softmax_fwd(float* p, int count, int T)
{
    long long rows = (long long)count * T;
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int ok = row < rows;
    int len = 0; // entries of the row in the causal window
    float* pr = p;
    if (ok) {
        len = (int)(row % T) + 1;
        pr = p + row * T;
    }
    float mx = __int_as_float(0xff800000);
    for (int j = lane; j < len; j += 32) {
        mx = fmaxf(mx, pr[j]);
    }
    mx = sm_warp_max(mx);
    float s = 0.0f;
    for (int j = lane; j < len; j += 32) {
        float e = expf(pr[j] - mx);
        pr[j] = e;
        s += e;
    }
    s = sm_warp_sum(s);
    if (ok) {
        float inv = 1.0f / s;
        for (int j = lane; j < len; j += 32) {
            pr[j] *= inv;
        }
        for (int j = len + lane; j < T; j += 32) {
            pr[j] = 0.0f;
        }
    }
}

// causal_softmax_bwd: dp ← p ⊙ (dp − Σ_j dp_j·p_j) over the causal window,
// zero above the diagonal; in place on dp [count, T, T].
extern "C" __global__ void causal_softmax_bwd(float* dp, const float* p, int count, int T)
{
    long long rows = (long long)count * T;
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int ok = row < rows;
    int len = 0;
    float* dr = dp;
    const float* pr = p;
    if (ok) {
        len = (int)(row % T) + 1;
        dr = dp + row * T;
        pr = p + row * T;
    }
    float dot = 0.0f;
    for (int j = lane; j < len; j += 32) {
        dot += pr[j] * dr[j];
    }
    dot = sm_warp_sum(dot);
    if (ok) {
        for (int j = lane; j < len; j += 32) {
            dr[j] = pr[j] * (dr[j] - dot);
        }
        for (int j = len + lane; j < T; j += 32) {
            dr[j] = 0.0f;
        }
    }
}
