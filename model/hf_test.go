package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var hfTiny = Config{Hidden: 32, Intermediate: 64, Heads: 4, Layers: 2, Vocab: 96, NormEps: 1e-6, InitRange: 0.02, Act: "silu", EOS: 1}

// writeST writes a safetensors file by hand with the given dtype for every
// tensor (F32, BF16 by truncation, F16 via float16 conversion of simple
// values, or I32), independently of WriteSafetensors.
func writeST(t *testing.T, path string, names []string, shapes [][]int, vals [][]float32, dtype string) {
	t.Helper()
	header := map[string]any{}
	var body []byte
	for i, n := range names {
		start := len(body)
		for _, v := range vals[i] {
			switch dtype {
			case "F32":
				body = binary.LittleEndian.AppendUint32(body, math.Float32bits(v))
			case "BF16":
				body = binary.LittleEndian.AppendUint16(body, uint16(math.Float32bits(v)>>16))
			case "I32":
				body = binary.LittleEndian.AppendUint32(body, uint32(int32(v)))
			}
		}
		header[n] = map[string]any{"dtype": dtype, "shape": shapes[i], "data_offsets": []int{start, len(body)}}
	}
	hj, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hj)))
	out = append(append(out, hj...), body...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func tensorsOf(m *Model) (names []string, shapes [][]int, vals [][]float32) {
	for _, n := range m.Tensors() {
		names = append(names, n.Name)
		shapes = append(shapes, n.T.Shape)
		vals = append(vals, n.T.Data)
	}
	return
}

func writeConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	b, _ := hfTiny.HFConfig()
	var m map[string]any
	json.Unmarshal(b, &m)
	if edit != nil {
		edit(m)
	}
	b, _ = json.Marshal(m)
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameTensors(t *testing.T, a, b *Model) {
	t.Helper()
	ta, tb := a.Tensors(), b.Tensors()
	if len(ta) != len(tb) {
		t.Fatalf("%d tensors vs %d", len(ta), len(tb))
	}
	for i := range ta {
		if ta[i].Name != tb[i].Name || !slices.Equal(ta[i].T.Shape, tb[i].T.Shape) || !slices.Equal(ta[i].T.Data, tb[i].T.Data) {
			t.Fatalf("tensor %s differs", ta[i].Name)
		}
	}
}

func TestHFImportExportRoundTrip(t *testing.T) {
	m := randomModel(hfTiny, 5)
	dir := filepath.Join(t.TempDir(), "hf")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config != m.Config && (back.Config.Hidden != m.Config.Hidden || back.Config.Vocab != m.Config.Vocab) {
		t.Fatalf("config %+v, want %+v", back.Config, m.Config)
	}
	sameTensors(t, m, back)
	dir2 := filepath.Join(t.TempDir(), "hf2")
	if err := back.Save(dir2); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors", "config.json"} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, _ := os.ReadFile(filepath.Join(dir2, f))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs after import and export", f)
		}
	}
}

func TestHFShardedBF16Tied(t *testing.T) {
	m := randomModel(hfTiny, 6)
	names, shapes, vals := tensorsOf(m)
	dir := t.TempDir()
	writeConfig(t, dir, func(c map[string]any) {
		c["tie_word_embeddings"] = true
		c["eos_token_id"] = []int{1, 2} // LLaMA-3 style list
		c["num_key_value_heads"] = 4
	})
	// two shards, lm_head left out (tied), BF16 in the second
	half := len(names) / 2
	writeST(t, filepath.Join(dir, "a.safetensors"), names[:half], shapes[:half], vals[:half], "F32")
	writeST(t, filepath.Join(dir, "b.safetensors"), names[half:len(names)-1], shapes[half:len(names)-1], vals[half:len(names)-1], "BF16")
	wm := map[string]string{}
	for i, n := range names[:len(names)-1] {
		wm[n] = "a.safetensors"
		if i >= half {
			wm[n] = "b.safetensors"
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": wm})
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644)
	got, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Head.Data, got.Embed.Data) || !slices.Equal(got.Embed.Data, m.Embed.Data) {
		t.Fatal("tied head is not the embedding")
	}
	for i, n := range got.Tensors() {
		if i >= len(names)-1 {
			break
		}
		for j, v := range n.T.Data {
			want := vals[i][j]
			if i >= half {
				want = math.Float32frombits(math.Float32bits(want) &^ 0xffff)
			}
			if v != want {
				t.Fatalf("%s[%d] = %g, want %g", n.Name, j, v, want)
			}
		}
	}
}

func TestHFErrors(t *testing.T) {
	m := randomModel(hfTiny, 7)
	names, shapes, vals := tensorsOf(m)
	cases := []struct {
		name string
		cfg  func(map[string]any)
		st   func(dir string)
		want string
	}{
		{"gqa", func(c map[string]any) { c["num_key_value_heads"] = 2 }, nil, "grouped-query attention is not supported"},
		{"rope theta", func(c map[string]any) { c["rope_theta"] = 500000.0 }, nil, "rope_theta 500000 is not supported"},
		{"rope scaling", func(c map[string]any) { c["rope_scaling"] = map[string]any{"type": "linear", "factor": 2} }, nil, "rope_scaling"},
		{"not llama", func(c map[string]any) { c["model_type"] = "mistral" }, nil, `model_type "mistral"`},
		{"no hidden", func(c map[string]any) { delete(c, "hidden_size") }, nil, `"hidden_size" is missing`},
		{"missing tensor", nil, func(dir string) {
			writeST(t, filepath.Join(dir, "model.safetensors"), names[1:], shapes[1:], vals[1:], "F32")
		}, `tensor "model.embed_tokens.weight" is missing`},
		{"no head, untied", nil, func(dir string) {
			n := len(names) - 1
			writeST(t, filepath.Join(dir, "model.safetensors"), names[:n], shapes[:n], vals[:n], "F32")
		}, "lm_head.weight\" is missing and tie_word_embeddings is false"},
		{"wrong shape", nil, func(dir string) {
			sh := slices.Clone(shapes)
			sh[1] = []int{hfTiny.Hidden / 2, 2}
			writeST(t, filepath.Join(dir, "model.safetensors"), names, sh, vals, "F32")
		}, "has shape [16 2], the model needs [32]"},
		{"int dtype", nil, func(dir string) {
			writeST(t, filepath.Join(dir, "model.safetensors"), names, shapes, vals, "I32")
		}, "is I32, not a float type"},
		{"no weights", nil, func(string) {}, "no model.safetensors or model.safetensors.index.json"},
	}
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "m")
		writeConfig(t, dir, c.cfg)
		if c.st != nil {
			c.st(dir)
		} else {
			writeST(t, filepath.Join(dir, "model.safetensors"), names, shapes, vals, "F32")
		}
		_, err := LoadHF(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

var updateHF = flag.Bool("update-hf", false, "rewrite testdata/hf/tiny and its golden logits (needs /usr/bin/python3 with torch)")

const hfGoldenDir = "../testdata/hf"

// hfGoldenIDs are the token ids whose logits gen_logits.py records.
var hfGoldenIDs = []int32{1, 17, 42, 95, 0, 63, 63, 8, 77, 30, 2, 55, 91, 14, 5, 88, 40, 23, 71, 9}

// TestHFGoldenLogits checks the training graph's logits on an exported
// tiny model against an independent PyTorch forward (gen_logits.py reads
// the model's config.json and model.safetensors itself).
func TestHFGoldenLogits(t *testing.T) {
	tiny := filepath.Join(hfGoldenDir, "tiny")
	golden := filepath.Join(hfGoldenDir, "tiny_logits.json")
	if *updateHF {
		if err := randomModel(hfTiny, 11).Save(tiny); err != nil {
			t.Fatal(err)
		}
		ids, _ := json.Marshal(hfGoldenIDs)
		cmd := exec.Command("/usr/bin/python3", filepath.Join(hfGoldenDir, "gen_logits.py"), tiny, string(ids), golden)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gen_logits.py: %v\n%s", err, out)
		}
	}
	m, err := LoadHF(tiny)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		IDs    []int32     `json:"input_ids"`
		Logits [][]float64 `json:"logits"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.IDs, hfGoldenIDs) {
		t.Fatalf("golden ids %v, want %v", g.IDs, hfGoldenIDs)
	}
	got := graphLogits(m, g.IDs, 2)
	dec, _ := NewDecoder(m, len(g.IDs), nil)
	for p, row := range g.Logits {
		cached, err := dec.Step(int(g.IDs[p]))
		if err != nil {
			t.Fatal(err)
		}
		// 1e-4 of the row's largest logit: float32 sums in another order
		// (the pure-Go kernels, AVX2, AVX-512) differ by about 1e-6.
		var scale float64
		for _, want := range row {
			scale = math.Max(scale, math.Abs(want))
		}
		for j, want := range row {
			for _, v := range []struct {
				what string
				got  float32
			}{{"graph", got[p*m.Config.Vocab+j]}, {"cached decoder", cached[j]}} {
				if d := math.Abs(float64(v.got) - want); d > 1e-4*scale {
					t.Fatalf("%s: position %d logit %d = %.7g, PyTorch %.7g", v.what, p, j, v.got, want)
				}
			}
		}
	}
}
