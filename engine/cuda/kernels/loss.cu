// Cross-entropy with a fused, numerically stable log-softmax: one block per
// row of logits [rows, vocab]. A target below 0 is ignored (loss 0, no
// gradient); one at or past vocab (the CPU op panics on it) gives a NaN
// loss and no gradient.

// cross_entropy_fwd: lse[r] = log Σ exp(logits[r]) (max first, then the
// sum of exp(x − max)) and rowLoss[r] = lse[r] − logits[r, t]. grid.x =
// rows; dynamic shared memory 2·blockDim.x/32 floats.
extern "C" __global__ void cross_entropy_fwd(float* rowLoss, float* lse, const float* logits, const int* targets, int rows, int vocab)
{
    EXTERN_SHARED(float, sh);
    int r = blockIdx.x;
    if (r >= rows) {
        return; // the whole block
    }
    const float* x = logits + (long long)r * vocab;
    float mx = __int_as_float(0xff800000);
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        mx = fmaxf(mx, x[j]);
    }
    mx = block_max(mx, sh);
    float s = 0.0f;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        s += expf(x[j] - mx);
    }
    s = block_sum(s, sh + (blockDim.x >> 5));
    if (threadIdx.x == 0) {
        float l = mx + logf(s);
        lse[r] = l;
        int t = targets[r];
        float loss = 0.0f;
        if (t >= vocab) {
            loss = __int_as_float(0x7fc00000);
        } else if (t >= 0) {
            loss = l - x[t];
        }
        rowLoss[r] = loss;
    }
}

// cross_entropy_bwd: dlogits[r] += scale·(exp(logits[r] − lse[r]) −
// onehot(t)) for rows with a valid target; grid.x = rows, no shared memory.
extern "C" __global__ void cross_entropy_bwd(float* dlogits, const float* logits, const float* lse, const int* targets, int rows, int vocab, float scale)
{
    int r = blockIdx.x;
    if (r >= rows) {
        return;
    }
    int t = targets[r];
    if (t < 0 || t >= vocab) {
        return;
    }
    long long off = (long long)r * vocab;
    const float* x = logits + off;
    float* dx = dlogits + off;
    float l = lse[r];
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        float v = dx[j] + scale * expf(x[j] - l);
        if (j == t) {
            v -= scale;
        }
        dx[j] = v;
    }
}
