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

// embedding_bwd: the rows grouped by id (order lists them id by id, group
// g is order[starts[g]..starts[g+1])); block (g, y) adds column chunk y of
// group g's rows into its table row, in increasing row order: no two
// blocks write the same element, and the sums are deterministic (the CPU
// op's order).
extern "C" __global__ void embedding_bwd(float* dtable, const float* dy, const int* ids, const int* order,
    const int* starts, int d, int vocab)
{
    int j = blockIdx.y * blockDim.x + threadIdx.x;
    int lo = starts[blockIdx.x], hi = starts[blockIdx.x + 1];
    int id = ids[order[lo]];
    if (j >= d || id < 0 || id >= vocab) {
        return;
    }
    float* dst = dtable + (long long)id * d + j;
    float acc = *dst;
    for (int k = lo; k < hi; k++) {
        acc += dy[(long long)order[k] * d + j];
    }
    *dst = acc;
}
