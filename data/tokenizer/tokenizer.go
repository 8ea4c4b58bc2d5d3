package tokenizer

// Tokenizer turns bytes into token ids and back. Decode(Encode(b)) == b for
// every byte string b, invalid UTF-8 included. Both the byte-level BPE (*BPE)
// and the plain byte tokenizer implement it.
type Tokenizer interface {
	Encode(text []byte) []int
	Decode(ids []int) []byte
	VocabSize() int
}

// SpecialTokens is implemented by tokenizers that have special tokens. Each
// method returns the token's id, or -1 if the tokenizer has none. Encode
// never produces these ids: the caller inserts them (EncodeDocuments puts
// EOD between documents).
type SpecialTokens interface {
	BOS() int // beginning of sequence, "<s>"
	EOS() int // end of sequence, "</s>"
	EOD() int // end of document, "<|endoftext|>"
}

// Names of the special tokens that TrainBPE adds.
const (
	TokenEOD = "<|endoftext|>"
	TokenBOS = "<s>"
	TokenEOS = "</s>"
)

// EncodeDocuments encodes docs into one token stream with the end-of-document
// token after every document (GPT-2's convention: each document is closed by
// <|endoftext|>, so a training window that spans two documents sees the
// boundary). If tok has no EOD token, its EOS is used; if it has neither, the
// documents are simply concatenated.
func EncodeDocuments(tok Tokenizer, docs [][]byte) []int {
	sep := Separator(tok)
	var out []int
	for _, d := range docs {
		out = append(out, tok.Encode(d)...)
		if sep >= 0 {
			out = append(out, sep)
		}
	}
	return out
}

// Separator is the token EncodeDocuments (and data's parallel encoders)
// put after every document: the tokenizer's EOD, else its EOS, else -1
// (none).
func Separator(tok Tokenizer) int {
	sep := -1
	if st, ok := tok.(SpecialTokens); ok {
		if sep = st.EOD(); sep < 0 {
			sep = st.EOS()
		}
	}
	return sep
}
