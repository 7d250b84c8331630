package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agate-ml/agate/internal/shared"
	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/eval"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/textfeat"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/models/train"
	"github.com/agate-ml/agate/server"
)

const evalUsage = `Usage: agate eval [flags] [FILE.csv|FILE.jsonl ...]

Measures a text model on labelled data and prints, per source, language,
file and overall: rows, positives, ROC-AUC with a 95% bootstrap interval,
PR-AUC (average precision), and precision, recall and F1 at the model's
threshold (its manifest's thresholds.medium, as the service decides). For
functional tests (a source with a group column, such as Multilingual
HateCheck), it also prints the accuracy per functionality.

The data is either the sources of a data manifest (--data-manifest; the
default is the toxicity model's training manifest), or the labelled CSV or
JSON Lines files given as arguments (--text-column, --label-column,
--positive, --language). Of a manifest's training sources only the
validation split is evaluated (the texts the model was not trained on,
chosen by the seed and fraction of the model's training.json); eval and
functional sources are evaluated whole.

The model is the embedded agate-toxicity by default, a model folder with
--model-dir, or a running server with --server (POST /analyze, retried on
429 and 503 as Retry-After says).

--card FILE writes a Markdown model card from the model's files and this
evaluation.

Examples:
  agate eval
  agate eval --json eval.json --card docs/models/agate-toxicity.md
  agate eval --server http://localhost:8080 --sources mhc-fr
  agate eval --text-column comment --label-column toxic --language fr comments.csv

Exit status: 0 when the evaluation ran, 1 when a file, the model or the
server could not be read, 2 for bad flags or arguments.

Flags:
`

// evalConfig holds the parsed flags of agate eval.
type evalConfig struct {
	manifest       string
	manifestSet    bool
	sharedDir      string
	sources        []string
	files          []string
	textColumn     string
	labelColumn    string
	positive       []string
	language       string
	languageColumn string
	groupColumn    string
	modelDir       string
	serverURL      string
	category       string
	seed           int64
	valFrac        float64
	resamples      int
	bootstrapSeed  uint64
	jsonOut        string
	cardOut        string
	batch          int
	concurrency    int
	timeout        time.Duration
	args           []string
}

// errUsage marks errors in the flags or arguments (exit status 2).
var errUsage = errors.New("bad usage")

// usageError is an error in the flags or arguments.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// cmdEval evaluates a text model on labelled data.
func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runFlags("eval", args, func(fs *flag.FlagSet) func([]string) int { return evalCommand(ctx, fs, stdout, stderr) })
}

// evalCommand defines the flags of 'agate eval' on fset and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func evalCommand(ctx context.Context, fset *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	setUsage(fset, stderr, evalUsage)
	root, _ := shared.Root()
	c := evalConfig{}
	fset.StringVar(&c.manifest, "data-manifest", "models/toxicity/train.yaml", "data manifest (YAML) listing the labelled sources")
	fset.StringVar(&c.sharedDir, "shared", root, "folder that ${SHARED} stands for in the manifest [default: $AGATE_SHARED or ../shared]")
	sources := fset.String("sources", "", "comma-separated manifest sources to evaluate (default: all)")
	fset.StringVar(&c.textColumn, "text-column", "text", "files given as arguments: the column holding the text")
	fset.StringVar(&c.labelColumn, "label-column", "label", "files given as arguments: the column holding the label")
	positive := fset.String("positive", "1", "files given as arguments: comma-separated label values meaning positive (the others are negative)")
	fset.StringVar(&c.language, "language", "", "files given as arguments: the language code of every row")
	fset.StringVar(&c.languageColumn, "language-column", "", "files given as arguments: the column holding each row's language")
	fset.StringVar(&c.groupColumn, "group-column", "", "files given as arguments: a column whose values get their own accuracy (a HateCheck functionality)")
	fset.StringVar(&c.modelDir, "model-dir", "", "evaluate the model folder DIR (default: the embedded agate-toxicity)")
	fset.StringVar(&c.serverURL, "server", "", "evaluate the model behind a running server's POST /analyze (base URL)")
	fset.StringVar(&c.category, "category", "toxicity", "category whose probability is the score")
	fset.Int64Var(&c.seed, "seed", 1, "seed of the validation split, when the model has no training.json")
	fset.Float64Var(&c.valFrac, "validation-fraction", 0.2, "validation share, when the model has no training.json")
	fset.IntVar(&c.resamples, "resamples", eval.DefaultResamples, "bootstrap resamples of the ROC-AUC interval (0: no interval)")
	fset.Uint64Var(&c.bootstrapSeed, "bootstrap-seed", eval.DefaultBootstrapSeed, "seed of the bootstrap")
	fset.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to FILE")
	fset.StringVar(&c.cardOut, "card", "", "write a Markdown model card to FILE")
	fset.IntVar(&c.batch, "batch", 64, "texts per model run or per request (the server's limit is 64 by default)")
	fset.IntVar(&c.concurrency, "concurrency", 4, "requests in flight with --server")
	fset.DurationVar(&c.timeout, "timeout", time.Minute, "time limit of one request with --server")
	return func(args []string) int {
		fset.Visit(func(f *flag.Flag) {
			if f.Name == "data-manifest" || f.Name == "sources" {
				c.manifestSet = true
			}
		})
		c.sources = splitList(*sources)
		c.positive = splitList(*positive)
		c.files = args
		c.args = append(setFlags(fset), args...)
		err := runEval(ctx, &c, stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintln(stderr, "agate eval:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
			return 2
		default:
			fmt.Fprintln(stderr, "agate eval:", err)
			return 1
		}
	}
}

// validate checks the flags that do not need any file.
func (c *evalConfig) validate() error {
	switch {
	case c.modelDir != "" && c.serverURL != "":
		return usageError("give --model-dir or --server, not both")
	case len(c.files) > 0 && c.manifestSet:
		return usageError("give files or --data-manifest/--sources, not both")
	case c.category == "":
		return usageError("--category is empty")
	case c.valFrac <= 0 || c.valFrac >= 1:
		return usageError("--validation-fraction %g is not between 0 and 1", c.valFrac)
	case c.resamples < 0:
		return usageError("--resamples %d is negative", c.resamples)
	case c.batch < 1:
		return usageError("--batch %d: give at least 1", c.batch)
	case c.concurrency < 1:
		return usageError("--concurrency %d: give at least 1", c.concurrency)
	case c.cardOut != "" && c.serverURL != "":
		return usageError("--card needs the model's files (the embedded model or --model-dir), not --server")
	}
	if len(c.files) > 0 {
		if c.textColumn == "" || c.labelColumn == "" {
			return usageError("--text-column and --label-column must not be empty")
		}
		if len(c.positive) == 0 {
			return usageError("--positive names no value")
		}
		if c.language != "" && c.languageColumn != "" {
			return usageError("give --language or --language-column, not both")
		}
	}
	if c.serverURL != "" {
		if !strings.HasPrefix(c.serverURL, "http://") && !strings.HasPrefix(c.serverURL, "https://") {
			return usageError("--server %q is not an http:// or https:// URL", c.serverURL)
		}
	}
	return nil
}

func runEval(ctx context.Context, c *evalConfig, stdout, stderr io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	// Check the files' columns before loading anything.
	var fileSources []textdata.Source
	if len(c.files) > 0 {
		var err error
		if fileSources, err = c.fileSources(); err != nil {
			return err
		}
	}
	var m *textdata.Manifest
	if len(c.files) == 0 {
		var err error
		m, err = textdata.ReadManifest(c.manifest, map[string]string{"SHARED": c.sharedDir})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return usageError("%v", err)
		}
		for _, name := range c.sources {
			if !slices.ContainsFunc(m.Sources, func(s textdata.Source) bool { return s.Name == name }) {
				return usageError("--sources: %s has no source %q", c.manifest, name)
			}
		}
	}

	sc, err := c.openScorer(ctx)
	if err != nil {
		return err
	}
	defer sc.close()
	info := sc.info()
	split := eval.ValidationSplit{Seed: c.seed, Fraction: c.valFrac, From: "--seed and --validation-fraction"}
	if info.training != nil {
		split = eval.ValidationSplit{Seed: info.training.Seed, Fraction: info.training.ValidationFraction, From: info.trainingFrom}
	}

	var ds *eval.Dataset
	if m != nil {
		ds, err = eval.LoadManifest(m, "", c.category, split, c.sources)
		if err != nil {
			return err
		}
		if info.training != nil {
			checkTrainingData(m, ds, info.training, c.category, stderr)
		}
	} else {
		ds = &eval.Dataset{Category: c.category}
		for i := range fileSources {
			s := &fileSources[i]
			exs, err := s.Read("")
			if err != nil {
				return err
			}
			rows, sum := eval.Select(s, exs, c.category, split)
			if len(rows) == 0 {
				return fmt.Errorf("%s: no labelled rows", s.Path)
			}
			ds.Rows = append(ds.Rows, rows...)
			ds.Sources = append(ds.Sources, sum)
		}
	}
	if len(ds.Rows) == 0 {
		return fmt.Errorf("no row is labelled for %q", c.category)
	}
	texts := make([]string, len(ds.Rows))
	for i := range ds.Rows {
		texts[i] = ds.Rows[i].Text
	}
	start := time.Now()
	scores, positive, err := sc.score(ctx, texts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "agate eval: scored %d texts in %.1fs\n", len(texts), time.Since(start).Seconds())
	for i := range ds.Rows {
		ds.Rows[i].Score, ds.Rows[i].Positive = scores[i], positive[i]
	}
	opts := eval.Options{Resamples: c.resamples, Seed: c.bootstrapSeed}
	if c.resamples == 0 {
		opts.Resamples = -1 // no interval
	}
	rep := eval.Build(ds.Rows, opts)
	rep.Model = info.ModelInfo
	rep.Category = c.category
	rep.Threshold, rep.ThresholdSource = sc.threshold()
	rep.Data = ds.Sources
	if slices.ContainsFunc(ds.Rows, func(r eval.Row) bool { return r.Split == eval.SplitValidation }) {
		rep.Split = &split
		if info.training != nil {
			rep.Notes = append(rep.Notes, "the threshold and the regularisation were chosen on the validation split: its precision, recall and F1 are optimistic")
		}
	}
	for i := range rep.Data {
		rep.Data[i].Path = displayDataPath(rep.Data[i].Path, c.sharedDir)
	}
	for i := range rep.Files {
		rep.Files[i].Name = displayDataPath(rep.Files[i].Name, c.sharedDir)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if c.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the report: %w", err)
		}
		if err := writeFile(c.jsonOut, append(b, '\n')); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if c.cardOut != "" {
		card, err := c.card(info, ds, rep)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := eval.WriteCard(&buf, card); err != nil {
			return fmt.Errorf("writing the model card: %w", err)
		}
		if err := writeFile(c.cardOut, buf.Bytes()); err != nil {
			return fmt.Errorf("--card: %w", err)
		}
		fmt.Fprintf(stderr, "agate eval: wrote %s\n", c.cardOut)
	}
	return nil
}

// writeFile writes b to path, creating its folder.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// fileSources describes the files given as arguments as eval sources,
// after checking that each has the columns the flags name.
func (c *evalConfig) fileSources() ([]textdata.Source, error) {
	var out []textdata.Source
	names := map[string]bool{}
	for _, path := range c.files {
		name := filepath.Base(path)
		if names[name] {
			name = path
		}
		names[name] = true
		s := textdata.Source{Name: name, Path: path, Licence: "", TextColumn: c.textColumn, Language: c.language,
			LanguageColumn: c.languageColumn, GroupColumn: c.groupColumn, Use: textdata.UseEval,
			Labels: map[string]textdata.LabelRule{c.category: {Column: c.labelColumn, Positive: c.positive}}}
		m := textdata.Manifest{Sources: []textdata.Source{s}}
		if err := m.Validate(); err != nil {
			return nil, usageError("%s: %v", path, err)
		}
		s = m.Sources[0]
		cols, err := columnsOf(path, s.Format)
		if err != nil {
			return nil, err
		}
		for _, want := range []string{c.textColumn, c.labelColumn, c.languageColumn, c.groupColumn} {
			if want != "" && cols != nil && !slices.Contains(cols, want) {
				return nil, usageError("%s has no column %q (it has %s)", path, want, strings.Join(cols, ", "))
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// columnsOf returns the header of a CSV file or the keys of a JSON Lines
// file's first object (nil when the file holds none).
func columnsOf(path, format string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if format == "jsonl" {
		for {
			line, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				var obj map[string]any
				if err := json.Unmarshal(line, &obj); err != nil {
					return nil, fmt.Errorf("%s: first line: %w", path, err)
				}
				var cols []string
				for k := range obj {
					cols = append(cols, k)
				}
				slices.Sort(cols)
				return cols, nil
			}
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	for i, h := range header {
		header[i] = strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")
	}
	return header, nil
}

// displayDataPath shows a data path relative to the shared folder (as
// ${SHARED}/...) or to the working folder, so that reports do not depend
// on where the checkout lives.
func displayDataPath(p, sharedDir string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if sharedDir != "" {
		if sh, err := filepath.Abs(sharedDir); err == nil {
			if rel, err := filepath.Rel(sh, abs); err == nil && !strings.HasPrefix(rel, "..") {
				return "${SHARED}/" + filepath.ToSlash(rel)
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(p)
}

// checkTrainingData warns when the data differs from what the model was
// trained on: a training file's digest, or the number of validation rows
// per source.
func checkTrainingData(m *textdata.Manifest, ds *eval.Dataset, tr *train.TrainingReport, category string, stderr io.Writer) {
	digests := map[string]string{}
	for _, d := range tr.Data {
		digests[d.Source] = d.SHA256
	}
	valRows := map[string]int{}
	for _, s := range tr.Sources {
		if s.Category == category {
			valRows[s.Source] += s.Rows
		}
	}
	for _, s := range m.Sources {
		if s.Use != textdata.UseTrain {
			continue
		}
		want, ok := digests[s.Name]
		if !ok {
			fmt.Fprintf(stderr, "agate eval: warning: training source %s is not in the model's training.json: the model may have been trained on all of it\n", s.Name)
			continue
		}
		path := s.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(m.DataDir, path)
		}
		if got, err := models.FileSHA256(path); err == nil && got != want {
			fmt.Fprintf(stderr, "agate eval: warning: %s differs from the file the model was trained on (sha256 %s, training.json %s): its validation rows may include training rows\n", path, got[:12], want[:min(12, len(want))])
		}
	}
	for _, sum := range ds.Sources {
		if want, ok := valRows[sum.Name]; ok && sum.Use == textdata.UseTrain && want != sum.Evaluated {
			fmt.Fprintf(stderr, "agate eval: warning: %s: %d validation rows, training.json says %d\n", sum.Name, sum.Evaluated, want)
		}
	}
}

// scorerInfo describes the model behind a scorer.
type scorerInfo struct {
	eval.ModelInfo
	// training is the model's training.json (nil when unknown);
	// trainingFrom says where it was read.
	training     *train.TrainingReport
	trainingFrom string
	// files reads the model's files (nil for a server).
	files fs.FS
	model *models.Model
}

// scorer scores texts for one category.
type scorer interface {
	info() scorerInfo
	// score returns each text's probability and the model's decision.
	score(ctx context.Context, texts []string) ([]float64, []bool, error)
	// threshold returns the decision threshold (0-100) and its source.
	threshold() (float64, string)
	close()
}

func (c *evalConfig) openScorer(ctx context.Context) (scorer, error) {
	if c.serverURL != "" {
		return newServerScorer(ctx, c)
	}
	var (
		fsys fs.FS
		m    *models.Model
		err  error
		from string
	)
	if c.modelDir != "" {
		from = c.modelDir
		fsys = os.DirFS(c.modelDir)
		m, err = models.Load(c.modelDir, models.LoadOptions{})
	} else {
		from = "embedded"
		fsys = toxicity.Default()
		m, err = models.LoadFS(fsys, "embedded:"+toxicity.Name, models.LoadOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("loading the model: %w", err)
	}
	if m.Text == nil {
		m.Close()
		return nil, usageError("%s is not a text model", from)
	}
	var idx []int
	var cats []string
	for i, l := range m.Text.Labels() {
		cat := m.Manifest.Category(l)
		if cat == c.category {
			idx = append(idx, i)
		}
		if cat != "" && !slices.Contains(cats, cat) {
			cats = append(cats, cat)
		}
	}
	if len(idx) == 0 {
		m.Close()
		return nil, usageError("model %s has no category %q (it has %s)", m.Name, c.category, strings.Join(cats, ", "))
	}
	s := &localScorer{m: m, idx: idx, batch: c.batch,
		si: scorerInfo{ModelInfo: eval.ModelInfo{Name: m.Name, Version: m.Version, From: from}, files: fsys, model: m}}
	if b, err := fs.ReadFile(fsys, "training.json"); err == nil {
		var tr train.TrainingReport
		if err := json.Unmarshal(b, &tr); err != nil {
			m.Close()
			return nil, fmt.Errorf("%s: training.json: %w", from, err)
		}
		if tr.ValidationFraction > 0 {
			s.si.training, s.si.trainingFrom = &tr, "the model's training.json"
		}
	}
	return s, nil
}

// localScorer runs a loaded model in this process.
type localScorer struct {
	m     *models.Model
	idx   []int // the outputs of the category
	batch int
	si    scorerInfo
}

func (s *localScorer) info() scorerInfo { return s.si }
func (s *localScorer) close()           { s.m.Close() }

func (s *localScorer) threshold() (float64, string) {
	if s.m.Manifest.Thresholds != nil {
		return s.m.Manifest.Thresholds.Medium, "the model's thresholds.medium"
	}
	return s.m.Manifest.EffectiveThresholds().Medium, "agate's default thresholds.medium (the model's manifest sets none)"
}

func (s *localScorer) score(ctx context.Context, texts []string) ([]float64, []bool, error) {
	scores := make([]float64, len(texts))
	medium, _ := s.threshold()
	err := parallelBatches(ctx, len(texts), s.batch, runtime.GOMAXPROCS(0), func(lo, hi int) error {
		preds, err := s.m.Text.Classify(ctx, texts[lo:hi])
		if err != nil {
			return fmt.Errorf("scoring texts %d-%d: %w", lo, hi-1, err)
		}
		for k, p := range preds {
			v := math.Inf(-1)
			for _, j := range s.idx {
				v = max(v, p.Scores[j])
			}
			scores[lo+k] = v
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	positive := make([]bool, len(texts))
	for i, p := range scores {
		positive[i] = eval.AtThreshold(p, medium)
	}
	return scores, positive, nil
}

// parallelBatches calls fn on [lo, hi) batches of at most size items from
// workers goroutines and returns the first error.
func parallelBatches(ctx context.Context, n, size, workers int, fn func(lo, hi int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				if err := fn(lo, min(lo+size, n)); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for lo := 0; lo < n; lo += size {
		select {
		case next <- lo:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// serverScorer sends texts to a server's POST /analyze.
type serverScorer struct {
	base        string
	category    string
	batch       int
	concurrency int
	client      *http.Client
	si          scorerInfo
	// levels seen: the highest score judged low, the lowest judged not low
	mu             sync.Mutex
	maxLow, minHit float64
}

// maxRequestBytes keeps a request under the server's 1 MiB body limit.
const maxRequestBytes = 512 << 10

func newServerScorer(ctx context.Context, c *evalConfig) (*serverScorer, error) {
	s := &serverScorer{base: strings.TrimRight(c.serverURL, "/"), category: c.category, batch: c.batch,
		concurrency: c.concurrency, client: &http.Client{Timeout: c.timeout}, maxLow: math.Inf(-1), minHit: math.Inf(1)}
	// One probe names the model and checks the category.
	resp, err := s.analyze(ctx, []string{"bonjour"})
	if err != nil {
		return nil, err
	}
	s.si.ModelInfo = eval.ModelInfo{Name: resp.Model.Name, Version: resp.Model.Version, From: s.base}
	// The embedded model's training.json applies when the server runs it.
	if b, err := fs.ReadFile(toxicity.Default(), "training.json"); err == nil {
		var tr train.TrainingReport
		if json.Unmarshal(b, &tr) == nil && tr.Model == resp.Model.Name && tr.Version == resp.Model.Version && tr.ValidationFraction > 0 {
			s.si.training, s.si.trainingFrom = &tr, "the embedded model's training.json (same name and version as the server's model)"
		}
	}
	return s, nil
}

func (s *serverScorer) info() scorerInfo { return s.si }
func (s *serverScorer) close()           { s.client.CloseIdleConnections() }

func (s *serverScorer) threshold() (float64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if math.IsInf(s.minHit, 1) {
		return 100, "the server's thresholds.medium (not exposed by the API; no score reached it)"
	}
	lo := "-"
	if !math.IsInf(s.maxLow, -1) {
		lo = strconv.FormatFloat(s.maxLow, 'f', -1, 64)
	}
	return s.minHit, fmt.Sprintf("the server's thresholds.medium as its toxicity_level applies it, not given by the API: above %s, at most %g", lo, s.minHit)
}

func (s *serverScorer) score(ctx context.Context, texts []string) ([]float64, []bool, error) {
	scores := make([]float64, len(texts))
	positive := make([]bool, len(texts))
	// batches of at most s.batch texts and maxRequestBytes
	var bounds []int
	size := 0
	for i, t := range texts {
		if len(bounds) == 0 || i-bounds[len(bounds)-1] >= s.batch || size+len(t) > maxRequestBytes {
			bounds = append(bounds, i)
			size = 0
		}
		size += len(t) + 8
	}
	bounds = append(bounds, len(texts))
	err := parallelBatches(ctx, len(bounds)-1, 1, s.concurrency, func(b, _ int) error {
		lo, hi := bounds[b], bounds[b+1]
		resp, err := s.analyze(ctx, texts[lo:hi])
		if err != nil {
			return fmt.Errorf("texts %d-%d: %w", lo, hi-1, err)
		}
		if len(resp.Results) != hi-lo {
			return fmt.Errorf("texts %d-%d: the server returned %d results", lo, hi-1, len(resp.Results))
		}
		for k, r := range resp.Results {
			p, ok := r.Categories[s.category]
			if !ok {
				return fmt.Errorf("texts %d-%d: the response has no category %q", lo, hi-1, s.category)
			}
			scores[lo+k] = p
			positive[lo+k] = r.ToxicityLevel != "low"
			s.mu.Lock()
			if positive[lo+k] {
				s.minHit = min(s.minHit, r.Score)
			} else {
				s.maxLow = max(s.maxLow, r.Score)
			}
			s.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return scores, positive, nil
}

// analyze sends one POST /analyze, retrying 429 and 503 answers and
// connection errors with backoff (the Retry-After header when given).
func (s *serverScorer) analyze(ctx context.Context, texts []string) (*server.AnalyzeBatchResponse, error) {
	body, err := json.Marshal(server.AnalyzeRequest{Texts: texts, Categories: []string{s.category}})
	if err != nil {
		return nil, err
	}
	const attempts = 8
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp, hint, err := s.post(ctx, body)
		if err == nil {
			return resp, nil
		}
		if !hint.retry || attempt == attempts {
			return nil, err
		}
		wait := backoff
		if hint.said {
			wait = hint.after
		}
		backoff = min(2*backoff, 30*time.Second)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// retryHint says whether a failed request may be retried, and after how
// long when the server said so (Retry-After).
type retryHint struct {
	retry bool
	said  bool
	after time.Duration
}

// post sends one request.
func (s *serverScorer) post(ctx context.Context, body []byte) (*server.AnalyzeBatchResponse, retryHint, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/analyze", bytes.NewReader(body))
	if err != nil {
		return nil, retryHint{}, usageError("--server: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, retryHint{}, err
		}
		return nil, retryHint{retry: true}, fmt.Errorf("POST %s/analyze: %w", s.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, retryHint{retry: true}, fmt.Errorf("POST %s/analyze: reading the response: %w", s.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		var eb server.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			msg = eb.Error.Message
			if eb.Error.Hint != "" {
				msg += " (" + eb.Error.Hint + ")"
			}
		}
		err := fmt.Errorf("POST %s/analyze: %s: %s", s.base, resp.Status, msg)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			after, said := retryAfter(resp.Header.Get("Retry-After"))
			return nil, retryHint{retry: true, said: said, after: after}, err
		}
		return nil, retryHint{}, err
	}
	var out server.AnalyzeBatchResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, retryHint{}, fmt.Errorf("POST %s/analyze: decoding the response: %w", s.base, err)
	}
	return &out, retryHint{}, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped
// at a minute; ok is false when it is absent or unreadable.
func retryAfter(v string) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return 0, false
	}
	return min(max(d, 0), time.Minute), true
}

// card gathers the model card of the evaluated model.
func (c *evalConfig) card(info scorerInfo, ds *eval.Dataset, rep *eval.Report) (*eval.Card, error) {
	m := info.model
	if m == nil {
		return nil, usageError("--card needs the model's files")
	}
	card := &eval.Card{Name: m.Name, Version: m.Version, Description: m.Manifest.Description, License: m.Manifest.License,
		Labels: m.Text.Labels(), Categories: map[string]string{}, Languages: m.Manifest.Languages, Report: rep,
		TrainLanguages: ds.TrainLanguages}
	for _, l := range card.Labels {
		card.Categories[l] = m.Manifest.Category(l)
	}
	th := m.Manifest.EffectiveThresholds()
	card.ThresholdMedium, card.ThresholdHigh = th.Medium, th.High
	if b, err := fs.ReadFile(info.files, textfeat.FileName); err == nil {
		spec, err := textfeat.DecodeSpec(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", textfeat.FileName, err)
		}
		card.Featurizer = describeFeaturizer(spec)
		card.Vocabulary, card.LexiconEntries = len(spec.Vocabulary), len(spec.Lexicon)
		card.Classifier = "one L2-regularised logistic regression per output over sublinear TF-IDF weights (balanced class weights, L-BFGS), trained by `agate train`"
	}
	if tr := info.training; tr != nil {
		card.TrainTexts, card.ValidationTexts = tr.TrainTexts, tr.ValidationTexts
		if tr.Vocabulary > 0 {
			card.Vocabulary = tr.Vocabulary
		}
		sums := map[string]eval.SourceSummary{}
		for _, s := range rep.Data {
			sums[s.Name] = s
		}
		for _, d := range tr.Data {
			s := sums[d.Source]
			path := d.Path
			if s.Path != "" {
				path = s.Path // shown as ${SHARED}/... or relative to the working folder
			}
			card.Training = append(card.Training, eval.TrainingSource{Source: d.Source, Path: path, Licence: d.Licence,
				Origin: d.Origin, SHA256: d.SHA256, Rows: s.Read, Trained: s.Trained, Validation: s.Evaluated})
		}
		for _, cr := range tr.Categories {
			card.Fits = append(card.Fits, eval.CategoryFit{Category: cr.Category, C: cr.C, TrainRows: cr.TrainRows,
				TrainPositives: cr.TrainPositives, ValidationRows: cr.ValidationRows, ValidationPositives: cr.ValidationPositives})
		}
	}
	if info.From == "embedded" || filepath.Clean(info.From) == filepath.Clean("models/toxicity/default") {
		card.Reproduce = append(card.Reproduce,
			"# train the default model (data manifest models/toxicity/train.yaml; ${SHARED} is $AGATE_SHARED or ../shared)",
			"go run ./cmd/agate train --out models/toxicity/default")
	}
	card.Reproduce = append(card.Reproduce, "# evaluate it and write this card", "go run ./cmd/agate eval "+quoteArgs(c.args))
	return card, nil
}

// describeFeaturizer says in a sentence how a featuriser reads text.
func describeFeaturizer(s *textfeat.Spec) string {
	n := s.Normalization
	var steps []string
	add := func(ok bool, what string) {
		if ok {
			steps = append(steps, what)
		}
	}
	add(n.FixMojibake, "mojibake repaired")
	add(n.NFKC, "NFKC")
	add(n.Lowercase, "lower case")
	add(n.StripAccents, "accents stripped")
	add(n.URLToken != "" || n.MentionToken != "", "URLs and @mentions replaced by placeholders")
	add(n.CollapseRepeats > 0, fmt.Sprintf("runs of more than %d repeated characters collapsed", n.CollapseRepeats))
	var grams []string
	if s.WordNgrams[1] > 0 {
		grams = append(grams, fmt.Sprintf("word %d-%d-grams", s.WordNgrams[0], s.WordNgrams[1]))
	}
	if s.CharNgrams[1] > 0 {
		grams = append(grams, fmt.Sprintf("character %d-%d-grams within words", s.CharNgrams[0], s.CharNgrams[1]))
	}
	out := strings.Join(grams, " and ")
	if len(steps) > 0 {
		out += " after normalisation (" + strings.Join(steps, ", ") + ")"
	}
	return out
}

// quoteArgs joins args for a shell, quoting those that need it.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
