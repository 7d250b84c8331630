package onnxbuild

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/agate-ml/agate/ops"
)

// EncoderConfig describes a BERT-family sequence classifier for
// EncoderClassifier: its sizes, and how the exporter wrote each block.
// Zero style fields mean the torch.onnx.export form of Hugging Face's BERT
// (the form of the fixtures in ../shared/models/transformers).
type EncoderConfig struct {
	Layers, Hidden, Heads, FFN int
	Vocab, MaxPositions        int
	TypeVocab                  int // 0: no token_type_ids input
	Labels                     int
	Seed                       int64

	// GELU is "erf" (exact), "tanh" (gelu_new: Pow(x, 3)) or "tanh-cube"
	// (torch's approximate="tanh": x·x·x).
	GELU string
	// LayerNorm is "decomposed" (ReduceMean, Sub, Pow, … as exported below
	// opset 17) or "native" (LayerNormalization; needs Opset ≥ 17).
	LayerNorm string
	// Attention is "bert" (Q·Kᵀ, then Div by √d, additive [B,1,1,S] mask),
	// "sdpa" (torch's scaled_dot_product_attention: q and kᵀ each scaled
	// by d^-¼, additive [B,1,S,S] mask) or "distilbert" (q divided by √d
	// before Q·Kᵀ, the mask applied with Where; ReLU classifier head).
	Attention string
	// Positions is "bert" (a slice of a position-id buffer) or "roberta"
	// (positions counted over non-pad tokens, offset by the pad id 1).
	Positions string
	// ConstReshape writes the head split and merge reshapes with constant
	// targets ([0, 0, heads, d]) instead of Concat of Shape reads.
	ConstReshape bool
	// Opset is the default-domain opset (14 when 0).
	Opset int
	// Int32Inputs declares the id inputs int32 (as TensorFlow-converted
	// models do) and casts them to int64 inside the graph.
	Int32Inputs bool
	// PositionInput makes position_ids a graph input instead of computing
	// the positions.
	PositionInput bool
	// StaticBatch and StaticSeq, when positive, declare the inputs with
	// that fixed batch size or sequence length instead of symbolic dims.
	StaticBatch, StaticSeq int
	// MaskFill is the value masked scores are set to by the sdpa and
	// distilbert forms (0: float32's lowest, as torch's finfo.min).
	MaskFill float32
}

// EncoderClassifier builds a randomly initialised (seeded) encoder
// classifier with inputs input_ids, attention_mask (and token_type_ids when
// TypeVocab > 0), int64 [batch, sequence], and output logits float32
// [batch, labels].
func EncoderClassifier(cfg EncoderConfig) (*Model, error) {
	if cfg.Layers <= 0 || cfg.Hidden <= 0 || cfg.Heads <= 0 || cfg.FFN <= 0 || cfg.Vocab <= 0 ||
		cfg.MaxPositions <= 0 || cfg.Labels <= 0 || cfg.Hidden%cfg.Heads != 0 {
		return nil, fmt.Errorf("onnxbuild: invalid encoder sizes %+v", cfg)
	}
	if cfg.Opset == 0 {
		cfg.Opset = 14
	}
	if cfg.LayerNorm == "native" && cfg.Opset < 17 {
		return nil, fmt.Errorf("onnxbuild: LayerNormalization needs opset 17, not %d", cfg.Opset)
	}
	b := &encBuilder{cfg: cfg, g: NewGraph("encoder"), r: rand.New(rand.NewSource(cfg.Seed))}
	if err := b.build(); err != nil {
		return nil, err
	}
	return &Model{Graph: b.g, Opsets: map[string]int{"": cfg.Opset}, ProducerName: "agate onnxbuild"}, nil
}

type encBuilder struct {
	cfg  EncoderConfig
	g    *Graph
	r    *rand.Rand
	n    int
	err  error
	cast map[string]string // int32 input -> its int64 cast
}

// ids returns the int64 value of an id input: the input itself, or its
// cast when inputs are int32.
func (b *encBuilder) ids(name string) string {
	if !b.cfg.Int32Inputs {
		return name
	}
	if c, ok := b.cast[name]; ok {
		return c
	}
	if b.cast == nil {
		b.cast = map[string]string{}
	}
	c := b.op("Cast", []string{name}, Int("to", int64(ops.Int64)))
	b.cast[name] = c
	return c
}

func (b *encBuilder) fresh(prefix string) string {
	b.n++
	return fmt.Sprintf("/%s_%d", prefix, b.n)
}

// op adds a node with one output and returns the output's name.
func (b *encBuilder) op(op string, inputs []string, attrs ...Attr) string {
	out := b.fresh(op)
	b.g.Node(op, inputs, []string{out}, attrs...)
	return out
}

// constant adds a Constant node holding t.
func (b *encBuilder) constant(t *ops.Tensor) string {
	a, err := TensorAttr("value", t)
	if err != nil && b.err == nil {
		b.err = err
	}
	out := b.fresh("Constant")
	b.g.Node("Constant", nil, []string{out}, a)
	return out
}

func (b *encBuilder) scalar(v float32) string { return b.constant(ops.Scalar(v)) }

func (b *encBuilder) ints(v ...int64) string {
	return b.constant(ops.FromSlice(ops.Int64, v, len(v)))
}

// weight adds a float initializer with values drawn around mean.
func (b *encBuilder) weight(name string, mean, std float64, shape ...int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*b.r.NormFloat64())
	}
	b.g.Initializer(name, ops.FromSlice(ops.Float, v, shape...))
	return name
}

// linear is x·W + bias with W stored [in, out], as torch exports nn.Linear
// for MatMul (the bias first in the Add, as in the fixtures).
func (b *encBuilder) linear(name, x string, in, out int) string {
	w := b.weight(name+".weight", 0, 1/math.Sqrt(float64(in)), in, out)
	bias := b.weight(name+".bias", 0, 0.05, out)
	return b.op("Add", []string{bias, b.op("MatMul", []string{x, w})})
}

// dim returns the 1-element int64 tensor holding dimension i of x.
func (b *encBuilder) dim(x string, i int64) string {
	g := b.op("Gather", []string{b.op("Shape", []string{x}), b.constant(ops.Scalar(i))}, Int("axis", 0))
	return b.unsqueeze(g, 0)
}

func (b *encBuilder) unsqueeze(x string, axes ...int64) string {
	if b.cfg.Opset >= 13 {
		return b.op("Unsqueeze", []string{x, b.ints(axes...)})
	}
	return b.op("Unsqueeze", []string{x}, Ints("axes", axes...))
}

// reduceMeanLast is ReduceMean over the last axis, keeping it: axes as an
// attribute before opset 18, as an input from 18 on.
func (b *encBuilder) reduceMeanLast(x string) string {
	if b.cfg.Opset >= 18 {
		return b.op("ReduceMean", []string{x, b.ints(-1)})
	}
	return b.op("ReduceMean", []string{x}, Ints("axes", -1))
}

func (b *encBuilder) layerNorm(name, x string) string {
	h := b.cfg.Hidden
	gamma := b.weight(name+".weight", 1, 0.1, h)
	beta := b.weight(name+".bias", 0, 0.1, h)
	if b.cfg.LayerNorm == "native" {
		return b.op("LayerNormalization", []string{x, gamma, beta}, Int("axis", -1), Float("epsilon", 1e-12))
	}
	mean := b.reduceMeanLast(x)
	d := b.op("Sub", []string{x, mean})
	v := b.reduceMeanLast(b.op("Pow", []string{d, b.scalar(2)}))
	std := b.op("Sqrt", []string{b.op("Add", []string{v, b.scalar(1e-12)})})
	return b.op("Add", []string{b.op("Mul", []string{b.op("Div", []string{d, std}), gamma}), beta})
}

func (b *encBuilder) gelu(x string) string {
	switch b.cfg.GELU {
	case "tanh", "tanh-cube":
		var cube string
		if b.cfg.GELU == "tanh" {
			cube = b.op("Pow", []string{x, b.scalar(3)})
		} else {
			cube = b.op("Mul", []string{x, b.op("Mul", []string{x, x})})
		}
		inner := b.op("Add", []string{x, b.op("Mul", []string{b.scalar(0.044715), cube})})
		t := b.op("Tanh", []string{b.op("Mul", []string{b.scalar(float32(math.Sqrt(2 / math.Pi))), inner})})
		if b.cfg.GELU == "tanh" {
			half := b.op("Mul", []string{b.scalar(0.5), x})
			return b.op("Mul", []string{half, b.op("Add", []string{b.scalar(1), t})})
		}
		return b.op("Mul", []string{b.scalar(0.5), b.op("Mul", []string{x, b.op("Add", []string{b.scalar(1), t})})})
	}
	e := b.op("Erf", []string{b.op("Div", []string{x, b.scalar(float32(math.Sqrt2))})})
	return b.op("Mul", []string{b.op("Mul", []string{x, b.op("Add", []string{e, b.scalar(1)})}), b.scalar(0.5)})
}

// splitHeads reshapes [B, S, hidden] into [B, S, heads, d].
func (b *encBuilder) splitHeads(x string) string {
	h, d := int64(b.cfg.Heads), int64(b.cfg.Hidden/b.cfg.Heads)
	if b.cfg.ConstReshape {
		return b.op("Reshape", []string{x, b.ints(0, 0, h, d)})
	}
	shape := b.op("Concat", []string{b.dim(x, 0), b.dim(x, 1), b.ints(h), b.ints(d)}, Int("axis", 0))
	return b.op("Reshape", []string{x, shape})
}

func (b *encBuilder) mergeHeads(x string) string {
	if b.cfg.ConstReshape {
		return b.op("Reshape", []string{x, b.ints(0, 0, int64(b.cfg.Hidden))})
	}
	shape := b.op("Concat", []string{b.dim(x, 0), b.dim(x, 1), b.ints(int64(b.cfg.Hidden))}, Int("axis", 0))
	return b.op("Reshape", []string{x, shape})
}

func perm(p ...int64) Attr { return Ints("perm", p...) }

// attention is one self-attention block; mask is the model-level mask
// value the style wants (additive float, or the raw int64 mask for
// distilbert).
func (b *encBuilder) attention(name, x, mask string) string {
	hid := b.cfg.Hidden
	d := float64(hid / b.cfg.Heads)
	q := b.linear(name+".q", x, hid, hid)
	k := b.linear(name+".k", x, hid, hid)
	v := b.linear(name+".v", x, hid, hid)
	qh := b.op("Transpose", []string{b.splitHeads(q)}, perm(0, 2, 1, 3))
	vh := b.op("Transpose", []string{b.splitHeads(v)}, perm(0, 2, 1, 3))
	var probs string
	switch b.cfg.Attention {
	case "sdpa":
		kh := b.op("Transpose", []string{b.splitHeads(k)}, perm(0, 2, 1, 3))
		kt := b.op("Transpose", []string{kh}, perm(0, 1, 3, 2))
		c := float32(math.Sqrt(1 / math.Sqrt(d)))
		s := b.op("MatMul", []string{b.op("Mul", []string{qh, b.scalar(c)}), b.op("Mul", []string{kt, b.scalar(c)})})
		probs = b.op("Softmax", []string{b.op("Add", []string{s, mask})}, Int("axis", -1))
	case "distilbert":
		kh := b.op("Transpose", []string{b.splitHeads(k)}, perm(0, 2, 1, 3))
		kt := b.op("Transpose", []string{kh}, perm(0, 1, 3, 2))
		qs := b.op("Div", []string{qh, b.scalar(float32(math.Sqrt(d)))})
		s := b.op("MatMul", []string{qs, kt})
		full := b.op("Expand", []string{mask, b.op("Shape", []string{s})})
		s = b.op("Where", []string{full, b.scalar(b.maskFill()), s})
		probs = b.op("Softmax", []string{s}, Int("axis", -1))
	default:
		kt := b.op("Transpose", []string{b.splitHeads(k)}, perm(0, 2, 3, 1))
		s := b.op("Div", []string{b.op("MatMul", []string{qh, kt}), b.scalar(float32(math.Sqrt(d)))})
		probs = b.op("Softmax", []string{b.op("Add", []string{s, mask})}, Int("axis", -1))
	}
	ctx := b.op("Transpose", []string{b.op("MatMul", []string{probs, vh})}, perm(0, 2, 1, 3))
	return b.linear(name+".o", b.mergeHeads(ctx), hid, hid)
}

func (b *encBuilder) maskFill() float32 {
	if b.cfg.MaskFill != 0 {
		return b.cfg.MaskFill
	}
	return -math.MaxFloat32
}

// modelMask turns attention_mask into what the attention style consumes.
func (b *encBuilder) modelMask() string {
	switch b.cfg.Attention {
	case "sdpa":
		m := b.unsqueeze(b.ids("attention_mask"), 1, 2)
		shape := b.op("Concat", []string{b.dim(b.ids("attention_mask"), 0), b.ints(1), b.dim(b.ids("attention_mask"), 1), b.dim(b.ids("attention_mask"), 1)}, Int("axis", 0))
		inv := b.op("Sub", []string{b.scalar(1), b.op("Cast", []string{b.op("Expand", []string{m, shape})}, Int("to", int64(ops.Float)))})
		cond := b.op("Cast", []string{inv}, Int("to", int64(ops.Bool)))
		return b.op("Where", []string{cond, b.scalar(b.maskFill()), inv})
	case "distilbert":
		isPad := b.op("Equal", []string{b.ids("attention_mask"), b.constant(ops.Scalar(int64(0)))})
		shape := b.op("Concat", []string{b.dim(b.ids("attention_mask"), 0), b.ints(1, 1), b.dim(b.ids("attention_mask"), 1)}, Int("axis", 0))
		return b.op("Reshape", []string{isPad, shape})
	}
	m := b.op("Cast", []string{b.unsqueeze(b.unsqueeze(b.ids("attention_mask"), 1), 2)}, Int("to", int64(ops.Float)))
	return b.op("Mul", []string{b.op("Sub", []string{b.scalar(1), m}), b.scalar(-math.MaxFloat32)})
}

func (b *encBuilder) embeddings() string {
	cfg := b.cfg
	word := b.op("Gather", []string{b.weight("emb.word.weight", 0, 0.5, cfg.Vocab, cfg.Hidden), b.ids("input_ids")})
	var pos string
	if cfg.PositionInput {
		pos = b.ids("position_ids")
	} else if cfg.Positions == "roberta" {
		// positions = cumsum(ids != pad) * (ids != pad) + pad, pad = 1
		notPad := b.op("Cast", []string{b.op("Not", []string{b.op("Equal", []string{b.ids("input_ids"), b.constant(ops.Scalar(int64(1)))})})}, Int("to", int64(ops.Int32)))
		cum := b.op("CumSum", []string{notPad, b.constant(ops.Scalar(int64(1)))})
		idx := b.op("Cast", []string{b.op("Mul", []string{cum, notPad})}, Int("to", int64(ops.Int64)))
		pos = b.op("Add", []string{idx, b.constant(ops.Scalar(int64(1)))})
	} else {
		ids := make([]int64, cfg.MaxPositions)
		for i := range ids {
			ids[i] = int64(i)
		}
		b.g.Initializer("emb.position_ids", ops.FromSlice(ops.Int64, ids, 1, cfg.MaxPositions))
		pos = b.op("Slice", []string{"emb.position_ids", b.ints(0), b.dim(b.ids("input_ids"), 1), b.ints(1), b.ints(1)})
	}
	x := b.op("Add", []string{word, b.op("Gather", []string{b.weight("emb.pos.weight", 0, 0.5, cfg.MaxPositions, cfg.Hidden), pos})})
	if cfg.TypeVocab > 0 {
		x = b.op("Add", []string{x, b.op("Gather", []string{b.weight("emb.types.weight", 0, 0.5, cfg.TypeVocab, cfg.Hidden), b.ids("token_type_ids")})})
	}
	return b.layerNorm("emb.ln", x)
}

func (b *encBuilder) build() error {
	cfg := b.cfg
	idType := ops.Int64
	if cfg.Int32Inputs {
		idType = ops.Int32
	}
	var batchDim, seqDim any = "batch_size", "sequence_length"
	if cfg.StaticBatch > 0 {
		batchDim = cfg.StaticBatch
	}
	if cfg.StaticSeq > 0 {
		seqDim = cfg.StaticSeq
	}
	ids := TensorType(idType, batchDim, seqDim)
	b.g.Input("input_ids", ids).Input("attention_mask", ids)
	if cfg.TypeVocab > 0 {
		b.g.Input("token_type_ids", ids)
	}
	if cfg.PositionInput {
		b.g.Input("position_ids", ids)
	}
	x := b.embeddings()
	mask := b.modelMask()
	for l := 0; l < cfg.Layers; l++ {
		name := fmt.Sprintf("layers.%d", l)
		a := b.attention(name, x, mask)
		x = b.layerNorm(name+".ln1", b.op("Add", []string{a, x}))
		f := b.linear(name+".out", b.gelu(b.linear(name+".i", x, cfg.Hidden, cfg.FFN)), cfg.FFN, cfg.Hidden)
		x = b.layerNorm(name+".ln2", b.op("Add", []string{f, x}))
	}
	cls := b.op("Gather", []string{x, b.constant(ops.Scalar(int64(0)))}, Int("axis", 1))
	pooled := b.op("Gemm", []string{cls, b.weight("pool.weight", 0, 1/math.Sqrt(float64(cfg.Hidden)), cfg.Hidden, cfg.Hidden), b.weight("pool.bias", 0, 0.05, cfg.Hidden)}, Int("transB", 1))
	if cfg.Attention == "distilbert" {
		pooled = b.op("Relu", []string{pooled})
	} else {
		pooled = b.op("Tanh", []string{pooled})
	}
	w := b.weight("cls.weight", 0, 1/math.Sqrt(float64(cfg.Hidden)), cfg.Labels, cfg.Hidden)
	b.g.Node("Gemm", []string{pooled, w, b.weight("cls.bias", 0, 0.05, cfg.Labels)}, []string{"logits"}, Int("transB", 1))
	b.g.Output("logits", TensorType(ops.Float, batchDim, cfg.Labels))
	return b.err
}

// NamedEncoder is one EncoderClassifier configuration with a short name.
type NamedEncoder struct {
	Name   string
	Config EncoderConfig
}

// EncoderVariants lists BERT-family classifiers of shapes and export styles
// other than the shared fixtures': head sizes of 16 to 64 (20 and 26
// included), hidden sizes that are not multiples of 32, both tanh GELU
// forms, LayerNormalization at opset 17, torch's SDPA and DistilBERT
// attention, RoBERTa positions and constant reshape targets.
func EncoderVariants() []NamedEncoder {
	base := func(layers, hidden, heads, ffn int) EncoderConfig {
		return EncoderConfig{Layers: layers, Hidden: hidden, Heads: heads, FFN: ffn,
			Vocab: 300, MaxPositions: 64, TypeVocab: 2, Labels: 3, Seed: int64(hidden*7 + heads)}
	}
	v := []NamedEncoder{
		{"h64-4heads", base(2, 64, 4, 256)},
		{"h96-3heads", base(2, 96, 3, 384)},
		{"h120-6heads-d20", base(2, 120, 6, 300)},
		{"h312-12heads-d26", base(1, 312, 12, 1200)},
		{"h768-12heads", base(1, 768, 12, 3072)},
	}
	add := func(name string, f func(*EncoderConfig)) {
		c := base(2, 96, 4, 200)
		f(&c)
		v = append(v, NamedEncoder{name, c})
	}
	add("gelu-tanh", func(c *EncoderConfig) { c.GELU = "tanh" })
	add("gelu-tanh-cube", func(c *EncoderConfig) { c.GELU = "tanh-cube" })
	add("layernorm-op17", func(c *EncoderConfig) { c.LayerNorm, c.Opset = "native", 17 })
	add("sdpa", func(c *EncoderConfig) { c.Attention = "sdpa" })
	add("distilbert", func(c *EncoderConfig) { c.Attention, c.TypeVocab = "distilbert", 0 })
	add("roberta", func(c *EncoderConfig) { c.Positions, c.TypeVocab = "roberta", 1 })
	add("const-reshape", func(c *EncoderConfig) { c.ConstReshape = true })
	add("int32-inputs", func(c *EncoderConfig) { c.Int32Inputs = true })
	add("opset-11", func(c *EncoderConfig) { c.Opset = 11 })
	add("opset-13-sdpa", func(c *EncoderConfig) { c.Opset, c.Attention = 13, "sdpa" })
	add("opset-18-distilbert", func(c *EncoderConfig) { c.Opset, c.Attention, c.TypeVocab = 18, "distilbert", 0 })
	add("position-input", func(c *EncoderConfig) { c.PositionInput = true })
	return v
}

// EncoderInputs makes a padded batch for an EncoderClassifier: row b holds
// max(1, seq-b) random tokens, then pad tokens with attention mask 0.
func EncoderInputs(cfg EncoderConfig, batch, seq int, r *rand.Rand) map[string]*ops.Tensor {
	ids, mask, types := ops.NewTensor(ops.Int64, batch, seq), ops.NewTensor(ops.Int64, batch, seq), ops.NewTensor(ops.Int64, batch, seq)
	pad := int64(0)
	if cfg.Positions == "roberta" {
		pad = 1
	}
	for b := 0; b < batch; b++ {
		n := max(1, seq-b)
		for s := 0; s < seq; s++ {
			i := b*seq + s
			if s >= n {
				ids.Int64s()[i] = pad
				continue
			}
			ids.Int64s()[i] = 2 + r.Int63n(int64(cfg.Vocab-2))
			mask.Int64s()[i] = 1
			if cfg.TypeVocab > 1 && s > n/2 {
				types.Int64s()[i] = 1
			}
		}
	}
	in := map[string]*ops.Tensor{"input_ids": ids, "attention_mask": mask}
	if cfg.TypeVocab > 0 {
		in["token_type_ids"] = types
	}
	if cfg.PositionInput {
		pos := ops.NewTensor(ops.Int64, batch, seq)
		for i := range pos.Int64s() {
			pos.Int64s()[i] = int64(i % seq)
		}
		in["position_ids"] = pos
	}
	if cfg.Int32Inputs {
		for k, t := range in {
			v := make([]int32, t.Len())
			for i, x := range t.Int64s() {
				v[i] = int32(x)
			}
			in[k] = ops.FromSlice(ops.Int32, v, batch, seq)
		}
	}
	return in
}
