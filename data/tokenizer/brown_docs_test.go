package tokenizer_test

import (
	"bytes"
	"testing"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/data/tokenizer"
)

// The Brown validation documents read by data.ReadDocuments encode to one
// EOD per document and decode back to the documents.
func TestReadBrownDocuments(t *testing.T) {
	docs, err := data.ReadDocuments(tokenizer.BrownFile(t, "val.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 25 {
		t.Fatalf("Brown val: %d documents, want 25", len(docs))
	}
	tok, err := tokenizer.LoadTokenizerJSON(tokenizer.Brown4096Path)
	if err != nil {
		t.Fatal(err)
	}
	ids := tokenizer.EncodeDocuments(tok, docs)
	eods := 0
	for _, id := range ids {
		if id == tok.EOD() {
			eods++
		}
	}
	if eods != 25 || ids[len(ids)-1] != tok.EOD() {
		t.Fatalf("%d EOD tokens", eods)
	}
	var all []byte
	for _, d := range docs {
		all = append(append(all, d...), tokenizer.TokenEOD...)
	}
	if !bytes.Equal(tok.Decode(ids), all) {
		t.Fatal("EncodeDocuments does not decode to the documents")
	}
}
