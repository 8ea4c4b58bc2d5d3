package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Pre-tokenization splits text into the pieces ("words") that byte-level BPE
// merges within; no merge ever crosses a piece boundary. The splitters here
// are hand-written equivalents of the regular expressions that GPT-2 and
// LLaMA-3 use (Go's regexp has no lookahead, which both patterns need).
//
// Character classes follow the Unicode definitions the reference
// implementations use: \p{L} is unicode.IsLetter, \p{N} is unicode.IsNumber,
// \s is unicode.IsSpace (the Unicode White_Space property). Bytes that are not
// valid UTF-8 are taken one at a time and belong to none of those classes, so
// they group with punctuation; the concatenation of the pieces is always the
// input, byte for byte.

// PreTokenizer names a pre-tokenization pattern.
type PreTokenizer int

const (
	// PreTokGPT2 is GPT-2's pattern:
	//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
	PreTokGPT2 PreTokenizer = iota
	// PreTokLlama3 is LLaMA-3's pattern (also GPT-4's cl100k):
	//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	PreTokLlama3
	// PreTokQwen2 is LLaMA-3's pattern with single digits (\p{N} instead of
	// \p{N}{1,3}), as Qwen2 tokenizer.json files have it.
	PreTokQwen2
)

// Regex patterns as they appear in tokenizer.json files (Split pre-tokenizer).
const (
	patternGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Pattern returns the regular expression the splitter is equivalent to.
func (p PreTokenizer) Pattern() string {
	switch p {
	case PreTokLlama3:
		return patternLlama3
	case PreTokQwen2:
		return patternQwen2
	}
	return patternGPT2
}

func (p PreTokenizer) String() string {
	switch p {
	case PreTokGPT2:
		return "gpt2"
	case PreTokLlama3:
		return "llama3"
	case PreTokQwen2:
		return "qwen2"
	}
	return "unknown"
}

// Split calls fn with each piece of text in order. The pieces are subslices
// of text and concatenate to it exactly.
func (p PreTokenizer) Split(text []byte, fn func(piece []byte)) {
	for i := 0; i < len(text); {
		var n int
		switch p {
		case PreTokLlama3:
			n = nextLlama3(text[i:], 3)
		case PreTokQwen2:
			n = nextLlama3(text[i:], 1)
		default:
			n = nextGPT2(text[i:])
		}
		fn(text[i : i+n])
		i += n
	}
}

// Pieces returns the pieces of text (see Split).
func (p PreTokenizer) Pieces(text []byte) [][]byte {
	var out [][]byte
	p.Split(text, func(b []byte) { out = append(out, b) })
	return out
}

// Rune classes.
const (
	clsOther = iota // anything else, invalid UTF-8 included
	clsLetter
	clsNumber
	clsSpace
)

// class decodes the rune at the start of b and returns its class and width.
func class(b []byte) (int, rune, int) {
	c := b[0]
	if c < utf8.RuneSelf {
		return asciiClass[c], rune(c), 1
	}
	r, w := utf8.DecodeRune(b)
	if r == utf8.RuneError && w <= 1 {
		return clsOther, r, 1
	}
	switch {
	case unicode.IsLetter(r):
		return clsLetter, r, w
	case unicode.IsNumber(r):
		return clsNumber, r, w
	case unicode.IsSpace(r):
		return clsSpace, r, w
	}
	return clsOther, r, w
}

var asciiClass = func() (t [128]int) {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			t[c] = clsLetter
		case unicode.IsNumber(r):
			t[c] = clsNumber
		case unicode.IsSpace(r):
			t[c] = clsSpace
		}
	}
	return
}()

// run returns the length of the longest prefix of b whose runes all have
// class cls.
func run(b []byte, cls int) int {
	i := 0
	for i < len(b) {
		c, _, w := class(b[i:])
		if c != cls {
			break
		}
		i += w
	}
	return i
}

// contraction returns the length of a contraction ('s 't 're 've 'm 'll 'd)
// at the start of b, or 0. fold makes the match case-insensitive (ASCII
// letters, plus ſ (U+017F), which Unicode case folding maps to s).
func contraction(b []byte, fold bool) int {
	if len(b) < 2 || b[0] != '\'' {
		return 0
	}
	if fold && len(b) >= 3 && b[1] == 0xC5 && b[2] == 0xBF { // 'ſ folds to 's
		return 3
	}
	lower := func(c byte) byte {
		if fold && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(b[1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if len(b) >= 3 && lower(b[2]) == 'e' {
			return 3
		}
	case 'l':
		if len(b) >= 3 && lower(b[2]) == 'l' {
			return 3
		}
	}
	return 0
}

// whitespace handles \s+(?!\S)|\s+ at the start of b (whose first rune is
// whitespace): the whole run if it ends the text or if it is a single rune,
// else the run less its last rune (which then starts the next piece).
func whitespace(b []byte) int {
	n := run(b, clsSpace)
	if n == len(b) {
		return n
	}
	_, lw := utf8.DecodeLastRune(b[:n])
	if n-lw > 0 {
		return n - lw
	}
	return n
}

// nextGPT2 returns the length of the first piece of b under GPT-2's pattern.
func nextGPT2(b []byte) int {
	if n := contraction(b, false); n > 0 {
		return n
	}
	cls, _, w := class(b)
	start := 0
	if b[0] == ' ' && len(b) > 1 {
		// " ?X+" with the optional space taken when a non-space follows.
		if c, _, _ := class(b[1:]); c != clsSpace {
			cls, start, w = c, 1, 0
		}
	}
	switch cls {
	case clsLetter, clsNumber, clsOther:
		return start + w + run(b[start+w:], cls)
	}
	return whitespace(b)
}

// nextLlama3 returns the length of the first piece of b under LLaMA-3's
// pattern; maxDigits is 3 for LLaMA-3 and 1 for Qwen2.
func nextLlama3(b []byte, maxDigits int) int {
	if n := contraction(b, true); n > 0 {
		return n
	}
	cls, r, w := class(b)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if cls == clsLetter {
		return w + run(b[w:], clsLetter)
	}
	if cls != clsNumber && r != '\r' && r != '\n' && w < len(b) {
		if c, _, _ := class(b[w:]); c == clsLetter {
			return w + run(b[w:], clsLetter)
		}
	}
	// \p{N}{1,maxDigits}
	if cls == clsNumber {
		n := w
		for k := 1; k < maxDigits && n < len(b); k++ {
			c, _, w2 := class(b[n:])
			if c != clsNumber {
				break
			}
			n += w2
		}
		return n
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	start := 0
	if b[0] == ' ' && len(b) > 1 {
		if c, _, _ := class(b[1:]); c == clsOther {
			cls, start = clsOther, 1
		}
	}
	if cls == clsOther {
		n := start + run(b[start:], clsOther)
		for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
			n++
		}
		return n
	}
	// \s*[\r\n]+ : the whitespace run up to and including its last \r or \n.
	n := run(b, clsSpace)
	for k := n - 1; k >= 0; k-- {
		if b[k] == '\r' || b[k] == '\n' {
			return k + 1
		}
	}
	return whitespace(b)
}
