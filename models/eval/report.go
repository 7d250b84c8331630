package eval

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/agate-ml/agate/models/textdata"
)

// Splits of evaluated rows: the held-out rows of a training source, the
// rows of a source that is only measured, and functional test cases.
const (
	SplitValidation = "validation"
	SplitEval       = "eval"
	SplitFunctional = "functional"
)

// Defaults of Options.
const (
	DefaultResamples     = 1000
	DefaultBootstrapSeed = 1
)

// Row is one labelled text, with the model's score once scored.
type Row struct {
	Text   string
	Source string
	File   string
	Lang   string
	// Group is the source's group value (the HateCheck functionality).
	Group string
	// Split is SplitValidation, SplitEval or SplitFunctional.
	Split string
	// Label is 1 (positive) or 0 for the evaluated category.
	Label int8
	// Score is the model's probability for the category, 0 to 1.
	Score float64
	// Positive is the model's decision at its threshold (see AtThreshold).
	Positive bool
}

// Percent is a probability on the service's 0-100 scale, rounded to two
// decimals as POST /analyze rounds its score.
func Percent(p float64) float64 {
	v := 100 * p
	return math.Round(v*100) / 100
}

// AtThreshold reports the service's decision for probability p against a
// threshold on the 0-100 scale (a manifest's thresholds.medium): the
// rounded score reaches it, so that a level other than "low" and a
// positive decision here are the same thing.
func AtThreshold(p, threshold float64) bool { return Percent(p) >= threshold }

// ValidationSplit names the hash split of a model's training sources
// (textdata.InValidation): only rows in it may be evaluated.
type ValidationSplit struct {
	Seed     int64   `json:"seed"`
	Fraction float64 `json:"fraction"`
	// From says where the values come from ("training.json", "flags").
	From string `json:"from,omitempty"`
}

// SourceSummary says what was read from one source and what was kept.
type SourceSummary struct {
	Name    string `json:"name"`
	Use     string `json:"use"`
	Path    string `json:"path"`
	Licence string `json:"licence,omitempty"`
	Origin  string `json:"origin,omitempty"`
	// Read counts the rows read (with a label for any category).
	Read int `json:"read"`
	// Trained counts the rows of a training source outside the validation
	// split: the rows the model was trained on.
	Trained int `json:"trained,omitempty"`
	// Labelled counts the rows labelled for the evaluated category.
	Labelled int `json:"labelled"`
	// Evaluated counts the rows kept: the validation split of a training
	// source, every labelled row of the others.
	Evaluated int `json:"evaluated"`
	// InTraining counts evaluated rows of an eval or functional source whose
	// text (lower-cased, spaces normalised) is also a training row.
	InTraining int `json:"in_training,omitempty"`
	// Languages counts the read rows by language ("" when unknown).
	Languages map[string]int `json:"languages,omitempty"`
}

// Dataset is the rows of a manifest that may be evaluated.
type Dataset struct {
	Category string
	Rows     []Row
	Sources  []SourceSummary
	// TrainLanguages counts the training rows (outside the validation
	// split) by language.
	TrainLanguages map[string]int
}

// Select keeps the examples of one source that may be evaluated for
// category: those labelled for it and, for a training source, only the
// validation split (the other rows were trained on). It returns the rows
// and a summary without InTraining.
func Select(src *textdata.Source, exs []textdata.Example, category string, split ValidationSplit) ([]Row, SourceSummary) {
	sum := SourceSummary{Name: src.Name, Use: useOf(src), Path: src.Path, Licence: src.Licence, Origin: src.Origin,
		Read: len(exs), Languages: map[string]int{}}
	splitName := SplitEval
	switch sum.Use {
	case textdata.UseTrain:
		splitName = SplitValidation
	case textdata.UseFunctional:
		splitName = SplitFunctional
	}
	var rows []Row
	for i := range exs {
		ex := &exs[i]
		sum.Languages[ex.Lang]++
		held := true
		if sum.Use == textdata.UseTrain {
			held = textdata.InValidation(ex.Text, split.Seed, split.Fraction)
			if !held {
				sum.Trained++
			}
		}
		l, ok := ex.Label(category)
		if !ok {
			continue
		}
		sum.Labelled++
		if !held {
			continue
		}
		sum.Evaluated++
		rows = append(rows, Row{Text: ex.Text, Source: src.Name, File: ex.File, Lang: ex.Lang, Group: ex.Group,
			Split: splitName, Label: l})
	}
	return rows, sum
}

func useOf(s *textdata.Source) string {
	if s.Use == "" {
		return textdata.UseTrain
	}
	return s.Use
}

// LoadManifest reads the sources of m (paths relative to dataDir; "" for
// m.DataDir) and selects their rows for category (see Select). When only
// is not empty, only the sources it names are evaluated, but every
// training source is still read to count overlaps with the training rows.
func LoadManifest(m *textdata.Manifest, dataDir, category string, split ValidationSplit, only []string) (*Dataset, error) {
	if dataDir == "" {
		dataDir = m.DataDir
	}
	for _, name := range only {
		if !slices.ContainsFunc(m.Sources, func(s textdata.Source) bool { return s.Name == name }) {
			return nil, fmt.Errorf("eval: the data manifest has no source %q", name)
		}
	}
	ds := &Dataset{Category: category, TrainLanguages: map[string]int{}}
	trained := map[string]bool{}
	var measured []int // indexes into ds.Sources of eval and functional sources
	var measuredRows [][]Row
	for i := range m.Sources {
		s := &m.Sources[i]
		want := len(only) == 0 || slices.Contains(only, s.Name)
		if !want && useOf(s) != textdata.UseTrain {
			continue
		}
		exs, err := s.Read(dataDir)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		rows, sum := Select(s, exs, category, split)
		if !filepath.IsAbs(sum.Path) {
			sum.Path = filepath.Join(dataDir, sum.Path)
		}
		if useOf(s) == textdata.UseTrain {
			for k := range exs {
				if !textdata.InValidation(exs[k].Text, split.Seed, split.Fraction) {
					trained[overlapKey(exs[k].Text)] = true
					ds.TrainLanguages[exs[k].Lang]++
				}
			}
		}
		if !want {
			continue
		}
		if useOf(s) != textdata.UseTrain {
			measured = append(measured, len(ds.Sources))
			measuredRows = append(measuredRows, rows)
		}
		ds.Sources = append(ds.Sources, sum)
		ds.Rows = append(ds.Rows, rows...)
	}
	for k, i := range measured {
		for _, r := range measuredRows[k] {
			if trained[overlapKey(r.Text)] {
				ds.Sources[i].InTraining++
			}
		}
	}
	return ds, nil
}

// overlapKey normalises a text as textdata.InValidation does.
func overlapKey(text string) string {
	return strings.ToLower(strings.Join(strings.Fields(text), " "))
}

// Options configure Build.
type Options struct {
	// Resamples is the number of bootstrap resamples of the ROC-AUC
	// interval (default DefaultResamples; negative: no interval).
	Resamples int
	// Seed seeds the bootstrap (default DefaultBootstrapSeed); every group
	// uses the same seed, so the same rows give the same report.
	Seed uint64
	// Workers computes groups in parallel (default GOMAXPROCS); the report
	// does not depend on it.
	Workers int
}

func (o *Options) defaults() {
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	if o.Seed == 0 {
		o.Seed = DefaultBootstrapSeed
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
}

// Metrics are the measures of one group of rows. Measures that need both
// classes are nil when the group holds one class only.
type Metrics struct {
	Rows      int `json:"rows"`
	Positives int `json:"positives"`
	// ROCAUC is the area under the ROC curve, with its bootstrap 95%
	// interval.
	ROCAUC     *float64 `json:"roc_auc"`
	ROCAUCLow  *float64 `json:"roc_auc_ci95_low"`
	ROCAUCHigh *float64 `json:"roc_auc_ci95_high"`
	// PRAUC is the average precision.
	PRAUC *float64 `json:"pr_auc"`
	// The decisions at the threshold.
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	TN        int     `json:"tn"`
	FN        int     `json:"fn"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Accuracy  float64 `json:"accuracy"`
}

// Group is the metrics of the rows sharing a key.
type Group struct {
	// Name is the key: a source, a language, a file or a group value.
	Name string `json:"name"`
	// Split is the rows' split (empty when they mix splits).
	Split string `json:"split,omitempty"`
	// Source is set for by_group entries.
	Source string `json:"source,omitempty"`
	Metrics
}

// Report is an evaluation: the metrics overall and per split, source,
// language, file and group. Build fills the metrics; the caller fills the
// description of the model and the data.
type Report struct {
	// Model describes what was evaluated.
	Model ModelInfo `json:"model"`
	// Category is the evaluated category; scores are its probability.
	Category string `json:"category"`
	// Threshold is the decision threshold on the 0-100 scale (see
	// AtThreshold), and ThresholdSource says where it comes from.
	Threshold       float64 `json:"threshold"`
	ThresholdSource string  `json:"threshold_source"`
	// Split is the validation split used for training sources (nil when
	// no training source was evaluated).
	Split *ValidationSplit `json:"validation_split,omitempty"`
	// Resamples and BootstrapSeed describe the ROC-AUC intervals.
	Resamples     int    `json:"bootstrap_resamples"`
	BootstrapSeed uint64 `json:"bootstrap_seed"`
	// Data describes the sources read.
	Data []SourceSummary `json:"data,omitempty"`
	// Notes are caveats printed with the report.
	Notes []string `json:"notes,omitempty"`

	Overall   Metrics `json:"overall"`
	Splits    []Group `json:"by_split"`
	Sources   []Group `json:"by_source"`
	Languages []Group `json:"by_language"`
	Files     []Group `json:"by_file"`
	// Groups holds the rows that carry a group value (functional tests),
	// per source and group.
	Groups []Group `json:"by_group,omitempty"`
}

// ModelInfo names the evaluated model.
type ModelInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// From is "embedded", a model folder or a server URL.
	From string `json:"from"`
}

// Build computes the metrics of scored rows: overall, per split, per
// source, per language within each split, per file and per (source,
// group). Sources and files keep the order of first appearance; splits,
// languages and groups are sorted.
func Build(rows []Row, o Options) *Report {
	o.defaults()
	r := &Report{Resamples: max(o.Resamples, 0), BootstrapSeed: o.Seed}
	type job struct {
		idx []int
		dst *Metrics
	}
	var jobs []job
	// grouped groups the rows that key accepts by (name, split, source),
	// orders the groups with less (nil: order of first appearance) and
	// registers one job per group.
	grouped := func(key func(*Row) (name, split, source string, ok bool), less func(a, b *Group) bool) []Group {
		var out []Group
		var idx [][]int
		at := map[[3]string]int{}
		for i := range rows {
			n, sp, src, ok := key(&rows[i])
			if !ok {
				continue
			}
			k := [3]string{n, sp, src}
			g, seen := at[k]
			if !seen {
				g = len(out)
				at[k] = g
				out = append(out, Group{Name: n, Split: sp, Source: src})
				idx = append(idx, nil)
			}
			idx[g] = append(idx[g], i)
		}
		perm := make([]int, len(out))
		for i := range perm {
			perm[i] = i
		}
		if less != nil {
			sort.SliceStable(perm, func(a, b int) bool { return less(&out[perm[a]], &out[perm[b]]) })
		}
		gs := make([]Group, len(out))
		for i, k := range perm {
			gs[i] = out[k]
		}
		for i, k := range perm {
			jobs = append(jobs, job{idx[k], &gs[i].Metrics})
		}
		return gs
	}
	all := make([]int, len(rows))
	for i := range all {
		all[i] = i
	}
	jobs = append(jobs, job{all, &r.Overall})
	bySplitName := func(a, b *Group) bool {
		if ra, rb := splitRank(a.Split), splitRank(b.Split); ra != rb {
			return ra < rb
		}
		return a.Name < b.Name
	}
	r.Splits = grouped(func(x *Row) (string, string, string, bool) { return x.Split, x.Split, "", true }, bySplitName)
	r.Sources = grouped(func(x *Row) (string, string, string, bool) { return x.Source, x.Split, "", true }, nil)
	r.Languages = grouped(func(x *Row) (string, string, string, bool) { return x.Lang, x.Split, "", true }, bySplitName)
	r.Files = grouped(func(x *Row) (string, string, string, bool) { return x.File, x.Split, "", true }, nil)
	srcRank := map[string]int{}
	for i := range rows {
		if _, ok := srcRank[rows[i].Source]; !ok {
			srcRank[rows[i].Source] = len(srcRank)
		}
	}
	r.Groups = grouped(func(x *Row) (string, string, string, bool) { return x.Group, x.Split, x.Source, x.Group != "" },
		func(a, b *Group) bool {
			if a.Source != b.Source {
				return srcRank[a.Source] < srcRank[b.Source]
			}
			return a.Name < b.Name
		})
	// The group slices are final: jobs point into them.
	work := make(chan job)
	var wg sync.WaitGroup
	for range min(o.Workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				*j.dst = summarize(rows, j.idx, o)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	return r
}

// splitRank orders splits: validation, eval, functional, then others.
func splitRank(s string) int {
	switch s {
	case SplitValidation:
		return 0
	case SplitEval:
		return 1
	case SplitFunctional:
		return 2
	}
	return 3
}

// Summarize computes the metrics of rows.
func Summarize(rows []Row, o Options) Metrics {
	o.defaults()
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	return summarize(rows, idx, o)
}

func summarize(rows []Row, idx []int, o Options) Metrics {
	scores := make([]float64, len(idx))
	labels := make([]int8, len(idx))
	var m Metrics
	var c Confusion
	for k, i := range idx {
		r := &rows[i]
		scores[k], labels[k] = r.Score, r.Label
		pos := r.Label == 1
		if pos {
			m.Positives++
		}
		switch {
		case r.Positive && pos:
			c.TP++
		case r.Positive:
			c.FP++
		case pos:
			c.FN++
		default:
			c.TN++
		}
	}
	m.Rows = len(idx)
	m.TP, m.FP, m.TN, m.FN = c.TP, c.FP, c.TN, c.FN
	m.Precision, m.Recall, m.F1 = c.Precision(), c.Recall(), c.F1()
	m.Accuracy = ratio(c.TP+c.TN, m.Rows)
	if auc, err := ROCAUC(scores, labels); err == nil {
		m.ROCAUC = &auc
		if o.Resamples > 0 {
			iv := BootstrapROCAUC(scores, labels, o.Resamples, o.Seed)
			if !math.IsNaN(iv.Low) {
				m.ROCAUCLow, m.ROCAUCHigh = &iv.Low, &iv.High
			}
		}
	}
	if ap, err := AveragePrecision(scores, labels); err == nil {
		m.PRAUC = &ap
	}
	return m
}

// BootstrapROCAUC returns Bootstrap(scores, labels, n, seed, ROCAUC), the
// same resamples and the same values, in O(len(scores)) per resample: the
// scores are sorted once and each resample is a count per row.
func BootstrapROCAUC(scores []float64, labels []int8, n int, seed uint64) Interval {
	idx := order(scores)
	// tie groups of the ascending order: idx[ends[g-1]:ends[g]]
	var ends []int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		ends = append(ends, j)
		i = j
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	counts := make([]float64, len(scores))
	vals := make([]float64, 0, n)
	for range n {
		clear(counts)
		for range scores {
			counts[r.IntN(len(scores))]++
		}
		var pos, neg, negBelow, num float64
		start := 0
		for _, end := range ends {
			var p, q float64
			for _, i := range idx[start:end] {
				if labels[i] == 1 {
					p += counts[i]
				} else {
					q += counts[i]
				}
			}
			num += p * (negBelow + q/2)
			negBelow += q
			pos += p
			neg += q
			start = end
		}
		if pos == 0 || neg == 0 {
			continue
		}
		vals = append(vals, num/(pos*neg))
	}
	return centralInterval(vals)
}

// WriteTable writes the report as aligned text tables.
func (r *Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	m := r.Model
	name := strings.TrimSpace(m.Name + " " + m.Version)
	ew.printf("model      %s (%s)\n", name, m.From)
	ew.printf("category   %s: scores are its probability\n", r.Category)
	ew.printf("threshold  %g/100 = %.4g (%s); a rounded score at or above it counts as positive\n", r.Threshold, r.Threshold/100, r.ThresholdSource)
	if r.Split != nil {
		ew.printf("split      training sources: only the validation split (seed %d, fraction %g, from %s)\n", r.Split.Seed, r.Split.Fraction, r.Split.From)
	}
	if r.Resamples > 0 {
		ew.printf("interval   ROC-AUC 95%% bootstrap interval, %d resamples, seed %d\n", r.Resamples, r.BootstrapSeed)
	}
	for _, n := range r.Notes {
		ew.printf("note       %s\n", n)
	}
	for _, d := range r.Data {
		if d.InTraining > 0 {
			ew.printf("note       %s: evaluated rows that are also training rows: %d of %d\n", d.Name, d.InTraining, d.Evaluated)
		}
	}
	overall := []Group{{Name: "all", Metrics: r.Overall}}
	r.table(ew, "overall", append(overall, r.Splits...), false)
	r.table(ew, "source", r.Sources, true)
	r.table(ew, "language", r.Languages, true)
	r.table(ew, "file", r.Files, true)
	if len(r.Groups) > 0 {
		t := [][]string{{"source", "group", "split", "rows", "pos", "accuracy"}}
		for _, g := range r.Groups {
			t = append(t, []string{g.Source, g.Name, g.Split, fmt.Sprint(g.Rows), fmt.Sprint(g.Positives), fmt.Sprintf("%.3f", g.Accuracy)})
		}
		ew.printf("\n")
		writeAligned(ew, t, 3)
	}
	return ew.err
}

func (r *Report) table(ew *errWriter, title string, gs []Group, split bool) {
	if len(gs) == 0 {
		return
	}
	head := []string{title}
	if split {
		head = append(head, "split")
	}
	t := [][]string{append(head, "rows", "pos", "ROC-AUC", "95% CI", "PR-AUC", "precision", "recall", "F1")}
	for _, g := range gs {
		name := g.Name
		if name == "" {
			name = "(none)"
		}
		row := []string{name}
		if split {
			row = append(row, g.Split)
		}
		t = append(t, append(row, fmt.Sprint(g.Rows), fmt.Sprint(g.Positives), fmtOpt(g.ROCAUC), fmtCI(g.ROCAUCLow, g.ROCAUCHigh),
			fmtOpt(g.PRAUC), fmt.Sprintf("%.3f", g.Precision), fmt.Sprintf("%.3f", g.Recall), fmt.Sprintf("%.3f", g.F1)))
	}
	ew.printf("\n")
	writeAligned(ew, t, len(head))
}

// writeAligned writes rows as columns two spaces apart, the first left
// columns aligned left and the others right.
func writeAligned(ew *errWriter, rows [][]string, left int) {
	var width []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var sb strings.Builder
		for i, cell := range row {
			if i > 0 {
				sb.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i < left {
				sb.WriteString(cell)
				if i < len(row)-1 {
					sb.WriteString(pad)
				}
			} else {
				sb.WriteString(pad + cell)
			}
		}
		ew.printf("%s\n", sb.String())
	}
}

func fmtOpt(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *v)
}

func fmtCI(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "-"
	}
	return fmt.Sprintf("[%.4f, %.4f]", *lo, *hi)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
