package run

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	relorago "github.com/relora-go/relora-go"
)

func gunzip(t *testing.T, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadCorpusEmbedded(t *testing.T) {
	c, err := LoadCorpus(Options{Tokenizer: "bytes"})
	if err != nil {
		t.Fatal(err)
	}
	train := gunzip(t, relorago.DefaultTrain)
	if c.Vocab != 256 || len(c.Train) != len(train) || c.TokenizerJSON != nil {
		t.Fatalf("byte corpus: vocab %d, %d tokens for %d bytes", c.Vocab, len(c.Train), len(train))
	}
	for i, b := range train {
		if c.Train[i] != int32(b) {
			t.Fatalf("token %d is %d, byte %d", i, c.Train[i], b)
		}
	}
	c, err = LoadCorpus(Options{Threads: 2}) // no tokenizer named: the embedded corpus brings its BPE
	if err != nil {
		t.Fatal(err)
	}
	if c.Vocab != 4096 || !bytes.Equal(c.TokenizerJSON, relorago.DefaultTokenizer) {
		t.Fatalf("BPE corpus: vocab %d", c.Vocab)
	}
	// The excerpt has 119 documents and val 25 (testdata/corpus/README.md),
	// each closed by <|endoftext|>; the stream decodes back to the text.
	eod := int32(c.Tokenizer.(interface{ EOD() int }).EOD())
	count := func(ids []int32) (n int) {
		for _, id := range ids {
			if id == eod {
				n++
			}
		}
		return n
	}
	if n, m := count(c.Train), count(c.Val); n != 119 || m != 25 {
		t.Fatalf("%d and %d end-of-document tokens, want 119 and 25", n, m)
	}
	ids := make([]int, 0, 2000)
	for _, id := range c.Train[:2000] {
		if id != eod {
			ids = append(ids, int(id))
		}
	}
	if dec := c.Tokenizer.Decode(ids); !bytes.HasPrefix(train, dec) {
		t.Fatalf("the first 2000 tokens decode to %.80q..., not a prefix of the text", dec)
	}
}
