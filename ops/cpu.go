package ops

import (
	"os"

	"golang.org/x/sys/cpu"
)

// cpuFeatures lists the instruction-set extensions the assembly kernels
// may use. It is read once, when the kernel tables are built.
type cpuFeatures struct {
	avx2FMA  bool // AVX2 and FMA3
	avx512   bool // AVX-512 F, with the OS saving the zmm and mask registers
	avx512cd bool // AVX-512 CD (VPLZCNTD/Q)
	vnni     bool // AVX-512 VNNI (VPDPBUSD)
	bf16     bool // AVX-512 BF16 (VDPBF16PS)
}

// detectCPU reports the features of this machine; all are false when the
// AGATE_NOASM environment variable is set to a non-empty value other than
// "0", which forces the pure-Go kernels.
func detectCPU() cpuFeatures {
	if v := os.Getenv("AGATE_NOASM"); v != "" && v != "0" {
		return cpuFeatures{}
	}
	return hostCPU()
}

// hostCPU reports the features of this machine, ignoring AGATE_NOASM.
func hostCPU() cpuFeatures {
	f := cpuFeatures{avx2FMA: cpu.X86.HasAVX2 && cpu.X86.HasFMA}
	f.avx512 = f.avx2FMA && cpu.X86.HasAVX512F
	f.avx512cd = f.avx512 && cpu.X86.HasAVX512CD
	f.vnni = f.avx512 && cpu.X86.HasAVX512VNNI
	f.bf16 = f.avx512 && cpu.X86.HasAVX512BF16
	return f
}
