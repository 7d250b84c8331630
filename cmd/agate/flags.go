package main

import (
	"errors"
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
)

// parseInterspersed parses args with fs: flags may come before, between or
// after the positional arguments ("agate pull demo-rf --out DIR"), as
// users and container manifests write them; fs.Args() then holds the
// positional arguments in order. A "--" ends the flags.
// A parse error is printed with the usage, as Go's flag package does.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	fs.SetInterspersed(true)
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(fs.Output(), err)
		if fs.Usage != nil {
			fs.Usage()
		}
	}
	return err
}

// flagExit is the exit code of a command whose flags did not parse: 0 for
// -h or --help (the usage was printed as asked), 2 otherwise.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// runFlags runs a command outside cobra (tests call the cmd functions):
// define puts its flags on a fresh set, which parses args.
func runFlags(name string, args []string, define func(*flag.FlagSet) func([]string) int) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	run := define(fs)
	if err := parseInterspersed(fs, args); err != nil {
		return flagExit(err)
	}
	return run(fs.Args())
}

// setFlags returns the flags set on the command line as arguments ("--name
// value", "--flag" for a true boolean), to write the command again, in a
// model card say.
func setFlags(fs *flag.FlagSet) []string {
	var out []string
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Value.Type() == "bool" && f.Value.String() == "true":
			out = append(out, "--"+f.Name)
		case f.Value.Type() == "bool":
			out = append(out, "--"+f.Name+"=false")
		default:
			out = append(out, "--"+f.Name, f.Value.String())
		}
	})
	return out
}

// setUsage makes fs print the command's usage text, then its flags, to w.
func setUsage(fs *flag.FlagSet, w io.Writer, usage string) {
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, usage)
		fs.PrintDefaults()
	}
}
