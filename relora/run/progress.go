package run

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/gemm"
)

// progress is what Run's lines report beside the loss: tokens, time left
// and the share of the FMA peak the steps reach (MFU).
type progress struct {
	start       time.Time
	startUpdate int
	peak        gemm.Peak // zero on a device (no CPU peak to compare with)
	valLoss     float64
	haveVal     bool
}

func (t *Trainer) newProgress() *progress {
	p := &progress{start: time.Now(), startUpdate: t.Update}
	if t.Device == nil && t.Opts.LogEvery > 0 {
		p.peak = gemm.PeakFor(t.Pool.Threads())
	}
	return p
}

// UpdateFlops is the floating-point work of one update as the engine counts
// it (the GEMMs and attention of every micro-batch's forward and backward,
// and the optimizer's 14 per trainable parameter), the FLOPs that
// `bench step` and the kernel profile report.
func (t *Trainer) UpdateFlops() int64 {
	f, b := t.fwd.Graph.Flops()
	return int64(t.Opts.Accumulation())*(f+b) + 14*int64(t.trainableCount())
}

// header says what MFU is measured against.
func (p *progress) header() string {
	if p.peak.PerCore == 0 {
		return ""
	}
	cores := "1 core"
	if p.peak.Cores > 1 {
		cores = fmt.Sprintf("%d cores", p.peak.Cores)
	}
	return fmt.Sprintf("MFU: the engine's FLOPs per second over an FMA peak of %.0f GFLOP/s (%s × %.1f, the %s kernel's FMA loop timed on this machine)\n",
		p.peak.FLOPS()/1e9, cores, p.peak.PerCore/1e9, p.peak.Kernel)
}

// line is the progress line of the update just done (r), at tps tokens/s
// since the previous line.
func (p *progress) line(t *Trainer, r StepResult, tps float64) string {
	o := t.Opts
	var b strings.Builder
	fmt.Fprintf(&b, "update %5d/%d  loss %.4f  lr %.2e  grad_norm %.3f  tokens %s  %6.0f tok/s",
		t.Update, o.Steps, r.Loss, r.LR, r.GradNorm, Count(t.TokensSeen), tps)
	if p.peak.PerCore > 0 {
		perToken := float64(t.UpdateFlops()) / float64(o.Accumulation()*o.BatchSize*o.MaxLength)
		fmt.Fprintf(&b, "  MFU %4.1f%%", 100*tps*perToken/p.peak.FLOPS())
	}
	el := time.Since(p.start)
	eta := "-"
	if done := t.Update - p.startUpdate; done > 0 {
		eta = (el / time.Duration(done) * time.Duration(o.Steps-t.Update)).Round(time.Second).String()
	}
	fmt.Fprintf(&b, "  %s  ETA %s\n", el.Round(time.Second), eta)
	return b.String()
}

// summary is the end of a run's output: what it did, where the last
// evaluation stands, and the paths of what it wrote.
func (p *progress) summary(t *Trainer, final string) string {
	o := t.Opts
	var b strings.Builder
	fmt.Fprintf(&b, "done in %s: %d updates, %s tokens", time.Since(p.start).Round(time.Second), t.Update, Count(t.TokensSeen))
	if p.haveVal {
		fmt.Fprintf(&b, "; final val_loss %.4f, val_ppl %.2f", p.valLoss, math.Exp(p.valLoss))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  metrics:   %s\n", filepath.Join(o.SaveDir, "metrics.jsonl"))
	fmt.Fprintf(&b, "  model:     %s (Hugging Face LLaMA; relora-cpu generate --checkpoint %s)\n", final, o.SaveDir)
	if t.tokJSON != nil {
		fmt.Fprintf(&b, "  tokenizer: %s\n", filepath.Join(final, tokenizer.FileName))
	} else {
		b.WriteString("  tokenizer: bytes (ids are byte values)\n")
	}
	return b.String()
}

// Count writes a count with K, M or B (1e3, 1e6, 1e9) and three
// significant digits.
func Count(n int64) string {
	v := float64(n)
	for _, u := range []struct {
		s string
		f float64
	}{{"B", 1e9}, {"M", 1e6}, {"K", 1e3}} {
		if v >= u.f {
			return fmt.Sprintf("%.3g%s", v/u.f, u.s)
		}
	}
	return fmt.Sprint(n)
}

// keyValues writes an event's fields as "key=value" pairs in key order.
func keyValues(fields map[string]any) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := fields[k]
		switch x := v.(type) {
		case float64:
			v = fmt.Sprintf("%.4g", x)
		case float32:
			v = fmt.Sprintf("%.4g", x)
		case string:
			if strings.ContainsAny(x, " \t\"=") || x == "" {
				v = strconv.Quote(x)
			}
		}
		parts[i] = fmt.Sprintf("%s=%v", k, v)
	}
	return strings.Join(parts, " ")
}

// Stopped is Run's error when Stop ended the run early: it names the
// checkpoint the run can continue from.
type Stopped struct {
	Update     int
	Checkpoint string
}

func (e *Stopped) Error() string {
	return fmt.Sprintf("stopped after update %d; checkpoint %s", e.Update, e.Checkpoint)
}

// stopRequested reports whether Stop is closed.
func (t *Trainer) stopRequested() bool {
	if t.Stop == nil {
		return false
	}
	select {
	case <-t.Stop:
		return true
	default:
		return false
	}
}

// stopHere ends a run early: a checkpoint of the update just done (unless
// one was just saved) after everything logged for it.
func (t *Trainer) stopHere(m *Metrics, saved string) error {
	if saved == "" {
		if err := m.Sync(); err != nil {
			return err
		}
		dir, err := t.SaveCheckpoint()
		if err != nil {
			return err
		}
		saved = dir
		fmt.Fprintf(t.Out, "saved  %5d  %s\n", t.Update, dir)
	}
	if err := m.Close(); err != nil {
		return err
	}
	return &Stopped{Update: t.Update, Checkpoint: saved}
}
