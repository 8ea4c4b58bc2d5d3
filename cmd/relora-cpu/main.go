// Command relora-cpu trains LLaMA models with ReLoRA on the CPU.
//
// Run "relora-cpu help" for the list of commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/relora-go/relora-go/asm"
)

const usage = `relora-cpu: ReLoRA pretraining of LLaMA models in pure Go.

Usage:
  relora-cpu train [flags]        train a model (no flags: a small LLaMA on the embedded corpus)
  relora-cpu schedule [flags]     print "update_step lr" for every update of a run's schedule
  relora-cpu prepare [flags]      tokenize a corpus into token shards (train.bin, val.bin, tokenizer.json)
  relora-cpu tokenize [flags]     text on stdin -> token ids on stdout (--decode: ids -> text)
  relora-cpu generate [flags]     continue a prompt with a trained model (KV cache, top-k/top-p sampling)
  relora-cpu eval [flags]         a model's loss and perplexity on a corpus or token shards
  relora-cpu export [flags]       a checkpoint as a plain Hugging Face LLaMA (ReLoRA factors merged)
  relora-cpu bench gemm [flags]   measure GEMM GFLOP/s per shape, layout, threads and kernel
  relora-cpu bench step [flags]   measure training-step tokens/s, GFLOP/s and peak memory
  relora-cpu kernels              list the GEMM kernels this CPU runs (values for RELORA_KERNEL)

Run "relora-cpu COMMAND --help" for a command's flags.
`

// errUsage marks an error already explained to the user (bad flags).
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "train":
		err = cmdTrain(args[1:], stdout)
	case "schedule":
		err = cmdSchedule(args[1:], stdout)
	case "prepare":
		err = cmdPrepare(args[1:], stdout, stderr)
	case "tokenize":
		err = cmdTokenize(args[1:], os.Stdin, stdout)
	case "generate":
		err = cmdGenerate(args[1:], stdout, stderr)
	case "eval":
		err = cmdEval(args[1:], stdout, stderr)
	case "export":
		err = cmdExport(args[1:], stdout, stderr)
	case "kernels":
		err = cmdKernels(stdout, stderr)
	case "bench":
		switch {
		case len(args) >= 2 && args[1] == "gemm":
			err = benchGEMM(args[2:], stdout)
		case len(args) >= 2 && args[1] == "step":
			err = benchStep(args[2:], stdout)
		default:
			err = fmt.Errorf("name what to measure: relora-cpu bench gemm | bench step")
		}
	default:
		err = fmt.Errorf("unknown command %q (commands: train, schedule, prepare, tokenize, generate, eval, export, bench, kernels)", args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "relora-cpu %s: %v\n", args[0], err)
	return 1
}

// parseFlags parses a command's flags, printing --help to stdout and
// turning flag errors into one-line errors; the command takes no other
// arguments.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	rest, err := parseFlagsPaths(fs, args, stdout)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q (flags are written --name value)", rest[0])
	}
	return err
}

// cmdKernels lists the GEMM micro-kernels this CPU and build can run, one
// name per line (values for RELORA_KERNEL), and says on stderr which one
// is selected.
func cmdKernels(stdout, stderr io.Writer) error {
	for _, k := range asm.Available() {
		fmt.Fprintln(stdout, k.Name)
	}
	sel := asm.Selected()
	fmt.Fprintf(stderr, "selected: %s (%d×%d tiles; vector kernels: %s); RELORA_KERNEL=<name> forces one\n",
		sel.Name, sel.MR, sel.NR, asm.VecLevel())
	return asm.SelectionError()
}

// parseFlagsPaths is parseFlags for commands that also take paths after
// their flags: the leftover arguments are returned.
func parseFlagsPaths(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage of relora-cpu %s:\n", fs.Name())
		fs.PrintDefaults()
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%v (see relora-cpu %s --help)", strings.TrimSpace(err.Error()), fs.Name())
	}
	var rest []string
	for a := fs.Args(); len(a) > 0; a = fs.Args() { // flags may follow paths
		rest = append(rest, a[0])
		if err := fs.Parse(a[1:]); err != nil {
			return nil, fmt.Errorf("%v (see relora-cpu %s --help)", strings.TrimSpace(err.Error()), fs.Name())
		}
	}
	return rest, nil
}
