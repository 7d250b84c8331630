package ops

import (
	"fmt"
	"testing"
)

// naiveBinary is the reference: index arithmetic per element.
func naiveBinary(a []float64, as []int, b []float64, bs []int, out []int) []float64 {
	res := make([]float64, NumElements(out))
	sa, sb := BroadcastStrides(as, out), BroadcastStrides(bs, out)
	idx := make([]int, len(out))
	for i := range res {
		rem := i
		for d := len(out) - 1; d >= 0; d-- {
			idx[d] = rem % out[d]
			rem /= out[d]
		}
		ia, ib := 0, 0
		for d := range out {
			ia += idx[d] * sa[d]
			ib += idx[d] * sb[d]
		}
		res[i] = a[ia]*10 + b[ib]
	}
	return res
}

func TestBinaryBroadcast(t *testing.T) {
	cases := []struct{ a, b []int }{
		{[]int{2, 3}, []int{2, 3}},
		{[]int{2, 3}, []int{}},
		{[]int{}, []int{4}},
		{[]int{2, 3, 4}, []int{4}},
		{[]int{2, 3, 4}, []int{3, 1}},
		{[]int{2, 1, 4}, []int{1, 3, 1}},
		{[]int{1, 3, 1, 5}, []int{2, 1, 4, 1}},
		{[]int{3, 1}, []int{1, 1, 3}},
		{[]int{2, 0, 3}, []int{3}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.a, c.b), func(t *testing.T) {
			out, err := BroadcastShapes(c.a, c.b)
			if err != nil {
				t.Fatal(err)
			}
			a := make([]float64, NumElements(c.a))
			b := make([]float64, NumElements(c.b))
			for i := range a {
				a[i] = float64(i + 1)
			}
			for i := range b {
				b[i] = float64(i + 1)
			}
			got := make([]float64, NumElements(out))
			if err := Binary(got, out, a, c.a, b, c.b, func(x, y float64) float64 { return x*10 + y }); err != nil {
				t.Fatal(err)
			}
			want := naiveBinary(a, c.a, b, c.b, out)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("element %d: got %v want %v", i, got[i], want[i])
				}
			}
			exp := make([]float64, NumElements(out))
			if err := BroadcastTo(exp, out, a, c.a); err != nil {
				t.Fatal(err)
			}
			ref := naiveBinary(a, c.a, make([]float64, 1), []int{}, out)
			for i := range ref {
				if exp[i]*10 != ref[i] {
					t.Fatalf("BroadcastTo element %d: got %v want %v", i, exp[i], ref[i]/10)
				}
			}
		})
	}
	if _, err := BroadcastShapes([]int{2, 3}, []int{4}); err == nil {
		t.Fatal("expected an error for incompatible shapes")
	}
}

func TestFloat16RoundTrip(t *testing.T) {
	for _, f := range []float32{0, 1, -2.5, 65504, 1e-7, 6.1e-5, 3.14159} {
		h := F16From(f)
		back := h.Float32()
		d, m := float64(back-f), float64(f)
		if d < 0 {
			d = -d
		}
		if m < 0 {
			m = -m
		}
		if d > m*1e-3+1e-7 {
			t.Errorf("F16 %v -> %v", f, back)
		}
	}
	if F16From(1e6).Float32() != float32(inf32()) {
		t.Error("overflow should saturate to +Inf")
	}
	if BF16From(1.5).Float32() != 1.5 {
		t.Error("bfloat16 1.5")
	}
}

func inf32() float64 { var z float64; return 1 / z }
