//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// lockRunDir takes the run directory's lock, creating the directory if
// needed: an exclusive flock(2) on dir/run.lock, which holds the owner's
// pid. A second run on the same directory is refused with that pid; a
// lock file whose owner died (SIGKILL, a crash) holds no flock any more and
// is taken over, with a note. unlock removes the file and releases the
// lock.
func lockRunDir(dir string, stderr io.Writer) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--save_dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	for attempt := 0; attempt < 10; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--save_dir: locking the run directory: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			owner := lockOwner(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, errLocked(dir, owner)
			}
			return nil, fmt.Errorf("--save_dir: locking %s: %w", path, err)
		}
		// The holder before us may have removed the file between our open
		// and our lock: then we hold a lock on a file nobody else sees.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			f.Close()
			continue
		}
		if prev := lockOwner(f); prev > 0 && prev != os.Getpid() {
			fmt.Fprintf(stderr, "note: %s was left by process %d, which has ended; this run takes it over\n", path, prev)
		}
		if err := writeOwner(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--save_dir: %s: %w", path, err)
		}
		return func() {
			os.Remove(path) // while still holding the lock
			f.Close()
		}, nil
	}
	return nil, fmt.Errorf("--save_dir: %s keeps changing: another run is starting there", path)
}
