package run

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/relora-go/relora-go/data"
	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine"
	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/engine/comm"
	"github.com/relora-go/relora-go/engine/sched"
	"github.com/relora-go/relora-go/model"
	"github.com/relora-go/relora-go/relora"
)

// Trainer owns one training run: the model, its recorded graph, the
// optimizer, the data position and the counters. Step is the hot path and
// allocates nothing.
type Trainer struct {
	Opts  Options
	Model *model.Model
	Pool  *sched.Pool
	// Device runs the graph and the optimizer when set (--device); the
	// host copies of the weights and moments are then refreshed only when
	// something reads them (checkpoints, the final model, resets).
	Device engine.Device
	closed bool
	Out    io.Writer // progress lines
	// Profiler, when set before the first Step, receives every kernel's
	// time and FLOPs (forward, backward and optimizer).
	Profiler engine.Profiler
	// Stop, once closed, ends Run after the update in progress (and what
	// it logs) with a checkpoint; Run then returns a *Stopped.
	Stop <-chan struct{}
	// Comm is the group of ranks training data-parallel (Single: alone).
	// Rank 0 alone logs, evaluates and writes; every rank holds the same
	// weights, optimizer state and random streams after every update.
	Comm comm.Comm

	fwd     *model.Forward
	opt     *engine.AdamW
	train   *data.Batcher
	val     []int32
	tokJSON []byte // the tokenizer.json saved with the run (nil: bytes)
	metrics *Metrics

	Update     int // optimizer updates done
	TokensSeen int64
	stageStart int // update at which the low-rank stage began

	// ReLoRA state
	Layers  []*relora.Linear // wrapped Linears (nil while full-rank)
	Merges  int              // merge-and-reinit count
	Resets  int              // optimizer-reset count
	reset   relora.ResetMode // how restarts prune the factors' moments
	factors *relora.Stream   // redraws A at every restart
	prune   *relora.Stream   // random pruning
	scratch []float32        // magnitude-pruning scratch
	// the step sizes of the update the last optimizer reset followed, until
	// the next update logs its own against them (nil: no reset pending)
	resetBefore *StepStats

	// data-parallel state (Comm.Size() > 1)
	gradFlat   []float32 // every trainable gradient, one slab (engine.AllocGrads)
	trainable  []*engine.Tensor
	lossSend   []float64 // this rank's micro-batch losses, then its stop flag
	lossRecv   []float64 // every rank's lossSend, rank after rank
	stopAgreed bool      // some rank was asked to stop during the last update

	startFrom   string // the checkpoint or --init_from model this run began from ("": none)
	startUpdate int    // the update it began at
}

// NewTrainer builds the model, graph, optimizer and data pipeline of a
// process training alone. The save directory must not hold an earlier run.
func NewTrainer(opts Options, corpus *Corpus, out io.Writer) (*Trainer, error) {
	return NewTrainerComm(opts, corpus, out, comm.Single())
}

// NewTrainerComm is NewTrainer for one rank of a data-parallel group c:
// every rank calls it with the same options (checked: a mismatch is an
// error on every rank naming the ranks that differ) and the same data.
// --total_batch_size is the global batch: each of the c.Size() ranks runs
// total/(size·batch_size) micro-batches of every update.
func NewTrainerComm(opts Options, corpus *Corpus, out io.Writer, c comm.Comm) (*Trainer, error) {
	return newTrainer(opts, nil, corpus, out, c)
}

// NewTrainerConfig is NewTrainer for a model configuration given as it is
// rather than read from opts.ModelConfig (which then only names it in
// messages): `relora-cpu bench step` times configurations no file holds.
func NewTrainerConfig(opts Options, cfg model.Config, corpus *Corpus, out io.Writer) (*Trainer, error) {
	return newTrainer(opts, &cfg, corpus, out, comm.Single())
}

// newTrainer is NewTrainerComm with the model's configuration, when
// given, instead of opts.ModelConfig's.
func newTrainer(opts Options, given *model.Config, corpus *Corpus, out io.Writer, c comm.Comm) (*Trainer, error) {
	if c == nil {
		c = comm.Single()
	}
	if c.Size() > 1 {
		if err := checkSameOnRanks(c, opts, corpus); err != nil {
			return nil, err
		}
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkRanks(opts, c.Size()); err != nil {
		return nil, err
	}
	var start *model.Model // the model to continue (--init_from)
	var cfg model.Config
	var err error
	if opts.InitFrom != "" {
		if start, err = LoadModelDir(opts.InitFrom); err != nil {
			return nil, fmt.Errorf("--init_from: %w", err)
		}
		cfg = start.Config
		if cfg.Vocab != corpus.Vocab {
			return nil, fmt.Errorf("--init_from %s has a vocabulary of %d tokens, the data's tokenizer %d: give the model's tokenizer with --tokenizer",
				opts.InitFrom, cfg.Vocab, corpus.Vocab)
		}
		fmt.Fprintf(out, "note: model and configuration from %s (--model_config is not used)\n", opts.InitFrom)
	} else if given != nil {
		cfg = *given
	} else if cfg, err = model.LoadConfig(opts.ModelConfig); err != nil {
		return nil, err
	}
	if cfg.Vocab != corpus.Vocab {
		fmt.Fprintf(out, "note: vocab_size %d of %s replaced by the tokenizer's %d\n", cfg.Vocab, opts.ModelConfig, corpus.Vocab)
		cfg.Vocab = corpus.Vocab
	}
	source := opts.ModelConfig
	if opts.InitFrom != "" {
		source = opts.InitFrom
	}
	if err := checkSizes(opts, cfg, source); err != nil {
		return nil, err
	}
	train, err := data.NewBatcher(corpus.TrainSource, data.Int32s(corpus.Train), opts.MaxLength, opts.BatchSize, opts.Seed)
	if err != nil {
		return nil, err
	}
	if len(corpus.Val) < opts.MaxLength+1 {
		return nil, fmt.Errorf("validation data %s has %d tokens, fewer than one sequence of max_length %d needs (%d)",
			corpus.ValSource, len(corpus.Val), opts.MaxLength, opts.MaxLength+1)
	}
	t := &Trainer{Opts: opts, Out: out, train: train, val: corpus.Val, tokJSON: corpus.TokenizerJSON, startFrom: opts.InitFrom, Comm: c}
	if n := c.Size(); n > 1 {
		k := opts.Accumulation() / n
		t.lossSend = make([]float64, k+1)
		t.lossRecv = make([]float64, n*(k+1))
	}
	if t.Device, err = engine.OpenDevice(opts.Device, opts.DeviceDType()); err != nil {
		return nil, err
	}
	t.Pool = sched.New(opts.Threads)
	t.Model = start
	if start == nil {
		t.Model = model.New(cfg)
		t.Model.Init(rand.New(rand.NewPCG(opts.Seed, 0x5eed)))
	}
	t.factors = relora.NewStream(opts.Seed, 0xfac7)
	t.prune = relora.NewStream(opts.Seed, 0x9e5e7)
	if opts.Relora > 0 {
		t.reset, _ = opts.ResetMode() // validated above
	}
	if opts.LowRank() && opts.WarmStartSteps == 0 {
		if err := t.wrap(); err != nil {
			return nil, err
		}
		return t, nil
	}
	t.rebuild()
	return t, nil
}

// wrap starts the low-rank stage: the Linears become ReLoRA layers whose
// W0 is the current weight, and the graph and optimizer are rebuilt for the
// new trainable set (docs/METHOD.md §7: a fresh optimizer).
func (t *Trainer) wrap() error {
	if t.Device == nil {
		// the full-rank graph and optimizer (the warm start's) go before
		// the new ones are built, not after
		t.fwd, t.opt = nil, nil
	}
	layers, err := relora.Wrap(t.Model, t.Opts.LoRA(), t.factors.Rand, t.Opts.Seed^0xd209)
	if err != nil {
		return err
	}
	if t.Opts.BF16W0() {
		relora.StoreW0BF16(layers)
	}
	t.Layers = layers
	t.stageStart = t.Update
	t.rebuild()
	return nil
}

// rebuild gives the model's trainable tensors fresh gradient buffers and
// records the graph and a fresh optimizer for them (at the start and
// whenever the trainable set changes).
func (t *Trainer) rebuild() {
	var trainable []*engine.Tensor
	for _, n := range t.Model.Tensors() {
		if !t.frozen(n.T) {
			trainable = append(trainable, n.T)
		}
	}
	t.gradFlat, t.trainable = engine.AllocGrads(trainable), trainable
	var g *engine.Graph
	if t.Device != nil {
		if t.fwd != nil {
			t.fwd.Graph.Release()
		}
		engine.ToDevice(t.Device, t.Model.Params())
		g = engine.NewDeviceGraph(t.Pool, t.Device)
	} else {
		g = engine.NewGraph(t.Pool)
	}
	t.fwd = t.Model.Build(g, t.Opts.BatchSize, t.Opts.MaxLength)
	t.fwd.Graph.Profiler = t.Profiler
	t.fwd.Loss.SetScale(float32(1 / float64(t.Opts.Accumulation())))
	t.opt = engine.NewAdamW(trainable, engine.AdamWConfig{Beta1: t.Opts.Beta1, Beta2: t.Opts.Beta2, Eps: 1e-8, WeightDecay: t.Opts.WeightDecay})
	if t.Device != nil {
		t.opt.ToDevice(t.Device)
	}
}

// Close releases the trainer's device (its memory and context); the
// trainer cannot step afterwards. It does nothing on the CPU.
func (t *Trainer) Close() error {
	if t.Device == nil || t.closed {
		return nil
	}
	t.closed = true // a step after this fails: the device's error is sticky
	return t.Device.Close()
}

// SyncHost brings the host copies of the weights and optimizer moments up
// to date with the device (nothing to do on the CPU) and returns the
// device's first error.
func (t *Trainer) SyncHost() error {
	if t.Device == nil {
		return nil
	}
	engine.FromDevice(t.Device, t.Model.Params())
	t.opt.MomentsFromDevice()
	return t.Device.Sync()
}

// syncDevice uploads the host weights and moments (after a load).
func (t *Trainer) syncDevice() error {
	if t.Device == nil {
		return nil
	}
	engine.ToDevice(t.Device, t.Model.Params())
	t.opt.MomentsToDevice()
	for _, l := range t.Layers {
		l.Invalidate()
	}
	return t.Device.Sync()
}

// frozen reports whether a tensor is a wrapped layer's W0.
func (t *Trainer) frozen(x *engine.Tensor) bool {
	for _, l := range t.Layers {
		if l.W0 == x {
			return true
		}
	}
	return false
}

// StepResult is what one update measured.
type StepResult struct {
	Loss, GradNorm, LR float64
	// Seconds is the update's wall time; CommSeconds the part of it spent
	// in the collectives of a data-parallel run (waiting for the slowest
	// rank included), 0 alone.
	Seconds, CommSeconds float64
}

// ErrNonFinite reports a NaN or infinite loss or gradient norm; the weights
// are left as they were before the update.
var ErrNonFinite = errors.New("non-finite value")

// Step runs one optimizer update: the micro-batches of the accumulation,
// the global-norm clip and AdamW. It allocates nothing (alone; over a Comm,
// what the backend's collectives allocate).
//
// Data-parallel, micro-batch i of the update (the windows a single process
// would feed it) goes to rank i mod size; the ranks' gradients are summed
// in rank order (AllReduceSumOrdered) and the losses gathered and summed in
// micro-batch order, so every rank then clips and steps identically.
func (t *Trainer) Step() (StepResult, error) {
	start := time.Now()
	accum := t.Opts.Accumulation()
	g := t.fwd.Graph
	g.Profiler = t.Profiler
	g.Training = true
	var loss, commS float64
	if n := t.Comm.Size(); n == 1 {
		for a := 0; a < accum; a++ {
			t.train.Fill(t.fwd.Inputs, t.fwd.Targets)
			g.Forward()
			loss += t.fwd.Loss.Value()
			g.Backward()
		}
	} else {
		var err error
		if loss, commS, err = t.stepShare(n); err != nil {
			return StepResult{}, err
		}
	}
	loss /= float64(accum)
	r := StepResult{Loss: loss, LR: t.Opts.LRAt(t.Update + 1), CommSeconds: commS}
	t0 := g.Now()
	r.GradNorm = t.opt.GradNorm(t.Pool)
	t.optKernel("grad_norm", t0, 2)
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(r.GradNorm) || math.IsInf(r.GradNorm, 0) {
		t.opt.ZeroGrads()
		return r, fmt.Errorf("%w at update %d: loss %v, gradient norm %v (%s)", ErrNonFinite, t.Update+1, loss, r.GradNorm, t.nonFiniteHint())
	}
	t0 = g.Now()
	t.opt.Apply(t.Pool, r.LR, engine.ClipCoef(r.GradNorm, t.Opts.ClipGradNorm))
	t.opt.ZeroGrads()
	t.optKernel("adamw", t0, 12)
	for _, l := range t.Layers {
		l.Invalidate()
	}
	t.Update++
	t.TokensSeen += int64(accum * len(t.fwd.Inputs))
	if t.Device != nil {
		if err := t.Device.Sync(); err != nil {
			return r, fmt.Errorf("update %d on %s: %w", t.Update, t.Device.Name(), err)
		}
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// stepShare runs this rank's micro-batches of the update, then sums the
// gradients and gathers the losses (and the ranks' stop requests) over the
// group; it returns the sum of the global micro-batches' losses in their
// order, the bits a single process adds, and the seconds spent in the
// collectives.
func (t *Trainer) stepShare(n int) (loss, commSeconds float64, err error) {
	g := t.fwd.Graph
	rank := t.Comm.Rank()
	k := len(t.lossSend) - 1
	for j := 0; j < k; j++ {
		t.skipMicroBatches(rank) // the micro-batches of the ranks before
		t.train.Fill(t.fwd.Inputs, t.fwd.Targets)
		g.Forward()
		t.lossSend[j] = t.fwd.Loss.Value()
		g.Backward()
		t.skipMicroBatches(n - 1 - rank) // and after this one
	}
	t.lossSend[k] = 0
	if t.stopRequested() {
		t.lossSend[k] = 1
	}
	c0 := time.Now()
	if err := comm.AllGatherFloat64(t.Comm, t.lossSend, t.lossRecv); err != nil {
		return 0, 0, err
	}
	// On a device the gradients go through the host slab: downloaded,
	// summed over the ranks, uploaded (one mechanism for every device and
	// backend; the device-to-device NCCL path is not wired in yet).
	if t.Device != nil {
		for _, x := range t.trainable {
			t.Device.Download(x.Grad, x.DevGrad)
		}
	}
	if err := t.Comm.AllReduceSumOrdered(t.gradFlat); err != nil {
		return 0, 0, err
	}
	if t.Device != nil {
		for _, x := range t.trainable {
			t.Device.Upload(x.DevGrad, x.Grad)
		}
	}
	commSeconds = time.Since(c0).Seconds()
	for i := 0; i < n*k; i++ { // micro-batch i: rank i mod n, its (i/n)-th
		loss += t.lossRecv[(i%n)*(k+1)+i/n]
	}
	t.stopAgreed = false
	for r := 0; r < n; r++ {
		if t.lossRecv[r*(k+1)+k] != 0 {
			t.stopAgreed = true
		}
	}
	return loss, commSeconds, nil
}

// skipMicroBatches moves the data and the dropout streams past m
// micro-batches that other ranks run: their windows, and the one draw per
// layer each training forward makes for its dropout mask.
func (t *Trainer) skipMicroBatches(m int) {
	t.train.Skip(m * t.Opts.BatchSize)
	for _, l := range t.Layers {
		if l.Dropout > 0 {
			for range m {
				l.Rng.Uint64()
			}
		}
	}
}

// AllReduceBytes is what one update all-reduces: the gradients of the
// trainable tensors (never a frozen W0), in float32; 0 alone.
func (t *Trainer) AllReduceBytes() int64 {
	if t.Comm.Size() == 1 {
		return 0
	}
	return 4 * int64(len(t.gradFlat))
}

// optKernel reports an optimizer kernel (flopsPer per trainable element).
func (t *Trainer) optKernel(name string, start time.Time, flopsPer int64) {
	if t.Profiler != nil {
		if t.Device != nil {
			t.Device.Sync() // the device only queued the work
		}
		f := engine.Frame{Kernel: name, Op: "adamw", Scope: "optimizer", Phase: engine.PhaseOptimizer}
		t.Profiler.Record(f, time.Since(start), flopsPer*int64(t.trainableCount()))
	}
}

// Evaluate returns the mean next-token loss over the validation split (the
// first EvalBatches micro-batches of it, or all of it).
func (t *Trainer) Evaluate() float64 {
	seq, rows := t.Opts.MaxLength, t.Opts.BatchSize
	windows := len(t.val) / (seq + 1)
	if t.Opts.EvalBatches > 0 {
		windows = min(windows, t.Opts.EvalBatches*rows)
	}
	t.fwd.Graph.Training = false
	t.fwd.Graph.Profiler = nil // evaluation is not part of the step profile
	loss, _ := MeanLoss(t.fwd, data.Int32s(t.val), seq, windows)
	return loss
}

// MeanLoss runs the recorded forward pass f over the first windows
// consecutive windows of seq+1 tokens of toks (a short last batch is
// padded with ignored targets) and returns the mean next-token loss and
// the number of tokens it covers.
func MeanLoss(f *model.Forward, toks data.Tokens, seq, windows int) (float64, int) {
	rows := len(f.Inputs) / seq
	var sum float64
	var tokens int
	for first := 0; first < windows; first += rows {
		n := min(data.Sequential(toks, seq, first, f.Inputs, f.Targets), windows-first)
		for i := n * seq; i < len(f.Targets); i++ {
			f.Inputs[i], f.Targets[i] = 0, -1
		}
		f.Graph.Forward()
		sum += f.Loss.Value() * float64(n*seq)
		tokens += n * seq
	}
	return sum / float64(max(tokens, 1)), tokens
}

// Run trains for the configured number of updates, logging to Out and to
// metrics.jsonl in the save directory, evaluating every EvalEvery updates
// and at the end, and saving the final model. metrics.jsonl keeps only the
// lines up to the update the run starts from (none when it starts fresh):
// what an interrupted run logged after its last checkpoint is logged
// again. The first failed write of a log, a checkpoint or the model stops
// the run with the path and the reason.
//
// Data-parallel (Comm.Size() > 1) every rank runs it: rank 0 chooses the
// checkpoint to resume from and every rank loads it (the same path: a
// shared file system or a copy on each machine), every rank's starting
// state is checked equal, and rank 0 alone writes the logs, checkpoints
// and final model and evaluates (the others skip evaluation, which changes
// no state). A stop request on any rank stops every rank after the same
// update.
func (t *Trainer) Run() error {
	o := t.Opts
	lead := t.Comm.Rank() == 0
	resume := o.ResumeFrom
	if resume == "" && o.Autoresume && lead {
		resume = LatestCheckpoint(o.SaveDir)
	}
	if t.Comm.Size() > 1 {
		var err error
		if resume, err = broadcastString(t.Comm, resume); err != nil {
			return err
		}
	}
	if resume != "" { // before anything is written: a refused resume leaves no trace
		if err := t.LoadCheckpoint(resume); err != nil {
			return err
		}
		t.startFrom, t.startUpdate = resume, t.Update
	}
	if t.Comm.Size() > 1 {
		if err := comm.CheckSame(t.Comm, "the starting state (weights, update, data position)", t.stateHash()); err != nil {
			return err
		}
		if !lead {
			return t.runFollower()
		}
	}
	if err := os.MkdirAll(o.SaveDir, 0o755); err != nil {
		return fmt.Errorf("--save_dir: %w", err)
	}
	// what interrupted writes left: temporary files, a half-written
	// checkpoint or final/
	for _, dir := range []string{o.SaveDir, filepath.Join(o.SaveDir, "final")} {
		if err := atomicfile.RemoveTemps(dir); err != nil {
			return fmt.Errorf("--save_dir: %w", err)
		}
	}
	// metrics.jsonl continues where the state does: what an interrupted
	// run logged after it (all of it when starting fresh) is dropped
	metricsPath := filepath.Join(o.SaveDir, "metrics.jsonl")
	if err := TruncateMetrics(metricsPath, t.Update); err != nil {
		return err
	}
	if resume != "" {
		fmt.Fprintf(t.Out, "resumed from %s at update %d\n", resume, t.Update)
	}
	if t.tokJSON != nil {
		if err := atomicfile.WriteFile(filepath.Join(o.SaveDir, tokenizer.FileName), t.tokJSON); err != nil {
			return err
		}
	}
	m, err := OpenMetrics(metricsPath)
	if err != nil {
		return err
	}
	t.metrics = m
	defer m.Close()
	out := &stickyWriter{w: t.Out}
	t.Out = out
	defer func() { t.Out = out.w }()
	logErr := func() error { // the first failed write of a log stops the run
		if err := m.Err(); err != nil {
			return err
		}
		if out.err != nil {
			return fmt.Errorf("writing the progress log: %w", out.err)
		}
		return nil
	}
	cfg := t.Model.Config
	fmt.Fprintf(t.Out, "model %s: d %d, %d layers, %d heads, ffn %d, vocab %d, %.2fM parameters; %d threads\n",
		o.ModelConfig, cfg.Hidden, cfg.Layers, cfg.Heads, cfg.Intermediate, cfg.Vocab, float64(cfg.ParamCount())/1e6, t.Pool.Threads())
	fmt.Fprintf(t.Out, "training %d updates of %d×%d tokens (%d micro-batches of %d; %s tokens in all), lr %g (%s), saving to %s\n",
		o.Steps, o.BatchSize*o.Accumulation(), o.MaxLength, o.Accumulation(), o.BatchSize,
		Count(int64(o.Steps)*int64(o.BatchSize*o.Accumulation()*o.MaxLength)), o.LR, o.Scheduler, o.SaveDir)
	if n := t.Comm.Size(); n > 1 {
		fmt.Fprintf(t.Out, "data-parallel over %d ranks (%s): %d micro-batches per rank per update; all-reducing %s of gradients per update\n",
			n, t.Comm, o.Accumulation()/n, Bytes(t.AllReduceBytes()))
	}
	prog := t.newProgress()
	fmt.Fprint(t.Out, prog.header())
	windowStart, windowTokens := time.Now(), int64(0)
	for t.Update < o.Steps {
		r, err := t.Step()
		if err != nil {
			return err
		}
		if err := t.afterUpdate(); err != nil {
			return err
		}
		windowTokens += int64(o.Accumulation() * len(t.fwd.Inputs))
		tps := float64(windowTokens) / time.Since(windowStart).Seconds()
		m.Update(UpdateRecord{Step: t.Update, Loss: r.Loss, LR: r.LR, GradNorm: r.GradNorm, Tokens: t.TokensSeen, TokensPerS: tps,
			Seconds: r.Seconds, AllReduceBytes: t.AllReduceBytes(), AllReduceSeconds: r.CommSeconds})
		if o.LogEvery > 0 && (t.Update%o.LogEvery == 0 || t.Update == 1 || t.Update == o.Steps) {
			fmt.Fprint(t.Out, prog.line(t, r, tps))
			windowStart, windowTokens = time.Now(), 0
		}
		if (o.EvalEvery > 0 && t.Update%o.EvalEvery == 0) || t.Update == o.Steps {
			vl := t.Evaluate()
			if math.IsNaN(vl) || math.IsInf(vl, 0) {
				return fmt.Errorf("%w: validation loss %v after update %d (%s)", ErrNonFinite, vl, t.Update, t.nonFiniteHint())
			}
			m.Eval(EvalRecord{Step: t.Update, ValLoss: vl, ValPPL: math.Exp(vl)})
			fmt.Fprintf(t.Out, "eval   %5d  val_loss %.4f  val_ppl %.2f\n", t.Update, vl, math.Exp(vl))
			prog.valLoss, prog.haveVal = vl, true
		}
		if err := logErr(); err != nil {
			return err
		}
		// The checkpoint of an update follows everything logged for it (the
		// evaluation reads the weights and draws no random numbers, so the
		// state saved is the same either way): a run resumed from it logs
		// exactly the lines the uninterrupted run logs after it.
		saved := ""
		if o.SaveEvery > 0 && t.Update%o.SaveEvery == 0 {
			if err := m.Sync(); err != nil {
				return err
			}
			dir, err := t.SaveCheckpoint()
			if err != nil {
				return err
			}
			fmt.Fprintf(t.Out, "saved  %5d  %s\n", t.Update, dir)
			saved = dir
		}
		if t.Update < o.Steps && t.stopNow() {
			return t.stopHere(m, saved)
		}
	}
	// final/ holds a plain LLaMA: the open low-rank phase merged in.
	final := filepath.Join(o.SaveDir, "final")
	if err := t.SyncHost(); err != nil {
		return err
	}
	plain := relora.Unwrap(t.Model, t.Pool)
	if err := model.CheckFinite("the final model", plain.Tensors()); err != nil {
		return fmt.Errorf("%w: %v; nothing saved (%s)", ErrNonFinite, err, t.nonFiniteHint())
	}
	if err := SaveModelDir(final, plain, t.tokJSON); err != nil {
		return err
	}
	fmt.Fprint(t.Out, prog.summary(t, final))
	if err := logErr(); err != nil {
		return err
	}
	return m.Close()
}

// afterUpdate runs what follows an update in the reference loop: the end of
// a warm start, then merges and optimizer resets (docs/METHOD.md §3, §4, §6).
func (t *Trainer) afterUpdate() error {
	o := t.Opts
	if t.Layers == nil {
		if o.LowRank() && t.Update == o.WarmStartSteps {
			if err := t.SyncHost(); err != nil { // Wrap reads the host weights
				return err
			}
			if err := t.wrap(); err != nil {
				return err
			}
			t.event("warm_start_end", map[string]any{"trainable_params": t.trainableCount()})
		}
		return nil
	}
	if t.resetBefore != nil { // the first update after an optimizer reset
		t.logFirstStepAfterReset()
	}
	sRel := t.Update - t.stageStart
	if o.Relora > 0 && relora.IsMergeStep(sRel, o.Relora) {
		t.MergeAll()
		t.Merges++
		t.event("merge", map[string]any{"merges": t.Merges})
	}
	if o.Relora > 0 && relora.IsResetStep(sRel, o.CycleLength) {
		zeroed, total := t.ResetOptimizer()
		t.Resets++
		t.event("optimizer_reset", map[string]any{"resets": t.Resets, "mode": t.reset.String(),
			"fraction_zeroed": float64(zeroed) / float64(max(total, 1)),
			"step_max_before": t.resetBefore.Max, "step_median_before": t.resetBefore.Median})
	}
	return nil
}

// MergeAll folds every layer's factors into its W0 and restarts them.
func (t *Trainer) MergeAll() {
	for _, l := range t.Layers {
		l.Merge(t.Pool, t.Device, t.factors.Rand)
	}
}

// ResetOptimizer prunes the AdamW moments of every factor (both moments,
// each with its own mask or with one, as --optimizer_reset_mask says),
// leaving the step counter and the other parameters' state alone. It
// returns the entries zeroed and the entries considered. Before pruning it
// measures the factors' step sizes (StepStats) for the event of the next
// update.
func (t *Trainer) ResetOptimizer() (zeroed, total int) {
	if t.opt.OnDevice() {
		t.opt.MomentsFromDevice()
		defer t.opt.MomentsToDevice()
	}
	before := t.factorStepStats()
	t.resetBefore = &before
	factor := map[*engine.Tensor]bool{}
	for _, l := range t.Layers {
		factor[l.A], factor[l.B] = true, true
	}
	for i, p := range t.opt.Params() {
		if !factor[p] {
			continue
		}
		m, v := t.opt.Moments(i)
		if len(t.scratch) < len(m) {
			t.scratch = make([]float32, len(m))
		}
		if t.reset.Joint() {
			zeroed += t.reset.ApplyJoint(m, v, t.scratch, t.prune.Rand)
		} else {
			zeroed += t.reset.Apply(m, t.scratch, t.prune.Rand) + t.reset.Apply(v, t.scratch, t.prune.Rand)
		}
		total += 2 * len(m)
	}
	return zeroed, total
}

func (t *Trainer) trainableCount() int {
	n := 0
	for _, p := range t.opt.Params() {
		n += p.Size()
	}
	return n
}

func (t *Trainer) event(name string, fields map[string]any) {
	if t.metrics != nil {
		t.metrics.Event(t.Update, name, fields)
	}
	fmt.Fprintf(t.Out, "event  %5d  %s %s\n", t.Update, name, keyValues(fields))
}
