package main

import (
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
	"os"
	"regexp"
	"sort"

	"github.com/agate-ml/agate/models/quantize"
	"github.com/agate-ml/agate/ops"
)

// quantizeCommand defines the flags of 'agate quantize' on fs and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func quantizeCommand(fs *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: agate quantize [flags] IN.onnx OUT.onnx

Dynamically quantizes a float model, as onnxruntime's quantize_dynamic does:
every MatMul with a constant float32 weight matrix gets 8-bit weights, and
its input is quantized to uint8 at run time (DynamicQuantizeLinear,
MatMulInteger, Cast, Mul; or com.microsoft DynamicQuantizeMatMul with
--contrib).

Flags:`)
		fs.PrintDefaults()
	}
	weight := fs.String("weight-type", "int8", "weight type: int8 (symmetric) or uint8 (asymmetric)")
	perChannel := fs.Bool("per-channel", false, "one scale per weight column instead of per tensor")
	contrib := fs.Bool("contrib", false, "write com.microsoft DynamicQuantizeMatMul nodes (bias folded in)")
	exclude := fs.String("exclude", "", "regular expression of MatMul node names to leave in float")
	return func(args []string) int {
		if len(args) != 2 {
			fs.Usage()
			return 2
		}
		opt := quantize.Options{PerChannel: *perChannel, Contrib: *contrib}
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
				fmt.Fprintf(stderr, "agate quantize: -exclude: %v\n", err)
				return 2
			}
			opt.Exclude = re
		}
		in, out := args[0], args[1]
		b, err := os.ReadFile(in)
		if err != nil {
			fmt.Fprintf(stderr, "agate quantize: %v\n", err)
			return 1
		}
		q, rep, err := quantize.Model(b, opt)
		if err != nil {
			fmt.Fprintf(stderr, "agate quantize: %s: %v\n", in, err)
			return 1
		}
		if err := os.WriteFile(out, q, 0o644); err != nil {
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
		fmt.Fprintf(stdout, "wrote %s (%.1f MB, was %.1f MB)\n", out, float64(len(q))/1e6, float64(len(b))/1e6)
		return 0
	}
}
