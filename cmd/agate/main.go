// Command agate runs ONNX models: it serves them over HTTP, checks them
// against reference outputs and runs the ONNX backend conformance suite.
//
// Usage:
//
//	agate serve [flags]                serve the models over HTTP
//	agate pull [flags] NAME...         download and verify catalog models
//	agate conformance [flags] DIR...   run ONNX backend test cases
//	agate check [flags] DIR            run one model folder and print errors per output
//	agate inspect MODEL.onnx           print a model's inputs, outputs and operators
//	agate train --out DIR              train a linear text classifier
//	agate version                      print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `agate: a pure-Go inference engine and server for ONNX models.

Usage:
  agate <command> [flags] [arguments]

Commands:
  serve         serve models over HTTP (toxicity analysis, predictions, KServe v2)
  pull          download and verify catalog models into the cache (or build the demo model)
  conformance   run ONNX backend test cases (model.onnx + test_data_set_*) and report pass/fail
  check         run one model folder against its stored reference outputs, with errors per output
  inspect       describe a model: inputs, outputs, opsets and operators
  quantize      dynamically quantize a model's MatMul weights to int8
  train         train a linear text classifier (the toxicity model) from labelled files
  eval          measure a text model on labelled data (ROC-AUC, PR-AUC, F1) and write its model card
  version       print the version

Run 'agate <command> --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "pull":
		return cmdPull(ctx, rest, stdout, stderr)
	case "conformance":
		return cmdConformance(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "inspect":
		return cmdInspect(rest, stdout, stderr)
	case "quantize":
		return cmdQuantize(rest, stdout, stderr)
	case "train":
		return cmdTrain(ctx, rest, stdout, stderr)
	case "eval":
		return cmdEval(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "agate", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "agate: unknown command %q\n\n%s", cmd, usage)
	return 2
}
