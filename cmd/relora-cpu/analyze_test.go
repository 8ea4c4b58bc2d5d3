package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 15, must show: on a short run of rank r with a few merges, ReLoRA's
// update ΔW = W_final − W_init has more than r singular values above the
// threshold for every wrapped matrix kind (in every layer), and LoRA's
// (no restarts) has at most r, the rest at float32 round-off. The command
// rebuilds W_init from the runs' seed and writes the JSON, the table and
// the figure.
func TestAnalyzeReLoRARaisesTheRank(t *testing.T) {
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "tiny.json")
	os.WriteFile(cfg, []byte(`{"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 256}`), 0o644)
	const r = 4
	common := []string{"train", "--tokenizer", "bytes", "--model_config", cfg, "--max_length", "32", "--batch_size", "4",
		"--num_training_steps", "48", "--warmup_steps", "4", "--lr", "1e-2", "--lora_r", "4", "--lora_alpha", "8",
		"--lora_dropout", "0", "--eval_every", "0", "--eval_batches", "1", "--log_every", "0", "--threads", "1", "--seed", "3"}
	runs := map[string][]string{
		"relora": {"--relora", "12", "--cycle_length", "12", "--scheduler", "cosine_restarts", "--restart_warmup_steps", "2",
			"--reset_optimizer_on_relora=false", "--optimizer_magnitude_pruning", "0.9"}, // merges after 13, 25, 37: four cycles
		"lora": {"--use_peft"},
		"full": nil,
	}
	for name, flags := range runs {
		args := append(append(append([]string(nil), common...), flags...), "--save_dir", filepath.Join(tmp, name))
		if code, _, errs := runCLI(args...); code != 0 {
			t.Fatalf("train %s: %s", name, errs)
		}
	}
	out := filepath.Join(tmp, "fig", "spectra")
	code, stdout, errs := runCLI("analyze", "--out", out, filepath.Join(tmp, "full"), filepath.Join(tmp, "lora"), filepath.Join(tmp, "relora"))
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errs)
	}
	var rep struct {
		Threshold float64
		Runs      []struct {
			Name, Method, W_start string
			R                     int
			Merges                int
			Matrices              []struct {
				Name, Kind string
				Layer      int
				Rank       int      `json:"rank_above_threshold"`
				Next       *float64 `json:"sigma_r1_over_sigma1"`
				Sigma      []float64
				Roundoff   float64 `json:"roundoff_bound"`
			}
		}
	}
	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Threshold != defaultThreshold || len(rep.Runs) != 3 {
		t.Fatalf("threshold %g, %d runs", rep.Threshold, len(rep.Runs))
	}
	for _, run := range rep.Runs {
		if len(run.Matrices) != 2*7 || run.R != r {
			t.Fatalf("%s: %d matrices, r %d", run.Name, len(run.Matrices), run.R)
		}
		if !strings.Contains(run.W_start, "initialisation (seed 3") {
			t.Errorf("%s: W_start %q", run.Name, run.W_start)
		}
		kinds := map[string]bool{}
		minRank, maxNext := 1<<30, 0.0
		for _, m := range run.Matrices {
			kinds[m.Kind] = true
			minRank = min(minRank, m.Rank)
			maxNext = max(maxNext, *m.Next)
			switch run.Name {
			case "relora":
				if m.Rank <= r {
					t.Errorf("ReLoRA %s: %d singular values above %g·σ₁, want more than r = %d: %.3g", m.Name, m.Rank, rep.Threshold, r, m.Sigma[:min(len(m.Sigma), 3*r)])
				}
			case "lora":
				// beyond r only round-off: below the float32 bound of the final weights
				if m.Rank > r || m.Sigma[r] > 4*m.Roundoff {
					t.Errorf("LoRA %s: %d singular values above %g·σ₁, σ_%d = %.3g (round-off bound %.3g), want at most r = %d", m.Name, m.Rank, rep.Threshold, r+1, m.Sigma[r], m.Roundoff, r)
				}
			case "full":
				if m.Rank <= 3*r {
					t.Errorf("full-rank %s: only %d singular values above the threshold", m.Name, m.Rank)
				}
			}
		}
		t.Logf("%s: ranks above the threshold ≥ %d, σ_%d/σ₁ ≤ %.2g", run.Name, minRank, r+1, maxNext)
		if len(kinds) != 7 {
			t.Errorf("%s: matrix kinds %v", run.Name, kinds)
		}
	}
	if rep.Runs[2].Merges != 3 || !strings.Contains(rep.Runs[2].Method, "ReLoRA (r 4, 3 merges)") || !strings.Contains(rep.Runs[1].Method, "LoRA (r 4, no restarts)") {
		t.Errorf("methods: %q (%d merges), %q", rep.Runs[2].Method, rep.Runs[2].Merges, rep.Runs[1].Method)
	}
	for _, want := range []string{"relora: ReLoRA (r 4, 3 merges)", "q_proj", "down_proj", "σ > 0.001·σ₁, by layer", "σ_5/σ₁"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, stdout)
		}
	}
	pb, err := os.ReadFile(out + ".png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pb))
	if err != nil || img.Bounds().Dx() != 1400 {
		t.Fatalf("png: %v %v", err, img.Bounds())
	}
	sb, err := os.ReadFile(out + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(sb, &doc); err != nil {
		t.Fatalf("svg: %v", err)
	}
	// one line per run, layer and kind, inside the panels' clips
	solid := 0
	for _, p := range doc.Polylines {
		if p.Dash == "" && strings.Count(p.Points, " ") > 4 {
			solid++
		}
	}
	if solid != 3*2*7 {
		t.Errorf("svg: %d spectrum lines, want %d", solid, 3*2*7)
	}
	for _, want := range []string{"q_proj (32x32)", "gate_proj (64x32)", "down_proj (32x64)", "relora", "lora", "full"} {
		found := false
		for _, s := range doc.Texts {
			found = found || s == want
		}
		if !found {
			t.Errorf("svg has no text %q", want)
		}
	}
}

// The other ways in: a --base/--model pair, a checkpoint as W_final, and
// the refusals.
func TestAnalyzePairsAndRefusals(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "run")
	if code, _, errs := runCLI(tinyArgs(dir, "--num_training_steps", "6", "--save_every", "3", "--model_config", "llama_9m",
		"--use_peft", "--warm_start_steps", "3", "--lora_r", "8")...); code != 0 {
		t.Fatal(errs)
	}
	out := filepath.Join(tmp, "pair")
	code, stdout, errs := runCLI("analyze", "--out", out, "--rank", "8", "--base", filepath.Join(dir, "model_3"), "--model", dir)
	if code != 0 || !strings.Contains(stdout, "σ_9/σ₁") {
		t.Fatalf("pair: exit %d: %s\n%s", code, errs, stdout)
	}
	// the run itself: W_start from model_3 (the end of the warm start), W_final a checkpoint
	code, stdout, errs = runCLI("analyze", "--out", out, filepath.Join(dir, "model_6"))
	if code != 0 || !strings.Contains(stdout, "checkpoint "+filepath.Join(dir, "model_3")) || !strings.Contains(stdout, "W_final: "+filepath.Join(dir, "model_6")) {
		t.Fatalf("checkpoint: exit %d: %s\n%s", code, errs, stdout)
	}
	if !strings.Contains(stdout, "LoRA (r 8, no restarts) after a 3-update warm start") {
		t.Errorf("method:\n%s", stdout)
	}
	if code, stdout, errs = runCLI("analyze", "--out", out, filepath.Join(dir, "final")); code != 0 || !strings.Contains(stdout, "run: LoRA (r 8") {
		t.Errorf("a run's final/: exit %d: %s\n%s", code, errs, stdout)
	}
	if code, out, _ := runCLI("analyze", "--help"); code != 0 || !strings.HasPrefix(out, "Usage: relora-cpu analyze") || !strings.Contains(out, "\nExample:\n  relora-cpu analyze ") {
		t.Errorf("analyze --help: exit %d:\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "name the run directories"},
		{[]string{"--threshold", "2", dir}, "--threshold must be in (0, 1)"},
		{[]string{"--model", dir}, "--model compares with --base"},
		{[]string{tmp}, "not a run directory"},
		{[]string{"--names", "a,b", dir}, "--names has 2 names for 1 runs"},
	} {
		code, _, errs := runCLI(append([]string{"analyze", "--out", out}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("analyze %v: exit %d, %q, want %q", c.args, code, errs, c.want)
		}
	}
	os.RemoveAll(filepath.Join(dir, "model_3"))
	os.RemoveAll(filepath.Join(dir, "model_6"))
	code, _, errs = runCLI("analyze", "--out", out, dir)
	if code == 0 || !strings.Contains(errs, "--replay") {
		t.Errorf("a warm start that was not saved: exit %d, %q", code, errs)
	}
	if code, stdout, errs = runCLI("analyze", "--out", out, "--replay", dir); code != 0 || !strings.Contains(stdout, "retrained with --threads 1") {
		t.Errorf("--replay: exit %d: %s\n%s", code, errs, stdout)
	}
}
