package data

import "testing"

func TestBatcherCoversEveryWindowOncePerEpoch(t *testing.T) {
	seq, rows := 4, 3
	toks := make([]int32, 5*20+3) // 20 windows of seq+1, and a ragged tail
	for i := range toks {
		toks[i] = int32(i)
	}
	b, err := NewBatcher("t", Int32s(toks), seq, rows, 7)
	if err != nil {
		t.Fatal(err)
	}
	if b.Windows() != 20 {
		t.Fatalf("%d windows, want 20", b.Windows())
	}
	in, tg := make([]int32, seq*rows), make([]int32, seq*rows)
	seen := map[int32]int{}
	var order []int32
	for len(order) < 20 {
		b.Fill(in, tg)
		for r := 0; r < rows && len(order) < 20; r++ {
			start := in[r*seq]
			if start%5 != 0 {
				t.Fatalf("window starting at token %d is not aligned to seq+1", start)
			}
			for j := 0; j < seq; j++ {
				if in[r*seq+j] != start+int32(j) || tg[r*seq+j] != start+int32(j)+1 {
					t.Fatalf("window at %d: inputs %v targets %v", start, in[r*seq:(r+1)*seq], tg[r*seq:(r+1)*seq])
				}
			}
			seen[start]++
			order = append(order, start)
		}
	}
	if len(seen) != 20 {
		t.Fatalf("first epoch saw %d distinct windows, want 20", len(seen))
	}
	sorted := true
	for i := 1; i < len(order); i++ {
		sorted = sorted && order[i] > order[i-1]
	}
	if sorted {
		t.Fatal("windows came in stream order: not shuffled")
	}
	// a seek to the same position replays the same windows
	c, _ := NewBatcher("t", Int32s(toks), seq, rows, 7)
	c.Seek(b.Epoch, b.Next)
	in2, tg2 := make([]int32, seq*rows), make([]int32, seq*rows)
	b.Fill(in, tg)
	c.Fill(in2, tg2)
	for i := range in {
		if in[i] != in2[i] {
			t.Fatal("Seek did not restore the position")
		}
	}
}
