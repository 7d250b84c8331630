//go:build ort

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agate-ml/agate/bench/ortrun"
	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/ops"
)

// fullSizeModels are the models TestFullSizeLoad writes, by the value of
// AGATE_FULLSIZE ("1" is "bert").
var fullSizeModels = map[string]struct {
	cfg      onnxbuild.EncoderConfig
	external bool // weights in model.onnx.data, not in model.onnx
}{
	// BERT-base-sized: 12 layers, hidden 768, FFN 3072, 30,522-token
	// vocabulary (438 MB of float32 weights), in one file.
	"bert": {cfg: onnxbuild.EncoderConfig{Layers: 12, Hidden: 768, Heads: 12, FFN: 3072, Vocab: 30522, MaxPositions: 512,
		TypeVocab: 2, Labels: 2, Seed: 1, GELU: "erf", LayerNorm: "decomposed", Attention: "bert", Positions: "bert"}},
	// XLM-R-base-sized: BERT-base with a 250,002-token vocabulary (1.11 GB),
	// in one file.
	"xlmr": {cfg: onnxbuild.EncoderConfig{Layers: 12, Hidden: 768, Heads: 12, FFN: 3072, Vocab: 250002, MaxPositions: 514,
		TypeVocab: 1, Labels: 2, Seed: 1, GELU: "erf", LayerNorm: "decomposed", Attention: "bert", Positions: "roberta"}},
	// XLM-R-large-sized: 24 layers, hidden 1024, FFN 4096 (2.24 GB), past
	// protobuf's 2 GiB, so the weights are external data.
	"external": {cfg: onnxbuild.EncoderConfig{Layers: 24, Hidden: 1024, Heads: 16, FFN: 4096, Vocab: 250002, MaxPositions: 514,
		TypeVocab: 1, Labels: 2, Seed: 1, GELU: "erf", LayerNorm: "decomposed", Attention: "bert", Positions: "roberta"}, external: true},
}

// TestFullSizeLoad writes a full-sized model and loads it in a fresh
// process per engine, reporting load time, the peak and settled resident
// set, and the median latency of one 128-token sequence on one thread. It
// writes 0.4 to 2.2 GB and takes one to several minutes, so it runs only
// with AGATE_FULLSIZE set to a key of fullSizeModels (1 for bert):
//
//	AGATE_FULLSIZE=1 go test -tags ort -run TestFullSizeLoad -v ./bench/
//	AGATE_FULLSIZE=xlmr go test -tags ort -run TestFullSizeLoad -v -timeout 30m ./bench/
//	AGATE_FULLSIZE=external go test -tags ort -run TestFullSizeLoad -v -timeout 30m ./bench/
func TestFullSizeLoad(t *testing.T) {
	key := os.Getenv("AGATE_FULLSIZE")
	if key == "" {
		t.Skip("set AGATE_FULLSIZE=1 (or xlmr, external) to write and load a full-sized model")
	}
	if key == "1" {
		key = "bert"
	}
	spec, ok := fullSizeModels[key]
	if !ok {
		t.Fatalf("AGATE_FULLSIZE=%s: no such model (1, bert, xlmr, external)", key)
	}
	m, err := onnxbuild.EncoderClassifier(spec.cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if spec.external {
		err = m.WriteExternal(path, "model.onnx.data", 1024, 64<<10)
	} else {
		var data []byte
		if data, err = m.Marshal(); err == nil {
			err = os.WriteFile(path, data, 0o644)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	weights := int64(0)
	for _, name := range []string{"model.onnx", "model.onnx.data"} {
		if st, err := os.Stat(filepath.Join(filepath.Dir(path), name)); err == nil {
			weights += st.Size()
		}
	}
	runtime.GC()
	t.Logf("model %s: %d bytes", key, weights)
	for _, eng := range []string{"agate", "ort"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFullSizeChild$", "-test.v")
		cmd.Env = append(os.Environ(), "AGATE_FULLSIZE_CHILD="+eng, "AGATE_FULLSIZE_MODEL="+path, "AGATE_FULLSIZE_LABELS="+strconv.Itoa(spec.cfg.Labels))
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
	labels, err := strconv.Atoi(os.Getenv("AGATE_FULLSIZE_LABELS"))
	if err != nil {
		t.Fatal(err)
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
		logits := ops.NewTensor(ops.Float, 1, labels)
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
