// Package demo builds the service's default model: a random-forest
// regressor trained by agate's own code (package forest) on the seed
// project's synthetic five-feature data, exported to ONNX as a
// StandardScaler followed by a tree ensemble (ai.onnx.ml Scaler +
// TreeEnsembleRegressor), the shape scikit-learn + skl2onnx produce.
//
// The data are generated deterministically:
//
//	x0..x4 ~ N(0, 1) independently
//	y = 3·x0 − 2·x1 + x2·x3 + sin(x4) + ε,  ε ~ N(0, 0.1²)
//
// so the same seed always gives the same model file, byte for byte.
package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/models/forest"
	"github.com/agate-ml/agate/ops"
)

// NumFeatures is the number of input features of the demo model.
const NumFeatures = 5

// Name is the demo model's name in the service.
const Name = "demo-rf"

// Version is the demo model's version; it changes when the data, the
// trainer or the export change.
const Version = "2"

// Formula documents the target function of the synthetic data.
const Formula = "y = 3*x0 - 2*x1 + x2*x3 + sin(x4) + N(0, 0.1^2), x ~ N(0, I5)"

// Config controls the data set and the forest.
type Config struct {
	// Samples is the number of training rows (default 2000).
	Samples int
	// Seed seeds both the data and the forest (default 42).
	Seed uint64
	// Forest configures the trees (defaults: 50 trees, depth 8).
	Forest forest.Config
}

// DefaultConfig is the configuration of the served demo model.
func DefaultConfig() Config {
	return Config{Samples: 2000, Seed: 42, Forest: forest.Config{Trees: 50, MaxDepth: 8, Seed: 42}}
}

// Target is the noise-free synthetic target function.
func Target(x []float64) float64 {
	return 3*x[0] - 2*x[1] + x[2]*x[3] + math.Sin(x[4])
}

// Data generates n rows of the synthetic data set from seed: features as
// float32 (the model's input type) and float64 targets.
func Data(n int, seed uint64) ([][]float32, []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	x := make([][]float32, n)
	y := make([]float64, n)
	row := make([]float64, NumFeatures)
	for i := range x {
		x[i] = make([]float32, NumFeatures)
		for j := range row {
			v := float32(rng.NormFloat64())
			x[i][j] = v
			row[j] = float64(v)
		}
		y[i] = Target(row) + 0.1*rng.NormFloat64()
	}
	return x, y
}

// Model is the trained pipeline: a standard scaler and a forest trained on
// the scaled features.
type Model struct {
	// Offset and Scale are the scaler's parameters: scaled = (x − Offset) · Scale,
	// computed in float32 like the ONNX Scaler operator.
	Offset, Scale []float32
	// Min and Max are each feature's range in the training data.
	Min, Max []float32
	Forest   *forest.Forest
}

// Train generates the data and fits the scaler and the forest.
func Train(cfg Config) (*Model, error) {
	if cfg.Samples <= 1 {
		return nil, errors.New("demo: need at least 2 samples")
	}
	x, y := Data(cfg.Samples, cfg.Seed)
	m := &Model{Offset: make([]float32, NumFeatures), Scale: make([]float32, NumFeatures),
		Min: make([]float32, NumFeatures), Max: make([]float32, NumFeatures)}
	for j := 0; j < NumFeatures; j++ {
		var s, s2 float64
		m.Min[j], m.Max[j] = x[0][j], x[0][j]
		for _, r := range x {
			s += float64(r[j])
			m.Min[j], m.Max[j] = min(m.Min[j], r[j]), max(m.Max[j], r[j])
		}
		mean := s / float64(len(x))
		for _, r := range x {
			d := float64(r[j]) - mean
			s2 += d * d
		}
		std := math.Sqrt(s2 / float64(len(x)))
		if std == 0 {
			std = 1
		}
		m.Offset[j] = float32(mean)
		m.Scale[j] = float32(1 / std)
	}
	scaled := make([][]float32, len(x))
	for i, r := range x {
		scaled[i] = m.scale(r, nil)
	}
	f, err := forest.Train(scaled, y, cfg.Forest)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	m.Forest = f
	return m, nil
}

func (m *Model) scale(row, dst []float32) []float32 {
	if dst == nil {
		dst = make([]float32, len(row))
	}
	for j, v := range row {
		dst[j] = float32(v-m.Offset[j]) * m.Scale[j]
	}
	return dst
}

// Predict returns the model's prediction for one raw (unscaled) row, as
// float32 like the ONNX model's output.
func (m *Model) Predict(row []float32) float32 {
	return float32(m.Forest.Predict(m.scale(row, nil)))
}

// ONNX exports the model: input X float32 [N, 5], output variable float32
// [N, 1], ai.onnx.ml Scaler then TreeEnsembleRegressor (BRANCH_LEQ nodes,
// float32 thresholds, AVERAGE aggregation).
func (m *Model) ONNX() ([]byte, error) {
	var treeIDs, nodeIDs, featIDs, trueIDs, falseIDs, missing []int64
	var values, covers []float32
	var modes []string
	var tTree, tNode, tID []int64
	var tWeight []float32
	for t, tree := range m.Forest.Trees {
		for id, n := range tree.Nodes {
			treeIDs = append(treeIDs, int64(t))
			nodeIDs = append(nodeIDs, int64(id))
			missing = append(missing, 0)
			covers = append(covers, float32(n.Samples))
			if n.Leaf {
				featIDs = append(featIDs, 0)
				values = append(values, 0)
				modes = append(modes, "LEAF")
				trueIDs = append(trueIDs, 0)
				falseIDs = append(falseIDs, 0)
				tTree = append(tTree, int64(t))
				tNode = append(tNode, int64(id))
				tID = append(tID, 0)
				tWeight = append(tWeight, n.Value)
				continue
			}
			featIDs = append(featIDs, int64(n.Feature))
			values = append(values, n.Threshold)
			modes = append(modes, "BRANCH_LEQ")
			trueIDs = append(trueIDs, int64(n.Left))
			falseIDs = append(falseIDs, int64(n.Right))
		}
	}
	g := onnxbuild.NewGraph("agate_demo_rf").
		Input("X", onnxbuild.TensorType(ops.Float, "N", NumFeatures)).
		Output("variable", onnxbuild.TensorType(ops.Float, "N", 1)).
		DomainNode("ai.onnx.ml", "Scaler", []string{"X"}, []string{"scaled"},
			onnxbuild.Floats("offset", m.Offset...), onnxbuild.Floats("scale", m.Scale...)).
		DomainNode("ai.onnx.ml", "TreeEnsembleRegressor", []string{"scaled"}, []string{"variable"},
			onnxbuild.Int("n_targets", 1),
			onnxbuild.String("aggregate_function", "AVERAGE"),
			onnxbuild.String("post_transform", "NONE"),
			onnxbuild.Ints("nodes_treeids", treeIDs...),
			onnxbuild.Ints("nodes_nodeids", nodeIDs...),
			onnxbuild.Ints("nodes_featureids", featIDs...),
			onnxbuild.Floats("nodes_values", values...),
			onnxbuild.Strings("nodes_modes", modes...),
			onnxbuild.Ints("nodes_truenodeids", trueIDs...),
			onnxbuild.Ints("nodes_falsenodeids", falseIDs...),
			onnxbuild.Ints("nodes_missing_value_tracks_true", missing...),
			onnxbuild.Floats("nodes_hitrates", covers...),
			onnxbuild.Ints("target_treeids", tTree...),
			onnxbuild.Ints("target_nodeids", tNode...),
			onnxbuild.Ints("target_ids", tID...),
			onnxbuild.Floats("target_weights", tWeight...))
	type featureSpec struct {
		Name string  `json:"name"`
		Min  float64 `json:"min"`
		Max  float64 `json:"max"`
	}
	specs := make([]featureSpec, NumFeatures)
	for j := range specs {
		specs[j] = featureSpec{Name: "x" + strconv.Itoa(j), Min: shortFloat(m.Min[j]), Max: shortFloat(m.Max[j])}
	}
	features, err := json.Marshal(specs)
	if err != nil {
		return nil, fmt.Errorf("demo: export: %w", err)
	}
	om := &onnxbuild.Model{
		Graph:           g,
		Opsets:          map[string]int{"": 17, "ai.onnx.ml": 3},
		ProducerName:    "agate",
		ProducerVersion: "demo-" + Version,
		DocString:       "Random forest regressor on synthetic data: " + Formula,
		Metadata: map[string]string{
			"agate.model":      Name,
			"agate.version":    Version,
			"agate.formula":    Formula,
			"agate.trees":      strconv.Itoa(len(m.Forest.Trees)),
			"agate.n_features": strconv.Itoa(NumFeatures),
			// the training data's range of each feature (models.FeatureRangesKey)
			"agate.features": string(features),
		},
	}
	b, err := om.Marshal()
	if err != nil {
		return nil, fmt.Errorf("demo: export: %w", err)
	}
	return b, nil
}

// shortFloat is f as the float64 of its shortest decimal form (-3.2242887,
// not -3.2242887020111084), so that the ranges read as they were measured.
func shortFloat(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

// Write trains the demo model with cfg and writes dir/model.onnx (creating
// dir), atomically: a reader never sees a half-written file. It returns the
// model file's path.
func Write(dir string, cfg Config) (string, error) {
	m, err := Train(cfg)
	if err != nil {
		return "", err
	}
	b, err := m.ONNX()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(dir, "model.onnx")
	tmp, err := os.CreateTemp(dir, ".model-*.onnx")
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", fmt.Errorf("demo: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("demo: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}
