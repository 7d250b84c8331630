package signal

import (
	"math"
	"math/cmplx"
	"math/rand"
	"testing"

	"github.com/agate-ml/agate/ops"
)

func TestSignalFFTPlan(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 2, 3, 7, 12, 16, 100} {
		x := make([]complex128, n)
		for i := range x {
			x[i] = complex(r.Float64(), r.Float64())
		}
		p := newSignalFFTPlan(n)
		got := append([]complex128(nil), x...)
		p.transform(got, false, make([]complex128, p.scratchLen()))
		for k := 0; k < n; k++ {
			var want complex128
			for j, v := range x {
				want += v * cmplx.Rect(1, -2*math.Pi*float64(j*k)/float64(n))
			}
			if cmplx.Abs(got[k]-want) > 1e-9*float64(n) {
				t.Fatalf("n=%d: X[%d] = %v, want %v", n, k, got[k], want)
			}
		}
		p.transform(got, true, make([]complex128, p.scratchLen()))
		for k := range got {
			if cmplx.Abs(got[k]/complex(float64(n), 0)-x[k]) > 1e-9 {
				t.Fatalf("n=%d: round trip [%d] = %v, want %v", n, k, got[k], x[k])
			}
		}
	}
}

func TestDFT(t *testing.T) {
	x := cvtF32([]int{1, 4, 1}, 1, 2, 3, 4)
	out := cvtMust(t, "DFT", 17, nil, 1, x)
	spectrum := []float64{10, 0, -2, 2, -2, 0, -2, -2}
	cvtCheck(t, "forward", out[0], []int{1, 4, 2}, spectrum, 1e-6)
	out = cvtMust(t, "DFT", 17, []*ops.Attr{cvtInt("onesided", 1)}, 1, x)
	cvtCheck(t, "onesided", out[0], []int{1, 3, 2}, spectrum[:6], 1e-6)
	out = cvtMust(t, "DFT", 17, []*ops.Attr{cvtInt("inverse", 1)}, 1, cvtF32([]int{1, 4, 2}, 10, 0, -2, 2, -2, 0, -2, -2))
	cvtCheck(t, "inverse", out[0], []int{1, 4, 2}, []float64{1, 0, 2, 0, 3, 0, 4, 0}, 1e-6)
	// Opset 20: the axis is an input; inverse+onesided is an inverse real FFT.
	out = cvtMust(t, "DFT", 20, []*ops.Attr{cvtInt("inverse", 1), cvtInt("onesided", 1)}, 1,
		cvtF32([]int{1, 3, 2}, 10, 0, -2, 2, -2, 0), nil, cvtI64(nil, 1))
	cvtCheck(t, "irfft", out[0], []int{1, 4, 1}, []float64{1, 2, 3, 4}, 1e-6)
	out = cvtMust(t, "DFT", 20, nil, 1, cvtF32([]int{1, 2, 1}, 1, 2), cvtI64(nil, 4))
	cvtCheck(t, "dft_length pads", out[0], []int{1, 4, 2}, []float64{3, 0, 1, -2, -1, 0, 1, 2}, 1e-6)
	out = cvtMust(t, "DFT", 20, nil, 1, cvtF32([]int{2, 2, 1}, 1, 2, 3, 5), nil, cvtI64(nil, 0))
	cvtCheck(t, "axis 0", out[0], []int{2, 2, 2}, []float64{4, 0, 7, 0, -2, 0, -3, 0}, 1e-6)

	_, err := cvtRun(t, "DFT", 20, nil, 1, x, nil, cvtI64(nil, 2))
	cvtWantErr(t, "axis", err, "axis")
	_, err = cvtRun(t, "DFT", 17, nil, 1, cvtF32([]int{1, 4, 3}, make([]float32, 12)...))
	cvtWantErr(t, "last dim", err, "real")
	_, err = cvtRun(t, "DFT", 20, nil, 1, x, cvtI64(nil, 0))
	cvtWantErr(t, "dft_length", err, "dft_length")
}

func TestSTFT(t *testing.T) {
	sig := cvtF32([]int{1, 4, 1}, 1, 2, 3, 4)
	out := cvtMust(t, "STFT", 17, nil, 1, sig, cvtI64(nil, 2), nil, cvtI64(nil, 2))
	cvtCheck(t, "no window", out[0], []int{1, 2, 2, 2}, []float64{3, 0, -1, 0, 7, 0, -1, 0}, 1e-6)
	out = cvtMust(t, "STFT", 17, nil, 1, sig, cvtI64(nil, 1), cvtF32([]int{2}, 0, 1))
	cvtCheck(t, "window", out[0], []int{1, 3, 2, 2}, []float64{2, 0, -2, 0, 3, 0, -3, 0, 4, 0, -4, 0}, 1e-6)
	_, err := cvtRun(t, "STFT", 17, nil, 1, sig, cvtI64(nil, 0), nil, cvtI64(nil, 2))
	cvtWantErr(t, "frame_step", err, "frame_step")
	_, err = cvtRun(t, "STFT", 17, nil, 1, sig, cvtI64(nil, 1), cvtF32([]int{2}, 0, 1), cvtI64(nil, 3))
	cvtWantErr(t, "frame_length", err, "frame_length")
}

func TestWindows(t *testing.T) {
	size := func(n int64) *ops.Tensor { return cvtI64(nil, n) }
	tests := []struct {
		op    string
		attrs []*ops.Attr
		n     int64
		want  []float64
	}{
		{"HannWindow", nil, 4, []float64{0, 0.5, 1, 0.5}},
		{"HannWindow", []*ops.Attr{cvtInt("periodic", 0)}, 3, []float64{0, 1, 0}},
		{"HammingWindow", nil, 2, []float64{4.0 / 46, 1}},
		{"BlackmanWindow", nil, 4, []float64{0, 0.34, 1, 0.34}},
	}
	for _, tc := range tests {
		out := cvtMust(t, tc.op, 17, tc.attrs, 1, size(tc.n))
		cvtCheck(t, tc.op, out[0], []int{int(tc.n)}, tc.want, 1e-6)
	}
	out := cvtMust(t, "HannWindow", 17, []*ops.Attr{cvtInt("output_datatype", int64(ops.Double))}, 1, size(2))
	if out[0].DType != ops.Double {
		t.Fatalf("output_datatype: got %s", out[0].DType)
	}
	_, err := cvtRun(t, "HannWindow", 17, []*ops.Attr{cvtInt("output_datatype", int64(ops.String))}, 1, size(2))
	cvtWantErr(t, "output_datatype", err, "output_datatype")
	_, err = cvtRun(t, "HannWindow", 17, nil, 1, size(-1))
	cvtWantErr(t, "size", err, "size")
}

func TestMelWeightMatrix(t *testing.T) {
	out := cvtMust(t, "MelWeightMatrix", 17, nil, 1, cvtI64(nil, 2), cvtI64(nil, 16), cvtI64(nil, 16),
		cvtF32(nil, 0), cvtF32(nil, 8))
	cvtCheck(t, "mel", out[0], []int{9, 2}, []float64{0, 0, 0.5, 0, 1, 0, 0.5, 0.5, 0, 1, 0, 0.5, 0, 0, 0, 0, 0, 0}, 1e-6)
	_, err := cvtRun(t, "MelWeightMatrix", 17, nil, 1, cvtI64(nil, 2), cvtI64(nil, 16), cvtI64(nil, 16),
		cvtF32(nil, 0), cvtF32(nil, 32))
	cvtWantErr(t, "edges", err, "outside")
}

func BenchmarkSTFT(b *testing.B) {
	sig := cvtRand(rand.New(rand.NewSource(1)), 1, 16000, 1)
	win := make([]float32, 400)
	for i := range win {
		win[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/400))
	}
	cvtBench(b, "STFT", 17, nil, sig, cvtI64(nil, 160), cvtF32([]int{400}, win...))
}
