package gemm

import (
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/relora-go/relora-go/asm"
)

// Peak is the FMA peak that utilisation (MFU) is measured against.
type Peak struct {
	PerCore float64 // FLOP/s of one core
	Cores   int     // cores counted (threads, at most the physical cores)
	Kernel  string  // the micro-kernel whose FMA loop was timed
}

// FLOPS is the peak of all counted cores.
func (p Peak) FLOPS() float64 { return p.PerCore * float64(p.Cores) }

var peakOnce struct {
	sync.Once
	perCore float64
}

// PeakFor is the FMA peak of threads worker threads: the selected
// micro-kernel's FMA loop timed on one thread on panels that stay in the
// L1 cache (k = 64: 2·MR·NR·64 FLOPs a call, no memory traffic), the best
// of 15 runs of about 2 ms (robust to a busy machine), times the threads
// that have a physical core of their own (two hyper-threads share one
// core's FMA units). It is measured once per process (about 30 ms). The
// loop is nothing but vector FMAs on registers fed from L1 (MR·NR/lanes
// independent accumulators), so it runs at the core's FMA throughput less
// the loop's overhead: a measured stand-in for cores × FMA units × lanes ×
// 2 × clock that needs no frequency and no table of FMA units per CPU. In
// a purego build it is the pure-Go kernel's rate, not the hardware's.
func PeakFor(threads int) Peak {
	peakOnce.Do(func() { peakOnce.perCore = measurePeak(asm.Selected()) })
	cores := threads
	if pc := cpuid.CPU.PhysicalCores; pc > 0 && pc < cores {
		cores = pc
	}
	if n := runtime.NumCPU(); cores > n {
		cores = n
	}
	return Peak{PerCore: peakOnce.perCore, Cores: max(cores, 1), Kernel: asm.Selected().Name}
}

func measurePeak(kern asm.Kernel) float64 {
	const k = 64
	a := make([]float32, k*kern.MR)
	b := make([]float32, k*kern.NR)
	c := make([]float32, kern.MR*kern.NR)
	for i := range a {
		a[i] = 1e-3 * float32(i%7)
	}
	for i := range b {
		b[i] = 1e-3 * float32(i%5)
	}
	flops := 2 * float64(kern.MR*kern.NR*k)
	// calls per run: about 2 ms at the first run's rate
	calls := 16
	for {
		t0 := time.Now()
		for i := 0; i < calls; i++ {
			kern.Tile(k, a, b, c, kern.NR, 1, 0)
		}
		if d := time.Since(t0); d > 200*time.Microsecond || calls > 1<<24 {
			calls = max(16, int(float64(calls)*2e-3/d.Seconds()))
			break
		}
		calls *= 4
	}
	best := 0.0
	for r := 0; r < 15; r++ {
		t0 := time.Now()
		for i := 0; i < calls; i++ {
			kern.Tile(k, a, b, c, kern.NR, 1, 0)
		}
		best = max(best, flops*float64(calls)/time.Since(t0).Seconds())
	}
	return best
}
