package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
	"github.com/relora-go/relora-go/relora/run"
)

const brownTok = "../../testdata/tokenizer/brown-4096.json"

// testDocs are eight small documents in a .txt file (blank-line separated).
func testDocs(t *testing.T, dir string) (string, []string) {
	var docs []string
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the jury said that county election was conducted in a manner of praise and thanks Atlanta")
	for i := 0; i < 8; i++ {
		var b strings.Builder
		for j := 0; j < 30+i*7; j++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString(fmt.Sprintf("document %d.\n", i))
		docs = append(docs, b.String())
	}
	path := filepath.Join(dir, "docs.txt")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, docs
}

func shardIDs(t *testing.T, path string) []int {
	t.Helper()
	s, err := data.OpenShard(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make([]int, s.Len())
	for i := range out {
		out[i] = int(s.At(i))
	}
	return out
}

func TestPrepareWritesShards(t *testing.T) {
	tmp := t.TempDir()
	in, docs := testDocs(t, tmp)
	out := filepath.Join(tmp, "prep")
	code, stdout, stderr := runCLI("prepare", "--data", in, "--tokenizer", brownTok, "--out", out, "--val_fraction", "0.25", "--threads", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "MB/s") || !strings.Contains(stderr, "MB read") {
		t.Fatalf("no summary or progress line:\n%s\n%s", stdout, stderr)
	}
	// Expected streams, encoded serially here: with fraction 1/4 the
	// held-out documents are 1 and 5 (round(i/4) steps up at i = 2 and 6).
	tok, err := tokenizer.LoadTokenizerJSON(brownTok)
	if err != nil {
		t.Fatal(err)
	}
	var train, val []int
	for i, d := range docs {
		ids := append(tok.Encode([]byte(d)), tok.EOD())
		if i == 1 || i == 5 {
			val = append(val, ids...)
		} else {
			train = append(train, ids...)
		}
	}
	if got := shardIDs(t, filepath.Join(out, "train.bin")); !slices.Equal(got, train) {
		t.Fatalf("train.bin has %d tokens, want %d (or different ids)", len(got), len(train))
	}
	if got := shardIDs(t, filepath.Join(out, "val.bin")); !slices.Equal(got, val) {
		t.Fatalf("val.bin has %d tokens, want %d (or different ids)", len(got), len(val))
	}
	a, _ := os.ReadFile(brownTok)
	b, _ := os.ReadFile(filepath.Join(out, "tokenizer.json"))
	ta, _ := tokenizer.ParseTokenizerJSON(a)
	tb, err := tokenizer.ParseTokenizerJSON(b)
	if err != nil || ta.VocabSize() != tb.VocabSize() || !slices.Equal(tb.Encode([]byte(docs[3])), ta.Encode([]byte(docs[3]))) {
		t.Fatalf("tokenizer.json in the output does not behave as the input tokenizer (%v)", err)
	}

	// A second run refuses to overwrite; a failing --force run leaves the files alone.
	before, _ := os.ReadFile(filepath.Join(out, "train.bin"))
	if code, _, stderr := runCLI("prepare", "--data", in, "--tokenizer", brownTok, "--out", out); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("overwrite without --force: exit %d, %q", code, stderr)
	}
	bad := filepath.Join(tmp, "bad.txt.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("some text for a corrupt stream\n"), 100))
	zw.Close()
	raw := gz.Bytes()
	raw[len(raw)/2] ^= 0xff
	os.WriteFile(bad, raw, 0o644)
	code, _, stderr = runCLI("prepare", "--data", in, "--data", bad, "--tokenizer", brownTok, "--out", out, "--force", "--quiet")
	if code == 0 || !strings.Contains(stderr, bad) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("corrupt gzip: exit %d, %q", code, stderr)
	}
	after, _ := os.ReadFile(filepath.Join(out, "train.bin"))
	if !bytes.Equal(before, after) {
		t.Fatal("a failed prepare changed train.bin")
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 3 {
		t.Fatalf("files left in --out: %v", ents)
	}
	if code, _, stderr := runCLI("prepare", "--data", in, "--tokenizer", brownTok, "--out", out, "--force", "--quiet"); code != 0 {
		t.Fatalf("--force: %s", stderr)
	}
}

func TestPrepareTrainsTokenizerAndTrainReadsShards(t *testing.T) {
	tmp := t.TempDir()
	in, _ := testDocs(t, tmp)
	out := filepath.Join(tmp, "prep")
	if code, _, stderr := runCLI("prepare", "--data", in, "--train_tokenizer", "300", "--out", out, "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	c, err := run.LoadCorpus(run.Options{Data: out})
	if err != nil {
		t.Fatal(err)
	}
	if c.Vocab != 300 || c.Tokenizer.VocabSize() != 300 || len(c.Val) == 0 || len(c.Train) == 0 {
		t.Fatalf("corpus from shards: vocab %d, %d train and %d val tokens", c.Vocab, len(c.Train), len(c.Val))
	}
	// 8 documents hold none out at the default fraction: val.bin is empty
	// and the last 5% of train.bin is the validation split.
	want := shardIDs(t, filepath.Join(out, "train.bin"))
	if len(c.Train)+len(c.Val) != len(want) || len(c.Val) != len(want)/20 {
		t.Fatalf("LoadCorpus: %d + %d tokens from train.bin's %d", len(c.Train), len(c.Val), len(want))
	}
	for i, v := range append(append([]int32(nil), c.Train...), c.Val...) {
		if int(v) != want[i] {
			t.Fatalf("LoadCorpus token %d is %d, train.bin has %d", i, v, want[i])
		}
	}
	cfg := filepath.Join(tmp, "tiny.json")
	os.WriteFile(cfg, []byte(`{"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 300}`), 0o644)
	code, stdout, stderr := runCLI("train", "--data", out, "--model_config", cfg, "--max_length", "16", "--batch_size", "2",
		"--num_training_steps", "3", "--warmup_steps", "1", "--save_dir", filepath.Join(tmp, "run"), "--threads", "1")
	if code != 0 || !strings.Contains(stdout, "vocab 300") {
		t.Fatalf("train on shards: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestDataCommandErrors(t *testing.T) {
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	latin1 := filepath.Join(tmp, "latin1.txt")
	os.WriteFile(latin1, []byte("caf\xe9 au lait\n"), 0o644)
	badTok := filepath.Join(tmp, "tok.json")
	os.WriteFile(badTok, []byte(`{"model": {"type": "WordPiece", "vocab": {}}}`), 0o644)
	shortShard := filepath.Join(tmp, "short.bin")
	data.WriteShard(shortShard, 256, []int{1, 2, 3, 4})
	b, _ := os.ReadFile(shortShard)
	os.WriteFile(shortShard, b[:len(b)-2], 0o644)
	badST := filepath.Join(tmp, "badst")
	os.MkdirAll(badST, 0o755)
	cfg, _ := model.Config{Hidden: 8, Intermediate: 8, Heads: 2, Layers: 1, Vocab: 256, NormEps: 1e-6, Act: "silu"}.HFConfig()
	os.WriteFile(filepath.Join(badST, "config.json"), cfg, 0o644)
	os.WriteFile(filepath.Join(badST, "model.safetensors"), []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}"), 0o644)
	out := filepath.Join(tmp, "out")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"prepare", "--data", empty, "--tokenizer", brownTok, "--out", out}, empty + ": empty"},
		{[]string{"prepare", "--data", latin1, "--tokenizer", brownTok, "--out", out}, "invalid UTF-8"},
		{[]string{"prepare", "--data", latin1, "--tokenizer", badTok, "--out", out}, badTok},
		{[]string{"prepare", "--data", latin1, "--tokenizer", brownTok, "--train_tokenizer", "300", "--out", out}, "not both"},
		{[]string{"train", "--data", shortShard}, "truncated or damaged"},
		{[]string{"eval", "--checkpoint", badST, "--data", latin1}, "badst/model.safetensors"},
		{[]string{"generate", "--checkpoint", tmp, "--prompt", "x"}, "neither a training checkpoint"},
		{[]string{"export", "--checkpoint", badST, "--out", out}, "header length"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
			!strings.HasPrefix(stderr, "relora-cpu "+c.args[0]+": ") {
			t.Errorf("%v: exit %d, stderr %q, want one line with %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		ents, _ := os.ReadDir(out)
		if len(ents) > 0 {
			t.Errorf("failed commands left files in %s: %v", out, ents)
		}
	}
}

func TestTokenizeCommand(t *testing.T) {
	var samples []string
	var golden [][]int
	for path, v := range map[string]any{"../../testdata/tokenizer/golden_samples.json": &samples, "../../testdata/tokenizer/golden_brown4096.json": &golden} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ { // ids from @huggingface/tokenizers
		var out bytes.Buffer
		if err := cmdTokenize([]string{"--tokenizer", brownTok}, strings.NewReader(samples[i]), &out); err != nil {
			t.Fatal(err)
		}
		var ids []int
		for _, f := range strings.Fields(out.String()) {
			v, _ := strconv.Atoi(f)
			ids = append(ids, v)
		}
		if !slices.Equal(ids, golden[i]) {
			t.Fatalf("sample %d: ids differ from the golden ids", i)
		}
		var back bytes.Buffer
		if err := cmdTokenize([]string{"--tokenizer", brownTok, "--decode"}, strings.NewReader(out.String()), &back); err != nil {
			t.Fatal(err)
		}
		if back.String() != samples[i] {
			t.Fatalf("sample %d does not round-trip", i)
		}
	}
	if err := cmdTokenize([]string{"--tokenizer", brownTok, "--decode"}, strings.NewReader("1 2 4096"), &bytes.Buffer{}); err == nil {
		t.Fatal("an id outside the vocabulary was accepted")
	}
}

// trainTiny runs a few updates of a tiny byte-level model and returns the
// run directory.
func trainTiny(t *testing.T, extra ...string) (dir, valFile string, stdout string) {
	t.Helper()
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "tiny.json")
	os.WriteFile(cfg, []byte(`{"hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 256}`), 0o644)
	in, docs := testDocs(t, tmp)
	valFile = filepath.Join(tmp, "val.txt")
	os.WriteFile(valFile, []byte(strings.Join(docs[:3], "\n")), 0o644)
	dir = filepath.Join(tmp, "run")
	args := append([]string{"train", "--data", in, "--val_data", valFile, "--model_config", cfg, "--max_length", "16",
		"--batch_size", "2", "--num_training_steps", "4", "--warmup_steps", "1", "--lr", "1e-2", "--save_every", "4",
		"--eval_batches", "0", "--save_dir", dir, "--threads", "1"}, extra...)
	code, stdout, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	return dir, valFile, stdout
}

// mergeReference loads a checkpoint's model.safetensors into a wrapped
// model and merges it with relora.Linear's GEMM (the trainer's code), or
// computes s·B·A with it for lora_only.
func mergeReference(t *testing.T, ckpt string, r int, alpha float64, loraOnly bool) map[string][]float32 {
	st, err := model.ReadSafetensors(filepath.Join(ckpt, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, name := range st.Names() {
		base, ok := strings.CutSuffix(name, ".lora_A.weight")
		if !ok {
			if b, ok := strings.CutSuffix(name, ".weight"); ok && st.Has(b+".lora_A.weight") {
				continue // W0: merged below
			}
			if !strings.Contains(name, "lora_") {
				v, _, _ := st.Float32(name)
				out[name] = v
			}
			continue
		}
		A, ash, _ := st.Float32(name)
		B, bsh, _ := st.Float32(base + ".lora_B.weight")
		W0 := make([]float32, bsh[0]*ash[1])
		if !loraOnly {
			W0, _, _ = st.Float32(base + ".weight")
		}
		l := &relora.Linear{W0: &engine.Tensor{Shape: []int{bsh[0], ash[1]}, Data: W0}, A: &engine.Tensor{Shape: ash, Data: A},
			B: &engine.Tensor{Shape: bsh, Data: B}, Scale: float32(alpha / float64(r))}
		l.Merge(nil, nil, rand.New(rand.NewPCG(0, 0)))
		out[base+".weight"] = l.W0.Data
	}
	return out
}

func TestExportMergesCheckpoint(t *testing.T) {
	for _, mode := range [][]string{{"--use_peft", "--lora_r", "4", "--lora_alpha", "8"}, {"--lora_only", "--lora_r", "4", "--lora_alpha", "12"}} {
		dir, _, _ := trainTiny(t, mode...)
		ckpt := filepath.Join(dir, "model_4")
		out := filepath.Join(t.TempDir(), "hf")
		if code, _, stderr := runCLI("export", "--checkpoint", ckpt, "--out", out); code != 0 {
			t.Fatalf("export %v: %s", mode, stderr)
		}
		alpha, _ := strconv.ParseFloat(mode[4], 64)
		want := mergeReference(t, ckpt, 4, alpha, mode[0] == "--lora_only")
		got, err := model.ReadSafetensors(filepath.Join(out, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Names()) != len(want) {
			t.Fatalf("%v: exported %d tensors, want %d", mode, len(got.Names()), len(want))
		}
		var nonzeroB bool
		for name, w := range want {
			g, _, err := got.Float32(name)
			if err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
			for i := range w {
				if d := math.Abs(float64(g[i] - w[i])); d > 1e-6*math.Max(1e-2, math.Abs(float64(w[i]))) {
					t.Fatalf("%v: %s[%d] = %g, merged reference %g", mode, name, i, g[i], w[i])
				}
			}
			nonzeroB = nonzeroB || strings.Contains(name, "q_proj")
		}
		if !nonzeroB {
			t.Fatal("no projection checked")
		}
		// The export is a plain LLaMA: importing and exporting it again
		// gives the same tensors.
		out2 := filepath.Join(t.TempDir(), "hf2")
		if code, _, stderr := runCLI("export", "--checkpoint", out, "--out", out2); code != 0 {
			t.Fatal(stderr)
		}
		a, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
		b, _ := os.ReadFile(filepath.Join(out2, "model.safetensors"))
		if !bytes.Equal(a, b) {
			t.Fatal("import then export changed the tensors")
		}
	}
}

func TestEvalAndGenerate(t *testing.T) {
	dir, valFile, trainOut := trainTiny(t)
	m := regexp.MustCompile(`eval +4 +val_loss ([0-9.]+)`).FindStringSubmatch(trainOut)
	if m == nil {
		t.Fatalf("no final eval in:\n%s", trainOut)
	}
	code, stdout, stderr := runCLI("eval", "--checkpoint", filepath.Join(dir, "final"), "--data", valFile, "--max_length", "16", "--batch_size", "2", "--threads", "1")
	if code != 0 {
		t.Fatal(stderr)
	}
	got := regexp.MustCompile(`loss ([0-9.]+) nats`).FindStringSubmatch(stdout)
	if got == nil || got[1] != m[1] {
		t.Fatalf("eval printed %q, the trainer's final val_loss was %s", stdout, m[1])
	}
	gen := func(seed string) string {
		code, stdout, stderr := runCLI("generate", "--checkpoint", filepath.Join(dir, "model_4"), "--prompt", "the jury",
			"--max_new_tokens", "20", "--seed", seed, "--temperature", "1", "--top_k", "20")
		if code != 0 {
			t.Fatal(stderr)
		}
		return stdout
	}
	a, b := gen("1"), gen("1")
	if a != b || !strings.HasPrefix(a, "the jury") || len(a) < len("the jury")+5 {
		t.Fatalf("generate: %q then %q", a, b)
	}
}
