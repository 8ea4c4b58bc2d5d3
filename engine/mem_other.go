//go:build !linux

package engine

// MemoryLeft is unknown on this system (0): CheckMemory then only refuses
// sizes beyond MaxAlloc.
func MemoryLeft() (int64, string) { return 0, "" }
