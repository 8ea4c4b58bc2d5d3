package engine

import "fmt"

// MaxAlloc is the most memory CheckMemory lets one process plan for
// whatever the machine: 2^47 bytes (128 TiB), the address space a 64-bit Go
// heap can use on common hardware.
const MaxAlloc = 1 << 47

// CheckMemory returns an error, saying what is needed and what there is,
// when need bytes for what (a phrase: "training llama_9m") exceed the
// memory this process can still get (MemoryLeft) or MaxAlloc. It is meant
// to run before large allocations, so that an impossible size is a clear
// error rather than a panic or the kernel's out-of-memory kill. An
// unknown limit (other systems) passes.
func CheckMemory(what string, need float64) error {
	if need > MaxAlloc {
		return fmt.Errorf("%s needs about %s of memory, more than one process can address (%s)", what, Bytes(need), Bytes(MaxAlloc))
	}
	if left, source := MemoryLeft(); left > 0 && need > float64(left) {
		return fmt.Errorf("%s needs about %s of memory, this machine has %s (%s)", what, Bytes(need), Bytes(float64(left)), source)
	}
	return nil
}

// Bytes formats a byte count with a binary unit ("1.5 GiB").
func Bytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
