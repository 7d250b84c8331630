//go:build !unix

package engine

import "os"

// readModelFile returns the bytes of the model file at path (read; see
// the unix version, which maps them).
func readModelFile(path string) (data []byte, release func(), err error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
