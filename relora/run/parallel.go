package run

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/relora-go/relora-go/engine/comm"
)

// Data-parallel training over a comm.Comm: the checks at the start and
// what the ranks other than 0 run.

// checkSameOnRanks fails, on every rank alike, unless every rank was given
// the same options and data of the same sizes.
func checkSameOnRanks(c comm.Comm, opts Options, corpus *Corpus) error {
	js, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	if err := comm.CheckSame(c, "options", js); err != nil {
		return fmt.Errorf("%w: start every rank with the same flags", err)
	}
	sizes := fmt.Sprintf("train %d tokens, val %d tokens, vocab %d", len(corpus.Train), len(corpus.Val), corpus.Vocab)
	if err := comm.CheckSame(c, "data", []byte(sizes)); err != nil {
		return fmt.Errorf("%w (this rank: %s): give every rank the same --data and --tokenizer", err, sizes)
	}
	return nil
}

// checkRanks checks that the global batch divides over size ranks.
func checkRanks(opts Options, size int) error {
	if size == 1 {
		return nil
	}
	total := opts.BatchSize * opts.Accumulation()
	if total%(size*opts.BatchSize) != 0 {
		return fmt.Errorf("--total_batch_size %d (the global batch of an update) must be a multiple of %d ranks × --batch_size %d = %d",
			total, size, opts.BatchSize, size*opts.BatchSize)
	}
	return nil
}

// broadcastString gives every rank root 0's s.
func broadcastString(c comm.Comm, s string) (string, error) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
	if err := c.Broadcast(n[:], 0); err != nil {
		return "", err
	}
	b := make([]byte, binary.LittleEndian.Uint64(n[:]))
	copy(b, s)
	if err := c.Broadcast(b, 0); err != nil {
		return "", err
	}
	return string(b), nil
}

// stateHash is a SHA-256 of what every rank must hold alike: the counters,
// the data position, the random streams and every weight (frozen W0 and
// factors included).
func (t *Trainer) stateHash() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "update %d tokens %d stage %d merges %d resets %d data %d/%d\n",
		t.Update, t.TokensSeen, t.stageStart, t.Merges, t.Resets, t.train.Epoch, t.train.Next)
	streams := t.streams()
	names := make([]string, 0, len(streams))
	for name := range streams {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(h, "%s %x\n", name, streams[name].State())
	}
	h.Write(t.WeightsHash())
	return h.Sum(nil)
}

// WeightsHash is a SHA-256 of the names, shapes and bits of every weight
// of the model (the host copies).
func (t *Trainer) WeightsHash() []byte {
	h := sha256.New()
	var b [4]byte
	for _, n := range t.Model.Tensors() {
		fmt.Fprintf(h, "%s %v\n", n.Name, n.T.Shape)
		for _, v := range n.T.Data {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
		if n.T.IsBF16() { // the widened values' bits
			for _, v := range n.T.BF16 {
				binary.LittleEndian.PutUint32(b[:], uint32(v)<<16)
				h.Write(b[:])
			}
		}
	}
	return h.Sum(nil)
}

// stopNow reports whether the run should stop after this update: alone,
// whether Stop is closed; data-parallel, whether it was on some rank when
// the last update gathered the ranks' requests (so all stop together).
func (t *Trainer) stopNow() bool {
	if t.Comm.Size() > 1 {
		return t.stopAgreed
	}
	return t.stopRequested()
}

// runFollower is Run on a rank other than 0: the same updates, merges and
// resets, nothing written and no evaluation.
func (t *Trainer) runFollower() error {
	out := t.Out
	t.Out = io.Discard
	defer func() { t.Out = out }()
	for t.Update < t.Opts.Steps {
		if _, err := t.Step(); err != nil {
			return err
		}
		if err := t.afterUpdate(); err != nil {
			return err
		}
		if t.Update < t.Opts.Steps && t.stopAgreed {
			return &Stopped{Update: t.Update}
		}
	}
	return nil
}

// Bytes writes a byte count with KB, MB or GB (1e3, 1e6, 1e9).
func Bytes(n int64) string {
	v := float64(n)
	for _, u := range []struct {
		s string
		f float64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if v >= u.f {
			return fmt.Sprintf("%.3g %s", v/u.f, u.s)
		}
	}
	return fmt.Sprintf("%d B", n)
}
