package ops

import "fmt"

type rotaryKernel struct {
	interleaved bool
	heads       int
	dim         int
}

func newRotaryEmbedding(n *Node) (any, error) {
	k := &rotaryKernel{
		interleaved: n.Attrs.Int("interleaved", 0) != 0,
		heads:       int(n.Attrs.Int("num_heads", 0)),
		dim:         int(n.Attrs.Int("rotary_embedding_dim", 0)),
	}
	if k.heads < 0 || k.dim < 0 || k.dim%2 != 0 {
		return nil, fmt.Errorf("num_heads (%d) and rotary_embedding_dim (%d) must be non-negative, the latter even", k.heads, k.dim)
	}
	return k, nil
}

// Run rotates pairs of features of every head by the angle whose cosine and
// sine the caches give for the token's position.
func (k *rotaryKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("RotaryEmbedding needs input, cos_cache and sin_cache")
	}
	x, cosT, sinT := in[0], in[1], in[2]
	var pos *Tensor
	if len(in) > 3 {
		pos = in[3]
	}
	if cosT.DType != x.DType || sinT.DType != x.DType {
		return fmt.Errorf("RotaryEmbedding caches must have the input's type %s", x.DType)
	}
	// Index the input as [B, S, H, D] with strides.
	var B, S, H, D int
	var sB, sS, sH int
	switch len(x.Shape) {
	case 4: // [B, H, S, D]
		B, H, S, D = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		sB, sH, sS = H*S*D, S*D, D
	case 3: // [B, S, H*D]
		if k.heads == 0 {
			return fmt.Errorf("3-D input needs the num_heads attribute")
		}
		B, S, H = x.Shape[0], x.Shape[1], k.heads
		if x.Shape[2]%H != 0 {
			return fmt.Errorf("hidden size %d is not a multiple of %d heads", x.Shape[2], H)
		}
		D = x.Shape[2] / H
		sB, sS, sH = S*H*D, H*D, D
	default:
		return fmt.Errorf("RotaryEmbedding input must be 3-D or 4-D, got shape %s", ShapeString(x.Shape))
	}
	rd := k.dim
	if rd == 0 {
		rd = D
	}
	if rd > D {
		return fmt.Errorf("rotary_embedding_dim %d exceeds head size %d", rd, D)
	}
	half := rd / 2
	cs, ss := cosT.Shape, sinT.Shape
	if !EqualShapes(cs, ss) || len(cs) < 2 || cs[len(cs)-1] != half {
		return fmt.Errorf("cos_cache %s and sin_cache %s must match, with last dimension %d", ShapeString(cs), ShapeString(ss), half)
	}
	var posv []int64
	if pos != nil {
		var err error
		posv, err = pos.AsInt64s()
		if err != nil {
			return fmt.Errorf("position_ids: %w", err)
		}
		if len(posv) != B*S || len(cs) != 2 {
			return fmt.Errorf("position_ids of shape %s need 2-D caches and shape [%d %d]", ShapeString(pos.Shape), B, S)
		}
		for _, p := range posv {
			if p < 0 || int(p) >= cs[0] {
				return fmt.Errorf("position id %d out of range for a cache of %d positions", p, cs[0])
			}
		}
	} else {
		switch {
		case len(cs) == 3 && cs[0] == B && cs[1] == S:
		case len(cs) == 2 && cs[0] == S:
		default:
			return fmt.Errorf("without position_ids the caches must be [%d %d %d], got %s", B, S, half, ShapeString(cs))
		}
	}
	xf, xt, err := attnFloat(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	cf, ct, err := attnFloat(ec, cosT)
	if err != nil {
		return err
	}
	defer ec.Release(ct)
	sf, st, err := attnFloat(ec, sinT)
	if err != nil {
		return err
	}
	defer ec.Release(st)
	yt := ec.Empty(Float, x.Shape...)
	yf := yt.Float32s()
	copy(yf, xf)
	for b := 0; b < B; b++ {
		for s := 0; s < S; s++ {
			var row int
			switch {
			case posv != nil:
				row = int(posv[b*S+s])
			case len(cs) == 3:
				row = b*S + s
			default:
				row = s
			}
			cr := cf[row*half : (row+1)*half]
			sr := sf[row*half : (row+1)*half]
			for h := 0; h < H; h++ {
				base := b*sB + s*sS + h*sH
				xin := xf[base : base+D]
				yo := yf[base : base+D]
				for i := 0; i < half; i++ {
					var i1, i2 int
					if k.interleaved {
						i1, i2 = 2*i, 2*i+1
					} else {
						i1, i2 = i, i+half
					}
					x1, x2 := xin[i1], xin[i2]
					yo[i1] = cr[i]*x1 - sr[i]*x2
					yo[i2] = sr[i]*x1 + cr[i]*x2
				}
			}
		}
	}
	if x.DType == Float {
		out[0] = yt
		return nil
	}
	y := ec.Empty(x.DType, x.Shape...)
	narrowFloat32s(y.Data, yf)
	ec.Release(yt)
	out[0] = y
	return nil
}
