package engine

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

// TestFusionOnBERT checks that the optimizer rewrites the exported BERT
// blocks and that fused and unfused graphs agree.
func TestFusionOnBERT(t *testing.T) {
	dir := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	fused, err := LoadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer fused.Close()
	plain, err := LoadFile(filepath.Join(dir, "model.onnx"), WithoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	counts := map[string]int{}
	for _, st := range fused.plan.steps {
		counts[st.node.Domain+":"+st.node.OpType]++
	}
	// 2 layers. Per layer: one attention; q, k, v and the GELU FFN input as
	// FusedMatMul; two residual LayerNorms (absorbing the bias of the output
	// projections, which stay plain MatMuls). The embedding sum's LayerNorm
	// is a SkipLayerNormalization too.
	want := map[string]int{
		"ai.agate:SelfAttention":               2,
		"ai.agate:FusedMatMul":                 2 * 4,
		"ai.onnx:MatMul":                       2 * 2,
		"com.microsoft:SkipLayerNormalization": 1 + 2*2,
		"ai.onnx:Softmax":                      0,
		"ai.onnx:Erf":                          0,
		"ai.onnx:Transpose":                    0,
	}
	for op, n := range want {
		if counts[op] != n {
			t.Errorf("%s: %d steps, want %d (all steps: %v)", op, counts[op], n, counts)
		}
	}
	t.Logf("steps: fused %d, unfused %d", fused.NumSteps(), plain.NumSteps())
	for _, seq := range []int{1, 7, 33} {
		in := map[string]ops.Value{}
		ids := ops.NewTensor(ops.Int64, 2, seq)
		mask := ops.NewTensor(ops.Int64, 2, seq)
		for i := range ids.Int64s() {
			ids.Int64s()[i] = int64(100 + 37*i%20000)
			mask.Int64s()[i] = 1
		}
		mask.Int64s()[2*seq-1] = 0 // padding in the second row
		in["input_ids"], in["attention_mask"], in["token_type_ids"] = ids, mask, ops.NewTensor(ops.Int64, 2, seq)
		a, err := fused.RunValues(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := plain.RunValues(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		x, y := a["logits"].(*ops.Tensor).Float32s(), b["logits"].(*ops.Tensor).Float32s()
		for i := range x {
			if math.Abs(float64(x[i]-y[i])) > 1e-4 {
				t.Fatalf("seq %d: logit %d fused %v unfused %v", seq, i, x[i], y[i])
			}
		}
	}
}
