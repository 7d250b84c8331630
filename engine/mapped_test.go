package engine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
	"google.golang.org/protobuf/proto"
)

// embedMatMul is a model of a few MB: Gather from a 2048x512 embedding
// table (4 MB, kept as it is) into MatMul by a 512x64 weight (packed).
func embedMatMul(t *testing.T) []byte {
	t.Helper()
	emb := ops.NewTensor(ops.Float, 2048, 512)
	for i := range emb.Float32s() {
		emb.Float32s()[i] = float32(i%1009) / 1009
	}
	w := ops.NewTensor(ops.Float, 512, 64)
	for i := range w.Float32s() {
		w.Float32s()[i] = float32(i%31) - 15
	}
	init := func(name string, t *ops.Tensor) *onnxpb.TensorProto {
		raw, _ := rawBytes(t)
		return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(ops.Float)),
			Dims: []int64{int64(t.Shape[0]), int64(t.Shape[1])}, RawData: raw}
	}
	ids := &onnxpb.ValueInfoProto{Name: proto.String("ids"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(ops.Int64))}}}}
	return marshal(t, model(&onnxpb.GraphProto{
		Name:        proto.String("embed"),
		Input:       []*onnxpb.ValueInfoProto{ids},
		Output:      []*onnxpb.ValueInfoProto{floatInfo("y", 3, 64)},
		Initializer: []*onnxpb.TensorProto{init("emb", emb), init("w", w)},
		Node: []*onnxpb.NodeProto{
			node("Gather", []string{"emb", "ids"}, []string{"e"}),
			node("MatMul", []string{"e", "w"}, []string{"y"}),
		},
	}))
}

func runIDs(t *testing.T, m *Model) []float32 {
	t.Helper()
	ids := ops.FromSlice(ops.Int64, []int64{0, 1000, 2047}, 3)
	outs := make([]ops.Value, 1)
	if err := m.RunList(context.Background(), []ops.Value{ids}, outs); err != nil {
		t.Fatal(err)
	}
	return outs[0].(*ops.Tensor).Float32s()
}

func equalFloats(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d elements, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// loadMeasured loads path and returns the model and the bytes allocated
// on the heap while loading.
func loadMeasured(t *testing.T, path string, opts ...Option) (*Model, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := LoadFile(path, append([]Option{WithWorkers(1)}, opts...)...)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return m, after.TotalAlloc - before.TotalAlloc
}

// embedModelFile writes embedMatMul's model to a file and returns its path
// and the model loaded from memory, to compare with (closed at cleanup).
func embedModelFile(t *testing.T) (string, *Model) {
	t.Helper()
	raw := embedMatMul(t)
	want, err := LoadBytes(raw, WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { want.Close() })
	path := filepath.Join(t.TempDir(), "embed.onnx")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// TestLoadFileViewsMapping: LoadFile with WithMappedWeights decodes the
// 4 MB embedding table of a mapped model in place, without protobuf's copy
// nor the decoder's: the tensor lies in the mapping and loading allocates
// less than the table. It fails if either copy comes back.
func TestLoadFileViewsMapping(t *testing.T) {
	path, want := embedModelFile(t)
	m, alloc := loadMeasured(t, path, WithMappedWeights())
	defer m.Close()
	if len(m.files.maps) == 0 {
		t.Skipf("model files are not mapped on %s", runtime.GOOS)
	}
	const table = 2048 * 512 * 4
	emb := m.plan.consts[slices.Index(m.plan.names, "emb")].(*ops.Tensor)
	if !m.files.holds(emb.Data) {
		t.Error("the embedding table is a copy, not a view of the mapped file")
	}
	if alloc >= table {
		t.Errorf("loading allocated %d bytes, the embedding table alone is %d", alloc, table)
	}
	equalFloats(t, runIDs(t, m), runIDs(t, want))
}

// TestLoadFileCopiesOut: by default LoadFile copies the weights it keeps
// out of the mapping (once, the decoder still viewing them in place), so
// the model runs on after its file is truncated or rewritten in place.
func TestLoadFileCopiesOut(t *testing.T) {
	path, want := embedModelFile(t)
	m, alloc := loadMeasured(t, path)
	defer m.Close()
	const table = 2048 * 512 * 4
	emb := m.plan.consts[slices.Index(m.plan.names, "emb")].(*ops.Tensor)
	if m.files != nil && m.files.holds(emb.Data) {
		t.Fatal("the embedding table still views the mapped file")
	}
	if alloc >= 2*table {
		t.Errorf("loading allocated %d bytes, twice the embedding table (%d): a copy beyond the one kept", alloc, table)
	}
	// cp over the file: truncated, then rewritten with other bytes
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	equalFloats(t, runIDs(t, m), runIDs(t, want))
	if err := os.WriteFile(path, make([]byte, 2048*512*4+4096), 0o644); err != nil {
		t.Fatal(err)
	}
	equalFloats(t, runIDs(t, m), runIDs(t, want))
}

// TestLoadFileMapsExternalData: external data is mapped too, and
// decodeModelInPlace leaves an external initializer's fields as protobuf
// decodes them.
func TestLoadFileMapsExternalData(t *testing.T) {
	raw := embedMatMul(t)
	mp, err := decodeModel(raw)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Store every initializer in weights.bin, at unaligned offsets.
	var data []byte
	for _, init := range mp.Graph.Initializer {
		data = append(data, 0)
		init.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("weights.bin")},
			{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(len(data)))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(init.RawData)))},
		}
		data = append(data, init.RawData...)
		init.RawData = nil
		init.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	}
	model, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	inPlace, err := decodeModelInPlace(model)
	if err != nil || !proto.Equal(inPlace, mp) {
		t.Fatalf("decodeModelInPlace differs from the model written (%v)", err)
	}
	m, alloc := loadMeasured(t, path, WithMappedWeights())
	defer m.Close()
	if len(m.files.maps) == 0 {
		t.Skipf("model files are not mapped on %s", runtime.GOOS)
	}
	if emb := m.plan.consts[slices.Index(m.plan.names, "emb")].(*ops.Tensor); !m.files.holds(emb.Data) {
		t.Error("the external embedding table is a copy, not a view of the mapped file")
	}
	if alloc >= 2048*512*4 {
		t.Errorf("loading allocated %d bytes, the embedding table alone is %d", alloc, 2048*512*4)
	}
	want, err := LoadBytes(raw, WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	equalFloats(t, runIDs(t, m), runIDs(t, want))
}

// TestDecodeModelInPlace: the hand-walked decoding gives the message
// protobuf does, raw_data aliasing the buffer, and falls back to protobuf
// (same errors) on what it does not walk.
func TestDecodeModelInPlace(t *testing.T) {
	raw := embedMatMul(t)
	want, err := decodeModel(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeModelInPlace(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatal("decodeModelInPlace and proto.Unmarshal disagree")
	}
	for _, init := range got.Graph.Initializer {
		p, n := sliceBytes(init.RawData)
		if start := uintptr(unsafe.Pointer(unsafe.SliceData(raw))); n == 0 || uintptr(p) < start || uintptr(p)+n > start+uintptr(len(raw)) {
			t.Errorf("initializer %s: raw_data is not a view of the buffer", init.GetName())
		}
		if cap(init.RawData) != len(init.RawData) {
			t.Errorf("initializer %s: raw_data's capacity reaches past it", init.GetName())
		}
	}
	for _, bad := range [][]byte{raw[:len(raw)/2], {0x3a, 0x02, 0x0a}, {0xff}} {
		_, err1 := decodeModelInPlace(bad)
		_, err2 := decodeModel(bad)
		if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
			t.Errorf("% x: in place %v, protobuf %v", bad[:min(len(bad), 4)], err1, err2)
		}
	}
}

// FuzzDecodeModelInPlace: whatever the bytes, decodeModelInPlace agrees
// with protobuf.
func FuzzDecodeModelInPlace(f *testing.F) {
	f.Add(marshal(f, model(addGraph())))
	f.Add([]byte{0x3a, 0x02, 0x2a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err1 := decodeModelInPlace(data)
		want, err2 := decodeModel(data)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("in place %v, protobuf %v", err1, err2)
		}
		if err1 == nil && !proto.Equal(got, want) {
			t.Fatal("decodeModelInPlace and proto.Unmarshal disagree")
		}
	})
}

// TestMappedOutputsAreCopies: a constant that leaves the model, as an
// output or inside a sequence, is a copy, never a view of the mapping
// (which goes with the Model).
func TestMappedOutputsAreCopies(t *testing.T) {
	c := ops.NewTensor(ops.Float, 4096)
	for i := range c.Float32s() {
		c.Float32s()[i] = float32(i)
	}
	raw, _ := rawBytes(c)
	seq := &onnxpb.ValueInfoProto{Name: proto.String("s"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{
		SequenceType: &onnxpb.TypeProto_Sequence{ElemType: floatInfo("e", 4096).Type}}}}
	b := marshal(t, model(&onnxpb.GraphProto{
		Name:        proto.String("consts"),
		Output:      []*onnxpb.ValueInfoProto{floatInfo("c", 4096), seq},
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("c"), DataType: proto.Int32(int32(ops.Float)), Dims: []int64{4096}, RawData: raw}},
		Node:        []*onnxpb.NodeProto{node("SequenceConstruct", []string{"c"}, []string{"s"})},
	}))
	path := filepath.Join(t.TempDir(), "consts.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(path, WithWorkers(1), WithoutConstantFolding(), WithMappedWeights())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.files.maps) == 0 {
		t.Skipf("model files are not mapped on %s", runtime.GOOS)
	}
	if !m.files.holds(m.plan.consts[slices.Index(m.plan.names, "c")].(*ops.Tensor).Data) {
		t.Fatal("the constant is not a view of the mapping")
	}
	out, err := m.RunValues(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := out["c"].(*ops.Tensor)
	st := out["s"].(*ops.Sequence).Values[0].(*ops.Tensor)
	if m.files.holds(ct.Data) || m.files.holds(st.Data) {
		t.Fatalf("an output views the mapping (tensor %v, sequence element %v)", m.files.holds(ct.Data), m.files.holds(st.Data))
	}
	equalFloats(t, st.Float32s(), c.Float32s())
	equalFloats(t, ct.Float32s(), c.Float32s())
}

// TestLoadFileCopiesOutInputDefaults: an initializer also listed as a graph
// input (older exporters) is a default the caller may override; it is
// copied out of the mapping too.
func TestLoadFileCopiesOutInputDefaults(t *testing.T) {
	mp, err := decodeModel(embedMatMul(t))
	if err != nil {
		t.Fatal(err)
	}
	mp.Graph.Input = append(mp.Graph.Input, floatInfo("emb", 2048, 512))
	raw, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "embed.onnx")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(path, WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, in := range m.plan.inputs {
		if in.def != nil && m.files != nil && m.files.holds(in.def.Data) {
			t.Fatalf("the default of input %s still views the mapped file", in.name)
		}
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	want, err := LoadBytes(raw, WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	run := func(m *Model) []float32 {
		ids := ops.FromSlice(ops.Int64, []int64{0, 1000, 2047}, 3)
		outs := make([]ops.Value, 1)
		if err := m.RunList(context.Background(), []ops.Value{ids, nil}, outs); err != nil {
			t.Fatal(err)
		}
		return outs[0].(*ops.Tensor).Float32s()
	}
	equalFloats(t, run(m), run(want))
}
