// Package engine loads ONNX models, plans their graphs once and runs them.
//
// A Model is created by LoadFile, LoadBytes or LoadReader. Loading decodes
// the ModelProto with agate's own protobuf types (every tensor type, external
// data, opset imports per domain, symbolic dimensions, subgraphs and
// model-local functions), checks that every operator is implemented (all
// missing ones are listed in one error), sorts the graph topologically,
// removes dead nodes, folds constants and builds one kernel per node.
// Model.Run is safe for concurrent use.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/agate-ml/agate/engine/internal/onnxpb"
	"github.com/agate-ml/agate/ops"
)

// Option configures loading.
type Option func(*options)

type options struct {
	workers    int
	pool       *ops.Pool
	baseDir    string
	registry   *ops.Registry
	noFold     bool
	budget     int64 // bytes per tensor; 0: DefaultTensorBudget
	arenaLimit int64 // bytes an arena keeps between runs
	noFuse     bool
	precision  ops.Precision
	device     string
	logf       func(format string, args ...any)
	files      *mappedFiles // LoadFile's mappings; nil: none
	// mappedWeights keeps unpacked constants in the mappings.
	mappedWeights bool
}

// WithTensorBudget caps the bytes of any one tensor the engine computes,
// at load (constant folding) and at run: a larger tensor fails the step
// with an error wrapping ops.ErrTensorBudget before any memory is taken.
// Negative disables the cap; 0 keeps DefaultTensorBudget.
func WithTensorBudget(bytes int64) Option { return func(o *options) { o.budget = bytes } }

// DefaultArenaLimit is the default for WithArenaLimit.
const DefaultArenaLimit = 64 << 20

// WithMappedWeights makes LoadFile leave the weights the planned model
// keeps as they are (embedding tables, norms, biases) in the mapped file
// instead of copying them to memory of their own once the model is
// planned. A large embedding table then costs only the pages its rows
// touch, but the model reads the file for as long as it lives: the file
// must not be truncated or rewritten in place (a read past a truncated
// end kills the process with SIGBUS); replace it by renaming a new file
// over it. Without it the model reads the file only while loading.
func WithMappedWeights() Option { return func(o *options) { o.mappedWeights = true } }

// WithArenaLimit bounds the bytes each concurrent run's buffer arena keeps
// for reuse between runs (default DefaultArenaLimit): past it, buffers of
// shapes no recent run used are given back. A run's own working set is
// kept whatever its size. Negative keeps everything.
func WithArenaLimit(bytes int64) Option { return func(o *options) { o.arenaLimit = bytes } }

// WithWorkers sets the number of intra-op worker goroutines (default
// GOMAXPROCS). 1 runs every kernel on the calling goroutine.
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithPool shares an existing worker pool between models. The model does not
// close a shared pool.
func WithPool(p *ops.Pool) Option { return func(o *options) { o.pool = p } }

// WithBaseDir sets the directory external tensor data is read from (LoadFile
// uses the model file's directory).
func WithBaseDir(dir string) Option { return func(o *options) { o.baseDir = dir } }

// WithRegistry replaces the kernel registry (the default, DefaultRegistry,
// holds every kernel of package ops and of the families in its
// subpackages). Control-flow operators are always added.
func WithRegistry(r *ops.Registry) Option { return func(o *options) { o.registry = r } }

// WithoutConstantFolding keeps constant subgraphs as run-time steps.
func WithoutConstantFolding() Option { return func(o *options) { o.noFold = true } }

// WithoutFusion disables the graph optimizer that fuses transformer blocks
// (LayerNorm, GELU, attention, MatMul+bias) into single kernels.
func WithoutFusion() Option { return func(o *options) { o.noFuse = true } }

// WithPrecision sets the arithmetic of the model's float32 matrix
// products. ops.PrecisionBFloat16 stores the constant weights of MatMul,
// Gemm and the fused projections as bfloat16 (half their memory) and
// multiplies them with activations rounded to bfloat16, accumulating in
// float32; normalisation, softmax, activations and everything else stay
// float32. It needs the AVX512-BF16 instructions: on other CPUs, or with
// AGATE_NOASM set, the model is planned in float32 as usual, and
// Model.Precision says which one is in effect.
func WithPrecision(p ops.Precision) Option { return func(o *options) { o.precision = p } }

// WithDevice places the model on a device: "cpu" (the default) or "cuda:N"
// in a binary built with the cuda tag. Operators the device lacks run on the
// CPU, each logged through logf (nil: not logged). When the device cannot be
// used (no cuda tag, no driver, no GPU) loading fails with an error wrapping
// ErrNoDevice, so a caller can log it and load again on the CPU.
func WithDevice(device string, logf func(format string, args ...any)) Option {
	return func(o *options) { o.device, o.logf = device, logf }
}

// IOInfo describes a model input or output.
type IOInfo struct {
	Name string
	Type *ops.Type
	// Optional is true for an input that has a default (an initializer of
	// the same name) and may be omitted.
	Optional bool
}

// Model is a loaded, planned ONNX model.
type Model struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Opsets          map[string]int
	Metadata        map[string]string

	plan       *plan
	placement  *Placement
	pool       *ops.Pool
	budget     int64 // bytes per tensor, 0: none
	arenaLimit int64 // bytes a run state's arena keeps between runs
	precision  ops.Precision
	ownPool    bool
	states     sync.Pool // *runState
	inputs     []IOInfo
	outputs    []IOInfo
	// files are the mapped files constants view (LoadFile), unmapped when
	// the Model is collected; nil when nothing is mapped.
	files *mappedFiles
}

// LoadFile loads a model from an .onnx file; external data is read relative
// to its directory.
//
// On Unix the file and its external data files are mapped into memory
// rather than read, and the weights are decoded where they lie: packed
// weights are copied once into their kernels' layout, the others into
// memory of their own, and each one's pages are dropped as soon as it is
// copied, so that loading peaks near the size of the weights rather than
// twice it. Once LoadFile returns the model no longer reads the files and
// they may be replaced in any way. WithMappedWeights keeps the unpacked
// weights in the mapping instead.
func LoadFile(path string, opts ...Option) (*Model, error) {
	files := &mappedFiles{}
	b, mapped, err := files.readModel(path)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	var mp *onnxpb.ModelProto
	if mapped {
		mp, err = decodeModelInPlace(b)
	} else {
		mp, err = decodeModel(b)
	}
	if err != nil {
		files.unmap()
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	o := options{baseDir: filepath.Dir(path)}
	for _, opt := range opts {
		opt(&o)
	}
	o.files = files
	m, err := build(mp, o)
	if err != nil {
		files.unmap()
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	return m, nil
}

// LoadReader loads a model from r.
func LoadReader(r io.Reader, opts ...Option) (*Model, error) {
	b, err := readAllLimited(r)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	return LoadBytes(b, opts...)
}

// LoadBytes loads a model from its serialized ModelProto.
func LoadBytes(b []byte, opts ...Option) (*Model, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	mp, err := decodeModel(b)
	if err != nil {
		return nil, err
	}
	return build(mp, o)
}

func build(mp *onnxpb.ModelProto, o options) (m *Model, err error) {
	defer func() {
		// A kernel factory or decoder bug must not crash the caller.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("internal error while planning the model: %v", r)
		}
	}()
	dec, err := newDecoder(mp, &externalLoader{dir: o.baseDir, files: o.files})
	if err != nil {
		return nil, err
	}
	g, err := dec.decodeGraph(mp.Graph)
	if err != nil {
		return nil, err
	}
	reg := o.registry
	if reg == nil {
		reg = DefaultRegistry()
	}
	registerControlFlow(reg)
	if missing := unsupportedOps(g, reg); len(missing) > 0 {
		return nil, &UnsupportedError{Ops: missing}
	}
	if !o.noFuse {
		optimizeQuant(g)
		optimize(g)
	}
	if o.budget == 0 {
		o.budget = DefaultTensorBudget()
	}
	if o.arenaLimit == 0 {
		o.arenaLimit = DefaultArenaLimit
	}
	if o.precision == ops.PrecisionBFloat16 && !ops.BFloat16Supported() {
		o.precision = ops.PrecisionFloat32
	}
	c := &compiler{reg: reg, fold: !o.noFold, maxTensorBytes: o.budget, precision: o.precision, files: o.files}
	p, err := c.compile(g, false)
	if err != nil {
		return nil, err
	}
	placement, err := useDevice(p, o.device, o.logf)
	if err != nil {
		return nil, err
	}
	if placement.OnDevice == 0 {
		p.dropPackedConstants()
	}
	if !o.mappedWeights {
		p.copyMappedConstants(o.files)
	}
	m = &Model{
		IRVersion:       mp.GetIrVersion(),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
		Opsets:          dec.opsets,
		Metadata:        map[string]string{},
		plan:            p,
		placement:       placement,
		budget:          max(o.budget, 0),
		precision:       o.precision,
		arenaLimit:      o.arenaLimit,
	}
	for _, kv := range mp.MetadataProps {
		m.Metadata[kv.GetKey()] = kv.GetValue()
	}
	for _, in := range p.inputs {
		m.inputs = append(m.inputs, IOInfo{Name: in.name, Type: in.typ, Optional: in.def != nil})
	}
	for i, name := range p.outNames {
		m.outputs = append(m.outputs, IOInfo{Name: name, Type: p.outTypes[i]})
	}
	m.pool = o.pool
	if m.pool == nil {
		m.pool = ops.NewPool(o.workers)
		m.ownPool = true
	}
	if o.files != nil && len(o.files.maps) > 0 {
		m.files = o.files
		runtime.AddCleanup(m, (*mappedFiles).unmap, o.files)
	}
	return m, nil
}

// Inputs describes the model's inputs in graph order.
func (m *Model) Inputs() []IOInfo { return append([]IOInfo(nil), m.inputs...) }

// Outputs describes the model's outputs in graph order.
func (m *Model) Outputs() []IOInfo { return append([]IOInfo(nil), m.outputs...) }

// NumSteps returns how many kernels a run executes (after folding and
// dead-code elimination).
func (m *Model) NumSteps() int { return len(m.plan.steps) }

// OpCounts returns how many planned steps run each operator, keyed
// "domain:op" (for example "ai.onnx:MatMul", or "ai.agate:SelfAttention"
// for a fused attention block), so callers can see which fusions fired.
func (m *Model) OpCounts() map[string]int {
	counts := map[string]int{}
	for _, st := range m.plan.steps {
		counts[st.node.Domain+":"+st.node.OpType]++
	}
	return counts
}

// Close stops the model's worker pool (unless it was shared through
// WithPool). Files LoadFile mapped stay mapped until the Model is garbage
// collected.
func (m *Model) Close() error {
	if m.ownPool {
		m.pool.Close()
	}
	return m.plan.closeKernels()
}

// Placement reports where each step of the model runs.
func (m *Model) Placement() *Placement { return m.placement }

// RunValues runs the model on inputs keyed by name and returns every output
// keyed by name. Values are *ops.Tensor, *ops.Sequence, *ops.Map or
// *ops.Optional. Returned tensors belong to the caller.
func (m *Model) RunValues(ctx context.Context, inputs map[string]ops.Value) (map[string]ops.Value, error) {
	list, err := m.orderInputs(inputs)
	if err != nil {
		return nil, err
	}
	outs := make([]ops.Value, len(m.outputs))
	if err := m.runList(ctx, list, outs, nil); err != nil {
		return nil, err
	}
	res := make(map[string]ops.Value, len(outs))
	for i, o := range m.outputs {
		res[o.Name] = outs[i]
	}
	return res, nil
}

// RunList runs the model with inputs in Inputs() order (nil for an omitted
// optional input) and stores the outputs, in Outputs() order, into outs.
func (m *Model) RunList(ctx context.Context, inputs []ops.Value, outs []ops.Value) error {
	return m.runChecked(ctx, inputs, outs, false)
}

// RunInto is RunList for callers that reuse their output tensors: where
// outs[i] already holds a tensor with output i's element type and shape
// (and is not one of the inputs, nor shares their storage), the result is
// written into it, by the kernel computing it where it can, else by a
// copy, and outs[i] is left pointing at it; other entries are replaced as
// RunList does. outs[i]'s contents are undefined while the run is in
// progress, and after a failed run. A run whose outputs are all bound this
// way allocates nothing.
func (m *Model) RunInto(ctx context.Context, inputs []ops.Value, outs []ops.Value) error {
	return m.runChecked(ctx, inputs, outs, true)
}

func (m *Model) runChecked(ctx context.Context, inputs []ops.Value, outs []ops.Value, bind bool) error {
	if len(inputs) != len(m.inputs) {
		return fmt.Errorf("model takes %d inputs, got %d", len(m.inputs), len(inputs))
	}
	if len(outs) < len(m.outputs) {
		return fmt.Errorf("model has %d outputs, room for %d", len(m.outputs), len(outs))
	}
	for i, v := range inputs {
		if err := m.checkInput(i, v); err != nil {
			return err
		}
	}
	if err := m.checkSymbolicDims(inputs); err != nil {
		return err
	}
	if !bind {
		return m.runList(ctx, inputs, outs, nil)
	}
	var buf [8]*ops.Tensor
	dst := buf[:0]
	if len(m.outputs) > len(buf) {
		dst = make([]*ops.Tensor, 0, len(m.outputs))
	}
	for _, v := range outs[:len(m.outputs)] {
		t, _ := v.(*ops.Tensor)
		for _, in := range inputs {
			if it, ok := in.(*ops.Tensor); in == v || ok && t.SharesData(it) {
				t = nil // never write into an input
			}
		}
		for _, prev := range dst {
			if t != nil && prev == t {
				t = nil // nor into one tensor twice
			}
		}
		dst = append(dst, t)
	}
	return m.runList(ctx, inputs, outs, dst)
}

// runState is what one run borrows from the model: its arena and kernel
// context, recycled together so that a steady-state run allocates only its
// outputs.
type runState struct {
	arena *ops.Arena
	ec    *ops.Context
}

// runList runs the plan; dst, when not nil, holds the caller's tensors to
// copy matching outputs into (RunInto).
func (m *Model) runList(ctx context.Context, inputs []ops.Value, outs []ops.Value, dst []*ops.Tensor) (err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, _ := m.states.Get().(*runState)
	if st == nil {
		st = &runState{arena: ops.NewArena()}
		st.arena.SetLimit(m.arenaLimit)
		st.ec = ops.NewContext(ctx, m.pool, st.arena)
		st.ec.MaxTensorBytes = m.budget
	}
	st.arena.StartRun()
	st.ec.Ctx = ctx
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error while running the model: %v", r)
			st = nil // its state is unknown: do not reuse it
		}
		if st != nil {
			st.ec.Ctx = nil
			m.states.Put(st)
		}
	}()
	if err := m.plan.runBound(st.ec, inputs, nil, outs, dst); err != nil {
		return err
	}
	for i, v := range outs[:len(m.outputs)] {
		if dst != nil && copyInto(st.arena, dst[i], v) {
			outs[i] = dst[i]
			continue
		}
		outs[i] = m.files.detachMapped(detach(st.arena, v))
	}
	return nil
}

// copyInto copies the run's output v into the caller's tensor d when their
// types and shapes agree (nothing to copy when the step computed it in d's
// storage), releasing v to the arena.
func copyInto(a *ops.Arena, d *ops.Tensor, v ops.Value) bool {
	t, ok := v.(*ops.Tensor)
	if d == nil || !ok || d.DType != t.DType || !ops.EqualShapes(d.Shape, t.Shape) || d == t {
		return false
	}
	if !d.SharesData(t) {
		ops.CopySlice(d.Data, t.Data)
	}
	if t.Recyclable() {
		a.Release(t)
	}
	return true
}

// copyOutputBelow is the size (in elements) under which an output is copied
// out of the arena, which keeps its buffer for the next run; larger outputs
// are handed over without a copy.
const copyOutputBelow = 1 << 14

// detach makes v independent of the arena: owned buffers are copied
// (small) or handed over (large), shared ones copied.
func detach(a *ops.Arena, v ops.Value) ops.Value {
	t, ok := v.(*ops.Tensor)
	if !ok {
		return v
	}
	if t.Owned() && t.Len() >= copyOutputBelow {
		shape, data, dt := t.Shape, t.Data, t.DType
		if a.Detach(t) {
			out := &ops.Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: data}
			a.Release(t) // recycles the struct only: the buffer is detached
			return out
		}
	}
	c := t.Clone()
	if t.Recyclable() {
		a.Release(t)
	}
	return c
}

func (m *Model) orderInputs(inputs map[string]ops.Value) ([]ops.Value, error) {
	list := make([]ops.Value, len(m.inputs))
	found := 0
	for i, in := range m.inputs {
		v, ok := inputs[in.Name]
		if !ok {
			if in.Optional {
				continue
			}
			return nil, fmt.Errorf("missing input %q (%s)", in.Name, in.Type)
		}
		found++
		if err := m.checkInput(i, v); err != nil {
			return nil, err
		}
		list[i] = v
	}
	if found != len(inputs) {
		var unknown []string
		for name := range inputs {
			known := false
			for _, in := range m.inputs {
				known = known || in.Name == name
			}
			if !known {
				unknown = append(unknown, fmt.Sprintf("%q", name))
			}
		}
		sort.Strings(unknown)
		var names []string
		for _, in := range m.inputs {
			names = append(names, in.Name)
		}
		return nil, fmt.Errorf("unknown input %s (the model's inputs are %s)", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	if err := m.checkSymbolicDims(list); err != nil {
		return nil, err
	}
	return list, nil
}

// ErrInput is wrapped by every input validation error.
var ErrInput = errors.New("invalid input")

func (m *Model) checkInput(i int, v ops.Value) error {
	in := m.inputs[i]
	if v == nil {
		if in.Optional {
			return nil
		}
		return fmt.Errorf("%w: input %q is required", ErrInput, in.Name)
	}
	typ := in.Type
	if typ == nil {
		return nil
	}
	t, isTensor := v.(*ops.Tensor)
	if typ.Kind != ops.KindTensor {
		if isTensor {
			return fmt.Errorf("%w: input %q must be a %s, got a tensor", ErrInput, in.Name, typ)
		}
		return nil
	}
	if !isTensor {
		return fmt.Errorf("%w: input %q must be a %s, got %T", ErrInput, in.Name, typ, v)
	}
	if typ.DType.Valid() && t.DType != typ.DType {
		return fmt.Errorf("%w: input %q must be %s, got %s", ErrInput, in.Name, typ.DType, t.DType)
	}
	if n := ops.SliceLen(t.Data); n != t.Len() {
		return fmt.Errorf("%w: input %q has %d elements for shape %v", ErrInput, in.Name, n, t.Shape)
	}
	if !typ.HasShape {
		return nil
	}
	if len(typ.Shape) != len(t.Shape) {
		return fmt.Errorf("%w: input %q must have rank %d (%s), got shape %v", ErrInput, in.Name, len(typ.Shape), typ, t.Shape)
	}
	for d, dim := range typ.Shape {
		if dim.Param == "" && dim.Value >= 0 && int64(t.Shape[d]) != dim.Value {
			return fmt.Errorf("%w: input %q dimension %d must be %d (%s), got shape %v", ErrInput, in.Name, d, dim.Value, typ, t.Shape)
		}
	}
	return nil
}

// checkSymbolicDims verifies that a symbolic dimension (say "batch") has the
// same size in every input that declares it.
func (m *Model) checkSymbolicDims(list []ops.Value) error {
	type seen struct {
		param string
		size  int
		input string
	}
	var buf [16]seen // no allocation for the usual handful of named dims
	dims := buf[:0]
	for i, v := range list {
		t, ok := v.(*ops.Tensor)
		typ := m.inputs[i].Type
		if !ok || typ == nil || !typ.HasShape || len(typ.Shape) != len(t.Shape) {
			continue
		}
	dimLoop:
		for d, dim := range typ.Shape {
			if dim.Param == "" {
				continue
			}
			for _, prev := range dims {
				if prev.param != dim.Param {
					continue
				}
				if prev.size != t.Shape[d] {
					return fmt.Errorf("%w: dimension %q is %d in input %q but %d in input %q", ErrInput, dim.Param, prev.size, prev.input, t.Shape[d], m.inputs[i].Name)
				}
				continue dimLoop
			}
			dims = append(dims, seen{dim.Param, t.Shape[d], m.inputs[i].Name})
		}
	}
	return nil
}

// ModelInfo is a model's identity and interface, read without planning it.
type ModelInfo struct {
	IRVersion int64
	Producer  string
	Opsets    map[string]int
	// Warnings note what the model asks for that agate may not run as
	// intended (an opset newer than agate's operator definitions).
	Warnings []string
	Inputs   []IOInfo
	Outputs  []IOInfo
	OpTypes  map[string]int // "domain:Op" -> node count, subgraphs included
}

// opsetWarnings notes each imported opset newer than the newest operator
// definitions reg holds for its domain.
func opsetWarnings(opsets map[string]int, reg *ops.Registry) []string {
	var out []string
	for d, v := range opsets {
		if newest := reg.NewestOpset(d); newest > 0 && v > newest {
			out = append(out, fmt.Sprintf("the model imports %s opset %d; agate's newest %s operator definitions are from opset %d, and operators changed since then run as defined there",
				ops.CanonicalDomain(d), v, ops.CanonicalDomain(d), newest))
		}
	}
	sort.Strings(out)
	return out
}

// Inspect decodes a model and describes it without building kernels, so it
// works even for models with unsupported operators.
func Inspect(b []byte) (*ModelInfo, error) {
	mp, err := decodeModel(b)
	if err != nil {
		return nil, err
	}
	dec, err := newDecoder(mp, nil)
	if err != nil {
		return nil, err
	}
	info := &ModelInfo{IRVersion: mp.GetIrVersion(), Producer: strings.TrimSpace(mp.GetProducerName() + " " + mp.GetProducerVersion()),
		Opsets: dec.opsets, OpTypes: map[string]int{}, Warnings: opsetWarnings(dec.opsets, DefaultRegistry())}
	for _, vi := range mp.Graph.Input {
		t, _ := decodeType(vi.Type)
		info.Inputs = append(info.Inputs, IOInfo{Name: vi.GetName(), Type: t})
	}
	for _, vi := range mp.Graph.Output {
		t, _ := decodeType(vi.Type)
		info.Outputs = append(info.Outputs, IOInfo{Name: vi.GetName(), Type: t})
	}
	var walk func(gp *onnxpb.GraphProto)
	walk = func(gp *onnxpb.GraphProto) {
		for _, n := range gp.Node {
			info.OpTypes[ops.CanonicalDomain(n.GetDomain())+":"+n.GetOpType()]++
			for _, a := range n.Attribute {
				if a.G != nil {
					walk(a.G)
				}
				for _, g := range a.Graphs {
					walk(g)
				}
			}
		}
	}
	walk(mp.Graph)
	return info, nil
}

// Precision returns the arithmetic of the model's float32 matrix products:
// what WithPrecision asked for, or ops.PrecisionFloat32 where the CPU
// cannot do it.
func (m *Model) Precision() ops.Precision { return m.precision }
