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
	what := fmt.Sprintf("training %s with batches of %d × %d tokens", source, o.BatchSize, o.MaxLength)
	graph := func(rank int) float64 { return cfg.GraphBytes(o.BatchSize, o.MaxLength, rank) }
	if !o.OnCPU() {
		what = fmt.Sprintf("holding the weights and optimizer state of %s on the host", source)
		graph = func(int) float64 { return 0 }
	}
	if rank == 0 {
		return cfg.CheckMemory(what, 4, graph(0))
	}
	return cfg.CheckMemory(what, 0, lowRankBytes(o, cfg, rank, graph))
}

// lowRankBytes is the host memory of a low-rank run: the weights, then a
// gradient and two AdamW moments for every trainable value (the factors
// and the rest), W_eff where the layers fuse (float32 W0 on the CPU without
// dropout), the shared widening matrix where W0 is held in bf16, and the
// recorded graph (nothing on a device, where the graph lives); with a warm
// start, the larger of that and the full-rank stage.
func lowRankBytes(o Options, cfg model.Config, rank int, graph func(int) float64) float64 {
	d, f, l := float64(cfg.Hidden), float64(cfg.Intermediate), float64(cfg.Layers)
	w0 := l * (4*d*d + 3*d*f)
	trainable := l*float64(rank)*(4*2*d+3*(d+f)) + 2*float64(cfg.Vocab)*d + (2*l+1)*d
	need := cfg.WeightBytes() + 4*4*trainable + graph(rank)
	switch {
	case o.LoraOnly:
	case o.BF16W0():
		need += -2*w0 + 4*max(d*d, d*f) // 2 bytes per W0 value, one widened matrix
	case o.OnCPU() && o.LoraDropout == 0:
		need += 4 * w0 // W_eff, one per layer
	}
	if o.WarmStartSteps > 0 {
		need = max(need, 4*cfg.WeightBytes()+graph(0))
	}
	return need
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
