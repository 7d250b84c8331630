//go:build ort

package bench

import (
	"context"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/agate-ml/agate/bench/ortrun"
	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/ops"
)

// TestEncoderVariantsWithORT runs every onnxbuild.EncoderVariants model
// (shapes and export styles beyond the shared fixtures) on agate, fused and
// unfused, and on onnxruntime, and requires the logits to agree within
// 1e-4.
func TestEncoderVariantsWithORT(t *testing.T) {
	dir := t.TempDir()
	for _, v := range onnxbuild.EncoderVariants() {
		t.Run(v.Name, func(t *testing.T) {
			m, err := onnxbuild.EncoderClassifier(v.Config)
			if err != nil {
				t.Fatal(err)
			}
			data, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, v.Name+".onnx")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewSource(2))
			for _, sh := range [][2]int{{1, 5}, {3, 40}} {
				in := onnxbuild.EncoderInputs(v.Config, sh[0], sh[1], r)
				names := make([]string, 0, len(in))
				for k := range in {
					names = append(names, k)
				}
				sort.Strings(names)
				tensors := make([]*ops.Tensor, len(names))
				values := map[string]ops.Value{}
				for i, k := range names {
					tensors[i], values[k] = in[k], in[k]
				}
				for _, opts := range [][]engine.Option{nil, {engine.WithoutFusion()}} {
					model, err := engine.LoadBytes(data, opts...)
					if err != nil {
						t.Fatal(err)
					}
					out, err := model.RunValues(context.Background(), values)
					model.Close()
					if err != nil {
						t.Fatal(err)
					}
					got := out["logits"].(*ops.Tensor)
					s, err := ortrun.NewSession(path, 1, names, tensors, []string{"logits"}, []*ops.Tensor{got})
					if err != nil {
						t.Fatal(err)
					}
					if err := s.Run(); err != nil {
						t.Fatal(err)
					}
					want := s.Output(0)
					for i := range want {
						g := got.Float32s()[i]
						if math.IsNaN(float64(g)) || math.Abs(float64(g-want[i])) > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
							t.Fatalf("batch %d seq %d (options %d): logit %d agate %v, onnxruntime %v", sh[0], sh[1], len(opts), i, g, want[i])
						}
					}
					s.Destroy()
				}
			}
		})
	}
}

// TestORTOptimizedGraphs has onnxruntime optimize the shared fixtures and
// the encoder variants (writing com.microsoft Attention,
// SkipLayerNormalization, BiasGelu, FusedMatMul and pre-17
// LayerNormalization nodes, as optimum's optimized exports contain), runs
// the optimized graph on agate, fused and unfused, and requires onnxruntime's
// logits on the original graph within 1e-4.
func TestORTOptimizedGraphs(t *testing.T) {
	dir := t.TempDir()
	type tc struct {
		name, path string
		inputs     map[string]*ops.Tensor
	}
	var cases []tc
	for _, name := range TextModels {
		d := shared.Path(t, "models", "transformers", name)
		w := testSetWorkload(t, d, filepath.Join(d, "model.onnx"))
		in := map[string]*ops.Tensor{}
		for i, n := range w.InNames {
			in[n] = w.Inputs[i]
		}
		cases = append(cases, tc{name, filepath.Join(d, "model.onnx"), in})
	}
	r := rand.New(rand.NewSource(3))
	for _, v := range onnxbuild.EncoderVariants() {
		m, err := onnxbuild.EncoderClassifier(v.Config)
		if err != nil {
			t.Fatal(err)
		}
		data, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, v.Name+".onnx")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{v.Name, path, onnxbuild.EncoderInputs(v.Config, 3, 24, r)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			names := make([]string, 0, len(c.inputs))
			for k := range c.inputs {
				names = append(names, k)
			}
			sort.Strings(names)
			tensors := make([]*ops.Tensor, len(names))
			values := map[string]ops.Value{}
			for i, k := range names {
				tensors[i], values[k] = c.inputs[k], c.inputs[k]
			}
			opt := filepath.Join(dir, c.name+".ort.onnx")
			if err := ortrun.Optimize(c.path, opt, names, []string{"logits"}); err != nil {
				t.Fatal(err)
			}
			for _, opts := range [][]engine.Option{nil, {engine.WithoutFusion()}} {
				model, err := engine.LoadFile(opt, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if len(opts) == 0 {
					t.Logf("onnxruntime-optimized graph on agate: %v", model.OpCounts())
				}
				out, err := model.RunValues(context.Background(), values)
				model.Close()
				if err != nil {
					t.Fatal(err)
				}
				got := out["logits"].(*ops.Tensor)
				s, err := ortrun.NewSession(c.path, 1, names, tensors, []string{"logits"}, []*ops.Tensor{got})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Run(); err != nil {
					t.Fatal(err)
				}
				want := s.Output(0)
				for i := range want {
					g := got.Float32s()[i]
					if math.IsNaN(float64(g)) || math.Abs(float64(g-want[i])) > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
						t.Fatalf("options %d: logit %d agate %v, onnxruntime %v", len(opts), i, g, want[i])
					}
				}
				s.Destroy()
			}
		})
	}
}
