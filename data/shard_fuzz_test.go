package data

import "testing"

// FuzzShard feeds arbitrary bytes to the shard parser: it must either
// reject them with an error or give a shard whose every token can be read,
// and Validate must agree with a direct check of the tokens.
func FuzzShard(f *testing.F) {
	f.Add(handShard(2, 300, 3, []uint32{1, 2, 299}))
	f.Add(handShard(4, 70000, 2, []uint32{69999, 0}))
	f.Add(handShard(2, 10, 2, []uint32{1, 11}))
	f.Add([]byte("RLTOKSH\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShard("fuzz", b)
		if err != nil {
			return
		}
		if int64(len(b)) != ShardHeaderSize+s.Count*int64(s.Width) {
			t.Fatalf("accepted %d bytes for %d tokens of width %d", len(b), s.Count, s.Width)
		}
		bad := false
		for i := 0; i < s.Len(); i++ {
			if int(s.At(i)) >= s.Vocab || s.At(i) < 0 {
				bad = true
			}
		}
		if verr := s.Validate(); (verr != nil) != bad {
			t.Fatalf("Validate %v, direct check bad=%v", verr, bad)
		}
	})
}
