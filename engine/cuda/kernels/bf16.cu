// bfloat16 conversions (the bf16 GEMM path): a bf16 is the top 16 bits of
// a float32, held as unsigned short.

// f32_to_bf16: round to nearest, ties to even; NaN stays NaN (quieted,
// sign kept), overflow rounds to ±Inf as IEEE rounding does.
extern "C" __global__ void f32_to_bf16(unsigned short* dst, const float* src, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        unsigned int u = (unsigned int)__float_as_int(src[i]);
        unsigned int h;
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            h = (u >> 16) | 0x40u;
        } else {
            h = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        }
        dst[i] = (unsigned short)h;
    }
}

// bf16_to_f32: exact widening.
extern "C" __global__ void bf16_to_f32(float* dst, const unsigned short* src, int n)
{
    unsigned stride = gridDim.x * blockDim.x; // n < 2³¹: i + stride cannot wrap
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)n; i += stride) {
        dst[i] = __int_as_float((int)((unsigned int)src[i] << 16));
    }
}
