package main

import (
	"errors"
	"flag"
)

// parseInterspersed parses args like fs.Parse but lets flags follow the
// positional arguments ("agate pull demo-rf --out DIR"), as users and
// container manifests write them; fs.Args() then holds the positional
// arguments in order. A "--" ends the flags as usual.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" {
			pos = append(pos, fs.Args()...) // everything after "--" is positional
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// flagExit is the exit code of a command whose flags did not parse: 0 for
// -h or --help (the usage was printed as asked), 2 otherwise.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
