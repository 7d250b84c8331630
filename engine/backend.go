package engine

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agate-ml/agate/engine/cuda"
	"github.com/agate-ml/agate/ops"
)

// ErrNoDevice is wrapped by the error of loading a model for a device that
// this binary or machine cannot use: a build without the cuda tag, no
// NVIDIA driver, no GPU, or an ordinal out of range. A caller that can live
// with the CPU loads the model again without the device and says so.
var ErrNoDevice = errors.New("engine: device not available")

// Backend runs graph nodes on one device. The CPU backend, the default,
// runs every node with the kernels of the plan's registry; another backend
// takes the runs of consecutive nodes it supports, and the planner keeps the
// rest on the CPU, logging each such node with the reason.
type Backend interface {
	// Name identifies the device, e.g. "cpu" or "cuda:0".
	Name() string
	// Supports reports whether the backend can run n, and if not, why.
	Supports(n *ops.Node) (bool, string)
	// Compile turns a run of supported nodes into one kernel that keeps
	// the values it computes on the device and hands back only the
	// program's outputs. It returns a *cuda.StepError for a node that
	// cannot be part of the program after all; the planner moves that
	// node to the CPU and compiles again.
	Compile(p *cuda.Program) (ops.Kernel, error)
}

// cpuBackend is the default backend: plans run as compiled.
type cpuBackend struct{}

func (cpuBackend) Name() string                      { return "cpu" }
func (cpuBackend) Supports(*ops.Node) (bool, string) { return true, "" }
func (cpuBackend) Compile(*cuda.Program) (ops.Kernel, error) {
	return nil, errors.New("engine: the CPU backend runs plans as compiled")
}

// cudaBackend places nodes on a CUDA GPU.
type cudaBackend struct{ dev *cuda.Device }

func (b cudaBackend) Name() string                                { return b.dev.Name() }
func (b cudaBackend) Supports(n *ops.Node) (bool, string)         { return cuda.Supported(n) }
func (b cudaBackend) Compile(p *cuda.Program) (ops.Kernel, error) { return b.dev.Compile(p) }

// NewBackend returns the backend for a device name: "" or "cpu" for the
// CPU, "cuda" or "cuda:N" for a GPU. Errors for a GPU that cannot be used
// wrap ErrNoDevice (and the cuda package's cause). logf, which may be nil,
// receives the run-time fallbacks of device programs.
func NewBackend(device string, logf func(format string, args ...any)) (Backend, error) {
	switch strings.ToLower(strings.TrimSpace(device)) {
	case "", "cpu":
		return cpuBackend{}, nil
	}
	ordinal, err := cuda.ParseDevice(device)
	if err != nil {
		return nil, fmt.Errorf("engine: unknown device %q (expected cpu or cuda:N): %w", device, err)
	}
	dev, err := cuda.Open(ordinal, cuda.Options{Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoDevice, device, err)
	}
	return cudaBackend{dev}, nil
}

// Placement records where a plan's nodes run.
type Placement struct {
	Device   string // the backend's name
	OnDevice int    // nodes running on the device
	OnCPU    int    // nodes kept on the CPU
	Programs int    // device programs (each a run of consecutive nodes)

	// CPUNodes describes each node kept on the CPU with the reason, in
	// plan order ("Mul node \"m\" (ai.onnx opset 17): no CUDA kernel").
	CPUNodes []string
}

// String summarises the placement in one line.
func (pl *Placement) String() string {
	if pl.Device == "cpu" {
		return fmt.Sprintf("all %d nodes on the CPU", pl.OnCPU)
	}
	return fmt.Sprintf("%d nodes on %s in %d programs, %d on the CPU", pl.OnDevice, pl.Device, pl.Programs, pl.OnCPU)
}

// segmentOp is the op type of a plan step that runs a device program.
const segmentOp = "DeviceProgram"

// placePlan assigns the top-level steps of p to b: each maximal run of
// consecutive steps that b supports becomes one step running a device
// program; the others stay on the CPU. Subgraphs (control flow) stay on the
// CPU. logf, which may be nil, receives one line per node kept on the CPU
// and a summary. A program the backend fails to compile (other than for
// one step) stays on the CPU, logged.
func placePlan(p *plan, b Backend, logf func(format string, args ...any)) (*Placement, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	pl := &Placement{Device: b.Name()}
	if _, isCPU := b.(cpuBackend); isCPU {
		pl.OnCPU = len(p.steps)
		return pl, nil
	}
	onDev := make([]bool, len(p.steps))
	why := make([]string, len(p.steps))
	for i, st := range p.steps {
		switch {
		case st.kernel == nil || st.vkernel != nil:
			why[i] = "not a tensor kernel"
		default:
			onDev[i], why[i] = b.Supports(st.node)
		}
	}
	var steps []*step
	for i := 0; i < len(p.steps); {
		if !onDev[i] {
			steps = append(steps, p.steps[i])
			i++
			continue
		}
		j := i
		for j < len(p.steps) && onDev[j] {
			j++
		}
		st, bad, err := compileSegment(p, b, i, j)
		var se *cuda.StepError
		switch {
		case errors.As(err, &se) && bad >= 0:
			onDev[bad], why[bad] = false, fmt.Sprintf("not compiled for %s: %v", b.Name(), se.Err)
			continue // plan [i, j) again without it
		case err != nil:
			for k := i; k < j; k++ {
				onDev[k], why[k] = false, fmt.Sprintf("program for %s failed: %v", b.Name(), err)
			}
			continue
		}
		steps = append(steps, st)
		pl.Programs++
		i = j
	}
	for i, st := range p.steps {
		if onDev[i] {
			pl.OnDevice++
			continue
		}
		pl.OnCPU++
		line := fmt.Sprintf("%s: %s", st.node.Describe(), why[i])
		pl.CPUNodes = append(pl.CPUNodes, line)
		logf("engine: on the CPU: %s", line)
	}
	p.steps = steps
	for _, st := range p.steps {
		st.release = st.release[:0]
		p.maxIn = max(p.maxIn, len(st.in))
		p.maxOut = max(p.maxOut, len(st.out))
	}
	p.computeLiveness()
	p.frames = framePool{p: p}
	logf("engine: %s", pl)
	return pl, nil
}

// compileSegment builds the device program of steps [i, j) of p and the
// plan step that runs it. On a *cuda.StepError it also returns the index
// (in p.steps) of the offending step.
func compileSegment(p *plan, b Backend, i, j int) (*step, int, error) {
	seg := p.steps[i:j]
	produced := map[int]bool{}
	for _, st := range seg {
		for _, s := range st.out {
			if s >= 0 {
				produced[s] = true
			}
		}
	}
	// Slots read after the segment, or graph outputs, leave the device.
	needed := map[int]bool{}
	for _, st := range p.steps[j:] {
		for _, s := range st.in {
			needed[s] = true
		}
	}
	for _, s := range p.outputs {
		needed[s] = true
	}

	prog := &cuda.Program{}
	value := map[int]int{} // slot -> program value
	val := func(s int) int {
		if v, ok := value[s]; ok {
			return v
		}
		v := prog.NumValues
		prog.NumValues++
		value[s] = v
		var c *ops.Tensor
		if t, ok := p.consts[s].(*ops.Tensor); ok && !produced[s] {
			c = t
		}
		prog.Consts = append(prog.Consts, c)
		return v
	}
	st := &step{node: &ops.Node{OpType: segmentOp, Domain: ops.DomainAgate, Version: 1}}
	for _, s0 := range seg {
		ps := cuda.ProgramStep{Node: s0.node, Fallback: s0.kernel}
		for _, s := range s0.in {
			if s < 0 {
				ps.In = append(ps.In, -1)
				continue
			}
			_, seen := value[s]
			v := val(s)
			if !seen && !produced[s] && prog.Consts[v] == nil {
				prog.Inputs = append(prog.Inputs, v)
				st.in = append(st.in, s)
			}
			ps.In = append(ps.In, v)
		}
		for _, s := range s0.out {
			if s < 0 {
				ps.Out = append(ps.Out, -1)
				continue
			}
			v := val(s)
			ps.Out = append(ps.Out, v)
			if needed[s] {
				prog.Outputs = append(prog.Outputs, v)
				st.out = append(st.out, s)
			}
		}
		prog.Steps = append(prog.Steps, ps)
	}
	first, last := seg[0].node, seg[len(seg)-1].node
	st.node.Name = fmt.Sprintf("%s: %d nodes, %s .. %s", b.Name(), len(seg), first.Describe(), last.Describe())
	st.node.Inputs = slotNames(p, st.in)
	st.node.Outputs = slotNames(p, st.out)
	k, err := b.Compile(prog)
	if err != nil {
		var se *cuda.StepError
		if errors.As(err, &se) && se.Step >= 0 && se.Step < len(seg) {
			return nil, i + se.Step, err
		}
		return nil, -1, err
	}
	st.kernel = k
	return st, -1, nil
}

func slotNames(p *plan, slots []int) []string {
	names := make([]string, len(slots))
	for i, s := range slots {
		names[i] = p.names[s]
	}
	return names
}

// closeKernels releases what the plan's kernels hold outside the Go heap
// (device programs' GPU memory). Model.Close calls it.
func (p *plan) closeKernels() error {
	var errs []error
	for _, st := range p.steps {
		if c, ok := st.kernel.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// useDevice is the planner hook for placement: it places p on the device
// named by device ("" or "cpu": nothing changes) and returns the placement.
// Model building calls it after compiling the top-level plan; see
// WithDevice.
func useDevice(p *plan, device string, logf func(format string, args ...any)) (*Placement, error) {
	b, err := NewBackend(device, logf)
	if err != nil {
		return nil, err
	}
	return placePlan(p, b, logf)
}

// CheckDevice reports whether device ("cpu", "cuda:N") can be used by this
// binary on this machine; the error wraps ErrNoDevice when it cannot.
func CheckDevice(device string) error {
	_, err := NewBackend(device, nil)
	return err
}
