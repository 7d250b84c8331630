package cuda

import (
	"errors"
	"fmt"

	"github.com/agate-ml/agate/ops"
)

// Program is a run of consecutive graph nodes placed on the device. Values
// are numbered 0..NumValues-1; a value is a constant (Consts), a program
// input (supplied by the host at each run), or the output of a step.
type Program struct {
	NumValues int
	Consts    []*ops.Tensor // by value; nil for non-constants
	Inputs    []int         // values the host supplies, in kernel input order
	Outputs   []int         // values returned to the host, in kernel output order
	Steps     []ProgramStep
}

// ProgramStep is one node of a Program.
type ProgramStep struct {
	Node *ops.Node
	In   []int // value numbers, -1 for an omitted input
	Out  []int // value numbers, -1 for an omitted output

	// Fallback is the node's CPU kernel. It runs the step when a shape or
	// type seen at run time has no device implementation (the step's
	// inputs are copied to the host and its outputs back).
	Fallback ops.Kernel
}

// StepError is returned by Compile when one step cannot be part of the
// program; the caller moves that step to the CPU and compiles again.
type StepError struct {
	Step int
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("cuda: step %d: %v", e.Step, e.Err) }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// ErrHostInput is wrapped by a StepError for a node whose host-read input
// (a shape) would be produced on the device.
var ErrHostInput = errors.New("reads on the host a value produced on the device")

// Validate checks that p is well formed: every value a step reads is a
// constant, an input or the output of an earlier step, no value is defined
// twice, outputs are defined, and host-read inputs (Reshape's shape) are not
// produced on the device. Errors about one step are *StepError.
func (p *Program) Validate() error {
	_, err := p.analyze()
	return err
}

// analysis is what compiling a program derives from it without a device.
type analysis struct {
	lastUse  []int  // value -> index of the last step reading it (-1: none; len(Steps): an output)
	produced []bool // value -> written by a step
	views    []bool // step -> output 0 aliases input 0 (Reshape, Identity)
}

// analyze validates p and computes value lifetimes.
func (p *Program) analyze() (*analysis, error) {
	nv := p.NumValues
	if len(p.Consts) != nv {
		return nil, fmt.Errorf("cuda: program has %d values but %d constant slots", nv, len(p.Consts))
	}
	a := &analysis{lastUse: make([]int, nv), produced: make([]bool, nv), views: make([]bool, len(p.Steps))}
	for i := range a.lastUse {
		a.lastUse[i] = -1
	}
	defined := make([]bool, nv)
	check := func(v int) error {
		if v < -1 || v >= nv {
			return fmt.Errorf("value %d out of range [0, %d)", v, nv)
		}
		return nil
	}
	for _, v := range p.Inputs {
		if err := check(v); err != nil || v < 0 {
			return nil, fmt.Errorf("cuda: program input: %v", err)
		}
		defined[v] = true
	}
	for v, c := range p.Consts {
		if c != nil {
			defined[v] = true
		}
	}
	for i, st := range p.Steps {
		if st.Node == nil {
			return nil, fmt.Errorf("cuda: step %d has no node", i)
		}
		for _, v := range st.In {
			if err := check(v); err != nil {
				return nil, &StepError{i, err}
			}
			if v >= 0 && !defined[v] {
				return nil, &StepError{i, fmt.Errorf("input value %d is not defined before the step", v)}
			}
			if v >= 0 {
				a.lastUse[v] = i
			}
		}
		for _, h := range HostInputs(st.Node) {
			if h < len(st.In) && st.In[h] >= 0 && a.produced[st.In[h]] {
				return nil, &StepError{i, fmt.Errorf("%s: input %d %w", st.Node.Describe(), h, ErrHostInput)}
			}
		}
		for _, v := range st.Out {
			if err := check(v); err != nil {
				return nil, &StepError{i, err}
			}
			if v >= 0 {
				if defined[v] {
					return nil, &StepError{i, fmt.Errorf("value %d is defined twice", v)}
				}
				defined[v], a.produced[v] = true, true
				if a.lastUse[v] < i {
					a.lastUse[v] = i
				}
			}
		}
		switch st.Node.OpType {
		case "Reshape", "Identity":
			a.views[i] = true
		}
	}
	for _, v := range p.Outputs {
		if err := check(v); err != nil || v < 0 || !defined[v] {
			return nil, fmt.Errorf("cuda: program output %d is not defined", v)
		}
		a.lastUse[v] = len(p.Steps)
	}
	return a, nil
}
