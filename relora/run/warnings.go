package run

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// checkSomeLR refuses a run whose every update would run at learning rate
// 0 (a warmup that covers a one-update run, say): such a run cannot change
// the model. A zero --lr is the caller's explicit choice and allowed.
func (o Options) checkSomeLR() error {
	if o.LR == 0 && o.WarmStartLR == 0 {
		return nil
	}
	for k := 1; k <= o.Steps; k++ {
		if o.LRAt(k) != 0 {
			return nil
		}
	}
	return fmt.Errorf("every one of the %d updates would run at learning rate 0 (update k runs at the warmup's (k−1)/--warmup_steps %d), so training would not change the model: train for more updates or use a shorter --warmup_steps",
		o.Steps, o.WarmupSteps)
}

// Warnings lists the settings that are valid but probably not meant: a
// warmup at least as long as the updates it warms up (the learning rate
// never reaches --lr; the reference accepts it silently) and a warm start
// that is all warmup. Validate refuses only what cannot train at all.
func (o Options) Warnings() []string {
	var w []string
	stage := o.Steps - o.WarmStartSteps
	if o.WarmupSteps >= stage && o.WarmupSteps > 0 {
		what := fmt.Sprintf("the run's %d updates", stage)
		if o.WarmStartSteps > 0 {
			what = fmt.Sprintf("the %d low-rank updates after the warm start", stage)
		}
		w = append(w, fmt.Sprintf("--warmup_steps %d is not shorter than %s: the whole run is warmup and its learning rate peaks at %.3g, never reaching --lr %g",
			o.WarmupSteps, what, o.LR*float64(stage-1)/float64(o.WarmupSteps), o.LR))
	}
	if o.WarmStartSteps > 0 && o.WarmupSteps >= o.WarmStartSteps {
		lr := o.LR
		if o.WarmStartLR > 0 {
			lr = o.WarmStartLR
		}
		w = append(w, fmt.Sprintf("--warmup_steps %d is not shorter than --warm_start_steps %d: the warm start is all warmup (its learning rate peaks at %.3g of %g)",
			o.WarmupSteps, o.WarmStartSteps, lr*float64(o.WarmStartSteps-1)/float64(o.WarmupSteps), lr))
	}
	return w
}

// FlagValues are the options under their CLI flag names (the struct tags),
// as a run's args.json holds them.
func (o Options) FlagValues() map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(o)
	for i := 0; i < v.NumField(); i++ {
		if name := v.Type().Field(i).Tag.Get("flag"); name != "" {
			out[name] = v.Field(i).Interface()
		}
	}
	return out
}

// ArgsJSON is args.json: the options by flag name, indented, one flag a
// line in alphabetical order.
func (o Options) ArgsJSON() []byte {
	b, _ := json.MarshalIndent(o.FlagValues(), "", "  ") // maps marshal in key order
	return append(b, '\n')
}
