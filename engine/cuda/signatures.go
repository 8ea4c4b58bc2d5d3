//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var (
	ptxEntryRE = regexp.MustCompile(`\.entry\s+([\w$]+)\s*\(([^)]*)\)`)
	ptxTypeRE  = regexp.MustCompile(`^\.([usbf])(8|16|32|64)$`)
)

// ptxSignatures returns the parameter letters of every .entry of a PTX
// module: .u64/.s64/.b64 'p' (PTX does not tell a pointer from an unsigned
// long long, so 'u' parameters read as 'p'), .u32/.s32/.b32 'i', .f32 'f',
// and '?' for anything else (a struct, a narrow or double parameter).
func ptxSignatures(ptx string) map[string]string {
	sigs := make(map[string]string)
	for _, m := range ptxEntryRE.FindAllStringSubmatch(ptx, -1) {
		var sig strings.Builder
		for _, p := range strings.Split(m[2], ",") {
			f := strings.Fields(p)
			if len(f) == 0 {
				continue
			}
			c := byte('?')
			if len(f) > 1 && f[0] == ".param" {
				for _, tok := range f[1:] {
					t := ptxTypeRE.FindStringSubmatch(tok)
					if t == nil {
						continue
					}
					switch {
					case t[2] == "64" && t[1] != "f":
						c = 'p'
					case t[2] == "32" && t[1] != "f":
						c = 'i'
					case t[2] == "32" && t[1] == "f":
						c = 'f'
					}
					break
				}
			}
			sig.WriteByte(c)
		}
		sigs[m[1]] = sig.String()
	}
	return sigs
}

// checkSignatures compares three views of the kernels: the Go table, the
// CPU emulation's registry (emuKernels: the letters come from the C++
// parameter types) and the PTX entries (ptxSignatures of every module,
// merged). All three must name the same kernels; the table and the
// registry must agree letter for letter, and the PTX up to 'u' ≡ 'p'. A nil
// emu or ptx map is left out of the comparison. The error lists every
// disagreement.
func checkSignatures(goTable []Kernel, emu map[string]string, ptx map[string]string) error {
	var errs []error
	table := make(map[string]string, len(goTable))
	for _, k := range goTable {
		if _, dup := table[k.Name]; dup {
			errs = append(errs, fmt.Errorf("kernel %s is twice in the Go table", k.Name))
		}
		table[k.Name] = k.Params
	}
	ptxLetters := func(s string) string { return strings.ReplaceAll(s, "u", "p") }
	compare := func(what string, other map[string]string, conv func(string) string) {
		if other == nil {
			return
		}
		for _, name := range sortedKeys(table) {
			sig, ok := other[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("kernel %s (Go table %q) is not in the %s", name, table[name], what))
			case sig != conv(table[name]):
				errs = append(errs, fmt.Errorf("kernel %s: the Go table has parameters %q, the %s %q", name, table[name], what, sig))
			}
		}
		for _, name := range sortedKeys(other) {
			if _, ok := table[name]; !ok {
				errs = append(errs, fmt.Errorf("kernel %s (%s %q) is not in the Go table", name, what, other[name]))
			}
		}
	}
	compare("emulation's registry (kernels/kernels.def)", emu, func(s string) string { return s })
	compare("PTX", ptx, ptxLetters)
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
