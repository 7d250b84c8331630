// Package conformance runs ONNX backend test cases (a model.onnx with
// test_data_set_*/input_*.pb and output_*.pb) against the engine and compares
// the results with the expected outputs.
package conformance

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/ops"
)

// Status is the outcome of one case.
type Status string

// Case outcomes.
const (
	Passed      Status = "passed"
	Failed      Status = "failed"
	Unsupported Status = "unsupported"
)

// Tolerance bounds the accepted difference |got-want| <= Abs + Rel*|want|
// for floating-point outputs (numpy's allclose rule).
type Tolerance struct {
	Abs, Rel float64
}

// DefaultTolerance is the ONNX backend test default (rtol 1e-3, atol 1e-7).
var DefaultTolerance = Tolerance{Abs: 1e-7, Rel: 1e-3}

// OutputError summarises the comparison of one output.
type OutputError struct {
	Name   string  `json:"name"`
	MaxAbs float64 `json:"max_abs_error"`
	MaxRel float64 `json:"max_rel_error"`
}

// Result is the outcome of one case.
type Result struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Message  string        `json:"message,omitempty"`
	Ops      []string      `json:"ops,omitempty"`
	Outputs  []OutputError `json:"outputs,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Options tune a run.
type Options struct {
	Tolerance Tolerance
	Filter    *regexp.Regexp // keep cases whose name matches (nil: all)
	Workers   int            // intra-op workers per model (default 1)
	Timeout   time.Duration  // per case (default 60s)
}

//go:embed tolerances.txt
var tolerancesFile string

// caseTolerances holds the documented per-case overrides of tolerances.txt.
var caseTolerances = parseTolerances(tolerancesFile)

func parseTolerances(text string) map[string]Tolerance {
	m := map[string]Tolerance{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		name, vals, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var t Tolerance
		if _, err := fmt.Sscan(vals, &t.Abs, &t.Rel); err == nil {
			m[strings.TrimSpace(name)] = t
		}
	}
	return m
}

// Discover lists the case directories under dir (those holding model.onnx),
// or dir itself when it is a case.
func Discover(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err == nil {
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var cases []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(p, "model.onnx")); err == nil {
			cases = append(cases, p)
		}
	}
	sort.Strings(cases)
	return cases, nil
}

// RunAll runs every case under dir.
func RunAll(ctx context.Context, dir string, opt Options) ([]Result, error) {
	cases, err := Discover(dir)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, c := range cases {
		if opt.Filter != nil && !opt.Filter.MatchString(filepath.Base(c)) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return results, err
		}
		results = append(results, RunCase(ctx, c, opt))
	}
	return results, nil
}

// Summary counts results by status.
func Summary(results []Result) (passed, failed, unsupported int) {
	for _, r := range results {
		switch r.Status {
		case Passed:
			passed++
		case Failed:
			failed++
		case Unsupported:
			unsupported++
		}
	}
	return
}

// RunCase loads dir/model.onnx and runs every test_data_set_* in dir.
func RunCase(ctx context.Context, dir string, opt Options) (res Result) {
	start := time.Now()
	res.Name = filepath.Base(dir)
	defer func() {
		if r := recover(); r != nil {
			res.Status, res.Message = Failed, fmt.Sprintf("panic: %v", r)
		}
		res.Duration = time.Since(start)
	}()
	if opt.Tolerance == (Tolerance{}) {
		opt.Tolerance = DefaultTolerance
	}
	if t, ok := caseTolerances[res.Name]; ok {
		opt.Tolerance.Abs = math.Max(opt.Tolerance.Abs, t.Abs)
		opt.Tolerance.Rel = math.Max(opt.Tolerance.Rel, t.Rel)
	}
	if opt.Workers == 0 {
		opt.Workers = 1
	}
	if opt.Timeout == 0 {
		opt.Timeout = 60 * time.Second
	}
	modelPath := filepath.Join(dir, "model.onnx")
	b, err := os.ReadFile(modelPath)
	if err != nil {
		return fail(res, err)
	}
	if info, err := engine.Inspect(b); err == nil {
		for op := range info.OpTypes {
			res.Ops = append(res.Ops, op)
		}
		sort.Strings(res.Ops)
	}
	m, err := engine.LoadBytes(b, engine.WithBaseDir(dir), engine.WithWorkers(opt.Workers))
	if err != nil {
		var unsup *engine.UnsupportedError
		if errors.As(err, &unsup) {
			res.Status, res.Message = Unsupported, err.Error()
			return res
		}
		return fail(res, fmt.Errorf("load: %w", err))
	}
	defer m.Close()
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	sort.Strings(sets)
	if len(sets) == 0 {
		return fail(res, errors.New("no test_data_set_* folder"))
	}
	for _, set := range sets {
		outs, err := runSet(ctx, m, set, opt, &res)
		if err != nil {
			return fail(res, fmt.Errorf("%s: %w", filepath.Base(set), err))
		}
		res.Outputs = mergeErrors(res.Outputs, outs)
	}
	res.Status = Passed
	return res
}

func fail(res Result, err error) Result {
	res.Status, res.Message = Failed, err.Error()
	return res
}

func mergeErrors(acc, add []OutputError) []OutputError {
	if acc == nil {
		return add
	}
	for i := range acc {
		if i < len(add) {
			acc[i].MaxAbs = math.Max(acc[i].MaxAbs, add[i].MaxAbs)
			acc[i].MaxRel = math.Max(acc[i].MaxRel, add[i].MaxRel)
		}
	}
	return acc
}

func countFiles(set, prefix string) int {
	n := 0
	for {
		if _, err := os.Stat(filepath.Join(set, fmt.Sprintf("%s_%d.pb", prefix, n))); err != nil {
			return n
		}
		n++
	}
}

// bindInputs chooses the graph input each input file feeds, as the ONNX
// and onnxruntime test runners do: by the name stored in every file when
// all of them name a graph input, otherwise in order to the inputs that
// have no initializer (older exporters list weights among the inputs),
// and, when there are more files than such inputs, to all inputs in order.
func bindInputs(ins []engine.IOInfo, files [][]byte) ([]int, error) {
	slots := make([]int, len(files))
	byName := map[string]int{}
	for i, in := range ins {
		byName[in.Name] = i
	}
	named := len(files) > 0
	used := map[int]bool{}
	for i, b := range files {
		name := ""
		for _, in := range ins {
			if n := engine.ValueName(b, in.Type); n != "" {
				name = n
				break
			}
		}
		k, ok := byName[name]
		if !ok || used[k] {
			named = false
			break
		}
		slots[i], used[k] = k, true
	}
	if named {
		return slots, nil
	}
	var free []int
	for i, in := range ins {
		if !in.Optional {
			free = append(free, i)
		}
	}
	if len(files) > len(free) {
		free = free[:0]
		for i := range ins {
			free = append(free, i)
		}
	}
	for i := range files {
		slots[i] = free[i]
	}
	return slots, nil
}

// ReadInputs reads the input_*.pb files of a test data set folder and
// binds them to m's inputs as the test runners do (see bindInputs): the
// result is indexed like m.Inputs(), nil for inputs without a file.
func ReadInputs(m *engine.Model, set string) ([]ops.Value, error) {
	ins := m.Inputs()
	nIn := countFiles(set, "input")
	inputs := make([]ops.Value, len(ins))
	if nIn > len(ins) {
		return nil, fmt.Errorf("%d input files for %d model inputs", nIn, len(ins))
	}
	files := make([][]byte, nIn)
	for i := range files {
		b, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			return nil, err
		}
		files[i] = b
	}
	slots, err := bindInputs(ins, files)
	if err != nil {
		return nil, err
	}
	for i, b := range files {
		v, err := engine.DecodeValue(b, ins[slots[i]].Type)
		if err != nil {
			return nil, fmt.Errorf("input_%d.pb (bound to %q): %w", i, ins[slots[i]].Name, err)
		}
		inputs[slots[i]] = v
	}
	return inputs, nil
}

func runSet(ctx context.Context, m *engine.Model, set string, opt Options, res *Result) ([]OutputError, error) {
	inputs, err := ReadInputs(m, set)
	if err != nil {
		return nil, err
	}
	outs := m.Outputs()
	got := make([]ops.Value, len(outs))
	cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	if err := m.RunList(cctx, inputs, got); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	nOut := countFiles(set, "output")
	if nOut == 0 {
		// No onnxruntime outputs: compare with scikit-learn's own (sklearn.json).
		ref, err := loadSklearn(filepath.Dir(set))
		if err != nil {
			return nil, fmt.Errorf("no output files and no usable sklearn.json: %w", err)
		}
		errs := make([]OutputError, len(outs))
		for i, o := range outs {
			errs[i].Name = o.Name + " (vs scikit-learn)"
		}
		return errs, compareSklearn(ref, got, errs)
	}
	if nOut != len(outs) {
		return nil, fmt.Errorf("%d output files for %d model outputs", nOut, len(outs))
	}
	errs := make([]OutputError, len(outs))
	for i, o := range outs {
		b, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			return nil, err
		}
		want, err := engine.DecodeValue(b, o.Type)
		if err != nil {
			return nil, fmt.Errorf("output_%d.pb: %w", i, err)
		}
		errs[i].Name = o.Name
		if err := CompareValues(got[i], want, opt.Tolerance, &errs[i]); err != nil {
			return errs, fmt.Errorf("output %q: %w", o.Name, err)
		}
	}
	return errs, nil
}

// CompareValues checks got against want within tol, recording the largest
// errors in e (which may be nil).
func CompareValues(got, want ops.Value, tol Tolerance, e *OutputError) error {
	if e == nil {
		e = &OutputError{}
	}
	switch w := want.(type) {
	case *ops.Tensor:
		if o, ok := got.(*ops.Optional); ok && o.Elem != nil {
			got = o.Elem
		}
		g, ok := got.(*ops.Tensor)
		if !ok {
			return fmt.Errorf("got %T, want a tensor", got)
		}
		return CompareTensors(g, w, tol, e)
	case *ops.Sequence:
		if o, ok := got.(*ops.Optional); ok && o.Elem != nil {
			got = o.Elem
		}
		g, ok := got.(*ops.Sequence)
		if !ok {
			return fmt.Errorf("got %T, want a sequence", got)
		}
		if len(g.Values) != len(w.Values) {
			return fmt.Errorf("sequence has %d elements, want %d", len(g.Values), len(w.Values))
		}
		for i := range w.Values {
			if err := CompareValues(g.Values[i], w.Values[i], tol, e); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	case *ops.Optional:
		g, ok := got.(*ops.Optional)
		if !ok {
			if w.Elem == nil {
				return fmt.Errorf("got %T, want an empty optional", got)
			}
			return CompareValues(got, w.Elem, tol, e)
		}
		if (g.Elem == nil) != (w.Elem == nil) {
			return fmt.Errorf("optional presence differs: got %v, want %v", g.Elem != nil, w.Elem != nil)
		}
		if w.Elem == nil {
			return nil
		}
		return CompareValues(g.Elem, w.Elem, tol, e)
	case *ops.Map:
		g, ok := got.(*ops.Map)
		if !ok {
			return fmt.Errorf("got %T, want a map", got)
		}
		if g.Len() != w.Len() || g.KeyType != w.KeyType {
			return fmt.Errorf("map has %d %s keys, want %d %s keys", g.Len(), g.KeyType, w.Len(), w.KeyType)
		}
		return CompareTensors(g.Values, w.Values, tol, e)
	}
	return fmt.Errorf("cannot compare %T", want)
}

// CompareTensors checks dtype, shape and values.
func CompareTensors(got, want *ops.Tensor, tol Tolerance, e *OutputError) error {
	if e == nil {
		e = &OutputError{}
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %s, want %s", got.DType, want.DType)
	}
	if !ops.EqualShapes(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	switch w := want.Data.(type) {
	case []string:
		g := got.Data.([]string)
		for i := range w {
			if g[i] != w[i] {
				return fmt.Errorf("element %d: %q, want %q", i, g[i], w[i])
			}
		}
		return nil
	case []bool:
		g := got.Data.([]bool)
		for i := range w {
			if g[i] != w[i] {
				return fmt.Errorf("element %d: %v, want %v", i, g[i], w[i])
			}
		}
		return nil
	case []complex64, []complex128:
		return compareComplex(got, want, tol, e)
	}
	if _, raw := want.Data.([]uint8); raw || !want.DType.IsFloat() {
		// Integers, and the 8- and 4-bit float formats (stored as bit
		// patterns, produced by exact casts), compare exactly.
		g, err1 := got.AsInt64s()
		wv, err2 := want.AsInt64s()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("cannot compare %s values", want.DType)
		}
		for i := range wv {
			if g[i] != wv[i] {
				e.MaxAbs = math.Max(e.MaxAbs, math.Abs(float64(g[i]-wv[i])))
				return fmt.Errorf("element %d: %d, want %d", i, g[i], wv[i])
			}
		}
		return nil
	}
	g, err1 := got.AsFloat64s()
	wv, err2 := want.AsFloat64s()
	if err1 != nil || err2 != nil {
		return fmt.Errorf("cannot compare %s values", want.DType)
	}
	bad := -1
	for i := range wv {
		a, b := g[i], wv[i]
		if math.IsNaN(b) {
			if !math.IsNaN(a) {
				bad = firstBad(bad, i)
			}
			continue
		}
		if math.IsInf(b, 0) {
			if a != b {
				bad = firstBad(bad, i)
			}
			continue
		}
		d := math.Abs(a - b)
		if math.IsNaN(d) {
			bad = firstBad(bad, i)
			continue
		}
		e.MaxAbs = math.Max(e.MaxAbs, d)
		if b != 0 {
			e.MaxRel = math.Max(e.MaxRel, d/math.Abs(b))
		}
		if d > tol.Abs+tol.Rel*math.Abs(b) {
			bad = firstBad(bad, i)
		}
	}
	if bad >= 0 {
		return fmt.Errorf("element %d: %v, want %v (max abs error %.3g, max rel error %.3g)", bad, g[bad], wv[bad], e.MaxAbs, e.MaxRel)
	}
	return nil
}

func firstBad(bad, i int) int {
	if bad < 0 {
		return i
	}
	return bad
}

func compareComplex(got, want *ops.Tensor, tol Tolerance, e *OutputError) error {
	parts := func(t *ops.Tensor) []complex128 {
		switch d := t.Data.(type) {
		case []complex64:
			out := make([]complex128, len(d))
			for i, v := range d {
				out[i] = complex128(v)
			}
			return out
		case []complex128:
			return d
		}
		return nil
	}
	g, w := parts(got), parts(want)
	for i := range w {
		for _, pair := range [][2]float64{{real(g[i]), real(w[i])}, {imag(g[i]), imag(w[i])}} {
			d := math.Abs(pair[0] - pair[1])
			e.MaxAbs = math.Max(e.MaxAbs, d)
			if d > tol.Abs+tol.Rel*math.Abs(pair[1]) {
				return fmt.Errorf("element %d: %v, want %v", i, g[i], w[i])
			}
		}
	}
	return nil
}

// FormatSummary renders the closing line of a run.
func FormatSummary(results []Result) string {
	p, f, u := Summary(results)
	return fmt.Sprintf("conformance: %d passed, %d failed, %d unsupported of %d", p, f, u, len(results))
}

// OpTable aggregates results per operator: for each op, how many cases that
// use it passed, failed or were unsupported.
func OpTable(results []Result) map[string][3]int {
	table := map[string][3]int{}
	for _, r := range results {
		for _, op := range r.Ops {
			c := table[op]
			switch r.Status {
			case Passed:
				c[0]++
			case Failed:
				c[1]++
			case Unsupported:
				c[2]++
			}
			table[op] = c
		}
	}
	return table
}
