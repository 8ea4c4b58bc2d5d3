package model

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/relora-go/relora-go/engine/atomicfile"
)

// Safetensors is a parsed .safetensors file held in memory.
type Safetensors struct {
	Path     string
	Metadata map[string]string
	entries  map[string]stEntry
	data     []byte
}

type stEntry struct {
	Dtype   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

var dtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8}

// ReadSafetensors loads and checks a safetensors file: header length,
// JSON, dtypes, shapes against byte ranges, ranges inside the file.
func ReadSafetensors(path string) (*Safetensors, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return ParseSafetensors(path, b)
}

// ParseSafetensors parses an in-memory file; path names it in errors.
func ParseSafetensors(path string, b []byte) (*Safetensors, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("safetensors %s: %s", path, fmt.Sprintf(format, a...))
	}
	if len(b) < 8 {
		return nil, bad("file is %d bytes, too short for a header", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, bad("header length %d exceeds the file size %d", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, bad("header is not valid JSON: %v", err)
	}
	st := &Safetensors{Path: path, entries: map[string]stEntry{}, data: b[8+n:]}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &st.Metadata); err != nil {
				return nil, bad("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, bad("tensor %q: bad header entry: %v", name, err)
		}
		size, ok := dtypeSize[e.Dtype]
		if !ok {
			return nil, bad("tensor %q: dtype %q is not supported (F32, F16, BF16, I32, I64)", name, e.Dtype)
		}
		lo, hi := e.Offsets[0], e.Offsets[1]
		if lo < 0 || hi < lo || hi > int64(len(st.data)) {
			return nil, bad("tensor %q: data range [%d, %d) lies outside the %d data bytes (truncated file?)", name, lo, hi, len(st.data))
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, bad("tensor %q: negative dimension in shape %v", name, e.Shape)
			}
			if d > 0 && count > (1<<62)/int64(size)/int64(d) { // no overflow below
				return nil, bad("tensor %q: shape %v of %s needs more bytes than a file can hold, the header gives %d", name, e.Shape, e.Dtype, hi-lo)
			}
			count *= int64(d)
		}
		if hi-lo != count*int64(size) {
			return nil, bad("tensor %q: shape %v of %s needs %d bytes, the header gives %d", name, e.Shape, e.Dtype, count*int64(size), hi-lo)
		}
		st.entries[name] = e
	}
	return st, st.checkTiling(bad)
}

// checkTiling checks that the tensors' byte ranges tile the data section
// exactly, as the format requires: in offset order each begins where the
// one before ended, the first at 0, the last at the end of the file. Two
// tensors sharing bytes, a gap and trailing bytes are all refused.
func (s *Safetensors) checkTiling(bad func(string, ...any) error) error {
	names := s.Names()
	sort.SliceStable(names, func(i, j int) bool {
		a, b := s.entries[names[i]].Offsets, s.entries[names[j]].Offsets
		return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
	})
	var end int64
	var gap error // reported only when no two tensors overlap
	prev := ""
	for _, n := range names {
		lo, hi := s.entries[n].Offsets[0], s.entries[n].Offsets[1]
		switch {
		case lo < end:
			return bad("tensor %q: data range [%d, %d) overlaps tensor %q, which ends at %d (each tensor needs bytes of its own)", n, lo, hi, prev, end)
		case lo > end && gap == nil:
			gap = bad("tensor %q: data range [%d, %d) leaves a gap of %d bytes after %s (tensors must be contiguous)", n, lo, hi, lo-end, describe(prev))
		}
		end, prev = hi, n
	}
	if gap != nil {
		return gap
	}
	if end != int64(len(s.data)) {
		return bad("%d bytes after the last tensor's data (at %d) that no tensor covers (tensors must fill the file)", int64(len(s.data))-end, end)
	}
	return nil
}

func describe(tensor string) string {
	if tensor == "" {
		return "the header"
	}
	return fmt.Sprintf("tensor %q", tensor)
}

// Names lists the tensors in the file, sorted.
func (s *Safetensors) Names() []string {
	var out []string
	for n := range s.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Has reports whether the file holds a tensor of that name.
func (s *Safetensors) Has(name string) bool { _, ok := s.entries[name]; return ok }

// Shape of a tensor (nil if absent).
func (s *Safetensors) Shape(name string) []int { return s.entries[name].Shape }

// Float32 returns a tensor converted to float32 (from F32, BF16 or F16).
func (s *Safetensors) Float32(name string) ([]float32, []int, error) {
	e, ok := s.entries[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors %s: no tensor %q", s.Path, name)
	}
	raw := s.data[e.Offsets[0]:e.Offsets[1]]
	var out []float32
	switch e.Dtype {
	case "F32":
		out = make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "BF16":
		out = make([]float32, len(raw)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case "F16":
		out = make([]float32, len(raw)/2)
		for i := range out {
			out[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	default:
		return nil, nil, fmt.Errorf("safetensors %s: tensor %q is %s, not a float type", s.Path, name, e.Dtype)
	}
	return out, e.Shape, nil
}

// Int32 returns an integer tensor (I32 or I64) as int32.
func (s *Safetensors) Int32(name string) ([]int32, []int, error) {
	e, ok := s.entries[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors %s: no tensor %q", s.Path, name)
	}
	raw := s.data[e.Offsets[0]:e.Offsets[1]]
	switch e.Dtype {
	case "I32":
		out := make([]int32, len(raw)/4)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, e.Shape, nil
	case "I64":
		out := make([]int32, len(raw)/8)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, e.Shape, nil
	}
	return nil, nil, fmt.Errorf("safetensors %s: tensor %q is %s, not an integer type", s.Path, name, e.Dtype)
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int32(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(frac) / 1024 / 16384 // subnormal: frac · 2^-24
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// WriteSafetensors writes F32 tensors (in the given order; a tensor held in
// bfloat16 is widened, exactly) atomically: a
// temporary file in the same directory, fsync, rename. A crash leaves the
// old file (if any) intact.
func WriteSafetensors(path string, tensors []Named, meta map[string]string) error {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, n := range tensors {
		size := int64(4 * n.T.Size())
		header[n.Name] = stEntry{Dtype: "F32", Shape: n.T.Shape, Offsets: [2]int64{off, off + size}}
		off += size
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for (8+len(hj))%8 != 0 {
		hj = append(hj, ' ')
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hj)))
		bw.Write(n[:])
		bw.Write(hj)
		var buf [4]byte
		for _, t := range tensors {
			if t.T.IsBF16() { // widened: the bf16 bits on top of zeros
				for _, h := range t.T.BF16 {
					binary.LittleEndian.PutUint32(buf[:], uint32(h)<<16)
					bw.Write(buf[:])
				}
				continue
			}
			for _, v := range t.T.Data {
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
				bw.Write(buf[:])
			}
		}
		return bw.Flush()
	})
}
