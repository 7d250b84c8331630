package ops

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"
)

func mlInts(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }
func mlFloats(name string, v ...float32) *Attr {
	return &Attr{Name: name, Type: AttrFloats, Floats: v}
}
func mlStrs(name string, v ...string) *Attr {
	return &Attr{Name: name, Type: AttrStrings, Strings: v}
}
func mlStr(name, v string) *Attr       { return &Attr{Name: name, Type: AttrString, S: v} }
func mlInt(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }
func mlTensorAttr(name string, t *Tensor) *Attr {
	return &Attr{Name: name, Type: AttrTensor, T: t}
}

// runML builds an ai.onnx.ml node and runs it on the inputs.
func runML(t *testing.T, op string, version int, attrs []*Attr, nOut int, in ...*Tensor) ([]*Tensor, error) {
	t.Helper()
	names := make([]string, len(in))
	for i := range names {
		names[i] = "x"
	}
	outs := []string{"y", "z", "w"}[:nOut]
	k, err := DefaultRegistry().Build(&Node{OpType: op, Domain: DomainML, Version: version, Attrs: NewAttrs(attrs...), Inputs: names, Outputs: outs})
	if err != nil {
		return nil, err
	}
	out := make([]*Tensor, nOut)
	ec := NewContext(context.Background(), nil, nil)
	if err := k.(Kernel).Run(ec, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

func mlWantFloats(t *testing.T, name string, got []float32, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %d %v", name, len(got), got, len(want), want)
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
	}
}

// treeStumpAttrs is one tree: node 0 splits feature 0 at thr with mode; true child
// node 1 (leaf, weight wt), false child node 2 (leaf, weight wf).
func treeStumpAttrs(mode string, thr float32, wt, wf float32, extra ...*Attr) []*Attr {
	a := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0),
		mlInts("nodes_nodeids", 0, 1, 2),
		mlInts("nodes_featureids", 0, 0, 0),
		mlStrs("nodes_modes", mode, "LEAF", "LEAF"),
		mlFloats("nodes_values", thr, 0, 0),
		mlInts("nodes_truenodeids", 1, 0, 0),
		mlInts("nodes_falsenodeids", 2, 0, 0),
		mlInts("target_treeids", 0, 0),
		mlInts("target_nodeids", 1, 2),
		mlInts("target_ids", 0, 0),
		mlFloats("target_weights", wt, wf),
		mlInt("n_targets", 1),
	}
	return append(a, extra...)
}

func TestTreeRegressorModes(t *testing.T) {
	nan := float32(math.NaN())
	x := FromSlice(Float, []float32{0.2, 0.5, 0.7, nan}, 4, 1)
	cases := []struct {
		mode string
		want []float32 // 1 = true branch, 2 = false branch
	}{
		{"BRANCH_LEQ", []float32{1, 1, 2, 2}},
		{"BRANCH_LT", []float32{1, 2, 2, 2}},
		{"BRANCH_GTE", []float32{2, 1, 1, 2}},
		{"BRANCH_GT", []float32{2, 2, 1, 2}},
		{"BRANCH_EQ", []float32{2, 1, 2, 2}},
		{"BRANCH_NEQ", []float32{1, 2, 1, 1}},
	}
	for _, c := range cases {
		out, err := runML(t, "TreeEnsembleRegressor", 3, treeStumpAttrs(c.mode, 0.5, 1, 2), 1, x)
		if err != nil {
			t.Fatalf("%s: %v", c.mode, err)
		}
		if !EqualShapes(out[0].Shape, []int{4, 1}) {
			t.Fatalf("%s: shape %v", c.mode, out[0].Shape)
		}
		mlWantFloats(t, c.mode, out[0].Float32s(), c.want, 0)

		// NaN goes to the true branch when the node tracks missing values.
		out, err = runML(t, "TreeEnsembleRegressor", 3, treeStumpAttrs(c.mode, 0.5, 1, 2, mlInts("nodes_missing_value_tracks_true", 1, 0, 0)), 1, x)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]float32(nil), c.want...)
		want[3] = 1
		mlWantFloats(t, c.mode+" missing", out[0].Float32s(), want, 0)
	}
}

// treeTwoTreeAttrs: tree 0 is a stump on feature 0 at 0.5 (leaves 1 / 3), tree 1 a
// stump on feature 1 at 0 (leaves 10 / 20). Node ids are listed out of order.
func treeTwoTreeAttrs(agg string, extra ...*Attr) []*Attr {
	a := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0, 1, 1, 1),
		mlInts("nodes_nodeids", 0, 2, 1, 0, 1, 2),
		mlInts("nodes_featureids", 0, 0, 0, 1, 0, 0),
		mlStrs("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"),
		mlFloats("nodes_values", 0.5, 0, 0, 0, 0, 0),
		mlInts("nodes_truenodeids", 1, 0, 0, 1, 0, 0),
		mlInts("nodes_falsenodeids", 2, 0, 0, 2, 0, 0),
		mlInts("target_treeids", 0, 0, 1, 1),
		mlInts("target_nodeids", 1, 2, 1, 2),
		mlInts("target_ids", 0, 0, 0, 0),
		mlFloats("target_weights", 1, 3, 10, 20),
		mlInt("n_targets", 1),
		mlStr("aggregate_function", agg),
	}
	return append(a, extra...)
}

func TestTreeRegressorAggregates(t *testing.T) {
	// rows: (0, -1) -> leaves 1, 10; (1, 1) -> leaves 3, 20
	x := FromSlice(Float, []float32{0, -1, 1, 1}, 2, 2)
	cases := []struct {
		agg   string
		extra []*Attr
		want  []float32
	}{
		{"SUM", nil, []float32{11, 23}},
		{"AVERAGE", nil, []float32{5.5, 11.5}},
		{"MIN", nil, []float32{1, 3}},
		{"MAX", nil, []float32{10, 20}},
		{"SUM", []*Attr{mlFloats("base_values", 100)}, []float32{111, 123}},
		{"AVERAGE", []*Attr{mlFloats("base_values", 100)}, []float32{105.5, 111.5}},
		{"MIN", []*Attr{mlFloats("base_values", 100)}, []float32{101, 103}},
		{"MAX", []*Attr{mlFloats("base_values", -1)}, []float32{9, 19}},
		{"SUM", []*Attr{mlTensorAttr("base_values_as_tensor", FromSlice(Double, []float64{0.5}, 1))}, []float32{11.5, 23.5}},
	}
	for _, c := range cases {
		out, err := runML(t, "TreeEnsembleRegressor", 3, treeTwoTreeAttrs(c.agg, c.extra...), 1, x)
		if err != nil {
			t.Fatalf("%s: %v", c.agg, err)
		}
		mlWantFloats(t, c.agg, out[0].Float32s(), c.want, 1e-6)
	}
	// Other input types give the same results.
	for _, in := range []*Tensor{
		FromSlice(Double, []float64{0, -1, 1, 1}, 2, 2),
		FromSlice(Int64, []int64{0, -1, 1, 1}, 2, 2),
		FromSlice(Int32, []int32{0, -1, 1, 1}, 2, 2),
	} {
		out, err := runML(t, "TreeEnsembleRegressor", 1, treeTwoTreeAttrs("SUM"), 1, in)
		if err != nil {
			t.Fatalf("%s: %v", in.DType, err)
		}
		if out[0].DType != Float {
			t.Fatalf("%s input: output type %s", in.DType, out[0].DType)
		}
		mlWantFloats(t, in.DType.String(), out[0].Float32s(), []float32{11, 23}, 0)
	}
	// A 1-D input is one row.
	out, err := runML(t, "TreeEnsembleRegressor", 3, treeTwoTreeAttrs("SUM"), 1, FromSlice(Float, []float32{1, 1}, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !EqualShapes(out[0].Shape, []int{1, 1}) {
		t.Fatalf("1-D input: shape %v", out[0].Shape)
	}
	mlWantFloats(t, "1-D", out[0].Float32s(), []float32{23}, 0)
}

// treeMultiTargetAttrs: one stump on feature 0 at 0; true leaf votes (t0: 1,
// t1: 2), false leaf votes t2: 3 only.
func treeMultiTargetAttrs(agg, post string, extra ...*Attr) []*Attr {
	a := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0),
		mlInts("nodes_nodeids", 0, 1, 2),
		mlInts("nodes_featureids", 0, 0, 0),
		mlStrs("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"),
		mlFloats("nodes_values", 0, 0, 0),
		mlInts("nodes_truenodeids", 1, 0, 0),
		mlInts("nodes_falsenodeids", 2, 0, 0),
		mlInts("target_treeids", 0, 0, 0),
		mlInts("target_nodeids", 1, 1, 2),
		mlInts("target_ids", 0, 1, 2),
		mlFloats("target_weights", 1, 2, 3),
		mlInt("n_targets", 3),
		mlStr("aggregate_function", agg),
		mlStr("post_transform", post),
	}
	return append(a, extra...)
}

func TestTreeRegressorMultiTarget(t *testing.T) {
	x := FromSlice(Float, []float32{-1, 1}, 2, 1)
	e1, e2 := math.Exp(1), math.Exp(2)
	s := 1 + e1 + e2
	lg := func(v float64) float32 { return float32(1 / (1 + math.Exp(-v))) }
	cases := []struct {
		name  string
		attrs []*Attr
		want  []float32
	}{
		{"sum", treeMultiTargetAttrs("SUM", "NONE"), []float32{1, 2, 0, 0, 0, 3}},
		// Targets without votes read as 0 even with base values (onnxruntime).
		{"sum base", treeMultiTargetAttrs("SUM", "NONE", mlFloats("base_values", 10, 20, 30)), []float32{11, 22, 0, 0, 0, 33}},
		{"average", treeMultiTargetAttrs("AVERAGE", "NONE"), []float32{1, 2, 0, 0, 0, 3}},
		{"max", treeMultiTargetAttrs("MAX", "NONE"), []float32{1, 2, 0, 0, 0, 3}},
		{"softmax", treeMultiTargetAttrs("SUM", "SOFTMAX"), []float32{float32(e1 / s), float32(e2 / s), float32(1 / s), float32(1 / (2 + math.Exp(3))), float32(1 / (2 + math.Exp(3))), float32(math.Exp(3) / (2 + math.Exp(3)))}},
		{"softmax_zero", treeMultiTargetAttrs("SUM", "SOFTMAX_ZERO"), []float32{float32(e1 / (e1 + e2)), float32(e2 / (e1 + e2)), 0, 0, 0, 1}},
		{"logistic", treeMultiTargetAttrs("SUM", "LOGISTIC"), []float32{lg(1), lg(2), 0.5, 0.5, 0.5, lg(3)}},
		{"probit", treeMultiTargetAttrs("SUM", "PROBIT", &Attr{Name: "target_weights", Type: AttrFloats, Floats: []float32{0.5, 0.975, 0.025}}), []float32{0, 1.96, float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), -1.96}},
	}
	for _, c := range cases {
		out, err := runML(t, "TreeEnsembleRegressor", 3, c.attrs, 1, x)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !EqualShapes(out[0].Shape, []int{2, 3}) {
			t.Fatalf("%s: shape %v", c.name, out[0].Shape)
		}
		got := out[0].Float32s()
		if c.name == "probit" {
			// PROBIT uses an approximation of erfinv; probit(0) stays exactly 0
			// only by symmetry. Infinities come from probit(0).
			mlWantFloats(t, c.name, []float32{got[0], got[1], got[5]}, []float32{0, 1.96, -1.96}, 5e-3)
			continue
		}
		mlWantFloats(t, c.name, got, c.want, 1e-6)
	}
}

func TestTreeRegressorDeepRandom(t *testing.T) {
	// A random balanced tree compared with a direct recursive evaluation.
	rng := rand.New(rand.NewSource(1))
	const depth, nf = 8, 6
	var tree, node, feat, tn, fn, tIDs, tNodes, tTargets []int64
	var modes []string
	var vals, weights []float32
	type ref struct {
		leaf      bool
		f         int
		thr, w    float32
		tru, fals int
	}
	var refs []ref
	var build func(d int) int
	build = func(d int) int {
		id := len(refs)
		refs = append(refs, ref{})
		tree, node = append(tree, 0), append(node, int64(id))
		if d == depth {
			w := rng.Float32()
			refs[id] = ref{leaf: true, w: w}
			feat, modes, vals = append(feat, 0), append(modes, "LEAF"), append(vals, 0)
			tn, fn = append(tn, 0), append(fn, 0)
			tIDs, tNodes, tTargets, weights = append(tIDs, 0), append(tNodes, int64(id)), append(tTargets, 0), append(weights, w)
			return id
		}
		f, thr := rng.Intn(nf), rng.Float32()
		feat, modes, vals = append(feat, int64(f)), append(modes, "BRANCH_LEQ"), append(vals, thr)
		k := len(tn)
		tn, fn = append(tn, 0), append(fn, 0)
		a := build(d + 1)
		b := build(d + 1)
		tn[k], fn[k] = int64(a), int64(b)
		refs[id] = ref{f: f, thr: thr, tru: a, fals: b}
		return id
	}
	build(0)
	attrs := []*Attr{
		mlInts("nodes_treeids", tree...), mlInts("nodes_nodeids", node...), mlInts("nodes_featureids", feat...),
		mlStrs("nodes_modes", modes...), mlFloats("nodes_values", vals...), mlInts("nodes_truenodeids", tn...),
		mlInts("nodes_falsenodeids", fn...), mlInts("target_treeids", tIDs...), mlInts("target_nodeids", tNodes...),
		mlInts("target_ids", tTargets...), mlFloats("target_weights", weights...), mlInt("n_targets", 1),
	}
	const rows = 300
	x := make([]float32, rows*nf)
	for i := range x {
		x[i] = rng.Float32()
	}
	out, err := runML(t, "TreeEnsembleRegressor", 3, attrs, 1, FromSlice(Float, x, rows, nf))
	if err != nil {
		t.Fatal(err)
	}
	got := out[0].Float32s()
	for r := 0; r < rows; r++ {
		i := 0
		for !refs[i].leaf {
			if x[r*nf+refs[i].f] <= refs[i].thr {
				i = refs[i].tru
			} else {
				i = refs[i].fals
			}
		}
		if got[r] != refs[i].w {
			t.Fatalf("row %d: got %v, want %v", r, got[r], refs[i].w)
		}
	}
}

func TestTreeRegressorErrors(t *testing.T) {
	replace := func(a []*Attr, r *Attr) []*Attr {
		out := make([]*Attr, 0, len(a))
		for _, x := range a {
			if x.Name != r.Name {
				out = append(out, x)
			}
		}
		return append(out, r)
	}
	base := treeStumpAttrs("BRANCH_LEQ", 0.5, 1, 2)
	cases := []struct {
		name  string
		attrs []*Attr
		msg   string
	}{
		{"length", replace(base, mlInts("nodes_featureids", 0, 0)), "nodes_featureids has 2 elements"},
		{"mode", replace(base, mlStrs("nodes_modes", "BRANCH_XX", "LEAF", "LEAF")), "unknown mode"},
		{"child", replace(base, mlInts("nodes_truenodeids", 7, 0, 0)), "true child 7 does not exist"},
		{"self", replace(base, mlInts("nodes_falsenodeids", 0, 0, 0)), "points to the node itself"},
		{"cycle", replace(replace(base, mlStrs("nodes_modes", "BRANCH_LEQ", "BRANCH_LEQ", "LEAF")),
			mlInts("nodes_truenodeids", 1, 0, 0)), "no root"},
		{"duplicate", replace(base, mlInts("nodes_nodeids", 0, 1, 1)), "defined twice"},
		{"target id", replace(base, mlInts("target_ids", 0, 1)), "id 1 out of range"},
		{"weight node", replace(base, mlInts("target_nodeids", 1, 5)), "does not exist"},
		{"weights length", replace(base, mlFloats("target_weights", 1)), "different lengths"},
		{"n_targets", replace(base, mlInt("n_targets", 0)), "must be positive"},
		{"aggregate", append(base, mlStr("aggregate_function", "MEDIAN")), "aggregate_function"},
		{"post", append(base, mlStr("post_transform", "EXP")), "post_transform"},
		{"base", append(base, mlFloats("base_values", 1, 2)), "base_values"},
		{"feature", replace(base, mlInts("nodes_featureids", -1, 0, 0)), "feature index -1"},
	}
	x := FromSlice(Float, []float32{1}, 1, 1)
	for _, c := range cases {
		_, err := runML(t, "TreeEnsembleRegressor", 3, c.attrs, 1, x)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.msg)
		}
	}
	// A cycle below the root.
	cyc := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0, 0),
		mlInts("nodes_nodeids", 0, 1, 2, 3),
		mlInts("nodes_featureids", 0, 0, 0, 0),
		mlStrs("nodes_modes", "BRANCH_LEQ", "BRANCH_LEQ", "BRANCH_LEQ", "LEAF"),
		mlFloats("nodes_values", 0, 0, 0, 0),
		mlInts("nodes_truenodeids", 1, 2, 1, 0),
		mlInts("nodes_falsenodeids", 3, 3, 3, 0),
		mlInts("target_treeids", 0), mlInts("target_nodeids", 3), mlInts("target_ids", 0), mlFloats("target_weights", 1),
		mlInt("n_targets", 1),
	}
	if _, err := runML(t, "TreeEnsembleRegressor", 3, cyc, 1, x); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: got %v", err)
	}
	// Run-time errors: too few features, bad rank, bad type.
	two := replace(base, mlInts("nodes_featureids", 1, 0, 0))
	if _, err := runML(t, "TreeEnsembleRegressor", 3, two, 1, x); err == nil || !strings.Contains(err.Error(), "feature 1") {
		t.Errorf("features: got %v", err)
	}
	if _, err := runML(t, "TreeEnsembleRegressor", 3, base, 1, FromSlice(Float, []float32{1}, 1, 1, 1)); err == nil {
		t.Errorf("rank 3 input accepted")
	}
	if _, err := runML(t, "TreeEnsembleRegressor", 3, base, 1, FromSlice(Bool, []bool{true}, 1, 1)); err == nil {
		t.Errorf("bool input accepted")
	}
}

func TestTreeRegressorDoubleThresholds(t *testing.T) {
	// A threshold that float32 cannot hold: double inputs compare in float64,
	// float inputs against the threshold rounded to float32.
	thr := 0.1
	attrs := treeStumpAttrs("BRANCH_LEQ", 0, 1, 2)
	for i, a := range attrs {
		if a.Name == "nodes_values" {
			attrs = append(attrs[:i], attrs[i+1:]...)
			break
		}
	}
	attrs = append(attrs, mlTensorAttr("nodes_values_as_tensor", FromSlice(Double, []float64{thr, 0, 0}, 3)))
	x64 := math.Nextafter(thr, 1) // just above 0.1: false branch in float64
	out, err := runML(t, "TreeEnsembleRegressor", 3, attrs, 1, FromSlice(Double, []float64{x64}, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "double", out[0].Float32s(), []float32{2}, 0)
	// float32(0.1) > 0.1, so float32(0.1) <= float32 threshold: true branch.
	out, err = runML(t, "TreeEnsembleRegressor", 3, attrs, 1, FromSlice(Float, []float32{float32(thr)}, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "float", out[0].Float32s(), []float32{1}, 0)
}

// treeClassifierAttrs: stump on feature 0 at 0; true leaf votes (c0 .7, c1 .2,
// c2 .1), false leaf (c0 .1, c2 .9).
func treeClassifierAttrs(extra ...*Attr) []*Attr {
	a := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0),
		mlInts("nodes_nodeids", 0, 1, 2),
		mlInts("nodes_featureids", 0, 0, 0),
		mlStrs("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"),
		mlFloats("nodes_values", 0, 0, 0),
		mlInts("nodes_truenodeids", 1, 0, 0),
		mlInts("nodes_falsenodeids", 2, 0, 0),
		mlInts("class_treeids", 0, 0, 0, 0, 0),
		mlInts("class_nodeids", 1, 1, 1, 2, 2),
		mlInts("class_ids", 0, 1, 2, 0, 2),
		mlFloats("class_weights", 0.7, 0.2, 0.1, 0.1, 0.9),
	}
	return append(a, extra...)
}

func TestTreeClassifierMulticlass(t *testing.T) {
	x := FromSlice(Float, []float32{-1, 1}, 2, 1)
	out, err := runML(t, "TreeEnsembleClassifier", 3, treeClassifierAttrs(mlInts("classlabels_int64s", 5, 6, 7)), 2, x)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Int64s(); got[0] != 5 || got[1] != 7 {
		t.Fatalf("labels %v, want [5 7]", got)
	}
	mlWantFloats(t, "probs", out[1].Float32s(), []float32{0.7, 0.2, 0.1, 0.1, 0, 0.9}, 1e-7)
	if !EqualShapes(out[1].Shape, []int{2, 3}) {
		t.Fatalf("shape %v", out[1].Shape)
	}

	// String labels, base values (a class without votes gets its base value)
	// and softmax.
	out, err = runML(t, "TreeEnsembleClassifier", 3, treeClassifierAttrs(
		mlStrs("classlabels_strings", "a", "b", "c"),
		mlFloats("base_values", 0, 1, 0),
		mlStr("post_transform", "SOFTMAX")), 2, x)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Strings(); got[0] != "b" || got[1] != "b" {
		t.Fatalf("labels %v, want [b b]", got)
	}
	sm := func(v ...float64) []float32 {
		s := 0.0
		for _, x := range v {
			s += math.Exp(x)
		}
		r := make([]float32, len(v))
		for i, x := range v {
			r[i] = float32(math.Exp(x) / s)
		}
		return r
	}
	want := append(sm(0.7, 1.2, 0.1), sm(0.1, 1, 0.9)...)
	mlWantFloats(t, "softmax", out[1].Float32s(), want, 1e-6)

	// Errors.
	if _, err := runML(t, "TreeEnsembleClassifier", 3, treeClassifierAttrs(), 2, x); err == nil || !strings.Contains(err.Error(), "classlabels") {
		t.Errorf("no labels: %v", err)
	}
	if _, err := runML(t, "TreeEnsembleClassifier", 3, treeClassifierAttrs(mlInts("classlabels_int64s", 0, 1)), 2, x); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("class id out of range: %v", err)
	}
	if _, err := runML(t, "TreeEnsembleClassifier", 3, treeClassifierAttrs(mlInts("classlabels_int64s", 0, 1, 2), mlFloats("base_values", 1, 2, 3, 4)), 2, x); err == nil {
		t.Errorf("too many base values accepted")
	}
}

// treeBinaryAttrs: two-class stump where every vote is for class 0.
func treeBinaryAttrs(wt, wf float32, extra ...*Attr) []*Attr {
	a := []*Attr{
		mlInts("nodes_treeids", 0, 0, 0),
		mlInts("nodes_nodeids", 0, 1, 2),
		mlInts("nodes_featureids", 0, 0, 0),
		mlStrs("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF"),
		mlFloats("nodes_values", 0, 0, 0),
		mlInts("nodes_truenodeids", 1, 0, 0),
		mlInts("nodes_falsenodeids", 2, 0, 0),
		mlInts("class_treeids", 0, 0),
		mlInts("class_nodeids", 1, 2),
		mlInts("class_ids", 0, 0),
		mlFloats("class_weights", wt, wf),
		mlInts("classlabels_int64s", 0, 1),
	}
	return append(a, extra...)
}

func TestTreeClassifierBinary(t *testing.T) {
	x := FromSlice(Float, []float32{-1, 1}, 2, 1)
	lg := func(v float64) float32 { return float32(1 / (1 + math.Exp(-v))) }
	cases := []struct {
		name   string
		attrs  []*Attr
		labels []int64
		probs  []float32
	}{
		// Gradient boosting: one score column, mixed signs, logistic.
		{"logistic", treeBinaryAttrs(-2, 1.5, mlStr("post_transform", "LOGISTIC")),
			[]int64{0, 1}, []float32{lg(2), lg(-2), lg(-1.5), lg(1.5)}},
		{"logistic base", treeBinaryAttrs(-2, 1.5, mlStr("post_transform", "LOGISTIC"), mlFloats("base_values", 0.5)),
			[]int64{0, 1}, []float32{lg(1.5), lg(-1.5), lg(-2), lg(2)}},
		{"mixed none", treeBinaryAttrs(-2, 1.5), []int64{0, 1}, []float32{2, -2, -1.5, 1.5}},
		// Positive votes: the score is the positive class probability.
		{"positive", treeBinaryAttrs(0.25, 0.75), []int64{0, 1}, []float32{0.75, 0.25, 0.25, 0.75}},
	}
	for _, c := range cases {
		out, err := runML(t, "TreeEnsembleClassifier", 3, c.attrs, 2, x)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := out[0].Int64s(); got[0] != c.labels[0] || got[1] != c.labels[1] {
			t.Fatalf("%s: labels %v, want %v", c.name, got, c.labels)
		}
		if !EqualShapes(out[1].Shape, []int{2, 2}) {
			t.Fatalf("%s: shape %v", c.name, out[1].Shape)
		}
		mlWantFloats(t, c.name, out[1].Float32s(), c.probs, 1e-6)
	}

	// Votes for both classes (random forest style) are plain scores.
	attrs := treeClassifierAttrs(mlInts("classlabels_int64s", 3, 4))
	for i, a := range attrs {
		if a.Name == "class_ids" {
			attrs[i] = mlInts("class_ids", 0, 1, 1, 0, 1)
		}
	}
	out, err := runML(t, "TreeEnsembleClassifier", 3, attrs, 2, x)
	if err != nil {
		t.Fatal(err)
	}
	mlWantFloats(t, "two columns", out[1].Float32s(), []float32{0.7, 0.3, 0.1, 0.9}, 1e-6)
	// onnxruntime emits the literal label 1 when the second score is positive.
	if got := out[0].Int64s(); got[0] != 1 || got[1] != 1 {
		t.Fatalf("two columns: labels %v, want [1 1]", got)
	}
}

// treeV5MembershipAttrs builds the set-membership example of the ONNX test suite.
func treeV5MembershipAttrs() []*Attr {
	nan := float32(math.NaN())
	return []*Attr{
		mlInt("aggregate_function", 1),
		mlInts("leaf_targetids", 0, 1, 2, 3),
		mlTensorAttr("leaf_weights", FromSlice(Float, []float32{1, 10, 1000, 100}, 4)),
		mlTensorAttr("membership_values", FromSlice(Float, []float32{1.2, 3.7, 8, 9, nan, 12, 7, nan}, 8)),
		mlInt("n_targets", 4),
		mlInts("nodes_falseleafs", 1, 0, 1),
		mlInts("nodes_falsenodeids", 2, 2, 3),
		mlInts("nodes_featureids", 0, 0, 0),
		mlTensorAttr("nodes_modes", FromSlice(Uint8, []uint8{0, 6, 6}, 3)),
		mlTensorAttr("nodes_splits", FromSlice(Float, []float32{11, 232344, nan}, 3)),
		mlInts("nodes_trueleafs", 0, 1, 1),
		mlInts("nodes_truenodeids", 1, 0, 1),
		mlInt("post_transform", 0),
		mlInts("tree_roots", 0),
	}
}

func TestTreeEnsembleV5(t *testing.T) {
	nan := float32(math.NaN())
	x := FromSlice(Float, []float32{1.2, 3.4, -0.12, nan, 12, 7}, 6, 1)
	out, err := runML(t, "TreeEnsemble", 5, treeV5MembershipAttrs(), 1, x)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{
		1, 0, 0, 0,
		0, 0, 0, 100,
		0, 0, 0, 100,
		0, 0, 1000, 0,
		0, 0, 1000, 0,
		0, 10, 0, 0,
	}
	mlWantFloats(t, "membership", out[0].Float32s(), want, 0)

	// Double input and output, single tree with two targets.
	single := []*Attr{
		mlInt("aggregate_function", 1),
		mlInts("leaf_targetids", 0, 1, 0, 1),
		mlTensorAttr("leaf_weights", FromSlice(Double, []float64{5.23, 12.12, -12.23, 7.21}, 4)),
		mlInt("n_targets", 2),
		mlInts("nodes_falseleafs", 0, 1, 1),
		mlInts("nodes_falsenodeids", 2, 2, 3),
		mlInts("nodes_featureids", 0, 0, 0),
		mlTensorAttr("nodes_modes", FromSlice(Uint8, []uint8{0, 0, 0}, 3)),
		mlTensorAttr("nodes_splits", FromSlice(Double, []float64{3.14, 1.2, 4.2}, 3)),
		mlInts("nodes_trueleafs", 0, 1, 1),
		mlInts("nodes_truenodeids", 1, 0, 1),
		mlInts("tree_roots", 0),
	}
	xd := FromSlice(Double, []float64{1.2, 3.4, -0.12, 1.66, 4.14, 1.77}, 3, 2)
	out, err = runML(t, "TreeEnsemble", 5, single, 1, xd)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Double {
		t.Fatalf("output type %s", out[0].DType)
	}
	got := out[0].Float64s()
	wantD := []float64{5.23, 0, 5.23, 0, 0, 12.12}
	for i := range wantD {
		if math.Abs(got[i]-wantD[i]) > 1e-12 {
			t.Fatalf("single tree: got %v, want %v", got, wantD)
		}
	}

	// Float16 input gives float16 output.
	xh := FromSlice(Float16, []F16{F16From(1.2), F16From(3.4)}, 2, 1)
	out, err = runML(t, "TreeEnsemble", 5, treeV5MembershipAttrs(), 1, xh)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Float16 {
		t.Fatalf("float16: output type %s", out[0].DType)
	}

	// Errors.
	bad := treeV5MembershipAttrs()
	bad[3] = mlTensorAttr("membership_values", FromSlice(Float, []float32{1}, 1))
	if _, err := runML(t, "TreeEnsemble", 5, bad, 1, x); err == nil || !strings.Contains(err.Error(), "membership_values") {
		t.Errorf("missing set: %v", err)
	}
	bad = treeV5MembershipAttrs()
	bad[11] = mlInts("nodes_truenodeids", 1, 9, 1)
	if _, err := runML(t, "TreeEnsemble", 5, bad, 1, x); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("leaf out of range: %v", err)
	}
	bad = treeV5MembershipAttrs()
	bad[10] = mlInts("nodes_trueleafs", 0, 0, 1)
	bad[11] = mlInts("nodes_truenodeids", 1, 0, 1)
	if _, err := runML(t, "TreeEnsemble", 5, bad, 1, x); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}

// treeBenchForestAttrs builds a random regressor of nTrees full trees of the given
// depth over nf features.
func treeBenchForestAttrs(nTrees, depth, nf int, rng *rand.Rand) []*Attr {
	var tree, node, feat, tn, fn, tIDs, tNodes, tTargets []int64
	var modes []string
	var vals, weights []float32
	for t := 0; t < nTrees; t++ {
		id := int64(0)
		var build func(d int) int64
		build = func(d int) int64 {
			me := id
			id++
			k := len(tn)
			tree, node = append(tree, int64(t)), append(node, me)
			tn, fn = append(tn, 0), append(fn, 0)
			if d == depth {
				feat, modes, vals = append(feat, 0), append(modes, "LEAF"), append(vals, 0)
				tIDs, tNodes, tTargets = append(tIDs, int64(t)), append(tNodes, me), append(tTargets, 0)
				weights = append(weights, rng.Float32())
				return me
			}
			feat, modes, vals = append(feat, int64(rng.Intn(nf))), append(modes, "BRANCH_LEQ"), append(vals, rng.Float32())
			a := build(d + 1)
			b := build(d + 1)
			tn[k], fn[k] = a, b
			return me
		}
		build(0)
	}
	return []*Attr{
		mlInts("nodes_treeids", tree...), mlInts("nodes_nodeids", node...), mlInts("nodes_featureids", feat...),
		mlStrs("nodes_modes", modes...), mlFloats("nodes_values", vals...), mlInts("nodes_truenodeids", tn...),
		mlInts("nodes_falsenodeids", fn...), mlInts("target_treeids", tIDs...), mlInts("target_nodeids", tNodes...),
		mlInts("target_ids", tTargets...), mlFloats("target_weights", weights...), mlInt("n_targets", 1),
		mlStr("aggregate_function", "AVERAGE"),
	}
}

func treeBenchmarkRegressor(b *testing.B, rows int) {
	rng := rand.New(rand.NewSource(2))
	const nf = 20
	k, err := DefaultRegistry().Build(&Node{OpType: "TreeEnsembleRegressor", Domain: DomainML, Version: 3,
		Attrs: NewAttrs(treeBenchForestAttrs(100, 10, nf, rng)...), Inputs: []string{"x"}, Outputs: []string{"y"}})
	if err != nil {
		b.Fatal(err)
	}
	// Distinct rows, so that branch prediction cannot learn the paths: a
	// batch of one cycles through 1000 rows.
	const distinct = 1000
	x := make([]float32, max(rows, distinct)*nf)
	for i := range x {
		x[i] = rng.Float32()
	}
	ins := make([][]*Tensor, max(1, distinct/rows))
	for i := range ins {
		ins[i] = []*Tensor{FromSlice(Float, x[i*rows*nf:(i+1)*rows*nf], rows, nf)}
	}
	out := make([]*Tensor, 1)
	ec := NewContext(context.Background(), nil, NewArena())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.(Kernel).Run(ec, ins[i%len(ins)], out); err != nil {
			b.Fatal(err)
		}
		ec.Release(out[0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkTreeRegressor runs 100 trees of depth 10 (the size of the
// rf_regressor_5f model) on one row and on a batch.
func BenchmarkTreeRegressor(b *testing.B) {
	b.Run("batch1", func(b *testing.B) { treeBenchmarkRegressor(b, 1) })
	b.Run("batch1000", func(b *testing.B) { treeBenchmarkRegressor(b, 1000) })
}

// TestTreeParallelGrain: a mid-size batch is cut into exactly one chunk per
// worker, odd sizes included (found in review: 99 rows ran on one worker).
func TestTreeParallelGrain(t *testing.T) {
	for _, tc := range []struct {
		n, work, workers int
		split            bool
		chunks           int
	}{
		{100, 400, 2, true, 2},
		{99, 400, 2, true, 2},
		{101, 400, 2, true, 2},
		{100, 400, 1, false, 1},
		{10, 100, 2, false, 1},   // too little work
		{10000, 400, 2, true, 2}, // large: 64k-visit chunks, capped by the workers
		{100, 400, 3, true, 3},
	} {
		g, split := treeParallelGrain(tc.n, tc.work, tc.workers)
		chunks := 1
		if split {
			chunks = min(tc.workers, tc.n/g)
		}
		if split != tc.split || chunks != tc.chunks {
			t.Errorf("n=%d work=%d workers=%d: grain %d split %v (%d chunks), want split %v, %d chunks",
				tc.n, tc.work, tc.workers, g, split, chunks, tc.split, tc.chunks)
		}
	}
}
