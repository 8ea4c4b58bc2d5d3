package relora

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// jagged is the schedule of the golden vector of docs/METHOD.md §5.
var jagged = Schedule{Kind: ScheduleCosineRestarts, Steps: 100, Warmup: 10, RestartWarmup: 5, Cycle: 25, MinRatio: 0.1}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestJaggedGoldenSpec checks 17 golden points of that schedule (a subset of
// refVectorB; docs/METHOD.md §5 and §10).
func TestJaggedGoldenSpec(t *testing.T) {
	if err := jagged.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[int]float64{
		0: 0, 5: 0.5, 10: 1.0, 11: 0.9997258722, 24: 0.9473264168, 25: 0,
		26: 0.1789439999, 30: 0.8947199994, 31: 0.8844151715, 50: 0, 55: 0.55,
		56: 0.5342952265, 75: 0, 76: 0.0410560001, 80: 0.2052800006,
		99: 0.1002741278, 100: 0,
	}
	for step, w := range want {
		if got := jagged.Lambda(step); !near(got, w, 1e-9) {
			t.Errorf("λ(%d) = %.12f, want %.10f", step, got, w)
		}
	}
}

// refVectorB is the full vector (t = 0..100) of the jagged schedule,
// produced by executing the reference code's own schedule function
// (docs/METHOD.md §10).
var refVectorB = []float64{
	0.0000000000, 0.1000000000, 0.2000000000, 0.3000000000, 0.4000000000, 0.5000000000, 0.6000000000, 0.7000000000, 0.8000000000, 0.9000000000,
	1.0000000000, 0.9997258722, 0.9989038226, 0.9975348529, 0.9956206309, 0.9931634889, 0.9901664203, 0.9866330768, 0.9825677632, 0.9779754323,
	0.9728616794, 0.9672327346, 0.9610954559, 0.9544573208, 0.9473264168, 0.0000000000, 0.1789439999, 0.3578879998, 0.5368319996, 0.7157759995,
	0.8947199994, 0.8844151715, 0.8737029102, 0.8625962667, 0.8511087729, 0.8392544244, 0.8270476639, 0.8145033635, 0.8016368066, 0.7884636689,
	0.7750000000, 0.7612622033, 0.7472670161, 0.7330314894, 0.7185729670, 0.7039090645, 0.6890576475, 0.6740368101, 0.6588648530, 0.6435602609,
	0.0000000000, 0.1100000000, 0.2200000000, 0.3300000000, 0.4400000000, 0.5500000000, 0.5342952265, 0.5186095868, 0.5029621915, 0.4873721046,
	0.4718583200, 0.4564397391, 0.4411351470, 0.4259631899, 0.4109423525, 0.3960909355, 0.3814270330, 0.3669685106, 0.3527329839, 0.3387377967,
	0.3250000000, 0.3115363311, 0.2983631934, 0.2854966365, 0.2729523361, 0.0000000000, 0.0410560001, 0.0821120002, 0.1231680004, 0.1642240005,
	0.2052800006, 0.1953951609, 0.1859423525, 0.1769330924, 0.1683783567, 0.1602885683, 0.1526735832, 0.1455426792, 0.1389045441, 0.1327672654,
	0.1271383206, 0.1220245677, 0.1174322368, 0.1133669232, 0.1098335797, 0.1068365111, 0.1043793691, 0.1024651471, 0.1010961774, 0.1002741278,
	0.0000000000,
}

func TestJaggedFullReferenceVector(t *testing.T) {
	for step, w := range refVectorB {
		if got := jagged.Lambda(step); !near(got, w, 1e-9) {
			t.Errorf("λ(%d) = %.12f, want %.10f", step, got, w)
		}
	}
}

// TestCosineReferenceVectors checks two vectors of the reference's cyclical
// cosine, without and with cycles, produced by executing the reference code
// (docs/METHOD.md §5 and §10).
func TestCosineReferenceVectors(t *testing.T) {
	d := Schedule{Kind: ScheduleCosine, Steps: 100, Warmup: 10, MinRatio: 0.1}
	wantD := map[int]float64{0: 0, 1: 0.1, 9: 0.9, 10: 1, 11: 0.9997258722, 25: 0.9397114317,
		50: 0.6281416800, 55: 0.55, 75: 0.2607455756, 99: 0.1002741278, 100: 1e-7}
	e := Schedule{Kind: ScheduleCosine, Steps: 100, Warmup: 10, Cycle: 50, MinRatio: 0.1}
	wantE := map[int]float64{0: 0, 1: 0.1, 9: 0.9, 10: 1, 30: 0.55, 49: 0.1013871998, 50: 1e-7,
		51: 1e-7, 52: 0.2, 55: 0.5, 59: 0.9, 60: 1, 80: 0.55, 99: 0.1013871998}
	for _, c := range []struct {
		s    Schedule
		want map[int]float64
	}{{d, wantD}, {e, wantE}} {
		if err := c.s.Validate(); err != nil {
			t.Fatal(err)
		}
		for step, w := range c.want {
			if got := c.s.Lambda(step); !near(got, w, 1e-9) {
				t.Errorf("%+v: λ(%d) = %.12f, want %.10f", c.s, step, got, w)
			}
		}
	}
}

type goldenCase struct {
	Kind          string    `json:"kind"`
	Steps         int       `json:"steps"`
	Warmup        int       `json:"warmup"`
	RestartWarmup int       `json:"restart_warmup"`
	Cycle         int       `json:"cycle"`
	MinRatio      float64   `json:"min_ratio"`
	AdjustStep    int       `json:"adjust_step"`
	Lambda        []float64 `json:"lambda"`
}

// TestGeneratedGolden compares with testdata/schedule_golden.json, written by
// testdata/gen_schedule.py (an independent Python derivation of the
// formulas).
func TestGeneratedGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/schedule_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 8 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	adjusted := false
	for _, c := range cases {
		s := Schedule{Kind: c.Kind, Steps: c.Steps, Warmup: c.Warmup, RestartWarmup: c.RestartWarmup,
			Cycle: c.Cycle, MinRatio: c.MinRatio, AdjustStep: c.AdjustStep}
		if err := s.Validate(); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if len(c.Lambda) != c.Steps+1 {
			t.Fatalf("%+v: %d values", s, len(c.Lambda))
		}
		if c.AdjustStep != 0 {
			adjusted = true
		}
		for step, w := range c.Lambda {
			if got := s.Lambda(step); !near(got, w, 1e-12) {
				t.Errorf("%+v: λ(%d) = %.15f, want %.15f", s, step, got, w)
			}
		}
	}
	if !adjusted {
		t.Error("no golden case with a nonzero adjust_step")
	}
}

// TestGoldenUpToDate reruns the generator (when python3 is installed) and
// checks that the stored golden file is its output.
func TestGoldenUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command(py, "testdata/gen_schedule.py").Output()
	if err != nil {
		t.Fatalf("gen_schedule.py: %v", err)
	}
	stored, err := os.ReadFile("testdata/schedule_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(stored) {
		t.Error("testdata/schedule_golden.json is not the output of testdata/gen_schedule.py; regenerate it")
	}
}

// TestJaggedProperties checks structural facts of cosine_restarts on several
// configurations: zeros at k·C, continuity at the end of each restart ramp,
// first-warmup shape, the value 1 at the end of the first warmup (a = 0).
func TestJaggedProperties(t *testing.T) {
	for _, s := range []Schedule{
		jagged,
		{Kind: ScheduleCosineRestarts, Steps: 15000, Warmup: 500, RestartWarmup: 100, Cycle: 5000, MinRatio: 0.1},
		{Kind: ScheduleCosineRestarts, Steps: 90, Warmup: 0, RestartWarmup: 1, Cycle: 30, MinRatio: 0.5},
		{Kind: ScheduleCosineRestarts, Steps: 64, Warmup: 16, RestartWarmup: 16, Cycle: 16, MinRatio: 1},
	} {
		if err := s.Validate(); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		for k := 1; k*s.Cycle <= s.Steps; k++ {
			if got := s.Lambda(k * s.Cycle); got != 0 {
				t.Errorf("%+v: λ(%d·C) = %v, want 0", s, k, got)
			}
			if k*s.Cycle < s.Steps && s.RestartWarmup < s.Cycle {
				// The ramp lands on the cosine envelope: λ(kC+Wr) equals the
				// ramp's target, and λ(kC+Wr−1) is (Wr−1)/Wr of it.
				end := s.Lambda(k*s.Cycle + s.RestartWarmup)
				env := cosineFloor(s.MinRatio, k*s.Cycle+s.RestartWarmup-s.Warmup, s.Steps-s.Warmup)
				if !near(end, env, 1e-15) {
					t.Errorf("%+v: ramp %d ends at %v, envelope %v", s, k, end, env)
				}
				pre := s.Lambda(k*s.Cycle + s.RestartWarmup - 1)
				if !near(pre, env*float64(s.RestartWarmup-1)/float64(s.RestartWarmup), 1e-15) {
					t.Errorf("%+v: ramp %d: λ(kC+Wr−1) = %v", s, k, pre)
				}
			}
		}
		if s.Warmup > 0 {
			if got := s.Lambda(s.Warmup / 2); !near(got, float64(s.Warmup/2)/float64(s.Warmup), 1e-15) {
				t.Errorf("%+v: warmup midpoint %v", s, got)
			}
		}
		if s.Warmup < s.Cycle {
			if got := s.Lambda(s.Warmup); !near(got, 1, 1e-15) {
				t.Errorf("%+v: λ(W1) = %v, want 1", s, got)
			}
		}
		for step := 0; step <= s.Steps; step++ {
			if v := s.Lambda(step); !(v >= 0 && v <= 1) {
				t.Errorf("%+v: λ(%d) = %v out of [0,1]", s, step, v)
			}
		}
	}
}

// TestJaggedAdjustStep: with a > 0 the cosine is shifted by a after the first
// warmup, and the first restart ramp (t' = C, t = C − a) is skipped because the
// guard tests the unadjusted t ≥ C (reference behaviour).
func TestJaggedAdjustStep(t *testing.T) {
	s := jagged
	s.AdjustStep = 5
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	n, w1, m := 100.0, 10.0, 0.1
	env := func(x float64) float64 { return m + (1-m)*0.5*(1+math.Cos(math.Pi*x/(n-w1))) }
	if got := s.Lambda(10); !near(got, env(5), 1e-15) {
		t.Errorf("λ(10) = %v, want cos envelope at 5 = %v", got, env(5))
	}
	// t = 20: t' = 25, ρ = 0 but t < C: no ramp, plain envelope.
	if got := s.Lambda(20); !near(got, env(15), 1e-15) || got == 0 {
		t.Errorf("λ(20) = %v, want %v", got, env(15))
	}
	// t = 45: t' = 50, second boundary, t ≥ C: zero.
	if got := s.Lambda(45); got != 0 {
		t.Errorf("λ(45) = %v, want 0", got)
	}
	if got := s.Lambda(46); !near(got, 0.2*env(50+5-10), 1e-15) {
		t.Errorf("λ(46) = %v", got)
	}
}

func TestCosineHand(t *testing.T) {
	s := Schedule{Kind: ScheduleCosine, Steps: 200, Warmup: 20, MinRatio: 0.25}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := map[int]float64{
		0:   0,
		10:  0.5,
		20:  1,     // end of warmup
		110: 0.625, // half-way: m + (1−m)/2
		200: 1e-7,  // λ(N): the reference's "next cycle" value (never used)
		199: 0.25 + 0.75*0.5*(1+math.Cos(math.Pi*179/180)),
	}
	for step, w := range checks {
		if got := s.Lambda(step); !near(got, w, 1e-15) {
			t.Errorf("λ(%d) = %v, want %v", step, got, w)
		}
	}
	// Last update (k = N) runs at λ(N−1) ≈ m; the decay is monotone.
	for step := 21; step < 200; step++ {
		if s.Lambda(step) > s.Lambda(step-1) {
			t.Fatalf("not monotone at %d", step)
		}
	}
	// Cycle == Steps is the same as unset.
	c := s
	c.Cycle = 200
	for step := 0; step <= 200; step++ {
		if c.Lambda(step) != s.Lambda(step) {
			t.Fatalf("cycle=N differs at %d", step)
		}
	}
	// Warmup 0: starts at 1.
	z := Schedule{Kind: ScheduleCosine, Steps: 10, MinRatio: 0.1}
	if got := z.Lambda(0); got != 1 {
		t.Errorf("warmup 0: λ(0) = %v", got)
	}
}

func TestLinearHand(t *testing.T) {
	s := Schedule{Kind: ScheduleLinear, Steps: 100, Warmup: 20, MinRatio: 0.5}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := map[int]float64{0: 0, 5: 0.25, 20: 1, 60: 0.5, 90: 0.125, 99: 0.0125, 100: 0, 150: 0}
	for step, w := range checks {
		if got := s.Lambda(step); !near(got, w, 1e-15) {
			t.Errorf("λ(%d) = %v, want %v", step, got, w)
		}
	}
	// MinRatio is ignored by linear (transformers has no floor), so an
	// out-of-range value is accepted.
	s.MinRatio = 0
	if err := s.Validate(); err != nil {
		t.Errorf("linear with min ratio 0: %v", err)
	}
	// Warmup 0.
	z := Schedule{Kind: ScheduleLinear, Steps: 4}
	for step, w := range []float64{1, 0.75, 0.5, 0.25, 0} {
		if got := z.Lambda(step); !near(got, w, 1e-15) {
			t.Errorf("W=0: λ(%d) = %v, want %v", step, got, w)
		}
	}
}

func TestLambdaNegative(t *testing.T) {
	for _, s := range []Schedule{jagged, {Kind: ScheduleLinear, Steps: 10}, {Kind: ScheduleCosine, Steps: 10, MinRatio: 0.1}} {
		if got := s.Lambda(-1); got != 0 {
			t.Errorf("%s: λ(−1) = %v", s.Kind, got)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	base := jagged
	cases := []struct {
		name string
		mod  func(*Schedule)
		want []string
	}{
		{"unknown kind", func(s *Schedule) { s.Kind = "step" }, []string{"--scheduler", "step", "linear", "cosine", "cosine_restarts"}},
		{"empty kind", func(s *Schedule) { s.Kind = "" }, []string{"--scheduler"}},
		{"zero steps", func(s *Schedule) { s.Steps = 0 }, []string{"--num_training_steps"}},
		{"negative warmup", func(s *Schedule) { s.Warmup = -1 }, []string{"--warmup_steps"}},
		{"negative restart warmup", func(s *Schedule) { s.RestartWarmup = -2 }, []string{"--restart_warmup_steps"}},
		{"negative cycle", func(s *Schedule) { s.Cycle = -25 }, []string{"--cycle_length"}},
		{"negative adjust", func(s *Schedule) { s.AdjustStep = -1 }, []string{"--adjust_step"}},
		{"not divisible", func(s *Schedule) { s.Steps = 1000; s.Cycle = 300 }, []string{"--num_training_steps 1000 is not divisible by --cycle_length 300"}},
		{"min ratio 0", func(s *Schedule) { s.MinRatio = 0 }, []string{"--min_lr_ratio must be in (0, 1]"}},
		{"min ratio > 1", func(s *Schedule) { s.MinRatio = 1.5 }, []string{"--min_lr_ratio must be in (0, 1]"}},
		{"min ratio NaN", func(s *Schedule) { s.MinRatio = math.NaN() }, []string{"--min_lr_ratio"}},
		{"no cycle", func(s *Schedule) { s.Cycle = 0 }, []string{"--cycle_length is required"}},
		{"no restart warmup", func(s *Schedule) { s.RestartWarmup = 0 }, []string{"--restart_warmup_steps is required"}},
		{"a+W1 > C", func(s *Schedule) { s.AdjustStep = 16 }, []string{"--adjust_step 16 + --warmup_steps 10 exceeds --cycle_length 25"}},
		{"W1 > C", func(s *Schedule) { s.Warmup = 26 }, []string{"--warmup_steps 26", "--cycle_length 25"}},
		{"Wr > C", func(s *Schedule) { s.RestartWarmup = 26 }, []string{"--restart_warmup_steps 26 exceeds --cycle_length 25"}},
		{"adjust with cosine", func(s *Schedule) { s.Kind = ScheduleCosine; s.AdjustStep = 3 }, []string{"--adjust_step", "cosine_restarts"}},
		{"adjust with linear", func(s *Schedule) { s.Kind = ScheduleLinear; s.AdjustStep = 3 }, []string{"--adjust_step", "cosine_restarts"}},
		{"cosine not divisible", func(s *Schedule) { s.Kind = ScheduleCosine; s.Cycle = 30 }, []string{"--num_training_steps 100 is not divisible by --cycle_length 30"}},
		{"cosine min ratio", func(s *Schedule) { s.Kind = ScheduleCosine; s.MinRatio = -0.1 }, []string{"--min_lr_ratio"}},
	}
	for _, c := range cases {
		s := base
		c.mod(&s)
		err := s.Validate()
		if err == nil {
			t.Errorf("%s: no error for %+v", c.name, s)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
	// Valid edge configurations.
	for _, s := range []Schedule{
		{Kind: ScheduleCosineRestarts, Steps: 100, Warmup: 0, RestartWarmup: 25, Cycle: 25, MinRatio: 1},
		{Kind: ScheduleCosineRestarts, Steps: 100, Warmup: 20, RestartWarmup: 5, Cycle: 25, AdjustStep: 5, MinRatio: 0.1},
		{Kind: ScheduleCosine, Steps: 100, Warmup: 10, Cycle: 0, MinRatio: 0.1, RestartWarmup: 7}, // Wr ignored
		{Kind: ScheduleLinear, Steps: 10, Warmup: 20, Cycle: 3},                                   // cycle ignored
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: unexpected %v", s, err)
		}
	}
}

// TestEventTiming: with relora = cycle_length = 25 and the jagged schedule of
// docs/METHOD.md §5, merges and resets happen right after updates 26, 51, 76, each
// of which ran at LR 0 (update k uses λ(k−1)); no other update runs at LR 0
// except the very first one.
func TestEventTiming(t *testing.T) {
	const relora, cycle = 25, 25
	var merges, resets, zeroLR []int
	for k := 1; k <= jagged.Steps; k++ {
		if IsMergeStep(k, relora) {
			merges = append(merges, k)
		}
		if IsResetStep(k, cycle) {
			resets = append(resets, k)
		}
		if jagged.LR(1e-3, k) == 0 {
			zeroLR = append(zeroLR, k)
		}
	}
	want := []int{26, 51, 76}
	if !equalInts(merges, want) || !equalInts(resets, want) {
		t.Fatalf("merges %v resets %v, want %v", merges, resets, want)
	}
	if !equalInts(zeroLR, []int{1, 26, 51, 76}) {
		t.Fatalf("zero-LR updates %v", zeroLR)
	}
	// Warm start (docs/METHOD.md §7): 40 full-rank updates, then the
	// schedule restarts; events after absolute updates 66, 91, 116.
	const ws = 40
	var abs []int
	for u := ws + 1; u <= ws+jagged.Steps; u++ {
		if IsMergeStep(u-ws, relora) && IsResetStep(u-ws, cycle) {
			abs = append(abs, u)
		}
	}
	if !equalInts(abs, []int{66, 91, 116}) {
		t.Fatalf("warm-start events %v", abs)
	}
	// relora != cycle ("online ReLoRA"): merges every 10, resets every 50.
	var m2, r2 []int
	for k := 1; k <= 100; k++ {
		if IsMergeStep(k, 10) {
			m2 = append(m2, k)
		}
		if IsResetStep(k, 50) {
			r2 = append(r2, k)
		}
	}
	if !equalInts(m2, []int{11, 21, 31, 41, 51, 61, 71, 81, 91}) || !equalInts(r2, []int{51}) {
		t.Fatalf("online: merges %v resets %v", m2, r2)
	}
	// Never after update 1, never with period <= 1 (the reference's modulo
	// test cannot be 1).
	for _, p := range []int{0, 1, -3} {
		for k := 0; k < 10; k++ {
			if IsMergeStep(k, p) || IsResetStep(k, p) {
				t.Fatalf("event at %d with period %d", k, p)
			}
		}
	}
	if IsMergeStep(1, 25) || IsResetStep(1, 25) {
		t.Fatal("event after update 1")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
