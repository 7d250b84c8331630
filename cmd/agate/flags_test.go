package main

import (
	"bytes"
	flag "github.com/spf13/pflag"
	"io"
	"slices"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		out  string
		pos  []string
	}{
		{[]string{"demo-rf", "--out", "/x"}, "/x", []string{"demo-rf"}},
		{[]string{"--out", "/x", "a", "b"}, "/x", []string{"a", "b"}},
		{[]string{"a", "--out=/y", "b"}, "/y", []string{"a", "b"}},
		{[]string{"a", "--", "--out", "b"}, "", []string{"a", "--out", "b"}},
		{nil, "", nil},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		if err := parseInterspersed(fs, tt.args); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		if *out != tt.out || !slices.Equal(fs.Args(), tt.pos) && !(len(tt.pos) == 0 && fs.NArg() == 0) {
			t.Errorf("%q: out %q args %q, want %q %q", tt.args, *out, fs.Args(), tt.out, tt.pos)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := parseInterspersed(fs, []string{"a", "--nope"}); err == nil {
		t.Error("an unknown flag after a positional argument was accepted")
	}
}

// TestHelpExitsZero: --help prints the usage and exits 0 for every command.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "pull", "check", "conformance", "inspect", "quantize", "train", "eval"} {
		var out bytes.Buffer
		if code := run([]string{cmd, "--help"}, &out, &out); code != 0 || out.Len() == 0 {
			t.Errorf("agate %s --help: exit %d, %d bytes of usage", cmd, code, out.Len())
		}
	}
}

// TestRootCommand: cobra dispatches to the commands, generates the command
// list, completes pull's model names and refuses unknown commands.
func TestRootCommand(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !bytes.Contains(out.Bytes(), []byte("train")) || !bytes.Contains(out.Bytes(), []byte("completion")) {
		t.Errorf("agate help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"__complete", "pull", ""}, &out, &out); code != 0 || !bytes.Contains(out.Bytes(), []byte("toxic-bert")) {
		t.Errorf("completion of pull: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"__complete", "serve", "--arena"}, &out, &out); code != 0 || !bytes.Contains(out.Bytes(), []byte("--arena-limit")) {
		t.Errorf("completion of serve's flags: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"serve", "--bogus"}, &out, &out); code != 2 || !bytes.Contains(out.Bytes(), []byte("unknown flag")) {
		t.Errorf("agate serve --bogus: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"completion", "bash"}, &out, &out); code != 0 || !bytes.Contains(out.Bytes(), []byte("bash completion")) {
		t.Errorf("agate completion bash: exit %d", code)
	}
	out.Reset()
	if code := run([]string{"nope"}, &out, &out); code != 2 || !bytes.Contains(out.Bytes(), []byte("unknown command")) {
		t.Errorf("agate nope: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &out); code != 0 || !bytes.Contains(out.Bytes(), []byte("agate ")) {
		t.Errorf("agate version: exit %d %q", code, out.String())
	}
	if code := run(nil, &out, &out); code != 2 {
		t.Errorf("agate with no command: exit %d, want 2", code)
	}
}
