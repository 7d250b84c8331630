package ops

import (
	"math"
	"strings"
	"testing"
)

func TestLabelEncoder(t *testing.T) {
	// Opset 1: strings to indices and back.
	v1 := []*Attr{mlStrs("classes_strings", "a", "b", "c"), mlInt("default_int64", 42), mlStr("default_string", "?")}
	out, err := runML(t, "LabelEncoder", 1, v1, 1, FromSlice(String, []string{"c", "x", "a"}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 2 || got[1] != 42 || got[2] != 0 {
		t.Fatalf("v1 to int: %v", got)
	}
	out, err = runML(t, "LabelEncoder", 1, v1, 1, FromSlice(Int64, []int64{1, 7, -1}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Strings(); got[0] != "b" || got[1] != "?" || got[2] != "?" {
		t.Fatalf("v1 to string: %v", got)
	}

	// Opset 2: lists.
	out, err = runML(t, "LabelEncoder", 2, []*Attr{mlStrs("keys_strings", "a", "b"), mlInts("values_int64s", 5, 6)}, 1,
		FromSlice(String, []string{"b", "z", "a", "a"}, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); !EqualShapes(out[0].Shape, []int{2, 2}) || got[0] != 6 || got[1] != -1 || got[2] != 5 {
		t.Fatalf("v2: %v %v", out[0].Shape, got)
	}
	out, err = runML(t, "LabelEncoder", 2, []*Attr{mlInts("keys_int64s", 1, 2), mlFloats("values_floats", 0.5, 1.5)}, 1,
		FromSlice(Int64, []int64{2, 3}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Float32s(); got[0] != 1.5 || got[1] != 0 || !math.Signbit(float64(got[1])) {
		t.Fatalf("v2 floats: %v (default must be -0)", got)
	}

	// Opset 4: tensors, NaN keys, default tensor.
	nan := float32(math.NaN())
	v4 := []*Attr{
		mlTensorAttr("keys_tensor", FromSlice(Float, []float32{1, nan}, 2)),
		mlTensorAttr("values_tensor", FromSlice(Int16, []int16{10, 20}, 2)),
		mlTensorAttr("default_tensor", FromSlice(Int16, []int16{-7}, 1)),
	}
	out, err = runML(t, "LabelEncoder", 4, v4, 1, FromSlice(Float, []float32{nan, 1, 2}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Data.([]int16); got[0] != 20 || got[1] != 10 || got[2] != -7 {
		t.Fatalf("v4: %v", got)
	}

	// Errors.
	if _, err := runML(t, "LabelEncoder", 2, []*Attr{mlStrs("keys_strings", "a"), mlInts("values_int64s", 1, 2)}, 1, FromSlice(String, []string{"a"}, 1)); err == nil {
		t.Errorf("length mismatch accepted")
	}
	if _, err := runML(t, "LabelEncoder", 2, []*Attr{mlInts("values_int64s", 1)}, 1, FromSlice(String, []string{"a"}, 1)); err == nil || !strings.Contains(err.Error(), "keys") {
		t.Errorf("missing keys: %v", err)
	}
	if _, err := runML(t, "LabelEncoder", 2, []*Attr{mlStrs("keys_strings", "a"), mlInts("values_int64s", 1)}, 1, FromSlice(Int64, []int64{1}, 1)); err == nil {
		t.Errorf("input type mismatch accepted")
	}
}

func TestCategoryMapper(t *testing.T) {
	attrs := []*Attr{mlInts("cats_int64s", 1, 2, 3), mlStrs("cats_strings", "x", "y", "z"), mlInt("default_int64", 9)}
	out, err := runML(t, "CategoryMapper", 1, attrs, 1, FromSlice(String, []string{"z", "w"}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 3 || got[1] != 9 {
		t.Fatalf("to int: %v", got)
	}
	out, err = runML(t, "CategoryMapper", 1, attrs, 1, FromSlice(Int64, []int64{2, 5}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Strings(); got[0] != "y" || got[1] != "_Unused" {
		t.Fatalf("to string: %v", got)
	}
	if _, err := runML(t, "CategoryMapper", 1, []*Attr{mlInts("cats_int64s", 1), mlStrs("cats_strings", "a", "b")}, 1, FromSlice(Int64, []int64{1}, 1)); err == nil {
		t.Errorf("length mismatch accepted")
	}
}

func TestOneHotEncoder(t *testing.T) {
	out, err := runML(t, "OneHotEncoder", 1, []*Attr{mlInts("cats_int64s", 4, 7)}, 1, FromSlice(Float, []float32{7, 4, 5}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{3, 2}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	mlWantFloats(t, "int cats", out[0].Float32s(), []float32{0, 1, 1, 0, 0, 0}, 0)
	out, err = runML(t, "OneHotEncoder", 1, []*Attr{mlStrs("cats_strings", "a", "b", "c")}, 1, FromSlice(String, []string{"c", "a"}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{1, 2, 3}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	mlWantFloats(t, "string cats", out[0].Float32s(), []float32{0, 0, 1, 1, 0, 0}, 0)
	if _, err := runML(t, "OneHotEncoder", 1, []*Attr{mlInts("cats_int64s", 1), mlInt("zeros", 0)}, 1, FromSlice(Int64, []int64{2}, 1)); err == nil {
		t.Errorf("unknown category with zeros=0 accepted")
	}
	if _, err := runML(t, "OneHotEncoder", 1, []*Attr{mlInts("cats_int64s", 1)}, 1, FromSlice(String, []string{"a"}, 1)); err == nil {
		t.Errorf("string input with integer categories accepted")
	}
}
