package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models/demo"
	"github.com/agate-ml/agate/ops"
)

// BenchmarkTreeSHAP explains one row at a time (exact path-dependent
// TreeSHAP) on the demo forest (covers from its export) and on every tree
// fixture (covers from its test rows), and runs a plain prediction of the
// same row beside it: the explain path does not touch the prediction's.
func BenchmarkTreeSHAP(b *testing.B) {
	type model struct {
		name string
		m    *engine.Model
		bg   *ops.Tensor // background and rows to explain
	}
	var list []model
	dm, err := demo.Train(demo.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	onnx, err := dm.ONNX()
	if err != nil {
		b.Fatal(err)
	}
	m, err := engine.LoadBytes(onnx, engine.WithWorkers(1))
	if err != nil {
		b.Fatal(err)
	}
	x, _ := demo.Data(256, 7)
	flat := make([]float32, 0, 256*demo.NumFeatures)
	for _, r := range x {
		flat = append(flat, r...)
	}
	list = append(list, model{"demo-rf", m, ops.FromSlice(ops.Float, flat, 256, demo.NumFeatures)})
	for _, group := range []string{"sklearn", "third-party"} {
		root := shared.Path(b, "models", group)
		entries, err := os.ReadDir(root)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(root, e.Name())
			m, err := engine.LoadFile(filepath.Join(dir, "model.onnx"), engine.WithWorkers(1))
			if err != nil {
				b.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
			if err != nil {
				b.Fatal(err)
			}
			t, err := engine.DecodeTensor(raw)
			if err != nil {
				b.Fatal(err)
			}
			list = append(list, model{e.Name(), m, t})
		}
	}
	ctx := context.Background()
	for _, md := range list {
		opts := engine.ExplainOptions{}
		if md.name != "demo-rf" {
			opts.Background = engine.ToDense(md.bg)
		}
		ex, err := md.m.TreeExplainer(ctx, opts)
		if err != nil {
			b.Fatal(md.name, err)
		}
		rows, width := md.bg.Shape[0], md.bg.Shape[1]
		row := func(i int) *ops.Tensor {
			r := i % rows
			t := &ops.Tensor{DType: md.bg.DType, Shape: []int{1, width}, Data: ops.MakeSlice(md.bg.DType, width)}
			switch d := md.bg.Data.(type) {
			case []float32:
				copy(t.Data.([]float32), d[r*width:(r+1)*width])
			case []float64:
				copy(t.Data.([]float64), d[r*width:(r+1)*width])
			}
			return t
		}
		inputs := make([]*ops.Tensor, min(rows, 64))
		for i := range inputs {
			inputs[i] = row(i)
		}
		b.Run(md.name+"/explain", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := ex.Explain(ctx, engine.ToDense(inputs[i%len(inputs)])); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(md.name+"/predict", func(b *testing.B) {
			outs := make([]ops.Value, len(md.m.Outputs()))
			in := make([]ops.Value, 1)
			i := 0
			for b.Loop() {
				in[0] = inputs[i%len(inputs)]
				if err := md.m.RunList(ctx, in, outs); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		md.m.Close()
	}
}
