package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// What a predict request with a feature outside the model's range gets.
const (
	// OutOfRangeReject answers 422 naming the feature and its range.
	OutOfRangeReject = "reject"
	// OutOfRangeFlag answers, listing the out-of-range values.
	OutOfRangeFlag = "flag"
	// OutOfRangeIgnore does not check ranges.
	OutOfRangeIgnore = "ignore"
)

// ValidOutOfRange reports whether s is one of the OutOfRange constants.
func ValidOutOfRange(s string) bool {
	return s == OutOfRangeReject || s == OutOfRangeFlag || s == OutOfRangeIgnore
}

// FeatureSpec describes one input feature of a tabular model: its name and
// the range of values it was trained on (either bound may be absent).
type FeatureSpec struct {
	Name string   `yaml:"name" json:"name"`
	Min  *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max  *float64 `yaml:"max,omitempty" json:"max,omitempty"`
}

// Contains reports whether v lies within the feature's range.
func (f FeatureSpec) Contains(v float64) bool {
	return (f.Min == nil || v >= *f.Min) && (f.Max == nil || v <= *f.Max)
}

// RangeString formats the range as [min, max], with -inf or +inf for an
// absent bound.
func (f FeatureSpec) RangeString() string {
	lo, hi := math.Inf(-1), math.Inf(1)
	if f.Min != nil {
		lo = *f.Min
	}
	if f.Max != nil {
		hi = *f.Max
	}
	return fmt.Sprintf("[%g, %g]", lo, hi)
}

// validateFeatures checks feature specs and an out-of-range policy.
func validateFeatures(fs []FeatureSpec, policy string) error {
	var errs []error
	if policy != "" && !ValidOutOfRange(policy) {
		errs = append(errs, fmt.Errorf("out_of_range %q is not one of reject, flag, ignore", policy))
	}
	for i, f := range fs {
		for _, b := range []*float64{f.Min, f.Max} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				errs = append(errs, fmt.Errorf("features[%d] (%s): bounds must be finite", i, f.Name))
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			errs = append(errs, fmt.Errorf("features[%d] (%s): min %g is above max %g", i, f.Name, *f.Min, *f.Max))
		}
	}
	return errors.Join(errs...)
}

// FeatureRangesKey is the ONNX metadata key under which a model may carry
// its feature specs (a JSON array of FeatureSpec), as agate's demo forest
// does with the ranges of its training data. A manifest's features take
// precedence.
const FeatureRangesKey = "agate.features"

// featuresFromMetadata reads the feature specs a model's metadata carries.
func featuresFromMetadata(meta map[string]string) ([]FeatureSpec, error) {
	raw, ok := meta[FeatureRangesKey]
	if !ok {
		return nil, nil
	}
	var fs []FeatureSpec
	if err := json.Unmarshal([]byte(raw), &fs); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", FeatureRangesKey, err)
	}
	if err := validateFeatures(fs, ""); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", FeatureRangesKey, err)
	}
	return fs, nil
}

// OutOfRangeValue is one feature value outside the model's range.
type OutOfRangeValue struct {
	Row     int      `json:"row"`
	Feature int      `json:"feature"`
	Name    string   `json:"name,omitempty"`
	Value   float64  `json:"value"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
}

// OutOfRange lists the values of rows outside the features' ranges, in row
// then feature order (features without a spec are not checked).
func OutOfRange(specs []FeatureSpec, rows [][]float64) []OutOfRangeValue {
	var out []OutOfRangeValue
	for r, row := range rows {
		for f, v := range row {
			if f >= len(specs) || specs[f].Contains(v) {
				continue
			}
			s := specs[f]
			out = append(out, OutOfRangeValue{Row: r, Feature: f, Name: s.Name, Value: v, Min: s.Min, Max: s.Max})
		}
	}
	return out
}

// featureSpecs returns a tabular model's feature specs: the manifest's,
// else those its metadata carries; n is the model's feature count (0 when
// open), which the specs must match.
func featureSpecs(man *Manifest, meta map[string]string, n int) ([]FeatureSpec, error) {
	var fs []FeatureSpec
	if man != nil && len(man.Features) > 0 {
		fs = man.Features
	} else {
		var err error
		if fs, err = featuresFromMetadata(meta); err != nil {
			return nil, err
		}
	}
	if n > 0 && len(fs) > 0 && len(fs) != n {
		return nil, fmt.Errorf("%d features described, the model takes %d", len(fs), n)
	}
	return fs, nil
}
