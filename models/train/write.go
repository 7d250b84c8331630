package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/textdata"
	"github.com/agate-ml/agate/models/textfeat"
	"github.com/agate-ml/agate/models/textlinear"
	"gopkg.in/yaml.v3"
)

// ModelInfo names and describes a trained model in its folder.
type ModelInfo struct {
	Name        string
	Version     string
	Description string
	// License of the trained weights.
	License string
}

// TrainingReport is written as training.json beside the model: the data
// (files, licences, digests), the settings and the validation results.
type TrainingReport struct {
	Model              string           `json:"model"`
	Version            string           `json:"version"`
	Seed               int64            `json:"seed"`
	ValidationFraction float64          `json:"validation_fraction"`
	MinDF              int              `json:"min_df"`
	MaxFeatures        int              `json:"max_features"`
	Vocabulary         int              `json:"vocabulary"`
	TrainTexts         int              `json:"train_texts"`
	ValidationTexts    int              `json:"validation_texts"`
	Languages          []string         `json:"languages"`
	Data               []DataFile       `json:"data"`
	Categories         []CategoryResult `json:"categories"`
	Sources            []SourceResult   `json:"validation_by_source"`
}

// DataFile is one training file with its licence and sha256.
type DataFile struct {
	Source  string `json:"source"`
	Path    string `json:"path"`
	Licence string `json:"licence"`
	Origin  string `json:"origin,omitempty"`
	SHA256  string `json:"sha256"`
}

// CategoryResult is a CategoryReport in JSON form.
type CategoryResult struct {
	Category            string             `json:"category"`
	TrainRows           int                `json:"train_rows"`
	TrainPositives      int                `json:"train_positives"`
	ValidationRows      int                `json:"validation_rows"`
	ValidationPositives int                `json:"validation_positives"`
	ValidationAUC       map[string]float64 `json:"validation_auc_by_c"`
	C                   float64            `json:"c"`
	Threshold           float64            `json:"threshold"`
	HighThreshold       float64            `json:"high_threshold"`
	Iterations          int                `json:"iterations"`
	Status              string             `json:"status"`
}

// SourceResult is a SourceReport in JSON form.
type SourceResult struct {
	Source    string  `json:"source"`
	Language  string  `json:"language"`
	Category  string  `json:"category"`
	Rows      int     `json:"rows"`
	Positives int     `json:"positives"`
	AUC       float64 `json:"auc"`
}

// Report builds the training report of res under c.
func Report(c Config, res *Result, info ModelInfo) (*TrainingReport, error) {
	c.defaults()
	r := &TrainingReport{Model: info.Name, Version: info.Version, Seed: c.Seed, ValidationFraction: c.ValidationFraction,
		MinDF: c.MinDF, MaxFeatures: c.MaxFeatures, Vocabulary: len(res.Spec.Vocabulary), TrainTexts: res.TrainTexts,
		ValidationTexts: res.ValidationTexts, Languages: res.Languages}
	for _, s := range c.Manifest.Sources {
		if s.Use != textdata.UseTrain {
			continue
		}
		path := s.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(c.DataDir, path)
		}
		sum, err := models.FileSHA256(path)
		if err != nil {
			return nil, err
		}
		r.Data = append(r.Data, DataFile{Source: s.Name, Path: displayPath(s.Path), Licence: s.Licence, Origin: s.Origin, SHA256: sum})
	}
	for _, cr := range res.Categories {
		auc := map[string]float64{}
		for c, v := range cr.ValidationAUC {
			auc[fmt.Sprint(c)] = round(v)
		}
		r.Categories = append(r.Categories, CategoryResult{Category: cr.Category, TrainRows: cr.TrainRows, TrainPositives: cr.TrainPositives,
			ValidationRows: cr.ValidationRows, ValidationPositives: cr.ValidationPositives, ValidationAUC: auc, C: cr.C,
			Threshold: round(cr.Threshold), HighThreshold: round(cr.HighThreshold), Iterations: cr.Iterations, Status: cr.Status})
	}
	for _, s := range res.Sources {
		r.Sources = append(r.Sources, SourceResult{Source: s.Source, Language: s.Language, Category: s.Category,
			Rows: s.Rows, Positives: s.Positives, AUC: round(s.AUC)})
	}
	return r, nil
}

// displayPath keeps the part of a data path from its data/ folder on, so
// that the report does not depend on where the checkout lives.
func displayPath(p string) string {
	p = filepath.ToSlash(p)
	if i := strings.LastIndex(p, "/data/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1e6) / 1e6
}

// modelManifest is the manifest.yaml of a trained model folder (the
// fields of models.Manifest that apply).
type modelManifest struct {
	Name        string            `yaml:"name"`
	Version     string            `yaml:"version"`
	Task        string            `yaml:"task"`
	Description string            `yaml:"description,omitempty"`
	License     string            `yaml:"license,omitempty"`
	Source      map[string]string `yaml:"source"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Thresholds  map[string]any    `yaml:"thresholds,omitempty"`
	Languages   []string          `yaml:"languages,omitempty"`
}

// Write writes the model folder dir: model.onnx, featurizer.json,
// manifest.yaml and training.json. The same result gives the same bytes.
func Write(dir string, c Config, res *Result, info ModelInfo) error {
	rep, err := Report(c, res, info)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	md := map[string]string{"agate.version": info.Version, "agate.languages": strings.Join(res.Languages, ",")}
	g, err := textlinear.Graph(res.Weights, fmt.Sprintf("%s: linear text classifier trained by agate (TF-IDF n-grams, logistic regression)", info.Name), md)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	onnx, err := g.Marshal()
	if err != nil {
		return fmt.Errorf("train: encoding model.onnx: %w", err)
	}
	var spec bytes.Buffer
	if err := res.Spec.Encode(&spec); err != nil {
		return fmt.Errorf("train: encoding %s: %w", textfeat.FileName, err)
	}
	man := modelManifest{Name: info.Name, Version: info.Version, Task: "text-classification", Description: info.Description,
		License: info.License, Source: map[string]string{"kind": "builtin"}, Labels: map[string]string{}, Languages: languageOrder(res.Languages)}
	for _, l := range res.Weights.Labels {
		man.Labels[l] = l
	}
	if len(res.Categories) > 0 {
		cr := res.Categories[0]
		medium := math.Round(cr.Threshold*1000) / 10
		high := math.Max(medium, math.Round(cr.HighThreshold*1000)/10)
		man.Thresholds = map[string]any{"medium": medium, "high": high}
	}
	manYAML, err := yaml.Marshal(man)
	if err != nil {
		return fmt.Errorf("train: encoding manifest.yaml: %w", err)
	}
	header := fmt.Sprintf("# Written by agate train: a linear text classifier (featurizer.json, model.onnx).\n# Thresholds: medium is the validation split's best-F1 point for %s, high its 90%%-precision point.\n", res.Weights.Labels[0])
	repJSON, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("train: encoding training.json: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for name, b := range map[string][]byte{
		"model.onnx":      onnx,
		textfeat.FileName: spec.Bytes(),
		"manifest.yaml":   append([]byte(header), manYAML...),
		"training.json":   append(repJSON, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	return nil
}

// languageOrder puts French first, then the others sorted.
func languageOrder(langs []string) []string {
	out := slices.Clone(langs)
	sort.SliceStable(out, func(a, b int) bool {
		if (out[a] == "fr") != (out[b] == "fr") {
			return out[a] == "fr"
		}
		return out[a] < out[b]
	})
	return out
}
