package main

import (
	"flag"
	"strings"

	"github.com/relora-go/relora-go/engine"
)

// deviceFlag registers --device (where the graph and the optimizer run)
// and --dtype (the GEMMs' arithmetic there; on the CPU, ReLoRA's W0 storage).
func deviceFlag(fs *flag.FlagSet, dev, dtype *string) {
	fs.StringVar(dev, "device", *dev, "`name` of the device to train on: "+strings.Join(engine.DeviceNames(), ", ")+
		" (cuda: an NVIDIA GPU; emu: the GPU path emulated on the CPU, for checks; both need a binary built with -tags cuda)")
	fs.StringVar(dtype, "dtype", *dtype, "arithmetic of the GEMMs on a device: "+strings.Join(engine.DTypes, ", ")+
		" (tf32, bfloat16: tensor cores, fp32 accumulation; weights, activations and optimizer state stay float32)."+
		" On the CPU, which computes in float32: bfloat16 holds the frozen W0 of ReLoRA's layers in bf16"+
		" (half its memory; widened to float32 for each product, merges rounded to bf16), tf32 is refused")
}
