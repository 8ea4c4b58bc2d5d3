// emu.h: CPU emulation of CUDA's execution model for the kernels of this
// directory, compiled by the host C++17 compiler (g++ through cgo; see
// ../emu_kernels.cc, the one translation unit that includes this header).
//
// # The kernel dialect
//
// The .cu files are plain text with no #include; each toolchain prepends its
// own prelude (NVRTC: the real driver's; clang's PTX check: clang_prelude.h;
// the CPU emulation: this file). All three accept exactly this:
//
//   - kernels: extern "C" __global__ void name(params), one per name across
//     all files; helpers __device__ (optionally __forceinline__). A file's
//     helpers are private to it (each file is its own translation unit for
//     NVRTC and clang, and its own namespace here).
//   - parameter types: pointers (float*, const float*, int*, const int*,
//     unsigned short* for bf16 bits, ...), int, float, unsigned long long;
//     any other type is a compile error here.
//   - threadIdx, blockIdx, blockDim, gridDim (.x .y .z, unsigned int),
//     warpSize (32).
//   - __syncthreads(): reached by every thread of the block, at the same
//     source line, or the emulation aborts (a thread exited while others
//     wait, or threads wait at different lines).
//   - __shfl_xor_sync, __shfl_down_sync, __shfl_up_sync, __shfl_sync (float,
//     int or unsigned; optional width, a power of two ≤ 32) and
//     __syncwarp(): the mask must be 0xffffffff, all 32 lanes of the warp
//     must arrive at the same line, and blockDim.x must be a multiple of 32;
//     anything else aborts.
//   - atomicAdd(float*, float), atomicAdd(int*, int) (return the old value).
//   - static shared memory: __shared__ T name[N]; declared in a kernel or
//     helper body (it is a function-static variable here, thread_local, so
//     each OS thread's block sees its own; do not write "static __shared__").
//     Its contents at block start are undefined (here: the previous block's).
//   - dynamic shared memory: EXTERN_SHARED(T, name); inside a function body
//     (extern __shared__ T name[]; in CUDA). Here it is filled with NaN words
//     (0x7fc00000) before every block, so reads before writes show up.
//   - math: expf logf sqrtf rsqrtf fmaxf fminf fabsf tanhf sinf cosf powf
//     floorf ceilf (float overloads only); min, max (int, unsigned, float);
//     __int_as_float __float_as_int __uint_as_float __float_as_uint. -inf is
//     written __int_as_float(0xff800000) (there is no INFINITY macro).
//
// # The emulation
//
// A launch runs its blocks one after another on the calling OS thread, in
// order, or in a seeded random permutation (emu_launch's seed), which also
// permutes the order in which warps and lanes are stepped. A block's threads
// are fibers (x86-64: a small assembly stack switch; elsewhere, or with
// EMU_UCONTEXT defined: makecontext/swapcontext) with 64 KiB stacks (256 KiB
// under ASan) behind a guard page, reused across blocks and launches. A
// fiber runs until it reaches a sync point (a barrier, a warp operation) or
// exits; the scheduler steps each warp until all its lanes wait at a block
// barrier or have exited (completing warp operations as the 32 lanes meet),
// then releases the barrier once every thread of the block waits at it.
// atomicAdd is a plain add. The floating-point arithmetic is the host's (no
// FMA contraction unless the host compiler does it), so results match a GPU
// to rounding only.
//
// Under AddressSanitizer (__SANITIZE_ADDRESS__) the fiber switches are
// annotated with __sanitizer_start/finish_switch_fiber.
#pragma once

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if !defined(__x86_64__) && !defined(EMU_UCONTEXT)
#define EMU_UCONTEXT 1
#endif
#ifdef EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace emu {

struct uint3 {
	unsigned int x, y, z;
};

} // namespace emu

// The built-in variables; the scheduler sets threadIdx before it resumes a
// fiber.
inline thread_local emu::uint3 threadIdx, blockIdx, blockDim, gridDim;
enum { warpSize = 32 };

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static thread_local
#define EXTERN_SHARED(T, name) T *const name = reinterpret_cast<T *>(::emu::dyn_smem())
#define __syncthreads() ::emu::sync_block(__LINE__)
#define __syncwarp(...) ::emu::sync_warp(__LINE__, ##__VA_ARGS__)
#define __shfl_xor_sync(...) ::emu::shfl(__LINE__, ::emu::OP_XOR, __VA_ARGS__)
#define __shfl_down_sync(...) ::emu::shfl(__LINE__, ::emu::OP_DOWN, __VA_ARGS__)
#define __shfl_up_sync(...) ::emu::shfl(__LINE__, ::emu::OP_UP, __VA_ARGS__)
#define __shfl_sync(...) ::emu::shfl(__LINE__, ::emu::OP_IDX, __VA_ARGS__)

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
inline float __uint_as_float(unsigned x) { float f; memcpy(&f, &x, 4); return f; }
inline unsigned __float_as_uint(float x) { unsigned i; memcpy(&i, &x, 4); return i; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline float atomicAdd(float *p, float v) { float o = *p; *p = o + v; return o; }
inline int atomicAdd(int *p, int v) { int o = *p; *p = o + v; return o; }

namespace emu {

enum { OP_XOR, OP_DOWN, OP_UP, OP_IDX, OP_SYNCWARP };
enum : uint8_t { F_RUN, F_BAR, F_WARP, F_DONE };

typedef void (*AnyFn)();
typedef void (*Tramp)(AnyFn fn, const uint64_t *args);

// Entry is one registered kernel.
struct Entry {
	const char *name, *sig;
	AnyFn fn;
	Tramp tramp;
};

#ifdef EMU_ASAN
constexpr size_t kStack = 256 << 10;
#else
constexpr size_t kStack = 64 << 10;
#endif
constexpr size_t kGuard = 4096;
constexpr size_t kStagger = 16 << 10;
constexpr unsigned kMaxThreads = 1024;

struct Fiber {
	void *sp = nullptr; // saved stack pointer (assembly switch)
#ifdef EMU_UCONTEXT
	ucontext_t uc;
#endif
	char *stack = nullptr; // usable stack (above the guard page)
	uint3 tid;
	int site = 0; // the line (times 8 plus op) it waits at
	uint8_t state = F_DONE;
	void *fake = nullptr; // ASan's fake stack
};

// Exec runs launches on one OS thread; a pool of them is shared.
struct Exec {
	std::vector<Fiber> f;
	const Entry *e = nullptr;
	const uint64_t *args = nullptr;
	uint3 block{}, bid{};
	unsigned n = 0; // threads per block
	int cur = 0;
	char *smem = nullptr;
	size_t smem_cap = 0, smem_bytes = 0;
	std::vector<uint32_t> border; // block permutation
	std::vector<uint32_t> worder; // warp order
	uint32_t lorder[32];          // lane order
	uint32_t wval[kMaxThreads], wout[kMaxThreads];
	uint16_t wsrc[kMaxThreads];
	void *sched_sp = nullptr;
#ifdef EMU_UCONTEXT
	ucontext_t sched_uc;
#endif
	const void *sched_bottom = nullptr;
	size_t sched_size = 0;
};

inline thread_local Exec *tl_exec;

[[noreturn]] __attribute__((format(printf, 1, 2))) inline void die(const char *fmt, ...) {
	Exec *x = tl_exec;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x && x->e)
		fprintf(stderr, "cuda emu: kernel %s block (%u,%u,%u): %s\n", x->e->name, x->bid.x, x->bid.y,
		        x->bid.z, msg);
	else
		fprintf(stderr, "cuda emu: %s\n", msg);
	fflush(stderr);
	abort();
}

inline void *dyn_smem() { return tl_exec->smem; }

#ifndef EMU_UCONTEXT
// emu_switch saves the callee-saved registers on the current stack, stores
// the stack pointer in *save and continues on the stack load.
extern "C" void emu_switch(void **save, void *load);
asm(R"(
	.text
	.p2align 4
	.hidden emu_switch
	.globl emu_switch
	.type emu_switch,@function
emu_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size emu_switch, .-emu_switch
)");
#endif

// to_sched leaves fiber f for the scheduler (for good when exiting).
inline void to_sched(Exec *x, Fiber &f, bool exiting) {
#ifdef EMU_ASAN
	__sanitizer_start_switch_fiber(exiting ? nullptr : &f.fake, x->sched_bottom, x->sched_size);
#else
	(void)exiting;
#endif
#ifdef EMU_UCONTEXT
	swapcontext(&f.uc, &x->sched_uc);
#else
	emu_switch(&f.sp, x->sched_sp);
#endif
#ifdef EMU_ASAN
	__sanitizer_finish_switch_fiber(f.fake, nullptr, nullptr);
#endif
}

inline void fiber_main() {
	Exec *x = tl_exec;
#ifdef EMU_ASAN
	__sanitizer_finish_switch_fiber(nullptr, &x->sched_bottom, &x->sched_size);
#endif
	x->e->tramp(x->e->fn, x->args);
	Fiber &f = x->f[x->cur];
	f.state = F_DONE;
	f.site = 0;
	to_sched(x, f, true);
	__builtin_unreachable();
}

// resume runs fiber t until its next sync point or exit.
inline void resume(Exec *x, int t) {
	Fiber &f = x->f[t];
	x->cur = t;
	threadIdx = f.tid;
#ifdef EMU_ASAN
	void *fake = nullptr;
	__sanitizer_start_switch_fiber(&fake, f.stack, kStack);
#endif
#ifdef EMU_UCONTEXT
	swapcontext(&x->sched_uc, &f.uc);
#else
	emu_switch(&x->sched_sp, f.sp);
#endif
#ifdef EMU_ASAN
	__sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// start gives fiber t a fresh context at fiber_main.
inline void start(Exec *x, int t) {
	Fiber &f = x->f[t];
	if (!f.stack) {
		void *m = mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (m == MAP_FAILED)
			die("cannot map a fiber stack");
		mprotect(m, kGuard, PROT_NONE);
		f.stack = static_cast<char *>(m) + kGuard;
	}
#ifdef EMU_UCONTEXT
	getcontext(&f.uc);
	f.uc.uc_stack.ss_sp = f.stack;
	f.uc.uc_stack.ss_size = kStack;
	f.uc.uc_link = nullptr;
	makecontext(&f.uc, fiber_main, 0);
#else
	// Six zero registers, then fiber_main as the return address, then a
	// null return address for fiber_main (entered with rsp ≡ 8 mod 16).
	// The top is staggered by 64 bytes a fiber so that the fibers' hot
	// stack lines do not all map to the same cache sets.
	void **sp = reinterpret_cast<void **>(f.stack + kStack - 64 - size_t(t) * 64 % kStagger);
	for (int i = 0; i < 6; i++)
		sp[i] = nullptr;
	sp[6] = reinterpret_cast<void *>(&fiber_main);
	sp[7] = nullptr;
	f.sp = sp;
#endif
#ifdef EMU_ASAN
	// The previous block's fibers returned from their kernels, which
	// unpoisoned the kernels' frames; what may stay poisoned are the frames of
	// fiber_main and the switch near the top, so unpoison the top 8 KiB (the
	// ucontext path: the top of the stack) rather than all of it.
	{
		char *top = f.stack + kStack, *lo = top - 64 - size_t(t) * 64 % kStagger - (8 << 10);
		__asan_unpoison_memory_region(lo, size_t(top - lo));
	}
#endif
	f.state = F_RUN;
	f.site = 0;
}

inline void sync_block(int line) {
	Exec *x = tl_exec;
	Fiber &f = x->f[x->cur];
	f.state = F_BAR;
	f.site = line;
	to_sched(x, f, false);
}

// warp_op waits, with its value v and source lane src, until every lane of
// the warp has reached the same operation, and returns the source's value.
inline uint32_t warp_op(int line, int op, unsigned mask, uint32_t v, unsigned src) {
	Exec *x = tl_exec;
	if (mask != 0xffffffffu)
		die("thread (%u,%u,%u): warp operation at line %d with mask %#x: only the full mask "
		    "0xffffffff is supported",
		    threadIdx.x, threadIdx.y, threadIdx.z, line, mask);
	if (x->block.x % 32)
		die("warp operation at line %d with blockDim.x = %u, not a multiple of 32", line, x->block.x);
	int t = x->cur;
	Fiber &f = x->f[t];
	x->wval[t] = v;
	x->wsrc[t] = uint16_t((t & ~31) + src);
	f.state = F_WARP;
	f.site = line * 8 + op;
	to_sched(x, f, false);
	return x->wout[t];
}

inline void sync_warp(int line, unsigned mask = 0xffffffffu) {
	warp_op(line, OP_SYNCWARP, mask, 0, tl_exec->cur & 31);
}

template <class T> inline T shfl(int line, int op, unsigned mask, T v, int arg, int width = 32) {
	static_assert(sizeof(T) == 4, "shuffles take 4-byte values (float, int, unsigned)");
	if (width < 1 || width > 32 || (width & (width - 1)))
		die("shuffle at line %d: width %d is not a power of two ≤ 32", line, width);
	int lane = tl_exec->cur & 31;
	int seg = lane & ~(width - 1), last = seg + width - 1, j = lane;
	switch (op) {
	case OP_XOR: j = lane ^ arg; break;
	case OP_DOWN: j = lane + arg; break;
	case OP_UP: j = lane - arg; break;
	case OP_IDX: j = seg + (arg & (width - 1)); break;
	}
	if (j < seg || j > last)
		j = lane;
	uint32_t u;
	memcpy(&u, &v, 4);
	u = warp_op(line, op, mask, u, unsigned(j));
	memcpy(&v, &u, 4);
	return v;
}

// Arg maps a kernel parameter type to its signature letter and unpacks it
// from an 8-byte argument slot.
template <class T> struct Arg {
	static_assert(sizeof(T) == 0, "kernel parameter type outside the dialect (pointer, int, float, "
	                              "unsigned long long)");
};
template <class T> struct Arg<T *> {
	static constexpr char c = 'p';
	static T *get(uint64_t s) { return reinterpret_cast<T *>(uintptr_t(s)); }
};
template <> struct Arg<int> {
	static constexpr char c = 'i';
	static int get(uint64_t s) { return int(uint32_t(s)); }
};
template <> struct Arg<float> {
	static constexpr char c = 'f';
	static float get(uint64_t s) { return __uint_as_float(uint32_t(s)); }
};
template <> struct Arg<unsigned long long> {
	static constexpr char c = 'u';
	static unsigned long long get(uint64_t s) { return s; }
};

template <class... A> struct Sig {
	static constexpr char s[] = {Arg<A>::c..., 0};
};

template <class... A, size_t... I>
inline void call(void (*fn)(A...), const uint64_t *a, std::index_sequence<I...>) {
	fn(Arg<A>::get(a[I])...);
	(void)a;
}

template <class... A> void tramp(AnyFn fn, const uint64_t *a) {
	call(reinterpret_cast<void (*)(A...)>(fn), a, std::index_sequence_for<A...>{});
}

template <class... A> constexpr Entry entry(const char *name, void (*fn)(A...)) {
	return Entry{name, Sig<A...>::s, reinterpret_cast<AnyFn>(fn), &tramp<A...>};
}

inline uint64_t splitmix(uint64_t &s) {
	uint64_t z = (s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

template <class V> inline void shuffle(V *v, size_t n, uint64_t &s) {
	for (size_t i = n; i > 1; i--)
		std::swap(v[i - 1], v[splitmix(s) % i]);
}

inline const char *state_name(const Fiber &f, char *buf, size_t n) {
	switch (f.state) {
	case F_DONE: return "exited";
	case F_BAR: snprintf(buf, n, "waits at __syncthreads on line %d", f.site); return buf;
	case F_WARP: snprintf(buf, n, "waits at a warp operation on line %d", f.site / 8); return buf;
	}
	return "runs";
}

// divergence aborts naming thread a (the first) and b (one that differs).
[[noreturn]] inline void divergence(Exec *x, const char *what, int a, int b) {
	char ba[64], bb[64];
	const Fiber &fa = x->f[a], &fb = x->f[b];
	die("%s: thread (%u,%u,%u) %s but thread (%u,%u,%u) %s", what, fa.tid.x, fa.tid.y, fa.tid.z,
	    state_name(fa, ba, sizeof ba), fb.tid.x, fb.tid.y, fb.tid.z, state_name(fb, bb, sizeof bb));
}

// step_warp runs warp w until each lane waits at a block barrier or exited.
inline void step_warp(Exec *x, unsigned w) {
	int lo = int(w * 32), hi = int(std::min(x->n, w * 32 + 32));
	for (;;) {
		for (int k = 0; k < 32; k++) {
			int t = lo + int(x->lorder[k]);
			if (t < hi && x->f[t].state == F_RUN)
				resume(x, t);
		}
		int first = -1;
		for (int t = lo; t < hi; t++)
			if (x->f[t].state == F_WARP) {
				first = t;
				break;
			}
		if (first < 0)
			return;
		for (int t = lo; t < hi; t++)
			if (x->f[t].state != F_WARP || x->f[t].site != x->f[first].site)
				divergence(x, "warp operation not reached by all 32 lanes", first, t);
		if (hi - lo != 32)
			die("warp operation at line %d in a partial warp", x->f[first].site / 8);
		for (int t = lo; t < hi; t++)
			x->wout[t] = x->wval[x->wsrc[t]];
		for (int t = lo; t < hi; t++)
			x->f[t].state = F_RUN;
	}
}

inline void run_block(Exec *x) {
	blockIdx = x->bid;
	uint32_t *w = reinterpret_cast<uint32_t *>(x->smem);
	for (size_t i = 0; i < x->smem_bytes / 4; i++)
		w[i] = 0x7fc00000u;
	for (unsigned t = 0; t < x->n; t++)
		start(x, int(t));
	unsigned nw = unsigned(x->worder.size());
	for (;;) {
		for (unsigned i = 0; i < nw; i++)
			step_warp(x, x->worder[i]);
		const Fiber &f0 = x->f[0];
		bool same = true;
		for (unsigned t = 1; t < x->n && same; t++)
			same = x->f[t].state == f0.state && x->f[t].site == f0.site;
		if (!same) {
			for (unsigned t = 1; t < x->n; t++)
				if (x->f[t].state != f0.state || x->f[t].site != f0.site)
					divergence(x, "__syncthreads not reached by every thread of the block", 0, int(t));
		}
		if (f0.state == F_DONE)
			return;
		for (unsigned t = 0; t < x->n; t++)
			x->f[t].state = F_RUN;
	}
}

inline std::mutex pool_mu;
inline std::vector<Exec *> pool;

// launch runs kernel e on grid × block with shared bytes of dynamic shared
// memory; seed 0 runs blocks, warps and lanes in order.
inline void launch(const Entry *e, uint3 grid, uint3 block, size_t shared, const uint64_t *args,
                   uint64_t seed) {
	Exec *x;
	{
		std::lock_guard<std::mutex> l(pool_mu);
		if (pool.empty()) {
			x = new Exec;
		} else {
			x = pool.back();
			pool.pop_back();
		}
	}
	Exec *saved = tl_exec;
	tl_exec = x;
	x->e = e;
	x->args = args;
	x->block = block;
	x->n = block.x * block.y * block.z;
	if (x->f.size() < x->n)
		x->f.resize(x->n);
	for (unsigned t = 0; t < x->n; t++)
		x->f[t].tid = uint3{t % block.x, t / block.x % block.y, t / (block.x * block.y)};
	if (x->smem_cap < shared) {
		free(x->smem);
		x->smem = static_cast<char *>(aligned_alloc(64, (shared + 63) & ~size_t(63)));
		x->smem_cap = shared;
	}
	x->smem_bytes = shared;
	blockDim = block;
	gridDim = grid;
	size_t nb = size_t(grid.x) * grid.y * grid.z;
	unsigned nw = (x->n + 31) / 32;
	x->worder.resize(nw);
	for (unsigned i = 0; i < nw; i++)
		x->worder[i] = i;
	for (unsigned i = 0; i < 32; i++)
		x->lorder[i] = i;
	if (seed) {
		x->border.resize(nb);
		for (size_t i = 0; i < nb; i++)
			x->border[i] = uint32_t(i);
		shuffle(x->border.data(), nb, seed);
		shuffle(x->worder.data(), nw, seed);
		shuffle(x->lorder, 32, seed);
	}
	for (size_t i = 0; i < nb; i++) {
		size_t b = seed ? x->border[i] : i;
		x->bid = uint3{unsigned(b % grid.x), unsigned(b / grid.x % grid.y),
		               unsigned(b / (size_t(grid.x) * grid.y))};
		run_block(x);
	}
	x->e = nullptr;
	tl_exec = saved;
	std::lock_guard<std::mutex> l(pool_mu);
	pool.push_back(x);
}

} // namespace emu
