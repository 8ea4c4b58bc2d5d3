package run

// Tests of issue 16 ("nothing lost, nothing silent"): crashes, damaged
// checkpoints, write errors and non-finite values. The numbers are the
// issue's items.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/relora"
)

// faultRun is a short run that checkpoints and evaluates at updates 3 and 6.
func faultRun(dir string, more ...func(*Options)) func(*Options) {
	return func(o *Options) {
		o.SaveDir = dir
		o.Steps, o.WarmupSteps, o.SaveEvery, o.EvalEvery, o.EvalBatches, o.LogEvery = 6, 1, 3, 3, 1, 1
		for _, m := range more {
			m(o)
		}
	}
}

// errCrash is what crashWriter panics with: the process "dies" there.
var errCrash = errors.New("simulated crash")

// crashWriter stands for stdout and panics when a line starting with
// prefix is written: Run stops dead at that point, as a kill would stop it.
type crashWriter struct{ prefix string }

func (c crashWriter) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), c.prefix) {
		panic(errCrash)
	}
	return len(p), nil
}

// runCrashing runs tr until the line prefix is printed.
func runCrashing(t *testing.T, tr *Trainer, prefix string) {
	t.Helper()
	defer func() {
		if r := recover(); r != errCrash {
			t.Fatalf("the run did not reach %q (recovered %v)", prefix, r)
		}
	}()
	tr.Out = crashWriter{prefix}
	tr.Run()
}

// metricsLines reads metrics.jsonl with the timing field dropped.
func metricsLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || !strings.HasSuffix(line, "\n") {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		delete(rec, "tokens_per_s") // timings differ between runs
		delete(rec, "update_s")
		delete(rec, "allreduce_s")
		delete(rec, "time")
		js, _ := json.Marshal(rec)
		out = append(out, string(js))
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: metrics.jsonl differs from the uninterrupted run's\ngot:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ", a, b)
	}
}

// noTemps fails if anything under dir is a temporary file or directory.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && atomicfile.IsTemp(d.Name()) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// Item 1: a run that crashes and resumes logs exactly what the
// uninterrupted run logs, the evaluation of a checkpoint's update included.
func TestMetricsAfterACrashEqualTheUninterruptedRun(t *testing.T) {
	tmp := t.TempDir()
	ref := filepath.Join(tmp, "ref")
	if err := smallTrainer(t, faultRun(ref)).Run(); err != nil {
		t.Fatal(err)
	}
	want := metricsLines(t, ref)
	if !strings.Contains(strings.Join(want, "\n"), `"val_loss"`) {
		t.Fatalf("the reference run logged no evaluation:\n%s", strings.Join(want, "\n"))
	}
	for _, tc := range []struct{ name, crashAt string }{
		{"before the first checkpoint", "update     2/"},
		{"after the checkpoint of update 3", "saved      3"},
		{"after the last checkpoint", "saved      6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(tmp, strings.ReplaceAll(tc.name, " ", "_"))
			runCrashing(t, smallTrainer(t, faultRun(dir)), tc.crashAt)
			// and a line torn by the crash
			f, _ := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0o644)
			f.WriteString(`{"update_step":4,"lo`)
			f.Close()
			if err := smallTrainer(t, faultRun(dir, func(o *Options) { o.Autoresume = true })).Run(); err != nil {
				t.Fatal(err)
			}
			sameLines(t, tc.name, metricsLines(t, dir), want)
			sameFile(t, filepath.Join(dir, "final", modelFile), filepath.Join(ref, "final", modelFile))
		})
	}
}

// Item 2: temporary files of interrupted writes are gone after a resumed
// run, and a refused resume creates nothing.
func TestRunLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{".model_3.tmp/model.safetensors", ".model_6.old.tmp/model.safetensors", "final/.model.safetensors.tmp123",
		".final.tmp/model.safetensors", ".metrics.jsonl.tmp4567", ".tokenizer.json.tmp89"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("partial"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if err := smallTrainer(t, faultRun(dir, func(o *Options) { o.Autoresume = true })).Run(); err != nil {
		t.Fatal(err)
	}
	noTemps(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Error("a file of the user's was removed")
	}

	fresh := filepath.Join(dir, "new")
	tr := smallTrainer(t, faultRun(fresh, func(o *Options) { o.ResumeFrom = filepath.Join(dir, "model_1") }))
	if err := tr.Run(); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("resuming from a missing checkpoint: %v", err)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("a refused resume created %s", fresh)
	}
}

// Item 3: an edited or damaged training_state.json is refused on resume,
// with the file named; so are a damaged or missing SHA256SUMS. A format-1
// checkpoint (no SHA256SUMS) of an earlier build still loads.
func TestEditedTrainingStateIsRefused(t *testing.T) {
	dir := t.TempDir()
	opts := func(o *Options) {
		o.SaveDir, o.Relora, o.CycleLength, o.LoraR, o.WarmupSteps = dir, 25, 25, 8, 2
		o.Scheduler, o.RestartWarmup = relora.ScheduleCosineRestarts, 2
	}
	a := smallTrainer(t, opts)
	runTo(t, a, 3)
	ck, err := a.SaveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(ck, stateFile)
	orig, _ := os.ReadFile(statePath)
	bump := func(field string) func([]byte) []byte {
		re := regexp.MustCompile(`"` + field + `": (\d+)`)
		return func(b []byte) []byte {
			return re.ReplaceAllFunc(b, func(m []byte) []byte {
				n, _ := strconv.Atoi(string(re.FindSubmatch(m)[1]))
				return fmt.Appendf(nil, `"%s": %d`, field, n+1)
			})
		}
	}
	stream := func(b []byte) []byte {
		i := bytes.Index(b, []byte(`"factors": "`)) + len(`"factors": "`) + 12
		c := append([]byte(nil), b...)
		c[i] ^= 1 // another base64 digit
		return c
	}
	for name, edit := range map[string]func([]byte) []byte{
		"adam_step": bump("adam_step"), "data_next": bump("data_next"), "update_step": bump("update_step"),
		"data_epoch": bump("data_epoch"), "a random stream": stream,
	} {
		edited := edit(orig)
		if bytes.Equal(edited, orig) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		os.WriteFile(statePath, edited, 0o644)
		err := smallTrainer(t, opts).LoadCheckpoint(ck)
		if !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), statePath) || !strings.Contains(err.Error(), data.ManifestFile) {
			t.Errorf("%s edited: error %v, want a refusal naming %s", name, err, statePath)
		}
		if _, err := LoadModelDir(ck); err == nil || !strings.Contains(err.Error(), statePath) {
			t.Errorf("%s edited: LoadModelDir error %v", name, err)
		}
	}
	os.WriteFile(statePath, orig, 0o644)
	if err := smallTrainer(t, opts).LoadCheckpoint(ck); err != nil {
		t.Fatalf("the restored checkpoint: %v", err)
	}

	sums := filepath.Join(ck, data.ManifestFile)
	manifest, _ := os.ReadFile(sums)
	os.WriteFile(sums, manifest[:len(manifest)/2], 0o644)
	if err := smallTrainer(t, opts).LoadCheckpoint(ck); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), sums) {
		t.Errorf("a torn SHA256SUMS: error %v", err)
	}
	os.Remove(sums)
	if err := smallTrainer(t, opts).LoadCheckpoint(ck); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), sums+" is missing") {
		t.Errorf("no SHA256SUMS: error %v", err)
	}

	// format 1: the hashes of the two safetensors files in the state
	var st map[string]any
	json.Unmarshal(orig, &st)
	st["format"] = 1
	files := map[string]string{}
	for _, n := range []string{modelFile, optimizerFile} {
		files[n], _ = data.FileSHA256(filepath.Join(ck, n))
	}
	st["sha256"] = files
	old, _ := json.MarshalIndent(st, "", "  ")
	os.WriteFile(statePath, old, 0o644)
	b := smallTrainer(t, opts)
	if err := b.LoadCheckpoint(ck); err != nil {
		t.Fatalf("a format-1 checkpoint: %v", err)
	}
	runTo(t, b, 6)
	runTo(t, a, 6)
	sameWeights(t, a, b)
}

// Item 4: every reader of a model directory checks the hashes and refuses
// non-finite weights: eval, export and generate (LoadModelDir) and
// --init_from (NewTrainer).
func TestLoadersRefuseDamagedModels(t *testing.T) {
	dir := t.TempDir()
	a := smallTrainer(t, func(o *Options) { o.SaveDir = dir })
	runTo(t, a, 2)
	ck, err := a.SaveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, "final")
	if err := SaveModelDir(final, relora.Unwrap(a.Model, nil), nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{ck, final} {
		if _, err := LoadModelDir(d); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		p := filepath.Join(d, modelFile)
		raw, _ := os.ReadFile(p)
		for i := len(raw) / 2; i < len(raw)/2+4000; i++ {
			raw[i] = 0xff // NaNs
		}
		os.WriteFile(p, raw, 0o644)
		if _, err := LoadModelDir(d); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s damaged: LoadModelDir error %v", d, err)
		}
		o := DefaultOptions()
		o.InitFrom, o.Tokenizer, o.SaveDir = d, "bytes", t.TempDir()
		c, _ := LoadCorpus(o)
		if _, err := NewTrainer(o, c, io.Discard); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("--init_from %s damaged: error %v", d, err)
		}
	}
	// without hashes (a Hugging Face directory), NaN weights are refused
	plain := filepath.Join(t.TempDir(), "hf")
	m := relora.Unwrap(a.Model, nil)
	m.Blocks[1].MLPNorm.Data[3] = float32(math.Inf(-1))
	if err := m.Save(plain); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModelDir(plain); err == nil || !strings.Contains(err.Error(), "model.layers.1.post_attention_layernorm.weight") ||
		!strings.Contains(err.Error(), "non-finite") {
		t.Errorf("a model with an infinite weight: error %v", err)
	}
}

// Item 8: a checkpoint whose weights are not all finite is never written;
// the error names the tensor and the likely causes.
func TestNonFiniteCheckpointIsNotWritten(t *testing.T) {
	dir := t.TempDir()
	tr := smallTrainer(t, faultRun(dir, func(o *Options) { o.SaveEvery = 1 }))
	runTo(t, tr, 1)
	tr.Model.Head.Data[7] = float32(math.Inf(1)) // what a diverging update leaves
	_, err := tr.SaveCheckpoint()
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), `"lm_head.weight"`) || !strings.Contains(err.Error(), "likely cause") {
		t.Fatalf("saving infinite weights: error %v", err)
	}
	tr.Model.Head.Data[7] = 0
	m, _ := tr.opt.Moments(0)
	m[0] = float32(math.NaN())
	if _, err := tr.SaveCheckpoint(); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "exp_avg") {
		t.Fatalf("saving NaN moments: error %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%s holds %v after refused saves", dir, ents)
	}
	// through Run: the weights go non-finite after update 1 (when its line is logged)
	dir = t.TempDir()
	tr = smallTrainer(t, faultRun(dir, func(o *Options) { o.SaveEvery = 1 }))
	tr.Out = hookWriter{"update     1/", func() { tr.Model.Embed.Data[0] = float32(math.NaN()) }}
	if err := tr.Run(); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Run: error %v", err)
	}
	if _, err := os.Stat(CheckpointDir(dir, 1)); err == nil {
		t.Fatal("a checkpoint of NaN weights was written")
	}
	noTemps(t, dir)
}

type hookWriter struct {
	prefix string
	f      func()
}

func (h hookWriter) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), h.prefix) {
		h.f()
	}
	return len(p), nil
}

// Item 8: the hint names the likely cause.
func TestNonFiniteHintNamesTheCause(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) {}, "--lr"},
		{func(o *Options) { o.LR, o.WeightDecay = 1, 0.5 }, "--weight_decay 0.5"},
		{func(o *Options) { o.UsePeft, o.LoraR, o.LoraAlpha = true, 2, 64 }, "--lora_alpha 64"},
		{func(o *Options) { o.InitFrom = "somewhere" }, "the model it started from, somewhere"},
	} {
		tr := &Trainer{Opts: DefaultOptions()}
		tc.mod(&tr.Opts)
		tr.startFrom = tr.Opts.InitFrom
		if h := tr.nonFiniteHint(); !strings.Contains(h, tc.want) {
			t.Errorf("hint %q, want it to name %q", h, tc.want)
		}
	}
	o := DefaultOptions()
	o.WeightDecay, o.LR = 1e38, 10
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--weight_decay") {
		t.Errorf("--weight_decay 1e38: %v", err)
	}
	o.WeightDecay = 0.5 // lr·wd = 5: every update flips and grows the weights
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "1 − lr·wd") {
		t.Errorf("--weight_decay 0.5 at --lr 10: %v", err)
	}
}

// Item 7: a torn last line, and a complete one whose newline was lost, are
// repaired when a run resumes.
func TestTruncateMetricsRepairsTheLastLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(p, []byte("{\"update_step\":1,\"loss\":2}\n{\"update_step\":2,\"loss\":1.5}"), 0o644)
	if err := TruncateMetrics(p, 2); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "{\"update_step\":1,\"loss\":2}\n{\"update_step\":2,\"loss\":1.5}\n" {
		t.Fatalf("after repair: %q", b)
	}
}

// Item 7: a write error of metrics.jsonl sticks and is reported.
func TestMetricsWriteErrorIsReported(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	m, err := OpenMetrics("/dev/full")
	if err != nil {
		t.Fatal(err)
	}
	m.Update(UpdateRecord{Step: 1})
	if err := m.Err(); err == nil || !strings.Contains(err.Error(), "/dev/full") {
		t.Fatalf("writing to a full device: %v", err)
	}
	// and through Run: the run stops at the first update
	dir := t.TempDir()
	os.Symlink("/dev/full", filepath.Join(dir, "metrics.jsonl"))
	tr := smallTrainer(t, faultRun(dir))
	if err := tr.Run(); err == nil || !strings.Contains(err.Error(), "metrics.jsonl") {
		t.Fatalf("Run with a full metrics device: %v", err)
	}
	if tr.Update != 1 {
		t.Fatalf("the run went on to update %d after a failed write", tr.Update)
	}
}

// Item 10: every file a run writes is 0644 (less the umask), like one
// os.Create makes, metrics.jsonl and the checkpoints alike.
func TestSavedFilesHaveTheUsualMode(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	f, err := os.OpenFile(ref, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(ref)
	want := fi.Mode().Perm()
	dir := t.TempDir()
	if err := smallTrainer(t, faultRun(dir, func(o *Options) { o.Tokenizer = tokenizer.Embedded })).Run(); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		if fi, err := d.Info(); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if n < 10 {
		t.Fatalf("only %d files in %s", n, dir)
	}
}
