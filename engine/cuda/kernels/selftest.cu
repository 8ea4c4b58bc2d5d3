// Self-test kernels of the CPU emulation and the PTX check (emu_selftest_test.go).

// emu_block_sum: out[b] = the sum of block b's elements of x, a shared-memory
// tree reduction (blockDim.x a power of two ≤ 1024).
extern "C" __global__ void emu_block_sum(const float *x, float *out, int n) {
	__shared__ float s[1024];
	unsigned t = threadIdx.x;
	int i = blockIdx.x * blockDim.x + t;
	s[t] = i < n ? x[i] : 0.0f;
	__syncthreads();
	for (unsigned h = blockDim.x / 2; h > 0; h /= 2) {
		if (t < h)
			s[t] += s[t + h];
		__syncthreads();
	}
	if (t == 0)
		out[blockIdx.x] = s[0];
}

__device__ __forceinline__ float warp_sum(float v) {
	for (int o = 16; o > 0; o /= 2)
		v += __shfl_xor_sync(0xffffffff, v, o);
	return v;
}

// emu_warp_reduce: out[2b] = the sum and out[2b+1] the maximum of block b's
// elements: butterfly shuffles within warps, then warp 0 combines the
// per-warp results with down shuffles.
extern "C" __global__ void emu_warp_reduce(const float *x, float *out, int n) {
	__shared__ float sums[32];
	__shared__ float maxs[32];
	const float ninf = __int_as_float(0xff800000);
	unsigned t = threadIdx.x, lane = t % warpSize, warp = t / warpSize;
	int i = blockIdx.x * blockDim.x + t;
	float v = i < n ? x[i] : 0.0f;
	float m = i < n ? x[i] : ninf;
	v = warp_sum(v);
	for (int o = 16; o > 0; o /= 2)
		m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, o));
	if (lane == 0) {
		sums[warp] = v;
		maxs[warp] = m;
	}
	__syncthreads();
	if (warp == 0) {
		unsigned nw = blockDim.x / warpSize;
		v = lane < nw ? sums[lane] : 0.0f;
		m = lane < nw ? maxs[lane] : ninf;
		for (int o = 16; o > 0; o /= 2) {
			v += __shfl_down_sync(0xffffffff, v, o);
			m = fmaxf(m, __shfl_down_sync(0xffffffff, m, o));
		}
		if (lane == 0) {
			out[2 * blockIdx.x] = v;
			out[2 * blockIdx.x + 1] = m;
		}
	}
}

// emu_dyn_reverse: out[i] = scale·x[j] with j the mirror of i within its
// block, through dynamic shared memory of 2·blockDim.x floats of which only
// the first half is written (the rest stays NaN and must not be read).
extern "C" __global__ void emu_dyn_reverse(const float *x, float *out, int n, float scale) {
	EXTERN_SHARED(float, s);
	unsigned t = threadIdx.x, b = blockDim.x;
	int base = blockIdx.x * b;
	int i = base + t;
	if (i < n)
		s[t] = scale * x[i];
	__syncthreads();
	int valid = min(n - base, (int)b);
	if (i < n)
		out[i] = s[valid - 1 - t];
}

// emu_dyn_peek: out[i] = dynamic shared word t as the block found it.
extern "C" __global__ void emu_dyn_peek(float *out) {
	EXTERN_SHARED(float, s);
	out[blockIdx.x * blockDim.x + threadIdx.x] = s[threadIdx.x];
}

// emu_atomic: out[0] += every x[i] and count[0] += 1 per element.
extern "C" __global__ void emu_atomic(const float *x, float *out, int *count, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	atomicAdd(out, x[i]);
	atomicAdd(count, 1);
}

// emu_index: out[linear thread id] = its block and thread indices packed,
// for a 3-D grid of 3-D blocks; also the argument slots' unpacking.
extern "C" __global__ void emu_index(int *out, int k, float f, unsigned long long u) {
	unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
	unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
	unsigned nt = blockDim.x * blockDim.y * blockDim.z;
	int i = bx * nt + tx;
	out[2 * i] = (int)(bx * 1024 + tx);
	out[2 * i + 1] = k + (int)f + (int)(u >> 40);
}

// emu_barriers: iters barriers per thread (the barrier benchmark).
extern "C" __global__ void emu_barriers(float *out, int iters) {
	float v = threadIdx.x;
	for (int i = 0; i < iters; i++) {
		v = v * 0.5f + 1.0f;
		__syncthreads();
	}
	out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

// emu_diverge: thread 5 leaves before the barrier the others wait at, a bug
// the emulation must abort on.
extern "C" __global__ void emu_diverge(float *out, int n) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i == 5)
		return;
	out[i % n] = 1.0f;
	__syncthreads();
}

// emu_shfl_half: only half the warp shuffles, which must abort.
extern "C" __global__ void emu_shfl_half(float *out) {
	float v = threadIdx.x;
	if (threadIdx.x < 16)
		v = __shfl_xor_sync(0xffffffff, v, 1);
	out[threadIdx.x] = v;
}

// emu_oob: reads x[n], one past the end (the ASan demonstration).
extern "C" __global__ void emu_oob(const float *x, float *out, int n) {
	out[0] = x[n];
}

// emu_bar_lines: odd and even threads wait at different barriers, which
// must abort.
extern "C" __global__ void emu_bar_lines(float *out) {
	if (threadIdx.x % 2) {
		out[threadIdx.x] = 1.0f;
		__syncthreads();
	} else {
		out[threadIdx.x] = 2.0f;
		__syncthreads();
	}
}

// emu_shfl_mask: a shuffle with a partial mask, which must abort.
extern "C" __global__ void emu_shfl_mask(float *out) {
	out[threadIdx.x] = __shfl_down_sync(0x0000ffff, out[threadIdx.x], 1);
}
