package main

import (
	"flag"
	"strings"

	"github.com/relora-go/relora-go/engine"
)

// deviceFlag registers --device: where the graph and the optimizer run.
func deviceFlag(fs *flag.FlagSet, dev *string) {
	fs.StringVar(dev, "device", *dev, "`name` of the device to train on: "+strings.Join(engine.DeviceNames(), ", ")+
		" (cuda: an NVIDIA GPU; emu: the GPU path emulated on the CPU, for checks; both need a binary built with -tags cuda)")
}
