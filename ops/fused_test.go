package ops

import (
	"math"
	"math/rand"
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

// TestQuantizeVec checks the assembly range and quantization routines
// against the Go ones, bit for bit, with NaN, ties and out-of-range values.
func TestQuantizeVec(t *testing.T) {
	v := asmVecMath(hostCPU())
	if v.minMax == nil {
		t.Skip("no AVX2 on this CPU")
	}
	xs := []float32{0.5, 1.5, 2.5, -0.5, -1.5, float32(math.NaN()), 1e9, -1e9, 3.49, -3.51, 0, 7}
	for i := 0; i < 300; i++ {
		xs = append(xs, float32(i%37)*0.37-5)
	}
	for n := 0; n <= len(xs); n += 7 {
		lo, hi := v.minMax(xs[:n])
		wl, wh := minMaxGo(xs[:n])
		if lo != wl || hi != wh {
			t.Fatalf("n=%d: minMax %v %v, want %v %v", n, lo, hi, wl, wh)
		}
		for _, sc := range []float32{1, 0.037, 3} {
			got, want := make([]uint8, n), make([]uint8, n)
			v.quantizeU8(got, xs[:n], sc, 128)
			quantizeU8Go(want, xs[:n], sc, 128)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("n=%d scale %v: element %d (%v): %d, want %d", n, sc, i, xs[i], got[i], want[i])
				}
			}
		}
	}
}

func TestDivAdd(t *testing.T) {
	v := asmVecMath(hostCPU())
	if v.divAdd == nil {
		t.Skip("no AVX2 on this CPU")
	}
	for n := 0; n < 40; n++ {
		for _, withMask := range []bool{false, true} {
			a, b := make([]float32, n), make([]float32, n)
			var mask []float32
			if withMask {
				mask = make([]float32, n)
			}
			for i := range a {
				a[i] = float32(i)*1.37 - 11
				b[i] = a[i]
				if mask != nil {
					mask[i] = float32(i%3) * -1e4
				}
			}
			v.divAdd(a, mask, 5.656854)
			divAddGo(b, mask, 5.656854)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("n=%d mask=%v: element %d %v, want %v", n, withMask, i, a[i], b[i])
				}
			}
		}
	}
}

func TestSoftmaxVec(t *testing.T) {
	v := asmVecMath(hostCPU())
	if v.softmax == nil {
		t.Skip("no AVX2 on this CPU")
	}
	for n := 1; n < 70; n++ {
		a := make([]float32, n)
		for i := range a {
			a[i] = float32((i*7)%11) - 4
		}
		ref := make([]float64, n)
		m, s := -math.MaxFloat64, 0.0
		for _, x := range a {
			m = math.Max(m, float64(x))
		}
		for i, x := range a {
			ref[i] = math.Exp(float64(x) - m)
			s += ref[i]
		}
		v.softmax(a)
		for i := range a {
			if d := math.Abs(float64(a[i]) - ref[i]/s); d > 1e-6 {
				t.Fatalf("n=%d: element %d %v, want %v", n, i, a[i], ref[i]/s)
			}
		}
	}
}

// TestVecMathNorm checks the LayerNorm routines (addSum, sqDev,
// normAffine), assembly and Go, against float64 references, on lengths
// with and without a tail past the vector width, with and without bias.
func TestVecMathNorm(t *testing.T) {
	impls := map[string]vecMath{"go": {addSum: addSumGo, sqDev: sqDevGo, normAffine: normAffineGo}}
	if v := asmVecMath(hostCPU()); v.addSum != nil {
		impls["asm"] = v
	}
	r := rand.New(rand.NewSource(4))
	vec := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * r.NormFloat64())
		}
		return v
	}
	for name, v := range impls {
		for _, n := range []int{1, 7, 8, 9, 31, 384, 391} {
			for _, withBias := range []bool{false, true} {
				a, b, g := vec(n, 3), vec(n, 1), vec(n, 1)
				var bias, beta []float32
				if withBias {
					bias, beta = vec(n, 0.5), vec(n, 0.5)
				}
				dst := make([]float32, n)
				sum := v.addSum(dst, a, b, bias)
				ref := 0.0
				for i := range dst {
					want := a[i] + b[i]
					if withBias {
						want += bias[i]
					}
					if dst[i] != want {
						t.Fatalf("%s n=%d: addSum element %d = %v, want %v", name, n, i, dst[i], want)
					}
					ref += float64(want)
				}
				if math.Abs(sum-ref) > 1e-12*math.Max(1, math.Abs(ref))*float64(n) {
					t.Fatalf("%s n=%d: sum %v, want %v", name, n, sum, ref)
				}
				mean := ref / float64(n)
				sq, refSq := v.sqDev(dst, mean), 0.0
				for _, x := range dst {
					refSq += (float64(x) - mean) * (float64(x) - mean)
				}
				if math.Abs(sq-refSq) > 1e-12*refSq*float64(n)+1e-300 {
					t.Fatalf("%s n=%d: sqDev %v, want %v", name, n, sq, refSq)
				}
				inv := 1 / math.Sqrt(refSq/float64(n)+1e-12)
				y := make([]float32, n)
				v.normAffine(y, dst, g, beta, mean, inv)
				for i, x := range dst {
					want := float32((float64(x)-mean)*inv) * g[i]
					if withBias {
						want += beta[i]
					}
					if y[i] != want {
						t.Fatalf("%s n=%d: normAffine element %d = %v, want %v", name, n, i, y[i], want)
					}
				}
			}
		}
	}
}

func TestClampVec(t *testing.T) {
	v := asmVecMath(hostCPU())
	if v.clamp == nil {
		t.Skip("no AVX2 on this CPU")
	}
	nan := float32(math.NaN())
	for n := 0; n < 40; n++ {
		for _, b := range [][2]float32{{0, 6}, {0, float32(math.Inf(1))}, {-1, 1}} {
			a, want := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i] = float32(i)*0.7 - 9
				if i%7 == 3 {
					a[i] = nan
				}
				want[i] = a[i]
			}
			v.clamp(a, b[0], b[1])
			clampGo(want, b[0], b[1])
			for i := range a {
				if a[i] != want[i] && !(a[i] != a[i] && want[i] != want[i]) {
					t.Fatalf("n=%d bounds %v: element %d %v, want %v", n, b, i, a[i], want[i])
				}
				if want[i] != want[i] && a[i] == a[i] {
					t.Fatalf("n=%d: NaN at %d became %v", n, i, a[i])
				}
			}
		}
	}
}
