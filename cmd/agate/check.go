package main

import (
	"context"
	"encoding/json"
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/conformance"
	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/models"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runFlags("check", args, func(fs *flag.FlagSet) func([]string) int { return checkCommand(ctx, fs, stdout, stderr) })
}

// checkCommand defines the flags of 'agate check' on fs and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func checkCommand(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: agate check [flags] DIR

Runs DIR/model.onnx on every DIR/test_data_set_*/input_*.pb and compares the
outputs with output_*.pb, printing the largest absolute and relative error of
each output. A dynamically quantized model (int8 MatMuls) is held to an
absolute tolerance of 1e-2, and a graph whose outputs come out of
DequantizeLinear (static QDQ quantization) to one quantization step (the
largest such scale), unless --atol is given. When DIR also holds
texts.json and a tokenizer (a text classifier folder), each text must
tokenize to its listed input_ids and the model's logits on them must match
the listed torch_logits within --text-atol (for a quantized model they are
only reported, unless --text-atol is given). Exits 1 when anything is outside
its tolerance.

Flags:`)
		fs.PrintDefaults()
	}
	atol := fs.Float64("atol", 1e-5, "absolute tolerance for float outputs")
	rtol := fs.Float64("rtol", 1e-4, "relative tolerance for float outputs")
	workers := fs.Int("workers", 0, "intra-op worker goroutines (0: GOMAXPROCS)")
	textAtol := fs.Float64("text-atol", 1e-4, "absolute tolerance of the logits against texts.json's torch_logits")
	return func(args []string) int {
		if len(args) != 1 {
			fs.Usage()
			return 2
		}
		dir := args[0]
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			fmt.Fprintf(stderr, "agate check: %s is a file: check takes a model folder (model.onnx with test_data_set_* or texts.json beside it); 'agate inspect %s' describes a single model file\n", dir, dir)
			return 2
		}
		atolSet, textAtolSet := false, false
		fs.Visit(func(f *flag.Flag) {
			atolSet = atolSet || f.Name == "atol"
			textAtolSet = textAtolSet || f.Name == "text-atol"
		})
		isQuantized := quantized(filepath.Join(dir, "model.onnx"))
		if !atolSet && isQuantized {
			*atol = 1e-2
			fmt.Fprintln(stdout, "note:  dynamically quantized model: absolute tolerance 1e-2")
		}
		if step := qdqStep(filepath.Join(dir, "model.onnx")); !atolSet && step > *atol {
			*atol = step
			fmt.Fprintf(stdout, "note:  outputs come out of DequantizeLinear: absolute tolerance of one quantization step, %.3g\n", step)
		}
		res := conformance.RunCase(ctx, dir, conformance.Options{Tolerance: conformance.Tolerance{Abs: *atol, Rel: *rtol}, Workers: *workers})
		fmt.Fprintf(stdout, "model: %s\n", dir)
		if len(res.Ops) > 0 {
			fmt.Fprintf(stdout, "ops:   %s\n", strings.Join(res.Ops, " "))
		}
		for _, o := range res.Outputs {
			fmt.Fprintf(stdout, "output %-20s max abs error %.3g  max rel error %.3g\n", o.Name, o.MaxAbs, o.MaxRel)
		}
		fmt.Fprintf(stdout, "time:  %v\n", res.Duration.Round(1000))
		ok := true
		if res.Status != conformance.Passed {
			fmt.Fprintf(stdout, "%s: %s\n", strings.ToUpper(string(res.Status)), res.Message)
			ok = false
		}
		if _, err := os.Stat(filepath.Join(dir, "texts.json")); err == nil {
			// torch_logits come from the float model: an int8 model's logits are
			// only reported against them, unless -text-atol asks for a bound.
			bound := *textAtol
			if isQuantized && !textAtolSet {
				bound = math.Inf(1)
			}
			if err := checkTexts(ctx, dir, bound, *workers, stdout); err != nil {
				fmt.Fprintf(stdout, "FAIL: texts.json: %v\n", err)
				ok = false
			}
		}
		if !ok {
			return 1
		}
		fmt.Fprintln(stdout, "PASS")
		return 0
	}
}

// quantized reports whether the model at path holds dynamically quantized
// products (it is not an error for it to be unreadable here: RunCase
// reports that).
func quantized(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	info, err := engine.Inspect(b)
	if err != nil {
		return false
	}
	for op := range info.OpTypes {
		name := op[strings.LastIndex(op, ":")+1:]
		switch name {
		case "DynamicQuantizeLinear", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QAttention":
			return true
		}
	}
	return false
}

// qdqStep returns the largest scale of the DequantizeLinear nodes that
// produce graph outputs (0 when none does): a statically quantized (QDQ)
// graph's outputs may differ from onnxruntime's by one quantization step,
// where a rounding tie falls the other way.
func qdqStep(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	e, err := onnxbuild.LoadModel(b)
	if err != nil {
		return 0
	}
	outs := map[string]bool{}
	for _, o := range e.GraphOutputs() {
		outs[o] = true
	}
	step := 0.0
	for _, n := range e.Nodes {
		if n.OpType != "DequantizeLinear" || len(n.Outputs) == 0 || !outs[n.Outputs[0]] || len(n.Inputs) < 2 {
			continue
		}
		scale, err := e.Initializer(n.Inputs[1])
		if err != nil || scale == nil {
			continue
		}
		if f, err := scale.AsFloat64s(); err == nil {
			for _, v := range f {
				step = math.Max(step, math.Abs(v))
			}
		}
	}
	return step
}

// textsFile is texts.json of a text classifier folder.
type textsFile struct {
	Texts       []string    `json:"texts"`
	InputIDs    [][]int     `json:"input_ids"`
	TorchLogits [][]float64 `json:"torch_logits"`
}

// checkTexts tokenizes texts.json's texts with the folder's tokenizer,
// requires its input_ids, runs the model on them and compares the logits
// with torch_logits (when listed) within atol.
func checkTexts(ctx context.Context, dir string, atol float64, workers int, stdout io.Writer) error {
	b, err := os.ReadFile(filepath.Join(dir, "texts.json"))
	if err != nil {
		return err
	}
	var f textsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if len(f.InputIDs) != len(f.Texts) {
		return fmt.Errorf("%d texts but %d input_ids lists", len(f.Texts), len(f.InputIDs))
	}
	tc, err := models.LoadTextClassifier(dir, 0, engine.WithWorkers(workers))
	if err != nil {
		return err
	}
	defer tc.Close()
	encs := make([]models.TextInput, len(f.Texts))
	var mismatch []string
	for i, text := range f.Texts {
		if encs[i], err = tc.Encode(ctx, text); err != nil {
			return fmt.Errorf("text %d: %w", i, err)
		}
		if !equalIDs(encs[i].IDs, f.InputIDs[i]) {
			mismatch = append(mismatch, fmt.Sprintf("text %d %q: ids %v, want %v", i, text, encs[i].IDs, f.InputIDs[i]))
		}
	}
	fmt.Fprintf(stdout, "tokenizer: %d of %d texts give the listed input_ids\n", len(f.Texts)-len(mismatch), len(f.Texts))
	if len(mismatch) > 0 {
		return fmt.Errorf("tokenizer: %s", strings.Join(mismatch, "; "))
	}
	if len(f.TorchLogits) == 0 {
		return nil
	}
	rows, err := tc.LogitsEncoded(ctx, encs)
	if err != nil {
		return err
	}
	if len(f.TorchLogits) != len(rows) {
		return fmt.Errorf("%d torch_logits rows for %d texts", len(f.TorchLogits), len(rows))
	}
	worst := 0.0
	for i, row := range rows {
		if len(f.TorchLogits[i]) != len(row) {
			return fmt.Errorf("text %d: %d logits, torch_logits lists %d", i, len(row), len(f.TorchLogits[i]))
		}
		for j, v := range row {
			d := math.Abs(v - f.TorchLogits[i][j])
			if math.IsNaN(d) {
				return fmt.Errorf("text %d: logit %d is %v, torch_logits lists %v", i, j, v, f.TorchLogits[i][j])
			}
			worst = math.Max(worst, d)
		}
	}
	if math.IsInf(atol, 1) {
		fmt.Fprintf(stdout, "texts:     logits vs torch_logits (float model) max abs error %.3g (reported only)\n", worst)
		return nil
	}
	fmt.Fprintf(stdout, "texts:     logits vs torch_logits max abs error %.3g (tolerance %g)\n", worst, atol)
	if worst > atol {
		return fmt.Errorf("logits differ from torch_logits by %.3g, more than %g", worst, atol)
	}
	return nil
}

func equalIDs(got []int, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

const inspectUsage = `Usage: agate inspect MODEL.onnx

Describes a model without running it: IR version, producer, opsets,
inputs and outputs with their types, and the operators it uses with their
counts; then loads it (external data is read beside the file) and prints
"load: ok" or the error that keeps it from loading, such as the list of
unsupported operators. Warns when the model imports an opset newer than
agate's operator definitions. Exits 1 when the model does not load.
`

func cmdInspect(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, inspectUsage)
		return 0
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, inspectUsage)
		return 2
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "agate inspect: %v\n", err)
		return 1
	}
	info, err := engine.Inspect(b)
	if err != nil {
		fmt.Fprintf(stderr, "agate inspect: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ir_version: %d\nproducer:   %s\n", info.IRVersion, info.Producer)
	var opsets []string
	for d, v := range info.Opsets {
		opsets = append(opsets, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(opsets)
	fmt.Fprintf(stdout, "opsets:     %s\n", strings.Join(opsets, ", "))
	for _, in := range info.Inputs {
		fmt.Fprintf(stdout, "input  %s: %s\n", in.Name, in.Type)
	}
	for _, out := range info.Outputs {
		fmt.Fprintf(stdout, "output %s: %s\n", out.Name, out.Type)
	}
	var opl []string
	for op, n := range info.OpTypes {
		opl = append(opl, fmt.Sprintf("%s x%d", op, n))
	}
	sort.Strings(opl)
	fmt.Fprintf(stdout, "operators:  %s\n", strings.Join(opl, ", "))
	for _, w := range info.Warnings {
		fmt.Fprintf(stdout, "warning:    %s\n", w)
	}
	// external data is read beside the model file
	if _, err := engine.LoadBytes(b, engine.WithBaseDir(filepath.Dir(args[0]))); err != nil {
		fmt.Fprintf(stdout, "load:       %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "load:       ok")
	return 0
}
