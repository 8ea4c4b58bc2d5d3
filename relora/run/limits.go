package run

import (
	"fmt"
	"strings"

	"github.com/relora-go/relora-go/model"
)

// checkSizes checks the options against the model they train, before
// anything large is allocated: the sequence length against the config's
// context, the rank against the layers' width, and the memory training
// needs against what the machine has left.
func checkSizes(o Options, cfg model.Config, source string) error {
	if cfg.MaxSeq > 0 && o.MaxLength > cfg.MaxSeq {
		return fmt.Errorf("--max_length %d exceeds the max_sequence_length %d of %s: use --max_length %d or less, or a config with a longer context",
			o.MaxLength, cfg.MaxSeq, source, cfg.MaxSeq)
	}
	rank := 0
	if o.LowRank() {
		width := min(cfg.Hidden, cfg.Intermediate)
		if o.LoraR > width {
			return fmt.Errorf("--lora_r %d exceeds the width %d of the layers of %s (a factor's rank cannot exceed the smaller side of its layer): use --lora_r %d or less",
				o.LoraR, width, source, width)
		}
		rank = o.LoraR
	}
	// the weights, then a gradient and two AdamW moments for every
	// trainable value (the projections, or their factors and the rest), and
	// the recorded graph
	// the recorded graph; on a device (--device) it lives in the device's
	// memory, whose allocator reports what does not fit there
	what := fmt.Sprintf("training %s with batches of %d × %d tokens", source, o.BatchSize, o.MaxLength)
	graph := func(rank int) float64 { return cfg.GraphBytes(o.BatchSize, o.MaxLength, rank) }
	if o.Device != "" && o.Device != "cpu" {
		what = fmt.Sprintf("holding the weights and optimizer state of %s on the host", source)
		graph = func(int) float64 { return 0 }
	}
	if rank == 0 {
		return cfg.CheckMemory(what, 4, graph(0))
	}
	d, f, l := float64(cfg.Hidden), float64(cfg.Intermediate), float64(cfg.Layers)
	trainable := l*float64(rank)*(4*2*d+3*(d+f)) + 2*float64(cfg.Vocab)*d + (2*l+1)*d
	return cfg.CheckMemory(what, 1, 4*4*trainable+graph(rank))
}

// nonFiniteHint names the likely causes of a NaN or an infinity in
// training, most specific first.
func (t *Trainer) nonFiniteHint() string {
	o := t.Opts
	var causes []string
	if t.startFrom != "" && t.Update <= t.startUpdate+1 {
		causes = append(causes, fmt.Sprintf("the model it started from, %s (check it with relora-cpu eval)", t.startFrom))
	}
	lr := max(o.LR, o.WarmStartLR)
	if d := lr * o.WeightDecay; d >= 0.01 {
		causes = append(causes, fmt.Sprintf("--weight_decay %g, which at --lr %g takes %.3g of every weight per update", o.WeightDecay, lr, d))
	}
	if s := o.LoraAlpha / float64(max(o.LoraR, 1)); o.LowRank() && s > 8 {
		causes = append(causes, fmt.Sprintf("--lora_alpha %g over --lora_r %d, a factor scale of %g that magnifies every factor update", o.LoraAlpha, o.LoraR, s))
	}
	causes = append(causes, fmt.Sprintf("a learning rate too high for this model (--lr %g: try a lower one or a longer --warmup_steps)", lr))
	return "likely cause: " + strings.Join(causes, "; or ")
}
