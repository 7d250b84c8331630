package ops

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

func TestBF16Round(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint32
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0},
		{float32(math.Inf(1)), 0x7f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // rounds to +Inf
		{float32(math.NaN()), 0x7fc0},
	} {
		if got := bf16Round(tc.in); got != tc.want {
			t.Errorf("bf16Round(%v = %#x) = %#x, want %#x", tc.in, math.Float32bits(tc.in), got, tc.want)
		}
	}
}

// bf16Value is the float the bfloat16 rounding of f stands for.
func bf16Value(f float32) float64 { return float64(math.Float32frombits(bf16Round(f) << 16)) }

// checkSbgemm multiplies through a bfloat16-packed B and compares with a
// float64 product of the bfloat16-rounded operands: only the float32
// accumulation may differ.
func checkSbgemm(t *testing.T, r *rand.Rand, ar *bf16Arch, tc gemmCase, ta, tb bool, alpha, beta float32, bias bool, par parallelFn) {
	t.Helper()
	m, n, k, pad := tc.m, tc.n, tc.k, tc.pad
	lda, ldb, ldc := k+pad, n+pad, n+pad
	arows, brows := m, k
	if ta {
		lda, arows = m+pad, k
	}
	if tb {
		ldb, brows = k+pad, n
	}
	a := randSlice(r, arows*lda)
	b := randSlice(r, brows*ldb)
	c0 := randSlice(r, m*ldc)
	var bv []float32
	if bias {
		bv = randSlice(r, n)
	}
	pb := packBF16(ar, tb, k, n, b, ldb)
	got := append([]float32(nil), c0...)
	if beta == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				got[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	sgemmPackedBias(ta, m, alpha, a, lda, &pb, bv, beta, got, ldc, par)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			if j < n {
				var s, mag float64
				for p := 0; p < k; p++ {
					var av, bw float32
					if ta {
						av = a[p*lda+i]
					} else {
						av = a[i*lda+p]
					}
					if tb {
						bw = b[j*ldb+p]
					} else {
						bw = b[p*ldb+j]
					}
					s += bf16Value(av) * bf16Value(bw)
					mag += math.Abs(bf16Value(av) * bf16Value(bw))
				}
				want := float64(alpha)*s + float64(beta)*float64(c0[i*ldc+j])
				if bias {
					want += float64(bv[j])
				}
				if d := math.Abs(float64(got[i*ldc+j]) - want); d > 1e-6*(mag+1)*float64(k+1) || d != d {
					t.Fatalf("%s m=%d n=%d k=%d pad=%d transA=%v transB=%v alpha=%v beta=%v bias=%v par=%v: c[%d,%d]=%v want %v",
						ar.name, m, n, k, pad, ta, tb, alpha, beta, bias, par != nil, i, j, got[i*ldc+j], want)
				}
				continue
			}
			if got[i*ldc+j] != c0[i*ldc+j] {
				t.Fatalf("%s m=%d n=%d k=%d: padding c[%d,%d] changed", ar.name, m, n, k, i, j)
			}
		}
	}
}

func TestSbgemm(t *testing.T) {
	ar := gemmImpl().bf16
	if ar == nil {
		t.Skip("no bfloat16 kernel on this CPU (AVX512-BF16) or AGATE_NOASM set")
	}
	pool := NewPool(3)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	cases := []gemmCase{
		{1, 1, 1, 0}, {3, 5, 7, 0}, {2, 4, 8, 1}, {17, 33, 300, 0}, {64, 64, 64, 3},
		{65, 130, 257, 1}, {128, 96, 512, 0}, {1, 700, 301, 0}, {3, 1100, 70, 2},
		{5, 3, 600, 0}, {13, 67, 33, 5}, {25, 49, 513, 0}, {12, 32, 256, 0}, {100, 200, 40, 7},
	}
	r := rand.New(rand.NewSource(1))
	for _, tc := range cases {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {2, -0.5}} {
				for _, par := range []parallelFn{nil, ec.Parallel} {
					checkSbgemm(t, r, ar, tc, tr[0], tr[1], ab[0], ab[1], ab[1] == 0, par)
				}
			}
		}
	}
	// Every tile height and width, odd and even depths.
	for m := 1; m <= 2*ar.mr+1; m++ {
		for _, n := range []int{1, 15, 16, 17, 31, 32, 33} {
			for _, k := range []int{1, 2, 3, 4, 5} {
				checkSbgemm(t, r, ar, gemmCase{m, n, k, 1}, false, false, 1, 0, true, nil)
			}
		}
	}
}

func TestSbgemmNoAlloc(t *testing.T) {
	ar := gemmImpl().bf16
	if ar == nil {
		t.Skip("no bfloat16 kernel on this CPU (AVX512-BF16) or AGATE_NOASM set")
	}
	pool := NewPool(2)
	defer pool.Close()
	ec := NewContext(context.Background(), pool, nil)
	r := rand.New(rand.NewSource(4))
	const m, n, k = 64, 256, 128
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	pb := packBF16(ar, false, k, n, b, n)
	sgemmPacked(false, m, 1, a, k, &pb, 0, c, n, ec.Parallel)
	base := testing.AllocsPerRun(20, func() { ec.Parallel(2, 1, func(lo, hi int) {}) })
	if allocs := testing.AllocsPerRun(20, func() {
		sgemmPacked(false, m, 1, a, k, &pb, 0, c, n, ec.Parallel)
	}); allocs > 2*base {
		t.Fatalf("bfloat16 sgemmPacked allocates %v times per call, the pool %v", allocs, base)
	}
}

// BenchmarkSbgemm is BenchmarkSgemm for the bfloat16 kernel, rounding of
// the activations included: BenchmarkSbgemm/bf16/<m>x<k>x<n>/t<threads>.
func BenchmarkSbgemm(b *testing.B) {
	ar := gemmImpl().bf16
	if ar == nil {
		b.Skip("no bfloat16 kernel on this CPU")
	}
	benchPackedGemm(b, "bf16", func(k, n int, w []float32) packedB { return packBF16(ar, false, k, n, w, n) })
}
