package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// findShared locates the folder of shared test fixtures: $AGATE_SHARED, else
// "shared" next to the repository root (the folder holding go.mod, found by
// walking up from the working directory).
func findShared() (string, error) {
	if d := os.Getenv("AGATE_SHARED"); d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("AGATE_SHARED=%q is not a directory", d)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getting the working directory: %w", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared")
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				return "", fmt.Errorf("%s is not a directory", d)
			}
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above " + wd)
		}
		dir = parent
	}
}

// sharedDir returns the shared fixtures folder. When it is missing the test
// is skipped, or fails when CI=true.
func sharedDir(t testing.TB) string {
	t.Helper()
	d, err := findShared()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared fixtures required in CI: %v", err)
		}
		t.Skipf("skipping: shared fixtures not found: %v (set AGATE_SHARED)", err)
	}
	return d
}

// sharedPath returns a path inside the shared fixtures, skipping (or failing
// in CI) when it does not exist.
func sharedPath(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{sharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared fixture missing: %v", err)
		}
		t.Skipf("skipping: shared fixture missing: %v", err)
	}
	return p
}
