// Package bench holds agate's side-by-side benchmarks against onnxruntime
// (build tag `ort`, see README.md here) and the workloads they share: the
// scikit-learn tree ensembles and the BERT classifiers of the shared model
// folders, at fixed batch sizes and thread counts.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/ops"
)

// Workload is one model with prepared inputs.
type Workload struct {
	Name    string // e.g. "rf_regressor_5f/b100"
	Model   string // path to model.onnx
	Rows    int    // rows (or sequences) per run, for per-row figures
	Inputs  []*ops.Tensor
	InNames []string
}

// TreeWorkload tiles the rows of dir/test_data_set_0/input_0.pb to batch rows.
func TreeWorkload(dir string, batch int) (*Workload, error) {
	b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
	if err != nil {
		return nil, err
	}
	src, err := engine.DecodeTensor(b)
	if err != nil {
		return nil, err
	}
	if len(src.Shape) != 2 {
		return nil, fmt.Errorf("%s: input shape %v, want [rows, features]", dir, src.Shape)
	}
	rows, feats := src.Shape[0], src.Shape[1]
	x := ops.NewTensor(src.DType, batch, feats)
	for r := 0; r < batch; r++ {
		s := r % rows
		ops.CopySlice(ops.Subslice(x.Data, r*feats, (r+1)*feats), ops.Subslice(src.Data, s*feats, (s+1)*feats))
	}
	model := filepath.Join(dir, "model.onnx")
	info, err := inspect(model)
	if err != nil {
		return nil, err
	}
	return &Workload{Name: fmt.Sprintf("%s/b%d", filepath.Base(dir), batch), Model: model, Rows: batch,
		Inputs: []*ops.Tensor{x}, InNames: []string{info.Inputs[0].Name}}, nil
}

// TextWorkload builds a BERT-style batch: random token ids (seeded), full
// attention mask, zero token types, for the inputs the model declares.
func TextWorkload(dir string, batch, seq int) (*Workload, error) {
	model := filepath.Join(dir, "model.onnx")
	info, err := inspect(model)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(1, uint64(seq)))
	w := &Workload{Name: fmt.Sprintf("%s/b%d-s%d", filepath.Base(dir), batch, seq), Model: model, Rows: batch}
	for _, in := range info.Inputs {
		t := ops.NewTensor(ops.Int64, batch, seq)
		d := t.Int64s()
		switch in.Name {
		case "input_ids":
			for i := range d {
				d[i] = 1000 + r.Int64N(28000)
			}
			for b := 0; b < batch; b++ {
				d[b*seq] = 101
				d[b*seq+seq-1] = 102
			}
		case "attention_mask":
			for i := range d {
				d[i] = 1
			}
		}
		w.Inputs = append(w.Inputs, t)
		w.InNames = append(w.InNames, in.Name)
	}
	return w, nil
}

func inspect(model string) (*engine.ModelInfo, error) {
	b, err := os.ReadFile(model)
	if err != nil {
		return nil, err
	}
	return engine.Inspect(b)
}

// Agate loads the workload's model with the given intra-op threads and
// further options.
func (w *Workload) Agate(threads int, opts ...engine.Option) (*engine.Model, error) {
	return engine.LoadFile(w.Model, append([]engine.Option{engine.WithWorkers(threads)}, opts...)...)
}

// RunAgate runs m once on the workload's inputs into outs.
func (w *Workload) RunAgate(ctx context.Context, m *engine.Model, outs []ops.Value) error {
	in := make([]ops.Value, len(m.Inputs()))
	for i, info := range m.Inputs() {
		for j, name := range w.InNames {
			if name == info.Name {
				in[i] = w.Inputs[j]
			}
		}
	}
	return m.RunList(ctx, in, outs)
}

// BenchAgate is a benchmark body running the workload on agate, loaded
// with the given options.
func (w *Workload) BenchAgate(threads int, opts ...engine.Option) func(b *testing.B) {
	return func(b *testing.B) {
		m, err := w.Agate(threads, opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		ctx := context.Background()
		in := make([]ops.Value, len(m.Inputs()))
		for i, info := range m.Inputs() {
			for j, name := range w.InNames {
				if name == info.Name {
					in[i] = w.Inputs[j]
				}
			}
		}
		outs := make([]ops.Value, len(m.Outputs()))
		if err := m.RunList(ctx, in, outs); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			// outputs bound, as the onnxruntime side's are
			if err := m.RunInto(ctx, in, outs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(w.Rows), "ns/row")
	}
}
