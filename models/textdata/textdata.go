// Package textdata reads labelled text data sets (CSV and JSON Lines) as
// described by a data manifest: which column holds the text, how each
// category's label is read from the row, the language, and the licence
// under which the file may be used. Training and evaluation read the same
// manifests.
package textdata

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Example is one labelled text.
type Example struct {
	Text string
	// Lang is the text's language code ("" when unknown).
	Lang string
	// Source names the data set (a manifest source's name).
	Source string
	// File is the file the row came from.
	File string
	// Group is the value of the source's GroupColumn ("" without one):
	// the HateCheck functionality, say.
	Group string
	// Labels maps a category to 1 (positive) or 0 (negative); a category
	// the source does not label is absent.
	Labels map[string]int8
}

// Label returns the example's label for category and whether it has one.
func (e *Example) Label(category string) (int8, bool) {
	v, ok := e.Labels[category]
	return v, ok
}

// LabelRule reads one category's label from a row.
type LabelRule struct {
	// Column holds the label value.
	Column string `yaml:"column" json:"column"`
	// Positive values mean 1, Negative values 0. A value in neither list
	// is 1 when only Negative is given, 0 when only Positive (or Contains)
	// is given, and leaves the row unlabelled for this category otherwise.
	// An empty cell leaves the row unlabelled unless a list names "".
	Positive []string `yaml:"positive,omitempty" json:"positive,omitempty"`
	Negative []string `yaml:"negative,omitempty" json:"negative,omitempty"`
	// Contains: a value holding one of these substrings means 1.
	Contains []string `yaml:"contains,omitempty" json:"contains,omitempty"`
	// Threshold, when set, reads the value as a number: ≥ Threshold is 1.
	Threshold *float64 `yaml:"threshold,omitempty" json:"threshold,omitempty"`
}

// label applies the rule to a value.
func (r *LabelRule) label(v string) (int8, bool, error) {
	v = strings.TrimSpace(v)
	if r.Threshold != nil {
		if v == "" {
			return 0, false, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false, fmt.Errorf("column %q: %q is not a number", r.Column, v)
		}
		if f >= *r.Threshold {
			return 1, true, nil
		}
		return 0, true, nil
	}
	if v == "" && !slices.Contains(r.Positive, "") && !slices.Contains(r.Negative, "") {
		return 0, false, nil // an empty cell labels nothing
	}
	if slices.Contains(r.Positive, v) {
		return 1, true, nil
	}
	for _, c := range r.Contains {
		if strings.Contains(v, c) {
			return 1, true, nil
		}
	}
	if slices.Contains(r.Negative, v) {
		return 0, true, nil
	}
	switch {
	case len(r.Negative) > 0 && len(r.Positive) == 0 && len(r.Contains) == 0:
		return 1, true, nil
	case len(r.Negative) == 0:
		return 0, true, nil
	}
	return 0, false, nil
}

// Source describes one data file.
type Source struct {
	// Name identifies the source in reports ("mlma-fr").
	Name string `yaml:"name" json:"name"`
	// Path is the file, relative to the manifest's data folder.
	Path string `yaml:"path" json:"path"`
	// Format is csv or jsonl (default: from the file extension).
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Licence is the SPDX identifier of the data's licence.
	Licence string `yaml:"licence" json:"licence"`
	// Origin says where the file comes from (repository, commit, path).
	Origin string `yaml:"origin,omitempty" json:"origin,omitempty"`
	// TextColumn holds the text (default "text").
	TextColumn string `yaml:"text_column,omitempty" json:"text_column,omitempty"`
	// Language is the language of every row, or LanguageColumn names the
	// column that holds it.
	Language       string `yaml:"language,omitempty" json:"language,omitempty"`
	LanguageColumn string `yaml:"language_column,omitempty" json:"language_column,omitempty"`
	// Labels maps each category to its rule.
	Labels map[string]LabelRule `yaml:"labels" json:"labels"`
	// Use is "train" (train and validation splits), "eval" (evaluation
	// only, never trained on) or "functional" (functional tests, never
	// trained on).
	Use string `yaml:"use,omitempty" json:"use,omitempty"`
	// GroupColumn, when set, names a column whose value is reported with
	// the row (the HateCheck functionality, say).
	GroupColumn string `yaml:"group_column,omitempty" json:"group_column,omitempty"`
}

// Uses of a source.
const (
	UseTrain      = "train"
	UseEval       = "eval"
	UseFunctional = "functional"
)

// ShippableLicences are the licences under which a model trained on the
// data may be shipped.
var ShippableLicences = []string{"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0",
	"CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0 AND CC-BY-SA-3.0"}

// ErrLicence is wrapped by errors about a source whose licence does not
// allow shipping a model trained on it.
var ErrLicence = errors.New("textdata: licence does not allow shipping a model trained on this data")

// CheckShippable returns an error wrapping ErrLicence unless the source's
// licence is one of ShippableLicences.
func (s *Source) CheckShippable() error {
	if slices.Contains(ShippableLicences, s.Licence) {
		return nil
	}
	lic := s.Licence
	if lic == "" {
		lic = "no licence given"
	}
	return fmt.Errorf("source %s (%s): %q: %w (allowed: %s)", s.Name, s.Path, lic, ErrLicence, strings.Join(ShippableLicences, ", "))
}

// Manifest lists the data sources of a training or evaluation run.
type Manifest struct {
	// DataDir is the folder Source paths are relative to (relative to the
	// manifest file; overridden by a caller's data folder).
	DataDir string   `yaml:"data_dir,omitempty" json:"data_dir,omitempty"`
	Sources []Source `yaml:"sources" json:"sources"`
}

// ReadManifest reads a YAML data manifest. In data_dir and source paths,
// ${NAME} is replaced by vars[NAME] (an unknown name is an error), so that
// a manifest can name files under ../shared as ${SHARED}/data/....
func ReadManifest(path string, vars map[string]string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data manifest: %w", err)
	}
	var m Manifest
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("data manifest %s: %w", path, err)
	}
	var missing []string
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, ok := vars[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
	}
	m.DataDir = expand(m.DataDir)
	for i := range m.Sources {
		m.Sources[i].Path = expand(m.Sources[i].Path)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("data manifest %s: unknown variables %s", path, strings.Join(missing, ", "))
	}
	if !filepath.IsAbs(m.DataDir) {
		m.DataDir = filepath.Join(filepath.Dir(path), m.DataDir)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("data manifest %s: %w", path, err)
	}
	return &m, nil
}

// Validate checks the manifest's sources.
func (m *Manifest) Validate() error {
	seen := map[string]bool{}
	for i := range m.Sources {
		s := &m.Sources[i]
		if s.Name == "" || s.Path == "" {
			return fmt.Errorf("source %d: name and path are required", i)
		}
		if seen[s.Name] {
			return fmt.Errorf("source %q is listed twice", s.Name)
		}
		seen[s.Name] = true
		switch s.Use {
		case "":
			s.Use = UseTrain
		case UseTrain, UseEval, UseFunctional:
		default:
			return fmt.Errorf("source %s: use %q is not train, eval or functional", s.Name, s.Use)
		}
		if len(s.Labels) == 0 {
			return fmt.Errorf("source %s: no labels", s.Name)
		}
		for cat, r := range s.Labels {
			if r.Column == "" {
				return fmt.Errorf("source %s: label %s has no column", s.Name, cat)
			}
		}
		if s.Format == "" {
			s.Format = formatOf(s.Path)
		}
		if s.Format != "csv" && s.Format != "jsonl" {
			return fmt.Errorf("source %s: format %q is not csv or jsonl", s.Name, s.Format)
		}
	}
	return nil
}

func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl"
	}
	return "csv"
}

// Read reads the source's rows from its file under dataDir. Rows with an
// empty text or no label are skipped; text that is not valid UTF-8 is read
// as Latin-1.
func (s *Source) Read(dataDir string) ([]Example, error) {
	path := s.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(dataDir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	defer f.Close()
	textCol := s.TextColumn
	if textCol == "" {
		textCol = "text"
	}
	var out []Example
	add := func(row func(col string) (string, bool), line int) error {
		text, ok := row(textCol)
		if !ok {
			return fmt.Errorf("source %s: %s line %d: no column %q", s.Name, path, line, textCol)
		}
		text = fixEncoding(text)
		if strings.TrimSpace(text) == "" {
			return nil
		}
		ex := Example{Text: text, Lang: s.Language, Source: s.Name, File: path, Labels: map[string]int8{}}
		if s.LanguageColumn != "" {
			ex.Lang, _ = row(s.LanguageColumn)
		}
		if s.GroupColumn != "" {
			g, ok := row(s.GroupColumn)
			if !ok {
				return fmt.Errorf("source %s: %s line %d: no column %q", s.Name, path, line, s.GroupColumn)
			}
			ex.Group = g
		}
		for cat, r := range s.Labels {
			v, ok := row(r.Column)
			if !ok {
				return fmt.Errorf("source %s: %s line %d: no column %q", s.Name, path, line, r.Column)
			}
			l, ok, err := r.label(v)
			if err != nil {
				return fmt.Errorf("source %s: %s line %d: %w", s.Name, path, line, err)
			}
			if ok {
				ex.Labels[cat] = l
			}
		}
		if len(ex.Labels) > 0 {
			out = append(out, ex)
		}
		return nil
	}
	switch s.Format {
	case "jsonl":
		err = readJSONL(f, add)
	default:
		err = readCSV(f, add)
	}
	if err != nil {
		return nil, fmt.Errorf("source %s: %s: %w", s.Name, path, err)
	}
	return out, nil
}

func readCSV(r io.Reader, add func(func(string) (string, bool), int) error) error {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("reading the header: %w", err)
	}
	index := map[string]int{}
	for i, h := range header {
		index[strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")] = i
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		row := func(col string) (string, bool) {
			i, ok := index[col]
			if !ok || i >= len(rec) {
				return "", ok
			}
			return rec[i], true
		}
		if err := add(row, line); err != nil {
			return err
		}
	}
}

func readJSONL(r io.Reader, add func(func(string) (string, bool), int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		row := func(col string) (string, bool) {
			v, ok := obj[col]
			if !ok {
				return "", false
			}
			switch x := v.(type) {
			case string:
				return x, true
			case float64:
				return strconv.FormatFloat(x, 'g', -1, 64), true
			case bool:
				if x {
					return "1", true
				}
				return "0", true
			case nil:
				return "", true
			}
			return fmt.Sprint(v), true
		}
		if err := add(row, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// fixEncoding reads text that is not valid UTF-8 as Latin-1.
func fixEncoding(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		sb.WriteRune(rune(s[i]))
	}
	return sb.String()
}

// InValidation reports whether a text belongs to the validation split: a
// hash of the seed and the text's lower-cased letters and digits (words
// kept apart by one space) against the fraction, so that texts that differ
// only in case, punctuation, emoji or spacing fall in the same split.
func InValidation(text string, seed int64, fraction float64) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00", seed)
	var b []byte
	space := false
	for _, r := range strings.ToLower(text) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && len(b) > 0 {
				b = append(b, ' ')
			}
			b = utf8.AppendRune(b, r)
			space = false
		} else {
			space = true
		}
	}
	h.Write(b)
	return float64(h.Sum64()>>11)/float64(1<<53) < fraction
}
