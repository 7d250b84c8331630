package ops

import (
	"math"
	"math/rand"
	"testing"
)

// naiveConv2D is the reference convolution (NCHW, grouped, dilated).
func naiveConv2D(x, w, b []float32, N, C, H, W, M, KH, KW, group, sh, sw, ph, pw, dh, dw, OH, OW int) []float64 {
	y := make([]float64, N*M*OH*OW)
	cg, mg := C/group, M/group
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			g := m / mg
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					var s float64
					if b != nil {
						s = float64(b[m])
					}
					for c := 0; c < cg; c++ {
						for kh := 0; kh < KH; kh++ {
							for kw := 0; kw < KW; kw++ {
								ih, iw := oh*sh-ph+kh*dh, ow*sw-pw+kw*dw
								if ih < 0 || ih >= H || iw < 0 || iw >= W {
									continue
								}
								s += float64(x[((n*C+g*cg+c)*H+ih)*W+iw]) * float64(w[((m*cg+c)*KH+kh)*KW+kw])
							}
						}
					}
					y[((n*M+m)*OH+oh)*OW+ow] = s
				}
			}
		}
	}
	return y
}

func TestConv(t *testing.T) {
	ones := func(shape ...int) *Tensor {
		v := make([]float32, NumElements(shape))
		for i := range v {
			v[i] = 1
		}
		return cvtF32(shape, v...)
	}
	tests := []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		shape []int
		want  []float64
	}{
		{"valid", nil, []*Tensor{cvtSeq(1, 1, 3, 3), ones(1, 1, 2, 2)}, []int{1, 1, 2, 2}, []float64{8, 12, 20, 24}},
		{"pads", []*Attr{cvtInts("pads", 1, 1, 1, 1)}, []*Tensor{cvtSeq(1, 1, 3, 3), ones(1, 1, 3, 3)},
			[]int{1, 1, 3, 3}, []float64{8, 15, 12, 21, 36, 27, 20, 33, 24}},
		{"strides", []*Attr{cvtInts("pads", 1, 1, 1, 1), cvtInts("strides", 2, 2)}, []*Tensor{cvtSeq(1, 1, 3, 3), ones(1, 1, 3, 3)},
			[]int{1, 1, 2, 2}, []float64{8, 12, 20, 24}},
		{"group and bias", []*Attr{cvtInt("group", 2)},
			[]*Tensor{cvtF32([]int{1, 2, 1, 2}, 1, 2, 3, 4), cvtF32([]int{2, 1, 1, 1}, 10, 100), cvtF32([]int{2}, 1, 2)},
			[]int{1, 2, 1, 2}, []float64{11, 21, 302, 402}},
		{"dilations", []*Attr{cvtInts("dilations", 1, 2)}, []*Tensor{cvtSeq(1, 1, 1, 5), ones(1, 1, 1, 2)},
			[]int{1, 1, 1, 3}, []float64{2, 4, 6}},
		{"same upper 1d", []*Attr{cvtStr("auto_pad", "SAME_UPPER")}, []*Tensor{cvtF32([]int{1, 1, 4}, 1, 2, 3, 4), ones(1, 1, 2)},
			[]int{1, 1, 4}, []float64{3, 5, 7, 4}},
		{"same lower 1d", []*Attr{cvtStr("auto_pad", "SAME_LOWER")}, []*Tensor{cvtF32([]int{1, 1, 4}, 1, 2, 3, 4), ones(1, 1, 2)},
			[]int{1, 1, 4}, []float64{1, 3, 5, 7}},
		{"3d", nil, []*Tensor{cvtSeq(1, 1, 2, 2, 2), ones(1, 1, 2, 2, 2)}, []int{1, 1, 1, 1, 1}, []float64{28}},
	}
	for _, tc := range tests {
		out := cvtMust(t, "Conv", 11, tc.attrs, 1, tc.in...)
		cvtCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
	// Double and float16 take their own paths.
	xd := FromSlice(Double, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, 3, 3)
	wd := FromSlice(Double, []float64{1, 1, 1, 1}, 1, 1, 2, 2)
	out := cvtMust(t, "Conv", 11, nil, 1, xd, wd)
	cvtCheck(t, "double", out[0], []int{1, 1, 2, 2}, []float64{8, 12, 20, 24}, 0)
	xh := make([]F16, 9)
	for i := range xh {
		xh[i] = F16From(float32(i))
	}
	wh := []F16{F16From(1), F16From(1), F16From(1), F16From(1)}
	out = cvtMust(t, "Conv", 11, nil, 1, FromSlice(Float16, xh, 1, 1, 3, 3), FromSlice(Float16, wh, 1, 1, 2, 2))
	cvtCheck(t, "float16", out[0], []int{1, 1, 2, 2}, []float64{8, 12, 20, 24}, 0)
}

func TestConvRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	cases := []struct{ N, C, H, W, M, KH, KW, group, sh, sw, ph, pw, dh, dw int }{
		{2, 6, 7, 5, 9, 3, 2, 3, 2, 1, 1, 0, 1, 2},
		{1, 3, 11, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},
		{1, 16, 4, 4, 5, 1, 1, 1, 1, 1, 0, 0, 1, 1},
		{3, 4, 9, 9, 4, 3, 3, 4, 2, 2, 1, 1, 1, 1},
		// large enough for the packed SGEMM path, with tiles narrower
		// than the output rows
		{1, 48, 23, 29, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},
		{2, 64, 17, 15, 72, 3, 3, 2, 2, 2, 1, 1, 1, 1},
		{1, 96, 14, 14, 64, 1, 1, 1, 1, 1, 0, 0, 1, 1},
		// inputs narrower than the window: windows wholly in the padding
		{1, 4, 1, 1, 4, 5, 5, 1, 1, 1, 2, 2, 1, 1},
		{1, 4, 1, 3, 6, 3, 5, 1, 1, 1, 1, 2, 1, 1},
		{2, 3, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1}, // depthwise 3×3 on 1×1
		{1, 5, 2, 2, 5, 3, 3, 5, 2, 2, 1, 1, 1, 1}, // depthwise 3×3, stride 2, on 2×2
		{1, 4, 4, 9, 8, 3, 3, 4, 1, 2, 2, 0, 1, 1}, // depthwise ×2, wide padding
	}
	for i, c := range cases {
		x := cvtRand(r, c.N, c.C, c.H, c.W)
		w := cvtRand(r, c.M, c.C/c.group, c.KH, c.KW)
		b := cvtRand(r, c.M)
		OH := (c.H+2*c.ph-((c.KH-1)*c.dh+1))/c.sh + 1
		OW := (c.W+2*c.pw-((c.KW-1)*c.dw+1))/c.sw + 1
		want := naiveConv2D(x.Float32s(), w.Float32s(), b.Float32s(), c.N, c.C, c.H, c.W, c.M, c.KH, c.KW, c.group,
			c.sh, c.sw, c.ph, c.pw, c.dh, c.dw, OH, OW)
		attrs := []*Attr{
			cvtInt("group", int64(c.group)), cvtInts("strides", int64(c.sh), int64(c.sw)),
			cvtInts("pads", int64(c.ph), int64(c.pw), int64(c.ph), int64(c.pw)),
			cvtInts("dilations", int64(c.dh), int64(c.dw)), cvtInts("kernel_shape", int64(c.KH), int64(c.KW)),
		}
		out := cvtMust(t, "Conv", 11, attrs, 1, x, w, b)
		cvtCheck(t, "random conv "+string(rune('0'+i)), out[0], []int{c.N, c.M, OH, OW}, want, 1e-4*float64(c.C*c.KH*c.KW/c.group+10)/10)
	}
}

func TestConvErrors(t *testing.T) {
	_, err := cvtRun(t, "Conv", 11, nil, 1, cvtSeq(1, 2, 3, 3), cvtSeq(1, 1, 2, 2))
	cvtWantErr(t, "channels", err, "channels")
	_, err = cvtRun(t, "Conv", 11, []*Attr{cvtInts("kernel_shape", 3, 3)}, 1, cvtSeq(1, 1, 3, 3), cvtSeq(1, 1, 2, 2))
	cvtWantErr(t, "kernel_shape", err, "kernel_shape")
	_, err = cvtRun(t, "Conv", 11, []*Attr{cvtStr("auto_pad", "MIDDLE")}, 1, cvtSeq(1, 1, 3, 3), cvtSeq(1, 1, 2, 2))
	cvtWantErr(t, "auto_pad", err, "auto_pad")
	_, err = cvtRun(t, "Conv", 11, []*Attr{cvtInts("pads", -1, 0, 0, 0)}, 1, cvtSeq(1, 1, 3, 3), cvtSeq(1, 1, 2, 2))
	cvtWantErr(t, "pads", err, "negative")
	_, err = cvtRun(t, "Conv", 11, nil, 1, cvtSeq(1, 3), cvtSeq(1, 3))
	cvtWantErr(t, "rank", err, "rank")
	_, err = cvtRun(t, "Conv", 11, nil, 1, cvtSeq(1, 1, 3, 3), cvtSeq(1, 1, 2, 2), cvtSeq(3))
	cvtWantErr(t, "bias", err, "B shape")
	_, err = cvtRun(t, "Conv", 11, nil, 1, cvtI64([]int{1, 1, 1}, 1), cvtI64([]int{1, 1, 1}, 1))
	cvtWantErr(t, "dtype", err, "unsupported")
}

func TestConvTranspose(t *testing.T) {
	x := cvtF32([]int{1, 1, 2}, 1, 2)
	w := cvtF32([]int{1, 1, 3}, 1, 1, 1)
	tests := []struct {
		name  string
		attrs []*Attr
		shape []int
		want  []float64
	}{
		{"plain", nil, []int{1, 1, 4}, []float64{1, 3, 3, 2}},
		{"stride", []*Attr{cvtInts("strides", 2)}, []int{1, 1, 5}, []float64{1, 1, 3, 2, 2}},
		{"pads", []*Attr{cvtInts("strides", 2), cvtInts("pads", 1, 1)}, []int{1, 1, 3}, []float64{1, 3, 2}},
		{"output_padding", []*Attr{cvtInts("strides", 2), cvtInts("output_padding", 1)}, []int{1, 1, 6}, []float64{1, 1, 3, 2, 2, 0}},
		{"output_shape", []*Attr{cvtInts("strides", 2), cvtInts("output_shape", 6)}, []int{1, 1, 6}, []float64{1, 1, 3, 2, 2, 0}},
		{"same upper", []*Attr{cvtInts("strides", 2), cvtStr("auto_pad", "SAME_UPPER")}, []int{1, 1, 4}, []float64{1, 1, 3, 2}},
	}
	for _, tc := range tests {
		out := cvtMust(t, "ConvTranspose", 11, tc.attrs, 1, x, w)
		cvtCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
	// Grouped 2-D with bias against a direct scatter.
	r := rand.New(rand.NewSource(2))
	N, C, H, W, mg, group, K, s, p := 2, 4, 3, 4, 3, 2, 3, 2, 1
	xr := cvtRand(r, N, C, H, W)
	wr := cvtRand(r, C, mg, K, K)
	br := cvtRand(r, mg*group)
	OH, OW := s*(H-1)+K-2*p, s*(W-1)+K-2*p
	want := make([]float64, N*mg*group*OH*OW)
	cg := C / group
	for n := 0; n < N; n++ {
		for m := 0; m < mg*group; m++ {
			for i := 0; i < OH*OW; i++ {
				want[(n*mg*group+m)*OH*OW+i] = float64(br.Float32s()[m])
			}
		}
		for c := 0; c < C; c++ {
			g := c / cg
			for ih := 0; ih < H; ih++ {
				for iw := 0; iw < W; iw++ {
					xv := float64(xr.Float32s()[((n*C+c)*H+ih)*W+iw])
					for m := 0; m < mg; m++ {
						for kh := 0; kh < K; kh++ {
							for kw := 0; kw < K; kw++ {
								oh, ow := ih*s-p+kh, iw*s-p+kw
								if oh < 0 || oh >= OH || ow < 0 || ow >= OW {
									continue
								}
								want[((n*mg*group+g*mg+m)*OH+oh)*OW+ow] += xv * float64(wr.Float32s()[((c*mg+m)*K+kh)*K+kw])
							}
						}
					}
				}
			}
		}
	}
	attrs := []*Attr{cvtInt("group", int64(group)), cvtInts("strides", int64(s), int64(s)), cvtInts("pads", int64(p), int64(p), int64(p), int64(p))}
	out := cvtMust(t, "ConvTranspose", 11, attrs, 1, xr, wr, br)
	cvtCheck(t, "grouped 2d", out[0], []int{N, mg * group, OH, OW}, want, 1e-4)

	_, err := cvtRun(t, "ConvTranspose", 11, nil, 1, cvtSeq(1, 2, 3), cvtSeq(1, 1, 2))
	cvtWantErr(t, "channels", err, "input channels")
	_, err = cvtRun(t, "ConvTranspose", 11, []*Attr{cvtInts("output_padding", -1)}, 1, x, w)
	cvtWantErr(t, "output_padding", err, "output_padding")
}

func TestDeformConv(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	x := cvtRand(r, 1, 4, 5, 5)
	w := cvtRand(r, 6, 2, 3, 3)
	b := cvtRand(r, 6)
	attrs := []*Attr{cvtInt("group", 2), cvtInts("pads", 1, 1, 1, 1), cvtInt("offset_group", 2)}
	conv := cvtMust(t, "Conv", 11, attrs[:2], 1, x, w, b)
	// Zero offsets and a unit mask reduce to a plain convolution.
	offset := cvtF32([]int{1, 2 * 9 * 2, 5, 5}, make([]float32, 2*9*2*25)...)
	maskV := make([]float32, 2*9*25)
	for i := range maskV {
		maskV[i] = 1
	}
	mask := cvtF32([]int{1, 2 * 9, 5, 5}, maskV...)
	want, _ := conv[0].AsFloat64s()
	out := cvtMust(t, "DeformConv", 19, attrs, 1, x, w, offset, b, mask)
	cvtCheck(t, "zero offsets", out[0], []int{1, 6, 5, 5}, want, 1e-5)
	// A whole-pixel offset shifts the sampling point: with a 1×1 kernel
	// and offset (0, 1) every output reads its right neighbour.
	x1 := cvtSeq(1, 1, 2, 3)
	w1 := cvtF32([]int{1, 1, 1, 1}, 1)
	off1 := cvtF32([]int{1, 2, 2, 3}, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1)
	out = cvtMust(t, "DeformConv", 19, nil, 1, x1, w1, off1)
	cvtCheck(t, "shift", out[0], []int{1, 1, 2, 3}, []float64{1, 2, 0, 4, 5, 0}, 1e-6)
	_, err := cvtRun(t, "DeformConv", 19, nil, 1, x1, w1, cvtSeq(1, 2, 2, 2))
	cvtWantErr(t, "offset shape", err, "offset")
}

func TestConvInteger(t *testing.T) {
	x := FromSlice(Uint8, []uint8{2, 3, 4, 5}, 1, 1, 2, 2)
	w := FromSlice(Uint8, []uint8{3}, 1, 1, 1, 1)
	xz := FromSlice(Uint8, []uint8{1}, 1)
	wz := FromSlice(Uint8, []uint8{1}, 1)
	out := cvtMust(t, "ConvInteger", 10, nil, 1, x, w, xz, wz)
	if out[0].DType != Int32 {
		t.Fatalf("dtype %s, want int32", out[0].DType)
	}
	cvtCheck(t, "zero points", out[0], []int{1, 1, 2, 2}, []float64{2, 4, 6, 8}, 0)
	_, err := cvtRun(t, "ConvInteger", 10, nil, 1, cvtSeq(1, 1, 2, 2), w)
	cvtWantErr(t, "dtype", err, "unsupported")
}

func TestConvGemmNT(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, d := range [][3]int{{1, 1, 1}, {5, 3, 7}, {8, 9, 4}, {13, 6, 33}} {
		m, n, k := d[0], d[1], d[2]
		a, b := cvtRand(r, m, k).Float32s(), cvtRand(r, n, k).Float32s()
		bias := cvtRand(r, m).Float32s()
		c := make([]float32, m*n)
		convGemmNT(m, n, k, a, k, b, k, c, n, bias, false)
		convGemmNT(m, n, k, a, k, b, k, c, n, nil, true)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					s += float64(a[i*k+p]) * float64(b[j*k+p])
				}
				want := 2*s + float64(bias[i])
				if d := float64(c[i*n+j]) - want; d > 1e-4 || d < -1e-4 {
					t.Fatalf("gemm %v [%d,%d] = %v, want %v", d, i, j, c[i*n+j], want)
				}
			}
		}
	}
}

func BenchmarkConv3x3(b *testing.B) {
	r := rand.New(rand.NewSource(5))
	x := cvtRand(r, 1, 64, 56, 56)
	w := cvtRand(r, 64, 64, 3, 3)
	bias := cvtRand(r, 64)
	cvtBench(b, "Conv", 11, []*Attr{cvtInts("pads", 1, 1, 1, 1)}, x, w, bias)
}

func BenchmarkConv1x1(b *testing.B) {
	r := rand.New(rand.NewSource(6))
	x := cvtRand(r, 1, 256, 28, 28)
	w := cvtRand(r, 128, 256, 1, 1)
	cvtBench(b, "Conv", 11, nil, x, w)
}

func TestCausalConvWithState(t *testing.T) {
	x := cvtF32([]int{1, 1, 3}, 1, 2, 3)
	w := cvtF32([]int{1, 1, 2}, 1, 10)
	past := cvtF32([]int{1, 1, 1}, 5)
	out := cvtMust(t, "CausalConvWithState", 27, nil, 2, x, w, nil, past)
	cvtCheck(t, "output", out[0], []int{1, 1, 3}, []float64{15, 21, 32}, 1e-6)
	cvtCheck(t, "present_state", out[1], []int{1, 1, 1}, []float64{3}, 0)
	out = cvtMust(t, "CausalConvWithState", 27, []*Attr{cvtStr("activation", "silu")}, 2, x, w, cvtF32([]int{1}, -20))
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	cvtCheck(t, "silu no state", out[0], []int{1, 1, 3}, []float64{silu(-10), silu(1), silu(12)}, 1e-6)
	_, err := cvtRun(t, "CausalConvWithState", 27, nil, 2, x, cvtF32([]int{1, 2}, 1, 1))
	cvtWantErr(t, "weight", err, "weight")
	_, err = cvtRun(t, "CausalConvWithState", 27, []*Attr{cvtStr("activation", "gelu")}, 2, x, w)
	cvtWantErr(t, "activation", err, "activation")
}

func TestQLinearConv(t *testing.T) {
	u8 := func(shape []int, v ...uint8) *Tensor { return FromSlice(Uint8, v, shape...) }
	x := u8([]int{1, 1, 1, 2}, 3, 5)
	w := u8([]int{1, 1, 1, 1}, 4)
	bias := FromSlice(Int32, []int32{4}, 1)
	in := []*Tensor{x, cvtF32(nil, 0.5), u8(nil, 1), w, cvtF32(nil, 0.25), u8(nil, 2), cvtF32(nil, 0.1), u8(nil, 10), bias}
	out := cvtMust(t, "QLinearConv", 10, nil, 1, in...)
	if out[0].DType != Uint8 {
		t.Fatalf("dtype %s, want uint8", out[0].DType)
	}
	cvtCheck(t, "requantized", out[0], []int{1, 1, 1, 2}, []float64{20, 25}, 0)
	in[6] = cvtF32(nil, 0.001)
	out = cvtMust(t, "QLinearConv", 10, nil, 1, in...)
	cvtCheck(t, "saturated", out[0], []int{1, 1, 1, 2}, []float64{255, 255}, 0)
	_, err := cvtRun(t, "QLinearConv", 10, nil, 1, in[:5]...)
	cvtWantErr(t, "inputs", err, "inputs")
}

func BenchmarkConvDepthwise(b *testing.B) {
	r := rand.New(rand.NewSource(7))
	x := cvtRand(r, 1, 256, 56, 56)
	w := cvtRand(r, 256, 1, 3, 3)
	cvtBench(b, "Conv", 11, []*Attr{cvtInts("pads", 1, 1, 1, 1), cvtInt("group", 256)}, x, w)
}

func TestConvDepthwise(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, c := range []struct{ C, mult, H, W, K, s, p, d int }{
		{4, 1, 7, 6, 3, 1, 1, 1},
		{3, 2, 9, 8, 3, 2, 1, 1},
		{2, 1, 6, 6, 2, 3, 2, 2},
		// 3×3: vector steps and tails at stride 1, stride 2, no padding,
		// wide padding, a 1×1 input, a channel multiplier
		{8, 1, 17, 23, 3, 1, 1, 1},
		{5, 1, 12, 40, 3, 1, 0, 1},
		{6, 1, 15, 14, 3, 2, 1, 1},
		{3, 1, 7, 7, 3, 1, 3, 1},
		{3, 1, 1, 1, 3, 1, 1, 1},
		{4, 2, 10, 9, 3, 1, 1, 1},
		{64, 1, 28, 28, 3, 1, 1, 1},
	} {
		M := c.C * c.mult
		x := cvtRand(r, 2, c.C, c.H, c.W)
		w := cvtRand(r, M, 1, c.K, c.K)
		b := cvtRand(r, M)
		OH := (c.H+2*c.p-((c.K-1)*c.d+1))/c.s + 1
		OW := (c.W+2*c.p-((c.K-1)*c.d+1))/c.s + 1
		want := naiveConv2D(x.Float32s(), w.Float32s(), b.Float32s(), 2, c.C, c.H, c.W, M, c.K, c.K, c.C,
			c.s, c.s, c.p, c.p, c.d, c.d, OH, OW)
		attrs := []*Attr{cvtInt("group", int64(c.C)), cvtInts("strides", int64(c.s), int64(c.s)),
			cvtInts("pads", int64(c.p), int64(c.p), int64(c.p), int64(c.p)), cvtInts("dilations", int64(c.d), int64(c.d))}
		out := cvtMust(t, "Conv", 11, attrs, 1, x, w, b)
		cvtCheck(t, "depthwise", out[0], []int{2, M, OH, OW}, want, 1e-5)
	}
}

// TestConvDepthwise3x3AsymmetricPads: TensorFlow-style SAME padding (one
// extra row and column at the bottom and right only), checked against the
// naive convolution of the explicitly padded input.
func TestConvDepthwise3x3AsymmetricPads(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const C, H, W = 5, 12, 19
	x := cvtRand(r, 1, C, H, W)
	w := cvtRand(r, C, 1, 3, 3)
	b := cvtRand(r, C)
	padded := make([]float32, C*(H+1)*(W+1))
	for c := 0; c < C; c++ {
		for i := 0; i < H; i++ {
			copy(padded[(c*(H+1)+i)*(W+1):], x.Float32s()[(c*H+i)*W:(c*H+i+1)*W])
		}
	}
	for _, s := range []int{1, 2} {
		OH, OW := (H+1-3)/s+1, (W+1-3)/s+1
		want := naiveConv2D(padded, w.Float32s(), b.Float32s(), 1, C, H+1, W+1, C, 3, 3, C, s, s, 0, 0, 1, 1, OH, OW)
		attrs := []*Attr{cvtInt("group", C), cvtInts("strides", int64(s), int64(s)), cvtInts("pads", 0, 0, 1, 1)}
		out := cvtMust(t, "Conv", 11, attrs, 1, x, w, b)
		cvtCheck(t, "SAME depthwise", out[0], []int{1, C, OH, OW}, want, 1e-5)
	}
}

// TestConvDepthwise3DPadding: a 3-D depthwise convolution whose depth is
// padded (output depth 3 from input depth 1) must not take the 2-D 3×3
// fast path.
func TestConvDepthwise3DPadding(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	x := cvtRand(r, 1, 2, 1, 4, 4)
	w := cvtRand(r, 2, 1, 1, 3, 3)
	out := cvtMust(t, "Conv", 11, []*Attr{cvtInt("group", 2), cvtInts("pads", 1, 1, 1, 1, 1, 1)}, 1, x, w)
	xs, ws := x.Float32s(), w.Float32s()
	var want []float64
	for c := 0; c < 2; c++ {
		for oz := 0; oz < 3; oz++ {
			for oy := 0; oy < 4; oy++ {
				for ox := 0; ox < 4; ox++ {
					s := 0.0
					iz := oz - 1 // kernel depth 1, pad 1
					for ky := 0; ky < 3; ky++ {
						for kx := 0; kx < 3; kx++ {
							iy, ix := oy-1+ky, ox-1+kx
							if iz == 0 && iy >= 0 && iy < 4 && ix >= 0 && ix < 4 {
								s += float64(ws[c*9+ky*3+kx]) * float64(xs[c*16+iy*4+ix])
							}
						}
					}
					want = append(want, s)
				}
			}
		}
	}
	cvtCheck(t, "3-D depthwise", out[0], []int{1, 2, 3, 4, 4}, want, 1e-5)
}
