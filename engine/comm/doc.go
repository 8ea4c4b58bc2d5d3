// Package comm is the communication layer of data-parallel training: a
// group of ranks (processes, on one machine or several) that sum their
// gradients, broadcast state from one rank and wait for each other.
//
// # Backends
//
// Comm is the interface; Open returns the one this process was started
// with:
//
//   - Single (the default, nothing to install): rank 0 of 1, every
//     collective the identity. Open returns it when no MPI launcher
//     started the process.
//   - MPI (build tag mpi; cgo against Open MPI through pkg-config's
//     ompi-c): MPI_COMM_WORLD when mpirun (or another launcher: Launched
//     reads OMPI_COMM_WORLD_*, PMI_*, MV2_COMM_WORLD_*) started the process.
//     A binary built without the tag refuses to run as one of several
//     ranks: "this binary was built without -tags mpi". One OS thread,
//     locked for the life of the process, makes every MPI call
//     (MPI_THREAD_FUNNELED); calls do not allocate.
//   - NewLocal: ranks in one process, one goroutine each, for tests of
//     code written against Comm without MPI.
//   - NCCL (build tags cuda and mpi): sums and broadcasts of GPU buffers
//     (engine.Buf), one GPU per rank, libnccl.so.2 dlopened at run time as
//     engine/cuda loads CUDA, its unique id broadcast from rank 0 over a
//     Comm. It is not a Comm: the host-side collectives (options check,
//     losses) stay on MPI. PinGPU gives each rank its own device before
//     CUDA starts.
//
// # Sums and their bits
//
// The MPI standard requires an all-reduce to give "identical results" on
// all processes (MPI-4.1 §6.9.6), and Open MPI's algorithms keep to it:
// every element is combined once and the result distributed, or pairs
// exchange and add commutatively (audited by its maintainers, open-mpi/ompi
// pull request 11721; the test checks it at 2, 3 and 4 ranks). It does not
// fix the order: Open MPI picks the algorithm by message size and number
// of ranks (the test measured, at 4 ranks, a fifth of the elements
// differing from the rank-order sum, and other bits again with the ring
// than with recursive doubling). AllReduceSum is MPI_Allreduce: the same
// bits on every rank, the order MPI's. AllReduceSumOrdered adds in rank
// order, ((b₀+b₁)+b₂)+…, whatever MPI does: an all-to-all gives each rank
// its share of every rank's buffer, it adds them in rank order, an
// all-gather puts the shares together, piece by piece (4 MiB of scratch).
// Each rank sends and receives 2(N−1)/N of the buffer, as a
// bandwidth-optimal all-reduce does; it costs an extra pass over memory and
// a second collective per piece (1.1–1.8× MPI_Allreduce's time for 1–64
// MB at 2 ranks on one machine; reduce-then-broadcast, MPI's own advice
// for a fixed order, is 1.3–2×). With one micro-batch per rank per update,
// it gives the bits of one process accumulating those micro-batches in
// rank order. With two ranks every correct sum is the rank-order sum.
//
// # Failures
//
// Every backend returns an *Error naming the rank, its host and the call.
// MPI's error handler is MPI_ERRORS_RETURN, so MPI's failures come back as
// errors rather than aborting. After an error, the rank reports it and ends
// the job with Abort (MPI_Abort: mpirun ends every rank). Open MPI's mpirun
// ends the whole job when a rank dies: a rank killed by a signal ("mpirun
// noticed that process rank 1 with PID … exited on signal 9 (Killed)", exit
// status 137), or exiting non-zero, or exiting without MPI_Finalize, takes
// the others down within a second or two (measured here with shared memory
// and with TCP only); the survivors usually see no error at all. A rank
// that stays alive but never arrives (a deadlock, a hung file system) is
// the one case mpirun cannot see: with RELORA_COMM_TIMEOUT set, a
// collective that waits longer returns an error with Timeout set, after
// which Abort exits the process and mpirun ends the rest. Every rank must
// call the same collectives in the same order with the same lengths;
// NewLocal checks this, MPI does not (a mismatch hangs or fails).
package comm
