//go:build unix

package engine

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// readModelFile returns the bytes of the model file at path and a function
// that gives them back. A regular file is mapped read-only rather than
// read, so that decoding a large model holds the file's bytes only until
// the protobuf is decoded (release unmaps them), not alongside the decoded
// weights; anything else is read.
func readModelFile(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() > maxModelSize {
		return nil, nil, fmt.Errorf("model larger than %d bytes: store weights as external data", maxModelSize)
	}
	if fi.Mode().IsRegular() && fi.Size() > 0 {
		if b, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE|mapPopulate); err == nil {
			return b, func() { syscall.Munmap(b) }, nil
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxModelSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxModelSize {
		return nil, nil, fmt.Errorf("model larger than %d bytes: store weights as external data", maxModelSize)
	}
	return b, func() {}, nil
}
