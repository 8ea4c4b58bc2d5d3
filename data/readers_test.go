package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func docStrings(docs [][]byte) []string {
	var s []string
	for _, d := range docs {
		s = append(s, string(d))
	}
	return s
}

func TestSplitTextDocuments(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n\n \n", nil},
		{"a", []string{"a"}},
		{"a\nb\n", []string{"a\nb\n"}},
		{"a\n\nb\n", []string{"a\n", "b\n"}},
		{"\n\na\nb\n\n\n\nc\n \t\nd", []string{"a\nb\n", "c\n", "d"}},
		{"a\r\n\r\nb\r\n", []string{"a\r\n", "b\r\n"}},
	}
	for _, c := range cases {
		got := docStrings(SplitTextDocuments([]byte(c.in)))
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%q: got %q want %q", c.in, got, c.want)
		}
	}
}

func TestReadDocuments(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a/1.txt", []byte("doc one\nline two\n\ndoc two\n"))
	writeFile(t, dir, "a/2.txt.gz", gz(t, []byte("doc three\n")))
	writeFile(t, dir, "a/3.jsonl", []byte(`{"text": "doc four", "url": "x"}`+"\n\n"+`{"text": "doc\nfive", "timestamp": 1}`+"\n"+`{"text": ""}`))
	writeFile(t, dir, "a/b/4.json.gz", gz(t, []byte(`{"text":"doc six","url":"https://e.x/","timestamp":"2019-04-25T12:57:54Z"}`+"\n")))
	writeFile(t, dir, "a/b/5.json", []byte("[\n {\"text\": \"doc seven\"},\n {\"text\": \"doc eight\"}\n]\n"))
	writeFile(t, dir, "a/README.md", []byte("not a corpus file"))
	writeFile(t, dir, "a/.hidden/x.txt", []byte("hidden"))
	want := []string{"doc one\nline two\n", "doc two\n", "doc three\n", "doc four", "doc\nfive", "doc six", "doc seven", "doc eight"}

	docs, err := ReadDocuments(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := docStrings(docs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("directory: got %q\nwant %q", got, want)
	}
	docs, err = ReadDocuments(filepath.Join(dir, "a", "*.txt*"), filepath.Join(dir, "a", "b", "4.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if got := docStrings(docs); strings.Join(got, "|") != "doc one\nline two\n|doc two\n|doc three\n|doc six" {
		t.Fatalf("glob: got %q", got)
	}
	files, err := ExpandPaths(filepath.Join(dir, "a"))
	if err != nil || len(files) != 5 {
		t.Fatalf("ExpandPaths: %v %q", err, files)
	}
	// Stop early with the callback's error.
	stop := os.ErrClosed
	n := 0
	if err := WalkDocuments([]string{filepath.Join(dir, "a")}, func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("WalkDocuments stop: %v %d", err, n)
	}
}

func TestReadDocumentsErrors(t *testing.T) {
	dir := t.TempDir()
	good := gz(t, []byte(strings.Repeat("some text that compresses\n", 200)))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.txt", nil, "empty"},
		{"blank.txt", []byte("\n\n  \n"), "no documents"},
		{"empty.jsonl", nil, "empty"},
		{"empty.txt.gz", nil, "empty"},
		{"emptygz.txt.gz", gz(t, nil), "empty"},
		{"bad-utf8.txt", []byte("fine\nalso fine\nbad \xff here\n"), "line 3: invalid UTF-8 (byte 0xff"},
		{"bad.jsonl", []byte(`{"text": "a"}` + "\n" + `{"text": "b"}` + "\n" + `{"text": "c"` + "\n"), "line 3: invalid JSON"},
		{"notext.jsonl", []byte(`{"text": "a"}` + "\n" + `{"content": "b"}` + "\n"), `line 2: no "text" field`},
		{"nonstring.jsonl", []byte(`{"text": 12}` + "\n"), `line 1: "text" is not a string`},
		{"utf8.jsonl", []byte(`{"text": "a"}` + "\n" + "{\"text\": \"\xc3\"}\n"), "line 2: invalid UTF-8"},
		{"array.json", []byte("[\n{\"text\": \"a\"},\n{\"text\": 5}\n]"), `line 3: "text" is not a string`},
		{"badarray.json", []byte("[\n{\"text\": \"a\"},\n{\"text\" \"b\"}\n]"), "invalid JSON"},
		{"notgzip.txt.gz", []byte("plain text, not gzip"), "not a valid gzip stream"},
		{"truncated.txt.gz", good[:len(good)-12], "truncated gzip stream"},
		{"corrupt.txt.gz", func() []byte { b := append([]byte{}, good...); b[len(b)-6] ^= 0xff; return b }(), "corrupt gzip stream"},
		{"unsupported.csv", []byte("a,b"), "unsupported type"},
	}
	for _, c := range cases {
		p := writeFile(t, dir, c.name, c.data)
		_, err := ReadDocuments(p)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name the file and %q", c.name, err, c.want)
		}
	}
	if _, err := ReadDocuments(filepath.Join(dir, "nothing*.txt")); err == nil || !strings.Contains(err.Error(), "matches no files") {
		t.Errorf("empty glob: %v", err)
	}
	if _, err := ReadDocuments(filepath.Join(dir, "absent.txt")); err == nil || !strings.Contains(err.Error(), "absent.txt") {
		t.Errorf("absent: %v", err)
	}
	os.Mkdir(filepath.Join(dir, "void"), 0o755)
	if _, err := ReadDocuments(filepath.Join(dir, "void")); err == nil || !strings.Contains(err.Error(), "void") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := ReadDocuments(); err == nil {
		t.Error("no paths accepted")
	}
}
