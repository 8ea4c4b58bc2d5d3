package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/relora-go/relora-go/engine/prof"
)

// errFlagsChecked ends a command right after its flags parsed when
// flagsOnly is set (the documentation test checks commands it cannot run,
// such as those for a GPU, this way).
var errFlagsChecked = errors.New("flags checked")

// flagsOnly makes every command stop after parsing its flags.
var flagsOnly bool

// boolWords are the values a boolean flag takes as a separate argument, as
// the reference's argparse flags are written (--reset_optimizer_on_relora
// False); case does not matter.
var boolWords = map[string]string{"true": "true", "false": "false", "1": "true", "0": "false", "t": "true", "f": "false", "yes": "true", "no": "false"}

// joinBoolValues rewrites "--flag VALUE" as "--flag=VALUE" for the boolean
// flags of fs when VALUE is a boolean word, so that the reference's
// spelling works beside Go's --flag and --flag=false.
func joinBoolValues(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") || strings.Contains(a, "=") || i+1 == len(args) {
			continue
		}
		f := fs.Lookup(strings.TrimLeft(a, "-"))
		if f == nil {
			continue
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
			continue
		}
		if v, ok := boolWords[strings.ToLower(args[i+1])]; ok {
			out[len(out)-1] = a + "=" + v
			i++
		}
	}
	return out
}

// lowerBool is a flag.Value for booleans that also reads True/FALSE (any
// case) and yes/no; every Bool flag of the commands is wrapped in one.
type lowerBool struct{ flag.Value }

func (b lowerBool) Set(s string) error {
	if v, ok := boolWords[strings.ToLower(s)]; ok {
		s = v
	}
	return b.Value.Set(s)
}

func (b lowerBool) IsBoolFlag() bool { return true }

// relaxBools wraps the boolean flags of fs in lowerBool.
func relaxBools(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			if _, done := f.Value.(lowerBool); !done {
				f.Value = lowerBool{f.Value}
			}
		}
	})
}

// commandDoc is what a command's --help says before its flags.
type commandDoc struct {
	synopsis, about, example string
	// groups lists flag names under headings, in order; flags not listed
	// are printed under "other".
	groups []flagGroup
	// only, when set, limits the flags listed to these (the others are
	// still accepted: see note).
	only []string
	note string
}

type flagGroup struct {
	title string
	names []string
}

// trainGroups are train's flags by subject.
var trainGroups = []flagGroup{
	{"model", []string{"model_config", "init_from", "warmed_up_model", "seed"}},
	{"data", []string{"data", "tokenizer", "val_data", "max_length", "batch_size", "total_batch_size", "max_train_tokens"}},
	{"optimizer and schedule", []string{"lr", "num_training_steps", "warmup_steps", "scheduler", "min_lr_ratio",
		"weight_decay", "clip_grad_norm", "adam_beta1", "adam_beta2"}},
	{"ReLoRA", []string{"use_peft", "relora", "cycle_length", "restart_warmup_steps", "adjust_step", "lora_r", "lora_alpha",
		"lora_dropout", "lora_only", "reset_optimizer_on_relora", "optimizer_random_pruning", "optimizer_magnitude_pruning",
		"optimizer_reset_mask", "warm_start_steps", "warm_start_lr"}},
	{"evaluation, logs and checkpoints", []string{"save_dir", "eval_every", "eval_batches", "log_every", "save_every",
		"keep_checkpoints", "resume_from", "autoresume"}},
	{"performance", []string{"threads", "device", "dtype", "cpuprofile", "kernel_profile"}},
}

// scheduleFlags are the flags the learning-rate schedule reads.
var scheduleFlags = []string{"lr", "num_training_steps", "warmup_steps", "scheduler", "min_lr_ratio", "cycle_length",
	"restart_warmup_steps", "adjust_step", "relora", "warm_start_steps", "warm_start_lr"}

var docs = map[string]commandDoc{
	"train": {
		synopsis: "relora-cpu train [flags]",
		about: "Trains a LLaMA, full-rank or with ReLoRA, writing metrics.jsonl, checkpoints and final/ (a Hugging Face\n" +
			"LLaMA with its tokenizer) into --save_dir. Without flags: a 1.9M-parameter LLaMA on the embedded Brown\n" +
			"excerpt with the embedded Brown BPE, about a minute on 2 cores. Boolean flags take --flag, --flag=false\n" +
			"or the reference's --flag False. SIGINT or SIGTERM ends the run after the current update with a\n" +
			"checkpoint; --autoresume continues it.",
		example: "relora-cpu prepare --data corpus.txt.gz --train_tokenizer 8192 --out data/corpus\n" +
			"relora-cpu train --model_config llama_20m --data data/corpus --relora 500 --scheduler cosine_restarts \\\n" +
			"    --restart_warmup_steps 50 --warm_start_steps 500 --num_training_steps 2000 --save_dir runs/relora",
		groups: trainGroups,
	},
	"schedule": {
		synopsis: "relora-cpu schedule [flags]",
		about:    "Prints \"update_step lr\" for every update of a run: the learning rate train would use.",
		example: "relora-cpu schedule --num_training_steps 2000 --warmup_steps 100 --scheduler cosine_restarts \\\n" +
			"    --relora 500 --restart_warmup_steps 50 --lr 2e-3 --warm_start_steps 500",
		only: scheduleFlags,
		note: "Every other flag of train is accepted and ignored, so a train command line works with schedule.",
	},
	"prepare": {
		synopsis: "relora-cpu prepare --data FILES --out DIR (--train_tokenizer N | --tokenizer FILE) [flags] [FILES...]",
		about: "Tokenizes a corpus once into token shards (train.bin, val.bin) and its tokenizer.json, for\n" +
			"train --data DIR and eval --data DIR.",
		example: "relora-cpu prepare --data 'c4/en/*.json.gz' --train_tokenizer 8192 --out data/c4",
	},
	"tokenize": {
		synopsis: "relora-cpu tokenize --tokenizer FILE [--decode] < text",
		about:    "Text on stdin to token ids on stdout, or with --decode ids back to text.",
		example:  "echo \"The jury said\" | relora-cpu tokenize --tokenizer data/c4/tokenizer.json",
	},
	"generate": {
		synopsis: "relora-cpu generate --checkpoint DIR [--prompt TEXT] [flags]",
		about: "Continues a prompt with a model: a run directory (its final/), a checkpoint, a final/ or a\n" +
			"Hugging Face LLaMA directory. --temperature 0 is greedy decoding.",
		example: "relora-cpu generate --checkpoint runs/relora --prompt \"The jury said\" --max_new_tokens 60",
	},
	"eval": {
		synopsis: "relora-cpu eval --checkpoint DIR [--data DATA] [flags]",
		about: "A model's mean next-token loss and perplexity, over consecutive windows of --max_length tokens.\n" +
			"--checkpoint takes a run directory (its final/), a checkpoint, a final/ or a Hugging Face LLaMA\n" +
			"directory; without --data it evaluates on the embedded Brown val (as train does).",
		example: "relora-cpu eval --checkpoint runs/relora/model_2000 --data data/c4",
	},
	"export": {
		synopsis: "relora-cpu export --checkpoint DIR --out DIR [flags]",
		about: "Writes a model as a plain Hugging Face LLaMA (ReLoRA factors merged): model.safetensors, config.json,\n" +
			"generation_config.json, and the tokenizer (tokenizer.json, tokenizer_config.json) when known.",
		example: "relora-cpu export --checkpoint runs/relora/model_2000 --out hf/relora-2000",
	},
	"plot": {
		synopsis: "relora-cpu plot [flags] RUN_DIR...",
		about: "Draws the loss curves of runs (train and val loss against updates, merges and optimizer resets\n" +
			"marked) into one figure, written as PNG and SVG.",
		example: "relora-cpu plot --out docs/loss runs/full runs/relora",
	},
	"bench gemm": {
		synopsis: "relora-cpu bench gemm [flags]",
		about:    "Measures the GFLOP/s of the GEMM per shape, layout, thread count and micro-kernel.",
		example:  "relora-cpu bench gemm --shape 4096x512x512 --layout NT --threads 2",
	},
	"bench step": {
		synopsis: "relora-cpu bench step [flags]",
		about:    "Times training steps of a model on random tokens: tokens/s, GFLOP/s and peak memory.",
		example:  "relora-cpu bench step --model_config llama_60m --lora_r 128",
	},
}

// printHelp writes a command's --help: synopsis, description, example and
// its flags (grouped where the command has groups).
func printHelp(w io.Writer, fs *flag.FlagSet) {
	d, ok := docs[fs.Name()]
	if !ok {
		d.synopsis = "relora-cpu " + fs.Name() + " [flags]"
	}
	fmt.Fprintf(w, "Usage: %s\n", d.synopsis)
	if d.about != "" {
		fmt.Fprintf(w, "\n%s\n", d.about)
	}
	if d.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(d.example, "\n", "\n  "))
	}
	listed := map[string]bool{}
	section := func(title string, names []string) {
		var fl []*flag.Flag
		for _, n := range names {
			if f := fs.Lookup(n); f != nil && !listed[n] {
				fl = append(fl, f)
				listed[n] = true
			}
		}
		if len(fl) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, f := range fl {
			printFlag(w, f)
		}
	}
	switch {
	case d.only != nil:
		section("Flags", d.only)
	case d.groups != nil:
		for _, g := range d.groups {
			section(strings.ToUpper(g.title[:1])+g.title[1:]+" flags", g.names)
		}
		var rest []string
		fs.VisitAll(func(f *flag.Flag) {
			if !listed[f.Name] {
				rest = append(rest, f.Name)
			}
		})
		section("Other flags", rest)
	default:
		var all []string
		fs.VisitAll(func(f *flag.Flag) { all = append(all, f.Name) })
		section("Flags", all)
	}
	if d.note != "" {
		fmt.Fprintf(w, "\n%s\n", d.note)
	}
}

// printFlag writes one flag as flag.PrintDefaults does, with two dashes.
func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		line += " [true|false]"
	}
	usage = strings.ReplaceAll(usage, "\n", "\n    \t")
	if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "[]" {
		if g, ok := f.Value.(flag.Getter); ok {
			if _, isString := g.Get().(string); isString {
				def = strconv.Quote(def)
			}
		}
		usage += " (default " + def + ")"
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, usage)
}

// version is the module version and VCS state the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "relora-cpu (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var extra []string
	if r := settings["vcs.revision"]; r != "" {
		if len(r) > 12 {
			r = r[:12]
		}
		if settings["vcs.modified"] == "true" {
			r += "+modified"
		}
		extra = append(extra, "commit "+r)
	}
	if t := settings["vcs.time"]; t != "" {
		extra = append(extra, t)
	}
	var tags []string
	for k, val := range settings {
		if k == "-tags" && val != "" {
			tags = append(tags, "tags "+val)
		}
	}
	sort.Strings(tags)
	extra = append(extra, tags...)
	extra = append(extra, bi.GoVersion)
	return fmt.Sprintf("relora-cpu %s (%s)", v, strings.Join(extra, ", "))
}

// listFlag is a flag that may be repeated; each value may also hold
// several comma-separated ones (spaces around them are dropped).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// writeKernelProfile writes --kernel_profile (train, bench step).
func writeKernelProfile(kp *prof.Kernels, path string) error {
	if err := kp.WritePprofFile(path); err != nil {
		return fmt.Errorf("--kernel_profile: %w", err)
	}
	return nil
}
