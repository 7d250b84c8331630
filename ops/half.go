package ops

// halfKernel runs a float32-only kernel (the fused transformer kernels) on
// float16 or bfloat16 tensors: the half-precision inputs are widened into
// arena buffers for the run, the kernel computes in float32, and its
// float32 outputs are narrowed back to the inputs' type. Nothing is kept
// between runs, so a half-precision model stays half-size in memory;
// float32 inputs go straight to the kernel.
type halfKernel struct{ inner Kernel }

// halfFactory wraps the tensor kernels f builds in halfKernel.
func halfFactory(f Factory) Factory {
	return func(n *Node) (any, error) {
		k, err := f(n)
		if err != nil {
			return nil, err
		}
		if kk, ok := k.(Kernel); ok {
			return halfKernel{kk}, nil
		}
		return k, nil
	}
}

// PacksInput is the inner kernel's: float32 inputs reach it unchanged, so
// a packed float32 constant is recognised there as without the adapter.
func (k halfKernel) PacksInput(i int) bool {
	p, ok := k.inner.(InputPacker)
	return ok && p.PacksInput(i)
}

func (k halfKernel) Run(ec *Context, in, out []*Tensor) error {
	var dt DType
	for _, t := range in {
		if t != nil && (t.DType == Float16 || t.DType == BFloat16) {
			dt = t.DType
			break
		}
	}
	if dt == 0 {
		return k.inner.Run(ec, in, out)
	}
	wide := make([]*Tensor, len(in))
	var temps []*Tensor
	defer func() {
		for _, t := range temps {
			ec.Release(t)
		}
	}()
	for i, t := range in {
		wide[i] = t
		if t == nil || (t.DType != Float16 && t.DType != BFloat16) {
			continue
		}
		_, tmp, err := float32Data(ec, t)
		if err != nil {
			return err
		}
		temps = append(temps, tmp)
		wide[i] = tmp
	}
	o32 := make([]*Tensor, len(out))
	if err := k.inner.Run(ec, wide, o32); err != nil {
		return err
	}
	for i, t := range o32 {
		if t == nil || t.DType != Float {
			out[i] = t
			continue
		}
		y := ec.Empty(dt, t.Shape...)
		narrowFloat32s(y.Data, t.Float32s())
		ec.Release(t)
		out[i] = y
	}
	return nil
}
