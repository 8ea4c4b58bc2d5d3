package run

import (
	"strings"
	"testing"

	"github.com/relora-go/relora-go/model"
)

// On a device the activations live in the device's memory: the host check
// counts the weights and optimizer state only, so a batch whose graph would
// not fit in this machine's memory is accepted for --device cuda and
// refused on the CPU.
func TestDeviceRunsAreNotCheckedForHostActivations(t *testing.T) {
	cfg, err := model.LoadConfig("llama_60m")
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.BatchSize, o.MaxLength, o.LoraR = 4096, 1024, 128
	if err := checkSizes(o, cfg, "llama_60m"); err == nil || !strings.Contains(err.Error(), "needs about") {
		t.Fatalf("a graph of %.0f GiB on the CPU: %v, want a memory error", cfg.GraphBytes(o.BatchSize, o.MaxLength, 0)/(1<<30), err)
	}
	o.Device = "cuda"
	if err := checkSizes(o, cfg, "llama_60m"); err != nil {
		t.Fatalf("the same batch on a device: %v", err)
	}
}
