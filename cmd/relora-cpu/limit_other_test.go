//go:build !linux

package main

// limitFileSize is a no-op where RLIMIT_FSIZE is not available (the tests
// that need it skip).
func limitFileSize(int) {}
