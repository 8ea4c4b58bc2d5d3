package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/relora-go/relora-go/data/tokenizer"
	"github.com/relora-go/relora-go/engine/atomicfile"
	"github.com/relora-go/relora-go/relora/run"
)

// cmdPlot draws the loss curves of runs into one figure, as PNG and SVG:
// the training loss (a moving average) and the validation loss against
// updates (or tokens), one color per run, with the run's ReLoRA merges,
// optimizer resets and end of warm start marked. The y range comes from
// the data: it holds every validation point and the training curve after
// its first 10% (where the loss is still falling from its initial value).
// plotFlags are plot's settings.
type plotFlags struct {
	out, xAxis, unit, ylim, names string
	smooth, width                 int
}

func cmdPlot(args []string, stdout, stderr io.Writer) error {
	var f plotFlags
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.StringVar(&f.out, "out", "loss", "output `prefix`: writes PREFIX.png and PREFIX.svg")
	fs.IntVar(&f.smooth, "smooth", 25, "moving average of the training loss over this many updates (1: raw)")
	fs.StringVar(&f.xAxis, "x", "update", "x axis: update or tokens")
	fs.StringVar(&f.unit, "unit", "nats", "loss unit: nats or bits (per token; per byte for byte-level runs)")
	fs.StringVar(&f.ylim, "ylim", "", "`lo,hi` of the y axis (default: from the data)")
	fs.IntVar(&f.width, "width", 1200, "figure width in pixels (height: 5/12 of it)")
	fs.StringVar(&f.names, "names", "", "comma-separated legend names, one per run (default: the directories' names)")
	runs, err := parseFlagsPaths(fs, args, stdout)
	if err != nil {
		return err
	}
	legend, err := f.check(runs)
	if err != nil {
		return err
	}
	var rs []*runCurves
	for i, dir := range runs {
		r, err := readRun(dir, f.xAxis == "tokens")
		if err != nil {
			return err
		}
		if legend != nil {
			r.name = legend[i]
		}
		if f.unit == "bits" {
			r.scale(1 / math.Ln2)
		}
		rs = append(rs, r)
	}
	uniqueNames(rs)
	fig := newFigure(rs, f.smooth, f.xAxis, f.unit, float64(f.width))
	if f.ylim != "" {
		lo, hi, ok := strings.Cut(f.ylim, ",")
		a, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if !ok || err1 != nil || err2 != nil || !(b > a) {
			return fmt.Errorf("--ylim wants lo,hi with lo < hi, got %q", f.ylim)
		}
		fig.ylo, fig.yhi = a, b
	}
	if err := writeFigure(f.out, fig); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d runs plotted: %s.png, %s.svg\n", len(rs), f.out, f.out)
	return nil
}

// check refuses flags out of range and returns the --names legend.
func (f plotFlags) check(runs []string) ([]string, error) {
	switch {
	case len(runs) == 0:
		return nil, fmt.Errorf("name the run directories to plot: relora-cpu plot RUN_DIR... (see relora-cpu plot --help)")
	case f.xAxis != "update" && f.xAxis != "tokens":
		return nil, fmt.Errorf("--x must be update or tokens, got %q", f.xAxis)
	case f.unit != "nats" && f.unit != "bits":
		return nil, fmt.Errorf("--unit must be nats or bits, got %q", f.unit)
	case f.smooth < 1:
		return nil, fmt.Errorf("--smooth must be at least 1, got %d", f.smooth)
	case f.width < 400 || f.width > 8000:
		return nil, fmt.Errorf("--width must be in [400, 8000], got %d", f.width)
	}
	var legend []string
	if f.names != "" {
		legend = strings.Split(f.names, ",")
		if len(legend) != len(runs) {
			return nil, fmt.Errorf("--names has %d names for %d runs", len(legend), len(runs))
		}
	}
	return legend, nil
}

// writeFigure draws fig into PREFIX.png and PREFIX.svg.
func writeFigure(out string, fig *figure) error {
	if dir := filepath.Dir(out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	pc := newPNGCanvas(int(fig.w), int(fig.h))
	fig.draw(pc)
	var pb strings.Builder
	if err := png.Encode(&pb, pc.img); err != nil {
		return err
	}
	sc := &svgCanvas{}
	fig.draw(sc)
	for _, f := range []struct{ path, body string }{{out + ".png", pb.String()}, {out + ".svg", sc.finish(fig.w, fig.h)}} {
		if err := atomicfile.WriteFile(f.path, []byte(f.body)); err != nil {
			return err
		}
	}
	return nil
}

type pt struct{ x, y float64 }

// runCurves is what a run's metrics.jsonl holds for the figure.
type runCurves struct {
	name                    string
	train, val              []pt
	merges, resets, warmEnd []float64
	perByte                 bool // byte-level run: a token is a byte
}

func (r *runCurves) scale(f float64) {
	for i := range r.train {
		r.train[i].y *= f
	}
	for i := range r.val {
		r.val[i].y *= f
	}
}

// readRun reads RUN_DIR/metrics.jsonl; with tokens the x of every point
// is the tokens seen at its update instead of the update.
func readRun(dir string, tokens bool) (*runCurves, error) {
	path := filepath.Join(dir, "metrics.jsonl")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a run directory: %w", dir, err)
	}
	defer f.Close()
	r := &runCurves{name: filepath.Base(filepath.Clean(dir))}
	if _, err := os.Stat(filepath.Join(dir, tokenizer.FileName)); err != nil {
		r.perByte = true
	}
	evals, events, seen, err := r.readMetrics(path, f)
	if err != nil {
		return nil, err
	}
	r.place(evals, events, seen, tokens)
	return r, nil
}

// metricsEvent is an event line of metrics.jsonl.
type metricsEvent struct {
	step int
	kind string
}

// readMetrics reads the training losses of metrics.jsonl into r.train and
// returns the validation points, the events and the tokens seen at every
// update.
func (r *runCurves) readMetrics(path string, f io.Reader) ([]pt, []metricsEvent, map[int]float64, error) {
	seen := map[int]float64{} // update -> tokens seen
	var evals []pt
	var events []metricsEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var rec struct {
			Step    *int     `json:"update_step"`
			Loss    *float64 `json:"loss"`
			ValLoss *float64 `json:"val_loss"`
			Tokens  float64  `json:"tokens_seen"`
			Event   string   `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Step == nil {
			continue // a torn last line of a live run
		}
		s := *rec.Step
		switch {
		case rec.Event != "":
			events = append(events, metricsEvent{s, rec.Event})
		case rec.ValLoss != nil:
			evals = append(evals, pt{float64(s), *rec.ValLoss})
		case rec.Loss != nil:
			r.train = append(r.train, pt{float64(s), *rec.Loss})
			seen[s] = rec.Tokens
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.train) == 0 {
		return nil, nil, nil, fmt.Errorf("%s has no training updates yet", path)
	}
	return evals, events, seen, nil
}

// place sets r.val and the event marks, at the tokens seen at their update
// instead of the update itself with tokens.
func (r *runCurves) place(evals []pt, events []metricsEvent, seen map[int]float64, tokens bool) {
	x := func(step int) float64 {
		if tokens {
			return seen[step]
		}
		return float64(step)
	}
	if tokens {
		for i := range r.train {
			r.train[i].x = seen[int(r.train[i].x)]
		}
		for i := range evals {
			evals[i].x = x(int(evals[i].x))
		}
	}
	r.val = evals
	for _, e := range events {
		switch e.kind {
		case "merge":
			r.merges = append(r.merges, x(e.step))
		case "optimizer_reset":
			r.resets = append(r.resets, x(e.step))
		case "warm_start_end":
			r.warmEnd = append(r.warmEnd, x(e.step))
		}
	}
}

// uniqueNames makes legend names distinct (the parent directory is added
// to names that repeat).
func uniqueNames(rs []*runCurves) {
	count := map[string]int{}
	for _, r := range rs {
		count[r.name]++
	}
	for i, r := range rs {
		if count[r.name] > 1 {
			r.name = fmt.Sprintf("%s (%d)", r.name, i+1)
		}
	}
}

// movingAverage is the mean of each point and the k−1 before it.
func movingAverage(p []pt, k int) []pt {
	out := make([]pt, len(p))
	sum := 0.0
	for i := range p {
		sum += p[i].y
		if i >= k {
			sum -= p[i-k].y
		}
		out[i] = pt{p[i].x, sum / float64(min(i+1, k))}
	}
	return out
}

// palette: distinct on white and for the common forms of color blindness
// in the first four.
var palette = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{86, 180, 233, 255}, {230, 159, 0, 255}, {90, 90, 90, 255}, {170, 40, 40, 255},
}

var (
	ink  = color.RGBA{30, 30, 30, 255}
	grid = color.RGBA{225, 225, 225, 255}
)

// figure is the layout shared by both renderers.
type figure struct {
	runs       []*runCurves
	smoothed   [][]pt
	smooth     int
	xLabel     string
	yLabel     string
	w, h       float64
	xlo, xhi   float64
	ylo, yhi   float64
	panelW     float64
	panelH     float64
	left, top  float64
	panelGap   float64
	legendRows float64
}

func newFigure(rs []*runCurves, smooth int, xAxis, unit string, w float64) *figure {
	f := &figure{runs: rs, smooth: smooth, w: w, h: math.Round(w * 5 / 12)}
	f.xLabel = xAxis
	if xAxis == "tokens" {
		f.xLabel = "tokens seen"
	}
	per := "token"
	allBytes := true
	for _, r := range rs {
		allBytes = allBytes && r.perByte
	}
	if allBytes {
		per = "byte"
	}
	f.yLabel = unit + " per " + per
	f.xlo, f.xhi = math.Inf(1), math.Inf(-1)
	f.ylo, f.yhi = math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		k := min(smooth, max(1, len(r.train)/20))
		s := movingAverage(r.train, k)
		f.smoothed = append(f.smoothed, s)
		first, last := s[0].x, s[len(s)-1].x
		f.xlo, f.xhi = min(f.xlo, first), max(f.xhi, last)
		for _, p := range s {
			if p.x >= first+0.1*(last-first) {
				f.ylo, f.yhi = min(f.ylo, p.y), max(f.yhi, p.y)
			}
		}
		for _, p := range r.val {
			f.ylo, f.yhi = min(f.ylo, p.y), max(f.yhi, p.y)
			f.xhi = max(f.xhi, p.x)
		}
	}
	if !(f.yhi > f.ylo) {
		f.ylo, f.yhi = f.ylo-0.5, f.ylo+0.5
	}
	pad := 0.05 * (f.yhi - f.ylo)
	f.ylo, f.yhi = f.ylo-pad, f.yhi+pad
	if !(f.xhi > f.xlo) {
		f.xhi = f.xlo + 1
	}
	s := w / 1200 // sizes below are for a 1200-pixel figure
	f.left, f.top, f.panelGap = 80*s, 62*s, 90*s
	f.panelW = (w - f.left - f.panelGap - 30*s) / 2
	f.legendRows = 1
	last := f.legend()
	f.legendRows = 1 + math.Round((last[len(last)-1].y-last[0].y)/(24*s))
	f.panelH = f.h - f.top - 70*s - 24*s*f.legendRows
	return f
}

// canvas is what the figure draws on: pixel coordinates, y down.
type canvas interface {
	clip(x, y, w, h float64) // limit the next lines to a rectangle
	unclip()
	line(pts []pt, c color.RGBA, width float64, dash bool)
	dot(x, y, r float64, c color.RGBA)
	triangle(x, y, size float64, c color.RGBA) // pointing down, tip at (x, y)
	rect(x, y, w, h float64, c color.RGBA)     // outline
	text(x, y float64, s string, size float64, anchor int, c color.RGBA)
}

func (f *figure) draw(cv canvas) {
	s := f.w / 1200
	titles := []string{fmt.Sprintf("training loss (moving average of %d updates)", f.smooth), "validation loss"}
	if f.smooth == 1 {
		titles[0] = "training loss"
	}
	xt := niceTicks(f.xlo, f.xhi, 6)
	yt := niceTicks(f.ylo, f.yhi, 6)
	for p := 0; p < 2; p++ {
		x0 := f.left + float64(p)*(f.panelW+f.panelGap)
		y0 := f.top
		px := func(x float64) float64 { return x0 + (x-f.xlo)/(f.xhi-f.xlo)*f.panelW }
		py := func(y float64) float64 { return y0 + (f.yhi-y)/(f.yhi-f.ylo)*f.panelH }
		for _, v := range xt {
			cv.line([]pt{{px(v), y0}, {px(v), y0 + f.panelH}}, grid, 1*s, false)
			cv.text(px(v), y0+f.panelH+14*s, tickLabel(v, xt), 13*s, 0, ink)
		}
		for _, v := range yt {
			cv.line([]pt{{x0, py(v)}, {x0 + f.panelW, py(v)}}, grid, 1*s, false)
			cv.text(x0-8*s, py(v), tickLabel(v, yt), 13*s, 1, ink)
		}
		cv.text(x0+f.panelW/2, 18*s, titles[p], 15*s, 0, ink)
		cv.text(x0, 44*s, f.yLabel, 13*s, -1, ink)
		cv.text(x0+f.panelW/2, y0+f.panelH+36*s, f.xLabel, 13*s, 0, ink)
		cv.clip(x0, y0, f.panelW, f.panelH)
		for i := range f.runs {
			f.drawRun(cv, i, p, y0, px, py)
		}
		cv.unclip()
		cv.rect(x0, y0, f.panelW, f.panelH, ink)
	}
	// legend: the runs, then what the marks mean, in rows
	for _, e := range f.legend() {
		e.mark(cv, e.x, e.y)
		cv.text(e.x+34*s, e.y, e.label, 13*s, -1, ink)
	}
}

// drawRun draws run i into panel p (0: training, 1: validation) at
// top y0, px and py mapping data to the canvas: its merges, end of warm
// start and resets marked, then its curve.
func (f *figure) drawRun(cv canvas, i, p int, y0 float64, px, py func(float64) float64) {
	s := f.w / 1200
	r := f.runs[i]
	c := palette[i%len(palette)]
	faint := c
	faint.A = 110
	for _, m := range r.merges {
		cv.line([]pt{{px(m), y0}, {px(m), y0 + f.panelH}}, faint, 1.2*s, true)
	}
	for _, m := range r.warmEnd {
		cv.line([]pt{{px(m), y0}, {px(m), y0 + f.panelH}}, faint, 2.5*s, false)
	}
	for _, m := range r.resets {
		cv.triangle(px(m), y0+9*s, 8*s, c)
	}
	var pts []pt
	if p == 0 {
		for _, q := range f.smoothed[i] {
			pts = append(pts, pt{px(q.x), py(q.y)})
		}
		cv.line(pts, c, 1.8*s, false)
		return
	}
	for _, q := range r.val {
		pts = append(pts, pt{px(q.x), py(q.y)})
	}
	cv.line(pts, c, 1.8*s, false)
	for _, q := range pts {
		cv.dot(q.x, q.y, 3.2*s, c)
	}
}

// legendEntry is one mark and its label at (x, y).
type legendEntry struct {
	x, y  float64
	label string
	mark  func(cv canvas, x, y float64)
}

// legend lays the entries out in rows under the panels.
func (f *figure) legend() []legendEntry {
	s := f.w / 1200
	var es []legendEntry
	for i, r := range f.runs {
		c := palette[i%len(palette)]
		es = append(es, legendEntry{label: r.name, mark: func(cv canvas, x, y float64) {
			cv.line([]pt{{x, y}, {x + 26*s, y}}, c, 2.5*s, false)
		}})
	}
	es = append(es, legendEntry{label: "ReLoRA merge", mark: func(cv canvas, x, y float64) {
		cv.line([]pt{{x, y}, {x + 26*s, y}}, ink, 1.2*s, true)
	}}, legendEntry{label: "optimizer reset", mark: func(cv canvas, x, y float64) {
		cv.triangle(x+13*s, y+4*s, 8*s, ink)
	}}, legendEntry{label: "end of warm start", mark: func(cv canvas, x, y float64) {
		cv.line([]pt{{x, y}, {x + 26*s, y}}, color.RGBA{30, 30, 30, 110}, 2.5*s, false)
	}})
	x, y := f.left, f.h-24*s*f.legendRows
	for i := range es {
		w := 34*s + textWidth(es[i].label, 13*s) + 28*s
		if x+w > f.w-20*s && x > f.left {
			x, y = f.left, y+24*s
		}
		es[i].x, es[i].y = x, y
		x += w
	}
	return es
}

// textWidth is the width of a label in the PNG's font (the SVG's
// sans-serif is narrower).
func textWidth(t string, size float64) float64 {
	scale := math.Max(1, math.Round(size/7))
	return float64(len([]rune(t))) * (glyphW + 1) * scale
}

// niceTicks are about n round values (1, 2 or 5 × 10^k apart) in [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9*step; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// tickLabel writes a tick value with the decimals its spacing needs, and
// large values with K/M/B.
func tickLabel(v float64, ticks []float64) string {
	if math.Abs(v) >= 10000 {
		return run.Count(int64(math.Round(v)))
	}
	step := 1.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	dec := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// pngCanvas rasterises onto an RGBA image: antialiased lines of any width
// (coverage from the distance to the segment), the 5×7 font scaled up.
type pngCanvas struct {
	img   *image.RGBA
	clipR [4]float64 // x0, y0, x1, y1
}

func newPNGCanvas(w, h int) *pngCanvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	c := &pngCanvas{img: img}
	c.unclip()
	return c
}

func (c *pngCanvas) clip(x, y, w, h float64) { c.clipR = [4]float64{x, y, x + w, y + h} }
func (c *pngCanvas) unclip() {
	b := c.img.Bounds()
	c.clipR = [4]float64{0, 0, float64(b.Dx()), float64(b.Dy())}
}

// paint blends color col into the pixels of cov (pixel index → coverage).
func (c *pngCanvas) paint(cov map[int]float64, col color.RGBA) {
	for i, a := range cov {
		a *= float64(col.A) / 255
		p := c.img.Pix[i*4 : i*4+3]
		for k, v := range [3]uint8{col.R, col.G, col.B} {
			p[k] = uint8(math.Round(float64(p[k])*(1-a) + float64(v)*a))
		}
	}
}

// cover adds the coverage of a segment of width w to cov (the maximum
// where segments overlap, so joints are not darker).
func (c *pngCanvas) cover(cov map[int]float64, a, b pt, w float64) {
	r := w/2 + 1
	x0, x1 := math.Max(math.Floor(min(a.x, b.x)-r), c.clipR[0]), math.Min(math.Ceil(max(a.x, b.x)+r), c.clipR[2])
	y0, y1 := math.Max(math.Floor(min(a.y, b.y)-r), c.clipR[1]), math.Min(math.Ceil(max(a.y, b.y)+r), c.clipR[3])
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	stride := c.img.Bounds().Dx()
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			cx, cy := x+0.5, y+0.5
			t := 0.0
			if l2 > 0 {
				t = math.Max(0, math.Min(1, ((cx-a.x)*dx+(cy-a.y)*dy)/l2))
			}
			d := math.Hypot(cx-(a.x+t*dx), cy-(a.y+t*dy))
			if v := math.Min(1, w/2+0.5-d); v > 0 {
				i := int(y)*stride + int(x)
				cov[i] = math.Max(cov[i], v)
			}
		}
	}
}

func (c *pngCanvas) line(pts []pt, col color.RGBA, w float64, dash bool) {
	cov := map[int]float64{}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if !dash {
			c.cover(cov, a, b, w)
			continue
		}
		l := math.Hypot(b.x-a.x, b.y-a.y)
		const on, off = 6.0, 4.0
		for s := 0.0; s < l; s += on + off {
			e := math.Min(l, s+on)
			c.cover(cov, pt{a.x + (b.x-a.x)*s/l, a.y + (b.y-a.y)*s/l}, pt{a.x + (b.x-a.x)*e/l, a.y + (b.y-a.y)*e/l}, w)
		}
	}
	c.paint(cov, col)
}

func (c *pngCanvas) dot(x, y, r float64, col color.RGBA) {
	cov := map[int]float64{}
	c.cover(cov, pt{x, y}, pt{x, y}, 2*r)
	c.paint(cov, col)
}

func (c *pngCanvas) triangle(x, y, size float64, col color.RGBA) {
	cov := map[int]float64{}
	for row := 0.0; row < size; row++ { // rows of shrinking width up to the tip
		half := (size - row) / 2
		yy := y - row - 0.5
		c.cover(cov, pt{x - half, yy}, pt{x + half, yy}, 1)
	}
	c.paint(cov, col)
}

func (c *pngCanvas) rect(x, y, w, h float64, col color.RGBA) {
	c.line([]pt{{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}, {x, y}}, col, 1, false)
}

func (c *pngCanvas) text(x, y float64, s string, size float64, anchor int, col color.RGBA) {
	scale := math.Max(1, math.Round(size/7))
	rs := []rune(s)
	width := float64(len(rs))*(glyphW+1)*scale - scale
	left := x
	switch anchor {
	case 0:
		left -= width / 2
	case 1:
		left -= width
	}
	left, top := math.Round(left), math.Round(y-glyphH*scale/2)
	stride := c.img.Bounds().Dx()
	cov := map[int]float64{}
	for k, r := range rs {
		g := glyph(r)
		for gy, row := range g {
			for gx, ch := range row {
				if ch != '#' {
					continue
				}
				for dy := 0.0; dy < scale; dy++ {
					for dx := 0.0; dx < scale; dx++ {
						px := left + float64(k)*(glyphW+1)*scale + float64(gx)*scale + dx
						py := top + float64(gy)*scale + dy
						if px >= 0 && py >= 0 && px < float64(stride) && py < float64(c.img.Bounds().Dy()) {
							cov[int(py)*stride+int(px)] = 1
						}
					}
				}
			}
		}
	}
	c.paint(cov, col)
}

// svgCanvas writes SVG elements.
type svgCanvas struct {
	b     strings.Builder
	clips int
	open  bool
}

// svgPaint is a stroke or fill attribute for a color, with its opacity.
func svgPaint(attr string, c color.RGBA) string {
	s := fmt.Sprintf(`%s="rgb(%d,%d,%d)"`, attr, c.R, c.G, c.B)
	if c.A != 255 {
		s += fmt.Sprintf(` %s-opacity="%.2f"`, attr, float64(c.A)/255)
	}
	return s
}

func (c *svgCanvas) clip(x, y, w, h float64) {
	c.clips++
	fmt.Fprintf(&c.b, `<clipPath id="panel%d"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`+"\n", c.clips, x, y, w, h)
	fmt.Fprintf(&c.b, `<g clip-path="url(#panel%d)">`+"\n", c.clips)
	c.open = true
}

func (c *svgCanvas) unclip() {
	if c.open {
		c.b.WriteString("</g>\n")
		c.open = false
	}
}

func (c *svgCanvas) line(pts []pt, col color.RGBA, w float64, dash bool) {
	if len(pts) < 2 {
		return
	}
	c.b.WriteString(`<polyline fill="none" stroke-linejoin="round" points="`)
	for i, p := range pts {
		if i > 0 {
			c.b.WriteByte(' ')
		}
		fmt.Fprintf(&c.b, "%.1f,%.1f", p.x, p.y)
	}
	fmt.Fprintf(&c.b, `" %s stroke-width="%.2f"`, svgPaint("stroke", col), w)
	if dash {
		c.b.WriteString(` stroke-dasharray="6,4"`)
	}
	c.b.WriteString("/>\n")
}

func (c *svgCanvas) dot(x, y, r float64, col color.RGBA) {
	fmt.Fprintf(&c.b, `<circle cx="%.1f" cy="%.1f" r="%.1f" %s/>`+"\n", x, y, r, svgPaint("fill", col))
}

func (c *svgCanvas) triangle(x, y, size float64, col color.RGBA) {
	fmt.Fprintf(&c.b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" %s/>`+"\n",
		x-size/2, y-size, x+size/2, y-size, x, y, svgPaint("fill", col))
}

func (c *svgCanvas) rect(x, y, w, h float64, col color.RGBA) {
	fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" %s/>`+"\n", x, y, w, h, svgPaint("stroke", col))
}

func (c *svgCanvas) text(x, y float64, s string, size float64, anchor int, col color.RGBA) {
	a := [3]string{"start", "middle", "end"}[anchor+1]
	var esc strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			esc.WriteString("&lt;")
		case '>':
			esc.WriteString("&gt;")
		case '&':
			esc.WriteString("&amp;")
		default:
			esc.WriteRune(r)
		}
	}
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" font-size="%.1f" text-anchor="%s" dominant-baseline="central" %s>%s</text>`+"\n",
		x, y, size, a, svgPaint("fill", col), esc.String())
}

func (c *svgCanvas) finish(w, h float64) string {
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">`+"\n", w, h, w, h) +
		fmt.Sprintf(`<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", w, h) + c.b.String() + "</svg>\n"
}
