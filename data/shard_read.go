//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package data

import (
	"io"
	"os"
)

// mapFile reads the whole file into memory where memory-mapping is not
// implemented (Windows, Plan 9, wasm, ...).
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, nil, err
	}
	return b, nil, nil
}
