//go:build !unix

package engine

import (
	"errors"
	"os"
)

// mapReadOnly is not implemented here: model files are read instead.
func mapReadOnly(*os.File, int64) ([]byte, error) {
	return nil, errors.New("memory-mapped files are not implemented on this platform")
}

// unmapFile is never called here.
func unmapFile([]byte) {}

// dropPages does nothing here.
func dropPages([]byte) {}
