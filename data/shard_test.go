package data

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// handShard builds a shard's bytes field by field, independently of the
// writer's encoder.
func handShard(width, vocab int, count uint64, toks []uint32) []byte {
	var b bytes.Buffer
	b.WriteString("RLTOKSH\x00")
	binary.Write(&b, binary.LittleEndian, uint32(1))
	binary.Write(&b, binary.LittleEndian, uint32(width))
	binary.Write(&b, binary.LittleEndian, uint64(vocab))
	binary.Write(&b, binary.LittleEndian, count)
	for _, t := range toks {
		if width == 2 {
			binary.Write(&b, binary.LittleEndian, uint16(t))
		} else {
			binary.Write(&b, binary.LittleEndian, t)
		}
	}
	return b.Bytes()
}

func TestShardWriteMatchesLayout(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		vocab, width int
		ids          []int
	}{
		{256, 2, []int{0, 1, 255, 7}},
		{65536, 2, []int{65535, 0, 40000}},
		{65537, 4, []int{65536, 3, 0}},
		{200000, 4, []int{199999, 1 << 16, 5}},
		{4096, 2, nil},
	} {
		path := filepath.Join(dir, "s.bin")
		if err := WriteShard(path, c.vocab, c.ids); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		var u []uint32
		for _, id := range c.ids {
			u = append(u, uint32(id))
		}
		want := handShard(c.width, c.vocab, uint64(len(c.ids)), u)
		if !bytes.Equal(got, want) {
			t.Fatalf("vocab %d: file\n%x\nwant\n%x", c.vocab, got, want)
		}
		s, err := OpenShard(path)
		if err != nil {
			t.Fatal(err)
		}
		if s.Width != c.width || s.Vocab != c.vocab || s.Len() != len(c.ids) {
			t.Fatalf("header %+v", s.ShardHeader)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for i, id := range c.ids {
			if int(s.At(i)) != id {
				t.Fatalf("token %d: %d, want %d", i, s.At(i), id)
			}
		}
		all := s.Int32()
		for i, id := range c.ids {
			if int(all[i]) != id {
				t.Fatalf("Int32 %d: %d, want %d", i, all[i], id)
			}
		}
		if (c.width == 2) != (s.Uint16() != nil || len(c.ids) == 0) {
			t.Fatalf("width %d but Uint16 view %v", c.width, s.Uint16() != nil)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShardBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := handShard(2, 300, 3, []uint32{1, 2, 299})
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":        {nil, "shorter than the 32-byte header"},
		"short":        {good[:20], "shorter than the 32-byte header"},
		"magic":        {append([]byte("NOTASHRD"), good[8:]...), "bad magic"},
		"truncated":    {good[:len(good)-1], "truncated or damaged"},
		"extra":        {append(append([]byte(nil), good...), 0, 0), "truncated or damaged"},
		"count":        {handShard(2, 300, 1<<62, []uint32{1, 2, 299}), "truncated or damaged"},
		"width":        {handShard(4, 300, 3, []uint32{1, 2, 299}), "does not match vocabulary size"},
		"width3":       {handShard(3, 300, 0, nil), "token width 3"},
		"vocab0":       {handShard(2, 0, 0, nil), "vocabulary size 0"},
		"out of vocab": {handShard(2, 200, 3, []uint32{1, 2, 299}), "token 2 is 299, outside the vocabulary of 200"},
	}
	v := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(v[8:], 2)
	cases["version"] = struct {
		b    []byte
		want string
	}{v, "format version 2"}
	for name, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".bin")
		os.WriteFile(path, c.b, 0o644)
		s, err := OpenShard(path)
		if err == nil {
			err = s.Validate()
			s.Close()
		}
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file and %q", name, err, c.want)
		}
	}
	if _, err := OpenShard(filepath.Join(dir, "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: %v", err)
	}
}

func TestShardWriterFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.bin")
	if err := WriteShard(path, 256, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	sw, err := CreateShard(path, 256)
	if err != nil {
		t.Fatal(err)
	}
	sw.Write([]int{9, 9})
	if err := sw.Write([]int{256}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("out-of-vocabulary write: %v", err)
	}
	if err := sw.Close(); err == nil {
		t.Fatal("Close after a failed write succeeded")
	}
	sw2, _ := CreateShard(path, 256)
	sw2.Write([]int{4, 5})
	sw2.Abort()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed write changed the existing shard")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestBatcherOverAShardMatchesMemory(t *testing.T) {
	ids := make([]int, 1000)
	for i := range ids {
		ids[i] = (i*7919 + 13) % 5000
	}
	path := filepath.Join(t.TempDir(), "s.bin")
	if err := WriteShard(path, 5000, ids); err != nil {
		t.Fatal(err)
	}
	s, err := OpenShard(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := NewBatcher("ids", Int32s(ToInt32(ids)), 15, 4, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatcher(s.Path, s, 15, 4, 42)
	if err != nil {
		t.Fatal(err)
	}
	in1, tg1 := make([]int32, 60), make([]int32, 60)
	in2, tg2 := make([]int32, 60), make([]int32, 60)
	for step := 0; step < 40; step++ { // several epochs (62 windows each)
		a.Fill(in1, tg1)
		b.Fill(in2, tg2)
		for i := range in1 {
			if in1[i] != in2[i] || tg1[i] != tg2[i] {
				t.Fatalf("step %d: batches differ at %d", step, i)
			}
		}
	}
	if a.Epoch != b.Epoch || a.Next != b.Next {
		t.Fatalf("positions differ: %d/%d vs %d/%d", a.Epoch, a.Next, b.Epoch, b.Next)
	}
}
