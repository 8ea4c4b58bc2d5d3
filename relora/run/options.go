package run

import (
	"bufio"
	"fmt"
	"io"
	"math"

	"github.com/relora-go/relora-go/relora"
)

// Options is everything a training run is configured by. Field comments
// give the CLI flag (the reference's torchrun_main.py names where they
// overlap).
type Options struct {
	ModelConfig    string  `flag:"model_config"`            // --model_config: a built-in name (llama_9m) or a JSON path
	Data           string  `flag:"data"`                    // --data: text, a token shard or a prepared directory; empty: the embedded Brown excerpt
	Tokenizer      string  `flag:"tokenizer"`               // --tokenizer: a tokenizer.json, "bytes" or "embedded"; empty: the data's own (a prepared directory, an --init_from model), the embedded BPE for the embedded corpus, else bytes
	ValData        string  `flag:"val_data"`                // --val_data: held-out text; empty: the last 5% of --data (or the embedded val)
	LR             float64 `flag:"lr"`                      // --lr: peak learning rate
	BatchSize      int     `flag:"batch_size"`              // --batch_size: sequences per micro-batch
	TotalBatchSize int     `flag:"total_batch_size"`        // --total_batch_size: sequences per update (accumulated)
	MaxLength      int     `flag:"max_length"`              // --max_length: sequence length
	Steps          int     `flag:"num_training_steps"`      // --num_training_steps: updates in the run (warm start included)
	WarmupSteps    int     `flag:"warmup_steps"`            // --warmup_steps
	MinLRRatio     float64 `flag:"min_lr_ratio"`            // --min_lr_ratio
	Scheduler      string  `flag:"scheduler"`               // --scheduler: linear, cosine or cosine_restarts
	EvalEvery      int     `flag:"eval_every" run:"true"`   // --eval_every: updates between evaluations (0: only at the end)
	EvalBatches    int     `flag:"eval_batches" run:"true"` // --eval_batches: micro-batches per evaluation (0: the whole val split)
	LogEvery       int     `flag:"log_every" run:"true"`    // --log_every: updates between stdout lines
	SaveDir        string  `flag:"save_dir" run:"true"`     // --save_dir
	Seed           uint64  `flag:"seed"`                    // --seed
	WeightDecay    float64 `flag:"weight_decay"`            // --weight_decay
	ClipGradNorm   float64 `flag:"clip_grad_norm"`          // --clip_grad_norm (<= 0 disables)
	Beta1          float64 `flag:"adam_beta1"`              // --adam_beta1
	Beta2          float64 `flag:"adam_beta2"`              // --adam_beta2

	// ReLoRA (docs/METHOD.md): the low-rank phase and its restarts.
	UsePeft          bool    `flag:"use_peft"`                    // --use_peft: wrap the Linears with low-rank factors (implied by --relora and --lora_only)
	LoraR            int     `flag:"lora_r"`                      // --lora_r
	LoraAlpha        float64 `flag:"lora_alpha"`                  // --lora_alpha
	LoraDropout      float64 `flag:"lora_dropout"`                // --lora_dropout (the reference hard-codes 0.1)
	LoraOnly         bool    `flag:"lora_only"`                   // --lora_only: no W0, low-rank training from scratch
	Relora           int     `flag:"relora"`                      // --relora: merge every N updates (0: never)
	CycleLength      int     `flag:"cycle_length"`                // --cycle_length: LR restart and optimizer-reset period
	RestartWarmup    int     `flag:"restart_warmup_steps"`        // --restart_warmup_steps
	AdjustStep       int     `flag:"adjust_step"`                 // --adjust_step
	ResetOptimizer   bool    `flag:"reset_optimizer_on_relora"`   // --reset_optimizer_on_relora (random pruning at 0.999, as the reference)
	RandomPruning    float64 `flag:"optimizer_random_pruning"`    // --optimizer_random_pruning
	MagnitudePruning float64 `flag:"optimizer_magnitude_pruning"` // --optimizer_magnitude_pruning
	ResetMask        string  `flag:"optimizer_reset_mask"`        // --optimizer_reset_mask: joint (one mask for both moments) or independent (the reference)
	WarmStartSteps   int     `flag:"warm_start_steps"`            // --warm_start_steps: full-rank updates before wrapping, in this run
	InitFrom         string  `flag:"init_from"`                   // --init_from (alias --warmed_up_model): continue this model (a run's final/, a checkpoint, a Hugging Face LLaMA directory)
	WarmStartLR      float64 `flag:"warm_start_lr"`               // --warm_start_lr: peak LR of the warm-start stage (0: --lr)

	// Run control: free to change when a run resumes (tagged run:"true").
	Threads         int    `flag:"threads" run:"true"`          // --threads (0: all cores); results are bitwise reproducible at a fixed count
	Device          string `flag:"device" run:"true"`           // --device: cpu (default), or cuda / emu in a `-tags cuda` build
	DType           string `flag:"dtype" run:"true"`            // --dtype: float32 (default); on a device tf32 or bfloat16 GEMMs; on the CPU bfloat16 stores ReLoRA's frozen W0 in bf16 (BF16W0)
	SaveEvery       int    `flag:"save_every" run:"true"`       // --save_every: updates between checkpoints (0: none)
	KeepCheckpoints int    `flag:"keep_checkpoints" run:"true"` // --keep_checkpoints: newest checkpoints kept (0: all)
	ResumeFrom      string `flag:"resume_from" run:"true"`      // --resume_from: a checkpoint directory to continue
	Autoresume      bool   `flag:"autoresume" run:"true"`       // --autoresume: continue from the newest checkpoint in --save_dir
}

// DefaultOptions are the settings of `relora-cpu train` with no flags: a
// small LLaMA on the embedded Brown excerpt with the embedded Brown BPE
// (4096 tokens) that shows falling loss in about a minute on 2 cores
// (8.34 → about 5.5 nats per token; val perplexity about 285).
func DefaultOptions() Options {
	return Options{
		ModelConfig:    "llama_9m",
		LR:             3e-3,
		BatchSize:      8,
		TotalBatchSize: 0, // = batch_size: no accumulation
		MaxLength:      128,
		Steps:          600,
		WarmupSteps:    30,
		MinLRRatio:     0.1,
		Scheduler:      "cosine",
		EvalEvery:      200,
		EvalBatches:    8,
		LogEvery:       20,
		Seed:           1,
		WeightDecay:    0,
		ClipGradNorm:   1,
		Beta1:          0.9,
		Beta2:          0.999,
		LoraR:          128,
		LoraAlpha:      32,
		LoraDropout:    0.1,
		ResetOptimizer: true,
		ResetMask:      relora.MaskJoint,
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
		{"--log_every", o.LogEvery}, {"--threads", o.Threads}, {"--total_batch_size", o.TotalBatchSize},
		{"--save_every", o.SaveEvery}, {"--keep_checkpoints", o.KeepCheckpoints}}
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
	if !(o.WarmStartLR >= 0) || o.WarmStartLR > 10 {
		return fmt.Errorf("--warm_start_lr must be in [0, 10], got %g", o.WarmStartLR)
	}
	if !(o.WeightDecay >= 0 && o.WeightDecay <= 1) {
		return fmt.Errorf("--weight_decay must be in [0, 1] (AdamW's decoupled decay; 0.01 to 0.1 is usual), got %g", o.WeightDecay)
	}
	if lr := max(o.LR, o.WarmStartLR); lr*o.WeightDecay >= 1 {
		return fmt.Errorf("--weight_decay %g at --lr %g would scale every weight by 1 − lr·wd = %g per update (it must stay in (0, 1)): lower one of them", o.WeightDecay, lr, 1-lr*o.WeightDecay)
	}
	if math.IsNaN(o.ClipGradNorm) || math.IsInf(o.ClipGradNorm, 0) {
		return fmt.Errorf("--clip_grad_norm must be a number (<= 0 disables clipping), got %g", o.ClipGradNorm)
	}
	if math.IsNaN(o.MinLRRatio) || math.IsInf(o.MinLRRatio, 0) {
		return fmt.Errorf("--min_lr_ratio must be in (0, 1], got %g", o.MinLRRatio)
	}
	if !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) {
		return fmt.Errorf("--adam_beta1 and --adam_beta2 must be in [0, 1), got %g and %g", o.Beta1, o.Beta2)
	}
	if o.WarmStartSteps < 0 || o.WarmStartSteps >= o.Steps {
		if o.WarmStartSteps != 0 {
			return fmt.Errorf("--warm_start_steps %d must be in [0, --num_training_steps %d)", o.WarmStartSteps, o.Steps)
		}
	}
	if o.WarmStartSteps > 0 && !o.LowRank() {
		return fmt.Errorf("--warm_start_steps needs a low-rank phase to start: add --use_peft or --relora N")
	}
	if o.WarmStartSteps > 0 && o.LoraOnly {
		return fmt.Errorf("--warm_start_steps and --lora_only exclude each other: lora_only has no full-rank weights to warm up")
	}
	if o.InitFrom != "" && o.LoraOnly {
		return fmt.Errorf("--init_from and --lora_only exclude each other: lora_only has no full-rank weights to start from")
	}
	if err := relora.ParseResetMask(o.ResetMask); err != nil {
		return err
	}
	if err := o.checkDType(); err != nil {
		return err
	}
	if o.Relora < 0 || o.CycleLength < 0 {
		return fmt.Errorf("--relora and --cycle_length must not be negative")
	}
	if o.Relora > 0 {
		if o.LoraOnly {
			return fmt.Errorf("--relora merges into W0, which --lora_only does not have")
		}
		if o.CycleLength == 0 {
			return fmt.Errorf("--relora %d needs --cycle_length (usually the same number)", o.Relora)
		}
		if _, err := o.ResetMode(); err != nil {
			return err
		}
	}
	if o.LowRank() {
		if o.LoraR <= 0 {
			return fmt.Errorf("--lora_r must be positive, got %d", o.LoraR)
		}
		if !(o.LoraDropout >= 0 && o.LoraDropout < 1) {
			return fmt.Errorf("--lora_dropout must be in [0, 1), got %g", o.LoraDropout)
		}
		if !(o.LoraAlpha > 0) || math.IsInf(o.LoraAlpha, 0) {
			return fmt.Errorf("--lora_alpha must be positive (the factor scale is lora_alpha/lora_r), got %g", o.LoraAlpha)
		}
	}
	if err := o.Schedule().Validate(); err != nil {
		return err
	}
	if o.WarmStartSteps > 0 {
		if err := o.warmSchedule().Validate(); err != nil {
			return err
		}
	}
	// A warmup as long as the run is a warning (Warnings); a run whose
	// every update has learning rate 0 would not train at all.
	return o.checkSomeLR()
}

// LowRank reports whether the run trains through low-rank factors.
func (o Options) LowRank() bool { return o.UsePeft || o.Relora > 0 || o.LoraOnly }

// OnCPU reports whether the run trains on the CPU (no --device).
func (o Options) OnCPU() bool { return o.Device == "" || o.Device == "cpu" }

// BF16W0 reports whether the low-rank stage holds every W0 in bfloat16:
// --dtype bfloat16 on the CPU. The arithmetic stays float32 (W0 is widened
// before each product); the warm start, the factors, the other weights,
// activations, gradients and optimizer state stay float32 too.
func (o Options) BF16W0() bool {
	return o.OnCPU() && o.DType == "bfloat16" && o.LowRank() && !o.LoraOnly
}

// DeviceDType is the GEMM arithmetic to open the device with: --dtype on a
// device; on the CPU, which computes in float32 whatever --dtype says
// about storage, "".
func (o Options) DeviceDType() string {
	if o.OnCPU() && o.DType == "bfloat16" {
		return ""
	}
	return o.DType
}

// checkDType refuses a --dtype that means nothing where the run trains.
func (o Options) checkDType() error {
	if !o.OnCPU() {
		return nil // the device checks its arithmetics (engine.OpenDevice)
	}
	switch o.DType {
	case "tf32":
		return fmt.Errorf("--dtype tf32 is the tensor-core arithmetic of a GPU (--device cuda); the CPU computes in float32: " +
			"use --dtype float32, or --dtype bfloat16 to hold ReLoRA's frozen W0 in bf16")
	case "bfloat16":
		why := ""
		switch {
		case !o.LowRank():
			why = "a full-rank run has no frozen weights"
		case o.LoraOnly:
			why = "--lora_only has no W0"
		}
		if why != "" {
			return fmt.Errorf("--dtype bfloat16 on the CPU holds the frozen W0 of ReLoRA's layers in bf16 (the arithmetic stays float32), and %s: "+
				"use --dtype float32 here, or a GPU (--device cuda) for bf16 arithmetic", why)
		}
	}
	return nil
}

// ResetMode is the optimizer reset applied at restarts.
func (o Options) ResetMode() (relora.ResetMode, error) {
	m, err := relora.ParseResetMode(o.ResetOptimizer, o.RandomPruning, o.MagnitudePruning)
	m.Mask = o.ResetMask
	return m, err
}

// LoRA is the factor configuration.
func (o Options) LoRA() relora.LoRAConfig {
	return relora.LoRAConfig{R: o.LoraR, Alpha: o.LoraAlpha, Dropout: o.LoraDropout, LoraOnly: o.LoraOnly}
}

// Accumulation is the number of micro-batches per update.
func (o Options) Accumulation() int {
	if o.TotalBatchSize == 0 {
		return 1
	}
	return o.TotalBatchSize / o.BatchSize
}

// Schedule is the learning-rate schedule of the run's main stage: the whole
// run, or with --warm_start_steps Ws the low-rank stage of N − Ws updates
// (its first warmup included, docs/METHOD.md §7).
func (o Options) Schedule() relora.Schedule {
	return relora.Schedule{Kind: o.Scheduler, Steps: o.Steps - o.WarmStartSteps, Warmup: o.WarmupSteps,
		RestartWarmup: o.RestartWarmup, Cycle: o.CycleLength, AdjustStep: o.AdjustStep, MinRatio: o.MinLRRatio}
}

// warmSchedule is the schedule of a warm-start stage: the first Ws updates
// of the full-rank baseline's cosine over all N updates, so that a warm
// start and a full-rank run agree step for step until the wrap.
func (o Options) warmSchedule() relora.Schedule {
	return relora.Schedule{Kind: relora.ScheduleCosine, Steps: o.Steps, Warmup: o.WarmupSteps, MinRatio: o.MinLRRatio}
}

// LRAt is the learning rate of update k (1-based) of the run.
func (o Options) LRAt(k int) float64 {
	if k <= o.WarmStartSteps {
		lr := o.LR
		if o.WarmStartLR > 0 {
			lr = o.WarmStartLR
		}
		return o.warmSchedule().LR(lr, k)
	}
	return o.Schedule().LR(o.LR, k-o.WarmStartSteps)
}

// WriteSchedule validates the options and writes one line "k lr" for every
// update k = 1..N of the run (warm start included), the learning rate that
// training would use for it.
func (o Options) WriteSchedule(w io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for k := 1; k <= o.Steps; k++ {
		if _, err := fmt.Fprintf(bw, "%d %.10g\n", k, o.LRAt(k)); err != nil {
			return err
		}
	}
	return bw.Flush()
}
