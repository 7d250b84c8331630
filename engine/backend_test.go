package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/agate-ml/agate/engine/cuda"
	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// mockDevice is a Backend whose programs run their steps' CPU kernels,
// checking that a program's inputs, constants and outputs are complete.
type mockDevice struct {
	supported map[string]bool
	reject    string // node name whose compilation fails with a StepError
	compiled  int
}

func (m *mockDevice) Name() string { return "mock:0" }

func (m *mockDevice) Supports(n *ops.Node) (bool, string) {
	if m.supported[n.OpType] {
		return true, ""
	}
	return false, "no mock kernel"
}

func (m *mockDevice) Compile(p *cuda.Program) (ops.Kernel, error) {
	for i, st := range p.Steps {
		if st.Node.Name == m.reject {
			return nil, &cuda.StepError{Step: i, Err: errors.New("rejected by the mock")}
		}
	}
	m.compiled++
	return ops.KernelFunc(func(ec *ops.Context, in, out []*ops.Tensor) error {
		vals := make([]*ops.Tensor, p.NumValues)
		copy(vals, p.Consts)
		for i, v := range p.Inputs {
			vals[v] = in[i]
		}
		hec := ops.NewContext(ec.Ctx, nil, nil)
		for _, st := range p.Steps {
			sin := make([]*ops.Tensor, len(st.In))
			for j, v := range st.In {
				if v >= 0 {
					if vals[v] == nil {
						return fmt.Errorf("%s reads value %d, which the program does not define", st.Node.Describe(), v)
					}
					sin[j] = vals[v]
				}
			}
			sout := make([]*ops.Tensor, len(st.Out))
			if err := st.Fallback.Run(hec, sin, sout); err != nil {
				return err
			}
			for j, v := range st.Out {
				if v >= 0 {
					vals[v] = sout[j]
				}
			}
		}
		for i, v := range p.Outputs {
			out[i] = ec.Empty(vals[v].DType, vals[v].Shape...)
			ops.CopySlice(out[i].Data, vals[v].Data)
		}
		return nil
	}), nil
}

// placementGraph: a = x + w; r = relu(a); m = r * w; s = m + a; y = tanh(s),
// with r also a graph output.
func placementGraph() *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{
		Name:        proto.String("g"),
		Input:       []*onnxpb.ValueInfoProto{floatInfo("x", "batch", 3)},
		Output:      []*onnxpb.ValueInfoProto{floatInfo("y", "batch", 3), floatInfo("r", "batch", 3)},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []float32{1, -2, 3}, 1, 3)},
		Node: []*onnxpb.NodeProto{
			node("Add", []string{"x", "w"}, []string{"a"}),
			node("Relu", []string{"a"}, []string{"r"}),
			node("Mul", []string{"r", "w"}, []string{"m"}),
			node("Add", []string{"m", "a"}, []string{"s"}),
			node("Tanh", []string{"s"}, []string{"y"}),
		},
	}
	return model(g)
}

func runPlacement(t *testing.T, dev Backend) (map[string]ops.Value, *Placement) {
	t.Helper()
	m, err := LoadBytes(marshal(t, placementGraph()), WithoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var pl *Placement
	if dev != nil {
		if pl, err = placePlan(m.plan, dev, t.Logf); err != nil {
			t.Fatal(err)
		}
	}
	x := ops.FromSlice(ops.Float, []float32{-3, 0.5, 2, 1, -1, 0}, 2, 3)
	for range 2 { // the second run reuses frames and arena buffers
		out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if dev == nil {
			return out, nil
		}
		want, _ := runPlacement(t, nil)
		for name, w := range want {
			g, w := out[name].(*ops.Tensor).Float32s(), w.(*ops.Tensor).Float32s()
			for i := range w {
				if math.Abs(float64(g[i]-w[i])) > 1e-6 {
					t.Fatalf("%s[%d] = %g, want %g", name, i, g[i], w[i])
				}
			}
		}
	}
	return nil, pl
}

func TestPlacementSegments(t *testing.T) {
	dev := &mockDevice{supported: map[string]bool{"Add": true, "Relu": true, "Tanh": true}}
	_, pl := runPlacement(t, dev)
	if pl.Programs != 2 || pl.OnDevice != 4 || pl.OnCPU != 1 || dev.compiled != 2 {
		t.Fatalf("placement %+v, %d compiled", pl, dev.compiled)
	}
	if len(pl.CPUNodes) != 1 || !strings.Contains(pl.CPUNodes[0], "Mul") || !strings.Contains(pl.CPUNodes[0], "no mock kernel") {
		t.Fatalf("CPU nodes %q", pl.CPUNodes)
	}
}

func TestPlacementStepErrorMovesNodeToCPU(t *testing.T) {
	dev := &mockDevice{supported: map[string]bool{"Add": true, "Relu": true, "Tanh": true}, reject: "Relu_r"}
	_, pl := runPlacement(t, dev)
	if pl.OnCPU != 2 || pl.OnDevice != 3 || pl.Programs != 2 {
		t.Fatalf("placement %+v", pl)
	}
	if !strings.Contains(strings.Join(pl.CPUNodes, "\n"), "rejected by the mock") {
		t.Fatalf("CPU nodes %q", pl.CPUNodes)
	}
}

func TestPlacementEverythingOnDevice(t *testing.T) {
	dev := &mockDevice{supported: map[string]bool{"Add": true, "Relu": true, "Tanh": true, "Mul": true}}
	_, pl := runPlacement(t, dev)
	if pl.Programs != 1 || pl.OnCPU != 0 {
		t.Fatalf("placement %+v", pl)
	}
}

func TestNewBackend(t *testing.T) {
	for _, name := range []string{"", "cpu", "CPU"} {
		b, err := NewBackend(name, nil)
		if err != nil || b.Name() != "cpu" {
			t.Fatalf("%q: %v %v", name, b, err)
		}
	}
	if _, err := NewBackend("tpu:0", nil); err == nil || errors.Is(err, ErrNoDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	// Without the cuda tag, or on a machine without a GPU, the error says
	// so and wraps ErrNoDevice, so that a server can fall back to the CPU.
	if b, err := NewBackend("cuda:0", nil); err != nil {
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("cuda:0: %v does not wrap ErrNoDevice", err)
		}
		t.Logf("cuda:0: %v", err)
	} else {
		t.Logf("cuda:0 opened: %s", b.Name())
	}
}

func TestUseDeviceCPUAndClose(t *testing.T) {
	m, err := LoadBytes(marshal(t, placementGraph()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := len(m.plan.steps)
	pl, err := useDevice(m.plan, "cpu", t.Logf)
	if err != nil || pl.OnCPU != n || len(m.plan.steps) != n || pl.String() != fmt.Sprintf("all %d nodes on the CPU", n) {
		t.Fatalf("cpu placement %v, %v", pl, err)
	}
	if _, err := useDevice(m.plan, "cuda:0", t.Logf); err != nil && !errors.Is(err, ErrNoDevice) {
		t.Fatalf("cuda:0: %v", err)
	}
	if err := m.plan.closeKernels(); err != nil {
		t.Fatal(err)
	}
}
