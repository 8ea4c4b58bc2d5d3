package run

import (
	"fmt"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
)

// EvalModel is `relora-cpu eval`'s loss: the mean next-token loss of m over
// the first windows windows of seq+1 tokens of toks in batches of batch
// sequences (MeanLoss), on threads workers (0: all cores) or on dev (nil:
// the CPU; m's parameters are moved there), and the tokens it covers.
func EvalModel(m *model.Model, toks []int32, seq, batch, windows, threads int, dev engine.Device) (float64, int, error) {
	g := engine.NewGraph(sched.New(threads))
	if dev != nil {
		engine.ToDevice(dev, m.Params())
		g = engine.NewDeviceGraph(g.Pool, dev)
	}
	f := m.Build(g, batch, seq)
	loss, n := MeanLoss(f, data.Int32s(toks), seq, windows)
	if dev != nil {
		if err := dev.Sync(); err != nil {
			return 0, 0, fmt.Errorf("eval on %s: %w", dev.Name(), err)
		}
	}
	return loss, n, nil
}
