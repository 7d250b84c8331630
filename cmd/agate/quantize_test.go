package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	flag "github.com/spf13/pflag"

	"github.com/agate-ml/agate/internal/shared"
)

func cmdQuantize(ctx context.Context, args []string, stdout, stderr *bytes.Buffer) int {
	return runFlags("quantize", args, func(fs *flag.FlagSet) func([]string) int { return quantizeCommand(ctx, fs, stdout, stderr) })
}

// TestQuantizeFolder: a quantized model folder carries everything check
// and serve need; --report lists every quantized layer's error and
// --target-error keeps layers in float until the outputs are close enough.
func TestQuantizeFolder(t *testing.T) {
	in := shared.Path(t, "models", "transformers", "bert-tiny-6label")
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "q")
	var so, se bytes.Buffer
	if code := cmdQuantize(ctx, []string{"--report", in, out}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s%s", code, so.String(), se.String())
	}
	entries, _ := os.ReadDir(in)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(out, e.Name())); err != nil {
			t.Errorf("%s was not copied: %v", e.Name(), err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "test_data_set_0", "input_0.pb")); err != nil {
		t.Errorf("test data not copied: %v", err)
	}
	report := so.String()
	if !strings.Contains(report, "layer errors on test_data_set_0") || strings.Count(report, "/MatMul") < 4 {
		t.Errorf("report lists no layers:\n%s", report)
	}
	full := outputError(t, report)

	// A target halfway down keeps some layers in float and is reached.
	target := full / 2
	out2 := filepath.Join(t.TempDir(), "q2")
	so.Reset()
	if code := cmdQuantize(ctx, []string{"--target-error", strconv.FormatFloat(target, 'g', -1, 64), in, out2}, &so, &se); code != 0 {
		t.Fatalf("tuned: exit %d: %s%s", code, so.String(), se.String())
	}
	if !strings.Contains(so.String(), "kept in float:") {
		t.Errorf("no layer kept in float for target %g (full quantization: %g):\n%s", target, full, so.String())
	}
	if got := outputError(t, so.String()); got > target {
		t.Errorf("tuned outputs %g from the float model's, target %g", got, target)
	}

	// The quantized folder passes check's quantized tolerance or fails it
	// with a message; either way it is a complete folder check reads.
	so.Reset()
	se.Reset()
	cmdCheck(ctx, []string{out2}, &so, &se)
	if !strings.Contains(so.String(), "dynamically quantized model") {
		t.Errorf("check did not read the quantized folder:\n%s%s", so.String(), se.String())
	}

	// The output may not be the input or inside it; the input is untouched.
	link := filepath.Join(t.TempDir(), "linked")
	if err := os.Symlink(out, link); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, "config.json"))
	for _, bad := range []string{out, filepath.Join(out, "sub"), link} {
		so.Reset()
		se.Reset()
		if code := cmdQuantize(ctx, []string{out, bad}, &so, &se); code != 1 || !strings.Contains(se.String(), "inside it") {
			t.Errorf("quantize %s into %s: exit %d, %s", out, bad, code, se.String())
		}
	}
	if after, _ := os.ReadFile(filepath.Join(out, "config.json")); len(after) == 0 || string(after) != string(before) {
		t.Error("a refused quantization changed the input folder")
	}
	if _, err := os.Stat(filepath.Join(out, "sub")); err == nil {
		t.Error("a refused quantization created a folder inside the input")
	}
	// A folder reached through a link, made of links (a Hugging Face
	// snapshot), is copied with the files the links point to.
	snap := t.TempDir()
	for _, e := range entries {
		if !e.IsDir() {
			if err := os.Symlink(filepath.Join(in, e.Name()), filepath.Join(snap, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	snapLink := filepath.Join(t.TempDir(), "snapshot")
	os.Symlink(snap, snapLink)
	out3 := filepath.Join(t.TempDir(), "q3")
	if code := cmdQuantize(ctx, []string{snapLink, out3}, &so, &se); code != 0 {
		t.Fatalf("linked snapshot: exit %d: %s", code, se.String())
	}
	if fi, err := os.Lstat(filepath.Join(out3, "tokenizer.json")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("tokenizer.json from a linked snapshot: %v, %v", fi, err)
	}

	// Report and tuning need test data.
	if code := cmdQuantize(ctx, []string{"--report", filepath.Join(in, "model.onnx"), filepath.Join(t.TempDir(), "m.onnx")}, &so, &se); code != 2 {
		t.Errorf("--report on a file: exit %d, want 2", code)
	}
}

// outputError reads "outputs differ from the float model's by at most X".
func outputError(t *testing.T, out string) float64 {
	t.Helper()
	const key = "outputs differ from the float model's by at most "
	i := strings.Index(out, key)
	if i < 0 {
		t.Fatalf("no output error in:\n%s", out)
	}
	f := strings.Fields(out[i+len(key):])
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
