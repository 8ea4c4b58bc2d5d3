//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// lockRunDir takes the run directory's lock, creating the directory if
// needed: dir/run.lock created exclusively, holding the owner's pid. A
// second run on the same directory is refused with that pid; a lock file
// whose owner is no longer running is taken over, with a note. unlock
// removes the file.
func lockRunDir(dir string, stderr io.Writer) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--save_dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	for attempt := 0; attempt < 10; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			old, err := os.Open(path)
			if err != nil {
				continue // removed meanwhile
			}
			owner := lockOwner(old)
			old.Close()
			if owner > 0 && processAlive(owner) {
				return nil, errLocked(dir, owner)
			}
			fmt.Fprintf(stderr, "note: %s was left by process %d, which has ended; this run takes it over\n", path, owner)
			os.Remove(path)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("--save_dir: locking the run directory: %w", err)
		}
		if err := writeOwner(f); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("--save_dir: %s: %w", path, err)
		}
		f.Close()
		return func() { os.Remove(path) }, nil
	}
	return nil, fmt.Errorf("--save_dir: %s keeps changing: another run is starting there", path)
}

// processAlive reports whether a process with this pid is running (where
// os.FindProcess looks the process up, as on Windows).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
