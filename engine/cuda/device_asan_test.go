//go:build cuda && asan

package cuda

// The address sanitizer's instrumentation makes some values escape that
// otherwise stay on the stack, so allocation counts do not hold under it.
func init() { asanBuild = true }
