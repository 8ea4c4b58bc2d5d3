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
//
// RELORA_GPU_MATH=tf32 runs the GEMMs on TF32 tensor cores.
func init() {
	engine.RegisterDevice("cuda", func() (engine.Device, error) {
		drv, err := newGPU()
		if err != nil {
			return nil, err
		}
		return open(drv)
	})
	engine.RegisterDevice("emu", func() (engine.Device, error) {
		seed, _ := strconv.ParseUint(os.Getenv("RELORA_EMU_SEED"), 0, 64)
		d, err := open(newEmu(EmuOptions{Seed: seed}))
		if err == nil {
			d.(*Device).Exact = true
		}
		return d, err
	})
}

func open(drv Driver) (engine.Device, error) {
	d, err := NewDevice(drv)
	if err != nil {
		drv.Close()
		return nil, err
	}
	if os.Getenv("RELORA_GPU_MATH") == "tf32" {
		d.Math = MathTF32
	}
	return d, nil
}
