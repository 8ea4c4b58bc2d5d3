// clang_prelude.h: the kernel dialect (see emu.h) for clang's CUDA device
// compilation without the CUDA headers, as ptx_test.go runs it:
//
//	clang++ -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc
//	  -nocudalib -Xclang -target-feature -Xclang +ptx70 -O2 -S -Wall -Werror
//	  -include clang_prelude.h -o - file.cu
//
// It is a compile and signature check: the built-in variables read the PTX
// special registers, barriers, shuffles and atomics are NVVM builtins, and
// the math functions call libdevice's __nv_* functions, which stay .extern
// in the PTX (-nocudalib links nothing).

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define EXTERN_SHARED(T, name) extern __shared__ T name[]

#define __CP_DEV static __device__ __forceinline__

struct __cp_uint3 {
	unsigned int x, y, z;
};
__CP_DEV __cp_uint3 __cp_u3(int x, int y, int z) {
	__cp_uint3 r;
	r.x = (unsigned int)x;
	r.y = (unsigned int)y;
	r.z = (unsigned int)z;
	return r;
}
#define threadIdx __cp_u3(__nvvm_read_ptx_sreg_tid_x(), __nvvm_read_ptx_sreg_tid_y(), __nvvm_read_ptx_sreg_tid_z())
#define blockIdx __cp_u3(__nvvm_read_ptx_sreg_ctaid_x(), __nvvm_read_ptx_sreg_ctaid_y(), __nvvm_read_ptx_sreg_ctaid_z())
#define blockDim __cp_u3(__nvvm_read_ptx_sreg_ntid_x(), __nvvm_read_ptx_sreg_ntid_y(), __nvvm_read_ptx_sreg_ntid_z())
#define gridDim __cp_u3(__nvvm_read_ptx_sreg_nctaid_x(), __nvvm_read_ptx_sreg_nctaid_y(), __nvvm_read_ptx_sreg_nctaid_z())
enum { warpSize = 32 };

#define __syncthreads() __nvvm_bar_sync(0)
__CP_DEV void __syncwarp(unsigned m = 0xffffffffu) { __nvvm_bar_warp_sync(m); }

// The shuffles' c operand: ((32 - width) << 8) | 31 clamps to the segment
// (up: (32 - width) << 8).
#define __CP_SHFL(name, op, up)                                                                       \
	__CP_DEV float name(unsigned m, float v, int a, int w = 32) {                                   \
		return __nvvm_shfl_sync_##op##_f32(m, v, a, ((32 - w) << 8) | (up ? 0 : 31));           \
	}                                                                                               \
	__CP_DEV int name(unsigned m, int v, int a, int w = 32) {                                       \
		return __nvvm_shfl_sync_##op##_i32(m, v, a, ((32 - w) << 8) | (up ? 0 : 31));           \
	}                                                                                               \
	__CP_DEV unsigned name(unsigned m, unsigned v, int a, int w = 32) {                             \
		return (unsigned)__nvvm_shfl_sync_##op##_i32(m, (int)v, a, ((32 - w) << 8) | (up ? 0 : 31)); \
	}
__CP_SHFL(__shfl_xor_sync, bfly, 0)
__CP_SHFL(__shfl_down_sync, down, 0)
__CP_SHFL(__shfl_up_sync, up, 1)
__CP_SHFL(__shfl_sync, idx, 0)

__CP_DEV float atomicAdd(float *p, float v) { return __nvvm_atom_add_gen_f(p, v); }
__CP_DEV int atomicAdd(int *p, int v) { return __nvvm_atom_add_gen_i(p, v); }

__CP_DEV float __int_as_float(int x) { return __builtin_bit_cast(float, x); }
__CP_DEV int __float_as_int(float x) { return __builtin_bit_cast(int, x); }
__CP_DEV float __uint_as_float(unsigned x) { return __builtin_bit_cast(float, x); }
__CP_DEV unsigned __float_as_uint(float x) { return __builtin_bit_cast(unsigned, x); }

__CP_DEV int min(int a, int b) { return a < b ? a : b; }
__CP_DEV int max(int a, int b) { return a > b ? a : b; }
__CP_DEV unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
__CP_DEV unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

extern "C" {
__device__ float __nv_expf(float);
__device__ float __nv_logf(float);
__device__ float __nv_sqrtf(float);
__device__ float __nv_rsqrtf(float);
__device__ float __nv_fmaxf(float, float);
__device__ float __nv_fminf(float, float);
__device__ float __nv_fabsf(float);
__device__ float __nv_tanhf(float);
__device__ float __nv_sinf(float);
__device__ float __nv_cosf(float);
__device__ float __nv_powf(float, float);
__device__ float __nv_floorf(float);
__device__ float __nv_ceilf(float);
}
__CP_DEV float expf(float x) { return __nv_expf(x); }
__CP_DEV float logf(float x) { return __nv_logf(x); }
__CP_DEV float sqrtf(float x) { return __nv_sqrtf(x); }
__CP_DEV float rsqrtf(float x) { return __nv_rsqrtf(x); }
__CP_DEV float fmaxf(float x, float y) { return __nv_fmaxf(x, y); }
__CP_DEV float fminf(float x, float y) { return __nv_fminf(x, y); }
__CP_DEV float fabsf(float x) { return __nv_fabsf(x); }
__CP_DEV float tanhf(float x) { return __nv_tanhf(x); }
__CP_DEV float sinf(float x) { return __nv_sinf(x); }
__CP_DEV float cosf(float x) { return __nv_cosf(x); }
__CP_DEV float powf(float x, float y) { return __nv_powf(x, y); }
__CP_DEV float floorf(float x) { return __nv_floorf(x); }
__CP_DEV float ceilf(float x) { return __nv_ceilf(x); }
__CP_DEV float min(float a, float b) { return fminf(a, b); }
__CP_DEV float max(float a, float b) { return fmaxf(a, b); }
