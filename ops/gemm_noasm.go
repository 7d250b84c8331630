//go:build !amd64 || purego

package ops

// Without assembly (another architecture, or the purego build tag) only the
// pure-Go kernels exist.

// asmSgemmArchs returns the assembly float kernels usable with f, best
// first: none in this build.
func asmSgemmArchs(f cpuFeatures) []*gemmArch { return nil }

// asmQgemmArchs returns the assembly 8-bit kernels usable with f, best
// first: none in this build.
func asmQgemmArchs(f cpuFeatures) []*qgemmArch { return nil }

// asmBF16Arch returns the bfloat16 kernel usable with f: none in this
// build.
func asmBF16Arch(f cpuFeatures) *bf16Arch { return nil }
