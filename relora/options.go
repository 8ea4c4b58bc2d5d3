package relora

import (
	"fmt"
)

// Options is everything a training run is configured by. Field comments
// give the CLI flag (the reference's torchrun_main.py names where they
// overlap).
type Options struct {
	ModelConfig    string  // --model_config: a built-in name (llama_9m) or a JSON path
	Data           string  // --data: .txt or .txt.gz; empty: the embedded Brown excerpt
	ValData        string  // --val_data: held-out text; empty: the last 5% of --data (or the embedded val)
	LR             float64 // --lr: peak learning rate
	BatchSize      int     // --batch_size: sequences per micro-batch
	TotalBatchSize int     // --total_batch_size: sequences per update (accumulated)
	MaxLength      int     // --max_length: sequence length
	Steps          int     // --num_training_steps: updates in the run (warm start included)
	WarmupSteps    int     // --warmup_steps
	MinLRRatio     float64 // --min_lr_ratio
	Scheduler      string  // --scheduler: linear, cosine or cosine_restarts
	EvalEvery      int     // --eval_every: updates between evaluations (0: only at the end)
	EvalBatches    int     // --eval_batches: micro-batches per evaluation (0: the whole val split)
	LogEvery       int     // --log_every: updates between stdout lines
	SaveDir        string  // --save_dir
	Seed           uint64  // --seed
	WeightDecay    float64 // --weight_decay
	ClipGradNorm   float64 // --clip_grad_norm (<= 0 disables)
	Beta1, Beta2   float64 // --adam_beta1, --adam_beta2
	Threads        int     // --threads (0: all cores)
}

// DefaultOptions are the settings of `relora-cpu train` with no flags: a
// small LLaMA on the embedded corpus that shows falling loss in about a
// minute on 2 cores.
func DefaultOptions() Options {
	return Options{
		ModelConfig:    "llama_9m",
		LR:             3e-3,
		BatchSize:      8,
		TotalBatchSize: 8,
		MaxLength:      128,
		Steps:          300,
		WarmupSteps:    30,
		MinLRRatio:     0.1,
		Scheduler:      "cosine",
		EvalEvery:      100,
		EvalBatches:    8,
		LogEvery:       10,
		Seed:           1,
		WeightDecay:    0,
		ClipGradNorm:   1,
		Beta1:          0.9,
		Beta2:          0.999,
	}
}

// Validate checks the options that do not need files; errors name the flag.
func (o Options) Validate() error {
	pos := []struct {
		flag string
		v    int
	}{{"--batch_size", o.BatchSize}, {"--max_length", o.MaxLength}, {"--num_training_steps", o.Steps}}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("%s must be positive, got %d", p.flag, p.v)
		}
	}
	nonneg := []struct {
		flag string
		v    int
	}{{"--warmup_steps", o.WarmupSteps}, {"--eval_every", o.EvalEvery}, {"--eval_batches", o.EvalBatches},
		{"--log_every", o.LogEvery}, {"--threads", o.Threads}, {"--total_batch_size", o.TotalBatchSize}}
	for _, p := range nonneg {
		if p.v < 0 {
			return fmt.Errorf("%s must not be negative, got %d", p.flag, p.v)
		}
	}
	if o.TotalBatchSize != 0 && o.TotalBatchSize%o.BatchSize != 0 {
		return fmt.Errorf("--total_batch_size %d must be a multiple of --batch_size %d", o.TotalBatchSize, o.BatchSize)
	}
	if !(o.LR >= 0) || o.LR > 10 {
		return fmt.Errorf("--lr must be in [0, 10], got %g", o.LR)
	}
	if !(o.WeightDecay >= 0) {
		return fmt.Errorf("--weight_decay must not be negative, got %g", o.WeightDecay)
	}
	if !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) {
		return fmt.Errorf("--adam_beta1 and --adam_beta2 must be in [0, 1), got %g and %g", o.Beta1, o.Beta2)
	}
	return o.Schedule().Validate()
}

// Accumulation is the number of micro-batches per update.
func (o Options) Accumulation() int {
	if o.TotalBatchSize == 0 {
		return 1
	}
	return o.TotalBatchSize / o.BatchSize
}

// Schedule is the learning-rate schedule the options describe.
func (o Options) Schedule() Schedule {
	return Schedule{Kind: o.Scheduler, Steps: o.Steps, Warmup: o.WarmupSteps, MinRatio: o.MinLRRatio}
}
