package engine

import (
	"context"
	"testing"

	"github.com/agate-ml/agate/ops"
)

// FuzzLoadBytes feeds arbitrary bytes to the decoder and planner: they must
// return an error or a model, never panic or hang. The seed corpus lives in
// testdata/fuzz/FuzzLoadBytes.
func FuzzLoadBytes(f *testing.F) {
	f.Add(marshal(f, model(addGraph())))
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadBytes(data, WithRegistry(reg), WithWorkers(1))
		if err != nil {
			return
		}
		defer m.Close()
		// Run it once on zero inputs of the declared shapes when they are static.
		inputs := map[string]ops.Value{}
		for _, in := range m.Inputs() {
			if in.Type == nil || in.Type.Kind != ops.KindTensor || !in.Type.HasShape || in.Type.DType != ops.Float {
				return
			}
			shape := make([]int, len(in.Type.Shape))
			for i, d := range in.Type.Shape {
				if d.Value < 0 || d.Value > 64 {
					return
				}
				shape[i] = int(d.Value)
			}
			inputs[in.Name] = ops.NewTensor(ops.Float, shape...)
		}
		_, _ = m.RunValues(context.Background(), inputs)
	})
}
