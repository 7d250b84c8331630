package ops

import "testing"

func TestQuantizeLinear(t *testing.T) {
	tests := []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		dt    DType
		shape []int
		want  []float64
	}{
		{"per tensor uint8", nil,
			[]*Tensor{laF32([]int{5}, 0, 1, 2.5, -3, 300), laF32([]int{}, 2), FromSlice(Uint8, []uint8{10}, 1)},
			Uint8, []int{5}, []float64{10, 10, 11, 8, 160}},
		{"default uint8, no zero point", nil,
			[]*Tensor{laF32([]int{3}, -1, 3, 1000), laF32([]int{}, 1)},
			Uint8, []int{3}, []float64{0, 3, 255}},
		{"per axis int8", []*Attr{laAttrI("axis", 0)},
			[]*Tensor{laF32([]int{2, 2}, 1, 2, 3, 4), laF32([]int{2}, 1, 2), FromSlice(Int8, []int8{0, -1}, 2)},
			Int8, []int{2, 2}, []float64{1, 2, 1, 1}},
		{"blocked", []*Attr{laAttrI("axis", 1), laAttrI("block_size", 2)},
			[]*Tensor{laF32([]int{1, 5}, 1, 2, 3, 4, 10), laF32([]int{1, 3}, 1, 4, 5)},
			Uint8, []int{1, 5}, []float64{1, 2, 1, 1, 2}},
		{"int4 saturates", nil,
			[]*Tensor{laF32([]int{3}, -20, 3.4, 7.6), laF32([]int{}, 1), FromSlice(Int4, []int8{0}, 1)},
			Int4, []int{3}, []float64{-8, 3, 7}},
		{"output_dtype int16", []*Attr{laAttrI("output_dtype", int64(Int16))},
			[]*Tensor{laF32([]int{2}, -40000, 2.5), laF32([]int{}, 1)},
			Int16, []int{2}, []float64{-32768, 2}},
	}
	for _, tc := range tests {
		q := laNode{op: "QuantizeLinear", version: 21, attrs: tc.attrs}
		out, err := q.run(tc.in...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if out[0].DType != tc.dt {
			t.Fatalf("%s: type %s, want %s", tc.name, out[0].DType, tc.dt)
		}
		laCheck(t, tc.name, out[0], tc.shape, tc.want, 0)
	}
	// float8: saturating and not.
	for _, sat := range []int64{1, 0} {
		q := laNode{op: "QuantizeLinear", version: 21, attrs: []*Attr{laAttrI("saturate", sat)}}
		out, err := q.run(laF32([]int{2}, 1, 1000), laF32([]int{}, 1), FromSlice(Float8E4M3FN, []uint8{0}, 1))
		if err != nil {
			t.Fatal(err)
		}
		got := out[0].Data.([]uint8)
		want := []uint8{0x38, 0x7e}
		if sat == 0 {
			want[1] = 0x7f
		}
		if got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("float8 saturate=%d: got %#x, want %#x", sat, got, want)
		}
	}
	q := laNode{op: "QuantizeLinear", version: 21, attrs: []*Attr{laAttrI("output_dtype", int64(Int8))}}
	_, err := q.run(laF32([]int{1}, 1), laF32([]int{}, 1), FromSlice(Uint8, []uint8{0}, 1))
	laWantErr(t, "output_dtype mismatch", err, "differs")
	q = laNode{op: "QuantizeLinear", version: 21, attrs: []*Attr{laAttrI("block_size", 2)}}
	_, err = q.run(laF32([]int{1, 4}, 1, 2, 3, 4), laF32([]int{1, 3}, 1, 1, 1))
	laWantErr(t, "blocked shape", err, "block_size")
	q = laNode{op: "QuantizeLinear", version: 21}
	_, err = q.run(laF32([]int{2, 2}, 1, 2, 3, 4), laF32([]int{3}, 1, 1, 1))
	laWantErr(t, "axis shape", err, "does not match axis")
	q = laNode{op: "QuantizeLinear", version: 21, attrs: []*Attr{laAttrI("output_dtype", int64(Float))}}
	_, err = q.run(laF32([]int{1}, 1), laF32([]int{}, 1))
	laWantErr(t, "bad output_dtype", err, "not a quantized type")
}

func TestDequantizeLinear(t *testing.T) {
	tests := []struct {
		name  string
		attrs []*Attr
		in    []*Tensor
		dt    DType
		shape []int
		want  []float64
	}{
		{"uint8", nil,
			[]*Tensor{FromSlice(Uint8, []uint8{10, 20}, 2), laF32([]int{}, 0.5), FromSlice(Uint8, []uint8{10}, 1)},
			Float, []int{2}, []float64{0, 5}},
		{"per axis int8", nil,
			[]*Tensor{FromSlice(Int8, []int8{1, 2, 3, 4}, 2, 2), laF32([]int{2}, 2, 3)},
			Float, []int{2, 2}, []float64{2, 6, 6, 12}},
		{"int32", nil,
			[]*Tensor{FromSlice(Int32, []int32{-7, 100000}, 2), laF32([]int{}, 2)},
			Float, []int{2}, []float64{-14, 200000}},
		{"float16 scale", nil,
			[]*Tensor{FromSlice(Uint8, []uint8{3}, 1), FromSlice(Float16, []F16{F16From(0.5)})},
			Float16, []int{1}, []float64{1.5}},
		{"float8", nil,
			[]*Tensor{FromSlice(Float8E4M3FN, []uint8{0x38, 0xb8}, 2), laF32([]int{}, 2)},
			Float, []int{2}, []float64{2, -2}},
		{"blocked int4", []*Attr{laAttrI("axis", 0), laAttrI("block_size", 2)},
			[]*Tensor{FromSlice(Int4, []int8{1, -2, 3}, 3), laF32([]int{2}, 1, 10), FromSlice(Int4, []int8{0, 1}, 2)},
			Float, []int{3}, []float64{1, -2, 20}},
		{"output_dtype", []*Attr{laAttrI("output_dtype", int64(Float16))},
			[]*Tensor{FromSlice(Uint8, []uint8{4}, 1), laF32([]int{}, 0.25)},
			Float16, []int{1}, []float64{1}},
	}
	for _, tc := range tests {
		d := laNode{op: "DequantizeLinear", version: 23, attrs: tc.attrs}
		out, err := d.run(tc.in...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if out[0].DType != tc.dt {
			t.Fatalf("%s: type %s, want %s", tc.name, out[0].DType, tc.dt)
		}
		laCheck(t, tc.name, out[0], tc.shape, tc.want, 1e-6)
	}
	d := laNode{op: "DequantizeLinear", version: 21}
	_, err := d.run(FromSlice(Uint8, []uint8{1}, 1), laF32([]int{}, 1), FromSlice(Int8, []int8{0}, 1))
	laWantErr(t, "zero point type", err, "differs")
	_, err = d.run(laF32([]int{1}, 1), laF32([]int{}, 1))
	laWantErr(t, "float input", err, "cannot read")
}

func TestDynamicQuantizeLinear(t *testing.T) {
	d := laNode{op: "DynamicQuantizeLinear", version: 11, nOut: 3}
	out, err := d.run(laF32([]int{3}, -1, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "y", out[0], []int{3}, []float64{0, 64, 255}, 0)
	laCheck(t, "scale", out[1], []int{}, []float64{4.0 / 255}, 1e-6)
	laCheck(t, "zero point", out[2], []int{}, []float64{64}, 0)
	// All zeros: scale falls back to 1/255.
	out, err = d.run(laF32([]int{2}, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "zeros", out[0], []int{2}, []float64{0, 0}, 0)
	_, err = d.run(FromSlice(Double, []float64{1}, 1))
	laWantErr(t, "double", err, "float32")
}

func TestMatMulInteger(t *testing.T) {
	a := FromSlice(Uint8, []uint8{11, 12, 13, 14}, 2, 2)
	b := FromSlice(Uint8, []uint8{1, 2, 3, 4}, 2, 2)
	m := laNode{op: "MatMulInteger", version: 10}
	out, err := m.run(a, b, FromSlice(Uint8, []uint8{10}))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Int32 {
		t.Fatalf("type %s", out[0].DType)
	}
	laCheck(t, "scalar zp", out[0], []int{2, 2}, []float64{7, 10, 15, 22}, 0)
	out, err = m.run(a, b, FromSlice(Uint8, []uint8{10, 12}, 2), FromSlice(Uint8, []uint8{1, 0}, 2))
	if err != nil {
		t.Fatal(err)
	}
	// A-zp = [[1 2] [1 2]], B-zp = [[0 2] [2 4]]
	laCheck(t, "vector zp", out[0], []int{2, 2}, []float64{4, 10, 4, 10}, 0)
	_, err = m.run(a, FromSlice(Int8, []int8{1, 2, 3, 4}, 2, 2), FromSlice(Int8, []int8{0}))
	laWantErr(t, "zp type", err, "zero point type")
	_, err = m.run(a, b, FromSlice(Uint8, []uint8{1, 2, 3}, 3))
	laWantErr(t, "zp size", err, "does not match")
}

func TestQLinearMatMul(t *testing.T) {
	q := laNode{op: "QLinearMatMul", version: 21}
	out, err := q.run(
		FromSlice(Uint8, []uint8{2, 4}, 1, 2), laF32([]int{}, 0.5), FromSlice(Uint8, []uint8{0}),
		FromSlice(Uint8, []uint8{2, 2}, 2, 1), laF32([]int{}, 1), FromSlice(Uint8, []uint8{1}),
		laF32([]int{}, 0.25), FromSlice(Uint8, []uint8{3}))
	if err != nil {
		t.Fatal(err)
	}
	// (2*1 + 4*1) * 0.5*1/0.25 + 3 = 15
	laCheck(t, "uint8", out[0], []int{1, 1}, []float64{15}, 0)
	out, err = q.run(
		FromSlice(Int8, []int8{100, 100}, 1, 2), laF32([]int{}, 1), FromSlice(Int8, []int8{0}),
		FromSlice(Int8, []int8{1, 1}, 2, 1), laF32([]int{}, 1), FromSlice(Int8, []int8{0}),
		laF32([]int{}, 1), FromSlice(Int8, []int8{0}))
	if err != nil {
		t.Fatal(err)
	}
	laCheck(t, "int8 saturates", out[0], []int{1, 1}, []float64{127}, 0)
	_, err = q.run(FromSlice(Uint8, []uint8{2}, 1, 1), nil, nil, FromSlice(Uint8, []uint8{2}, 1, 1), laF32([]int{}, 1), nil, laF32([]int{}, 1), nil)
	laWantErr(t, "missing scale", err, "a_scale")
}
