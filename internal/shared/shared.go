// Package shared locates the read-only fixtures that live beside the
// project (the ONNX conformance suite, reference models, data sets). Tests
// read them in place: they are never copied into the repository.
//
// The folder is $AGATE_SHARED when set, else ../shared relative to the
// module root. When it is absent a test is skipped with a clear message,
// except under CI=true, where it fails: CI must never pass by skipping.
package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the shared folder and whether it exists.
func Root() (string, bool) {
	if dir := os.Getenv("AGATE_SHARED"); dir != "" {
		st, err := os.Stat(dir)
		return dir, err == nil && st.IsDir()
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	// Walk up to the module root (the folder holding go.mod).
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared")
			st, err := os.Stat(p)
			return p, err == nil && st.IsDir()
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

// Path returns the shared path joined with parts, skipping the test (or
// failing it under CI=true) when that path does not exist.
func Path(tb testing.TB, parts ...string) string {
	tb.Helper()
	root, ok := Root()
	p := filepath.Join(append([]string{root}, parts...)...)
	if ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "shared fixtures not found at " + p + " (set AGATE_SHARED to the shared folder)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}
