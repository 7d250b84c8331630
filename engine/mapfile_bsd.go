//go:build unix && !linux

package engine

// adviseMapped does nothing here (package syscall has madvise only on
// Linux).
func adviseMapped([]byte) {}

// dropPages does nothing here: the mapped pages stay resident until the
// kernel reclaims them (they are clean and file-backed) or the model is
// collected.
func dropPages([]byte) {}
