package relora

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/relora-go/relora-go/data"
)

// Metrics appends one JSON object per line to metrics.jsonl.
type Metrics struct {
	f *os.File
	w *bufio.Writer
}

// UpdateRecord is logged after every optimizer update.
type UpdateRecord struct {
	Step       int     `json:"update_step"`
	Loss       float64 `json:"loss"`
	LR         float64 `json:"lr"`
	GradNorm   float64 `json:"grad_norm"`
	Tokens     int64   `json:"tokens_seen"`
	TokensPerS float64 `json:"tokens_per_s"`
}

// EvalRecord is logged after every evaluation.
type EvalRecord struct {
	Step    int     `json:"update_step"`
	ValLoss float64 `json:"val_loss"`
	ValPPL  float64 `json:"val_ppl"`
}

// OpenMetrics opens (appending to) a metrics file.
func OpenMetrics(path string) (*Metrics, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &Metrics{f: f, w: bufio.NewWriter(f)}, nil
}

func (m *Metrics) write(v any) {
	b, _ := json.Marshal(v)
	m.w.Write(append(b, '\n'))
	m.w.Flush()
}

// Update logs an update.
func (m *Metrics) Update(r UpdateRecord) { m.write(r) }

// Eval logs an evaluation.
func (m *Metrics) Eval(r EvalRecord) { m.write(r) }

// Event logs a merge, optimizer reset or other event with its fields.
func (m *Metrics) Event(step int, event string, fields map[string]any) {
	rec := map[string]any{"update_step": step, "event": event}
	for k, v := range fields {
		rec[k] = v
	}
	m.write(rec)
}

// Close flushes and closes the file.
func (m *Metrics) Close() error {
	m.w.Flush()
	return m.f.Close()
}

// TruncateMetrics drops the lines of a metrics file logged after update
// upTo (a resumed run logs those updates again). It rewrites the file
// atomically; a missing file is fine.
func TruncateMetrics(path string, upTo int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		var rec struct {
			Step *int `json:"update_step"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Step == nil || *rec.Step > upTo {
			continue // a torn last line, or an update the resumed run will redo
		}
		kept = append(kept, line...)
	}
	return data.WriteFileAtomic(path, kept)
}
