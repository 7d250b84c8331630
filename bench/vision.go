package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// Generated models shaped like the CNNs and RNNs people export
// (torchvision ResNet and MobileNet blocks, a bidirectional LSTM), with
// seeded random weights, for side-by-side timing with onnxruntime.

// netBuilder accumulates a graph with unique value names and He-scaled
// random weights.
type netBuilder struct {
	g   *onnxbuild.Graph
	r   *rand.Rand
	seq int
}

func newNetBuilder(name string, seed uint64) *netBuilder {
	return &netBuilder{g: onnxbuild.NewGraph(name), r: rand.New(rand.NewPCG(seed, 7))}
}

func (b *netBuilder) name(p string) string {
	b.seq++
	return fmt.Sprintf("%s_%d", p, b.seq)
}

// weight adds an initializer of normal values with standard deviation std.
func (b *netBuilder) weight(std float64, shape ...int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(b.r.NormFloat64() * std)
	}
	name := b.name("w")
	b.g.Initializer(name, ops.FromSlice(ops.Float, v, shape...))
	return name
}

// conv adds Conv (with bias) and returns its output; relu adds a Relu.
func (b *netBuilder) conv(x string, cin, cout, k, stride, group int, relu bool) string {
	w := b.weight(math.Sqrt(2/float64(cin/group*k*k)), cout, cin/group, k, k)
	bias := b.weight(0.01, cout)
	y := b.name("conv")
	pad := int64(k / 2)
	b.g.Node("Conv", []string{x, w, bias}, []string{y},
		onnxbuild.Ints("kernel_shape", int64(k), int64(k)), onnxbuild.Ints("strides", int64(stride), int64(stride)),
		onnxbuild.Ints("pads", pad, pad, pad, pad), onnxbuild.Int("group", int64(group)))
	if !relu {
		return y
	}
	r := b.name("relu")
	b.g.Node("Relu", []string{y}, []string{r})
	return r
}

// relu6 adds Clip(0, 6), as torchvision's MobileNet exports write it.
func (b *netBuilder) relu6(x string) string {
	lo, hi := b.name("lo"), b.name("hi")
	b.g.Initializer(lo, ops.FromSlice(ops.Float, []float32{0}))
	b.g.Initializer(hi, ops.FromSlice(ops.Float, []float32{6}))
	y := b.name("clip")
	b.g.Node("Clip", []string{x, lo, hi}, []string{y})
	return y
}

// head adds GlobalAveragePool, Flatten and a Gemm to classes outputs.
func (b *netBuilder) head(x string, c, classes int) string {
	p, f, y := b.name("gap"), b.name("flat"), "logits"
	b.g.Node("GlobalAveragePool", []string{x}, []string{p})
	b.g.Node("Flatten", []string{p}, []string{f}, onnxbuild.Int("axis", 1))
	w, bias := b.weight(math.Sqrt(1/float64(c)), classes, c), b.weight(0.01, classes)
	b.g.Node("Gemm", []string{f, w, bias}, []string{y}, onnxbuild.Int("transB", 1))
	return y
}

// write marshals the graph to dir/name.onnx.
func (b *netBuilder) write(dir, name string, opset int) (string, error) {
	m := &onnxbuild.Model{Graph: b.g, Opsets: map[string]int{"": opset}, ProducerName: "agate-bench"}
	raw, err := m.Marshal()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	path := filepath.Join(dir, name+".onnx")
	return path, os.WriteFile(path, raw, 0o644)
}

// ResNetShaped writes a ResNet-18-shaped network (7×7/2 stem, max pool,
// basic blocks of two 3×3 convolutions with identity or 1×1 projection
// shortcuts over 64, 128, 256 and 512 channels, pooled head) for a
// [batch, 3, size, size] input.
func ResNetShaped(dir string, batch, size int) (*Workload, error) {
	b := newNetBuilder("resnet_shaped", 1)
	b.g.Input("input", onnxbuild.TensorType(ops.Float, batch, 3, size, size))
	x := b.conv("input", 3, 64, 7, 2, 1, true)
	p := b.name("pool")
	b.g.Node("MaxPool", []string{x}, []string{p}, onnxbuild.Ints("kernel_shape", 3, 3),
		onnxbuild.Ints("strides", 2, 2), onnxbuild.Ints("pads", 1, 1, 1, 1))
	x = p
	cin := 64
	for stage, c := range []int{64, 128, 256, 512} {
		for blk := 0; blk < 2; blk++ {
			stride := 1
			if stage > 0 && blk == 0 {
				stride = 2
			}
			short := x
			if stride != 1 || cin != c {
				short = b.conv(x, cin, c, 1, stride, 1, false)
			}
			y := b.conv(x, cin, c, 3, stride, 1, true)
			y = b.conv(y, c, c, 3, 1, 1, false)
			s, r := b.name("add"), b.name("relu")
			b.g.Node("Add", []string{y, short}, []string{s})
			b.g.Node("Relu", []string{s}, []string{r})
			x, cin = r, c
		}
	}
	out := b.head(x, 512, 1000)
	b.g.Output(out, onnxbuild.TensorType(ops.Float, batch, 1000))
	path, err := b.write(dir, "resnet_shaped", 17)
	if err != nil {
		return nil, err
	}
	return visionWorkload(fmt.Sprintf("resnet18_shaped/b%d-%d", batch, size), path, batch, size), nil
}

// MobileNetShaped writes a MobileNet-v2-shaped network (3×3/2 stem, inverted
// residual blocks: 1×1 expansion, 3×3 depthwise, 1×1 projection, ReLU6 as
// Clip, residual adds where the shape allows) for a [batch, 3, size, size]
// input.
func MobileNetShaped(dir string, batch, size int) (*Workload, error) {
	b := newNetBuilder("mobilenet_shaped", 2)
	b.g.Input("input", onnxbuild.TensorType(ops.Float, batch, 3, size, size))
	x := b.relu6(b.conv("input", 3, 32, 3, 2, 1, false))
	cin := 32
	// torchvision's table: expansion t, channels c, repeats n, stride s
	for _, st := range [][4]int{{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}} {
		t, c, n, s := st[0], st[1], st[2], st[3]
		for i := 0; i < n; i++ {
			stride := 1
			if i == 0 {
				stride = s
			}
			hidden := cin * t
			y := x
			if t != 1 {
				y = b.relu6(b.conv(y, cin, hidden, 1, 1, 1, false))
			}
			y = b.relu6(b.conv(y, hidden, hidden, 3, stride, hidden, false))
			y = b.conv(y, hidden, c, 1, 1, 1, false)
			if stride == 1 && cin == c {
				s := b.name("add")
				b.g.Node("Add", []string{y, x}, []string{s})
				y = s
			}
			x, cin = y, c
		}
	}
	x = b.relu6(b.conv(x, cin, 1280, 1, 1, 1, false))
	out := b.head(x, 1280, 1000)
	b.g.Output(out, onnxbuild.TensorType(ops.Float, batch, 1000))
	path, err := b.write(dir, "mobilenet_shaped", 17)
	if err != nil {
		return nil, err
	}
	return visionWorkload(fmt.Sprintf("mobilenetv2_shaped/b%d-%d", batch, size), path, batch, size), nil
}

// LSTMShaped writes a bidirectional LSTM (the form PyTorch exports: weights
// [2, 4·hidden, ·], the two biases stacked) over [seq, batch, features].
func LSTMShaped(dir string, seq, batch, features, hidden int) (*Workload, error) {
	b := newNetBuilder("lstm_shaped", 3)
	b.g.Input("input", onnxbuild.TensorType(ops.Float, seq, batch, features))
	std := 1 / math.Sqrt(float64(hidden))
	w := b.weight(std, 2, 4*hidden, features)
	r := b.weight(std, 2, 4*hidden, hidden)
	bias := b.weight(std, 2, 8*hidden)
	b.g.Node("LSTM", []string{"input", w, r, bias}, []string{"y", "y_h", "y_c"},
		onnxbuild.Int("hidden_size", int64(hidden)), onnxbuild.String("direction", "bidirectional"))
	b.g.Output("y", onnxbuild.TensorType(ops.Float, seq, 2, batch, hidden))
	path, err := b.write(dir, "lstm_shaped", 14)
	if err != nil {
		return nil, err
	}
	x := ops.NewTensor(ops.Float, seq, batch, features)
	rr := rand.New(rand.NewPCG(4, 4))
	for i, d := 0, x.Float32s(); i < len(d); i++ {
		d[i] = float32(rr.NormFloat64())
	}
	return &Workload{Name: fmt.Sprintf("bilstm_shaped/s%d-b%d-%dx%d", seq, batch, features, hidden), Model: path, Rows: batch,
		Inputs: []*ops.Tensor{x}, InNames: []string{"input"}}, nil
}

// ResizeShaped writes a 2× upsampling of a [1, channels, size, size]
// feature map (Resize, opset 13, mode linear or nearest, half-pixel
// coordinates), as segmentation and super-resolution heads do.
func ResizeShaped(dir, mode string, channels, size int) (*Workload, error) {
	b := newNetBuilder("resize_"+mode, 6)
	b.g.Input("input", onnxbuild.TensorType(ops.Float, 1, channels, size, size))
	b.g.Initializer("roi", ops.FromSlice(ops.Float, []float32{}, 0))
	b.g.Initializer("scales", ops.FromSlice(ops.Float, []float32{1, 1, 2, 2}, 4))
	attrs := []onnxbuild.Attr{onnxbuild.String("mode", mode)}
	if mode == "nearest" {
		attrs = append(attrs, onnxbuild.String("coordinate_transformation_mode", "asymmetric"), onnxbuild.String("nearest_mode", "floor"))
	} else {
		attrs = append(attrs, onnxbuild.String("coordinate_transformation_mode", "half_pixel"))
	}
	b.g.Node("Resize", []string{"input", "roi", "scales"}, []string{"y"}, attrs...)
	b.g.Output("y", onnxbuild.TensorType(ops.Float, 1, channels, 2*size, 2*size))
	path, err := b.write(dir, "resize_"+mode, 13)
	if err != nil {
		return nil, err
	}
	x := ops.NewTensor(ops.Float, 1, channels, size, size)
	r := rand.New(rand.NewPCG(6, 6))
	for i, d := 0, x.Float32s(); i < len(d); i++ {
		d[i] = float32(r.NormFloat64())
	}
	return &Workload{Name: fmt.Sprintf("resize_%s/c%d-%d", mode, channels, size), Model: path, Rows: 1,
		Inputs: []*ops.Tensor{x}, InNames: []string{"input"}}, nil
}

// visionWorkload is an image batch of normal values.
func visionWorkload(name, path string, batch, size int) *Workload {
	x := ops.NewTensor(ops.Float, batch, 3, size, size)
	r := rand.New(rand.NewPCG(5, uint64(size)))
	for i, d := 0, x.Float32s(); i < len(d); i++ {
		d[i] = float32(r.NormFloat64())
	}
	return &Workload{Name: name, Model: path, Rows: batch, Inputs: []*ops.Tensor{x}, InNames: []string{"input"}}
}

// VisionWorkloads builds the CNN and RNN workloads into dir.
func VisionWorkloads(dir string) ([]*Workload, error) {
	var out []*Workload
	for _, f := range []func() (*Workload, error){
		func() (*Workload, error) { return ResNetShaped(dir, 1, 224) },
		func() (*Workload, error) { return MobileNetShaped(dir, 1, 224) },
		func() (*Workload, error) { return LSTMShaped(dir, 64, 1, 128, 256) },
		func() (*Workload, error) { return ResizeShaped(dir, "linear", 64, 112) },
		func() (*Workload, error) { return ResizeShaped(dir, "nearest", 64, 112) },
	} {
		w, err := f()
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}
