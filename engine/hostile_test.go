package engine_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/engine"
	ob "github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

var writeHostile = flag.Bool("write-hostile", false, "rewrite engine/testdata/hostile/*.onnx from the generators")

// hostileModels builds small models that ask for absurd amounts of memory
// or time: at load (constant folding) or on their first run.
func hostileModels() map[string]*ob.Model {
	f32 := ob.TensorType(ops.Float, "n")
	huge := ops.FromSlice(ops.Int64, []int64{1 << 20, 1 << 20, 1 << 10}, 3)
	model := func(g *ob.Graph) *ob.Model { return &ob.Model{Graph: g, Opsets: map[string]int{"": 17}} }
	body := ob.NewGraph("body").
		Input("i", ob.TensorType(ops.Int64)).
		Input("cond_in", ob.TensorType(ops.Bool)).
		Input("acc_in", ob.TensorType(ops.Float)).
		Output("cond_out", ob.TensorType(ops.Bool)).
		Output("acc_out", ob.TensorType(ops.Float)).
		Node("Identity", []string{"cond_in"}, []string{"cond_out"}).
		Node("Identity", []string{"acc_in"}, []string{"acc_out"})
	return map[string]*ob.Model{
		// folded at load
		"constant_of_shape": model(ob.NewGraph("g").Output("y", f32).Initializer("shape", huge).
			Node("ConstantOfShape", []string{"shape"}, []string{"y"})),
		"expand": model(ob.NewGraph("g").Output("y", f32).Initializer("one", ops.FromSlice(ops.Float, []float32{1}, 1)).
			Initializer("shape", huge).Node("Expand", []string{"one", "shape"}, []string{"y"})),
		"onehot": model(ob.NewGraph("g").Output("y", f32).Initializer("idx", ops.FromSlice(ops.Int64, []int64{1, 2, 3}, 3)).
			Initializer("depth", ops.Scalar(int64(1)<<40)).Initializer("values", ops.FromSlice(ops.Float, []float32{0, 1}, 2)).
			Node("OneHot", []string{"idx", "depth", "values"}, []string{"y"})),
		"range": model(ob.NewGraph("g").Output("y", f32).Initializer("start", ops.Scalar(float32(0))).
			Initializer("limit", ops.Scalar(float32(1e15))).Initializer("delta", ops.Scalar(float32(1))).
			Node("Range", []string{"start", "limit", "delta"}, []string{"y"})),
		"tile": model(ob.NewGraph("g").Output("y", f32).Initializer("x", ops.FromSlice(ops.Float, []float32{1, 2}, 2)).
			Initializer("reps", ops.FromSlice(ops.Int64, []int64{1 << 50}, 1)).Node("Tile", []string{"x", "reps"}, []string{"y"})),
		"loop_1e15": model(ob.NewGraph("g").Output("y", ob.TensorType(ops.Float)).
			Initializer("m", ops.Scalar(int64(1e15))).Initializer("cond", ops.Scalar(true)).Initializer("zero", ops.Scalar(float32(0))).
			Node("Loop", []string{"m", "cond", "zero"}, []string{"y"}, ob.GraphAttr("body", body))),
		// at run time: the shape comes from an input
		"runtime_expand": model(ob.NewGraph("g").Input("x", ob.TensorType(ops.Float, 1)).Output("y", f32).
			Initializer("shape", huge).Node("Expand", []string{"x", "shape"}, []string{"y"})),
	}
}

// TestHostileModels loads and runs each hostile model: each must end in an
// error naming the budget (or the time limit) within 5 s, the heap growing
// by well under 500 MB. The corpus is also kept in testdata/hostile for other
// tools (agate check, fuzzers).
func TestHostileModels(t *testing.T) {
	dir := filepath.Join("testdata", "hostile")
	models := hostileModels()
	names := make([]string, 0, len(models))
	for name := range models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := models[name].Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name+".onnx")
			if *writeHostile {
				os.MkdirAll(dir, 0o755)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stored, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -write-hostile to create the corpus)", err)
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err = loadAndRun(stored)
			took := time.Since(start)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("the model loaded and ran")
			}
			if msg := err.Error(); !errors.Is(err, ops.ErrTensorBudget) && !strings.Contains(msg, "took longer than") && !strings.Contains(msg, "too large") {
				t.Errorf("error %q names neither the tensor budget, a size limit nor the time limit", err)
			}
			if took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if grown := int64(after.HeapSys) - int64(before.HeapSys); grown > 500<<20 {
				t.Errorf("the heap grew by %d MB", grown>>20)
			}
			t.Logf("%v: %v", took.Round(time.Millisecond), err)
		})
	}
}

func loadAndRun(b []byte) error {
	m, err := engine.LoadBytes(b)
	if err != nil {
		return err
	}
	defer m.Close()
	in := map[string]ops.Value{}
	for _, i := range m.Inputs() {
		in[i.Name] = ops.FromSlice(ops.Float, []float32{1}, 1)
	}
	_, err = m.RunValues(context.Background(), in)
	return err
}

func TestTensorBytes(t *testing.T) {
	for _, tt := range []struct {
		dt    ops.DType
		shape []int
		want  int64
	}{
		{ops.Float, []int{2, 3}, 24},
		{ops.Int64, nil, 8},
		{ops.Float, []int{0, 1 << 40}, 0},
		{ops.Float, []int{1 << 40, 1 << 40}, 1<<63 - 1},
		{ops.Double, []int{1 << 30, 1 << 30, 1 << 30}, 1<<63 - 1},
	} {
		if got := ops.TensorBytes(tt.dt, tt.shape); got != tt.want {
			t.Errorf("%s %v: %d, want %d", tt.dt, tt.shape, got, tt.want)
		}
	}
}

// TestInspectWarnsOfNewerOpsets: a model importing an opset newer than
// agate's operator definitions is described with a warning.
func TestInspectWarnsOfNewerOpsets(t *testing.T) {
	g := ob.NewGraph("g").Input("x", ob.TensorType(ops.Float, 2)).Output("y", ob.TensorType(ops.Float, 2)).
		Node("Relu", []string{"x"}, []string{"y"})
	for opset, want := range map[int]bool{17: false, 99: true} {
		b, err := (&ob.Model{Graph: g, Opsets: map[string]int{"": opset}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		info, err := engine.Inspect(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(info.Warnings) > 0 && strings.Contains(info.Warnings[0], "opset 99"); got != want {
			t.Errorf("opset %d: warnings %q", opset, info.Warnings)
		}
	}
}
