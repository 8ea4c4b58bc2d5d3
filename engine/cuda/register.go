//go:build cuda

package cuda

import (
	"os"
	"strconv"

	"github.com/relora-go/relora-go/engine"
)

// The devices this package adds to engine.OpenDevice (--device):
//
//	cuda  the first NVIDIA GPU, through the CUDA driver, cuBLAS and NVRTC
//	      loaded at run time (RELORA_CUDA_LIB_DIR names their directory)
//	emu   the same kernels and device layer on the CPU emulation, for checks
//	      (RELORA_EMU_SEED shuffles the block order with that seed)
func init() {
	engine.RegisterDevice("cuda", func(dtype string) (engine.Device, error) {
		drv, err := newGPU()
		if err != nil {
			return nil, err
		}
		return open(drv, dtype, false)
	})
	engine.RegisterDevice("emu", func(dtype string) (engine.Device, error) {
		seed, _ := strconv.ParseUint(os.Getenv("RELORA_EMU_SEED"), 0, 64)
		return open(newEmu(EmuOptions{Seed: seed}), dtype, true)
	})
}

func open(drv Driver, dtype string, exact bool) (engine.Device, error) {
	d, err := NewDevice(drv)
	if err != nil {
		drv.Close()
		return nil, err
	}
	d.Exact = exact
	switch dtype {
	case "tf32":
		d.Math = MathTF32
	case "bfloat16":
		d.BF16 = true
	}
	return d, nil
}
