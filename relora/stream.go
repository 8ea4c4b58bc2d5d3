package relora

import "math/rand/v2"

// Stream is a seeded random stream whose state a checkpoint can save and
// restore exactly (math/rand/v2's PCG; rand.Rand keeps no state of its own).
type Stream struct {
	*rand.Rand
	pcg *rand.PCG
}

// NewStream returns the stream for a pair of seeds.
func NewStream(seed1, seed2 uint64) *Stream {
	p := rand.NewPCG(seed1, seed2)
	return &Stream{Rand: rand.New(p), pcg: p}
}

// State is the stream's position.
func (s *Stream) State() []byte {
	b, _ := s.pcg.MarshalBinary()
	return b
}

// Restore moves the stream to a saved position.
func (s *Stream) Restore(b []byte) error { return s.pcg.UnmarshalBinary(b) }
