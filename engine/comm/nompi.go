//go:build !mpi

package comm

// Built without MPI: a launch of several ranks is refused (each would
// train alone); a launch of one rank is a single process.
func openLaunched(l Launch) (Comm, error) {
	if l.Size > 1 {
		return nil, notBuiltErr(l)
	}
	return Single(), nil
}

// HaveMPI reports whether this binary was built with the MPI backend.
const HaveMPI = false
