// Package relora is ReLoRA training: the low-rank layer and the wrapping of
// a model's Linears, merges and re-initialisation, optimizer-state pruning
// at restarts, the learning-rate schedules (including the jagged
// "cosine_restarts" one) and the timing of merges and resets, and the
// trainer around them with its options, checkpoints and metrics.
//
// The behaviour follows the public ReLoRA reference code (Guitaricet/relora
// at 176f376) except where docs/METHOD.md says otherwise; docs/METHOD.md
// describes the method as implemented here, section by section, and where
// the tests' golden values come from.
package relora
