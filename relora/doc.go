// Package relora is the ReLoRA method: the low-rank layer and the wrapping
// of a model's Linears, merges and re-initialisation, the unwrapping of a
// wrapped model into a plain one, optimizer-state pruning at restarts, the
// learning-rate schedules (including the jagged "cosine_restarts" one) and
// the timing of merges and resets (IsMergeStep, IsResetStep), and the
// checkpointable random streams. The training run around it (the trainer,
// options, checkpoints, metrics, data) is relora/run, which imports this
// package and never the other way.
//
// The behaviour follows the public ReLoRA reference code (Guitaricet/relora
// at 176f376) except where docs/METHOD.md says otherwise; docs/METHOD.md
// describes the method as implemented here, section by section, and where
// the tests' golden values come from.
package relora
