package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// lockFile in a run directory holds the pid of the run writing it.
const lockFile = "run.lock"

// lockOwner is the pid written in a lock file, or 0.
func lockOwner(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64))
	if err != nil && len(b) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// writeOwner replaces a lock file's content with this process's pid.
func writeOwner(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func errLocked(dir string, pid int) error {
	if pid <= 0 {
		return fmt.Errorf("--save_dir %s is in use by another run writing there now (%s): wait for it to end or choose another directory", dir, lockFile)
	}
	return fmt.Errorf("--save_dir %s is in use by process %d, a run writing there now: wait for it to end, stop it (kill -INT %d saves a checkpoint first), or choose another directory", dir, pid, pid)
}
