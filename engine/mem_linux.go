package engine

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// MemoryLeft is how many bytes this process can still allocate as far as
// the system says, and where that figure comes from: the smaller of the
// available memory and swap (/proc/meminfo: MemAvailable + SwapFree) and
// the address space left under the process's limit (ulimit -v). 0 when
// neither is known.
func MemoryLeft() (int64, string) {
	var left int64
	source := ""
	info := meminfo("/proc/meminfo")
	if avail, ok := info["MemAvailable"]; ok {
		left, source = avail+info["SwapFree"], "available memory and swap in /proc/meminfo"
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil && lim.Cur != ^uint64(0) && lim.Cur < 1<<62 {
		as := int64(lim.Cur) - meminfo("/proc/self/status")["VmSize"]
		if as < 0 {
			as = 0
		}
		if source == "" || as < left {
			left, source = max(as, 1), "address space left under ulimit -v"
		}
	}
	return left, source
}

// meminfo reads the "Name:  123 kB" lines of a /proc file, in bytes.
func meminfo(path string) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		f := bytes.Fields(rest)
		if !ok || len(f) != 2 || string(f[1]) != "kB" {
			continue
		}
		if v, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
			out[string(name)] = v << 10
		}
	}
	return out
}
