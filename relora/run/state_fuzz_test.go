package run

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/relora-go/relora-go/relora"
)

// seedState is a training_state.json as SaveCheckpoint writes it.
func seedState() []byte {
	o := DefaultOptions()
	o.Relora, o.CycleLength, o.Scheduler, o.RestartWarmup, o.WarmupSteps = 100, 100, relora.ScheduleCosineRestarts, 10, 30
	st := trainingState{Format: checkpointFormat, Update: 120, TokensSeen: 120 * 8 * 128, StageStart: 0, Wrapped: true,
		Merges: 1, Resets: 1, AdamStep: 120, DataEpoch: 0, DataNext: 960,
		Streams: map[string][]byte{"factors": relora.NewStream(1, 0xfac7).State(), "prune": relora.NewStream(1, 0x9e5e7).State(), "dropout.0": relora.NewStream(3, 0).State()},
		Options: o}
	b, _ := json.MarshalIndent(st, "", "  ")
	return append(b, '\n')
}

// FuzzTrainingState feeds arbitrary training_state.json files to the
// parser behind resume and the checkpoint loaders: it must refuse them with
// an error or accept a state whose fields are in range and that survives
// a round trip unchanged. The seeds (here and in
// testdata/fuzz/FuzzTrainingState) include the edits of issue 16.
func FuzzTrainingState(f *testing.F) {
	good := seedState()
	f.Add(good)
	for _, r := range [][2]string{
		{`"adam_step": 120`, `"adam_step": -1`},
		{`"adam_step": 120`, `"adam_step": 121`},
		{`"data_next": 960`, `"data_next": 9223372036854775807`},
		{`"update_step": 120`, `"update_step": 1e9`},
		{`"data_epoch": 0`, `"data_epoch": "zero"`},
		{`"format": 2`, `"format": 3`},
		{`"format": 2`, `"format": 1`},
		{`"factors": "`, `"factors": "A`},
		{`"Steps": 600`, `"Steps": 0`},
		{`"LoraR": 128`, `"LoraR": -5`},
		{`"ClipGradNorm": 1`, `"ClipGradNorm": 1e400`},
	} {
		f.Add(bytes.Replace(good, []byte(r[0]), []byte(r[1]), 1))
	}
	f.Add(append(append([]byte(nil), good...), "{}"...))
	f.Add(good[:len(good)/2])
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseTrainingState("fuzz", b)
		if err != nil {
			return
		}
		if st.Update < 0 || st.AdamStep < 0 || st.AdamStep > st.Update || st.DataNext < 0 || st.DataEpoch < 0 ||
			st.TokensSeen < 0 || st.StageStart > st.Update || st.Update > st.Options.Steps {
			t.Fatalf("accepted a state out of range: %+v", st)
		}
		for name, s := range st.Streams {
			if err := relora.NewStream(0, 0).Restore(s); err != nil {
				t.Fatalf("accepted an invalid stream %q", name)
			}
		}
		again, _ := json.Marshal(st)
		st2, err := parseTrainingState("again", again)
		if err != nil {
			t.Fatalf("an accepted state does not parse after a round trip: %v", err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", st, st2)
		}
	})
}

// The seed state parses, and the fields the issue edited are checked.
func TestParseTrainingState(t *testing.T) {
	good := seedState()
	if _, err := parseTrainingState("seed", good); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][3]string{
		{`"adam_step": 120`, `"adam_step": -1`, `field "adam_step" is -1`},
		{`"adam_step": 120`, `"adam_step": 121`, `field "adam_step" is 121, more than the update_step 120`},
		{`"format": 2`, `"format": 3`, `field "format" is 3`},
		{`"update_step": 120`, `"update_step": 601`, `field "update_step" is 601, beyond the run's 600 updates`},
		{`"ClipGradNorm": 1`, `"ClipGradNorm": -1e300`, ""},
		{`"Seed": 1`, `"Seed": -1`, "not a valid training state"},
	} {
		_, err := parseTrainingState("state.json", bytes.Replace(good, []byte(r[0]), []byte(r[1]), 1))
		switch {
		case r[2] == "" && err != nil:
			t.Errorf("%s: %v", r[1], err)
		case r[2] != "" && (err == nil || !bytes.Contains([]byte(err.Error()), []byte(r[2]))):
			t.Errorf("%s: error %v, want %q", r[1], err, r[2])
		}
	}
}
