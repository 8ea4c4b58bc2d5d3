package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/relora-go/relora-go/engine/atomicfile"
)

// Hugging Face tokenizer.json support for byte-level BPE.
//
// In a byte-level tokenizer.json every byte is written as one printable
// character (GPT-2's bytes_to_unicode): the printable bytes '!'..'~',
// '¡'..'¬', '®'..'ÿ' stand for themselves, and the other 68 bytes, in
// increasing order, are U+0100, U+0101, ... (so ' ' is 'Ġ' and '\n' is 'Ċ').
// Vocabulary keys and merges are written in that alphabet; added (special)
// tokens are written as they are.

var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevelString maps raw bytes to the byte-level alphabet.
func byteLevelString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteToRune[c])
	}
	return sb.String()
}

// byteLevelBytes maps a byte-level string back to raw bytes.
func byteLevelBytes(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := runeToByte[r]
		if !ok {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// MarshalJSON writes the tokenizer as a Hugging Face tokenizer.json: model
// BPE with the vocabulary in id order and merges in rank order ("a b"
// strings, the form every tokenizers version reads), the special tokens in
// added_tokens (and in the vocabulary, as the Hugging Face trainer writes
// them), a ByteLevel pre-tokenizer (for GPT-2's pattern) or a Split+ByteLevel
// sequence (LLaMA-3 / Qwen2 patterns), and a ByteLevel decoder.
func (t *BPE) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, a := range t.added {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n    {\"id\": %d, \"content\": %s, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": %t}",
			a.id, jsonString(a.content), a.special)
	}
	b.WriteString("\n  ],\n  \"normalizer\": null,\n")
	aps := t.addPrefixSpace
	switch t.pre {
	case PreTokGPT2:
		fmt.Fprintf(&b, "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": %t, \"trim_offsets\": true, \"use_regex\": true},\n", aps)
	default:
		fmt.Fprintf(&b, "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": %s}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": %t, \"trim_offsets\": true, \"use_regex\": false}]},\n",
			jsonString(t.pre.Pattern()), aps)
	}
	b.WriteString("  \"post_processor\": null,\n")
	b.WriteString("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n")
	fmt.Fprintf(&b, "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": %t,\n    \"vocab\": {", t.ignoreMerges)
	first := true
	for id, tok := range t.tokens {
		if tok == nil {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		s := string(tok)
		if !t.special[id] {
			s = byteLevelString(tok)
		}
		fmt.Fprintf(&b, "\n      %s: %d", jsonString(s), id)
	}
	b.WriteString("\n    },\n    \"merges\": [")
	for r, m := range t.ranked {
		if r > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n      %s", jsonString(byteLevelString(t.tokens[m[0]])+" "+byteLevelString(t.tokens[m[1]])))
	}
	b.WriteString("\n    ]\n  }\n}\n")
	return b.Bytes(), nil
}

// SaveJSON writes the tokenizer to path as a Hugging Face tokenizer.json.
// The file is written to a temporary file in the same folder and renamed
// into place, so readers never see a partial file.
func (t *BPE) SaveJSON(path string) error {
	data, err := t.MarshalJSON()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// hfTokenizer is the part of tokenizer.json this package reads.
type hfTokenizer struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        struct {
		Type                    string          `json:"type"`
		Dropout                 *float64        `json:"dropout"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
	} `json:"model"`
}

type hfComponent struct {
	Type           string          `json:"type"`
	AddPrefixSpace bool            `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
	Pretokenizers  []hfComponent   `json:"pretokenizers"`
	Pattern        json.RawMessage `json:"pattern"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
}

func isNull(m json.RawMessage) bool {
	s := bytes.TrimSpace(m)
	return len(s) == 0 || string(s) == "null"
}

// LoadTokenizerJSON reads a Hugging Face tokenizer.json (gzipped if path
// ends in .gz) of the byte-level BPE kind (GPT-2, RoBERTa, LLaMA-3, Qwen2 and the files SaveJSON writes):
// model.type "BPE" with vocab and merges (merges as "a b" strings or
// ["a", "b"] pairs), no normalizer, a ByteLevel pre-tokenizer (with its
// regex) or a Sequence of Split (GPT-2, LLaMA-3 or Qwen2 pattern, behavior
// Isolated) and ByteLevel (use_regex false), and a ByteLevel decoder (or
// none). Other kinds (Unigram/SentencePiece, WordPiece, WordLevel, normalizers,
// unknown split patterns) are refused with an error naming the file and the
// field. The post_processor is ignored: BOS/EOS are added by the caller.
//
// Special tokens are looked up by content among added_tokens and vocab:
// BOS is "<s>", "<|begin_of_text|>" or "<|startoftext|>"; EOS is "</s>" or
// "<|end_of_text|>"; EOD is "<|endoftext|>" or "<|end_of_text|>". A missing
// one falls back to EOD (BOS, EOS) or EOS (EOD), as GPT-2 uses
// <|endoftext|> for all three; -1 if there is none.
func LoadTokenizerJSON(path string) (*BPE, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(zr)
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer %s: bad gzip stream: %v", path, err)
		}
	}
	t, err := ParseTokenizerJSON(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return t, nil
}

// ParseTokenizerJSON is LoadTokenizerJSON on the file's contents.
func ParseTokenizerJSON(data []byte) (*BPE, error) {
	var f hfTokenizer
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a valid tokenizer.json: %v", err)
	}
	m := &f.Model
	switch m.Type {
	case "BPE":
	case "":
		if isNull(m.Vocab) || isNull(m.Merges) {
			return nil, fmt.Errorf("model: no type and no vocab/merges (not a BPE model)")
		}
	default:
		return nil, fmt.Errorf("unsupported model.type %q (only byte-level BPE is supported)", m.Type)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("unsupported model.dropout %v", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fmt.Errorf("unsupported model.continuing_subword_prefix %q", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fmt.Errorf("unsupported model.end_of_word_suffix %q", *m.EndOfWordSuffix)
	}
	if m.ByteFallback {
		return nil, fmt.Errorf("unsupported model.byte_fallback true (SentencePiece-style BPE, not byte-level)")
	}
	if !isNull(f.Normalizer) {
		var c hfComponent
		json.Unmarshal(f.Normalizer, &c)
		return nil, fmt.Errorf("unsupported normalizer %q (byte-level BPE files have none)", c.Type)
	}
	t := &BPE{merges: make(map[uint64]bpeMerge), cache: make(map[string][]int32), ignoreMerges: m.IgnoreMerges}
	if err := t.parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if !isNull(f.Decoder) {
		var c hfComponent
		if err := json.Unmarshal(f.Decoder, &c); err != nil {
			return nil, fmt.Errorf("decoder: %v", err)
		}
		if c.Type != "ByteLevel" {
			return nil, fmt.Errorf("unsupported decoder.type %q (need ByteLevel)", c.Type)
		}
	}

	var vocab map[string]int
	if err := json.Unmarshal(m.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("model.vocab: %v", err)
	}
	addedByContent := map[string]int{}
	for _, a := range f.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added_tokens: negative id %d for %q", a.ID, a.Content)
		}
		addedByContent[a.Content] = a.ID
		t.added = append(t.added, addedToken{id: a.ID, content: a.Content, special: a.Special})
	}
	sort.Slice(t.added, func(i, j int) bool { return t.added[i].id < t.added[j].id })
	size := 0
	for _, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("model.vocab: negative id %d", id)
		}
		size = max(size, id+1)
	}
	for _, a := range t.added {
		size = max(size, a.id+1)
	}
	if size > math32 {
		return nil, fmt.Errorf("model.vocab: id %d too large", size-1)
	}
	t.tokens = make([][]byte, size)
	t.special = make([]bool, size)
	for s, id := range vocab {
		if _, ok := addedByContent[s]; ok && addedByContent[s] == id {
			continue
		}
		b, ok := byteLevelBytes(s)
		if !ok || len(b) == 0 {
			return nil, fmt.Errorf("model.vocab: token %q (id %d) is not in the byte-level alphabet (not a byte-level BPE)", s, id)
		}
		if t.tokens[id] != nil {
			return nil, fmt.Errorf("model.vocab: id %d used twice", id)
		}
		t.tokens[id] = b
	}
	for _, a := range t.added {
		t.tokens[a.id] = []byte(a.content)
		t.special[a.id] = true
	}
	for b := 0; b < 256; b++ {
		id, ok := vocab[string(byteToRune[b])]
		if !ok {
			return nil, fmt.Errorf("model.vocab: no token for byte 0x%02x (%q); not a byte-level BPE", b, string(byteToRune[b]))
		}
		t.byteID[b] = int32(id)
	}
	if err := t.parseMerges(m.Merges, vocab); err != nil {
		return nil, err
	}
	if t.ignoreMerges {
		t.pieceID = make(map[string]int, len(t.tokens))
		for id, tok := range t.tokens {
			if tok != nil && !t.special[id] {
				t.pieceID[string(tok)] = id
			}
		}
	}
	find := func(names ...string) int {
		for _, n := range names {
			if id, ok := addedByContent[n]; ok {
				return id
			}
			if id, ok := vocab[n]; ok {
				return id
			}
		}
		return -1
	}
	t.bos = find(TokenBOS, "<|begin_of_text|>", "<|startoftext|>")
	t.eos = find(TokenEOS, "<|end_of_text|>")
	t.eod = find(TokenEOD, "<|end_of_text|>")
	if t.eod < 0 {
		t.eod = t.eos
	}
	if t.bos < 0 {
		t.bos = t.eod
	}
	if t.eos < 0 {
		t.eos = t.eod
	}
	return t, nil
}

func (t *BPE) parsePreTokenizer(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("unsupported pre_tokenizer null (byte-level BPE needs ByteLevel)")
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("pre_tokenizer: %v", err)
	}
	steps := []hfComponent{c}
	if c.Type == "Sequence" {
		steps = c.Pretokenizers
	}
	switch {
	case len(steps) == 1 && steps[0].Type == "ByteLevel":
		bl := steps[0]
		if bl.UseRegex != nil && !*bl.UseRegex {
			return fmt.Errorf("unsupported pre_tokenizer ByteLevel with use_regex false and no Split")
		}
		t.pre, t.addPrefixSpace = PreTokGPT2, bl.AddPrefixSpace
		return nil
	case len(steps) == 2 && steps[0].Type == "Split" && steps[1].Type == "ByteLevel":
		sp, bl := steps[0], steps[1]
		var pat struct {
			Regex  *string `json:"Regex"`
			String *string `json:"String"`
		}
		if err := json.Unmarshal(sp.Pattern, &pat); err != nil || pat.Regex == nil {
			return fmt.Errorf("unsupported pre_tokenizer Split pattern %s (need a Regex)", sp.Pattern)
		}
		switch *pat.Regex {
		case patternGPT2:
			t.pre = PreTokGPT2
		case patternLlama3:
			t.pre = PreTokLlama3
		case patternQwen2:
			t.pre = PreTokQwen2
		default:
			return fmt.Errorf("unsupported pre_tokenizer Split regex %q (known: the GPT-2, LLaMA-3 and Qwen2 patterns)", *pat.Regex)
		}
		if !strings.EqualFold(sp.Behavior, "Isolated") || sp.Invert {
			return fmt.Errorf("unsupported pre_tokenizer Split behavior %q invert %t (need Isolated, false)", sp.Behavior, sp.Invert)
		}
		if bl.UseRegex == nil || *bl.UseRegex {
			return fmt.Errorf("unsupported pre_tokenizer: Split followed by ByteLevel with use_regex true")
		}
		t.addPrefixSpace = bl.AddPrefixSpace
		return nil
	}
	types := make([]string, len(steps))
	for i, s := range steps {
		types[i] = s.Type
	}
	return fmt.Errorf("unsupported pre_tokenizer %s (need ByteLevel, or Split then ByteLevel)", strings.Join(types, "+"))
}

func (t *BPE) parseMerges(raw json.RawMessage, vocab map[string]int) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("model.merges: %v", err)
	}
	for r, it := range items {
		var a, b string
		var s string
		var pair []string
		if err := json.Unmarshal(it, &s); err == nil {
			i := strings.IndexByte(s, ' ')
			if i < 0 || strings.IndexByte(s[i+1:], ' ') >= 0 {
				return fmt.Errorf("model.merges[%d]: %q is not two tokens separated by one space", r, s)
			}
			a, b = s[:i], s[i+1:]
		} else if err := json.Unmarshal(it, &pair); err == nil && len(pair) == 2 {
			a, b = pair[0], pair[1]
		} else {
			return fmt.Errorf("model.merges[%d]: %s is neither \"a b\" nor [\"a\", \"b\"]", r, it)
		}
		ia, oka := vocab[a]
		ib, okb := vocab[b]
		iz, okz := vocab[a+b]
		if !oka || !okb || !okz {
			return fmt.Errorf("model.merges[%d]: %q + %q: token not in vocab", r, a, b)
		}
		k := pairKey(int32(ia), int32(ib))
		if _, dup := t.merges[k]; dup {
			continue // the first (lowest rank) wins
		}
		t.merges[k] = bpeMerge{rank: int32(len(t.ranked)), id: int32(iz)}
		t.ranked = append(t.ranked, [2]int32{int32(ia), int32(ib)})
	}
	return nil
}
