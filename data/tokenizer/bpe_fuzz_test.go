package tokenizer

import (
	"bytes"
	"sync"
	"testing"
)

var (
	fuzzTokOnce sync.Once
	fuzzTok     *BPE
)

// FuzzBPERoundTrip: for any bytes, both pre-tokenizers cover the input with
// non-empty pieces, Encode/Decode round-trips (with a fixed tokenizer and
// with one trained on the input itself), and the result survives a save and
// load.
func FuzzBPERoundTrip(f *testing.F) {
	f.Add([]byte("Hello, world! It's 2024.\n\n  Next   document\tx"))
	f.Add([]byte("\xff\xfe\xc3(\xe2\x82 invalid \x80 utf8"))
	f.Add([]byte("'s 'S 'll 'LL \r\n\r\n 123456 ſ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzTokOnce.Do(func() { fuzzTok = trainSmall(t) })
		for _, p := range []PreTokenizer{PreTokGPT2, PreTokLlama3, PreTokQwen2} {
			var cat []byte
			p.Split(data, func(w []byte) {
				if len(w) == 0 {
					t.Fatalf("%v: empty piece", p)
				}
				cat = append(cat, w...)
			})
			if !bytes.Equal(cat, data) {
				t.Fatalf("%v: pieces do not cover the input", p)
			}
		}
		if got := fuzzTok.Decode(fuzzTok.Encode(data)); !bytes.Equal(got, data) {
			t.Fatalf("round trip: %q -> %q", data, got)
		}
		if len(data) > 4096 {
			return
		}
		own, err := TrainBPE(data, MinBPEVocab+20, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids := own.Encode(data)
		if got := own.Decode(ids); !bytes.Equal(got, data) {
			t.Fatalf("own round trip: %q -> %q", data, got)
		}
		js, err := own.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseTokenizerJSON(js)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if !equalInts(back.Encode(data), ids) {
			t.Fatal("reloaded tokenizer encodes differently")
		}
	})
}
