//go:build cuda

// The CPU emulation's kernels: kernels/emu.h, then every kernels/*.cu file in
// a namespace of its own (a file's helpers are private to it, as they are to
// the file's NVRTC or clang translation unit) after kernels/reduce.cuh, the
// helpers every kernel file may use, then the registry expanded
// from kernels/kernels.def. A new .cu file needs one namespace block here
// (TestEmuSourcesListed checks that none is missing).

#include "kernels/emu.h"

namespace emu_src_selftest {
#include "kernels/selftest.cu"
} // namespace emu_src_selftest
namespace emu_src_bf16 {
#include "kernels/reduce.cuh"
#include "kernels/bf16.cu"
} // namespace emu_src_bf16
namespace emu_src_dropout {
#include "kernels/reduce.cuh"
#include "kernels/dropout.cu"
} // namespace emu_src_dropout
namespace emu_src_elementwise {
#include "kernels/reduce.cuh"
#include "kernels/elementwise.cu"
} // namespace emu_src_elementwise
namespace emu_src_embedding {
#include "kernels/reduce.cuh"
#include "kernels/embedding.cu"
} // namespace emu_src_embedding
namespace emu_src_loss {
#include "kernels/reduce.cuh"
#include "kernels/loss.cu"
} // namespace emu_src_loss
namespace emu_src_optim {
#include "kernels/reduce.cuh"
#include "kernels/optim.cu"
} // namespace emu_src_optim
namespace emu_src_rmsnorm {
#include "kernels/reduce.cuh"
#include "kernels/rmsnorm.cu"
} // namespace emu_src_rmsnorm
namespace emu_src_rope {
#include "kernels/reduce.cuh"
#include "kernels/rope.cu"
} // namespace emu_src_rope
namespace emu_src_softmax {
#include "kernels/reduce.cuh"
#include "kernels/softmax.cu"
} // namespace emu_src_softmax
namespace emu_src_swiglu {
#include "kernels/reduce.cuh"
#include "kernels/swiglu.cu"
} // namespace emu_src_swiglu

using namespace emu_src_selftest;
using namespace emu_src_bf16;
using namespace emu_src_dropout;
using namespace emu_src_elementwise;
using namespace emu_src_embedding;
using namespace emu_src_loss;
using namespace emu_src_optim;
using namespace emu_src_rmsnorm;
using namespace emu_src_rope;
using namespace emu_src_softmax;
using namespace emu_src_swiglu;

namespace {

const emu::Entry registry[] = {
#define KERNEL(name) ::emu::entry(#name, &name),
#include "kernels/kernels.def"
#undef KERNEL
};

constexpr int nregistry = int(sizeof registry / sizeof registry[0]);

} // namespace

extern "C" {

int emu_kernel_count(void) { return nregistry; }
const char *emu_kernel_name(int i) { return registry[i].name; }
const char *emu_kernel_sig(int i) { return registry[i].sig; }

// emu_launch runs registered kernel i; emu_launch's caller has checked the
// shapes (threads per block 1..1024, every dimension ≥ 1).
void emu_launch(int i, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                size_t shared, const uint64_t *args, uint64_t seed) {
	emu::launch(&registry[i], emu::uint3{gx, gy, gz}, emu::uint3{bx, by, bz}, shared, args, seed);
}

} // extern "C"
