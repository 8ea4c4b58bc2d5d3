// Embedding: y[r] = table[ids[r]] and its backward dtable[ids[r]] += dy[r].
//
// An id outside [0, vocab) (the CPU op panics on one) gives a NaN row
// forward, so that the loss shows it, and is skipped backward.

// embedding_fwd: one thread per element of y [rows, d], grid-stride.
extern "C" __global__ void embedding_fwd(float* y, const float* table, const int* ids, int rows, int d, int vocab)
{
    // rows·d < 2³¹ (the Go side checks): 32-bit unsigned indices, whose
    // division is much cheaper on a GPU than 64-bit.
    unsigned n = (unsigned)rows * (unsigned)d;
    unsigned stride = gridDim.x * blockDim.x;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        unsigned r = i / (unsigned)d;
        unsigned j = i - r * (unsigned)d;
        int id = ids[r];
        float v = __int_as_float(0x7fc00000);
        if (id >= 0 && id < vocab) {
            v = table[(long long)id * d + j];
        }
        y[i] = v;
    }
}

// embedding_bwd: one thread per column j, looping over the rows in order,
// so that repeated ids never race and the sums are deterministic (the same
// order as the CPU op, which also splits by columns).
extern "C" __global__ void embedding_bwd(float* dtable, const float* dy, const int* ids, int rows, int d, int vocab)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
        for (int r = 0; r < rows; r++) {
            int id = ids[r];
            if (id >= 0 && id < vocab) {
                dtable[(long long)id * d + j] += dy[(long long)r * d + j];
            }
        }
    }
}
