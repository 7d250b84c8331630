// Package train trains agate's linear text classifiers: sublinear TF-IDF
// over word and character n-grams plus a lexicon feature (package
// textfeat), and one L2-regularised logistic regression per category with
// balanced class weights, fitted with gonum's L-BFGS. A validation split,
// chosen by a hash of each text, is kept apart from the training rows; the
// regularisation of each category is picked on it. The same data and seed
// give the same model, bit for bit.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/agate-ml/agate/models/eval"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/textfeat"
	"github.com/agate-ml/agate/models/textlinear"
	"gonum.org/v1/gonum/optimize"
)

// Config configures a training run. Zero values take the documented
// defaults.
type Config struct {
	// Manifest lists the data; only sources with use "train" are read.
	Manifest *textdata.Manifest
	// DataDir is the folder source paths are relative to (default: the
	// manifest's data_dir).
	DataDir string
	// Featurizer is the featuriser to use, without vocabulary or lexicon
	// (default: DefaultFeaturizer).
	Featurizer *textfeat.Spec
	// Lexicon holds raw lexicon entries (normalised by the featuriser).
	Lexicon []string
	// Categories are the outputs in order (default: every category the
	// training sources label, "toxicity" first, the rest sorted).
	Categories []string
	// Seed chooses the validation split (default 1).
	Seed int64
	// ValidationFraction is the share of texts kept for validation
	// (default 0.2).
	ValidationFraction float64
	// MinDF drops features seen in fewer training texts (default 2).
	MinDF int
	// MaxFeatures keeps the most frequent features (default 250,000).
	MaxFeatures int
	// Cs are the inverse regularisation strengths tried per category
	// (default 0.5, 1, 2, 4, 8, 16).
	Cs []float64
	// MaxIterations caps L-BFGS iterations per fit (default 400).
	MaxIterations int
	// LanguageWeights multiplies the class weight of the rows of a
	// language (default 1 for every language).
	LanguageWeights map[string]float64
	// SourceWeights multiplies the class weight of the rows of a source
	// (default 1), on top of LanguageWeights.
	SourceWeights map[string]float64
	// Workers computes gradients in parallel (default 2). The result does
	// not depend on it.
	Workers int
	// Logf receives progress lines (nil: discarded).
	Logf func(format string, args ...any)
}

// DefaultFeaturizer returns the featuriser of agate's toxicity model:
// mojibake repaired, NFKC, lower case, placeholders for URLs and mentions,
// runs of more than two repeated characters collapsed, accents stripped
// (measured: +0.0065 ROC-AUC on the French superset, +0.01 on FTR, −0.02
// on MLMA; forum writers often omit accents), word 1–2-grams of words of
// two or more letters and character 2–5-grams within words.
func DefaultFeaturizer() *textfeat.Spec {
	return &textfeat.Spec{
		Format: textfeat.Format,
		Normalization: textfeat.Normalization{NFKC: true, Lowercase: true, StripAccents: true, CollapseRepeats: 2,
			URLToken: "_url_", MentionToken: "_user_", FixMojibake: true},
		WordNgrams: [2]int{1, 2}, MinWordRunes: 2, CharNgrams: [2]int{2, 5},
	}
}

// CategoryReport describes one category's fit.
type CategoryReport struct {
	Category string
	// TrainRows and ValidationRows count the labelled rows (positives in
	// brackets of the String form).
	TrainRows, TrainPositives           int
	ValidationRows, ValidationPositives int
	// ValidationAUC maps each C tried to the validation ROC-AUC.
	ValidationAUC map[float64]float64
	// C is the chosen regularisation.
	C float64
	// Threshold maximises F1 on the validation split; HighThreshold is the
	// lowest score reaching 90% precision there (or Threshold).
	Threshold, HighThreshold float64
	// Iterations and Status report the final L-BFGS fit.
	Iterations int
	Status     string
}

// SourceReport is the validation ROC-AUC of one source and category.
type SourceReport struct {
	Source, Language, Category string
	Rows, Positives            int
	AUC                        float64
}

// Result is a trained model and how it was trained.
type Result struct {
	Spec    *textfeat.Spec
	Weights *textlinear.Weights
	// Categories reports each output.
	Categories []CategoryReport
	// Sources reports validation AUC per source and category.
	Sources []SourceReport
	// TrainTexts and ValidationTexts count the texts of each split.
	TrainTexts, ValidationTexts int
	// Languages lists the training languages, sorted.
	Languages []string
	// Validation holds the validation examples (for evaluation reports).
	Validation []textdata.Example
}

func (c *Config) defaults() {
	if c.Featurizer == nil {
		c.Featurizer = DefaultFeaturizer()
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.ValidationFraction <= 0 {
		c.ValidationFraction = 0.2
	}
	if c.MinDF <= 0 {
		c.MinDF = 2
	}
	if c.MaxFeatures <= 0 {
		c.MaxFeatures = 250_000
	}
	if len(c.Cs) == 0 {
		c.Cs = []float64{0.5, 1, 2, 4, 8, 16}
	}
	if c.MaxIterations <= 0 {
		c.MaxIterations = 400
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.DataDir == "" && c.Manifest != nil {
		c.DataDir = c.Manifest.DataDir
	}
}

// Load reads the manifest's training sources, refusing any whose licence
// does not allow shipping the model, and splits them into training and
// validation examples.
func Load(c *Config) (trainSet, validation []textdata.Example, err error) {
	if c.Manifest == nil {
		return nil, nil, errors.New("train: no data manifest")
	}
	for i := range c.Manifest.Sources {
		s := &c.Manifest.Sources[i]
		if s.Use != textdata.UseTrain {
			continue
		}
		if err := s.CheckShippable(); err != nil {
			return nil, nil, fmt.Errorf("train: %w", err)
		}
		rows, err := s.Read(c.DataDir)
		if err != nil {
			return nil, nil, fmt.Errorf("train: %w", err)
		}
		for _, ex := range rows {
			if textdata.InValidation(ex.Text, c.Seed, c.ValidationFraction) {
				validation = append(validation, ex)
			} else {
				trainSet = append(trainSet, ex)
			}
		}
	}
	if len(trainSet) == 0 {
		return nil, nil, errors.New("train: the manifest has no training rows")
	}
	return trainSet, validation, nil
}

// Train fits the model described by c.
func Train(ctx context.Context, c Config) (*Result, error) {
	c.defaults()
	trainSet, validation, err := Load(&c)
	if err != nil {
		return nil, err
	}
	c.Logf("data: %d training texts, %d validation texts", len(trainSet), len(validation))
	cats := c.Categories
	if len(cats) == 0 {
		cats = categoriesOf(trainSet)
	}
	spec := *c.Featurizer
	spec.Format = textfeat.Format
	spec.Vocabulary = nil
	spec.Lexicon = spec.NormalizeLexicon(c.Lexicon)
	vocab, df, err := buildVocabulary(ctx, &spec, trainSet, c.MinDF, c.MaxFeatures)
	if err != nil {
		return nil, err
	}
	spec.Vocabulary = vocab
	c.Logf("vocabulary: %d features (min df %d, cap %d), lexicon %d entries", len(vocab), c.MinDF, c.MaxFeatures, len(spec.Lexicon))
	feat, err := textfeat.New(&spec)
	if err != nil {
		return nil, err
	}
	n := float64(len(trainSet))
	idf := make([]float64, len(vocab)+1)
	for i := range vocab {
		idf[i+1] = math.Log((1+n)/(1+float64(df[i]))) + 1
	}
	xTrain := vectorize(feat, idf, trainSet)
	xVal := vectorize(feat, idf, validation)
	res := &Result{Spec: &spec, TrainTexts: len(trainSet), ValidationTexts: len(validation),
		Languages: languagesOf(trainSet), Validation: validation}
	w := &textlinear.Weights{Labels: cats, IDF: make([]float32, len(idf)), Bias: make([]float32, len(cats)), Lexicon: make([]float32, len(cats))}
	for i, v := range idf {
		w.IDF[i] = float32(v)
	}
	w.Weights = make([][]float32, len(idf))
	for i := range w.Weights {
		w.Weights[i] = make([]float32, len(cats))
	}
	for k, cat := range cats {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep, coef, bias, err := fitCategory(ctx, &c, cat, len(idf)+1, trainSet, xTrain, validation, xVal)
		if err != nil {
			return nil, err
		}
		for i := range idf {
			w.Weights[i][k] = float32(coef[i])
		}
		w.Lexicon[k] = float32(coef[len(idf)])
		w.Bias[k] = float32(bias)
		res.Categories = append(res.Categories, rep)
		res.Sources = append(res.Sources, sourceReports(cat, validation, xVal, coef, bias)...)
	}
	res.Weights = w
	return res, nil
}

// categoriesOf lists the categories the examples label: toxicity first.
func categoriesOf(exs []textdata.Example) []string {
	seen := map[string]bool{}
	for i := range exs {
		for cat := range exs[i].Labels {
			seen[cat] = true
		}
	}
	var out []string
	for cat := range seen {
		if cat != "toxicity" {
			out = append(out, cat)
		}
	}
	sort.Strings(out)
	if seen["toxicity"] {
		out = append([]string{"toxicity"}, out...)
	}
	return out
}

func languagesOf(exs []textdata.Example) []string {
	var out []string
	for i := range exs {
		if l := exs[i].Lang; l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// buildVocabulary counts in how many training texts each feature key
// occurs and keeps the maxFeatures most frequent of those seen at least
// minDF times (ties by key), sorted by key; it returns their document
// frequencies in vocabulary order.
func buildVocabulary(ctx context.Context, spec *textfeat.Spec, exs []textdata.Example, minDF, maxFeatures int) ([]string, []int32, error) {
	counter, err := textfeat.New(spec)
	if err != nil {
		return nil, nil, err
	}
	df := map[string]int32{}
	seen := map[string]bool{}
	var key []byte
	for i := range exs {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		clear(seen)
		counter.VisitKeys(exs[i].Text, func(o textfeat.Occurrence) {
			if o.Lexicon() {
				return
			}
			key = o.AppendKey(key[:0])
			if !seen[string(key)] {
				k := string(key)
				seen[k] = true
				df[k]++
			}
		})
	}
	type kv struct {
		key string
		df  int32
	}
	var keep []kv
	for k, v := range df {
		if int(v) >= minDF {
			keep = append(keep, kv{k, v})
		}
	}
	sort.Slice(keep, func(a, b int) bool {
		if keep[a].df != keep[b].df {
			return keep[a].df > keep[b].df
		}
		return keep[a].key < keep[b].key
	})
	if len(keep) > maxFeatures {
		keep = keep[:maxFeatures]
	}
	sort.Slice(keep, func(a, b int) bool { return keep[a].key < keep[b].key })
	vocab := make([]string, len(keep))
	dfs := make([]int32, len(keep))
	for i, e := range keep {
		vocab[i], dfs[i] = e.key, e.df
	}
	return vocab, dfs, nil
}

// sparse is a CSR matrix of L2-normalised TF-IDF rows.
type sparse struct {
	rowPtr []int
	col    []int32
	val    []float32
}

func (m *sparse) row(i int) ([]int32, []float32) {
	return m.col[m.rowPtr[i]:m.rowPtr[i+1]], m.val[m.rowPtr[i]:m.rowPtr[i+1]]
}

// vectorize computes the rows the ONNX graph computes, in float64 then
// rounded to float32; log(1 + lexicon hits) is column len(idf).
func vectorize(f *textfeat.Featurizer, idf []float64, exs []textdata.Example) *sparse {
	lexCol := int32(len(idf))
	m := &sparse{rowPtr: make([]int, 1, len(exs)+1)}
	var fs textfeat.Features
	var x []float64
	for i := range exs {
		fs = f.Featurize(exs[i].Text, fs)
		x = x[:0]
		var ss float64
		for j, id := range fs.IDs {
			v := (1 + math.Log(float64(fs.Counts[j]))) * idf[id]
			x = append(x, v)
			ss += v * v
		}
		norm := math.Max(math.Sqrt(ss), 1e-12)
		for j, id := range fs.IDs {
			m.col = append(m.col, int32(id))
			m.val = append(m.val, float32(x[j]/norm))
		}
		if fs.Lexicon > 0 {
			m.col = append(m.col, lexCol)
			m.val = append(m.val, float32(math.Log1p(float64(fs.Lexicon))))
		}
		m.rowPtr = append(m.rowPtr, len(m.col))
	}
	return m
}

// problem is one category's weighted logistic loss over labelled rows.
type problem struct {
	x       *sparse
	rows    []int     // rows of x with a label
	y       []float64 // 0 or 1 per rows entry
	weight  []float64 // balanced class weight per rows entry
	dim     int       // features (bias is the last coordinate)
	invC    float64
	workers int
	// cache of the last evaluation
	mu       sync.Mutex
	lastX    []float64
	lastF    float64
	lastGrad []float64
	partial  [][]float64
}

func (p *problem) eval(w []float64) (float64, []float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastX != nil && slices.Equal(p.lastX, w) {
		return p.lastF, p.lastGrad
	}
	// The rows are cut into a fixed number of parts whose gradients are
	// summed in order, so the result does not depend on the workers.
	if p.partial == nil {
		p.partial = make([][]float64, gradientParts)
		for i := range p.partial {
			p.partial[i] = make([]float64, p.dim+1)
		}
	}
	losses := make([]float64, gradientParts)
	chunk := (len(p.rows) + gradientParts - 1) / gradientParts
	next := make(chan int, gradientParts)
	for t := range gradientParts {
		next <- t
	}
	close(next)
	var wg sync.WaitGroup
	for range min(p.workers, gradientParts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				losses[t] = p.partGradient(w, t*chunk, min(len(p.rows), (t+1)*chunk), p.partial[t])
			}
		}()
	}
	wg.Wait()
	nw := gradientParts
	grad := make([]float64, p.dim+1)
	var f float64
	for t := range nw {
		f += losses[t]
		for i, v := range p.partial[t] {
			grad[i] += v
		}
	}
	for i := 0; i < p.dim; i++ {
		f += 0.5 * p.invC * w[i] * w[i]
		grad[i] += p.invC * w[i]
	}
	p.lastX = append(p.lastX[:0], w...)
	p.lastF, p.lastGrad = f, grad
	return f, grad
}

// gradientParts is the number of row ranges whose gradients are computed
// separately and summed in order.
const gradientParts = 8

// partGradient writes the loss gradient of rows[lo:hi] into g and returns
// their loss.
func (p *problem) partGradient(w []float64, lo, hi int, g []float64) float64 {
	clear(g)
	bias := w[p.dim]
	var loss float64
	for r := max(lo, 0); r < hi; r++ {
		cols, vals := p.x.row(p.rows[r])
		z := bias
		for j, c := range cols {
			z += w[c] * float64(vals[j])
		}
		y, c := p.y[r], p.weight[r]
		// log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0
		s := z
		if y == 1 {
			s = -z
		}
		loss += c * softplus(s)
		d := c * (sigmoid(z) - y)
		for j, col := range cols {
			g[col] += d * float64(vals[j])
		}
		g[p.dim] += d
	}
	return loss
}

func softplus(s float64) float64 {
	if s > 0 {
		return s + math.Log1p(math.Exp(-s))
	}
	return math.Log1p(math.Exp(s))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// labelled returns the rows of exs that label cat, with their labels.
func labelled(exs []textdata.Example, cat string) (rows []int, y []int8) {
	for i := range exs {
		if l, ok := exs[i].Label(cat); ok {
			rows = append(rows, i)
			y = append(y, l)
		}
	}
	return rows, y
}

// solve minimises the weighted logistic loss with L-BFGS from zero and
// returns the coefficients (bias last).
func (p *problem) solve(ctx context.Context, c *Config, y []int8, rowWeight []float64) ([]float64, int, string, error) {
	var pos float64
	for _, l := range y {
		if l == 1 {
			pos++
		}
	}
	n := float64(len(y))
	if pos == 0 || pos == n {
		return nil, 0, "", fmt.Errorf("train: category has only one class in the training split")
	}
	wPos, wNeg := n/(2*pos), n/(2*(n-pos))
	p.y = make([]float64, len(y))
	p.weight = make([]float64, len(y))
	for i, l := range y {
		p.y[i] = float64(l)
		p.weight[i] = wNeg
		if l == 1 {
			p.weight[i] = wPos
		}
		if rowWeight != nil {
			p.weight[i] *= rowWeight[i]
		}
	}
	prob := optimize.Problem{
		Func: func(w []float64) float64 { f, _ := p.eval(w); return f },
		Grad: func(grad, w []float64) {
			_, g := p.eval(w)
			copy(grad, g)
		},
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		MajorIterations:   c.MaxIterations,
		GradientThreshold: 1e-4,
		Converger:         &optimize.FunctionConverge{Relative: 1e-9, Iterations: 20},
	}
	res, err := optimize.Minimize(prob, make([]float64, p.dim+1), settings, &optimize.LBFGS{Store: 15})
	if err != nil && res == nil {
		return nil, 0, "", fmt.Errorf("train: L-BFGS: %w", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, 0, "", cerr
	}
	return res.X, res.Stats.MajorIterations, res.Status.String(), nil
}

// scores returns the logits of rows of x under (coef, bias).
func scores(x *sparse, rows []int, coef []float64, bias float64) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		cols, vals := x.row(r)
		z := bias
		for j, c := range cols {
			z += coef[c] * float64(vals[j])
		}
		out[i] = z
	}
	return out
}

// fitCategory fits cat for every C, keeps the best on validation ROC-AUC
// and returns its report, nFeat coefficients (per column) and bias.
func fitCategory(ctx context.Context, c *Config, cat string, nFeat int, trainSet []textdata.Example, xTrain *sparse, validation []textdata.Example, xVal *sparse) (CategoryReport, []float64, float64, error) {
	rows, y := labelled(trainSet, cat)
	vrows, vy := labelled(validation, cat)
	var langWeight []float64
	if len(c.LanguageWeights) > 0 || len(c.SourceWeights) > 0 {
		langWeight = make([]float64, len(rows))
		for i, r := range rows {
			langWeight[i] = 1
			if w, ok := c.LanguageWeights[trainSet[r].Lang]; ok {
				langWeight[i] = w
			}
			if w, ok := c.SourceWeights[trainSet[r].Source]; ok {
				langWeight[i] *= w
			}
		}
	}
	rep := CategoryReport{Category: cat, TrainRows: len(rows), ValidationRows: len(vrows), ValidationAUC: map[float64]float64{}}
	for _, l := range y {
		rep.TrainPositives += int(l)
	}
	for _, l := range vy {
		rep.ValidationPositives += int(l)
	}
	var best []float64
	bestAUC := math.Inf(-1)
	for _, C := range c.Cs {
		p := &problem{x: xTrain, rows: rows, dim: nFeat, invC: 1 / C, workers: c.Workers}
		w, iters, status, err := p.solve(ctx, c, y, langWeight)
		if err != nil {
			return rep, nil, 0, fmt.Errorf("category %s: %w", cat, err)
		}
		auc := math.NaN()
		if len(vrows) > 0 {
			auc, _ = eval.ROCAUC(scores(xVal, vrows, w[:nFeat], w[nFeat]), vy)
		}
		rep.ValidationAUC[C] = auc
		c.Logf("%s: C=%g validation ROC-AUC %.4f (%d iterations, %s)", cat, C, auc, iters, status)
		if auc > bestAUC || best == nil {
			best, bestAUC, rep.C, rep.Iterations, rep.Status = w, auc, C, iters, status
		}
	}
	coef, bias := best[:nFeat], best[nFeat]
	if len(vrows) > 0 {
		s := scores(xVal, vrows, coef, bias)
		for i := range s {
			s[i] = sigmoid(s[i])
		}
		rep.Threshold, _ = eval.BestF1Threshold(s, vy)
		rep.HighThreshold = precisionThreshold(s, vy, 0.9, rep.Threshold)
	}
	return rep, coef, bias, nil
}

// precisionThreshold is the lowest score at which precision reaches
// target (at least def).
func precisionThreshold(s []float64, y []int8, target, def float64) float64 {
	idx := make([]int, len(s))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s[idx[a]] > s[idx[b]] })
	tp, fp := 0, 0
	best := math.Inf(1)
	for _, i := range idx {
		if y[i] == 1 {
			tp++
		} else {
			fp++
		}
		if float64(tp)/float64(tp+fp) >= target {
			best = s[i]
		}
	}
	if math.IsInf(best, 1) || best < def {
		return def
	}
	return best
}

// sourceReports gives the validation AUC of every (source, language) for
// cat.
func sourceReports(cat string, validation []textdata.Example, xVal *sparse, coef []float64, bias float64) []SourceReport {
	type key struct{ src, lang string }
	groups := map[key][]int{}
	var keys []key
	for i := range validation {
		if _, ok := validation[i].Label(cat); !ok {
			continue
		}
		k := key{validation[i].Source, validation[i].Lang}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].src != keys[b].src {
			return keys[a].src < keys[b].src
		}
		return keys[a].lang < keys[b].lang
	})
	var out []SourceReport
	for _, k := range keys {
		rows := groups[k]
		y := make([]int8, len(rows))
		pos := 0
		for i, r := range rows {
			y[i], _ = validation[r].Label(cat)
			pos += int(y[i])
		}
		auc, _ := eval.ROCAUC(scores(xVal, rows, coef, bias), y)
		out = append(out, SourceReport{Source: k.src, Language: k.lang, Category: cat, Rows: len(rows), Positives: pos, AUC: auc})
	}
	return out
}

// String summarises a category report.
func (r CategoryReport) String() string {
	var cs []string
	keys := make([]float64, 0, len(r.ValidationAUC))
	for c := range r.ValidationAUC {
		keys = append(keys, c)
	}
	sort.Float64s(keys)
	for _, c := range keys {
		cs = append(cs, fmt.Sprintf("C=%g: %.4f", c, r.ValidationAUC[c]))
	}
	return fmt.Sprintf("%s: train %d (%d positive), validation %d (%d positive); validation ROC-AUC %s; chose C=%g, threshold %.3f",
		r.Category, r.TrainRows, r.TrainPositives, r.ValidationRows, r.ValidationPositives, strings.Join(cs, ", "), r.C, r.Threshold)
}
