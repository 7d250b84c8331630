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
//	agate eval [FILE...]               measure a text model and write its model card
//	agate version                      print the version
//	agate completion bash              shell completion (bash, zsh, fish, powershell)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/agate-ml/agate/models"
	"github.com/spf13/cobra"
	flag "github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands lists agate's commands: each defines its flags on the set it is
// given and returns what runs it on the positional arguments.
func commands(ctx context.Context, stdout, stderr io.Writer) []command {
	return []command{
		{"serve", "serve models over HTTP (toxicity analysis, moderation, predictions, KServe v2)",
			func(fs *flag.FlagSet) func([]string) int { return serveCommand(ctx, fs, stdout, stderr) }},
		{"pull", "download and verify catalog models into the cache (or build the demo model)",
			func(fs *flag.FlagSet) func([]string) int { return pullCommand(ctx, fs, stdout, stderr) }},
		{"conformance", "run ONNX backend test cases (model.onnx + test_data_set_*) and report pass/fail",
			func(fs *flag.FlagSet) func([]string) int { return conformanceCommand(ctx, fs, stdout, stderr) }},
		{"check", "run one model folder against its stored reference outputs, with errors per output",
			func(fs *flag.FlagSet) func([]string) int { return checkCommand(ctx, fs, stdout, stderr) }},
		{"inspect", "describe a model: inputs, outputs, opsets and operators", nil},
		{"quantize", "dynamically quantize a model's MatMul weights to int8 (a file or a whole model folder)",
			func(fs *flag.FlagSet) func([]string) int { return quantizeCommand(ctx, fs, stdout, stderr) }},
		{"train", "train a linear text classifier (the toxicity model) from labelled files",
			func(fs *flag.FlagSet) func([]string) int { return trainCommand(ctx, fs, stdout, stderr) }},
		{"eval", "measure a text model on labelled data (ROC-AUC, PR-AUC, F1) and write its model card",
			func(fs *flag.FlagSet) func([]string) int { return evalCommand(ctx, fs, stdout, stderr) }},
	}
}

// command is one subcommand: its name, a line of help and its definition
// (nil: it reads its arguments itself).
type command struct {
	name, short string
	define      func(fs *flag.FlagSet) func(args []string) int
}

// rootCommand builds the cobra command tree: dispatch, flag parsing (flags
// anywhere on the line), help ("agate help", "agate serve --help") and
// shell completion of commands, flags and pull's model names ("agate
// completion bash|zsh|fish|powershell"). The exit code of the command that
// ran is stored in *code.
func rootCommand(ctx context.Context, stdout, stderr io.Writer, code *int) *cobra.Command {
	root := &cobra.Command{
		Use:           "agate",
		Short:         "a pure-Go inference engine and server for ONNX models",
		Long:          "agate: a pure-Go inference engine and server for ONNX models.\n\nRun 'agate <command> --help' for a command's flags.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("agate {{.Version}}\n")
	for _, c := range commands(ctx, stdout, stderr) {
		sub := &cobra.Command{Use: c.name, Short: c.short}
		if c.define == nil { // inspect
			sub.DisableFlagParsing = true
			sub.RunE = func(_ *cobra.Command, args []string) error {
				*code = cmdInspect(args, stdout, stderr)
				return nil
			}
			sub.SetHelpFunc(func(*cobra.Command, []string) { *code = cmdInspect([]string{"--help"}, stdout, stderr) })
		} else {
			run := c.define(sub.Flags())
			sub.RunE = func(_ *cobra.Command, args []string) error {
				*code = run(args)
				return nil
			}
			// the command's own usage text, then its flags
			sub.SetHelpFunc(func(cc *cobra.Command, _ []string) { cc.Flags().Usage() })
		}
		if c.name == "pull" {
			sub.ValidArgsFunction = completeModelNames
		}
		root.AddCommand(sub)
	}
	root.AddCommand(&cobra.Command{Use: "version", Short: "print the version", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { fmt.Fprintln(stdout, "agate", version); return nil }})
	return root
}

// completeModelNames completes 'agate pull' with the catalog's models.
func completeModelNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	catalog, err := models.BuiltinCatalog()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return catalog.Names(), cobra.ShellCompDirectiveNoFileComp
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	root := rootCommand(ctx, stdout, stderr, &code)
	if len(args) == 0 {
		root.SetOut(stderr)
		root.Help()
		return 2
	}
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "agate: %v\n\nRun 'agate help' for the commands.\n", err)
		return 2
	}
	return code
}
