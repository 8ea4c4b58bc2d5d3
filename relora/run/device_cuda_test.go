//go:build cuda

package run

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/relora-go/relora-go/engine"
	_ "github.com/relora-go/relora-go/engine/cuda" // the "emu" and "cuda" devices
	"github.com/relora-go/relora-go/relora"
)

// The whole method on the emulated GPU (and on a real one where there is
// one) against the CPU engine: a tiny
// LLaMA trained full-rank, and with ReLoRA through a warm start, two merges
// and two optimizer resets (magnitude pruning, dropout on), must give the
// same losses and weights up to fp32 rounding. The two devices sum in
// different orders (GEMM blocking, reductions), so the runs are not
// bitwise equal. Over a free run the losses stay within deviceTol, and so
// do the full-rank weights; ReLoRA's weights do not: the first Adam steps
// of restarted factors whose second moments the reset zeroed divide by
// √v̂ of a gradient alone and amplify its rounding differences (1e-4 after
// one restart, 1e-3 after two, here). So ReLoRA's weights are compared in
// lock-step: every update starts both devices from the CPU's state and
// must land within stepTol of it, merges and resets included, give or take
// 1e-3 of each element's own change in that update (the relative error of
// an Adam step is that of m̂/√v̂, a ratio of gradients, which is what such a
// step after a reset is made of).
const (
	deviceTol = 2e-4
	stepTol   = 1e-5
)

// tinyOptions is a model small enough for the emulation (each CUDA thread
// a fiber): d 32, 2 layers, 2 heads, ffn 64, byte tokens, 2×16 per step.
func tinyOptions(t *testing.T, dev string, mod func(*Options)) Options {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "tiny.json")
	js := `{"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
		"vocab_size": 259, "max_sequence_length": 64, "rms_norm_eps": 1e-6, "initializer_range": 0.02}`
	if err := os.WriteFile(cfg, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.ModelConfig, o.Tokenizer, o.Device = cfg, "bytes", dev
	o.Steps, o.MaxLength, o.BatchSize, o.TotalBatchSize, o.WarmupSteps = 12, 16, 2, 4, 2
	o.EvalBatches, o.Threads, o.SaveDir = 2, 1, t.TempDir()
	if mod != nil {
		mod(&o)
	}
	return o
}

func deviceTrainer(t *testing.T, o Options) *Trainer {
	t.Helper()
	t.Setenv("RELORA_EMU_SEED", "7") // the emulation runs blocks, warps and lanes in shuffled orders
	return trainerFor(t, o)
}

// closeWeights compares the host copies of two trainers' weights: each
// element within tol of its tensor's largest magnitude, plus 1e-3 of the
// element's change in a's last update where before holds a's weights
// before it (by name).
func closeWeights(t *testing.T, a, b *Trainer, tol float64, before map[string][]float32) {
	t.Helper()
	if err := a.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if err := b.SyncHost(); err != nil {
		t.Fatal(err)
	}
	na, nb := a.Model.Tensors(), b.Model.Tensors()
	if len(na) != len(nb) {
		t.Fatalf("%d tensors against %d", len(na), len(nb))
	}
	for i := range na {
		x, y := na[i].T.Data, nb[i].T.Data
		scale := 0.0
		for _, v := range x {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for j := range x {
			allow := tol * math.Max(scale, 1e-3)
			if prev, ok := before[na[i].Name]; ok {
				allow += 1e-3 * math.Abs(float64(x[j]-prev[j]))
			}
			if d := math.Abs(float64(x[j] - y[j])); !(d <= allow) {
				t.Fatalf("%s[%d]: %g on one device, %g on the other (|Δ| %.3g, tensor max %.3g)", na[i].Name, j, x[j], y[j], d, scale)
			}
		}
	}
}

// snapshot copies a trainer's weights (host copies) by name.
func snapshot(tr *Trainer) map[string][]float32 {
	out := map[string][]float32{}
	for _, n := range tr.Model.Tensors() {
		out[n.Name] = append([]float32(nil), n.T.Data...)
	}
	return out
}

// copyState puts src's weights and optimizer moments into dst (both on
// the host, then onto dst's device).
func copyState(t *testing.T, dst, src *Trainer) {
	t.Helper()
	if err := src.SyncHost(); err != nil {
		t.Fatal(err)
	}
	na, nb := src.Model.Tensors(), dst.Model.Tensors()
	for i := range na {
		copy(nb[i].T.Data, na[i].T.Data)
	}
	for i := range src.opt.Params() {
		ms, vs := src.opt.Moments(i)
		md, vd := dst.opt.Moments(i)
		copy(md, ms)
		copy(vd, vs)
	}
	if err := dst.syncDevice(); err != nil {
		t.Fatal(err)
	}
}

// devicesUnderTest are the emulation and, where one is present, the GPU.
func devicesUnderTest(t *testing.T) []string {
	devs := []string{"emu"}
	if d, err := engine.OpenDevice("cuda", ""); err == nil {
		d.Close()
		devs = append(devs, "cuda")
	} else {
		t.Logf("no GPU: %v", err)
	}
	return devs
}

func TestDeviceTrainsAsTheCPU(t *testing.T) {
	for _, dev := range devicesUnderTest(t) {
		t.Run(dev, func(t *testing.T) { trainsAsTheCPU(t, dev) })
	}
}

func trainsAsTheCPU(t *testing.T, dev string) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"full-rank", nil},
		// warm start 3, then merges and magnitude-pruning resets after updates 3+5 and 3+9
		{"relora", func(o *Options) {
			o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup = 4, 4, relora.ScheduleCosineRestarts, 1
			o.WarmStartSteps, o.LoraR, o.LoraDropout, o.Steps = 3, 4, 0.1, 15
			o.ResetOptimizer, o.MagnitudePruning = false, 0.9
		}},
	} {
		for _, lockstep := range []bool{false, true} {
			name := tc.name + map[bool]string{false: " free-running", true: " lock-step"}[lockstep]
			t.Run(name, func(t *testing.T) {
				cpu := deviceTrainer(t, tinyOptions(t, "cpu", tc.mod))
				gpu := deviceTrainer(t, tinyOptions(t, dev, tc.mod))
				for cpu.Update < cpu.Opts.Steps {
					var before map[string][]float32
					if lockstep {
						copyState(t, gpu, cpu)
						before = snapshot(cpu)
					}
					rc, err := cpu.Step()
					if err != nil {
						t.Fatal(err)
					}
					re, err := gpu.Step()
					if err != nil {
						t.Fatal(err)
					}
					for _, tr := range []*Trainer{cpu, gpu} {
						if err := tr.afterUpdate(); err != nil {
							t.Fatal(err)
						}
					}
					if d := math.Abs(rc.Loss - re.Loss); d > deviceTol*rc.Loss {
						t.Fatalf("update %d: loss %.7f on the CPU, %.7f on %s", cpu.Update, rc.Loss, re.Loss, dev)
					}
					if d := math.Abs(rc.GradNorm - re.GradNorm); d > 1e-3*rc.GradNorm {
						t.Fatalf("update %d: gradient norm %.7f on the CPU, %.7f on %s", cpu.Update, rc.GradNorm, re.GradNorm, dev)
					}
					if lockstep {
						closeWeights(t, cpu, gpu, stepTol, before)
					}
				}
				if tc.name == "relora" && (gpu.Merges != 2 || gpu.Resets != 2) {
					t.Fatalf("%s run: %d merges and %d resets, want 2 and 2", dev, gpu.Merges, gpu.Resets)
				}
				if !lockstep && tc.name == "full-rank" {
					closeWeights(t, cpu, gpu, deviceTol, nil)
				}
				if vc, ve := cpu.Evaluate(), gpu.Evaluate(); math.Abs(vc-ve) > deviceTol*vc {
					t.Fatalf("val loss %.7f on the CPU, %.7f on %s", vc, ve, dev)
				}
			})
		}
	}
}

// A checkpoint is the same files on every device: one written on the
// emulated GPU resumes on the CPU and the reverse, continuing as an
// uninterrupted run would.
func TestCheckpointMovesBetweenDevices(t *testing.T) {
	devs := devicesUnderTest(t)
	mod := func(o *Options) {
		o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup = 4, 4, relora.ScheduleCosineRestarts, 1
		o.WarmStartSteps, o.LoraR, o.LoraDropout, o.Steps = 2, 4, 0, 10
		o.ResetOptimizer, o.RandomPruning = false, 0.5
	}
	for _, pair := range [][2]string{{devs[len(devs)-1], "cpu"}, {"cpu", devs[len(devs)-1]}} {
		t.Run(fmt.Sprintf("%s to %s", pair[0], pair[1]), func(t *testing.T) {
			ref := deviceTrainer(t, tinyOptions(t, pair[0], mod))
			runTo(t, ref, 5)
			dir, err := ref.SaveCheckpoint()
			if err != nil {
				t.Fatal(err)
			}
			runTo(t, ref, 10)
			o := tinyOptions(t, pair[1], mod)
			o.SaveDir, o.ModelConfig = ref.Opts.SaveDir, ref.Opts.ModelConfig
			moved := deviceTrainer(t, o)
			if err := moved.LoadCheckpoint(dir); err != nil {
				t.Fatal(err)
			}
			if moved.Update != 5 || moved.Layers == nil {
				t.Fatalf("resumed at update %d (wrapped %v), want 5 and wrapped", moved.Update, moved.Layers != nil)
			}
			runTo(t, moved, 10)
			closeWeights(t, ref, moved, deviceTol, nil)
		})
	}
}

// --dtype bfloat16 (GEMMs on bf16-rounded operands, fp32 everything else)
// trains as float32 does to within bf16's precision, and does round: its
// losses are close to the CPU's but not equal.
func TestBF16TrainsCloseToFloat32(t *testing.T) {
	mod := func(o *Options) {
		o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup = 4, 4, relora.ScheduleCosineRestarts, 1
		o.WarmStartSteps, o.LoraR, o.Steps = 2, 4, 10
	}
	cpu := deviceTrainer(t, tinyOptions(t, "cpu", mod))
	o := tinyOptions(t, "emu", mod)
	o.DType = "bfloat16"
	bf := deviceTrainer(t, o)
	differ := false
	for cpu.Update < cpu.Opts.Steps {
		rc, err := cpu.Step()
		if err != nil {
			t.Fatal(err)
		}
		rb, err := bf.Step()
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range []*Trainer{cpu, bf} {
			if err := tr.afterUpdate(); err != nil {
				t.Fatal(err)
			}
		}
		d := math.Abs(rc.Loss - rb.Loss)
		if d > 1e-2*rc.Loss {
			t.Fatalf("update %d: loss %.6f in float32, %.6f with bf16 GEMMs", cpu.Update, rc.Loss, rb.Loss)
		}
		differ = differ || d > 1e-6*rc.Loss
	}
	if !differ {
		t.Fatal("bf16 GEMMs gave the float32 losses exactly: the operands were not rounded")
	}
}

// Two ranks on the emulated GPU train as one process on it with the same
// global batch: the gradients go from each device through the host slab,
// are summed over the ranks and come back. Full-rank and ReLoRA (a warm
// start, a merge and an optimizer reset inside the run).
func TestTwoRanksOnDevicesEqualOneProcess(t *testing.T) {
	t.Setenv("RELORA_EMU_SEED", "7")
	for name, mod := range map[string]func(*Options){
		"full-rank": func(o *Options) { o.Steps = 6 },
		"relora": func(o *Options) {
			o.Relora, o.CycleLength, o.LoraR, o.WarmStartSteps, o.Steps = 2, 2, 4, 2, 6
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := tinyOptions(t, "emu", mod) // batch 2, global batch 4: one micro-batch per rank
			twoDir := t.TempDir()
			one, trs := oneAndRanks(t, o, 2, twoDir)
			defer func() {
				for _, tr := range trs {
					tr.Close()
				}
			}()
			if name == "relora" && (trs[0].Merges == 0 || trs[0].Resets == 0) {
				t.Fatalf("no merge (%d) or reset (%d) inside the run", trs[0].Merges, trs[0].Resets)
			}
			want, got := updateLines(t, o.SaveDir), updateLines(t, twoDir)
			if len(got) != o.Steps || len(want) != o.Steps {
				t.Fatalf("%d and %d update lines, want %d", len(want), len(got), o.Steps)
			}
			for i := range want {
				for _, k := range []string{"loss", "grad_norm"} {
					g, w := got[i][k].(float64), want[i][k].(float64)
					if math.Abs(g-w) > 1e-5*math.Abs(w) {
						t.Errorf("update %d: %s %v on 2 ranks, %v alone", i+1, k, g, w)
					}
				}
			}
			for _, tr := range append(trs, one) {
				if err := tr.SyncHost(); err != nil {
					t.Fatal(err)
				}
			}
			if d := maxRelDiff(one, trs[1]); d > 1e-5 {
				t.Errorf("final weights differ from the single process's by %.3g relative, want ≤ 1e-5", d)
			} else {
				t.Logf("final weights: largest difference %.3g relative to the tensor's largest weight", d)
			}
			if !bytes.Equal(trs[0].WeightsHash(), trs[1].WeightsHash()) {
				t.Error("the ranks' final weights differ")
			}
		})
	}
}
