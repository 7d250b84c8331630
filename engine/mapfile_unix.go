//go:build unix

package engine

import (
	"errors"
	"os"
	"syscall"
)

// mapReadOnly maps the first size bytes of the regular file f read-only
// and private: pages are read in from the page cache as they are touched,
// never written back, and dropPages may give them up at any time (a later
// read faults them in again from the file).
func mapReadOnly(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, errors.New("cannot map an empty file or one larger than the address space")
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	adviseMapped(b)
	return b, nil
}

// unmapFile undoes mapReadOnly.
func unmapFile(b []byte) { syscall.Munmap(b) }
