package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/relora-go/relora-go/relora/run"
)

// trainFlags registers the training flags on fs, writing into o.
func trainFlags(fs *flag.FlagSet, o *run.Options) {
	fs.StringVar(&o.ModelConfig, "model_config", o.ModelConfig, "model: a built-in name (llama_9m ... llama_7b) or a JSON config path")
	fs.StringVar(&o.Data, "data", o.Data, "training data: text (.txt, .txt.gz, .jsonl, .json.gz, directories, globs), a token shard (.bin) or a directory written by relora-cpu prepare (default: the embedded Brown excerpt)")
	fs.StringVar(&o.Tokenizer, "tokenizer", o.Tokenizer, "a tokenizer.json, \"bytes\" or \"embedded\" (the Brown BPE, 4096 tokens); default: the embedded BPE for the embedded corpus, bytes for --data text, the own tokenizer of a prepared directory or an --init_from model")
	fs.StringVar(&o.ValData, "val_data", o.ValData, "validation text (default: embedded Brown val, or the last 5% of --data)")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate")
	fs.IntVar(&o.BatchSize, "batch_size", o.BatchSize, "sequences per micro-batch")
	fs.IntVar(&o.TotalBatchSize, "total_batch_size", o.TotalBatchSize, "sequences per update, a multiple of --batch_size (gradient accumulation; 0: --batch_size)")
	fs.IntVar(&o.MaxLength, "max_length", o.MaxLength, "sequence length in tokens")
	fs.IntVar(&o.Steps, "num_training_steps", o.Steps, "optimizer updates")
	fs.IntVar(&o.WarmupSteps, "warmup_steps", o.WarmupSteps, "linear warmup updates")
	fs.Float64Var(&o.MinLRRatio, "min_lr_ratio", o.MinLRRatio, "cosine floor as a fraction of --lr")
	fs.StringVar(&o.Scheduler, "scheduler", o.Scheduler, "learning-rate schedule: linear, cosine or cosine_restarts")
	fs.IntVar(&o.EvalEvery, "eval_every", o.EvalEvery, "updates between evaluations (0: only at the end)")
	fs.IntVar(&o.EvalBatches, "eval_batches", o.EvalBatches, "micro-batches per evaluation (0: the whole validation split)")
	fs.IntVar(&o.LogEvery, "log_every", o.LogEvery, "updates between progress lines")
	fs.StringVar(&o.SaveDir, "save_dir", o.SaveDir, "run directory for metrics.jsonl and the model (default runs/<date-time>)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed for initialisation and data order")
	fs.Float64Var(&o.WeightDecay, "weight_decay", o.WeightDecay, "AdamW decoupled weight decay")
	fs.Float64Var(&o.ClipGradNorm, "clip_grad_norm", o.ClipGradNorm, "global gradient-norm clip (<= 0 disables)")
	fs.Float64Var(&o.Beta1, "adam_beta1", o.Beta1, "AdamW beta1")
	fs.Float64Var(&o.Beta2, "adam_beta2", o.Beta2, "AdamW beta2")
	fs.IntVar(&o.Threads, "threads", o.Threads, "worker threads (0: all cores)")
	deviceFlag(fs, &o.Device, &o.DType)

	fs.BoolVar(&o.UsePeft, "use_peft", o.UsePeft, "train through low-rank factors (implied by --relora and --lora_only)")
	fs.IntVar(&o.LoraR, "lora_r", o.LoraR, "rank of the low-rank factors")
	fs.Float64Var(&o.LoraAlpha, "lora_alpha", o.LoraAlpha, "factor scale numerator: the update is (lora_alpha/lora_r)·B·A")
	fs.Float64Var(&o.LoraDropout, "lora_dropout", o.LoraDropout, "dropout on the low-rank branch's input")
	fs.BoolVar(&o.LoraOnly, "lora_only", o.LoraOnly, "no full-rank weights at all: low-rank training from scratch")
	fs.IntVar(&o.Relora, "relora", o.Relora, "merge the factors into the weights every N updates (ReLoRA; 0: never)")
	fs.IntVar(&o.CycleLength, "cycle_length", o.CycleLength, "updates per learning-rate cycle and optimizer reset (0 with --relora N: N)")
	fs.IntVar(&o.RestartWarmup, "restart_warmup_steps", o.RestartWarmup, "warmup updates after every restart (cosine_restarts)")
	fs.IntVar(&o.AdjustStep, "adjust_step", o.AdjustStep, "shift of the jagged schedule (cosine_restarts)")
	fs.BoolVar(&o.ResetOptimizer, "reset_optimizer_on_relora", o.ResetOptimizer, "at restarts, prune 99.9% of the factors' Adam moments at random (the reference's default)")
	fs.Float64Var(&o.RandomPruning, "optimizer_random_pruning", o.RandomPruning, "at restarts, zero this fraction of the factors' Adam moments at random (needs --reset_optimizer_on_relora false)")
	fs.Float64Var(&o.MagnitudePruning, "optimizer_magnitude_pruning", o.MagnitudePruning, "at restarts, zero this fraction of the smallest factor moments (needs --reset_optimizer_on_relora false)")
	fs.StringVar(&o.ResetMask, "optimizer_reset_mask", o.ResetMask, "how restarts prune the factors' two Adam moments: joint (one mask for both, by |exp_avg_sq| for magnitude pruning, one draw per entry for random) or independent (each moment its own mask: the reference's, bit for bit). The default is joint: with independent masks an entry can keep its momentum and lose its variance, its next step is m̂/ε, up to 10⁵ times the largest step before the reset, and the loss jumps by about 1 nat after the first restart (docs/EXPERIMENTS.md)")
	fs.IntVar(&o.WarmStartSteps, "warm_start_steps", o.WarmStartSteps, "full-rank updates before the low-rank stage starts (warm start in one run)")

	fs.Float64Var(&o.WarmStartLR, "warm_start_lr", o.WarmStartLR, "peak learning rate of the warm-start stage (0: --lr; the paper uses about half of ReLoRA's)")
	fs.StringVar(&o.InitFrom, "init_from", o.InitFrom, "continue training this model: a run's final/, a checkpoint (factors merged) or a Hugging Face LLaMA directory; its config.json replaces --model_config and its tokenizer.json is used unless --tokenizer is given")
	fs.StringVar(&o.InitFrom, "warmed_up_model", o.InitFrom, "the reference's name for --init_from (a warm start saved by an earlier full-rank run)")
	fs.IntVar(&o.SaveEvery, "save_every", o.SaveEvery, "updates between checkpoints in --save_dir (0: none)")
	fs.IntVar(&o.KeepCheckpoints, "keep_checkpoints", o.KeepCheckpoints, "keep only the newest N checkpoints (0: all)")
	fs.StringVar(&o.ResumeFrom, "resume_from", o.ResumeFrom, "continue the run saved in this checkpoint directory")
	fs.BoolVar(&o.Autoresume, "autoresume", o.Autoresume, "continue from the newest checkpoint in --save_dir (start fresh if there is none; a complete run: nothing to do)")
}

func cmdTrain(args []string, stdout, stderr io.Writer) error {
	o := run.DefaultOptions()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	trainFlags(fs, &o)
	extras := addTrainExtras(fs)
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the run to `file` (go tool pprof)")
	kprof := fs.String("kernel_profile", "", "write a per-kernel profile of the training steps to `file` (go tool pprof -top)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runTrain(fs, o, extras, args, *cpuprofile, *kprof, stdout, stderr)
}

// startCPUProfile starts a Go CPU profile; the returned function stops it
// and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// cmdSchedule prints the learning rate of every update. It takes all of
// train's flags (a train command line works), but --help lists only those
// the schedule reads; a warm start implies a low-rank stage after it.
func cmdSchedule(args []string, stdout, stderr io.Writer) error {
	o := run.DefaultOptions()
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	trainFlags(fs, &o)
	extras := addTrainExtras(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := applyExtras(fs, &o, extras, stderr); err != nil {
		return err
	}
	if o.WarmStartSteps > 0 && !o.LowRank() {
		o.UsePeft = true // the schedule is that of any low-rank stage
	}
	if err := o.Validate(); err != nil {
		return err
	}
	for _, w := range o.Warnings() {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return o.WriteSchedule(stdout)
}
