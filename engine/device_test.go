package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// GroupRows against a stable sort of the row indices by id.
func TestGroupRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range [][2]int{{1, 1}, {5, 1}, {37, 7}, {1000, 50}, {300, 5000}} {
		rows, vocab := c[0], c[1]
		ids := make([]int32, rows)
		for i := range ids {
			ids[i] = int32(rng.IntN(vocab))
		}
		order, starts := make([]int32, rows), make([]int32, rows+1)
		groups := GroupRows(ids, order, starts, make([]int32, vocab))
		want := make([]int32, rows)
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortStableFunc(want, func(a, b int32) int { return int(ids[a] - ids[b]) })
		if !slices.Equal(order, want) {
			t.Fatalf("%d rows, vocab %d: order %v, want %v", rows, vocab, order, want)
		}
		distinct := map[int32]bool{}
		for _, id := range ids {
			distinct[id] = true
		}
		if groups != len(distinct) || starts[groups] != int32(rows) {
			t.Fatalf("%d rows, vocab %d: %d groups ending at %d, want %d ending at %d", rows, vocab, groups, starts[groups], len(distinct), rows)
		}
		for g := 0; g < groups; g++ {
			for k := starts[g]; k < starts[g+1]; k++ {
				if ids[order[k]] != ids[order[starts[g]]] || (g > 0 && ids[order[k]] == ids[order[starts[g-1]]]) {
					t.Fatalf("%d rows, vocab %d: group %d is not one id", rows, vocab, g)
				}
			}
		}
	}
}
