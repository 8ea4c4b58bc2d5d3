package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora/run"
)

var updateHFGenerate = flag.Bool("update-hf-generate", false,
	"rewrite testdata/hf/generate_golden.json with testdata/hf/gen_generate.py (needs /usr/bin/python3 with torch)")

const (
	hfGenerateGolden = "../../testdata/hf/generate_golden.json"
	hfGeneratePrompt = "The jury said"
	hfGenerateMax    = 24
)

// hfGenerateModel is the golden test's model: a small LLaMA on the
// embedded Brown BPE (4096 tokens), its weights drawn from a fixed seed,
// the head scaled by 256 (exact) so that every argmax wins by a margin
// float32 cannot close, and the end-of-document token's head row made a
// multiple of another token's so that greedy decoding reaches it.
func hfGenerateModel() *model.Model {
	c := model.Config{Hidden: 32, Intermediate: 64, Heads: 4, Layers: 2, Vocab: 4096, NormEps: 1e-6, InitRange: 0.02,
		Act: "silu", MaxSeq: 64}
	m := model.New(c)
	m.Init(rand.New(rand.NewPCG(13, 17)))
	for i := range m.Head.Data {
		m.Head.Data[i] *= 256
	}
	const eod, like = 256, 2956
	d := c.Hidden
	for j := 0; j < d; j++ {
		m.Head.Data[eod*d+j] = 1.25 * m.Head.Data[like*d+j]
	}
	return m
}

// Issue 13, bug 2: a model directory written by final/ and export
// generates in Hugging Face transformers as relora-cpu generate does.
// testdata/hf/gen_generate.py reads the directory's files as transformers
// does (tokenizer_config.json, tokenizer.json's post-processor, config.json,
// generation_config.json) and decodes greedily with a float64 PyTorch
// LLaMA; the golden file holds its tokens and the sha256 of every file it
// read, so a change to what we write fails here until the golden is made
// again (go test ./cmd/relora-cpu -run HFGenerate -update-hf-generate).
func TestHFGenerateMatches(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "final")
	tok, tokJSON, err := tokenizer.Load(tokenizer.Embedded)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.SaveModelDir(dir, hfGenerateModel(), tokJSON); err != nil {
		t.Fatal(err)
	}
	if *updateHFGenerate {
		prompt, _ := json.Marshal(map[string]any{"text": hfGeneratePrompt, "ids": tok.Encode([]byte(hfGeneratePrompt))})
		pp := filepath.Join(tmp, "prompt.json")
		os.WriteFile(pp, prompt, 0o644)
		out, err := exec.Command("/usr/bin/python3", "../../testdata/hf/gen_generate.py", dir, pp, strconv.Itoa(hfGenerateMax), hfGenerateGolden).CombinedOutput()
		if err != nil {
			t.Fatalf("gen_generate.py: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(hfGenerateGolden)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Prompt    string            `json:"prompt"`
		BPE       []int             `json:"prompt_bpe_ids"`
		Input     []int             `json:"input_ids"`
		Max       int               `json:"max_new_tokens"`
		Generated []int             `json:"generated"`
		Stopped   bool              `json:"stopped_at_eos"`
		Margin    float64           `json:"min_logit_margin"`
		Sums      map[string]string `json:"sha256"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if !g.Stopped || len(g.Generated) < 4 || g.Margin < 1e-2 {
		t.Fatalf("the golden run should stop at an end of sequence after a few tokens with clear argmaxes: %s", b)
	}
	if got := tok.Encode([]byte(g.Prompt)); !slices.Equal(got, g.BPE) {
		t.Fatalf("the prompt encodes to %v, the golden's generator was given %v", got, g.BPE)
	}
	// what transformers reads is what we write, final/ and export alike
	export := filepath.Join(tmp, "export")
	if code, _, errs := runCLI("export", "--checkpoint", dir, "--out", export); code != 0 {
		t.Fatal(errs)
	}
	for _, d := range []string{dir, export} {
		for name, want := range g.Sums {
			raw, err := os.ReadFile(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256(raw); hex.EncodeToString(h[:]) != want {
				t.Errorf("%s/%s differs from the file the golden was made from: if the change is meant, make the golden again (-update-hf-generate)", d, name)
			}
		}
	}
	code, out, errs := runCLI("generate", "--checkpoint", dir, "--prompt", g.Prompt, "--temperature", "0",
		"--max_new_tokens", strconv.Itoa(g.Max), "--show_ids", "--threads", "1")
	if code != 0 {
		t.Fatal(errs)
	}
	ids := func(prefix string) []int {
		for _, line := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				var v []int
				for _, f := range strings.Fields(rest) {
					n, _ := strconv.Atoi(f)
					v = append(v, n)
				}
				return v
			}
		}
		t.Fatalf("no %q line in %q", prefix, out)
		return nil
	}
	want := g.Generated
	if g.Stopped { // transformers keeps the end-of-sequence token; generate stops before it
		want = want[:len(want)-1]
	}
	if got := ids("prompt_ids:"); !slices.Equal(got, g.Input) {
		t.Errorf("generate fed the model %v, transformers %v", got, g.Input)
	}
	if got := ids("ids:"); !slices.Equal(got, want) {
		t.Errorf("generate: %v, transformers' greedy generate: %v", got, want)
	}
	if text := string(tok.Decode(want)); !strings.HasPrefix(out, g.Prompt+text+"\n") {
		t.Errorf("generate printed %q, want %q", out, g.Prompt+text)
	}
	// the special ids in config.json are the tokenizer's separator
	var cfg map[string]any
	cb, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(cb, &cfg)
	if sep := float64(tokenizer.Separator(tok)); cfg["bos_token_id"] != sep || cfg["eos_token_id"] != sep {
		t.Errorf("config.json: bos_token_id %v, eos_token_id %v, want %v", cfg["bos_token_id"], cfg["eos_token_id"], sep)
	}
}
