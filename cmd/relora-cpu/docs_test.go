package main

// Issue 13, bug 1: every relora-cpu command shown in README.md and docs/*.md
// runs here, in document order (later commands use what earlier ones
// wrote), shrunk to tiny sizes. A command that needs a GPU or files that
// only a long experiment makes is checked for its flags alone (flagsOnly),
// and the test says so.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	relorago "github.com/relora-go/relora-go"
	"github.com/relora-go/relora-go/data"
)

// docCommand is one command line of a fenced sh block.
type docCommand struct {
	file  string
	line  int
	words []string // from "relora-cpu" (or "relora-gpu") on
	stdin string   // what "echo X |" feeds it
}

// docCommands extracts the relora-cpu command lines of the ```sh blocks of
// a Markdown file: "relora-cpu ...", "relora-gpu ...", "go run
// ./cmd/relora-cpu ..." and "echo ... | relora-cpu ...".
func docCommands(t *testing.T, path string) []docCommand {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docCommand
	in := false
	var block []string
	start := 0
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```sh":
			in, block, start = true, nil, i+2
		case in && trimmed == "```":
			in = false
			out = append(out, blockCommands(t, path, start, strings.Join(block, "\n"))...)
		case in:
			block = append(block, line)
		}
	}
	return out
}

// blockCommands splits a shell block into commands (continuation lines
// joined, comments dropped) and keeps the relora-cpu ones.
func blockCommands(t *testing.T, file string, first int, text string) []docCommand {
	var out []docCommand
	line := first
	for _, cmd := range shellLines(text) {
		words, n := shellWords(t, cmd)
		at := line
		line += n
		var stdin string
		if len(words) > 2 && words[0] == "echo" {
			if i := indexOf(words, "|"); i > 0 {
				stdin = strings.Join(words[1:i], " ") + "\n"
				words = words[i+1:]
			}
		}
		if len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/relora-cpu" {
			words = append([]string{"relora-cpu"}, words[3:]...)
		}
		if len(words) == 0 || (words[0] != "relora-cpu" && words[0] != "relora-gpu") {
			continue
		}
		if indexOf(words, "|") >= 0 {
			t.Fatalf("%s:%d: a pipeline the test does not know: %v", file, at, words)
		}
		out = append(out, docCommand{file: file, line: at, words: words, stdin: stdin})
	}
	return out
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

// shellLines splits a block into logical lines (a backslash-newline joins
// two), keeping the newline count of each for line numbers.
func shellLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			cur.WriteString("\x00") // a joined line, counted by shellWords
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// shellWords splits one logical line into words as sh does for the forms
// the documents use: single and double quotes, backslash escapes, "|" and
// comments. It returns the words and the physical lines the command took.
func shellWords(t *testing.T, s string) ([]string, int) {
	lines := 1 + strings.Count(s, "\x00")
	s = strings.ReplaceAll(s, "\x00", " ")
	var words []string
	var w strings.Builder
	have := false
	flush := func() {
		if have {
			words = append(words, w.String())
		}
		w.Reset()
		have = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !have:
			flush()
			return words, lines
		case c == '|':
			flush()
			words = append(words, "|")
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated quote in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			have, i = true, i+1+j
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			have = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			have = true
		default:
			w.WriteByte(c)
			have = true
		}
	}
	flush()
	return words, lines
}

// flagsOnlyReasons: commands containing the key are checked for their flags
// only, for the reason given.
var flagsOnlyReasons = map[string]string{
	"relora-gpu":    "needs an NVIDIA GPU and a binary built with -tags cuda",
	"runs/brown":    "needs the four 15-minute runs of docs/experiments/brown.sh",
	"runs/spectra/": "needs the runs of docs/experiments/spectra.sh",
}

// Step counts shrink 100 times (2000 updates become 20, a cycle of 500
// becomes 5: ratios and divisibility stay); sizes become tiny.
var (
	stepFlags = map[string]int{"num_training_steps": 600, "warmup_steps": 30, "warm_start_steps": 0, "relora": 0,
		"cycle_length": 0, "restart_warmup_steps": 0, "adjust_step": 0, "save_every": 0, "eval_every": 200, "log_every": 20}
	checkpointPath = regexp.MustCompile(`model_(\d+)`)
)

func shrinkSteps(v int) int { return max(1, v/100) }

// shrinkPath renames the checkpoints a path names as the steps shrink
// (runs/relora/model_2000 is runs/relora/model_20 here).
func shrinkPath(p string) string {
	return checkpointPath.ReplaceAllStringFunc(p, func(m string) string {
		v, _ := strconv.Atoi(m[len("model_"):])
		return fmt.Sprintf("model_%d", shrinkSteps(v))
	})
}

// shrink turns a documented command line into its tiny equivalent:
// values replaced in place, missing settings appended (a later flag wins).
func shrink(words []string, tiny string, n int) []string {
	cmd := words[1]
	if cmd == "bench" {
		cmd += " " + words[2]
	}
	var out []string
	given := map[string]bool{}
	totalRatio := 0
	batch := 8
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w == "..." {
			continue
		}
		name := strings.TrimLeft(w, "-")
		// a bare boolean flag (--use_peft) is followed by another flag
		if !strings.HasPrefix(w, "-") || strings.Contains(w, "=") || i+1 == len(words) || strings.HasPrefix(words[i+1], "-") {
			if strings.HasPrefix(w, "-") {
				given[strings.SplitN(name, "=", 2)[0]] = true
			}
			out = append(out, shrinkPath(w))
			continue
		}
		given[name] = true
		v := words[i+1]
		switch name {
		case "model_config":
			v = tiny
		case "max_length":
			v = "16"
		case "batch_size":
			batch, _ = strconv.Atoi(v)
			v = "2"
		case "total_batch_size":
			total, _ := strconv.Atoi(v)
			totalRatio = total / max(batch, 1)
			v = "" // set below, once --batch_size is known
		case "lora_r":
			v = "4"
		case "train_tokenizer":
			v = "400"
		case "max_new_tokens":
			v = "8"
		case "threads":
			v = "1"
		case "num_training_steps":
			x, _ := strconv.Atoi(v)
			v = strconv.Itoa(max(4, shrinkSteps(x))) // a run of one update is all warmup
		default:
			if _, ok := stepFlags[name]; ok && (cmd == "train" || cmd == "schedule") {
				x, _ := strconv.Atoi(v)
				if x > 0 {
					v = strconv.Itoa(shrinkSteps(x))
				}
			} else {
				v = shrinkPath(v)
			}
		}
		if v != "" {
			out = append(out, w, v)
		}
		i++
	}
	if totalRatio > 0 {
		out = append(out, "--total_batch_size", strconv.Itoa(2*totalRatio))
	}
	add := func(name, v string) {
		if !given[name] {
			out = append(out, "--"+name, v)
		}
	}
	switch cmd {
	case "train", "schedule":
		for name, def := range stepFlags {
			if def > 0 {
				add(name, strconv.Itoa(shrinkSteps(def)))
			}
		}
		if cmd == "train" {
			add("model_config", tiny)
			add("max_length", "16")
			add("batch_size", "2")
			add("eval_batches", "1")
			add("threads", "1")
			add("lora_r", "4")
			add("save_dir", fmt.Sprintf("runs/docs-%d", n)) // the default, runs/<date-time>, repeats within a second
		}
	case "eval":
		add("max_length", "16")
		add("batch_size", "2")
		add("max_batches", "2")
		add("threads", "1")
	case "generate", "prepare":
		add("threads", "1")
	case "bench step":
		add("model_config", tiny)
		add("vocab", "512")
		add("max_length", "16")
		add("batch_size", "2")
		add("steps", "1")
		add("threads", "1")
	}
	return out
}

// docInputs writes what the documents' commands read: corpus.txt.gz and
// c4/en/*.json.gz (excerpts of the embedded Brown text), val.txt, and the
// tiny model config.
func docInputs(t *testing.T) (tiny string) {
	text, err := data.DecodeGzip("embedded", relorago.DefaultTrain)
	if err != nil {
		t.Fatal(err)
	}
	text = text[:200_000]
	gz := func(path string, b []byte) {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gz("corpus.txt.gz", text)
	docs := strings.Split(string(text), "\n\n")
	for f := 0; f < 2; f++ {
		var jsonl strings.Builder
		for i := f; i < len(docs); i += 2 {
			fmt.Fprintf(&jsonl, "{\"text\": %s}\n", strconv.Quote(docs[i]))
		}
		gz(fmt.Sprintf("c4/en/c4-train.%05d-of-00002.json.gz", f), []byte(jsonl.String()))
	}
	os.WriteFile("val.txt", text[:20_000], 0o644)
	tiny = "tiny.json"
	os.WriteFile(tiny, []byte(`{"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 32000, "max_sequence_length": 64}`), 0o644)
	return tiny
}

func TestDocumentedCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every documented command (about 20 s)")
	}
	docsDir, _ := filepath.Abs("../../docs")
	readme, _ := filepath.Abs("../../README.md")
	files := []string{readme}
	mds, _ := filepath.Glob(filepath.Join(docsDir, "*.md"))
	files = append(files, mds...)
	var cmds []docCommand
	for _, f := range files {
		cmds = append(cmds, docCommands(t, f)...)
	}
	if len(cmds) < 10 {
		t.Fatalf("found only %d commands in %v", len(cmds), files)
	}
	t.Chdir(t.TempDir())
	tiny := docInputs(t)
	defer func() { stdin = os.Stdin }()
	ran, checked := 0, 0
	for n, c := range cmds {
		where := fmt.Sprintf("%s:%d", filepath.Base(c.file), c.line)
		reason := ""
		for key, why := range flagsOnlyReasons {
			if strings.Contains(strings.Join(c.words, " "), key) {
				reason = why
			}
		}
		args := shrink(c.words, tiny, n)
		if reason != "" {
			args = append([]string(nil), c.words[1:]...) // as written
			for i := 0; i < len(args); i++ {
				if args[i] == "..." {
					args = append(args[:i], args[i+1:]...)
					i--
				}
			}
			flagsOnly = true
			code, _, errs := runCLI(args...)
			flagsOnly = false
			if code != 0 {
				t.Errorf("%s: %s: its flags do not parse: %s", where, strings.Join(c.words, " "), errs)
			}
			t.Logf("%s: flags checked only (%s): %s", where, reason, strings.Join(c.words, " "))
			checked++
			continue
		}
		stdin = strings.NewReader(c.stdin)
		code, out, errs := runCLI(args...)
		if code != 0 {
			t.Errorf("%s: %s\n  ran as: relora-cpu %s\n  exit %d: %s\n%s", where, strings.Join(c.words, " "), strings.Join(args, " "), code, errs, out)
			continue
		}
		ran++
		t.Logf("%s: ran: relora-cpu %s", where, strings.Join(args, " "))
	}
	t.Logf("%d documented commands ran, %d had their flags checked only", ran, checked)
}
