package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/engine/conformance"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: agate check [flags] DIR

Runs DIR/model.onnx on every DIR/test_data_set_*/input_*.pb and compares the
outputs with output_*.pb, printing the largest absolute and relative error of
each output. Exits 1 when an output is outside the tolerance.

Flags:`)
		fs.PrintDefaults()
	}
	atol := fs.Float64("atol", 1e-5, "absolute tolerance for float outputs")
	rtol := fs.Float64("rtol", 1e-4, "relative tolerance for float outputs")
	workers := fs.Int("workers", 0, "intra-op worker goroutines (0: GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)
	res := conformance.RunCase(ctx, dir, conformance.Options{Tolerance: conformance.Tolerance{Abs: *atol, Rel: *rtol}, Workers: *workers})
	fmt.Fprintf(stdout, "model: %s\n", dir)
	if len(res.Ops) > 0 {
		fmt.Fprintf(stdout, "ops:   %s\n", strings.Join(res.Ops, " "))
	}
	for _, o := range res.Outputs {
		fmt.Fprintf(stdout, "output %-20s max abs error %.3g  max rel error %.3g\n", o.Name, o.MaxAbs, o.MaxRel)
	}
	fmt.Fprintf(stdout, "time:  %v\n", res.Duration.Round(1000))
	if res.Status != conformance.Passed {
		fmt.Fprintf(stdout, "%s: %s\n", strings.ToUpper(string(res.Status)), res.Message)
		return 1
	}
	fmt.Fprintln(stdout, "PASS")
	return 0
}

func cmdInspect(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "Usage: agate inspect MODEL.onnx")
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
	if _, err := engine.LoadBytes(b); err != nil {
		fmt.Fprintf(stdout, "load:       %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "load:       ok")
	return 0
}
