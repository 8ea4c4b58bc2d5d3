package data

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzJSONLines: the JSON-lines reader never panics, and every document it
// returns is non-empty valid UTF-8; on error, the message names the input.
func FuzzJSONLines(f *testing.F) {
	f.Add([]byte(`{"text": "a"}` + "\n" + `{"text": "b\nc", "url": "u"}` + "\n"))
	f.Add([]byte("[{\"text\": \"x\"}, {\"text\": \"y\"}]"))
	f.Add([]byte(`{"text": 1}`))
	f.Add([]byte("{\"text\": \"\xff\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := ParseJSONLines("fuzz.jsonl", bytes.NewReader(data), func(doc []byte) error {
			n++
			if len(doc) == 0 {
				t.Fatal("empty document")
			}
			if !utf8.Valid(doc) {
				t.Fatalf("invalid UTF-8 document %q", doc)
			}
			return nil
		})
		if err != nil && !strings.Contains(err.Error(), "fuzz.jsonl") {
			t.Fatalf("error does not name the file: %v", err)
		}
		if objects := bytes.Count(data, []byte("{")); err == nil && n > objects {
			t.Fatalf("%d documents from %d objects", n, objects)
		}
	})
}

// FuzzSplitTextDocuments: documents are non-empty, in order, and together
// with the separating blank lines they make up the input.
func FuzzSplitTextDocuments(f *testing.F) {
	f.Add([]byte("a\n\nb\n \n\nc"))
	f.Add([]byte("\r\n\r\nx\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		for _, d := range SplitTextDocuments(data) {
			if len(bytes.Trim(d, " \t\r\n")) == 0 {
				t.Fatalf("blank document %q", d)
			}
			i := bytes.Index(rest, d)
			if i < 0 {
				t.Fatal("document not found in order")
			}
			if len(bytes.Trim(rest[:i], " \t\r\n")) != 0 {
				t.Fatalf("text lost between documents: %q", rest[:i])
			}
			rest = rest[i+len(d):]
		}
		if len(bytes.Trim(rest, " \t\r\n")) != 0 {
			t.Fatalf("text lost at the end: %q", rest)
		}
	})
}
