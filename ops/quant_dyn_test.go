package ops

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// refQuantizeU8 is DynamicQuantizeLinear's definition, element by element.
func refQuantizeU8(v, scale, zp float32) uint8 {
	r := math.RoundToEven(float64(v/scale)) + float64(zp)
	return uint8(max(0, min(255, r)))
}

func TestQuantizeU8Rounding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, 100000)
	for i := range xs {
		switch i % 4 {
		case 0: // exact ties once divided by the scale 0.5
			xs[i] = float32(r.IntN(600)-300) * 0.25
		case 1:
			xs[i] = float32(r.NormFloat64() * 50)
		case 2:
			xs[i] = float32(r.Float64()*300 - 150)
		default:
			xs[i] = float32(r.IntN(1000)-500) * 0.5
		}
	}
	for _, p := range [][2]float32{{0.5, 128}, {0.5, 0}, {0.5, 255}, {1.0 / 3, 17}, {0.37, 200}} {
		dst := make([]uint8, len(xs))
		quantizeU8(dst, xs, p[0], p[1])
		for i, v := range xs {
			if want := refQuantizeU8(v, p[0], p[1]); dst[i] != want {
				t.Fatalf("scale %v zp %v: x=%v -> %d, want %d", p[0], p[1], v, dst[i], want)
			}
		}
	}
	// Infinities saturate; NaN gives a defined value.
	dst := make([]uint8, 3)
	quantizeU8(dst, []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}, 0.1, 10)
	if dst[0] != 255 || dst[1] != 0 || dst[2] != 0 {
		t.Errorf("inf, -inf, NaN -> %v, want [255 0 0]", dst)
	}
}

func TestDynQuantizeParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 4 * dynQuantGrain, 4*dynQuantGrain + 3} {
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(r.NormFloat64()*3 + 1)
		}
		xs[n/2] = -7.5 // the minimum may sit in any block
		scale, zp := dynQuantParams(xs)
		want := make([]uint8, n)
		for i, v := range xs {
			want[i] = refQuantizeU8(v, scale, zp)
		}
		pool := NewPool(4)
		ec := NewContext(context.Background(), pool, nil)
		got := make([]uint8, n)
		s2, z2 := dynQuantizeU8(ec, got, xs)
		pool.Close()
		if s2 != scale || z2 != zp {
			t.Fatalf("n=%d: parallel scale %v zp %v, serial %v %v", n, s2, z2, scale, zp)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: element %d = %d, want %d", n, i, got[i], want[i])
			}
		}
	}
}

func BenchmarkDynamicQuantizeLinear(b *testing.B) {
	xs := make([]float32, 128*1536)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i))) * 4
	}
	dst := make([]uint8, len(xs))
	ec := NewContext(context.Background(), nil, nil)
	b.SetBytes(int64(4 * len(xs)))
	for b.Loop() {
		dynQuantizeU8(ec, dst, xs)
	}
}
