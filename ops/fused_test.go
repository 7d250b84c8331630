package ops

import (
	"math"
	"testing"
)

// TestVecMath checks both the assembly (when this CPU has it) and the Go
// routines against float64 references.
func TestVecMath(t *testing.T) {
	impls := map[string]vecMath{"go": {gelu: geluGo, expSubSum: expSubSumGo}}
	if v := asmVecMath(hostCPU()); v.gelu != nil {
		impls["asm"] = v
	}
	var src []float32
	for x := -9.0; x <= 9; x += 0.0007 {
		src = append(src, float32(x))
	}
	for name, v := range impls {
		dst := make([]float32, len(src))
		v.gelu(dst, src)
		for i, x := range src {
			want := 0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2))
			if d := math.Abs(float64(dst[i]) - want); d > 3e-7*math.Max(1, math.Abs(float64(x))) {
				t.Fatalf("%s: gelu(%v) = %v, want %v (error %g)", name, x, dst[i], want, d)
			}
		}
		for _, n := range []int{0, 1, 7, 8, 9, 31, 1000} {
			in := src[:n]
			out := make([]float32, n)
			m := float32(9)
			sum := v.expSubSum(out, in, m)
			ref := 0.0
			for i, x := range in {
				e := math.Exp(float64(x - m))
				ref += e
				if d := math.Abs(float64(out[i]) - e); d > 2e-7*e+1e-37 {
					t.Fatalf("%s: exp(%v) = %v, want %v", name, x-m, out[i], e)
				}
			}
			if math.Abs(float64(sum)-ref) > 1e-5*ref+1e-30 {
				t.Fatalf("%s n=%d: sum %v, want %v", name, n, sum, ref)
			}
		}
	}
}

func benchGelu(b *testing.B, f func(dst, src []float32)) {
	src := make([]float32, 4096)
	for i := range src {
		src[i] = float32(i%200)/25 - 4
	}
	dst := make([]float32, len(src))
	b.SetBytes(4 * int64(len(src)))
	for b.Loop() {
		f(dst, src)
	}
}

func BenchmarkGelu(b *testing.B) {
	b.Run("exact", func(b *testing.B) { benchGelu(b, ewGelu32) })
	b.Run("go", func(b *testing.B) { benchGelu(b, geluGo) })
	if v := asmVecMath(hostCPU()); v.gelu != nil {
		b.Run("asm", func(b *testing.B) { benchGelu(b, v.gelu) })
	}
}
