package data

import (
	"os"
	"path/filepath"
	"testing"
)

// brown4096Path is the committed Brown BPE (data/tokenizer's tests check it).
const brown4096Path = "../testdata/tokenizer/brown-4096.json"

// brownFile finds a file of the full Brown corpus (train.txt.gz or
// val.txt.gz; see data/tokenizer's brownFile, whose search this is from
// this directory) and skips the test when none has it.
func brownFile(t testing.TB, name string) string {
	var dirs []string
	if d := os.Getenv("RELORA_SHARED"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "../../shared", "../shared", "/work/shared")
	for _, d := range dirs {
		p := filepath.Join(d, "data", "brown", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("Brown corpus file %s not found (set RELORA_SHARED to a folder that holds data/brown/%s)", name, name)
	return ""
}
