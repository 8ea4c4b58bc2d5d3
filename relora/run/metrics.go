package run

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/relora-go/relora-go/engine/atomicfile"
)

// Metrics appends one JSON object per line to metrics.jsonl. The first
// write error sticks (Err): the run checks it after every update and stops.
type Metrics struct {
	path string
	f    *os.File
	w    *bufio.Writer
	err  error
}

// UpdateRecord is logged after every optimizer update.
type UpdateRecord struct {
	Step       int     `json:"update_step"`
	Loss       float64 `json:"loss"`
	LR         float64 `json:"lr"`
	GradNorm   float64 `json:"grad_norm"`
	Tokens     int64   `json:"tokens_seen"`
	TokensPerS float64 `json:"tokens_per_s"`
	Seconds    float64 `json:"update_s"` // the update's wall time (forward, backward, collectives, optimizer)
	// AllReduceBytes is what the update all-reduced over the ranks of a
	// data-parallel run (the trainable gradients; absent alone), and
	// AllReduceSeconds the time the update spent in its collectives
	// (including the wait for the slowest rank).
	AllReduceBytes   int64   `json:"allreduce_bytes,omitempty"`
	AllReduceSeconds float64 `json:"allreduce_s,omitempty"`
	Time             string  `json:"time"` // wall clock when the line was written (RFC 3339, UTC, ms)
}

// EvalRecord is logged after every evaluation.
type EvalRecord struct {
	Step    int     `json:"update_step"`
	ValLoss float64 `json:"val_loss"`
	ValPPL  float64 `json:"val_ppl"`
	Time    string  `json:"time"`
}

// OpenMetrics opens (appending to) a metrics file.
func OpenMetrics(path string) (*Metrics, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &Metrics{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

func (m *Metrics) write(v any) {
	if m.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		_, err = m.w.Write(append(b, '\n'))
	}
	if err == nil {
		err = m.w.Flush()
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once
		}
		m.err = fmt.Errorf("writing %s: %w", m.path, err)
	}
}

// Update logs an update (Time set to now unless given).
func (m *Metrics) Update(r UpdateRecord) {
	if r.Time == "" {
		r.Time = wallClock()
	}
	m.write(r)
}

// Eval logs an evaluation (Time set to now unless given).
func (m *Metrics) Eval(r EvalRecord) {
	if r.Time == "" {
		r.Time = wallClock()
	}
	m.write(r)
}

// wallClock is the time field of metrics.jsonl lines.
func wallClock() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Event logs a merge, optimizer reset or other event with its fields.
func (m *Metrics) Event(step int, event string, fields map[string]any) {
	rec := map[string]any{"update_step": step, "event": event, "time": wallClock()}
	for k, v := range fields {
		rec[k] = v
	}
	m.write(rec)
}

// Err is the first error of a write since the file was opened.
func (m *Metrics) Err() error { return m.err }

// Sync flushes the file to stable storage (before a checkpoint, which
// vouches for every line up to its update) and returns the first error.
func (m *Metrics) Sync() error {
	if m.err == nil {
		if err := m.f.Sync(); err != nil {
			m.err = fmt.Errorf("writing %s: %w", m.path, err)
		}
	}
	return m.err
}

// Close flushes and closes the file; it returns the first error.
func (m *Metrics) Close() error {
	if m.f == nil {
		return m.err
	}
	if err := m.f.Close(); err != nil && m.err == nil {
		m.err = fmt.Errorf("writing %s: %w", m.path, err)
	}
	m.f = nil
	return m.err
}

// TruncateMetrics drops the lines of a metrics file logged after update
// upTo (a resumed run logs those updates again; a fresh start, upTo 0,
// drops them all) and a torn line a crash left. It rewrites the file
// atomically when that changes it; a missing file is fine, and a path that
// is not a regular file (a pipe, a device) is left alone.
func TruncateMetrics(path string, upTo int) error {
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var kept []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		var rec struct {
			Step *int `json:"update_step"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Step == nil || *rec.Step > upTo {
			continue // a torn line, or an update the resumed run will redo
		}
		kept = append(kept, line...)
		if kept[len(kept)-1] != '\n' { // a complete record whose newline a crash lost
			kept = append(kept, '\n')
		}
	}
	if bytes.Equal(kept, b) {
		return nil
	}
	if err := atomicfile.WriteFile(path, kept); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// stickyWriter passes writes through and keeps the first error (the run
// checks it after every update).
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}
