package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeRun writes a run directory whose metrics.jsonl has n updates of a
// loss falling from 8 to about floor, evaluations every 20 updates, and
// merges and resets every 25 updates.
func fakeRun(t *testing.T, dir string, n int, floor float64, relora bool) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	var b strings.Builder
	for u := 1; u <= n; u++ {
		loss := floor + (8-floor)*math.Exp(-float64(u)/10) + 0.05*math.Sin(float64(u))
		fmt.Fprintf(&b, `{"update_step":%d,"loss":%g,"lr":0.001,"grad_norm":1,"tokens_seen":%d,"tokens_per_s":100,"time":"x"}`+"\n", u, loss, 512*u)
		if u%20 == 0 {
			fmt.Fprintf(&b, `{"update_step":%d,"val_loss":%g,"val_ppl":1}`+"\n", u, loss+0.1)
		}
		if relora && u%25 == 1 && u > 1 {
			fmt.Fprintf(&b, `{"update_step":%d,"event":"merge","merges":1}`+"\n", u)
			fmt.Fprintf(&b, `{"update_step":%d,"event":"optimizer_reset","fraction_zeroed":0.99}`+"\n", u)
		}
	}
	b.WriteString(`{"update_step":` + strconv.Itoa(n+1)) // a torn line, as a live run may leave
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(b.String()), 0o644)
}

type svgDoc struct {
	Polylines []struct {
		Stroke string `xml:"stroke,attr"`
		Dash   string `xml:"stroke-dasharray,attr"`
		Points string `xml:"points,attr"`
	} `xml:"g>polyline"`
	Polygons []struct {
		Fill string `xml:"fill,attr"`
	} `xml:"g>polygon"`
	Texts []string `xml:"text"`
}

// Issue 13: relora-cpu plot draws several runs' train and val curves with
// their merge and reset marks, y limits from the data, as PNG and SVG.
func TestPlotCommand(t *testing.T) {
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "full"), filepath.Join(tmp, "relora")
	fakeRun(t, a, 100, 2.0, false)
	fakeRun(t, b, 100, 2.5, true)
	out := filepath.Join(tmp, "fig", "loss")
	code, stdout, errs := runCLI("plot", "--out", out, a, b)
	if code != 0 {
		t.Fatal(errs)
	}
	if !strings.Contains(stdout, "2 runs plotted") {
		t.Errorf("stdout %q", stdout)
	}
	raw, err := os.ReadFile(out + ".png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 1200 || h != 500 {
		t.Errorf("PNG is %d×%d", w, h)
	}
	// both runs' colors are drawn
	found := map[[3]uint8]int{}
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			found[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	for i := 0; i < 2; i++ {
		c := palette[i]
		if found[[3]uint8{c.R, c.G, c.B}] < 200 {
			t.Errorf("run %d's color %v: %d pixels in the PNG", i, c, found[[3]uint8{c.R, c.G, c.B}])
		}
	}
	svg, err := os.ReadFile(out + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("the SVG does not parse: %v", err)
	}
	curves, merges := map[string]int{}, 0
	for _, p := range doc.Polylines {
		if p.Dash != "" {
			merges++
		} else if strings.Count(p.Points, " ") > 3 {
			curves[p.Stroke]++
		}
	}
	for i := 0; i < 2; i++ {
		c := fmt.Sprintf("rgb(%d,%d,%d)", palette[i].R, palette[i].G, palette[i].B)
		if curves[c] != 2 {
			t.Errorf("run %d: %d curves (want train and val)", i, curves[c])
		}
	}
	if merges != 2*3 { // merges at 26, 51, 76 on both panels
		t.Errorf("%d merge lines, want 6", merges)
	}
	if len(doc.Polygons) != 2*3 {
		t.Errorf("%d reset marks, want 6", len(doc.Polygons))
	}
	// the y ticks cover the data (from 2 to about 4.2 after the first 10%
	// of the updates) and not the initial loss of 8
	var ys []float64
	for _, txt := range doc.Texts {
		if v, err := strconv.ParseFloat(txt, 64); err == nil && v < 20 { // the x ticks are 20, 40, ...
			ys = append(ys, v)
		}
	}
	if len(ys) < 4 {
		t.Fatalf("y tick labels: %v (texts %v)", ys, doc.Texts)
	}
	lo, hi := ys[0], ys[0]
	for _, v := range ys {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > 2.1 || lo < 1.5 || hi < 3.8 || hi > 5 {
		t.Errorf("y ticks from %g to %g, want about 2 to 4.5", lo, hi)
	}
	for _, want := range []string{"full", "relora", "ReLoRA merge", "optimizer reset", "nats per byte"} {
		if !strings.Contains(string(svg), ">"+want+"<") {
			t.Errorf("the SVG has no text %q", want)
		}
	}
	oneLineError(t, []string{"plot"}, "name the run directories")
	oneLineError(t, []string{"plot", tmp}, "not a run directory")
	oneLineError(t, []string{"plot", "--x", "time", a}, "--x must be update or tokens")
}
