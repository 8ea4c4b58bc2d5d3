package main

import "syscall"

// limitFileSize caps the size of every file this process writes (writes
// beyond it fail with EFBIG, as on a full disk).
func limitFileSize(n int) {
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)})
}
