package main

import (
	"context"
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/agate-ml/agate/models"
)

const pullUsage = `Usage: agate pull [flags] NAME...
       agate pull --list

Downloads the files of catalog models into the cache folder and verifies
their sha256 digests and sizes (a builtin model, such as demo-rf, is built
locally instead). 'agate serve' serves what the cache holds.

A model whose manifest leaves a file's sha256 empty is refused before any
download unless --allow-unpinned is given; that run prints each file's
digest, to be written into the manifest. Files are fetched into a
temporary folder and moved into the model folder only when all of them
are verified, so a failed pull leaves the cache as it was.

Flags:
`

// cmdPull fetches models named in the catalog.
func cmdPull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runFlags("pull", args, func(fs *flag.FlagSet) func([]string) int { return pullCommand(ctx, fs, stdout, stderr) })
}

// pullCommand defines the flags of 'agate pull' on fs and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func pullCommand(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	setUsage(fs, stderr, pullUsage)
	f := &envFlags{fs: fs}
	cacheDir := f.String("cache-dir", defaultCacheDir(), "model cache folder")
	manifestDir := f.String("manifest-dir", "", "folder of extra model manifests (*.yaml)")
	out := fs.String("out", "", "write the model folder here instead of the cache (one NAME only)")
	list := fs.Bool("list", false, "list the catalog and exit")
	force := fs.Bool("force", false, "download again even when verified files are present")
	unpinned := fs.Bool("allow-unpinned", false, "accept files the manifest gives no sha256 for, printing their digest")
	endpoint := fs.String("hf-endpoint", envOr("HF_ENDPOINT", models.DefaultHFEndpoint), "Hugging Face Hub address [$HF_ENDPOINT]")
	token := fs.String("hf-token", "", "Hugging Face token for gated models (default $HF_TOKEN)")
	return func(args []string) int {
		if f.failed("pull", stderr) {
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
			if err := printCatalog(stdout, catalog, *cacheDir); err != nil {
				fmt.Fprintln(stderr, "agate pull:", err)
				return 1
			}
			return 0
		}
		if len(args) == 0 {
			fs.Usage()
			return 2
		}
		if *out != "" && len(args) != 1 {
			fmt.Fprintln(stderr, "agate pull: --out takes exactly one model name")
			return 2
		}
		for _, name := range args {
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
}

// printCatalog writes the catalog as a table: name, task, source, state in
// the cache (with the number of files whose digest is not pinned, which
// 'agate pull' refuses without --allow-unpinned) and description.
func printCatalog(w io.Writer, catalog models.Catalog, cacheDir string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTASK\tSOURCE\tSTATE\tDESCRIPTION")
	for _, name := range catalog.Names() {
		m := catalog[name]
		src := m.Source.Kind
		if m.Source.Kind == models.SourceHuggingFace {
			src = m.Source.Repo + "@" + shortRevision(m.Source.Revision)
		}
		state := "not pulled"
		if models.Present(cacheDir, name) {
			state = "pulled"
		}
		if n := len(m.Unpinned()); n > 0 {
			state += fmt.Sprintf(", %d unpinned", n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, m.Task, src, state, m.Description)
	}
	fmt.Fprintf(tw, "\ncache: %s\n", cacheDir)
	return tw.Flush()
}

// shortRevision abbreviates a commit id to 12 hex digits, as Hugging Face
// shows it; branch and tag names are kept.
func shortRevision(rev string) string {
	if len(rev) == 40 && strings.Trim(rev, "0123456789abcdef") == "" {
		return rev[:12]
	}
	return rev
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
