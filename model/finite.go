package model

import (
	"fmt"

	"github.com/relora-go/relora-go/engine"
)

// NonFinite counts the NaN and infinite values of x.
func NonFinite(x []float32) int {
	n := 0
	for _, v := range x {
		if v-v != 0 { // NaN − NaN and ±Inf − ±Inf are NaN; finite values give 0
			n++
		}
	}
	return n
}

// CheckFinite returns an error naming the first tensor that holds a NaN or
// an infinite value; where says whose tensors they are (a file, "the
// weights after update 3").
func CheckFinite(where string, tensors []Named) error {
	for _, n := range tensors {
		bad := NonFinite(n.T.Data)
		if n.T.IsBF16() {
			bad = engine.NonFiniteBF16(n.T.BF16)
		}
		if bad > 0 {
			return fmt.Errorf("%s: tensor %q holds %d non-finite values (NaN or ±Inf) of %d", where, n.Name, bad, n.T.Size())
		}
	}
	return nil
}
