package tokenizer

import "testing"

func TestTokenizerInterface(t *testing.T) {
	var _ Tokenizer = (*BPE)(nil)
	var _ SpecialTokens = (*BPE)(nil)
	var _ Tokenizer = ByteTokenizer{}
	// A tokenizer without special tokens: documents are concatenated.
	ids := EncodeDocuments(ByteTokenizer{}, [][]byte{[]byte("ab"), []byte("c")})
	if len(ids) != 3 {
		t.Fatalf("ByteTokenizer EncodeDocuments: %v", ids)
	}
}
