//go:build ort

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/bench/ortrun"
	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// bertBase is a BERT-base-sized classifier (12 layers, hidden 768, FFN
// 3072, 30,522-token vocabulary: 438 MB of float32 weights).
var bertBase = onnxbuild.EncoderConfig{Layers: 12, Hidden: 768, Heads: 12, FFN: 3072, Vocab: 30522, MaxPositions: 512,
	TypeVocab: 2, Labels: 2, Seed: 1, GELU: "erf", LayerNorm: "decomposed", Attention: "bert", Positions: "bert"}

// TestFullSizeLoad writes a BERT-base-sized model and loads it in a fresh
// process per engine, reporting load time, the peak and settled resident
// set, and the median latency of one 128-token sequence on one thread. It
// writes 438 MB and takes about a minute, so it runs only with
// AGATE_FULLSIZE=1:
//
//	AGATE_FULLSIZE=1 go test -tags ort -run TestFullSizeLoad -v ./bench/
func TestFullSizeLoad(t *testing.T) {
	if os.Getenv("AGATE_FULLSIZE") == "" {
		t.Skip("set AGATE_FULLSIZE=1 to write and load a 438 MB model")
	}
	m, err := onnxbuild.EncoderClassifier(bertBase)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	weights := len(data)
	data, m = nil, nil
	t.Logf("model: %d bytes", weights)
	for _, eng := range []string{"agate", "ort"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFullSizeChild$", "-test.v")
		cmd.Env = append(os.Environ(), "AGATE_FULLSIZE_CHILD="+eng, "AGATE_FULLSIZE_MODEL="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", eng, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if i := strings.Index(line, "fullsize:"); i >= 0 {
				t.Logf("%-5s %s", eng, line[i+len("fullsize:"):])
			}
		}
	}
}

// TestFullSizeChild is TestFullSizeLoad's measurement in its own process.
func TestFullSizeChild(t *testing.T) {
	eng, path := os.Getenv("AGATE_FULLSIZE_CHILD"), os.Getenv("AGATE_FULLSIZE_MODEL")
	if eng == "" {
		t.Skip("run by TestFullSizeLoad")
	}
	const seq = 128
	ids := ops.NewTensor(ops.Int64, 1, seq)
	for i := range ids.Int64s() {
		ids.Int64s()[i] = int64(1000 + 7*i)
	}
	mask := ops.NewTensor(ops.Int64, 1, seq)
	for i := range mask.Int64s() {
		mask.Int64s()[i] = 1
	}
	types := ops.NewTensor(ops.Int64, 1, seq)
	names := []string{"input_ids", "attention_mask", "token_type_ids"}
	inputs := []*ops.Tensor{ids, mask, types}
	start := time.Now()
	var run func() error
	switch eng {
	case "agate":
		m, err := engine.LoadFile(path, engine.WithWorkers(1))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		in := make([]ops.Value, len(m.Inputs()))
		for i, info := range m.Inputs() {
			in[i] = inputs[slices.Index(names, info.Name)]
		}
		outs := make([]ops.Value, len(m.Outputs()))
		run = func() error { return m.RunInto(context.Background(), in, outs) }
	default:
		logits := ops.NewTensor(ops.Float, 1, bertBase.Labels)
		s, err := ortrun.NewSession(path, 1, names, inputs, []string{"logits"}, []*ops.Tensor{logits})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		run = s.Run
	}
	load := time.Since(start)
	peakLoad := vmKB("VmHWM")
	var lat []time.Duration
	for i := 0; i < 7; i++ {
		t0 := time.Now()
		if err := run(); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	fmt.Printf("fullsize: load %v, peak RSS while loading %d MB, peak RSS after 7 runs %d MB, RSS %d MB, latency b1-s128 median %v\n",
		load.Round(time.Millisecond), peakLoad/1024, vmKB("VmHWM")/1024, vmKB("VmRSS")/1024, lat[len(lat)/2].Round(10*time.Microsecond))
}

// vmKB reads a kB field of /proc/self/status (0 where there is none).
func vmKB(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%d", &kb)
			return kb
		}
	}
	return 0
}
