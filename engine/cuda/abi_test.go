package cuda

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestKernelABI checks, without nvcc, that every launcher agate_cuda.h
// declares is defined both in the CUDA sources and in the compile-check
// stub, with the same parameter list, and that the Go side calls only
// declared launchers.
func TestKernelABI(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	space := regexp.MustCompile(`\s+`)
	norm := func(s string) string { return space.ReplaceAllString(s, " ") }
	decl := regexp.MustCompile(`(?s)(cudaError_t|int) (agate_\w+)\(([^)]*)\)\s*;`)
	header := read("kernels/agate_cuda.h")
	want := map[string]string{}
	for _, m := range decl.FindAllStringSubmatch(header, -1) {
		want[m[2]] = norm(m[3])
	}
	if len(want) < 9 {
		t.Fatalf("found only %d declarations in agate_cuda.h", len(want))
	}
	def := regexp.MustCompile(`(?s)(cudaError_t|int) (agate_\w+)\(([^)]*)\)\s*\{`)
	defs := func(src string) map[string]string {
		got := map[string]string{}
		for _, m := range def.FindAllStringSubmatch(src, -1) {
			got[m[2]] = norm(m[3])
		}
		return got
	}
	stub := defs(read("kernels/stub.c"))
	cu := map[string]string{}
	files, _ := filepath.Glob("kernels/*.cu")
	for _, f := range files {
		for k, v := range defs(read(f)) {
			if _, dup := cu[k]; dup {
				t.Errorf("%s defined twice in the .cu files", k)
			}
			cu[k] = v
		}
	}
	for name, params := range want {
		if got, ok := stub[name]; !ok || got != params {
			t.Errorf("stub.c: %s(%s), header: (%s)", name, got, params)
		}
		if got, ok := cu[name]; !ok || got != params {
			t.Errorf(".cu: %s(%s), header: (%s)", name, got, params)
		}
	}
	calls := regexp.MustCompile(`C\.(agate_\w+)\(`)
	goFiles, _ := filepath.Glob("*_cuda.go")
	for _, f := range goFiles {
		for _, m := range calls.FindAllStringSubmatch(read(f), -1) {
			if _, ok := want[m[1]]; !ok && m[1] != "agate_device_info" && m[1] != "agate_lt_matmul" {
				t.Errorf("%s calls %s, which agate_cuda.h does not declare", f, m[1])
			}
		}
	}
}
