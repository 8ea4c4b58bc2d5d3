package tokenizer

// ByteTokenizer maps each byte to its own id (vocabulary 256). It needs no
// training and round-trips any byte string exactly.
type ByteTokenizer struct{}

// Encode returns one id per byte.
func (ByteTokenizer) Encode(text []byte) []int {
	out := make([]int, len(text))
	for i, b := range text {
		out[i] = int(b)
	}
	return out
}

// Decode maps ids back to bytes; ids outside 0..255 become '?'.
func (ByteTokenizer) Decode(ids []int) []byte {
	out := make([]byte, len(ids))
	for i, id := range ids {
		if id < 0 || id > 255 {
			out[i] = '?'
			continue
		}
		out[i] = byte(id)
	}
	return out
}

// VocabSize is 256.
func (ByteTokenizer) VocabSize() int { return 256 }
