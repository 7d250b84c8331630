package eval

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agate-ml/agate/models/textdata"
)

func TestReportBootstrapROCAUCMatchesBootstrap(t *testing.T) {
	for _, n := range []int{2, 5, 40, 301} {
		scores, labels := noisy(n)
		for _, seed := range []uint64{1, 2, 99} {
			want := Bootstrap(scores, labels, 200, seed, ROCAUC)
			got := BootstrapROCAUC(scores, labels, 200, seed)
			same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
			if !same(got.Low, want.Low) || !same(got.High, want.High) {
				t.Errorf("n=%d seed=%d: BootstrapROCAUC = %v, Bootstrap(ROCAUC) = %v", n, seed, got, want)
			}
		}
	}
}

func TestReportPercentAndThreshold(t *testing.T) {
	for _, tc := range []struct {
		p, threshold float64
		want         bool
	}{
		{0.43, 43, true},
		{0.42994, 43, false},  // 42.99
		{0.429951, 43, true},  // rounds to 43.00, as the service's score does
		{0.4294, 42.94, true}, // the threshold is reached, not exceeded
		{0, 0, true},
		{1, 100, true},
		{0.99999, 100, true}, // 100.00 after rounding
		{0.9999, 100, false}, // 99.99
	} {
		if got := AtThreshold(tc.p, tc.threshold); got != tc.want {
			t.Errorf("AtThreshold(%v, %v) = %v (Percent %v), want %v", tc.p, tc.threshold, got, Percent(tc.p), tc.want)
		}
	}
}

func example(text, lang, group string, labels map[string]int8) textdata.Example {
	return textdata.Example{Text: text, Lang: lang, Group: group, Labels: labels, File: "f.csv"}
}

func TestReportSelectValidationSplit(t *testing.T) {
	const seed, frac = 3, 0.3
	var exs []textdata.Example
	for i := range 400 {
		labels := map[string]int8{"toxicity": int8(i % 2)}
		if i%10 == 0 {
			labels = map[string]int8{"hate": 1} // not labelled for toxicity
		}
		exs = append(exs, example(fmt.Sprintf("text number %d", i), "fr", "", labels))
	}
	wantVal, wantTrained, wantLabelledVal := 0, 0, 0
	for i, ex := range exs {
		in := textdata.InValidation(ex.Text, seed, frac)
		if !in {
			wantTrained++
		}
		if in && i%10 != 0 {
			wantLabelledVal++
		}
		if in {
			wantVal++
		}
	}
	if wantLabelledVal == 0 || wantTrained == 0 {
		t.Fatalf("degenerate split: %d validation, %d trained", wantLabelledVal, wantTrained)
	}
	split := ValidationSplit{Seed: seed, Fraction: frac}
	for _, tc := range []struct {
		use       string
		wantRows  int
		wantSplit string
	}{
		{textdata.UseTrain, wantLabelledVal, SplitValidation},
		{"", wantLabelledVal, SplitValidation}, // the default use is train
		{textdata.UseEval, 360, SplitEval},
		{textdata.UseFunctional, 360, SplitFunctional},
	} {
		t.Run(tc.use, func(t *testing.T) {
			src := &textdata.Source{Name: "s", Path: "f.csv", Use: tc.use}
			rows, sum := Select(src, exs, "toxicity", split)
			if len(rows) != tc.wantRows || sum.Evaluated != tc.wantRows {
				t.Fatalf("kept %d rows (summary %d), want %d", len(rows), sum.Evaluated, tc.wantRows)
			}
			if sum.Read != 400 || sum.Labelled != 360 {
				t.Errorf("read %d labelled %d, want 400 and 360", sum.Read, sum.Labelled)
			}
			for _, r := range rows {
				if r.Split != tc.wantSplit {
					t.Fatalf("row split %q, want %q", r.Split, tc.wantSplit)
				}
				if tc.wantSplit == SplitValidation && !textdata.InValidation(r.Text, seed, frac) {
					t.Fatalf("kept a training row: %q", r.Text)
				}
			}
			if tc.wantSplit == SplitValidation && sum.Trained != wantTrained {
				t.Errorf("trained %d, want %d", sum.Trained, wantTrained)
			}
			if tc.wantSplit != SplitValidation && sum.Trained != 0 {
				t.Errorf("trained %d for a %s source", sum.Trained, tc.use)
			}
		})
	}
	// another seed selects other rows
	rows1, _ := Select(&textdata.Source{Name: "s"}, exs, "toxicity", split)
	rows2, _ := Select(&textdata.Source{Name: "s"}, exs, "toxicity", ValidationSplit{Seed: seed + 1, Fraction: frac})
	if reflect.DeepEqual(rows1, rows2) {
		t.Error("seeds 3 and 4 select the same validation rows")
	}
}

func TestReportLoadManifest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var train strings.Builder
	train.WriteString("text,label\n")
	for i := range 200 {
		fmt.Fprintf(&train, "training text %d,%d\n", i, i%2)
	}
	write("train.csv", train.String())
	// The eval file repeats two texts of the training file (one of them
	// with other spacing and case); HateCheck-like cases carry a group.
	split := ValidationSplit{Seed: 1, Fraction: 0.2}
	var trainedTexts []string
	for i := range 200 {
		s := fmt.Sprintf("training text %d", i)
		if !textdata.InValidation(s, split.Seed, split.Fraction) {
			trainedTexts = append(trainedTexts, s)
		}
	}
	write("eval.csv", "text,label\nfresh one,1\nfresh two,0\n"+trainedTexts[0]+",1\n"+strings.ToUpper(strings.ReplaceAll(trainedTexts[1], " ", "  "))+",0\n")
	write("func.csv", "case,gold,functionality\nI hate them,hateful,derog\nI love them,non-hateful,positive\nthey are vermin,hateful,derog\n")
	write("data.yaml", `data_dir: .
sources:
  - name: tr
    path: train.csv
    licence: MIT
    language: fr
    labels: {toxicity: {column: label, positive: ["1"]}}
  - name: ev
    use: eval
    path: eval.csv
    licence: research-only
    language: en
    labels: {toxicity: {column: label, positive: ["1"]}}
  - name: fn
    use: functional
    path: func.csv
    licence: CC-BY-4.0
    language: fr
    text_column: case
    group_column: functionality
    labels: {toxicity: {column: gold, positive: [hateful]}}
`)
	m, err := textdata.ReadManifest(filepath.Join(dir, "data.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := LoadManifest(m, "", "toxicity", split, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Sources) != 3 {
		t.Fatalf("%d sources, want 3", len(ds.Sources))
	}
	tr, ev, fn := ds.Sources[0], ds.Sources[1], ds.Sources[2]
	if tr.Read != 200 || tr.Trained != len(trainedTexts) || tr.Evaluated != 200-len(trainedTexts) {
		t.Errorf("train source: %+v; want 200 read, %d trained", tr, len(trainedTexts))
	}
	if ev.Evaluated != 4 || ev.InTraining != 2 {
		t.Errorf("eval source: evaluated %d, in training %d; want 4 and 2", ev.Evaluated, ev.InTraining)
	}
	if fn.Evaluated != 3 || fn.InTraining != 0 {
		t.Errorf("functional source: %+v", fn)
	}
	if ds.TrainLanguages["fr"] != len(trainedTexts) {
		t.Errorf("training languages %v, want fr: %d", ds.TrainLanguages, len(trainedTexts))
	}
	groups := map[string]int{}
	for _, r := range ds.Rows {
		if r.Source == "fn" {
			groups[r.Group]++
		} else if r.Group != "" {
			t.Errorf("row of %s has group %q", r.Source, r.Group)
		}
	}
	if !reflect.DeepEqual(groups, map[string]int{"derog": 2, "positive": 1}) {
		t.Errorf("groups %v", groups)
	}

	// Only one source evaluated: the training file is still read for overlaps.
	ds, err = LoadManifest(m, "", "toxicity", split, []string{"ev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Sources) != 1 || ds.Sources[0].Name != "ev" || ds.Sources[0].InTraining != 2 || len(ds.Rows) != 4 {
		t.Errorf("--sources ev: %+v, %d rows", ds.Sources, len(ds.Rows))
	}
	if _, err := LoadManifest(m, "", "toxicity", split, []string{"nope"}); err == nil {
		t.Error("an unknown source gave no error")
	}
	os.Remove(filepath.Join(dir, "func.csv"))
	if _, err := LoadManifest(m, "", "toxicity", split, nil); err == nil || !strings.Contains(err.Error(), "func.csv") {
		t.Errorf("missing file: %v", err)
	}
}

// syntheticRows builds scored rows over two sources, three languages and
// a functional source with groups.
func syntheticRows() []Row {
	var rows []Row
	add := func(src, file, lang, group, split string, n int, shift float64) {
		for i := range n {
			label := int8(i % 2)
			score := math.Mod(float64(i)*0.37, 1) * 0.6
			if label == 1 {
				score += shift
			}
			rows = append(rows, Row{Source: src, File: file, Lang: lang, Group: group, Split: split, Label: label,
				Score: score, Positive: AtThreshold(score, 50)})
		}
	}
	add("b-src", "b.csv", "fr", "", SplitValidation, 60, 0.3)
	add("a-src", "a.csv", "en", "", SplitValidation, 40, 0.1)
	add("a-src", "a.csv", "es", "", SplitValidation, 20, 0.4)
	add("sup", "sup.csv", "fr", "", SplitEval, 30, 0.2)
	for i, g := range []string{"slur", "negation"} {
		for k := range 6 {
			label := int8(1 - i) // slur cases hateful, negation cases not
			score := 0.2 + 0.1*float64(k)
			rows = append(rows, Row{Source: "mhc", File: "mhc.csv", Lang: "fr", Group: g, Split: SplitFunctional,
				Label: label, Score: score, Positive: AtThreshold(score, 50)})
		}
	}
	return rows
}

func TestReportBuildGroups(t *testing.T) {
	rows := syntheticRows()
	r := Build(rows, Options{Resamples: 200, Seed: 5})
	names := func(gs []Group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.Split+"/"+g.Name)
		}
		return out
	}
	if got, want := names(r.Splits), []string{"validation/validation", "eval/eval", "functional/functional"}; !reflect.DeepEqual(got, want) {
		t.Errorf("splits %v, want %v", got, want)
	}
	// sources in order of appearance
	if got, want := names(r.Sources), []string{"validation/b-src", "validation/a-src", "eval/sup", "functional/mhc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sources %v, want %v", got, want)
	}
	// languages by split, then name
	if got, want := names(r.Languages), []string{"validation/en", "validation/es", "validation/fr", "eval/fr", "functional/fr"}; !reflect.DeepEqual(got, want) {
		t.Errorf("languages %v, want %v", got, want)
	}
	if got, want := names(r.Groups), []string{"functional/negation", "functional/slur"}; !reflect.DeepEqual(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
	// Each group's metrics are those of its rows.
	check := func(what string, g Metrics, keep func(*Row) bool) {
		t.Helper()
		var sub []Row
		for i := range rows {
			if keep(&rows[i]) {
				sub = append(sub, rows[i])
			}
		}
		want := Summarize(sub, Options{Resamples: 200, Seed: 5})
		if !reflect.DeepEqual(g, want) {
			t.Errorf("%s: %+v, want %+v", what, g, want)
		}
		if g.Rows != len(sub) || g.Rows == 0 {
			t.Errorf("%s: %d rows, want %d", what, g.Rows, len(sub))
		}
	}
	check("overall", r.Overall, func(*Row) bool { return true })
	check("a-src", r.Sources[1].Metrics, func(x *Row) bool { return x.Source == "a-src" })
	check("validation/fr", r.Languages[2].Metrics, func(x *Row) bool { return x.Split == SplitValidation && x.Lang == "fr" })
	check("a.csv", r.Files[1].Metrics, func(x *Row) bool { return x.File == "a.csv" })
	check("slur", r.Groups[1].Metrics, func(x *Row) bool { return x.Group == "slur" })

	// Hand-checked values: the slur cases (all hateful) score .2-.7, three
	// reach 50: accuracy 1/2; the negation cases (none hateful) likewise.
	slur := r.Groups[1]
	if slur.Rows != 6 || slur.Positives != 6 || slur.TP != 3 || slur.FN != 3 || slur.Accuracy != 0.5 || slur.ROCAUC != nil {
		t.Errorf("slur: %+v", slur.Metrics)
	}
	ov := r.Overall
	scores := make([]float64, len(rows))
	labels := make([]int8, len(rows))
	for i := range rows {
		scores[i], labels[i] = rows[i].Score, rows[i].Label
	}
	auc, _ := ROCAUC(scores, labels)
	if ov.ROCAUC == nil || *ov.ROCAUC != auc {
		t.Errorf("overall ROC-AUC %v, want %v", ov.ROCAUC, auc)
	}
	if ov.ROCAUCLow == nil || !(*ov.ROCAUCLow < auc && auc < *ov.ROCAUCHigh) {
		t.Errorf("overall interval [%v, %v] does not contain %v", ov.ROCAUCLow, ov.ROCAUCHigh, auc)
	}
	c := ConfusionAt(percents(scores), labels, 50)
	if ov.TP != c.TP || ov.FP != c.FP || ov.TN != c.TN || ov.FN != c.FN || ov.F1 != c.F1() {
		t.Errorf("overall confusion %+v, want %+v", ov, c)
	}

	// Deterministic, whatever the parallelism.
	r1 := Build(rows, Options{Resamples: 200, Seed: 5, Workers: 1})
	if !reflect.DeepEqual(r, r1) {
		t.Error("Build differs between 1 worker and GOMAXPROCS workers")
	}
	if r2 := Build(rows, Options{Resamples: 200, Seed: 6}); reflect.DeepEqual(r.Overall, r2.Overall) {
		t.Error("bootstrap seeds 5 and 6 give the same overall metrics")
	}
	if r3 := Build(rows, Options{Resamples: -1}); r3.Overall.ROCAUCLow != nil || r3.Resamples != 0 {
		t.Errorf("no resamples: interval %v, resamples %d", r3.Overall.ROCAUCLow, r3.Resamples)
	}
}

func percents(ps []float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = Percent(p)
	}
	return out
}

func TestReportWriteTableAndCard(t *testing.T) {
	r := Build(syntheticRows(), Options{Resamples: 100})
	r.Model = ModelInfo{Name: "m", Version: "3", From: "embedded"}
	r.Category, r.Threshold, r.ThresholdSource = "toxicity", 50, "the model's thresholds.medium"
	r.Split = &ValidationSplit{Seed: 1, Fraction: 0.2, From: "training.json"}
	r.Data = []SourceSummary{{Name: "sup", Use: "eval", Licence: "research-only", Evaluated: 30, InTraining: 2}}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"m 3 (embedded)", "50/100 = 0.5", "seed 1, fraction 0.2", "ROC-AUC", "b-src", "negation",
		"sup: evaluated rows that are also training rows: 2 of 30", fmt.Sprintf("%.4f", *r.Overall.ROCAUC)} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	card := &Card{Name: "m", Version: "3", Labels: []string{"toxicity", "hate"}, Categories: map[string]string{"toxicity": "toxicity", "hate": "hate"},
		Languages: []string{"fr", "en"}, ThresholdMedium: 50, ThresholdHigh: 80, Vocabulary: 12345, LexiconEntries: 10,
		Training:       []TrainingSource{{Source: "b-src", Path: "data/b.csv", Licence: "MIT", Origin: "a|b", Rows: 1000, Trained: 800, Validation: 200}},
		TrainLanguages: map[string]int{"en": 700, "fr": 300}, Report: r, Reproduce: []string{"agate eval --card x.md"}}
	if err := WriteCard(&buf, card); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{"# Model card: m (version 3)", "12,345 n-gram features", "| b-src | `data/b.csv` | MIT | a\\|b | 1,000 | 800 | 200 |",
		"en 700 (70%), fr 300 (30%)", "## Validation results", "| a-src | 60 |", "## Evaluation-only data", "| sup | research-only |",
		"sup is research-licensed", "| mhc | slur | 6 | 6 | 0.500 |", "## Known limits", "Sarcasm", "agate eval --card x.md",
		"2 of the 30 evaluated rows of sup also appear"} {
		if !strings.Contains(md, want) {
			t.Errorf("card lacks %q:\n%s", want, md)
		}
	}
}
