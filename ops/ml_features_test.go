package ops

import (
	"context"
	"testing"
)

func TestArrayFeatureExtractor(t *testing.T) {
	x := FromSlice(Float, []float32{0, 1, 2, 3, 4, 5}, 2, 3)
	out, err := runML(t, "ArrayFeatureExtractor", 1, nil, 1, x, FromSlice(Int64, []int64{2, 0}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{2, 2}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	mlWantFloats(t, "2-D", out[0].Float32s(), []float32{2, 0, 5, 3}, 0)
	out, err = runML(t, "ArrayFeatureExtractor", 1, nil, 1, FromSlice(String, []string{"a", "b", "c"}, 3), FromSlice(Int64, []int64{1}, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{1, 1}) || out[0].Strings()[0] != "b" {
		t.Fatalf("1-D: %v %v", out[0].Shape, out[0].Strings())
	}
	if _, err := runML(t, "ArrayFeatureExtractor", 1, nil, 1, x, FromSlice(Int64, []int64{3}, 1)); err == nil {
		t.Errorf("index out of range accepted")
	}
	if _, err := runML(t, "ArrayFeatureExtractor", 1, nil, 1, x, FromSlice(Int64, []int64{-1}, 1)); err == nil {
		t.Errorf("negative index accepted")
	}
}

func TestFeatureVectorizer(t *testing.T) {
	a := FromSlice(Int64, []int64{1, 2, 3, 4}, 2, 2)
	b := FromSlice(Float, []float32{5, 6, 7, 8, 9, 10}, 2, 3)
	out, err := runML(t, "FeatureVectorizer", 1, []*Attr{mlInts("inputdimensions", 3, 2)}, 1, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{2, 5}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	// a is padded to 3 columns, b truncated to 2.
	mlWantFloats(t, "mlVectorize", out[0].Float32s(), []float32{1, 2, 0, 5, 6, 3, 4, 0, 8, 9}, 0)
	if _, err := runML(t, "FeatureVectorizer", 1, []*Attr{mlInts("inputdimensions", 3, 2)}, 1, a, FromSlice(Float, []float32{1}, 1, 1)); err == nil {
		t.Errorf("row count mismatch accepted")
	}
}

func mlRunValues(t *testing.T, op string, attrs []*Attr, in ...Value) ([]Value, error) {
	t.Helper()
	k, err := DefaultRegistry().Build(&Node{OpType: op, Domain: DomainML, Version: 1, Attrs: NewAttrs(attrs...), Inputs: []string{"x"}, Outputs: []string{"y"}})
	if err != nil {
		return nil, err
	}
	out := make([]Value, 1)
	err = k.(ValueKernel).RunValues(NewContext(context.Background(), nil, nil), in, out)
	return out, err
}

func TestZipMap(t *testing.T) {
	x := FromSlice(Float, []float32{0.1, 0.9, 0.6, 0.4}, 2, 2)
	out, err := mlRunValues(t, "ZipMap", []*Attr{mlStrs("classlabels_strings", "no", "yes")}, x)
	if err != nil {
		t.Fatal(err)
	}
	seq := out[0].(*Sequence)
	if len(seq.Values) != 2 || seq.ElemType.Kind != KindMap || seq.ElemType.DType != String {
		t.Fatalf("got %d values of %v", len(seq.Values), seq.ElemType)
	}
	m := seq.Values[1].(*Map)
	if m.StrKeys[0] != "no" || m.StrKeys[1] != "yes" {
		t.Fatalf("keys %v", m.StrKeys)
	}
	mlWantFloats(t, "row 1", m.Values.Float32s(), []float32{0.6, 0.4}, 0)
	out, err = mlRunValues(t, "ZipMap", []*Attr{mlInts("classlabels_int64s", 3, 5)}, FromSlice(Float, []float32{0.3, 0.7}, 2))
	if err != nil {
		t.Fatal(err)
	}
	m = out[0].(*Sequence).Values[0].(*Map)
	if m.KeyType != Int64 || m.Int64Keys[1] != 5 || m.Values.Float32s()[1] != 0.7 {
		t.Fatalf("int keys: %+v", m)
	}
	if _, err := mlRunValues(t, "ZipMap", []*Attr{mlInts("classlabels_int64s", 1, 2, 3)}, x); err == nil {
		t.Errorf("column mismatch accepted")
	}
	if _, err := mlRunValues(t, "ZipMap", nil, x); err == nil {
		t.Errorf("missing labels accepted")
	}
}

func TestDictVectorizer(t *testing.T) {
	m := &Map{KeyType: String, ValueType: Float, StrKeys: []string{"b", "x", "a"},
		Values: FromSlice(Float, []float32{2, 9, 1}, 3)}
	out, err := mlRunValues(t, "DictVectorizer", []*Attr{mlStrs("string_vocabulary", "a", "b", "c")}, m)
	if err != nil {
		t.Fatal(err)
	}
	y := out[0].(*Tensor)
	if !EqualShapes(y.Shape, []int{1, 3}) {
		t.Fatalf("shape %v", y.Shape)
	}
	mlWantFloats(t, "string keys", y.Float32s(), []float32{1, 2, 0}, 0)
	mi := &Map{KeyType: Int64, ValueType: Int64, Int64Keys: []int64{7}, Values: FromSlice(Int64, []int64{3}, 1)}
	out, err = mlRunValues(t, "DictVectorizer", []*Attr{mlInts("int64_vocabulary", 5, 7)}, mi)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].(*Tensor).Int64s(); got[0] != 0 || got[1] != 3 {
		t.Fatalf("int keys: %v", got)
	}
	if _, err := mlRunValues(t, "DictVectorizer", []*Attr{mlInts("int64_vocabulary", 5)}, m); err == nil {
		t.Errorf("key type mismatch accepted")
	}
}
