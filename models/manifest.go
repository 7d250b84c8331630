// Package models loads the models the service runs and adapts them to its
// tasks: text classification (a transformer folder: model.onnx,
// tokenizer.json, config.json) and tabular prediction (a scikit-learn style
// regressor or classifier). It also reads model manifests and downloads
// and verifies the files they list (Pull).
package models

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Tasks a model can serve.
const (
	TaskTextClassification = "text-classification"
	TaskTabularRegression  = "tabular-regression"
	TaskTabularClassifier  = "tabular-classification"
)

// Source kinds of a manifest.
const (
	// SourceHuggingFace downloads files from a Hugging Face repository at a
	// pinned revision.
	SourceHuggingFace = "huggingface"
	// SourceURL downloads each file from its own URL.
	SourceURL = "url"
	// SourceBuiltin builds the model with agate's own code (the demo).
	SourceBuiltin = "builtin"
)

// Categories are the product's toxicity categories, in display order.
var categories = []string{"toxicity", "severe_toxicity", "insult", "threat", "hate", "obscene"}

// Categories returns the product's toxicity categories in display order.
func Categories() []string { return append([]string(nil), categories...) }

// defaultLabelMap maps the label spellings of common toxicity models to the
// product's categories.
var defaultLabelMap = map[string]string{
	"toxic": "toxicity", "toxicity": "toxicity", "label_toxic": "toxicity",
	"severe_toxic": "severe_toxicity", "severe_toxicity": "severe_toxicity", "very_toxic": "severe_toxicity",
	"obscene": "obscene", "profanity": "obscene", "sexual_explicit": "obscene",
	"threat": "threat", "threatening": "threat",
	"insult": "insult", "insulting": "insult",
	"identity_hate": "hate", "identity_attack": "hate", "hate": "hate", "identity": "hate", "hateful": "hate",
}

// DefaultCategory maps a model label to a product category using the
// built-in table of common spellings (case-insensitive, spaces and dashes
// read as underscores). It returns "" for an unknown label.
func DefaultCategory(label string) string {
	k := strings.ToLower(strings.NewReplacer(" ", "_", "-", "_").Replace(strings.TrimSpace(label)))
	return defaultLabelMap[k]
}

// Source says where a model's files come from.
type Source struct {
	// Kind is huggingface, url or builtin.
	Kind string `yaml:"kind"`
	// Repo is the Hugging Face repository id (owner/name).
	Repo string `yaml:"repo,omitempty"`
	// Revision is the repository revision; a commit id pins it.
	Revision string `yaml:"revision,omitempty"`
}

// File is one file of a model.
type File struct {
	// Name is the file's name in the model folder.
	Name string `yaml:"name"`
	// Path is the file's path in the source repository (default Name).
	Path string `yaml:"path,omitempty"`
	// URL is the download address for SourceURL manifests.
	URL string `yaml:"url,omitempty"`
	// SHA256 is the expected hex digest; Pull refuses a file that does not
	// match, and a file without one unless told to accept unpinned files.
	SHA256 string `yaml:"sha256"`
	// Size is the expected size in bytes, when known.
	Size int64 `yaml:"size,omitempty"`
}

// Thresholds split the 0-100 toxicity score into levels: below Medium is
// low, below High is medium, the rest is high.
type Thresholds struct {
	Medium float64 `yaml:"medium" json:"medium"`
	High   float64 `yaml:"high" json:"high"`
}

// DefaultThresholds are used when a manifest sets none.
var defaultThresholds = Thresholds{Medium: 40, High: 70}

// DefaultThresholds returns the thresholds used when a manifest sets none.
func DefaultThresholds() Thresholds { return defaultThresholds }

// Validate checks 0 ≤ Medium ≤ High ≤ 100.
func (t Thresholds) Validate() error {
	if t.Medium < 0 || t.High > 100 || t.Medium > t.High {
		return fmt.Errorf("thresholds must satisfy 0 <= medium <= high <= 100, got medium=%g high=%g", t.Medium, t.High)
	}
	return nil
}

// Level returns low, medium or high for a 0-100 score.
func (t Thresholds) Level(score float64) string {
	switch {
	case score >= t.High:
		return "high"
	case score >= t.Medium:
		return "medium"
	}
	return "low"
}

// Manifest describes one model: what it is, where its files come from and
// how the service presents its outputs.
type Manifest struct {
	// Name identifies the model in URLs and in the cache folder.
	Name string `yaml:"name"`
	// Version is shown in responses.
	Version string `yaml:"version"`
	// Task is one of the Task constants.
	Task string `yaml:"task"`
	// Description is a sentence for humans.
	Description string `yaml:"description,omitempty"`
	// License of the model weights.
	License string `yaml:"license,omitempty"`
	// Source says where the files come from.
	Source Source `yaml:"source"`
	// Files lists the files of the model folder.
	Files []File `yaml:"files,omitempty"`
	// Labels maps the model's labels (config.json id2label) to the
	// product's categories; labels missing here fall back to DefaultCategory.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Thresholds split the score into levels (default 40 / 70).
	Thresholds *Thresholds `yaml:"thresholds,omitempty"`
	// Languages the model was trained for (informational).
	Languages []string `yaml:"languages,omitempty"`
	// MaxLength caps the tokens per text (default: the tokenizer's).
	MaxLength int `yaml:"max_length,omitempty"`
	// Features describes a tabular model's input features, in order: their
	// names (used in explanations and errors) and the range of values the
	// model was trained on.
	Features []FeatureSpec `yaml:"features,omitempty"`
	// OutOfRange is what a predict request with a feature outside its
	// range gets (one of the OutOfRange constants); empty: the server's
	// --out-of-range.
	OutOfRange string `yaml:"out_of_range,omitempty"`
	// DefaultVersion is the version that serves the requests naming no
	// version when several versions of the model are loaded (default: the
	// highest, see CompareVersions).
	DefaultVersion string `yaml:"default_version,omitempty"`
	// Traffic splits the requests naming no version between versions of
	// the model by weight: {"1": 90, "2": 10} sends 90% to version 1 and
	// 10% to version 2. Of the loaded versions, the highest whose manifest
	// sets traffic or default_version decides; weights of versions that are
	// not loaded are left out.
	Traffic map[string]int `yaml:"traffic,omitempty"`
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	repoRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// safeRelPath reports whether p is a clean relative slash-separated path
// whose elements are neither "." nor "..", so that it cannot leave the
// repository it names a file of.
func safeRelPath(p string) bool {
	if p == "" || strings.ContainsAny(p, "\\?#%") || strings.HasPrefix(p, "/") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

// ValidName reports whether s can name a model (lowercase letters, digits,
// dots, dashes and underscores; at most 64 characters).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Validate checks the manifest's required fields.
func (m *Manifest) Validate() error {
	var errs []error
	if !ValidName(m.Name) {
		errs = append(errs, fmt.Errorf("name %q must match %s", m.Name, nameRE))
	}
	switch m.Task {
	case TaskTextClassification, TaskTabularRegression, TaskTabularClassifier:
	default:
		errs = append(errs, fmt.Errorf("task %q is not one of %s, %s, %s", m.Task, TaskTextClassification, TaskTabularRegression, TaskTabularClassifier))
	}
	switch m.Source.Kind {
	case SourceHuggingFace:
		if m.Source.Repo == "" || m.Source.Revision == "" {
			errs = append(errs, errors.New("a huggingface source needs repo and revision"))
		}
		if m.Source.Repo != "" && !repoRE.MatchString(m.Source.Repo) {
			errs = append(errs, fmt.Errorf("source.repo %q is not owner/name", m.Source.Repo))
		}
		if m.Source.Revision != "" && !safeRelPath(m.Source.Revision) {
			errs = append(errs, fmt.Errorf("source.revision %q is not a branch, tag or commit", m.Source.Revision))
		}
		for _, f := range m.Files {
			if f.Path != "" && !safeRelPath(f.Path) {
				errs = append(errs, fmt.Errorf("file %q: path %q must be relative, without . or .. elements", f.Name, f.Path))
			}
		}
	case SourceURL:
		for _, f := range m.Files {
			if f.URL == "" {
				errs = append(errs, fmt.Errorf("file %q needs a url", f.Name))
			}
		}
	case SourceBuiltin:
	default:
		errs = append(errs, fmt.Errorf("source.kind %q is not one of huggingface, url, builtin", m.Source.Kind))
	}
	if m.Source.Kind != SourceBuiltin && len(m.Files) == 0 {
		errs = append(errs, errors.New("files is empty"))
	}
	for _, f := range m.Files {
		if f.Name == "" || f.Name != path.Base(f.Name) || f.Name == "." || f.Name == ".." {
			errs = append(errs, fmt.Errorf("file name %q must be a plain file name", f.Name))
		}
		if f.SHA256 != "" && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(f.SHA256) {
			errs = append(errs, fmt.Errorf("file %q: sha256 must be 64 lowercase hex digits", f.Name))
		}
	}
	if m.Thresholds != nil {
		if err := m.Thresholds.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := validateFeatures(m.Features, m.OutOfRange); err != nil {
		errs = append(errs, err)
	}
	for label, cat := range m.Labels {
		if !isCategory(cat) {
			errs = append(errs, fmt.Errorf("labels: %q maps to %q, not one of %s", label, cat, strings.Join(categories, ", ")))
		}
	}
	if m.DefaultVersion != "" && !ValidVersion(m.DefaultVersion) {
		errs = append(errs, fmt.Errorf("default_version %q must match %s", m.DefaultVersion, versionRE))
	}
	total := 0
	for v, w := range m.Traffic {
		if !ValidVersion(v) {
			errs = append(errs, fmt.Errorf("traffic: version %q must match %s", v, versionRE))
		}
		if w < 0 {
			errs = append(errs, fmt.Errorf("traffic: version %q has a negative weight %d", v, w))
		}
		total += max(w, 0)
	}
	if m.Traffic != nil && total == 0 {
		errs = append(errs, errors.New("traffic: the weights add up to 0"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("manifest %q: %w", m.Name, err)
	}
	return nil
}

func isCategory(s string) bool {
	for _, c := range categories {
		if c == s {
			return true
		}
	}
	return false
}

// Unpinned returns the names of the files that have no sha256, which Pull
// refuses unless told to accept them.
func (m *Manifest) Unpinned() []string {
	var names []string
	for _, f := range m.Files {
		if f.SHA256 == "" {
			names = append(names, f.Name)
		}
	}
	return names
}

// Category maps a model label to a product category: the manifest's
// mapping first, then DefaultCategory. It returns "" when neither knows it.
func (m *Manifest) Category(label string) string {
	if m != nil {
		if c, ok := m.Labels[label]; ok {
			return c
		}
	}
	return DefaultCategory(label)
}

// EffectiveThresholds returns the manifest's thresholds or the defaults.
func (m *Manifest) EffectiveThresholds() Thresholds {
	if m != nil && m.Thresholds != nil {
		return *m.Thresholds
	}
	return defaultThresholds
}

// ParseManifest decodes and validates a YAML manifest. Unknown fields are
// errors, so a typo does not silently drop a setting.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ReadManifest reads and validates a manifest file.
func ReadManifest(file string) (*Manifest, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

//go:embed manifests/*.yaml
var builtinFS embed.FS

// Catalog is a set of manifests keyed by model name.
type Catalog map[string]*Manifest

// BuiltinCatalog returns the manifests shipped in the binary
// (models/manifests/*.yaml).
func BuiltinCatalog() (Catalog, error) {
	return readCatalog(builtinFS, "manifests")
}

// ReadCatalog reads every *.yaml / *.yml manifest of dir.
func ReadCatalog(dir string) (Catalog, error) {
	return readCatalog(os.DirFS(dir), ".")
}

func readCatalog(fsys fs.FS, dir string) (Catalog, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading manifests: %w", err)
	}
	c := Catalog{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		m, err := ParseManifest(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if _, dup := c[m.Name]; dup {
			return nil, fmt.Errorf("%s: model %q is declared twice", e.Name(), m.Name)
		}
		c[m.Name] = m
	}
	return c, nil
}

// Names returns the catalog's model names, sorted.
func (c Catalog) Names() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Merge returns a catalog holding c's manifests overridden by other's.
func (c Catalog) Merge(other Catalog) Catalog {
	out := Catalog{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range other {
		out[k] = v
	}
	return out
}
