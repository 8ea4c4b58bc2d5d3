package run

import (
	"testing"

	"github.com/relora-go/relora-go/engine/prof"
)

// The FLOPs behind the progress lines' MFU (UpdateFlops, counted from the
// graph without running it) are those the kernel profile records for an
// update: full-rank, ReLoRA through its unfused path (dropout), lora_only,
// with gradient accumulation.
func TestUpdateFlopsMatchTheProfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"full-rank", func(o *Options) {}},
		{"relora", func(o *Options) { o.Relora, o.CycleLength, o.LoraR, o.LoraDropout = 10, 10, 8, 0.1 }},
		{"lora_only", func(o *Options) { o.LoraOnly, o.LoraR, o.LoraDropout = true, 8, 0.1 }},
	} {
		tr := smallTrainer(t, tc.mod)
		kp := prof.New()
		tr.Profiler = kp
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		var counted int64
		for _, r := range kp.ByKernel() {
			counted += r.Flops
		}
		if got := tr.UpdateFlops(); got != counted {
			t.Errorf("%s: UpdateFlops %d, the profile counted %d", tc.name, got, counted)
		}
	}
}

func TestCountAndKeyValues(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1K", 1234: "1.23K", 614400: "614K", 2_500_000: "2.5M", 7e9: "7B"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	got := keyValues(map[string]any{"mode": "magnitude pruning 0.9", "fraction_zeroed": 0.98765, "merges": 2})
	if want := `fraction_zeroed=0.9877 merges=2 mode="magnitude pruning 0.9"`; got != want {
		t.Errorf("keyValues: %s, want %s", got, want)
	}
}
