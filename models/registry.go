package models

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/agate-ml/agate/engine"
	"github.com/agate-ml/agate/models/textfeat"
	"github.com/agate-ml/agate/ops"
)

// Model is a loaded model with the adapter of its task.
type Model struct {
	// Name identifies the model in URLs.
	Name string
	// Version is shown in responses ("" when unknown).
	Version string
	// Task is one of the Task constants.
	Task string
	// Dir is the folder the model was loaded from.
	Dir string
	// Manifest describes the model; never nil (a minimal one is made for a
	// folder without manifest).
	Manifest *Manifest
	// Text is set for text classifiers.
	Text *TextClassifier
	// Tabular is set for tabular models.
	Tabular *Tabular
}

// Engine returns the model's engine model.
func (m *Model) Engine() *engine.Model {
	if m.Text != nil {
		return m.Text.Engine()
	}
	return m.Tabular.Engine()
}

// Close releases the model.
func (m *Model) Close() error { return m.Engine().Close() }

// LoadOptions configure loading.
type LoadOptions struct {
	// Name overrides the model's name (default: the manifest's, else the
	// folder's base name).
	Name string
	// Manifest describes the model; when nil, dir/manifest.yaml is read if
	// present.
	Manifest *Manifest
	// Pool shares an engine worker pool between models.
	Pool *ops.Pool
	// Device places the model ("cpu", the default, or "cuda:N"). When the
	// device cannot be used the model loads on the CPU and Logf says so.
	Device string
	// Logf receives placement messages (nil: discarded).
	Logf func(format string, args ...any)
	// ArenaLimit bounds the buffer bytes each concurrent run keeps between
	// runs (0: engine.DefaultArenaLimit; see engine.WithArenaLimit).
	ArenaLimit int64
}

// engineOptions are the engine options o asks for (device aside).
func (o LoadOptions) engineOptions() []engine.Option {
	var opts []engine.Option
	if o.Pool != nil {
		opts = append(opts, engine.WithPool(o.Pool))
	}
	if o.ArenaLimit != 0 {
		opts = append(opts, engine.WithArenaLimit(o.ArenaLimit))
	}
	return opts
}

// ManifestFile is the name of the manifest Pull writes into a model folder.
const ManifestFile = "manifest.yaml"

// Load loads the model folder dir (model.onnx, plus the tokenizer files for
// a text classifier) and picks its task: text classification when a
// tokenizer is present, else a tabular regressor or classifier from the
// model's outputs.
func Load(dir string, o LoadOptions) (*Model, error) {
	man := o.Manifest
	if man == nil {
		if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
			m, err := ReadManifest(filepath.Join(dir, ManifestFile))
			if err != nil {
				return nil, err
			}
			man = m
		}
	}
	name := o.Name
	if name == "" && man != nil {
		name = man.Name
	}
	if name == "" {
		abs, _ := filepath.Abs(dir)
		name = filepath.Base(abs)
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("model folder %s: %q is not a valid model name (lowercase letters, digits, . _ -)", dir, name)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	opts := o.engineOptions()
	if o.Device != "" && o.Device != "cpu" {
		if err := engine.CheckDevice(o.Device); err != nil {
			if o.Logf != nil {
				o.Logf("model %s: serving on CPU: %v", name, err)
			}
		} else {
			opts = append(opts, engine.WithDevice(o.Device, o.Logf))
		}
	}
	m := &Model{Name: name, Dir: dir, Manifest: man}
	if man != nil {
		m.Version = man.Version
	} else {
		m.Manifest = &Manifest{Name: name}
	}
	textTask := isTextModelDir(dir)
	if man != nil && man.Task != "" {
		textTask = man.Task == TaskTextClassification
	}
	if textTask {
		tc, err := LoadTextClassifier(dir, m.Manifest.MaxLength, opts...)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		m.Text, m.Task = tc, TaskTextClassification
	} else {
		em, err := engine.LoadFile(filepath.Join(dir, "model.onnx"), opts...)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		tab, err := NewTabular(em)
		if err != nil {
			em.Close()
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		tab.background = findBackground(dir)
		if tab.specs, err = featureSpecs(man, em.Metadata, tab.Features()); err != nil {
			em.Close()
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		m.Tabular, m.Task = tab, TaskTabularRegression
		if tab.Classifier() {
			m.Task = TaskTabularClassifier
		}
	}
	if m.Version == "" {
		if v := m.Engine().Metadata["agate.version"]; v != "" {
			m.Version = v
		} else {
			m.Version = "1"
		}
	}
	m.Manifest.Task = m.Task
	return m, nil
}

// LoadFS loads a linear text model from a file system holding
// manifest.yaml, featurizer.json and model.onnx (the embedded default
// toxicity model, package models/toxicity). dir names it in messages.
func LoadFS(fsys fs.FS, dir string, o LoadOptions) (*Model, error) {
	read := func(name string) ([]byte, error) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		return b, nil
	}
	mb, err := read(ManifestFile)
	if err != nil {
		return nil, err
	}
	man, err := ParseManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if o.Name != "" {
		man.Name = o.Name
	}
	sb, err := read(textfeat.FileName)
	if err != nil {
		return nil, err
	}
	spec, err := textfeat.DecodeSpec(bytes.NewReader(sb))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	onnx, err := read("model.onnx")
	if err != nil {
		return nil, err
	}
	tc, err := NewLinearTextClassifier(onnx, spec, o.engineOptions()...)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	man.Task = TaskTextClassification
	return &Model{Name: man.Name, Version: man.Version, Task: TaskTextClassification, Dir: dir, Manifest: man, Text: tc}, nil
}

// Registry holds the loaded models by name, and the models that are
// expected but absent with a hint on how to get them. It is safe for
// concurrent use.
type Registry struct {
	mu      sync.RWMutex
	models  map[string]*Model
	missing map[string]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{models: map[string]*Model{}, missing: map[string]string{}}
}

// Add registers m; a model of the same name is an error.
func (r *Registry) Add(m *Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.models[m.Name]; dup {
		return fmt.Errorf("model %q is loaded twice", m.Name)
	}
	r.models[m.Name] = m
	delete(r.missing, m.Name)
	return nil
}

// SetMissing records that the model name is expected but not available,
// with a hint for the user (such as the command that fetches it).
func (r *Registry) SetMissing(name, hint string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.models[name]; !ok {
		r.missing[name] = hint
	}
}

// Get returns the model called name.
func (r *Registry) Get(name string) (*Model, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.models[name]
	return m, ok
}

// Missing returns the hint recorded for an absent model.
func (r *Registry) Missing(name string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.missing[name]
	return h, ok
}

// MissingNames returns the absent models' names, sorted.
func (r *Registry) MissingNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.missing {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// List returns the loaded models sorted by name.
func (r *Registry) List() []*Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Model, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FirstOfTask returns the first loaded model (by name) of one of tasks.
func (r *Registry) FirstOfTask(tasks ...string) (*Model, bool) {
	for _, m := range r.List() {
		for _, t := range tasks {
			if m.Task == t {
				return m, true
			}
		}
	}
	return nil, false
}

// Close releases every model.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for name, m := range r.models {
		if err := m.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", name, err))
		}
		delete(r.models, name)
	}
	return errors.Join(errs...)
}
