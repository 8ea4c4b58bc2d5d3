package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/relora-go/relora-go/engine"
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
  relora-cpu plot [flags] RUN...  loss curves of runs as PNG and SVG
  relora-cpu analyze [flags] RUN  singular values of every matrix's update W_final − W_start (JSON, table, PNG/SVG)
  relora-cpu bench gemm [flags]   measure GEMM GFLOP/s per shape, layout, threads and kernel
  relora-cpu bench step [flags]   measure training-step tokens/s, GFLOP/s and peak memory
  relora-cpu kernels              list the GEMM kernels this CPU runs (values for RELORA_KERNEL)
  relora-cpu version              the version, commit and Go release of this binary (also --version)

Run "relora-cpu COMMAND --help" for a command's flags and an example.
`

const benchUsage = `Usage:
  relora-cpu bench gemm [flags]   measure GEMM GFLOP/s per shape, layout, threads and kernel
  relora-cpu bench step [flags]   measure training-step tokens/s, GFLOP/s and peak memory

Run "relora-cpu bench gemm --help" or "relora-cpu bench step --help" for their flags.
`

// exitError ends a command with its own exit status (an interrupted run).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// stdin is what tokenize reads (a variable for the tests).
var stdin io.Reader = os.Stdin

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version())
		return 0
	case "train":
		err = cmdTrain(args[1:], stdout, stderr)
	case "schedule":
		err = cmdSchedule(args[1:], stdout, stderr)
	case "prepare":
		err = cmdPrepare(args[1:], stdout, stderr)
	case "tokenize":
		err = cmdTokenize(args[1:], stdin, stdout)
	case "generate":
		err = cmdGenerate(args[1:], stdout, stderr)
	case "eval":
		err = cmdEval(args[1:], stdout, stderr)
	case "export":
		err = cmdExport(args[1:], stdout, stderr)
	case "plot":
		err = cmdPlot(args[1:], stdout, stderr)
	case "analyze":
		err = cmdAnalyze(args[1:], stdout, stderr)
	case "kernels":
		err = cmdKernels(stdout, stderr)
	case "bench":
		if code, done := benchHelp(args, stdout, stderr); done {
			return code
		}
		err = cmdBench(args[1:], stdout)
	default:
		err = fmt.Errorf("unknown command %q (commands: train, schedule, prepare, tokenize, generate, eval, export, plot, analyze, bench, kernels, version)", args[0])
	}
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errFlagsChecked):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "relora-cpu %s: %v\n", args[0], err)
		return ee.code
	}
	fmt.Fprintf(stderr, "relora-cpu %s: %v\n", args[0], err)
	return 1
}

// benchHelp prints bench's usage for "bench --help" (exit 0) and a bare
// "bench" (exit 2, on stderr); done says whether it did.
func benchHelp(args []string, stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case len(args) >= 2 && (args[1] == "help" || args[1] == "-h" || args[1] == "--help" || args[1] == "-help"):
		fmt.Fprint(stdout, benchUsage)
		return 0, true
	case len(args) == 1:
		fmt.Fprint(stderr, benchUsage)
		return 2, true
	}
	return 0, false
}

// cmdBench runs "bench gemm" or "bench step".
func cmdBench(args []string, stdout io.Writer) error {
	switch args[0] {
	case "gemm":
		return benchGEMM(args[1:], stdout)
	case "step":
		return benchStep(args[1:], stdout)
	}
	return fmt.Errorf("unknown benchmark %q: relora-cpu bench gemm | bench step", args[0])
}

// parseFlags parses a command's flags, printing --help to stdout and
// turning flag errors into one-line errors; the command takes no other
// arguments.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	rest, err := parseFlagsPaths(fs, args, stdout)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q: relora-cpu %s takes only flags, written --name value or --name=value (see relora-cpu %s --help)", rest[0], fs.Name(), fs.Name())
	}
	return err
}

// cmdKernels lists the GEMM micro-kernels this CPU and build can run, one
// name per line (values for RELORA_KERNEL), and says on stderr which one
// and which cache blocks were chosen for this CPU, and why (kernels.go).
func cmdKernels(stdout, stderr io.Writer) error {
	kernelsReport(stdout, stderr)
	return engine.KernelSelectionError()
}

// parseFlagsPaths is parseFlags for commands that also take paths after
// their flags: the leftover arguments are returned.
func parseFlagsPaths(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	relaxBools(fs)
	args = joinBoolValues(fs, args)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%v (see relora-cpu %s --help)", strings.TrimSpace(err.Error()), fs.Name())
	}
	var rest []string
	for a := fs.Args(); len(a) > 0; a = fs.Args() { // flags may follow paths
		rest = append(rest, a[0])
		if err := fs.Parse(a[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(stdout, fs)
				return nil, err
			}
			return nil, fmt.Errorf("%v (see relora-cpu %s --help)", strings.TrimSpace(err.Error()), fs.Name())
		}
	}
	if flagsOnly {
		return nil, errFlagsChecked
	}
	return rest, nil
}
