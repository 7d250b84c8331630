//go:build cuda

package cuda

/*
#include "agate_cuda.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/agate-ml/agate/ops"
)

// devBuf is a device block shared by a value and its views.
type devBuf struct {
	ptr        DevicePtr
	refs       int
	persistent bool // a constant uploaded at compile time
}

// devValue is one program value during a run: on the device, on the host,
// or both.
type devValue struct {
	dt    ops.DType
	shape []int
	buf   *devBuf
	host  *ops.Tensor
}

func (v *devValue) len() int { return ops.NumElements(v.shape) }

// elemSize returns the byte size of the element types the device stores.
func elemSize(dt ops.DType) (int, bool) {
	switch dt {
	case ops.Float, ops.Int32:
		return 4, true
	case ops.Int64:
		return 8, true
	}
	return 0, false
}

// deviceForest is a Forest uploaded to the device.
type deviceForest struct {
	f      *Forest
	blocks []DevicePtr
	c      C.agate_forest
}

// program is a compiled Program: an ops.Kernel running its steps on the GPU.
type program struct {
	dev     *Device
	p       *Program
	an      *analysis
	consts  []*devValue // uploaded constants, by value number
	forests map[int]*deviceForest
	logged  []sync.Once // per step: the run-time fallback was logged

	mu     sync.Mutex
	closed bool
}

// Compile uploads p's constants and tree ensembles and returns the kernel
// that runs p. A *StepError names a step that cannot be part of the program.
// The kernel also implements io.Closer, which frees its device memory.
func (d *Device) Compile(p *Program) (ops.Kernel, error) {
	an, err := p.analyze()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := d.bind(); err != nil {
		return nil, err
	}
	k := &program{dev: d, p: p, an: an, consts: make([]*devValue, p.NumValues), forests: map[int]*deviceForest{},
		logged: make([]sync.Once, len(p.Steps))}
	for i, st := range p.Steps {
		if st.Node.OpType != "TreeEnsembleRegressor" {
			continue
		}
		f, err := FlattenTreeEnsemble(st.Node)
		if err != nil {
			k.free()
			return nil, &StepError{Step: i, Err: err}
		}
		df, err := d.uploadForest(f)
		if err != nil {
			k.free()
			return nil, err
		}
		k.forests[i] = df
	}
	ln := <-d.lanes
	defer func() { d.lanes <- ln }()
	hostOnly := k.hostOnlyConsts()
	for v, c := range p.Consts {
		if c == nil {
			continue
		}
		dv := &devValue{dt: c.DType, shape: c.Shape, host: c}
		if size, ok := elemSize(c.DType); ok && !hostOnly[v] {
			blk, err := d.pool.Get(size * c.Len())
			if err == nil {
				err = ln.upload(blk, sliceData(c), size*c.Len())
			}
			if err != nil {
				k.free()
				return nil, fmt.Errorf("cuda: uploading a constant of %s: %w", c, err)
			}
			dv.buf = &devBuf{ptr: blk, refs: 1, persistent: true}
		}
		k.consts[v] = dv
	}
	if err := ln.sync(); err != nil {
		k.free()
		return nil, err
	}
	return k, nil
}

// hostOnlyConsts marks constants only ever read on the host (shapes).
func (k *program) hostOnlyConsts() []bool {
	host := make([]bool, k.p.NumValues)
	dev := make([]bool, k.p.NumValues)
	for _, st := range k.p.Steps {
		hs := HostInputs(st.Node)
		for i, v := range st.In {
			if v < 0 {
				continue
			}
			isHost := false
			for _, h := range hs {
				isHost = isHost || h == i
			}
			if isHost {
				host[v] = true
			} else {
				dev[v] = true
			}
		}
	}
	for v := range host {
		host[v] = host[v] && !dev[v]
	}
	return host
}

func (d *Device) uploadForest(f *Forest) (*deviceForest, error) {
	df := &deviceForest{f: f}
	ln := <-d.lanes
	defer func() { d.lanes <- ln }()
	up := func(data unsafe.Pointer, n int) (DevicePtr, error) {
		blk, err := d.pool.Get(max(n, 1))
		if err != nil {
			return 0, err
		}
		df.blocks = append(df.blocks, blk)
		return blk, ln.upload(blk, data, n)
	}
	type arr struct {
		dst  *DevicePtr
		data unsafe.Pointer
		n    int
	}
	var roots, feat, thr, tc, fc, flags, vt, vv, base DevicePtr
	for _, a := range []arr{
		{&roots, unsafe.Pointer(unsafe.SliceData(f.Roots)), 4 * len(f.Roots)},
		{&feat, unsafe.Pointer(unsafe.SliceData(f.Feature)), 4 * len(f.Feature)},
		{&thr, unsafe.Pointer(unsafe.SliceData(f.Threshold)), 4 * len(f.Threshold)},
		{&tc, unsafe.Pointer(unsafe.SliceData(f.TrueChild)), 4 * len(f.TrueChild)},
		{&fc, unsafe.Pointer(unsafe.SliceData(f.FalseChild)), 4 * len(f.FalseChild)},
		{&flags, unsafe.Pointer(unsafe.SliceData(f.Flags)), len(f.Flags)},
		{&vt, unsafe.Pointer(unsafe.SliceData(f.VoteTarget)), 4 * len(f.VoteTarget)},
		{&vv, unsafe.Pointer(unsafe.SliceData(f.VoteValue)), 4 * len(f.VoteValue)},
		{&base, unsafe.Pointer(unsafe.SliceData(f.Base)), 4 * len(f.Base)},
	} {
		p, err := up(a.data, a.n)
		if err != nil {
			df.free(d.pool)
			return nil, fmt.Errorf("cuda: uploading a tree ensemble: %w", err)
		}
		*a.dst = p
	}
	if err := ln.sync(); err != nil {
		df.free(d.pool)
		return nil, err
	}
	df.c = C.agate_forest{
		roots: (*C.int32_t)(ptr(roots)), feature: (*C.int32_t)(ptr(feat)), threshold: (*C.float)(ptr(thr)),
		true_child: (*C.int32_t)(ptr(tc)), false_child: (*C.int32_t)(ptr(fc)), flags: (*C.uint8_t)(ptr(flags)),
		vote_target: (*C.int32_t)(ptr(vt)), vote_value: (*C.float)(ptr(vv)), base: (*C.float)(ptr(base)),
		n_trees: C.int(len(f.Roots)), n_targets: C.int(f.NumTargets), agg: C.int(f.Agg),
	}
	return df, nil
}

func (df *deviceForest) free(p *Pool) {
	for _, b := range df.blocks {
		_ = p.Put(b)
	}
	df.blocks = nil
}

// free returns the program's persistent blocks to the pool.
func (k *program) free() {
	for _, c := range k.consts {
		if c != nil && c.buf != nil {
			_ = k.dev.pool.Put(c.buf.ptr)
			c.buf = nil
		}
	}
	for _, f := range k.forests {
		f.free(k.dev.pool)
	}
}

// Close frees the program's device memory. Runs must have finished.
func (k *program) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		k.closed = true
		k.free()
	}
	return nil
}

// sliceData returns the address of a host tensor's first element.
func sliceData(t *ops.Tensor) unsafe.Pointer {
	switch d := t.Data.(type) {
	case []float32:
		return unsafe.Pointer(unsafe.SliceData(d))
	case []int32:
		return unsafe.Pointer(unsafe.SliceData(d))
	case []int64:
		return unsafe.Pointer(unsafe.SliceData(d))
	}
	return nil
}

// run is the state of one execution of a program.
type run struct {
	k    *program
	ln   *lane
	fr   *Frame
	ec   *ops.Context
	vals []*devValue
}

// Run executes the program: inputs are uploaded when a device step reads
// them, outputs are downloaded into tensors allocated through ec.
func (k *program) Run(ec *ops.Context, in, out []*ops.Tensor) (err error) {
	k.mu.Lock()
	closed := k.closed
	k.mu.Unlock()
	if closed {
		return errors.New("cuda: the program was closed")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := k.dev
	if err := d.bind(); err != nil {
		return err
	}
	ln := <-d.lanes
	r := &run{k: k, ln: ln, fr: d.pool.NewFrame(), ec: ec, vals: make([]*devValue, k.p.NumValues)}
	defer func() {
		// Queued work may still use the run's blocks: wait before
		// handing them back, even when the run failed.
		if serr := ln.sync(); serr != nil && err == nil {
			err = serr
		}
		if ferr := r.fr.Flush(); ferr != nil && err == nil {
			err = ferr
		}
		d.lanes <- ln
	}()
	for v, c := range k.consts {
		if c != nil {
			r.vals[v] = c
		}
	}
	for i, v := range k.p.Inputs {
		t := in[i]
		if t == nil {
			continue
		}
		r.vals[v] = &devValue{dt: t.DType, shape: t.Shape, host: t}
	}
	for i := range k.p.Steps {
		if err := ec.Err(); err != nil {
			return err
		}
		if err := r.step(i); err != nil {
			return err
		}
	}
	for i, v := range k.p.Outputs {
		t, err := r.toHost(r.vals[v], ec)
		if err != nil {
			return err
		}
		out[i] = t
	}
	return nil
}

// step runs step i on the device, or on the CPU when the case is not
// covered, then releases the values it read for the last time.
func (r *run) step(i int) error {
	st := &r.k.p.Steps[i]
	err := r.device(i, st)
	if errors.Is(err, errUnsupported) {
		if st.Fallback == nil {
			return fmt.Errorf("%s: %w", st.Node.Describe(), err)
		}
		r.k.logged[i].Do(func() {
			if r.k.dev.logf != nil {
				r.k.dev.logf("cuda: %s runs on the CPU: %v", st.Node.Describe(), err)
			}
		})
		err = r.fallback(st)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", st.Node.Describe(), err)
	}
	for _, v := range st.In {
		if v >= 0 && r.k.an.lastUse[v] == i {
			r.release(v)
		}
	}
	for _, v := range st.Out {
		if v >= 0 && r.k.an.lastUse[v] == i {
			r.release(v)
		}
	}
	return nil
}

// release drops the run's reference to value v.
func (r *run) release(v int) {
	dv := r.vals[v]
	r.vals[v] = nil
	if dv == nil || dv.buf == nil || dv.buf.persistent {
		return
	}
	dv.buf.refs--
	if dv.buf.refs == 0 {
		_ = r.fr.Release(dv.buf.ptr)
	}
}

// in returns input j of the step (nil when omitted or absent).
func (r *run) in(st *ProgramStep, j int) *devValue {
	if j >= len(st.In) || st.In[j] < 0 {
		return nil
	}
	return r.vals[st.In[j]]
}

// dev returns the device address of v, uploading it first if needed.
func (r *run) dev(v *devValue) (DevicePtr, error) {
	if v.buf != nil {
		return v.buf.ptr, nil
	}
	size, ok := elemSize(v.dt)
	if !ok || v.host == nil {
		return 0, unsupported("%s values", v.dt)
	}
	blk, err := r.fr.Get(size * v.len())
	if err != nil {
		return 0, err
	}
	if err := r.ln.upload(blk, sliceData(v.host), size*v.len()); err != nil {
		return 0, err
	}
	v.buf = &devBuf{ptr: blk, refs: 1}
	return blk, nil
}

// float returns the device address of a float32 value.
func (r *run) float(v *devValue, what string) (DevicePtr, error) {
	if v == nil {
		return 0, fmt.Errorf("missing input %s", what)
	}
	if v.dt != ops.Float {
		return 0, unsupported("%s is %s", what, v.dt)
	}
	return r.dev(v)
}

// newValue allocates a device value for output j of the step.
func (r *run) newValue(st *ProgramStep, j int, dt ops.DType, shape []int) (*devValue, DevicePtr, error) {
	size, _ := elemSize(dt)
	blk, err := r.fr.Get(max(size*ops.NumElements(shape), 1))
	if err != nil {
		return nil, 0, err
	}
	v := &devValue{dt: dt, shape: shape, buf: &devBuf{ptr: blk, refs: 1}}
	if j < len(st.Out) && st.Out[j] >= 0 {
		r.vals[st.Out[j]] = v
	} else {
		// An output nobody reads: release it right after the step's
		// work is queued (stream order keeps the block safe).
		defer func() { _ = r.fr.Release(blk) }()
	}
	return v, blk, nil
}

// view makes output 0 of the step share v's device block (or host data).
func (r *run) view(st *ProgramStep, v *devValue, shape []int) {
	if st.Out[0] < 0 {
		return
	}
	nv := &devValue{dt: v.dt, shape: shape, buf: v.buf}
	if v.host != nil {
		nv.host = &ops.Tensor{DType: v.host.DType, Shape: shape, Data: v.host.Data}
	}
	if v.buf != nil && !v.buf.persistent {
		v.buf.refs++
	}
	r.vals[st.Out[0]] = nv
}

// toHost returns v as a host tensor, allocated through ec when ec is not nil.
func (r *run) toHost(v *devValue, ec *ops.Context) (*ops.Tensor, error) {
	if v == nil {
		return nil, errors.New("cuda: a program output was not computed")
	}
	if v.buf == nil || (v.host != nil && ec == nil) {
		if ec != nil {
			return ec.View(v.host, v.shape...), nil
		}
		return v.host, nil
	}
	size, ok := elemSize(v.dt)
	if !ok {
		return nil, fmt.Errorf("cuda: cannot download %s", v.dt)
	}
	var t *ops.Tensor
	if ec != nil {
		t = ec.Empty(v.dt, v.shape...)
	} else {
		t = ops.NewTensor(v.dt, v.shape...)
	}
	if err := r.ln.download(sliceData(t), v.buf.ptr, size*v.len()); err != nil {
		return nil, err
	}
	if ec == nil {
		v.host = t
	}
	return t, nil
}

// fallback runs the step's CPU kernel on host copies of its inputs.
func (r *run) fallback(st *ProgramStep) error {
	in := make([]*ops.Tensor, len(st.In))
	for j := range st.In {
		v := r.in(st, j)
		if v == nil {
			continue
		}
		t, err := r.toHost(v, nil)
		if err != nil {
			return err
		}
		in[j] = t
	}
	out := make([]*ops.Tensor, len(st.Out))
	hec := ops.NewContext(r.ec.Ctx, r.ec.Workers, nil)
	if err := st.Fallback.Run(hec, in, out); err != nil {
		return err
	}
	for j, t := range out {
		if t != nil && st.Out[j] >= 0 {
			r.vals[st.Out[j]] = &devValue{dt: t.DType, shape: t.Shape, host: t}
		}
	}
	return nil
}

func fp(p DevicePtr) *C.float { return (*C.float)(ptr(p)) }

func launchErr(op string, e C.cudaError_t) error {
	if e == C.cudaErrorNotSupported {
		return fmt.Errorf("cuda: %s: %w", op, ErrStubKernels)
	}
	return check(op, e)
}

// device runs step i on the GPU, returning an error wrapping
// errUnsupported for cases it does not cover.
func (r *run) device(i int, st *ProgramStep) error {
	n := st.Node
	switch n.OpType {
	case "Identity":
		v := r.in(st, 0)
		r.view(st, v, v.shape)
		return nil
	case "Reshape":
		return r.reshape(st)
	case "Add", "Sub", "Mul", "Div":
		return r.binary(st)
	case "Relu", "Tanh", "Sigmoid", "Erf", "Gelu":
		return r.unary(st)
	case "BiasGelu":
		return r.biasGelu(st)
	case "Softmax":
		return r.softmax(st)
	case "LayerNormalization", "SkipLayerNormalization":
		return r.layerNorm(st)
	case "MatMul":
		return r.matmul(st)
	case "Gemm":
		return r.gemm(st)
	case "FusedMatMul":
		return r.fusedMatMul(st)
	case "SelfAttention":
		return r.attention(st)
	case "Gather":
		return r.gather(st)
	case "TreeEnsembleRegressor":
		return r.forest(i, st)
	}
	return unsupported("%s/%s", n.Domain, n.OpType)
}

func (r *run) reshape(st *ProgramStep) error {
	v, s := r.in(st, 0), r.in(st, 1)
	if v == nil || s == nil || s.host == nil {
		return unsupported("Reshape without a host shape")
	}
	spec, err := s.host.AsInt64s()
	if err != nil {
		return err
	}
	shape, err := reshapeShape(v.shape, spec, st.Node.Attrs.Int("allowzero", 0) != 0)
	if err != nil {
		return err
	}
	r.view(st, v, shape)
	return nil
}

var binaryOps = map[string]C.int{"Add": C.AGATE_BINARY_ADD, "Sub": C.AGATE_BINARY_SUB, "Mul": C.AGATE_BINARY_MUL, "Div": C.AGATE_BINARY_DIV}

func (r *run) binary(st *ProgramStep) error {
	a, b := r.in(st, 0), r.in(st, 1)
	if a == nil || b == nil {
		return errors.New("missing input")
	}
	if a.dt != ops.Float || b.dt != ops.Float {
		return unsupported("%s of %s and %s", st.Node.OpType, a.dt, b.dt)
	}
	p, err := planBinary(a.shape, b.shape)
	if err != nil {
		return err
	}
	pa, err := r.dev(a)
	if err != nil {
		return err
	}
	pb, err := r.dev(b)
	if err != nil {
		return err
	}
	_, py, err := r.newValue(st, 0, ops.Float, p.out)
	if err != nil {
		return err
	}
	var bc *C.agate_bcast
	if p.bcast {
		bc = &C.agate_bcast{rank: C.int(len(p.out))}
		for d := range p.out {
			bc.shape[d] = C.int64_t(p.out[d])
			bc.astride[d] = C.int64_t(p.astride[d])
			bc.bstride[d] = C.int64_t(p.bstride[d])
		}
	}
	return launchErr("agate_binary_f32", C.agate_binary_f32(launch(ElementwiseLaunch(p.n)), r.ln.stream,
		binaryOps[st.Node.OpType], fp(pa), fp(pb), fp(py), C.int64_t(p.n), C.int64_t(p.bmod), bc))
}

func unaryOp(n *ops.Node) C.int {
	switch n.OpType {
	case "Relu":
		return C.AGATE_UNARY_RELU
	case "Tanh":
		return C.AGATE_UNARY_TANH
	case "Sigmoid":
		return C.AGATE_UNARY_SIGMOID
	case "Erf":
		return C.AGATE_UNARY_ERF
	}
	if n.Attrs.String("approximate", "none") == "tanh" {
		return C.AGATE_UNARY_GELU_TANH
	}
	return C.AGATE_UNARY_GELU
}

func (r *run) unary(st *ProgramStep) error {
	x := r.in(st, 0)
	px, err := r.float(x, "X")
	if err != nil {
		return err
	}
	_, py, err := r.newValue(st, 0, ops.Float, x.shape)
	if err != nil {
		return err
	}
	n := x.len()
	return launchErr("agate_unary_f32", C.agate_unary_f32(launch(ElementwiseLaunch(n)), r.ln.stream, unaryOp(st.Node),
		fp(px), fp(py), C.int64_t(n)))
}

// biasAct applies act(y + bias) in place over rows of cols.
func (r *run) biasAct(act C.int, y, bias DevicePtr, rows, cols int) error {
	return launchErr("agate_bias_act_f32", C.agate_bias_act_f32(launch(ElementwiseLaunch(rows*cols)), r.ln.stream, act,
		fp(y), fp(bias), C.int64_t(rows), C.int64_t(cols)))
}

func (r *run) biasGelu(st *ProgramStep) error {
	x, b := r.in(st, 0), r.in(st, 1)
	px, err := r.float(x, "A")
	if err != nil {
		return err
	}
	pb, err := r.float(b, "B")
	if err != nil {
		return err
	}
	cols := x.shape[len(x.shape)-1]
	if len(x.shape) == 0 || b.len() != cols {
		return unsupported("BiasGelu bias %v for input %v", b.shape, x.shape)
	}
	_, py, err := r.newValue(st, 0, ops.Float, x.shape)
	if err != nil {
		return err
	}
	if err := r.ln.copyDevice(py, px, 4*x.len()); err != nil {
		return err
	}
	return r.biasAct(C.AGATE_UNARY_GELU, py, pb, x.len()/max(cols, 1), cols)
}

func (r *run) softmax(st *ProgramStep) error {
	x := r.in(st, 0)
	px, err := r.float(x, "input")
	if err != nil {
		return err
	}
	rank := len(x.shape)
	if rank == 0 {
		return unsupported("Softmax of a scalar")
	}
	def := int64(-1)
	if st.Node.Version < 13 {
		def = 1
	}
	axis, err := ops.NormalizeAxis(int(st.Node.Attrs.Int("axis", def)), rank)
	if err != nil {
		return err
	}
	if axis != rank-1 {
		return unsupported("Softmax along axis %d of rank %d", axis, rank)
	}
	cols := x.shape[rank-1]
	rows := x.len() / max(cols, 1)
	_, py, err := r.newValue(st, 0, ops.Float, x.shape)
	if err != nil {
		return err
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	return launchErr("agate_softmax_f32", C.agate_softmax_f32(launch(RowLaunch(rows, cols)), r.ln.stream, fp(px), fp(py),
		C.int64_t(rows), C.int64_t(cols)))
}

// layerNorm runs LayerNormalization (X, Scale, B) and
// SkipLayerNormalization (input, skip, gamma, beta, bias).
func (r *run) layerNorm(st *ProgramStep) error {
	skipped := st.Node.OpType == "SkipLayerNormalization"
	x := r.in(st, 0)
	px, err := r.float(x, "X")
	if err != nil {
		return err
	}
	rank := len(x.shape)
	if rank == 0 {
		return unsupported("normalising a scalar")
	}
	var eps float32
	var gamma, beta, skip, bias *devValue
	if skipped {
		skip, gamma, beta, bias = r.in(st, 1), r.in(st, 2), r.in(st, 3), r.in(st, 4)
		eps = st.Node.Attrs.Float("epsilon", 1e-12)
	} else {
		gamma, beta = r.in(st, 1), r.in(st, 2)
		eps = st.Node.Attrs.Float("epsilon", 1e-5)
		axis, err := ops.NormalizeAxis(int(st.Node.Attrs.Int("axis", -1)), rank)
		if err != nil {
			return err
		}
		if axis != rank-1 {
			return unsupported("LayerNormalization over axes %d.. of rank %d", axis, rank)
		}
	}
	cols := x.shape[rank-1]
	rows := x.len() / max(cols, 1)
	pg, err := r.float(gamma, "scale")
	if err != nil {
		return err
	}
	if gamma.len() != cols {
		return unsupported("scale of shape %v for rows of %d", gamma.shape, cols)
	}
	var pbeta, pskip, pbias DevicePtr
	skipRows := int64(0)
	if beta != nil {
		if pbeta, err = r.float(beta, "bias"); err != nil {
			return err
		}
		if beta.len() != cols {
			return unsupported("bias of shape %v for rows of %d", beta.shape, cols)
		}
	}
	if skip != nil {
		if pskip, err = r.float(skip, "skip"); err != nil {
			return err
		}
		sr := skip.len() / max(cols, 1)
		if skip.len() != sr*cols || sr == 0 || rows%sr != 0 || !isSuffix(skip.shape, x.shape) {
			return unsupported("skip of shape %v for input %v", skip.shape, x.shape)
		}
		skipRows = int64(sr)
	}
	if bias != nil {
		if pbias, err = r.float(bias, "bias"); err != nil {
			return err
		}
		if bias.len() != cols {
			return unsupported("bias of shape %v for rows of %d", bias.shape, cols)
		}
	}
	_, py, err := r.newValue(st, 0, ops.Float, x.shape)
	if err != nil {
		return err
	}
	var psum DevicePtr
	if skipped && len(st.Out) > 3 && st.Out[3] >= 0 {
		if _, psum, err = r.newValue(st, 3, ops.Float, x.shape); err != nil {
			return err
		}
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	return launchErr("agate_layernorm_f32", C.agate_layernorm_f32(launch(RowLaunch(rows, cols)), r.ln.stream,
		fp(px), fp(pskip), C.int64_t(skipRows), fp(pbias), fp(pg), fp(pbeta), fp(py), fp(psum),
		C.int64_t(rows), C.int64_t(cols), C.float(eps)))
}

func (r *run) matmul(st *ProgramStep) error {
	a, b := r.in(st, 0), r.in(st, 1)
	pa, err := r.float(a, "A")
	if err != nil {
		return err
	}
	pb, err := r.float(b, "B")
	if err != nil {
		return err
	}
	p, err := planMatMul(a.shape, b.shape)
	if err != nil {
		return err
	}
	_, py, err := r.newValue(st, 0, ops.Float, p.out)
	if err != nil {
		return err
	}
	if p.m == 0 || p.n == 0 || p.batch == 0 {
		return nil
	}
	if p.k == 0 {
		return check("cudaMemsetAsync", C.cudaMemsetAsync(ptr(py), 0, C.size_t(4*ops.NumElements(p.out)), r.ln.stream))
	}
	if p.batch == 1 {
		return r.ln.gemm(false, false, p.m, p.n, p.k, 1, pa, pb, 0, py)
	}
	return r.ln.gemmBatched(p.batch, p.m, p.n, p.k, pa, p.strideA, pb, p.strideB, py, p.m*p.n)
}

func (r *run) gemm(st *ProgramStep) error {
	a, b, c := r.in(st, 0), r.in(st, 1), r.in(st, 2)
	pa, err := r.float(a, "A")
	if err != nil {
		return err
	}
	pb, err := r.float(b, "B")
	if err != nil {
		return err
	}
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return unsupported("Gemm of shapes %v and %v", a.shape, b.shape)
	}
	at := st.Node.Attrs
	ta, tb := at.Int("transA", 0) != 0, at.Int("transB", 0) != 0
	alpha, beta := at.Float("alpha", 1), at.Float("beta", 1)
	m, k := a.shape[0], a.shape[1]
	if ta {
		m, k = k, m
	}
	k2, n := b.shape[0], b.shape[1]
	if tb {
		k2, n = n, k2
	}
	if k != k2 {
		return fmt.Errorf("Gemm: inner dimensions of %v and %v differ", a.shape, b.shape)
	}
	_, py, err := r.newValue(st, 0, ops.Float, []int{m, n})
	if err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if c == nil || beta == 0 {
		if k == 0 {
			return check("cudaMemsetAsync", C.cudaMemsetAsync(ptr(py), 0, C.size_t(4*m*n), r.ln.stream))
		}
		return r.ln.gemm(ta, tb, m, n, k, alpha, pa, pb, 0, py)
	}
	pc, err := r.float(c, "C")
	if err != nil {
		return err
	}
	switch {
	case c.len() == m*n && (len(c.shape) == 2 || c.len() == 1 && m*n == 1):
		// Y = alpha·AB + beta·C with C copied into Y first.
		if err := r.ln.copyDevice(py, pc, 4*m*n); err != nil {
			return err
		}
		return r.ln.gemm(ta, tb, m, n, k, alpha, pa, pb, beta, py)
	case beta == 1 && c.len() == n && isSuffix(c.shape, []int{m, n}):
		if err := r.ln.gemm(ta, tb, m, n, k, alpha, pa, pb, 0, py); err != nil {
			return err
		}
		return r.biasAct(C.AGATE_UNARY_IDENTITY, py, pc, m, n)
	}
	return unsupported("Gemm with C of shape %v (beta %g) for output [%d %d]", c.shape, beta, m, n)
}

func (r *run) fusedMatMul(st *ProgramStep) error {
	a, b, bias := r.in(st, 0), r.in(st, 1), r.in(st, 2)
	pa, err := r.float(a, "A")
	if err != nil {
		return err
	}
	pb, err := r.float(b, "B")
	if err != nil {
		return err
	}
	if len(a.shape) < 1 || len(b.shape) != 2 || a.shape[len(a.shape)-1] != b.shape[0] {
		return unsupported("FusedMatMul of %v and %v", a.shape, b.shape)
	}
	k, n := b.shape[0], b.shape[1]
	m := a.len() / max(k, 1)
	var pbias DevicePtr
	if bias != nil {
		if pbias, err = r.float(bias, "bias"); err != nil {
			return err
		}
		if bias.len() != n {
			return fmt.Errorf("bias has %d elements, output rows %d", bias.len(), n)
		}
	}
	shape := append(append([]int{}, a.shape[:len(a.shape)-1]...), n)
	_, py, err := r.newValue(st, 0, ops.Float, shape)
	if err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 {
		return unsupported("FusedMatMul with an empty inner dimension")
	}
	act := st.Node.Attrs.String("activation", "none")
	// cuBLASLt fuses the bias and a ReLU; the GELUs (whose epilogue form
	// cuBLASLt does not specify) run as a second pass.
	if done, err := r.ln.matmulBias(act == "relu", m, n, k, pa, pb, pbias, py); err != nil || done {
		if err != nil || act == "none" || act == "relu" {
			return err
		}
		return r.biasAct(activation(act), py, 0, m, n)
	}
	if err := r.ln.gemm(false, false, m, n, k, 1, pa, pb, 0, py); err != nil {
		return err
	}
	if pbias == 0 && act == "none" {
		return nil
	}
	return r.biasAct(activation(act), py, pbias, m, n)
}

// activation maps a FusedMatMul activation to the kernels' op code.
func activation(act string) C.int {
	switch act {
	case "relu":
		return C.AGATE_UNARY_RELU
	case "gelu":
		return C.AGATE_UNARY_GELU
	case "gelu_tanh":
		return C.AGATE_UNARY_GELU_TANH
	}
	return C.AGATE_UNARY_IDENTITY
}

func (r *run) attention(st *ProgramStep) error {
	q, kk, v, mask := r.in(st, 0), r.in(st, 1), r.in(st, 2), r.in(st, 3)
	pq, err := r.float(q, "q")
	if err != nil {
		return err
	}
	pk, err := r.float(kk, "k")
	if err != nil {
		return err
	}
	pv, err := r.float(v, "v")
	if err != nil {
		return err
	}
	if len(q.shape) != 3 || len(kk.shape) != 3 || len(v.shape) != 3 {
		return fmt.Errorf("SelfAttention takes [batch, seq, hidden] tensors, got %v, %v, %v", q.shape, kk.shape, v.shape)
	}
	b, sq, h := q.shape[0], q.shape[1], q.shape[2]
	skv := kk.shape[1]
	if !ops.EqualShapes(kk.shape, v.shape) || kk.shape[0] != b || kk.shape[2] != h {
		return fmt.Errorf("q %v, k %v and v %v disagree", q.shape, kk.shape, v.shape)
	}
	heads := int(st.Node.Attrs.Int("num_heads", 0))
	if heads <= 0 || h%heads != 0 {
		return fmt.Errorf("hidden size %d is not a multiple of %d heads", h, heads)
	}
	d := h / heads
	scale := st.Node.Attrs.Float("scale", 0)
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(d)))
	}
	var pm DevicePtr
	var ms [4]int
	if mask != nil {
		if pm, err = r.float(mask, "mask"); err != nil {
			return err
		}
		if ms, err = maskStrides(mask.shape, b, heads, sq, skv); err != nil {
			return err
		}
	}
	_, py, err := r.newValue(st, 0, ops.Float, []int{b, sq, h})
	if err != nil {
		return err
	}
	if b == 0 || sq == 0 {
		return nil
	}
	l, err := AttentionLaunch(b, heads, sq, skv, d)
	if err != nil {
		return unsupported("%v", err)
	}
	return launchErr("agate_attention_f32", C.agate_attention_f32(launch(l), r.ln.stream,
		fp(pq), C.int64_t(h), fp(pk), C.int64_t(h), fp(pv), C.int64_t(h), fp(pm),
		C.int64_t(ms[0]), C.int64_t(ms[1]), C.int64_t(ms[2]), C.int64_t(ms[3]),
		fp(py), C.int64_t(h), C.int(sq), C.int(skv), C.int(d), C.float(scale)))
}

func (r *run) gather(st *ProgramStep) error {
	data, idx := r.in(st, 0), r.in(st, 1)
	pd, err := r.float(data, "data")
	if err != nil {
		return err
	}
	if idx == nil || idx.host == nil || (idx.dt != ops.Int64 && idx.dt != ops.Int32) {
		return unsupported("Gather with indices that are not int32 or int64 host values")
	}
	if len(data.shape) == 0 {
		return fmt.Errorf("Gather from a scalar")
	}
	dim0 := data.shape[0]
	ids, err := idx.host.AsInt64s()
	if err != nil {
		return err
	}
	for i, x := range ids {
		if x < -int64(dim0) || x >= int64(dim0) {
			return fmt.Errorf("index %d at position %d out of range [-%d, %d)", x, i, dim0, dim0)
		}
	}
	pi, err := r.dev(idx)
	if err != nil {
		return err
	}
	rowLen := data.len() / max(dim0, 1)
	shape := append(append([]int{}, idx.shape...), data.shape[1:]...)
	_, py, err := r.newValue(st, 0, ops.Float, shape)
	if err != nil {
		return err
	}
	if len(ids) == 0 || rowLen == 0 {
		return nil
	}
	var i64 *C.int64_t
	var i32 *C.int32_t
	if idx.dt == ops.Int64 {
		i64 = (*C.int64_t)(ptr(pi))
	} else {
		i32 = (*C.int32_t)(ptr(pi))
	}
	return launchErr("agate_gather_rows_f32", C.agate_gather_rows_f32(launch(ElementwiseLaunch(len(ids)*rowLen)), r.ln.stream,
		fp(pd), C.int64_t(dim0), C.int64_t(rowLen), i64, i32, C.int64_t(len(ids)), fp(py), nil))
}

func (r *run) forest(i int, st *ProgramStep) error {
	df := r.k.forests[i]
	x := r.in(st, 0)
	px, err := r.float(x, "X")
	if err != nil {
		return err
	}
	var rows, cols int
	switch len(x.shape) {
	case 1:
		rows, cols = 1, x.shape[0]
	case 2:
		rows, cols = x.shape[0], x.shape[1]
	default:
		return fmt.Errorf("input must be 1-D or 2-D, got shape %v", x.shape)
	}
	f := df.f
	if f.MaxFeature >= cols {
		return fmt.Errorf("the trees read feature %d but the input has %d columns", f.MaxFeature, cols)
	}
	_, py, err := r.newValue(st, 0, ops.Float, []int{rows, f.NumTargets})
	if err != nil {
		return err
	}
	if rows == 0 {
		return nil
	}
	l, per := ForestLaunch(rows, f.NumTrees())
	blocks := l.Grid.Y
	cells := blocks * rows * f.NumTargets
	partial, err := r.fr.Get(4 * cells)
	if err != nil {
		return err
	}
	has, err := r.fr.Get(cells)
	if err != nil {
		return err
	}
	// Both scratch blocks are free for later steps once the finalize
	// kernel is queued.
	defer func() { _ = r.fr.Release(partial); _ = r.fr.Release(has) }()
	if err := launchErr("agate_forest_partial_f32", C.agate_forest_partial_f32(launch(l), r.ln.stream, df.c, fp(px),
		C.int64_t(rows), C.int64_t(cols), C.int(per), fp(partial), (*C.uint8_t)(ptr(has)))); err != nil {
		return err
	}
	return launchErr("agate_forest_finalize_f32", C.agate_forest_finalize_f32(launch(ForestFinalizeLaunch(rows, f.NumTargets)),
		r.ln.stream, df.c, fp(partial), (*C.uint8_t)(ptr(has)), C.int(blocks), C.int64_t(rows), fp(py)))
}
