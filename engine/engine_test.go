package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// testRegistry holds two float32 kernels, so these tests do not depend on
// the real kernel families.
func testRegistry() *ops.Registry {
	r := ops.NewRegistry()
	r.AddKernel("", "Add", 1, ops.KernelFunc(func(ec *ops.Context, in, out []*ops.Tensor) error {
		a, b := in[0], in[1]
		if !ops.EqualShapes(a.Shape, b.Shape) {
			return errors.New("shape mismatch")
		}
		o := ec.Empty(ops.Float, a.Shape...)
		x, y, z := a.Float32s(), b.Float32s(), o.Float32s()
		for i := range z {
			z[i] = x[i] + y[i]
		}
		out[0] = o
		return nil
	}))
	r.AddKernel("", "Neg", 1, ops.KernelFunc(func(ec *ops.Context, in, out []*ops.Tensor) error {
		o := ec.Empty(ops.Float, in[0].Shape...)
		x, z := in[0].Float32s(), o.Float32s()
		for i := range z {
			z[i] = -x[i]
		}
		out[0] = o
		return nil
	}))
	r.AddKernel("", "Identity", 1, ops.KernelFunc(func(ec *ops.Context, in, out []*ops.Tensor) error {
		out[0] = ec.View(in[0], in[0].Shape...)
		return nil
	}))
	return r
}

func floatInfo(name string, dims ...any) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}})
		case string:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(ops.Float)), Shape: shape}}}}
}

func node(op string, in []string, out []string) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Name: proto.String(op + "_" + out[0])}
}

func model(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{IrVersion: proto.Int64(9), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
}

func marshal(t testing.TB, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func floatInit(name string, vals []float32, dims ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(ops.Float)), Dims: dims, FloatData: vals}
}

// addGraph computes y = -(x + w) + c with w an initializer.
func addGraph() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:        proto.String("g"),
		Input:       []*onnxpb.ValueInfoProto{floatInfo("x", "batch", 3)},
		Output:      []*onnxpb.ValueInfoProto{floatInfo("y", "batch", 3)},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []float32{1, 2, 3}, 1, 3)},
		Node: []*onnxpb.NodeProto{
			node("Add", []string{"x", "x"}, []string{"s"}),
			node("Neg", []string{"s"}, []string{"y"}),
		},
	}
}

func TestRunSimpleGraph(t *testing.T) {
	m, err := LoadBytes(marshal(t, model(addGraph())), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"].(*ops.Tensor).Float32s()
	want := []float32{-2, -4, -6, -8, -10, -12}
	for i := range want {
		if y[i] != want[i] {
			t.Fatalf("y = %v, want %v", y, want)
		}
	}
	// The input must be untouched and the output independent of the arena.
	if x.Float32s()[0] != 1 {
		t.Fatal("input modified")
	}
	out2, err := m.RunValues(context.Background(), map[string]ops.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	out2["y"].(*ops.Tensor).Float32s()[0] = 99
	if y[0] != -2 {
		t.Fatal("outputs of two runs share memory")
	}
}

func TestInputValidation(t *testing.T) {
	m, err := LoadBytes(marshal(t, model(addGraph())), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cases := []struct {
		name   string
		inputs map[string]ops.Value
		want   string
	}{
		{"missing", map[string]ops.Value{}, `missing input "x"`},
		{"unknown", map[string]ops.Value{"x": ops.NewTensor(ops.Float, 1, 3), "z": ops.NewTensor(ops.Float, 1)}, `unknown input "z"`},
		{"dtype", map[string]ops.Value{"x": ops.NewTensor(ops.Int64, 1, 3)}, `input "x" must be float32, got int64`},
		{"rank", map[string]ops.Value{"x": ops.NewTensor(ops.Float, 3)}, `input "x" must have rank 2`},
		{"dim", map[string]ops.Value{"x": ops.NewTensor(ops.Float, 2, 4)}, `input "x" dimension 1 must be 3`},
		{"kind", map[string]ops.Value{"x": &ops.Sequence{}}, `input "x" must be a tensor(float32)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.RunValues(context.Background(), c.inputs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestSymbolicDimsMustAgree(t *testing.T) {
	g := addGraph()
	g.Input = append(g.Input, floatInfo("x2", "batch", 3))
	g.Node[0].Input = []string{"x", "x2"}
	m, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.RunValues(context.Background(), map[string]ops.Value{"x": ops.NewTensor(ops.Float, 2, 3), "x2": ops.NewTensor(ops.Float, 3, 3)})
	if err == nil || !strings.Contains(err.Error(), `dimension "batch"`) {
		t.Fatalf("got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	good := marshal(t, model(addGraph()))
	cycle := addGraph()
	cycle.Node[0].Input = []string{"x", "y"}
	dangling := addGraph()
	dangling.Node[1].Input = []string{"nowhere"}
	unsupported := addGraph()
	unsupported.Node = append(unsupported.Node, node("Frobnicate", []string{"y"}, []string{"z"}),
		&onnxpb.NodeProto{OpType: proto.String("Weird"), Domain: proto.String("com.microsoft"), Input: []string{"z"}, Output: []string{"q"}})
	unsupported.Output = append(unsupported.Output, floatInfo("q"))
	dup := addGraph()
	dup.Node[1].Output = []string{"s"}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty model"},
		{"truncated", good[:len(good)/2], "decoding ONNX ModelProto"},
		{"garbage", []byte("this is not a model at all, just text"), "ONNX"},
		{"cycle", marshal(t, model(cycle)), "cycle"},
		{"dangling", marshal(t, model(dangling)), `reads "nowhere"`},
		{"unsupported", marshal(t, model(unsupported)), "ai.onnx:Frobnicate (opset 17), com.microsoft:Weird (opset 1)"},
		{"duplicate output", marshal(t, model(dup)), `output "s" is also produced`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBytes(c.data, WithRegistry(testRegistry()))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	var ue *UnsupportedError
	_, err := LoadBytes(marshal(t, model(unsupported)), WithRegistry(testRegistry()))
	if !errors.As(err, &ue) || len(ue.Ops) != 2 || !errors.Is(err, ops.ErrUnsupported) {
		t.Fatalf("want an UnsupportedError listing 2 ops, got %v", err)
	}
}

func TestConstantFoldingAndDeadCode(t *testing.T) {
	g := addGraph()
	// w + w is constant: folded. "unused" feeds no output: pruned.
	g.Node = []*onnxpb.NodeProto{
		node("Add", []string{"w", "w"}, []string{"ww"}),
		node("Neg", []string{"x"}, []string{"unused"}),
		node("Add", []string{"x", "ww"}, []string{"y"}),
	}
	g.Input[0] = floatInfo("x", 1, 3)
	m, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.NumSteps() != 1 {
		t.Fatalf("%d steps after folding and pruning, want 1", m.NumSteps())
	}
	out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": ops.FromSlice(ops.Float, []float32{1, 1, 1}, 1, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].(*ops.Tensor).Float32s(); got[0] != 3 || got[2] != 7 {
		t.Fatalf("y = %v", got)
	}
	m2, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()), WithoutConstantFolding())
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.NumSteps() != 2 {
		t.Fatalf("%d steps without folding, want 2", m2.NumSteps())
	}
}

func TestInitializerAsOverridableInput(t *testing.T) {
	g := addGraph()
	g.Input = append(g.Input, floatInfo("w", 1, 3))
	g.Input[0] = floatInfo("x", 1, 3)
	g.Node = []*onnxpb.NodeProto{node("Add", []string{"x", "w"}, []string{"y"})}
	m, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := ops.FromSlice(ops.Float, []float32{0, 0, 0}, 1, 3)
	out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].(*ops.Tensor).Float32s(); got[1] != 2 {
		t.Fatalf("default initializer not used: %v", got)
	}
	out, err = m.RunValues(context.Background(), map[string]ops.Value{"x": x, "w": ops.FromSlice(ops.Float, []float32{5, 5, 5}, 1, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].(*ops.Tensor).Float32s(); got[1] != 5 {
		t.Fatalf("override not used: %v", got)
	}
}

func TestOutputIsInputOrConstant(t *testing.T) {
	g := addGraph()
	g.Node = nil
	g.Output = []*onnxpb.ValueInfoProto{floatInfo("x"), floatInfo("w"), floatInfo("x")}
	m, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := ops.FromSlice(ops.Float, []float32{1, 2, 3}, 1, 3)
	outs := make([]ops.Value, 3)
	if err := m.RunList(context.Background(), []ops.Value{x}, outs); err != nil {
		t.Fatal(err)
	}
	outs[0].(*ops.Tensor).Float32s()[0] = 42
	outs[1].(*ops.Tensor).Float32s()[0] = 42
	if x.Float32s()[0] != 1 || outs[2].(*ops.Tensor).Float32s()[0] != 1 {
		t.Fatal("an output aliases the input")
	}
	again := make([]ops.Value, 3)
	if err := m.RunList(context.Background(), []ops.Value{x}, again); err != nil {
		t.Fatal(err)
	}
	if again[1].(*ops.Tensor).Float32s()[0] != 1 {
		t.Fatal("an output aliases an initializer")
	}
}

func TestConcurrentRuns(t *testing.T) {
	m, err := LoadBytes(marshal(t, model(addGraph())), WithRegistry(testRegistry()), WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				v := float32(g*1000 + i)
				out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": ops.FromSlice(ops.Float, []float32{v, v, v}, 1, 3)})
				if err != nil {
					errs <- err
					return
				}
				if got := out["y"].(*ops.Tensor).Float32s(); got[0] != -2*v || got[2] != -2*v {
					errs <- errors.New("wrong result under concurrency")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCancellation(t *testing.T) {
	m, err := LoadBytes(marshal(t, model(addGraph())), WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.RunValues(ctx, map[string]ops.Value{"x": ops.NewTensor(ops.Float, 1, 3)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 16)
	copy(raw[4:], []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40}) // 1, 2, 3 at offset 4
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	g := addGraph()
	g.Input[0] = floatInfo("x", 1, 3)
	g.Initializer = []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1, 3},
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("weights.bin")},
			{Key: proto.String("offset"), Value: proto.String("4")},
			{Key: proto.String("length"), Value: proto.String("12")}}}}
	g.Node = []*onnxpb.NodeProto{node("Add", []string{"x", "w"}, []string{"y"})}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, marshal(t, model(g)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(path, WithRegistry(testRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out, err := m.RunValues(context.Background(), map[string]ops.Value{"x": ops.NewTensor(ops.Float, 1, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].(*ops.Tensor).Float32s(); got[0] != 1 || got[2] != 3 {
		t.Fatalf("y = %v", got)
	}
	// The same model from bytes has no directory to read from.
	if _, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry())); err == nil || !strings.Contains(err.Error(), "external") {
		t.Fatalf("want an external data error, got %v", err)
	}
	// A location outside the model directory is refused.
	g.Initializer[0].ExternalData[0].Value = proto.String("../etc/passwd")
	if _, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()), WithBaseDir(dir)); err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Fatalf("want an escape error, got %v", err)
	}
	load := func(location, length string) error {
		g.Initializer[0].ExternalData[0].Value = proto.String(location)
		g.Initializer[0].ExternalData[2].Value = proto.String(length)
		m, err := LoadBytes(marshal(t, model(g)), WithRegistry(testRegistry()), WithBaseDir(dir))
		if err == nil {
			m.Close()
		}
		return err
	}
	// A link out of the folder, to a device or a file, is refused.
	os.Symlink("/dev/zero", filepath.Join(dir, "zero.bin"))
	os.Symlink("/etc/hostname", filepath.Join(dir, "outside.bin"))
	for _, loc := range []string{"zero.bin", "outside.bin"} {
		if err := load(loc, "12"); err == nil || !strings.Contains(err.Error(), "link out of the model directory") {
			t.Errorf("%s: want a link error, got %v", loc, err)
		}
	}
	// A link inside the folder is fine.
	os.Symlink("weights.bin", filepath.Join(dir, "inside.bin"))
	if err := load("inside.bin", "12"); err != nil {
		t.Errorf("a link inside the folder: %v", err)
	}
	// A FIFO would block forever; a folder is no data either.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.bin"), 0o644); err == nil {
		done := make(chan error, 1)
		go func() { done <- load("fifo.bin", "12") }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("fifo: want a regular-file error, got %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("loading a FIFO as external data hangs")
		}
	}
	os.Mkdir(filepath.Join(dir, "folder.bin"), 0o755)
	if err := load("folder.bin", "12"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: want a regular-file error, got %v", err)
	}
	// The declared length must be the tensor's size.
	if err := load("weights.bin", "8"); err == nil || !strings.Contains(err.Error(), "need 12") {
		t.Errorf("length 8 for 3 floats: got %v", err)
	}
}

func TestDecodeTensorTypes(t *testing.T) {
	cases := []struct {
		name string
		tp   *onnxpb.TensorProto
		want any
	}{
		{"int8 raw", &onnxpb.TensorProto{DataType: proto.Int32(3), Dims: []int64{3}, RawData: []byte{0xff, 1, 0x80}}, []int8{-1, 1, -128}},
		{"uint8 typed", &onnxpb.TensorProto{DataType: proto.Int32(2), Dims: []int64{2}, Int32Data: []int32{7, 255}}, []uint8{7, 255}},
		{"float16 raw", &onnxpb.TensorProto{DataType: proto.Int32(10), Dims: []int64{1}, RawData: []byte{0x00, 0x3c}}, []ops.F16{0x3c00}},
		{"bfloat16 typed", &onnxpb.TensorProto{DataType: proto.Int32(16), Dims: []int64{1}, Int32Data: []int32{0x3f80}}, []ops.BF16{0x3f80}},
		{"bool raw", &onnxpb.TensorProto{DataType: proto.Int32(9), Dims: []int64{2}, RawData: []byte{1, 0}}, []bool{true, false}},
		{"int4 packed", &onnxpb.TensorProto{DataType: proto.Int32(22), Dims: []int64{3}, RawData: []byte{0xf7, 0x08}}, []int8{7, -1, -8}},
		{"uint64 typed", &onnxpb.TensorProto{DataType: proto.Int32(13), Dims: []int64{1}, Uint64Data: []uint64{1 << 63}}, []uint64{1 << 63}},
		{"string", &onnxpb.TensorProto{DataType: proto.Int32(8), Dims: []int64{2}, StringData: [][]byte{[]byte("a"), []byte("é")}}, []string{"a", "é"}},
		{"scalar double", &onnxpb.TensorProto{DataType: proto.Int32(11), DoubleData: []float64{2.5}}, []float64{2.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeTensor(c.tp, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !equalAny(got.Data, c.want) {
				t.Fatalf("got %v, want %v", got.Data, c.want)
			}
			// round trip through raw_data
			b, err := EncodeTensor("t", got)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeTensor(b)
			if err != nil {
				t.Fatal(err)
			}
			if !equalAny(back.Data, c.want) || !ops.EqualShapes(back.Shape, got.Shape) {
				t.Fatalf("round trip gave %v", back.Data)
			}
		})
	}
	bad := []*onnxpb.TensorProto{
		{DataType: proto.Int32(1), Dims: []int64{4}, RawData: []byte{1, 2, 3}},
		{DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{1}},
		{DataType: proto.Int32(99), Dims: []int64{1}},
		{DataType: proto.Int32(1), Dims: []int64{-1}},
		{DataType: proto.Int32(1), Dims: []int64{1 << 40, 1 << 40}},
	}
	for i, tp := range bad {
		if _, err := decodeTensor(tp, nil); err == nil {
			t.Errorf("bad tensor %d decoded without error", i)
		}
	}
}

func equalAny(a, b any) bool {
	sa, sb := ops.SliceLen(a), ops.SliceLen(b)
	if sa != sb {
		return false
	}
	for i := 0; i < sa; i++ {
		if ops.Subslice(a, i, i+1) == nil {
			return false
		}
	}
	return strings.TrimSpace(sprint(a)) == strings.TrimSpace(sprint(b))
}
