// Rotary position embeddings, "rotate half" layout: rows of heads·hd, row r
// at position r mod seq, cos and sin tables [seq, hd/2].

// rope_fwd: one thread per (row, head, pair), grid-stride. y may alias x.
extern "C" __global__ void rope_fwd(float* y, const float* x, const float* cs, const float* sn, int rows, int seq, int heads, int hd)
{
    int half = hd / 2;
    unsigned n = (unsigned)rows * (unsigned)(heads * half); // < 2³¹ (the Go side checks)
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        unsigned q = i / (unsigned)half; // row·heads + head
        unsigned j = i - q * (unsigned)half;
        unsigned r = q / (unsigned)heads;
        unsigned p = r % (unsigned)seq;
        unsigned base = q * (unsigned)hd; // r·heads·hd + h·hd
        float a = x[base + j];
        float b = x[base + half + j];
        float c = cs[p * (unsigned)half + j];
        float s = sn[p * (unsigned)half + j];
        y[base + j] = a * c - b * s;
        y[base + half + j] = b * c + a * s;
    }
}

// rope_bwd: dx += rotateᵀ(dy), one thread per (row, head, pair).
extern "C" __global__ void rope_bwd(float* dx, const float* dy, const float* cs, const float* sn, int rows, int seq, int heads, int hd)
{
    int half = hd / 2;
    unsigned n = (unsigned)rows * (unsigned)(heads * half); // < 2³¹ (the Go side checks)
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        unsigned q = i / (unsigned)half;
        unsigned j = i - q * (unsigned)half;
        unsigned r = q / (unsigned)heads;
        unsigned p = r % (unsigned)seq;
        unsigned base = q * (unsigned)hd;
        float d1 = dy[base + j];
        float d2 = dy[base + half + j];
        float c = cs[p * (unsigned)half + j];
        float s = sn[p * (unsigned)half + j];
        dx[base + j] += d1 * c + d2 * s;
        dx[base + half + j] += d2 * c - d1 * s;
    }
}
