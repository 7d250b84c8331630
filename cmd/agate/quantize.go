package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"text/tabwriter"

	flag "github.com/spf13/pflag"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/conformance"
	"github.com/agate-ml/agate/models/quantize"
	"github.com/agate-ml/agate/ops"
)

// quantizeCommand defines the flags of 'agate quantize' on fs and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func quantizeCommand(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: agate quantize [flags] IN OUT

Dynamically quantizes a float model, as onnxruntime's quantize_dynamic does:
every MatMul with a constant float32 weight matrix gets 8-bit weights, and
its input is quantized to uint8 at run time (DynamicQuantizeLinear,
MatMulInteger, Cast, Mul; or com.microsoft DynamicQuantizeMatMul with
--contrib).

IN and OUT are .onnx files, or model folders: then OUT gets the quantized
model.onnx and a copy of everything else in IN (tokenizer, config,
texts.json, manifest, test data), so that 'agate check OUT' and 'agate serve
--model-dir OUT' take it as is. With a folder, --report measures each
quantized layer on IN's first test data set against the float model, and
--target-error leaves in float, one at a time, the layers that add the most
error until the outputs are within that absolute distance of the float
model's.

Flags:`)
		fs.PrintDefaults()
	}
	weight := fs.String("weight-type", "int8", "weight type: int8 (symmetric) or uint8 (asymmetric)")
	perChannel := fs.Bool("per-channel", false, "one scale per weight column instead of per tensor")
	reduceRange := fs.Bool("reduce-range", false, "7-bit int8 weights ([-63, 63], onnxruntime's reduce_range): about twice the speed on CPUs without VNNI, where 8-bit weights need agate's exact widened kernel, for one bit less of precision")
	contrib := fs.Bool("contrib", false, "write com.microsoft DynamicQuantizeMatMul nodes (bias folded in)")
	exclude := fs.String("exclude", "", "regular expression of MatMul node names to leave in float")
	report := fs.Bool("report", false, "print each quantized layer's error against the float model (folder IN)")
	target := fs.Float64("target-error", 0, "keep layers in float until the outputs are within this absolute error of the float model's (folder IN; 0: off)")
	return func(args []string) int {
		if len(args) != 2 {
			fs.Usage()
			return 2
		}
		opt := quantize.Options{PerChannel: *perChannel, Contrib: *contrib, ReduceRange: *reduceRange}
		switch *weight {
		case "int8":
			opt.WeightType = ops.Int8
		case "uint8":
			opt.WeightType = ops.Uint8
		default:
			fmt.Fprintf(stderr, "agate quantize: --weight-type must be int8 or uint8, got %q\n", *weight)
			return 2
		}
		if *exclude != "" {
			re, err := regexp.Compile(*exclude)
			if err != nil {
				fmt.Fprintf(stderr, "agate quantize: --exclude: %v\n", err)
				return 2
			}
			opt.Exclude = re
		}
		in, out := args[0], args[1]
		inModel, outModel := in, out
		folder := false
		if st, err := os.Stat(in); err == nil && st.IsDir() {
			folder = true
			inModel, outModel = filepath.Join(in, "model.onnx"), filepath.Join(out, "model.onnx")
		}
		if !folder && (*report || *target > 0) {
			fmt.Fprintln(stderr, "agate quantize: --report and --target-error need a model folder with test data as IN")
			return 2
		}
		b, err := os.ReadFile(inModel)
		if err != nil {
			fmt.Fprintf(stderr, "agate quantize: %v\n", err)
			return 1
		}
		var inputs map[string]ops.Value
		if *report || *target > 0 {
			if inputs, err = sampleInputs(b, in); err != nil {
				fmt.Fprintf(stderr, "agate quantize: %s: %v\n", in, err)
				return 1
			}
		}
		var q []byte
		var rep *quantize.Report
		var cmp *quantize.Comparison
		if *target > 0 {
			res, err := quantize.Tune(ctx, b, opt, inputs, *target)
			if err != nil {
				fmt.Fprintf(stderr, "agate quantize: %s: %v\n", inModel, err)
				return 1
			}
			q, rep, cmp = res.Model, res.Report, res.Comparison
			for _, k := range res.Kept {
				fmt.Fprintf(stdout, "kept in float: %s\n", k)
			}
		} else {
			if q, rep, err = quantize.Model(b, opt); err != nil {
				fmt.Fprintf(stderr, "agate quantize: %s: %v\n", inModel, err)
				return 1
			}
			if *report {
				if cmp, err = quantize.Compare(ctx, b, q, rep, inputs); err != nil {
					fmt.Fprintf(stderr, "agate quantize: %v\n", err)
					return 1
				}
			}
		}
		if folder {
			if err := copyModelFolder(in, out); err != nil {
				fmt.Fprintf(stderr, "agate quantize: %v\n", err)
				return 1
			}
		}
		if err := writeFileAtomic(outModel, q); err != nil {
			fmt.Fprintf(stderr, "agate quantize: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "quantized %d MatMul nodes (%.1f MB of float weights -> %.1f MB)\n",
			rep.Quantized, float64(rep.WeightBytes)/1e6, float64(rep.QuantizedBytes)/1e6)
		reasons := make([]string, 0, len(rep.Skipped))
		for r := range rep.Skipped {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			fmt.Fprintf(stdout, "left %d MatMul nodes in float: %s\n", rep.Skipped[r], r)
		}
		if cmp != nil {
			if *report {
				fmt.Fprintln(stdout, "layer errors on test_data_set_0 (RMS relative to the float values; added = output - input):")
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  layer\tinput\toutput\tadded")
				for _, l := range cmp.Layers {
					fmt.Fprintf(tw, "  %s\t%.4f\t%.4f\t%.4f\n", l.Name, l.InputRel, l.OutputRel, l.Added)
				}
				tw.Flush()
			}
			fmt.Fprintf(stdout, "outputs differ from the float model's by at most %.4g\n", cmp.OutputMaxAbs)
			if *target > 0 && cmp.OutputMaxAbs > *target {
				fmt.Fprintf(stderr, "agate quantize: outputs still %.4g from the float model's with every layer kept: target %.4g not reached\n", cmp.OutputMaxAbs, *target)
			}
		}
		fmt.Fprintf(stdout, "wrote %s (%.1f MB, was %.1f MB)\n", outModel, float64(len(q))/1e6, float64(len(b))/1e6)
		return 0
	}
}

// sampleInputs reads the first test data set of the model folder dir,
// bound to the inputs of the model b.
func sampleInputs(b []byte, dir string) (map[string]ops.Value, error) {
	m, err := engine.LoadBytes(b)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	vals, err := conformance.ReadInputs(m, filepath.Join(dir, "test_data_set_0"))
	if err != nil {
		return nil, fmt.Errorf("test_data_set_0: %w", err)
	}
	inputs := map[string]ops.Value{}
	for i, in := range m.Inputs() {
		if vals[i] != nil {
			inputs[in.Name] = vals[i]
		}
	}
	if len(inputs) == 0 {
		return nil, errors.New("test_data_set_0 holds no input")
	}
	return inputs, nil
}

// copyModelFolder copies every file of the model folder in to out
// (created), subfolders included, except model.onnx. Links to files are
// followed (Hugging Face snapshots are made of them). out may be neither
// in nor inside it.
func copyModelFolder(in, out string) error {
	src, err := filepath.EvalSymlinks(in)
	if err != nil {
		return err
	}
	if src, err = filepath.Abs(src); err != nil {
		return err
	}
	dst, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	// Resolve what of out exists already, so that a link cannot hide it.
	for p := dst; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			rel, _ := filepath.Rel(p, dst)
			dst = filepath.Join(r, rel)
			break
		}
		if filepath.Dir(p) == p {
			break
		}
	}
	if rel, err := filepath.Rel(src, dst); err == nil && (rel == "." || filepath.IsLocal(rel)) {
		return fmt.Errorf("the output folder %s is the input folder or inside it", out)
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if rel == "model.onnx" {
			return nil
		}
		fi, err := os.Stat(path) // follows a link to a file
		if err != nil || !fi.Mode().IsRegular() {
			return nil // a dangling link, a device, a FIFO: not model data
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(target, b); err != nil {
			return fmt.Errorf("copying %s: %w", rel, err)
		}
		return nil
	})
}

// writeFileAtomic writes b to a temporary file beside path and renames it
// into place (replacing a link at path rather than writing through it).
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".agate-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
