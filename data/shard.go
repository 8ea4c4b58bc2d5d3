package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unsafe"
)

// Token shards: a tokenized corpus on disk, read by memory-mapping.
//
// Layout (little-endian), a 32-byte header then the tokens:
//
//	offset  size  field
//	0       8     magic "RLTOKSH\x00"
//	8       4     format version (1)
//	12      4     token width in bytes: 2 (vocab <= 65536) or 4
//	16      8     vocabulary size; every token is < this
//	24      8     token count
//	32      ...   count tokens of the given width (uint16 or uint32)
//
// The file size must be exactly 32 + count·width.

// ShardMagic opens every shard file.
const ShardMagic = "RLTOKSH\x00"

// ShardVersion is the format version written and accepted.
const ShardVersion = 1

// ShardHeaderSize is the size of the header in bytes.
const ShardHeaderSize = 32

// ShardWidth is the token width for a vocabulary size: 2 bytes when every
// id fits in a uint16, else 4.
func ShardWidth(vocab int) int {
	if vocab <= 1<<16 {
		return 2
	}
	return 4
}

// ShardHeader is a shard's header.
type ShardHeader struct {
	Version int
	Width   int   // bytes per token, 2 or 4
	Vocab   int   // vocabulary size
	Count   int64 // tokens in the file
}

func (h ShardHeader) encode() []byte {
	b := make([]byte, ShardHeaderSize)
	copy(b, ShardMagic)
	binary.LittleEndian.PutUint32(b[8:], uint32(h.Version))
	binary.LittleEndian.PutUint32(b[12:], uint32(h.Width))
	binary.LittleEndian.PutUint64(b[16:], uint64(h.Vocab))
	binary.LittleEndian.PutUint64(b[24:], uint64(h.Count))
	return b
}

// ParseShardHeader decodes and checks a header against the size of the
// whole file; name is used in errors.
func ParseShardHeader(name string, b []byte, fileSize int64) (ShardHeader, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("token shard %s: %s", name, fmt.Sprintf(format, a...))
	}
	if fileSize < ShardHeaderSize || len(b) < ShardHeaderSize {
		return ShardHeader{}, bad("file is %d bytes, shorter than the %d-byte header", fileSize, ShardHeaderSize)
	}
	if string(b[:8]) != ShardMagic {
		return ShardHeader{}, bad("not a token shard (bad magic %q)", b[:8])
	}
	h := ShardHeader{
		Version: int(binary.LittleEndian.Uint32(b[8:])),
		Width:   int(binary.LittleEndian.Uint32(b[12:])),
	}
	vocab := binary.LittleEndian.Uint64(b[16:])
	count := binary.LittleEndian.Uint64(b[24:])
	if h.Version != ShardVersion {
		return ShardHeader{}, bad("format version %d is not supported (this build reads version %d)", h.Version, ShardVersion)
	}
	if h.Width != 2 && h.Width != 4 {
		return ShardHeader{}, bad("token width %d is not 2 or 4", h.Width)
	}
	if vocab == 0 || vocab > 1<<31 { // ids are int32 in memory
		return ShardHeader{}, bad("vocabulary size %d is out of range", vocab)
	}
	if want := ShardWidth(int(vocab)); h.Width != want {
		return ShardHeader{}, bad("token width %d does not match vocabulary size %d (want %d)", h.Width, vocab, want)
	}
	h.Vocab = int(vocab)
	data := uint64(fileSize - ShardHeaderSize)
	if count > data/uint64(h.Width) || count*uint64(h.Width) != data {
		return ShardHeader{}, bad("header says %d tokens of %d bytes (%d bytes), but the file has %d bytes after the header (truncated or damaged)",
			count, h.Width, count*uint64(h.Width), data)
	}
	h.Count = int64(count)
	return h, nil
}

// Shard is an open token shard. Its tokens are a read-only view of the
// mapped file (or, where memory-mapping is not available, of a copy read
// into memory); Close releases them.
type Shard struct {
	Path string
	ShardHeader
	mem   []byte // the whole file
	unmap func() error
	u16   []uint16
	u32   []uint32
}

// OpenShard maps a shard file and checks that its header and size agree.
// It does not read the tokens; see Validate.
func OpenShard(path string) (*Shard, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token shard: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("token shard: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("token shard %s: not a regular file", path)
	}
	size := st.Size()
	head := make([]byte, ShardHeaderSize)
	if _, err := io.ReadFull(f, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("token shard %s: file is %d bytes, shorter than the %d-byte header", path, size, ShardHeaderSize)
		}
		return nil, fmt.Errorf("token shard %s: %w", path, err)
	}
	h, err := ParseShardHeader(path, head, size)
	if err != nil {
		return nil, err
	}
	mem, unmap, err := mapFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("token shard %s: %w", path, err)
	}
	s := &Shard{Path: path, ShardHeader: h, mem: mem, unmap: unmap}
	s.view()
	return s, nil
}

// ParseShard reads a shard held in memory (b is used, not copied); name is
// used in errors.
func ParseShard(name string, b []byte) (*Shard, error) {
	h, err := ParseShardHeader(name, b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	s := &Shard{Path: name, ShardHeader: h, mem: b}
	s.view()
	return s, nil
}

// littleEndian reports whether this machine stores integers as the file does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// view sets up the typed token slices: the mapped bytes themselves on a
// little-endian machine whose mapping is aligned, else a decoded copy.
func (s *Shard) view() {
	body := s.mem[ShardHeaderSize:]
	n := int(s.Count)
	aligned := uintptr(unsafe.Pointer(unsafe.SliceData(body)))%uintptr(s.Width) == 0
	if s.Width == 2 {
		if littleEndian && aligned && n > 0 {
			s.u16 = unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(body))), n)
			return
		}
		s.u16 = make([]uint16, n)
		for i := range s.u16 {
			s.u16[i] = binary.LittleEndian.Uint16(body[2*i:])
		}
		return
	}
	if littleEndian && aligned && n > 0 {
		s.u32 = unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(body))), n)
		return
	}
	s.u32 = make([]uint32, n)
	for i := range s.u32 {
		s.u32[i] = binary.LittleEndian.Uint32(body[4*i:])
	}
}

// Len is the number of tokens.
func (s *Shard) Len() int { return int(s.Count) }

// At returns token i.
func (s *Shard) At(i int) int32 {
	if s.Width == 2 {
		return int32(s.u16[i])
	}
	return int32(s.u32[i])
}

// Uint16 is the tokens of a 2-byte shard without copying (nil for a
// 4-byte shard). It must not be written to or used after Close.
func (s *Shard) Uint16() []uint16 { return s.u16 }

// Uint32 is the tokens of a 4-byte shard without copying (nil for a
// 2-byte shard). It must not be written to or used after Close.
func (s *Shard) Uint32() []uint32 { return s.u32 }

// Read copies tokens off, off+1, ... into dst (as many as fit) and returns
// how many it copied.
func (s *Shard) Read(dst []int32, off int) int {
	if s.Width == 2 {
		src := s.u16[min(off, len(s.u16)):]
		n := min(len(dst), len(src))
		for i, v := range src[:n] {
			dst[i] = int32(v)
		}
		return n
	}
	src := s.u32[min(off, len(s.u32)):]
	n := min(len(dst), len(src))
	for i, v := range src[:n] {
		dst[i] = int32(v)
	}
	return n
}

// Int32 converts the whole shard to a new []int32 (4 bytes a token in
// memory, twice a 2-byte shard's size). A *Shard is itself a Tokens
// stream for the Batcher, without the copy.
func (s *Shard) Int32() []int32 {
	out := make([]int32, s.Len())
	s.Read(out, 0)
	return out
}

// Validate checks every token against the vocabulary size; the error names
// the file and the first bad token.
func (s *Shard) Validate() error {
	v := uint32(s.Vocab)
	bad := -1
	if s.Width == 2 {
		if v < 1<<16 {
			for i, t := range s.u16 {
				if uint32(t) >= v {
					bad = i
					break
				}
			}
		}
	} else {
		for i, t := range s.u32 {
			if t >= v {
				bad = i
				break
			}
		}
	}
	if bad >= 0 {
		return fmt.Errorf("token shard %s: token %d is %d, outside the vocabulary of %d", s.Path, bad, s.At(bad), s.Vocab)
	}
	return nil
}

// Close releases the mapping; the token slices must not be used after it.
func (s *Shard) Close() error {
	s.u16, s.u32 = nil, nil
	if s.unmap == nil {
		return nil
	}
	err := s.unmap()
	s.unmap, s.mem = nil, nil
	return err
}

// ShardWriter writes a shard through a hidden temporary file in the target
// directory: Close fixes the header, syncs and renames it into place, so a
// failure at any point leaves an existing file of that name untouched.
type ShardWriter struct {
	path, tmp string
	f         *os.File
	w         *bufio.Writer
	h         ShardHeader
	buf       []byte
	err       error
}

// CreateShard starts writing a shard for a vocabulary of vocab tokens.
func CreateShard(path string, vocab int) (*ShardWriter, error) {
	if vocab <= 0 || int64(vocab) > 1<<31 {
		return nil, fmt.Errorf("token shard %s: vocabulary size %d is out of range", path, vocab)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("token shard: %w", err)
	}
	sw := &ShardWriter{path: path, tmp: f.Name(), f: f, w: bufio.NewWriterSize(f, 1<<20),
		h: ShardHeader{Version: ShardVersion, Width: ShardWidth(vocab), Vocab: vocab}}
	if _, err := sw.w.Write(sw.h.encode()); err != nil { // count fixed in Close
		sw.Abort()
		return nil, fmt.Errorf("token shard %s: %w", path, err)
	}
	return sw, nil
}

// Write appends tokens; each must be in [0, vocab).
func (sw *ShardWriter) Write(ids []int) error {
	if sw.err != nil {
		return sw.err
	}
	sw.buf = sw.buf[:0]
	for _, id := range ids {
		if id < 0 || id >= sw.h.Vocab {
			sw.err = fmt.Errorf("token shard %s: token %d outside the vocabulary of %d", sw.path, id, sw.h.Vocab)
			return sw.err
		}
		if sw.h.Width == 2 {
			sw.buf = binary.LittleEndian.AppendUint16(sw.buf, uint16(id))
		} else {
			sw.buf = binary.LittleEndian.AppendUint32(sw.buf, uint32(id))
		}
	}
	if _, err := sw.w.Write(sw.buf); err != nil {
		sw.err = fmt.Errorf("token shard %s: %w", sw.path, err)
		return sw.err
	}
	sw.h.Count += int64(len(ids))
	return nil
}

// Count is the number of tokens written so far.
func (sw *ShardWriter) Count() int64 { return sw.h.Count }

// Close finishes the file (header, fsync) and renames it over the target.
func (sw *ShardWriter) Close() error {
	err := sw.Finish()
	if err != nil {
		return err
	}
	return sw.Commit()
}

// Finish completes and syncs the temporary file without renaming it into
// place (Commit does), so several shards can be committed together once
// all of them are complete.
func (sw *ShardWriter) Finish() error {
	if sw.f == nil {
		return sw.err
	}
	err := sw.err
	if err == nil {
		err = sw.w.Flush()
	}
	if err == nil {
		_, err = sw.f.WriteAt(sw.h.encode(), 0)
	}
	if err == nil {
		err = sw.f.Chmod(0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = sw.f.Sync()
	}
	if cerr := sw.f.Close(); err == nil {
		err = cerr
	}
	sw.f = nil
	if err != nil {
		os.Remove(sw.tmp)
		sw.err = fmt.Errorf("token shard %s: %w", sw.path, err)
		return sw.err
	}
	return nil
}

// Commit renames a finished file into place and syncs the directory.
func (sw *ShardWriter) Commit() error {
	if sw.err != nil {
		return sw.err
	}
	if err := os.Rename(sw.tmp, sw.path); err != nil {
		os.Remove(sw.tmp)
		return fmt.Errorf("token shard %s: %w", sw.path, err)
	}
	if d, err := os.Open(filepath.Dir(sw.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort discards the temporary file; the target is left as it was.
func (sw *ShardWriter) Abort() {
	if sw.f != nil {
		sw.f.Close()
		sw.f = nil
	}
	os.Remove(sw.tmp)
	if sw.err == nil {
		sw.err = fmt.Errorf("token shard %s: aborted", sw.path)
	}
}

// WriteShard writes a whole shard atomically.
func WriteShard(path string, vocab int, ids []int) error {
	sw, err := CreateShard(path, vocab)
	if err != nil {
		return err
	}
	if err := sw.Write(ids); err != nil {
		sw.Abort()
		return err
	}
	return sw.Close()
}
