package model

import (
	"encoding/binary"
	"strings"
	"testing"
)

// stFile is a safetensors file from a header and that many data bytes.
func stFile(header string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, data)...)
}

// Two tensors sharing bytes (or leaving bytes between or after them) are
// refused: the format requires the ranges to tile the data section
// (issue 16, item 5).
func TestSafetensorsOffsetsMustTile(t *testing.T) {
	const two = `{"a":{"dtype":"F32","shape":[2],"data_offsets":[%s]},"b":{"dtype":"F32","shape":[2],"data_offsets":[%s]}}`
	for _, tc := range []struct {
		name   string
		a, b   string
		data   int
		want   string
		accept bool
	}{
		{"contiguous", "0,8", "8,16", 16, "", true},
		{"reversed order", "8,16", "0,8", 16, "", true},
		{"identical offsets", "0,8", "0,8", 8, "overlaps", false},
		{"shifted 4 bytes into the neighbour", "0,8", "4,12", 12, "overlaps", false},
		{"gap", "0,8", "12,20", 20, "gap of 4 bytes", false},
		{"not from 0", "4,12", "12,20", 20, "gap of 4 bytes after the header", false},
		{"trailing bytes", "0,8", "8,16", 20, "4 bytes after the last tensor", false},
	} {
		h := strings.Replace(strings.Replace(two, "%s", tc.a, 1), "%s", tc.b, 1)
		_, err := ParseSafetensors(tc.name, stFile(h, tc.data))
		switch {
		case tc.accept && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.accept && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	// zero-sized tensors take no bytes and may sit anywhere in the tiling
	h := `{"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}`
	if _, err := ParseSafetensors("empty", stFile(h, 8)); err != nil {
		t.Errorf("a zero-sized tensor: %v", err)
	}
	// a shape whose element count overflows int64 must not wrap to a size
	// that matches the range
	h = `{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`
	if _, err := ParseSafetensors("overflow", stFile(h, 0)); err == nil {
		t.Error("a shape of 2^64 elements in 0 bytes was accepted")
	}
}

// FuzzSafetensors feeds arbitrary files to the parser: it must refuse them
// with an error or accept a file whose tensors tile its data section and
// can all be read with the element count their shape gives. The seeds
// (here and in testdata/fuzz/FuzzSafetensors) include the overlapping,
// shifted, gapped and overflowing headers of issue 16.
func FuzzSafetensors(f *testing.F) {
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]}}`, 12))
	f.Add(stFile(`{"__metadata__":{"format":"pt"},"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	f.Add(stFile(`{"w":{"dtype":"F16","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`, 0))
	f.Add(stFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseSafetensors("fuzz", b)
		if err != nil {
			return
		}
		var total int64
		for _, n := range st.Names() {
			e := st.entries[n]
			count := int64(1)
			for _, d := range e.Shape {
				count *= int64(d)
			}
			total += e.Offsets[1] - e.Offsets[0]
			var got int
			switch e.Dtype {
			case "I32", "I64":
				v, _, err := st.Int32(n)
				if err != nil {
					t.Fatalf("accepted tensor %q unreadable: %v", n, err)
				}
				got = len(v)
			default:
				v, _, err := st.Float32(n)
				if err != nil {
					t.Fatalf("accepted tensor %q unreadable: %v", n, err)
				}
				got = len(v)
			}
			if int64(got) != count {
				t.Fatalf("tensor %q of shape %v read as %d values", n, e.Shape, got)
			}
		}
		if total != int64(len(st.data)) {
			t.Fatalf("tensors cover %d of %d data bytes", total, len(st.data))
		}
	})
}
