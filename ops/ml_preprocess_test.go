package ops

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestScaler(t *testing.T) {
	cases := []struct {
		name  string
		attrs []*Attr
		in    *Tensor
		want  []float32
		err   string
	}{
		{"per feature", []*Attr{mlFloats("offset", 1, 2), mlFloats("scale", 2, 0.5)},
			FromSlice(Float, []float32{1, 2, 3, 6}, 2, 2), []float32{0, 0, 4, 2}, ""},
		{"broadcast", []*Attr{mlFloats("offset", 1), mlFloats("scale", 3)},
			FromSlice(Float, []float32{1, 2, 3}, 3), []float32{0, 3, 6}, ""},
		{"double", []*Attr{mlFloats("offset", 0.5), mlFloats("scale", 2)},
			FromSlice(Double, []float64{1, 2}, 1, 2), []float32{1, 3}, ""},
		{"int64", []*Attr{mlFloats("offset", 1, 1), mlFloats("scale", 1, -1)},
			FromSlice(Int64, []int64{3, 4}, 1, 2), []float32{2, -3}, ""},
		{"width mismatch", []*Attr{mlFloats("offset", 1, 2, 3), mlFloats("scale", 1)},
			FromSlice(Float, []float32{1, 2}, 1, 2), nil, "3 elements"},
	}
	for _, c := range cases {
		out, err := runML(t, "Scaler", 1, c.attrs, 1, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: got error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if out[0].DType != Float || !EqualShapes(out[0].Shape, c.in.Shape) {
			t.Fatalf("%s: got %s", c.name, out[0])
		}
		mlWantFloats(t, c.name, out[0].Float32s(), c.want, 1e-6)
	}
	if _, err := runML(t, "Scaler", 1, []*Attr{mlFloats("offset", 1, 2), mlFloats("scale", 1, 2, 3)}, 1, FromSlice(Float, []float32{1}, 1)); err == nil {
		t.Errorf("inconsistent offset/scale accepted")
	}
}

func TestNormalizer(t *testing.T) {
	x := FromSlice(Float, []float32{1, -2, 2, 0, 0, 0}, 2, 3)
	cases := []struct {
		norm string
		want []float32
	}{
		{"MAX", []float32{0.5, -1, 1, 0, 0, 0}},
		{"L1", []float32{0.2, -0.4, 0.4, 0, 0, 0}},
		{"L2", []float32{1.0 / 3, -2.0 / 3, 2.0 / 3, 0, 0, 0}},
	}
	for _, c := range cases {
		out, err := runML(t, "Normalizer", 1, []*Attr{mlStr("norm", c.norm)}, 1, x)
		if err != nil {
			t.Fatal(err)
		}
		mlWantFloats(t, c.norm, out[0].Float32s(), c.want, 1e-6)
	}
	out, err := runML(t, "Normalizer", 1, []*Attr{mlStr("norm", "L1")}, 1, FromSlice(Int32, []int32{1, 3}, 2))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "int32", out[0].Float32s(), []float32{0.25, 0.75}, 1e-7)
	if _, err := runML(t, "Normalizer", 1, []*Attr{mlStr("norm", "L3")}, 1, x); err == nil {
		t.Errorf("bad norm accepted")
	}
	if _, err := runML(t, "Normalizer", 1, nil, 1, FromSlice(Float, []float32{1}, 1, 1, 1)); err == nil {
		t.Errorf("rank 3 accepted")
	}
}

func TestBinarizer(t *testing.T) {
	nan := float32(math.NaN())
	out, err := runML(t, "Binarizer", 1, []*Attr{&Attr{Name: "threshold", Type: AttrFloat, F: 1}}, 1,
		FromSlice(Float, []float32{0.5, 1, 1.5, nan}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "float", out[0].Float32s(), []float32{0, 0, 1, 0}, 0)
	out, err = runML(t, "Binarizer", 1, nil, 1, FromSlice(Int64, []int64{-1, 0, 3}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 0 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("int64: got %v", got)
	}
}

func TestImputer(t *testing.T) {
	nan := float32(math.NaN())
	out, err := runML(t, "Imputer", 1, []*Attr{mlFloats("imputed_value_floats", 10, 20),
		&Attr{Name: "replaced_value_float", Type: AttrFloat, F: nan}}, 1,
		FromSlice(Float, []float32{nan, 1, 2, nan}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "nan", out[0].Float32s(), []float32{10, 1, 2, 20}, 0)

	out, err = runML(t, "Imputer", 1, []*Attr{mlFloats("imputed_value_floats", 7), &Attr{Name: "replaced_value_float", Type: AttrFloat, F: -1}}, 1,
		FromSlice(Float, []float32{-1, 1, nan}, 3))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "marker", out[0].Float32s(), []float32{7, 1, nan}, 0)

	out, err = runML(t, "Imputer", 1, []*Attr{mlInts("imputed_value_int64s", 5, 6), mlInt("replaced_value_int64", 0)}, 1,
		FromSlice(Int64, []int64{0, 0, 3, 0}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 5 || got[1] != 6 || got[2] != 3 || got[3] != 6 {
		t.Fatalf("int64: got %v", got)
	}
	if _, err := runML(t, "Imputer", 1, []*Attr{mlFloats("imputed_value_floats", 1, 2, 3)}, 1, FromSlice(Float, []float32{1, 2}, 1, 2)); err == nil {
		t.Errorf("length mismatch accepted")
	}
	if _, err := runML(t, "Imputer", 1, nil, 1, FromSlice(Float, []float32{1}, 1)); err == nil {
		t.Errorf("missing values accepted")
	}
}

// BenchmarkScaler measures the per-feature path on a 1000x20 batch.
func BenchmarkScaler(b *testing.B) {
	off := make([]float32, 20)
	sc := make([]float32, 20)
	for i := range sc {
		off[i], sc[i] = float32(i), 1/float32(i+1)
	}
	k, err := DefaultRegistry().Build(&Node{OpType: "Scaler", Domain: DomainML, Version: 1,
		Attrs: NewAttrs(mlFloats("offset", off...), mlFloats("scale", sc...)), Inputs: []string{"x"}, Outputs: []string{"y"}})
	if err != nil {
		b.Fatal(err)
	}
	in := []*Tensor{NewTensor(Float, 1000, 20)}
	out := make([]*Tensor, 1)
	ec := NewContext(context.Background(), nil, NewArena())
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, in, out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
}
