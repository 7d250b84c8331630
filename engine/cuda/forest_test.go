package cuda

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// randomEnsemble builds a TreeEnsembleRegressor node of random trees.
func randomEnsemble(rng *rand.Rand, trees, targets, features int, agg string, base []float32, votesPerLeaf int) *ops.Node {
	var treeIDs, nodeIDs, featIDs, trueIDs, falseIDs, missing, wTrees, wNodes, wIDs []int64
	var modes []string
	var values, weights []float32
	splitModes := []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"}
	for t := range trees {
		next := int64(0)
		var build func(depth int) int64
		build = func(depth int) int64 {
			id := next
			next++
			i := len(treeIDs)
			treeIDs = append(treeIDs, int64(t))
			nodeIDs = append(nodeIDs, id)
			if depth >= 5 || (depth > 0 && rng.IntN(4) == 0) {
				featIDs = append(featIDs, 0)
				modes = append(modes, "LEAF")
				values = append(values, float32(rng.IntN(7)))
				trueIDs = append(trueIDs, 0)
				falseIDs = append(falseIDs, 0)
				missing = append(missing, 0)
				for range rng.IntN(votesPerLeaf + 1) {
					wTrees = append(wTrees, int64(t))
					wNodes = append(wNodes, id)
					wIDs = append(wIDs, int64(rng.IntN(targets)))
					weights = append(weights, float32(rng.NormFloat64()))
				}
				return id
			}
			featIDs = append(featIDs, int64(rng.IntN(features)))
			modes = append(modes, splitModes[rng.IntN(len(splitModes))])
			values = append(values, float32(rng.IntN(5))-2) // integer thresholds: EQ and NEQ matter
			trueIDs = append(trueIDs, 0)
			falseIDs = append(falseIDs, 0)
			missing = append(missing, int64(rng.IntN(2)))
			tc := build(depth + 1)
			fc := build(depth + 1)
			trueIDs[i], falseIDs[i] = tc, fc
			return id
		}
		build(0)
	}
	attrs := []*ops.Attr{
		{Name: "n_targets", Type: ops.AttrInt, I: int64(targets)},
		{Name: "aggregate_function", Type: ops.AttrString, S: agg},
		{Name: "nodes_treeids", Type: ops.AttrInts, Ints: treeIDs},
		{Name: "nodes_nodeids", Type: ops.AttrInts, Ints: nodeIDs},
		{Name: "nodes_featureids", Type: ops.AttrInts, Ints: featIDs},
		{Name: "nodes_modes", Type: ops.AttrStrings, Strings: modes},
		{Name: "nodes_values", Type: ops.AttrFloats, Floats: values},
		{Name: "nodes_truenodeids", Type: ops.AttrInts, Ints: trueIDs},
		{Name: "nodes_falsenodeids", Type: ops.AttrInts, Ints: falseIDs},
		{Name: "nodes_missing_value_tracks_true", Type: ops.AttrInts, Ints: missing},
		{Name: "target_treeids", Type: ops.AttrInts, Ints: wTrees},
		{Name: "target_nodeids", Type: ops.AttrInts, Ints: wNodes},
		{Name: "target_ids", Type: ops.AttrInts, Ints: wIDs},
		{Name: "target_weights", Type: ops.AttrFloats, Floats: weights},
	}
	if base != nil {
		attrs = append(attrs, &ops.Attr{Name: "base_values", Type: ops.AttrFloats, Floats: base})
	}
	return &ops.Node{Name: "trees", OpType: "TreeEnsembleRegressor", Domain: ops.DomainML, Version: 3,
		Attrs: ops.NewAttrs(attrs...), Inputs: []string{"X"}, Outputs: []string{"Y"}}
}

// TestForestMatchesCPU runs random ensembles through the GPU layout on the
// host (the kernels' algorithm and partial-result order) and through the
// CPU kernel of package ops.
func TestForestMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	reg := ops.DefaultRegistry()
	for it := range 60 {
		targets := 1 + rng.IntN(3)
		if it%3 == 0 {
			targets = 1
		}
		agg := []string{"SUM", "AVERAGE", "MIN", "MAX"}[it%4]
		var base []float32
		switch it % 5 {
		case 1:
			base = []float32{0.5}
		case 2:
			base = make([]float32, targets)
			for i := range base {
				base[i] = float32(i) + 0.25
			}
		}
		if len(base) == 1 && targets > 1 {
			base = nil // the CPU kernel rejects one base value for several targets
		}
		features := 1 + rng.IntN(6)
		trees := 1 + rng.IntN(70)
		node := randomEnsemble(rng, trees, targets, features, agg, base, 2)
		k, err := reg.Build(node)
		if err != nil {
			t.Fatalf("case %d: CPU kernel: %v", it, err)
		}
		f, err := FlattenTreeEnsemble(node)
		if err != nil {
			t.Fatalf("case %d: %v", it, err)
		}
		rows := 1 + rng.IntN(50)
		x := make([]float32, rows*features)
		for i := range x {
			switch rng.IntN(10) {
			case 0:
				x[i] = float32(math.NaN())
			case 1, 2, 3:
				x[i] = float32(rng.IntN(5)) - 2 // on the thresholds
			default:
				x[i] = float32(rng.NormFloat64() * 2)
			}
		}
		out := make([]*ops.Tensor, 1)
		ec := ops.NewContext(context.Background(), nil, nil)
		if err := k.(ops.Kernel).Run(ec, []*ops.Tensor{ops.FromSlice(ops.Float, x, rows, features)}, out); err != nil {
			t.Fatalf("case %d: CPU run: %v", it, err)
		}
		want := out[0].Float32s()
		for _, per := range []int{1, 3, 16, trees} {
			got, err := f.Predict(x, rows, features, per)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				tol := 1e-4 * (1 + math.Abs(float64(want[i])))
				if math.Abs(float64(got[i]-want[i])) > tol {
					t.Fatalf("case %d (%s, %d targets, %d trees, %d per block): output %d = %g, CPU %g",
						it, agg, targets, trees, per, i, got[i], want[i])
				}
			}
		}
	}
}

func TestFlattenRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := randomEnsemble(rng, 2, 1, 2, "SUM", nil, 1)
	n.Attrs.Get("nodes_truenodeids").Ints[0] = 0 // the root points to itself
	if _, err := FlattenTreeEnsemble(n); err == nil {
		t.Fatal("self-loop accepted")
	}
	n = randomEnsemble(rng, 2, 1, 2, "SUM", nil, 1)
	attrs := []*ops.Attr{}
	for _, name := range n.Attrs.Names() {
		attrs = append(attrs, n.Attrs.Get(name))
	}
	attrs = append(attrs, &ops.Attr{Name: "post_transform", Type: ops.AttrString, S: "LOGISTIC"})
	n.Attrs = ops.NewAttrs(attrs...)
	if ok, why := Supported(n); ok || !strings.Contains(why, "post_transform") {
		t.Fatalf("post_transform: %v %q", ok, why)
	}
}

func TestSupported(t *testing.T) {
	f32 := &ops.Type{Kind: ops.KindTensor, DType: ops.Float}
	i64 := &ops.Type{Kind: ops.KindTensor, DType: ops.Int64}
	mk := func(domain, op string, types []*ops.Type, attrs ...*ops.Attr) *ops.Node {
		names := make([]string, len(types))
		for i := range names {
			names[i] = string(rune('a' + i))
		}
		return &ops.Node{OpType: op, Domain: domain, Version: 17, Attrs: ops.NewAttrs(attrs...),
			InputTypes: types, Inputs: names, Outputs: []string{"y"}}
	}
	for _, c := range []struct {
		n    *ops.Node
		want bool
	}{
		{mk(ops.DomainONNX, "Add", []*ops.Type{f32, f32}), true},
		{mk(ops.DomainONNX, "Add", []*ops.Type{i64, i64}), false},
		{mk(ops.DomainONNX, "Conv", []*ops.Type{f32, f32}), false},
		{mk(ops.DomainONNX, "Gather", []*ops.Type{f32, i64}), true},
		{mk(ops.DomainONNX, "Gather", []*ops.Type{f32, i64}, &ops.Attr{Name: "axis", Type: ops.AttrInt, I: 1}), false},
		{mk(ops.DomainMicrosoft, "SkipLayerNormalization", []*ops.Type{f32, f32, f32}), true},
		{mk(ops.DomainAgate, "SelfAttention", []*ops.Type{f32, f32, f32, nil}), true},
		{mk(ops.DomainONNX, "Gelu", []*ops.Type{f32}, &ops.Attr{Name: "approximate", Type: ops.AttrString, S: "tanh"}), true},
	} {
		if got, why := Supported(c.n); got != c.want {
			t.Errorf("%s: %v (%s), want %v", c.n.Describe(), got, why, c.want)
		}
	}
}
