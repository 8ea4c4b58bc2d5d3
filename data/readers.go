package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Corpus readers. A corpus is given as paths: files, directories (searched
// recursively for supported files, in lexical order, skipping names that
// start with '.' and files of other types) and glob patterns (path/filepath
// syntax: *, ?, [...]). Supported files:
//
//	.txt, .txt.gz      plain text, documents separated by an empty line
//	                   (a line that is empty or only spaces, tabs, \r)
//	.jsonl, .jsonl.gz  JSON lines, one object per document with a string
//	.json, .json.gz    field "text" (as C4 ships: c4-train.00000-of-01024.json.gz);
//	                   a .json file may instead hold one JSON array of such objects
//
// Text must be UTF-8. Errors name the file and, where there is one, the line:
// empty files, files without any document, invalid UTF-8, invalid JSON, a
// missing or non-string "text" field, and truncated or corrupt gzip streams.
// Documents that are empty (an empty "text") are skipped.

// ReadDocuments reads every document in the files named by paths (see
// above), in order.
func ReadDocuments(paths ...string) ([][]byte, error) {
	var docs [][]byte
	err := WalkDocuments(paths, func(doc []byte) error {
		docs = append(docs, doc)
		return nil
	})
	return docs, err
}

// WalkDocuments calls fn with each document of the files named by paths,
// in order, reading one file at a time. fn may keep the slice it is given.
// An error from fn stops the walk and is returned.
func WalkDocuments(paths []string, fn func(doc []byte) error) error {
	files, err := ExpandPaths(paths...)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := ReadDocumentsFile(f, fn); err != nil {
			return err
		}
	}
	return nil
}

// ExpandPaths resolves globs and directories to the list of supported files.
// A glob that matches nothing, a directory with no supported file, and a file
// of an unsupported type are errors.
func ExpandPaths(paths ...string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("data: no input paths")
	}
	var out []string
	for _, p := range paths {
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("data: bad glob %q: %v", p, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("data: %s matches no files", p)
			}
			matches = m
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("data: %w", err)
			}
			if !st.IsDir() {
				if corpusKind(m) == kindNone {
					return nil, fmt.Errorf("data file %s: unsupported type (want .txt, .txt.gz, .jsonl, .jsonl.gz, .json or .json.gz)", m)
				}
				out = append(out, m)
				continue
			}
			var found []string
			err = filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if path != m && strings.HasPrefix(d.Name(), ".") {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if !d.IsDir() && corpusKind(path) != kindNone {
					found = append(found, path)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("data: %w", err)
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("data: directory %s has no .txt, .txt.gz, .jsonl, .jsonl.gz, .json or .json.gz files", m)
			}
			sort.Strings(found)
			out = append(out, found...)
		}
	}
	return out, nil
}

type corpusFileKind int

const (
	kindNone corpusFileKind = iota
	kindText
	kindJSON
)

func corpusKind(path string) corpusFileKind {
	name := strings.ToLower(strings.TrimSuffix(path, ".gz"))
	switch {
	case strings.HasSuffix(name, ".txt"):
		return kindText
	case strings.HasSuffix(name, ".jsonl"), strings.HasSuffix(name, ".json"):
		return kindJSON
	}
	return kindNone
}

// ReadDocumentsFile calls fn with each document of one file (by its type).
func ReadDocumentsFile(path string, fn func(doc []byte) error) error {
	kind := corpusKind(path)
	if kind == kindNone {
		return fmt.Errorf("data file %s: unsupported type (want .txt, .txt.gz, .jsonl, .jsonl.gz, .json or .json.gz)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data file: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("data file %s: empty", path)
			}
			return fmt.Errorf("data file %s: not a valid gzip stream: %v", path, err)
		}
		defer zr.Close()
		r = &gzipErrReader{zr, path}
	}
	n := 0
	count := func(doc []byte) error { n++; return fn(doc) }
	if kind == kindText {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return fmt.Errorf("data file %s: empty", path)
		}
		if err := checkUTF8(path, b); err != nil {
			return err
		}
		for _, d := range SplitTextDocuments(b) {
			if err := count(d); err != nil {
				return err
			}
		}
	} else {
		br := bufio.NewReaderSize(r, 1<<16)
		first, err := br.Peek(1)
		if err != nil && err != io.EOF {
			return err
		}
		if len(first) == 0 {
			return fmt.Errorf("data file %s: empty", path)
		}
		if err := ParseJSONLines(path, br, count); err != nil {
			return err
		}
	}
	if n == 0 {
		return fmt.Errorf("data file %s: no documents", path)
	}
	return nil
}

// gzipErrReader names the file in errors from a gzip stream.
type gzipErrReader struct {
	r    io.Reader
	path string
}

func (g *gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("data file %s: truncated gzip stream (unexpected end of data)", g.path)
		} else {
			err = fmt.Errorf("data file %s: corrupt gzip stream: %v", g.path, err)
		}
	}
	return n, err
}

// checkUTF8 returns an error naming the line of the first invalid byte.
func checkUTF8(name string, b []byte) error {
	off := invalidUTF8(b)
	if off < 0 {
		return nil
	}
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	return fmt.Errorf("data file %s: line %d: invalid UTF-8 (byte 0x%02x at offset %d)", name, line, b[off], off)
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	off := 0
	for off < len(b) {
		r, w := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && w <= 1 {
			return off
		}
		off += w
	}
	return -1
}

// SplitTextDocuments splits text into documents at empty lines (lines that
// are empty or hold only spaces, tabs and \r). Each document is a subslice
// of text from the start of its first line to the end of its last line,
// newline included; runs of several empty lines separate just once, and
// no empty document is returned.
func SplitTextDocuments(text []byte) [][]byte {
	var docs [][]byte
	start := -1 // start of the current document, -1 if none
	for i := 0; i < len(text); {
		j := bytes.IndexByte(text[i:], '\n')
		end := len(text)
		if j >= 0 {
			end = i + j + 1
		}
		if len(bytes.Trim(text[i:end], " \t\r\n")) == 0 {
			if start >= 0 {
				docs = append(docs, text[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i = end
	}
	if start >= 0 {
		docs = append(docs, text[start:])
	}
	return docs
}

// ParseJSONLines reads JSON documents from r: one object per line with a
// string field "text" (blank lines are skipped), or, if the input starts
// with '[', one array of such objects. name is used in errors, which give
// the line number.
func ParseJSONLines(name string, r io.Reader, fn func(doc []byte) error) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<16)
	}
	if b, err := br.Peek(1); err == nil && b[0] == '[' {
		return parseJSONArray(name, br, fn)
	}
	var rec map[string]json.RawMessage
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return err
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			if off := invalidUTF8(t); off >= 0 {
				return fmt.Errorf("data file %s: line %d: invalid UTF-8 (byte 0x%02x at column %d)", name, line, t[off], off+1)
			}
			clear(rec)
			if jerr := json.Unmarshal(t, &rec); jerr != nil {
				return fmt.Errorf("data file %s: line %d: invalid JSON: %v", name, line, jerr)
			}
			doc, derr := textField(rec)
			if derr != nil {
				return fmt.Errorf("data file %s: line %d: %v", name, line, derr)
			}
			if len(doc) > 0 {
				if ferr := fn(doc); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// textField returns the "text" member of a record (matched exactly, not
// case-insensitively as encoding/json matches struct fields).
func textField(rec map[string]json.RawMessage) ([]byte, error) {
	raw, ok := rec["text"]
	if !ok || rec == nil {
		return nil, errors.New(`no "text" field`)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf(`"text" is not a string: %.40s`, raw)
	}
	return []byte(s), nil
}

func parseJSONArray(name string, r io.Reader, fn func(doc []byte) error) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return checkUTF8(name, b)
	}
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(int(off), len(b))], []byte{'\n'}) }
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("data file %s: line 1: invalid JSON: %v", name, err)
	}
	for dec.More() {
		off := dec.InputOffset()
		for off < int64(len(b)) && strings.IndexByte(", \t\r\n", b[off]) >= 0 {
			off++
		}
		var rec map[string]json.RawMessage
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("data file %s: line %d: invalid JSON: %v", name, lineAt(dec.InputOffset()), err)
		}
		doc, err := textField(rec)
		if err != nil {
			return fmt.Errorf("data file %s: line %d: %v", name, lineAt(off), err)
		}
		if len(doc) > 0 {
			if err := fn(doc); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("data file %s: line %d: invalid JSON: %v", name, lineAt(dec.InputOffset()), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data file %s: line %d: invalid JSON: data after the array", name, lineAt(dec.InputOffset()))
	}
	return nil
}
