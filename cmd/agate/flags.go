package main

import (
	"errors"
	"fmt"
	flag "github.com/spf13/pflag"
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
