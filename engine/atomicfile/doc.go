// Package atomicfile is the one atomic file writer every package uses: a
// file is written to a temporary beside it, synced and renamed over the
// target (0644 files), a whole directory replaced by a rename (ReplaceDir),
// and what a crash left behind recognised (IsTemp) and cleared
// (RemoveTemps). It imports nothing of the project, so model, data and the
// trainer can all use it.
package atomicfile
