package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WriteFile writes data to path through a temporary file that is
// synced and renamed over the target, then syncs the directory.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write streams a file's contents from write into a temporary file
// in the target's directory, syncs it, renames it over path and syncs the
// directory: a crash leaves either the old file or the complete new one
// (and perhaps the temporary file, which RemoveTemps recognises). The file
// is created 0644 (less the umask), as os.Create would.
func Write(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmp {
			err = pe.Err // the temporary name would only obscure which file failed
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	SyncDir(dir)
	return nil
}

// createTemp creates the temporary file for path: ".<name>.tmp<digits>" in
// the same directory, mode 0644 less the umask (os.CreateTemp's is 0600).
func createTemp(path string) (*os.File, error) {
	prefix := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	for range 100 {
		f, err := os.OpenFile(prefix+strconv.FormatUint(uint64(rand.Uint32()), 10), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no unused temporary name %s*", prefix)
}

// IsTemp reports whether a directory entry's name is a temporary one left
// by Write (".<name>.tmp<digits>") or by a directory written to be
// renamed into place (".<name>.tmp"): what a crash can leave behind.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp")
	if !strings.HasPrefix(name, ".") || i < 2 {
		return false
	}
	for _, c := range name[i+len(".tmp"):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RemoveTemps removes the temporary files and directories (IsTemp) that
// interrupted atomic writes left in dir; a missing dir is fine.
func RemoveTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if IsTemp(e.Name()) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReplaceDir renames the complete directory tmp (its files already synced)
// to dir, replacing a directory already there, and syncs the parent. The
// old one is moved aside under a temporary name (IsTemp) first and removed
// after: a crash leaves the old directory, the new one, or (between the two
// renames) neither but both temporaries, which RemoveTemps clears.
func ReplaceDir(tmp, dir string) error {
	old := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".old.tmp")
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	SyncDir(filepath.Dir(dir))
	return os.RemoveAll(old)
}

// SyncDir fsyncs a directory (its entries), ignoring errors: not every
// file system or OS supports it.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
