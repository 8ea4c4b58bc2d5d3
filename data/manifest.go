package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/relora-go/relora-go/engine/atomicfile"
)

// ManifestFile is the checksum list of a saved directory (a checkpoint, a
// run's final/, an export): one line "<sha256 in hex>  <file name>" per
// file, sorted by name, the format `sha256sum -c SHA256SUMS` checks.
const ManifestFile = "SHA256SUMS"

// FileSHA256 is the sha256 of a file's contents, in hex.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteManifest hashes the named files of dir and writes dir's
// ManifestFile (atomically).
func WriteManifest(dir string, names []string) error {
	names = append([]string(nil), names...)
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		sum, err := FileSHA256(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, n)
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestFile), b.Bytes())
}

// ReadManifest parses dir's ManifestFile into file name -> sha256. A
// missing manifest is an error that matches os.ErrNotExist.
func ReadManifest(dir string) (map[string]string, error) {
	path := filepath.Join(dir, ManifestFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseManifest(path, raw)
}

// ParseManifest parses the contents of a ManifestFile; path names it in
// errors.
func ParseManifest(path string, raw []byte) (map[string]string, error) {
	sums := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 2*sha256.Size {
			return nil, fmt.Errorf("%s: line %d is not \"<sha256>  <file name>\" (the file is damaged: use another copy)", path, i+1)
		}
		if name == "" || name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return nil, fmt.Errorf("%s: line %d names %q, not a file of the directory (the file is damaged: use another copy)", path, i+1, name)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("%s: %s is listed twice (the file is damaged: use another copy)", path, name)
		}
		sums[name] = strings.ToLower(sum)
	}
	return sums, nil
}

// ErrDamaged marks a file whose contents differ from its recorded sha256.
var ErrDamaged = errors.New("damaged")

// VerifyManifest checks every file that dir's ManifestFile lists against
// its recorded sha256 and returns the names listed. A missing manifest is
// an error that matches os.ErrNotExist; a file that differs, one that
// matches ErrDamaged.
func VerifyManifest(dir string) (map[string]string, error) {
	sums, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		got, err := FileSHA256(filepath.Join(dir, n))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing (%s lists it)", filepath.Join(dir, n), ManifestFile)
		}
		if err != nil {
			return nil, err
		}
		if got != sums[n] {
			return nil, fmt.Errorf("%s is %w or was changed since it was saved (its sha256 differs from the one in %s)", filepath.Join(dir, n), ErrDamaged, ManifestFile)
		}
	}
	return sums, nil
}
