package main

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"slices"

	"github.com/relora-go/relora-go/relora/run"
)

// The figure of relora-cpu analyze: one panel per projection kind (the
// attention's four on top, the MLP's three below, the legend in the eighth
// cell), each with the normalised spectra σᵢ/σ₁ of ΔW on a log scale
// against the index i, one color per run and one line per layer, the
// rank r dashed and the threshold dotted. It draws on plot.go's canvases
// (the PNG rasteriser and the SVG writer), through the same canvas
// interface as the loss figure.

// spectraFigure is the layout shared by both renderers.
type spectraFigure struct {
	rep            *analyzeReport
	kinds          []string
	w, h           float64
	left, top      float64
	panelW, panelH float64
	gapX, gapY     float64
	ylo            float64 // log10 of the lowest σᵢ/σ₁ shown
	ranks          []int   // the distinct r of the runs
}

func drawSpectra(rep *analyzeReport, w float64) (pngBytes, svg []byte, err error) {
	f := newSpectraFigure(rep, w)
	pc := newPNGCanvas(int(f.w), int(f.h))
	f.draw(pc)
	var pb bytes.Buffer
	if err := png.Encode(&pb, pc.img); err != nil {
		return nil, nil, err
	}
	sc := &svgCanvas{}
	f.draw(sc)
	return pb.Bytes(), []byte(sc.finish(f.w, f.h)), nil
}

func newSpectraFigure(rep *analyzeReport, w float64) *spectraFigure {
	s := w / 1400
	f := &spectraFigure{rep: rep, kinds: run.ProjectionKinds(), w: w}
	f.left, f.top, f.gapX, f.gapY = 78*s, 70*s, 64*s, 92*s
	f.panelW = (w - f.left - 3*f.gapX - 24*s) / 4
	f.panelH = math.Round(f.panelW * 0.78)
	f.h = math.Round(f.top + 2*f.panelH + f.gapY + 62*s)
	lo := 0.0
	for _, r := range rep.Runs {
		if !slices.Contains(f.ranks, r.R) && r.R > 0 {
			f.ranks = append(f.ranks, r.R)
		}
		for _, m := range r.Spectra {
			for _, v := range m.Sigma {
				if v > 0 && m.Sigma[0] > 0 {
					lo = math.Min(lo, math.Log10(v/m.Sigma[0]))
				}
			}
		}
	}
	// every value, down to 1e-12; the threshold at least a decade above the bottom
	f.ylo = math.Max(-12, math.Min(math.Floor(lo), math.Floor(math.Log10(rep.Threshold))-1))
	return f
}

// panel returns the top-left corner of panel k (0..6; 7 is the legend).
func (f *spectraFigure) panel(k int) (x0, y0 float64) {
	row, col := k/4, k%4
	return f.left + float64(col)*(f.panelW+f.gapX), f.top + float64(row)*(f.panelH+f.gapY)
}

func (f *spectraFigure) draw(cv canvas) {
	s := f.w / 1400
	cv.text(f.w/2, 22*s, fmt.Sprintf("singular values of the update W_final - W_start: sigma_i / sigma_1, one line per layer (threshold %g)", f.rep.Threshold), 15*s, 0, ink)
	step := 1.0 // decades between y ticks
	if -f.ylo > 6 {
		step = 2
	}
	for k, kind := range f.kinds {
		f.drawPanel(cv, k, kind, step)
	}
	f.drawLegend(cv)
}

// drawPanel draws panel k: the spectra of one matrix kind, every run's
// layers, the ranks r and the threshold marked, y ticks every step decades.
func (f *spectraFigure) drawPanel(cv canvas, k int, kind string, step float64) {
	s := f.w / 1400
	x0, y0 := f.panel(k)
	n := 0 // the longest spectrum of this kind
	shape := ""
	for _, r := range f.rep.Runs {
		for _, m := range r.byKind[kind] {
			if len(m.Sigma) > n {
				n = len(m.Sigma)
				shape = fmt.Sprintf("%dx%d", m.Shape[0], m.Shape[1])
			}
		}
	}
	if n == 0 {
		return
	}
	xlo, xhi := 1.0, math.Max(2, float64(n))
	px := func(x float64) float64 { return x0 + (x-xlo)/(xhi-xlo)*f.panelW }
	py := func(y float64) float64 { return y0 + (0-y)/(0-f.ylo)*f.panelH }
	xt := niceTicks(xlo, xhi, 4)
	if xt[0] > xlo+0.5 {
		xt = append([]float64{1}, xt...)
	}
	for _, v := range xt {
		cv.line([]pt{{px(v), y0}, {px(v), y0 + f.panelH}}, grid, 1*s, false)
		cv.text(px(v), y0+f.panelH+14*s, tickLabel(v, xt[1:]), 13*s, 0, ink)
	}
	for d := 0.0; d >= f.ylo-1e-9; d -= step {
		cv.line([]pt{{x0, py(d)}, {x0 + f.panelW, py(d)}}, grid, 1*s, false)
		if k%4 == 0 {
			cv.text(x0-8*s, py(d), decadeLabel(d), 13*s, 1, ink)
		}
	}
	cv.text(x0+f.panelW/2, y0-14*s, fmt.Sprintf("%s (%s)", kind, shape), 15*s, 0, ink)
	cv.text(x0+f.panelW/2, y0+f.panelH+34*s, "index i", 13*s, 0, ink)
	cv.clip(x0, y0, f.panelW, f.panelH)
	faint := color.RGBA{30, 30, 30, 150}
	for _, r := range f.ranks {
		if float64(r) < xhi {
			cv.line([]pt{{px(float64(r)), y0}, {px(float64(r)), y0 + f.panelH}}, faint, 1.2*s, true)
		}
	}
	ty := py(math.Log10(f.rep.Threshold))
	for x := x0; x < x0+f.panelW; x += 8 * s { // dotted: the threshold
		cv.line([]pt{{x, ty}, {math.Min(x+2*s, x0+f.panelW), ty}}, faint, 1.2*s, false)
	}
	for i, r := range f.rep.Runs {
		c := palette[i%len(palette)]
		if len(r.byKind[kind]) > 1 {
			c.A = 190
		}
		for _, m := range r.byKind[kind] {
			cv.line(f.spectrumPoints(m.Sigma, px, py), c, 1.4*s, false)
		}
	}
	cv.unclip()
	cv.rect(x0, y0, f.panelW, f.panelH, ink)
}

// drawLegend draws the legend in the eighth cell: the runs, the ranks'
// mark and the threshold's.
func (f *spectraFigure) drawLegend(cv canvas) {
	s := f.w / 1400
	x0, y0 := f.panel(7)
	y := y0 + 10*s
	for i, r := range f.rep.Runs {
		c := palette[i%len(palette)]
		cv.line([]pt{{x0, y}, {x0 + 26*s, y}}, c, 2.5*s, false)
		name := []rune(r.Name) // cut to the cell (the PNG font is the wider)
		for len(name) > 3 && textWidth(string(name), 13*s) > f.w-x0-34*s-8*s {
			name = append(name[:len(name)-3], '.', '.')
		}
		cv.text(x0+34*s, y, string(name), 13*s, -1, ink)
		y += 22 * s
	}
	faint := color.RGBA{30, 30, 30, 150}
	if len(f.ranks) > 0 {
		rs := ""
		for i, r := range f.ranks {
			if i > 0 {
				rs += ", "
			}
			rs += fmt.Sprint(r)
		}
		cv.line([]pt{{x0 + 13*s, y - 8*s}, {x0 + 13*s, y + 8*s}}, faint, 1.2*s, true)
		cv.text(x0+34*s, y, "i = r ("+rs+")", 13*s, -1, ink)
		y += 22 * s
	}
	for x := x0; x < x0+26*s; x += 8 * s {
		cv.line([]pt{{x, y}, {x + 2*s, y}}, faint, 1.2*s, false)
	}
	cv.text(x0+34*s, y, "threshold", 13*s, -1, ink)
}

// spectrumPoints are the points of one normalised spectrum, one per pixel
// column at most (a spectrum is monotone, so nothing is lost), values
// below the axis (and zeros) drawn at its bottom.
func (f *spectraFigure) spectrumPoints(sigma []float64, px, py func(float64) float64) []pt {
	if len(sigma) == 0 || !(sigma[0] > 0) {
		return nil
	}
	var pts []pt
	last := math.Inf(-1)
	for i, v := range sigma {
		x := px(float64(i + 1))
		if x-last < 1 && i != len(sigma)-1 {
			continue
		}
		last = x
		y := f.ylo
		if v > 0 {
			y = math.Max(f.ylo, math.Log10(v/sigma[0]))
		}
		pts = append(pts, pt{x, py(y)})
	}
	if len(pts) == 1 {
		pts = append(pts, pts[0])
	}
	return pts
}

// decadeLabel writes 10^d as 1, 1e-2, ...
func decadeLabel(d float64) string {
	if d == 0 {
		return "1"
	}
	return fmt.Sprintf("1e%d", int(math.Round(d)))
}
