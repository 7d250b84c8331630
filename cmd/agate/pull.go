package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agate-ml/agate/models"
)

const pullUsage = `Usage: agate pull [flags] NAME...
       agate pull --list

Downloads the files of catalog models into the cache folder and verifies
their sha256 digests (a builtin model, such as demo-rf, is built locally
instead). 'agate serve' serves what the cache holds.

Flags:
`

// cmdPull fetches models named in the catalog.
func cmdPull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), pullUsage)
		fs.PrintDefaults()
	}
	f := &envFlags{fs: fs}
	cacheDir := f.String("cache-dir", defaultCacheDir(), "model cache folder")
	manifestDir := f.String("manifest-dir", "", "folder of extra model manifests (*.yaml)")
	out := fs.String("out", "", "write the model folder here instead of the cache (one NAME only)")
	list := fs.Bool("list", false, "list the catalog and exit")
	force := fs.Bool("force", false, "download again even when verified files are present")
	unpinned := fs.Bool("allow-unpinned", false, "accept files the manifest gives no sha256 for, printing their digest")
	endpoint := fs.String("hf-endpoint", envOr("HF_ENDPOINT", models.DefaultHFEndpoint), "Hugging Face Hub address [$HF_ENDPOINT]")
	token := fs.String("hf-token", "", "Hugging Face token for gated models (default $HF_TOKEN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(f.errs) > 0 {
		fmt.Fprintln(stderr, "agate pull:", errors.Join(f.errs...))
		return 2
	}
	if *token == "" {
		*token = os.Getenv("HF_TOKEN")
	}
	catalog, err := models.BuiltinCatalog()
	if err == nil && *manifestDir != "" {
		var extra models.Catalog
		extra, err = models.ReadCatalog(*manifestDir)
		catalog = catalog.Merge(extra)
	}
	if err != nil {
		fmt.Fprintln(stderr, "agate pull:", err)
		return 1
	}
	if *list {
		for _, name := range catalog.Names() {
			m := catalog[name]
			state := "not pulled"
			if models.Present(*cacheDir, name) {
				state = "in " + models.Dir(*cacheDir, name)
			}
			fmt.Fprintf(stdout, "%-16s %-24s %-8s %s (%s)\n", name, m.Task, m.Source.Kind, m.Description, state)
		}
		return 0
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *out != "" && fs.NArg() != 1 {
		fmt.Fprintln(stderr, "agate pull: --out takes exactly one model name")
		return 2
	}
	for _, name := range fs.Args() {
		man := catalog[name]
		if man == nil {
			fmt.Fprintf(stderr, "agate pull: unknown model %q; the catalog has %s\n", name, strings.Join(catalog.Names(), ", "))
			return 1
		}
		dir, err := models.Pull(ctx, man, *cacheDir, models.PullOptions{HFEndpoint: *endpoint, Token: *token,
			AllowUnpinned: *unpinned, Force: *force, Dest: *out,
			Progress: func(msg string) { fmt.Fprintln(stdout, msg) }})
		if err != nil {
			fmt.Fprintln(stderr, "agate pull:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ready in %s\n", name, dir)
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
