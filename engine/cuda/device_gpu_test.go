//go:build cuda

package cuda

// The real GPU joins forEachDevice's device list (its subtests skip when
// newGPU cannot open a GPU).
func init() { gpuOpen = newGPU }
