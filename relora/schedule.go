package relora

import (
	"fmt"
	"math"
	"strings"
)

// Schedule kinds, the accepted values of --scheduler.
const (
	ScheduleLinear         = "linear"
	ScheduleCosine         = "cosine"
	ScheduleCosineRestarts = "cosine_restarts"
)

// ScheduleKinds lists the valid --scheduler values.
var ScheduleKinds = []string{ScheduleLinear, ScheduleCosine, ScheduleCosineRestarts}

// Schedule describes a learning-rate multiplier λ(t) over Steps schedule steps.
//
// Fields map to CLI flags: Kind --scheduler, Steps --num_training_steps (the
// length of this schedule, i.e. the steps after any warm start), Warmup
// --warmup_steps, RestartWarmup --restart_warmup_steps, Cycle --cycle_length,
// AdjustStep --adjust_step, MinRatio --min_lr_ratio.
//
// Zero means "unset" for Cycle and RestartWarmup.
//
//   - linear: transformers.get_linear_schedule_with_warmup: t/W for t < W, then
//     max(0, (N−t)/max(1, N−W)). MinRatio, Cycle and RestartWarmup are ignored
//     (as in the reference, which passes none of them to this schedule).
//   - cosine: the reference's cyclical cosine. With Cycle unset (or equal to
//     Steps) it is linear warmup over W steps then cosine decay from 1 to
//     MinRatio at t = N. With Cycle = L < N it is an SGDR-like saw-tooth: each
//     L-step cycle restarts the warmup and decays fully to MinRatio; in every
//     cycle after the first, the first two steps of the warmup give 1e-7 instead
//     of 0/W and 1/W (a quirk of the reference, kept). RestartWarmup is ignored.
//   - cosine_restarts: the jagged schedule of docs/METHOD.md §5, exactly.
type Schedule struct {
	Kind          string
	Steps         int
	Warmup        int
	RestartWarmup int
	Cycle         int
	AdjustStep    int
	MinRatio      float64
}

// Validate reports the first configuration error, naming the CLI flag.
func (s Schedule) Validate() error {
	switch s.Kind {
	case ScheduleLinear, ScheduleCosine, ScheduleCosineRestarts:
	default:
		return fmt.Errorf("--scheduler %q is not a known schedule (valid: %s)", s.Kind, strings.Join(ScheduleKinds, ", "))
	}
	if s.Steps <= 0 {
		return fmt.Errorf("--num_training_steps must be positive (the schedule length), got %d", s.Steps)
	}
	if s.Warmup < 0 {
		return fmt.Errorf("--warmup_steps must be >= 0, got %d", s.Warmup)
	}
	if s.RestartWarmup < 0 {
		return fmt.Errorf("--restart_warmup_steps must be >= 0, got %d", s.RestartWarmup)
	}
	if s.Cycle < 0 {
		return fmt.Errorf("--cycle_length must be >= 0 (0 = unset), got %d", s.Cycle)
	}
	if s.AdjustStep < 0 {
		return fmt.Errorf("--adjust_step must be >= 0, got %d", s.AdjustStep)
	}
	if s.AdjustStep != 0 && s.Kind != ScheduleCosineRestarts {
		return fmt.Errorf("--adjust_step %d is only supported with --scheduler %s (got --scheduler %s)", s.AdjustStep, ScheduleCosineRestarts, s.Kind)
	}
	if s.Kind == ScheduleLinear {
		return nil
	}
	if !(s.MinRatio > 0 && s.MinRatio <= 1) {
		return fmt.Errorf("--min_lr_ratio must be in (0, 1], got %v", s.MinRatio)
	}
	if s.Kind == ScheduleCosine {
		if s.Cycle != 0 && s.Steps%s.Cycle != 0 {
			return fmt.Errorf("--num_training_steps %d is not divisible by --cycle_length %d", s.Steps, s.Cycle)
		}
		return nil
	}
	// cosine_restarts
	if s.Cycle == 0 {
		return fmt.Errorf("--cycle_length is required (> 0) with --scheduler %s", ScheduleCosineRestarts)
	}
	if s.RestartWarmup == 0 {
		return fmt.Errorf("--restart_warmup_steps is required (> 0) with --scheduler %s", ScheduleCosineRestarts)
	}
	if s.Steps%s.Cycle != 0 {
		return fmt.Errorf("--num_training_steps %d is not divisible by --cycle_length %d", s.Steps, s.Cycle)
	}
	if s.AdjustStep+s.Warmup > s.Steps {
		return fmt.Errorf("--adjust_step %d + --warmup_steps %d exceeds --num_training_steps %d", s.AdjustStep, s.Warmup, s.Steps)
	}
	if s.AdjustStep+s.Warmup > s.Cycle {
		return fmt.Errorf("--adjust_step %d + --warmup_steps %d exceeds --cycle_length %d: the first restart would happen before the first warmup ends", s.AdjustStep, s.Warmup, s.Cycle)
	}
	if s.RestartWarmup > s.Cycle {
		return fmt.Errorf("--restart_warmup_steps %d exceeds --cycle_length %d", s.RestartWarmup, s.Cycle)
	}
	return nil
}

// Lambda returns the learning-rate multiplier at schedule step t (0-based), as
// PyTorch's LambdaLR sees it: the k-th optimizer update (k = 1, 2, ...) since
// the schedule began runs at lr·Lambda(k−1). Lambda(t) for t < 0 is 0. The
// result is only meaningful for a Schedule that passes Validate; Lambda never
// panics on an invalid one.
func (s Schedule) Lambda(t int) float64 {
	if t < 0 {
		return 0
	}
	switch s.Kind {
	case ScheduleLinear:
		return s.linear(t)
	case ScheduleCosine:
		return s.cosine(t)
	case ScheduleCosineRestarts:
		return s.cosineRestarts(t)
	}
	return 0
}

// LR returns the learning rate of the k-th update (k >= 1): lr·Lambda(k−1).
func (s Schedule) LR(lr float64, k int) float64 {
	return lr * s.Lambda(k-1)
}

func warmupRatio(t, w int) float64 {
	return float64(t) / float64(max(1, w))
}

func (s Schedule) linear(t int) float64 {
	if t < s.Warmup {
		return warmupRatio(t, s.Warmup)
	}
	return max(0, float64(s.Steps-t)/float64(max(1, s.Steps-s.Warmup)))
}

// cosineFloor is m + (1−m)·0.5·(1 + cos(π·x/d)).
func cosineFloor(m float64, x, d int) float64 {
	progress := float64(x) / float64(max(1, d))
	return m + (1-m)*0.5*(1+math.Cos(math.Pi*progress))
}

func (s Schedule) cosine(t int) float64 {
	l := s.Cycle
	if l <= 0 {
		l = s.Steps
	}
	l = max(1, l)
	c := t % l
	if c < s.Warmup {
		// Reference quirk: in every cycle after the first, warmup steps 0 and
		// 1 use 1e-7 rather than 0 and 1/W.
		if t != c && c < 2 {
			return 1e-7
		}
		return warmupRatio(c, s.Warmup)
	}
	return cosineFloor(s.MinRatio, c-s.Warmup, l-s.Warmup)
}

func (s Schedule) cosineRestarts(t int) float64 {
	w1, n := s.Warmup, s.Steps
	if t < w1 {
		return warmupRatio(t, w1)
	}
	c := max(1, s.Cycle)
	tt := t + s.AdjustStep
	restart := tt / c
	rho := tt % c
	// The guard uses the unadjusted t (reference behaviour): with AdjustStep
	// > 0 the ramp at t' = C (t = C − a) is skipped.
	if rho < s.RestartWarmup && t >= c {
		return warmupRatio(rho, s.RestartWarmup) * cosineFloor(s.MinRatio, restart*c+s.RestartWarmup-w1, n-w1)
	}
	return cosineFloor(s.MinRatio, tt-w1, n-w1)
}

// IsMergeStep reports whether the reference merges the LoRA factors right
// after the update with sRel = updates done since the ReLoRA schedule began
// (1-based: the first update has sRel = 1): sRel % relora == 1 and
// sRel > relora, i.e. after updates relora+1, 2·relora+1, ... (never after
// update 1). The reference's guard is `updates since process start >= relora`
// together with the modulo test, which for a fresh or warm-started run is the
// same as sRel > relora. With relora <= 1 the modulo test never holds, so the
// reference never merges; IsMergeStep returns false too.
func IsMergeStep(sRel, relora int) bool {
	return relora > 1 && sRel > relora && sRel%relora == 1
}

// IsResetStep reports whether the reference prunes the LoRA optimizer state
// right after the update sRel (after the merge of that same update, if any):
// sRel % cycle == 1 and sRel > cycle. With the jagged schedule and
// relora == cycle, these are the updates k·cycle+1 that ran at LR 0. As with
// IsMergeStep, cycle <= 1 never resets.
func IsResetStep(sRel, cycle int) bool {
	return cycle > 1 && sRel > cycle && sRel%cycle == 1
}
