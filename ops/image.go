package ops

import (
	"fmt"
	"math"
)

// registerImage registers the spatial sampling operators GridSample and
// AffineGrid.
func registerImage(r *Registry) {
	r.Add("", "GridSample", 16, newGridSample)
	r.Add("", "AffineGrid", 20, newAffineGrid)
}

// Grid sampling padding modes.
const (
	gridPadZeros = iota
	gridPadBorder
	gridPadReflection
)

type gridSampleKernel struct {
	mode         int // resizeNearest, resizeLinear or resizeCubic
	padding      int
	alignCorners bool
}

func newGridSample(n *Node) (any, error) {
	k := &gridSampleKernel{alignCorners: n.Attrs.Int("align_corners", 0) != 0}
	def := "linear"
	if n.Version < 20 {
		def = "bilinear"
	}
	switch m := n.Attrs.String("mode", def); m {
	case "bilinear", "linear":
		k.mode = resizeLinear
	case "nearest":
		k.mode = resizeNearest
	case "bicubic", "cubic":
		k.mode = resizeCubic
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	switch p := n.Attrs.String("padding_mode", "zeros"); p {
	case "zeros":
		k.padding = gridPadZeros
	case "border":
		k.padding = gridPadBorder
	case "reflection":
		k.padding = gridPadReflection
	default:
		return nil, fmt.Errorf("unknown padding_mode %q", p)
	}
	return k, nil
}

// gridTaps holds the taps of one sample along one dimension.
type gridTaps struct {
	n   int
	idx [4]int
	w   [4]float64
}

func (k *gridSampleKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("inputs X and grid are required")
	}
	x, grid := in[0], in[1]
	if len(x.Shape) < 3 {
		return fmt.Errorf("X must have rank at least 3, got shape %v", x.Shape)
	}
	nd := len(x.Shape) - 2
	if nd > 3 {
		return fmt.Errorf("%d spatial dimensions are not supported (at most 3)", nd)
	}
	if len(grid.Shape) != nd+2 || grid.Shape[0] != x.Shape[0] || grid.Shape[nd+1] != nd {
		return fmt.Errorf("grid shape %v does not match X shape %v", grid.Shape, x.Shape)
	}
	N, C := x.Shape[0], x.Shape[1]
	outShape := append([]int{N, C}, grid.Shape[1:nd+1]...)
	y := ec.Empty(x.DType, outShape...)
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	for _, d := range x.Shape[2:] {
		if d == 0 {
			return fmt.Errorf("cannot sample from X of shape %v", x.Shape)
		}
	}
	xs, xt, err := WorkFloat64s(ec, x)
	if err != nil {
		return err
	}
	defer ec.Release(xt)
	gs, gt, err := WorkFloat64s(ec, grid)
	if err != nil {
		return err
	}
	defer ec.Release(gt)
	single := grid.DType != Double
	yt := ec.Empty(Double, outShape...)
	defer ec.Release(yt)
	ys := yt.Float64s()
	// Lift to three spatial dimensions.
	var dims [3]int
	for i := range dims {
		dims[i] = 1
	}
	copy(dims[3-nd:], x.Shape[2:])
	inP := dims[0] * dims[1] * dims[2]
	P := NumElements(grid.Shape[1 : nd+1])
	ec.Parallel(N*P, max(1, 4096/max(C, 1)), func(lo, hi int) {
		var taps [3]gridTaps
		for it := lo; it < hi; it++ {
			b, p := it/P, it%P
			g := gs[(b*P+p)*nd : (b*P+p+1)*nd]
			for i := 0; i < 3; i++ {
				if i < 3-nd {
					taps[i] = gridTaps{n: 1, w: [4]float64{1}}
					continue
				}
				// Grid coordinates are ordered (x, y, z): innermost first.
				taps[i] = k.taps(g[nd-1-(i-(3-nd))], dims[i], nd, single)
			}
			for c := 0; c < C; c++ {
				plane := xs[(b*C+c)*inP : (b*C+c+1)*inP]
				var v float64
				for a := 0; a < taps[0].n; a++ {
					wa := taps[0].w[a]
					if wa == 0 {
						continue
					}
					for bb := 0; bb < taps[1].n; bb++ {
						wb := wa * taps[1].w[bb]
						if wb == 0 {
							continue
						}
						row := (taps[0].idx[a]*dims[1] + taps[1].idx[bb]) * dims[2]
						for cc := 0; cc < taps[2].n; cc++ {
							if w := taps[2].w[cc]; w != 0 {
								v += wb * w * plane[row+taps[2].idx[cc]]
							}
						}
					}
				}
				ys[(b*C+c)*P+p] = v
			}
		}
	})
	StoreFloat64s(y, ys)
	return nil
}

// taps computes the sampling taps of normalized coordinate g along a
// dimension of size d. Out-of-range taps under zeros padding get weight 0.
func (k *gridSampleKernel) taps(g float64, d, nd int, single bool) gridTaps {
	var x float64
	if single {
		gf, df := float32(g), float32(d)
		if k.alignCorners {
			x = float64((gf + 1) / 2 * (df - 1))
		} else {
			x = float64(((gf+1)*df - 1) / 2)
		}
	} else if k.alignCorners {
		x = (g + 1) / 2 * float64(d-1)
	} else {
		x = ((g+1)*float64(d) - 1) / 2
	}
	lo, hi := -0.5, float64(d)-0.5
	if k.alignCorners {
		lo, hi = 0, float64(d-1)
	}
	if k.mode == resizeNearest {
		x = math.RoundToEven(x)
	}
	if x < lo || x > hi {
		switch k.padding {
		case gridPadBorder:
			x = min(max(x, 0), float64(d-1))
		case gridPadReflection:
			x = gridReflect(x, lo, hi)
		}
	}
	var t gridTaps
	switch k.mode {
	case resizeNearest:
		t.n = 1
		t.idx[0], t.w[0] = int(x), 1
	case resizeLinear:
		x0 := math.Floor(x)
		r := x - x0
		t.n = 2
		t.idx[0], t.idx[1] = int(x0), int(x0)+1
		t.w[0], t.w[1] = 1-r, r
	default:
		x0 := math.Floor(x)
		r := x - x0
		t.n = 4
		for i := 0; i < 4; i++ {
			t.idx[i] = int(x0) - 1 + i
			t.w[i] = resizeCubicWeight(float64(i-1)-r, -0.75)
		}
	}
	for i := 0; i < t.n; i++ {
		j := t.idx[i]
		if j >= 0 && j < d {
			continue
		}
		switch k.padding {
		case gridPadZeros:
			t.w[i], t.idx[i] = 0, 0
		case gridPadBorder:
			t.idx[i] = min(max(j, 0), d-1)
		default:
			t.idx[i] = min(max(int(gridReflect(float64(j), lo, hi)), 0), d-1)
		}
	}
	return t
}

// gridReflect reflects x by the borders lo and hi until it lies between
// them.
func gridReflect(x, lo, hi float64) float64 {
	rng := hi - lo
	if rng <= 0 {
		return lo
	}
	if x < lo {
		dx := lo - x
		n := math.Floor(dx / rng)
		r := dx - n*rng
		if math.Mod(n, 2) == 0 {
			return lo + r
		}
		return hi - r
	}
	if x > hi {
		dx := x - hi
		n := math.Floor(dx / rng)
		r := dx - n*rng
		if math.Mod(n, 2) == 0 {
			return hi - r
		}
		return lo + r
	}
	return x
}

type affineGridKernel struct {
	alignCorners bool
}

func newAffineGrid(n *Node) (any, error) {
	return &affineGridKernel{alignCorners: n.Attrs.Int("align_corners", 0) != 0}, nil
}

func (k *affineGridKernel) Run(ec *Context, in, out []*Tensor) error {
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("inputs theta and size are required")
	}
	theta, sizeT := in[0], in[1]
	size, err := sizeT.AsInt64s()
	if err != nil {
		return fmt.Errorf("size: %w", err)
	}
	if len(size) != 4 && len(size) != 5 {
		return fmt.Errorf("size %v must have 4 or 5 elements", size)
	}
	nd := len(size) - 2
	N := int(size[0])
	if len(theta.Shape) != 3 || theta.Shape[0] != N || theta.Shape[1] != nd || theta.Shape[2] != nd+1 {
		return fmt.Errorf("theta shape %v must be [%d %d %d]", theta.Shape, N, nd, nd+1)
	}
	spatial := make([]int, nd)
	for i := range spatial {
		if size[2+i] < 0 {
			return fmt.Errorf("size %v must not be negative", size)
		}
		spatial[i] = int(size[2+i])
	}
	ts, tt, err := WorkFloat64s(ec, theta)
	if err != nil {
		return err
	}
	defer ec.Release(tt)
	shape := append(append([]int{N}, spatial...), nd)
	y := ec.Empty(theta.DType, shape...)
	out[0] = y
	yt := ec.Empty(Double, shape...)
	defer ec.Release(yt)
	ys := yt.Float64s()
	// base[i] holds the normalized coordinates along spatial axis i.
	base := make([][]float64, nd)
	for i, d := range spatial {
		base[i] = make([]float64, d)
		for j := 0; j < d; j++ {
			switch {
			case !k.alignCorners:
				base[i][j] = (2*float64(j)+1)/float64(d) - 1
			case d > 1:
				base[i][j] = -1 + 2*float64(j)/float64(d-1)
			default:
				base[i][j] = -1
			}
		}
	}
	P := NumElements(spatial)
	var pos, coord [3]int
	var v [4]float64
	for b := 0; b < N; b++ {
		th := ts[b*nd*(nd+1) : (b+1)*nd*(nd+1)]
		pos = coord
		for p := 0; p < P; p++ {
			// v = (x, y[, z], 1) with x the innermost axis.
			for i := 0; i < nd; i++ {
				v[i] = base[nd-1-i][pos[nd-1-i]]
			}
			v[nd] = 1
			o := ys[(b*P+p)*nd : (b*P+p+1)*nd]
			for r := 0; r < nd; r++ {
				var s float64
				for c := 0; c <= nd; c++ {
					s += th[r*(nd+1)+c] * v[c]
				}
				o[r] = s
			}
			for d := nd - 1; d >= 0; d-- {
				pos[d]++
				if pos[d] < spatial[d] {
					break
				}
				pos[d] = 0
			}
		}
	}
	StoreFloat64s(y, ys)
	return nil
}
