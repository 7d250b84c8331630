package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	// Ref is the reference the model was resolved from, such as
	// models:/fraud@champion for an MLflow registry model ("" for a folder).
	Ref string

	// reload loads the model again from its source (nil: it cannot be).
	reload func(ctx context.Context) (*Model, error)
}

// ErrNotReloadable is returned by Reload for a model that has no source to
// read again (the toxicity model embedded in the binary).
var ErrNotReloadable = errors.New("the model cannot be reloaded: it is not read from a folder")

// Reloadable reports whether Reload can read the model again.
func (m *Model) Reloadable() bool { return m.reload != nil }

// Reload loads the model again from where it came from (its folder, with
// the options it was loaded with; an MLflow reference is resolved again)
// and returns the new model; m is left as it is, still usable.
func (m *Model) Reload(ctx context.Context) (*Model, error) {
	if m.reload == nil {
		return nil, fmt.Errorf("model %s: %w", m.Name, ErrNotReloadable)
	}
	return m.reload(ctx)
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
	// Precision is the arithmetic of the model's float32 matrix products
	// (see engine.WithPrecision; the zero value is float32).
	Precision ops.Precision
	// MappedWeights keeps the weights the planned model does not pack in
	// the mapped model file (see engine.WithMappedWeights): less memory for
	// large embedding tables, but the file must then be replaced by
	// renaming, never rewritten in place.
	MappedWeights bool
	// Version overrides the model's version (default: the manifest's, else
	// the model's agate.version metadata, else "1").
	Version string
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
	if o.Precision != ops.PrecisionFloat32 {
		opts = append(opts, engine.WithPrecision(o.Precision))
	}
	if o.MappedWeights {
		opts = append(opts, engine.WithMappedWeights())
	}
	return opts
}

// ManifestFile is the name of the manifest Pull writes into a model folder.
const ManifestFile = "manifest.yaml"

// IsModelDir reports whether dir holds a model Load can read: a
// model.onnx file, or an MLflow model (an MLmodel file).
func IsModelDir(dir string) bool {
	for _, f := range []string{"model.onnx", MLmodelFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// Load loads the model folder dir (model.onnx, plus the tokenizer files for
// a text classifier) and picks its task: text classification when a
// tokenizer is present, else a tabular regressor or classifier from the
// model's outputs. A folder with an MLmodel file is an MLflow model: its
// onnx flavor names the ONNX file (ReadMLmodel). The model can be loaded
// again with Reload.
func Load(dir string, o LoadOptions) (*Model, error) {
	m, err := load(dir, o)
	if err != nil {
		return nil, err
	}
	m.reload = func(ctx context.Context) (*Model, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		return Load(dir, o)
	}
	return m, nil
}

func load(dir string, o LoadOptions) (*Model, error) {
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
	if o.Version != "" && !ValidVersion(o.Version) {
		return nil, fmt.Errorf("model folder %s: %q is not a valid version (letters, digits, . _ + -)", dir, o.Version)
	}
	onnxFile := filepath.Join(dir, "model.onnx")
	if _, err := os.Stat(filepath.Join(dir, MLmodelFile)); err == nil {
		ml, err := ReadMLmodel(dir)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		onnxFile = filepath.Join(dir, filepath.FromSlash(ml.ONNXFile))
	}
	if _, err := os.Stat(onnxFile); err != nil {
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
		em, err := engine.LoadFile(onnxFile, opts...)
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
	if o.Version != "" {
		m.Version = o.Version
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

// Registry holds the loaded models by name and version, and the models
// that are expected but absent with a hint on how to get them. Several
// versions of a name can be loaded at once: requests that name a version
// get it (Version), the others are routed by the manifests' traffic split
// or go to the default version (Route). It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	models  map[string]*family
	missing map[string]string
}

// family is the loaded versions of one model name and how requests that
// name no version are routed between them.
type family struct {
	versions []*Model // ascending by CompareVersions
	def      *Model   // the default version
	// traffic is the weighted split (nil: everything goes to def); cur is
	// the smooth weighted round-robin state, guarded by mu.
	traffic []split
	mu      sync.Mutex
}

type split struct {
	m      *Model
	weight int
	cur    int
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{models: map[string]*family{}, missing: map[string]string{}}
}

// newFamily builds the routing of versions (not empty, no duplicates).
func newFamily(versions []*Model) *family {
	vs := append([]*Model(nil), versions...)
	sort.SliceStable(vs, func(i, j int) bool { return CompareVersions(vs[i].Version, vs[j].Version) < 0 })
	f := &family{versions: vs, def: vs[len(vs)-1]}
	// The highest version whose manifest says how to route decides.
	for i := len(vs) - 1; i >= 0; i-- {
		man := vs[i].Manifest
		if man == nil || (man.DefaultVersion == "" && man.Traffic == nil) {
			continue
		}
		if d := find(vs, man.DefaultVersion); d != nil {
			f.def = d
		}
		for _, m := range vs {
			if w := man.Traffic[m.Version]; w > 0 {
				f.traffic = append(f.traffic, split{m: m, weight: w})
			}
		}
		break
	}
	return f
}

func find(vs []*Model, version string) *Model {
	for _, m := range vs {
		if m.Version == version {
			return m
		}
	}
	return nil
}

// checkVersions refuses an empty set, models of another name and
// duplicate versions.
func checkVersions(name string, ms []*Model) error {
	if len(ms) == 0 {
		return fmt.Errorf("model %q: no version to register", name)
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Name != name {
			return fmt.Errorf("model %q: a version is called %q", name, m.Name)
		}
		if seen[m.Version] {
			return fmt.Errorf("model %q version %q is loaded twice", name, m.Version)
		}
		seen[m.Version] = true
	}
	return nil
}

// Add registers m; a model of the same name and version is an error.
func (r *Registry) Add(m *Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var vs []*Model
	if f, ok := r.models[m.Name]; ok {
		vs = f.versions
	}
	vs = append(append([]*Model(nil), vs...), m)
	if err := checkVersions(m.Name, vs); err != nil {
		return err
	}
	r.models[m.Name] = newFamily(vs)
	delete(r.missing, m.Name)
	return nil
}

// Replace swaps the loaded versions of the model name for ms, atomically:
// from its return, Get, Version and Route give only models of ms. It
// returns the models replaced (nil when none was loaded), which the caller
// closes once nothing uses them.
func (r *Registry) Replace(name string, ms []*Model) ([]*Model, error) {
	if err := checkVersions(name, ms); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var old []*Model
	if f, ok := r.models[name]; ok {
		old = f.versions
	}
	r.models[name] = newFamily(ms)
	delete(r.missing, name)
	return old, nil
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

// Get returns the default version of the model called name: the one its
// manifests name as default_version, else the highest.
func (r *Registry) Get(name string) (*Model, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.models[name]
	if !ok {
		return nil, false
	}
	return f.def, true
}

// Version returns the given version of the model called name.
func (r *Registry) Version(name, version string) (*Model, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.models[name]
	if !ok {
		return nil, false
	}
	m := find(f.versions, version)
	return m, m != nil
}

// Versions returns the loaded versions of the model called name, in
// ascending order (nil when none is loaded).
func (r *Registry) Versions(name string) []*Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if f, ok := r.models[name]; ok {
		return append([]*Model(nil), f.versions...)
	}
	return nil
}

// Route returns the version of the model called name that serves the next
// request naming no version: with a traffic split, versions take turns in
// proportion to their weights (smooth weighted round robin: a 90/10 split
// sends exactly 9 of every 10 requests to the first), else the default
// version.
func (r *Registry) Route(name string) (*Model, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.models[name]
	if !ok {
		return nil, false
	}
	if len(f.traffic) == 0 {
		return f.def, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	total, best := 0, 0
	for i := range f.traffic {
		s := &f.traffic[i]
		s.cur += s.weight
		total += s.weight
		if s.cur > f.traffic[best].cur {
			best = i
		}
	}
	f.traffic[best].cur -= total
	return f.traffic[best].m, true
}

// Traffic returns the weights by version that Route follows for the model
// called name (nil when it has no traffic split).
func (r *Registry) Traffic(name string) map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.models[name]
	if !ok || len(f.traffic) == 0 {
		return nil
	}
	out := map[string]int{}
	for _, s := range f.traffic {
		out[s.m.Version] = s.weight
	}
	return out
}

// Check reports routing settings that name versions which are not loaded:
// a traffic weight or a default_version of a manifest (Route ignores them).
func (r *Registry) Check() []error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, name := range sortedKeys(r.models) {
		f := r.models[name]
		for i := len(f.versions) - 1; i >= 0; i-- {
			man := f.versions[i].Manifest
			if man == nil || (man.DefaultVersion == "" && man.Traffic == nil) {
				continue
			}
			if man.DefaultVersion != "" && find(f.versions, man.DefaultVersion) == nil {
				errs = append(errs, fmt.Errorf("model %q: default_version %q is not loaded (loaded: %s)", name, man.DefaultVersion, versionList(f.versions)))
			}
			for _, v := range sortedKeys(man.Traffic) {
				if find(f.versions, v) == nil {
					errs = append(errs, fmt.Errorf("model %q: traffic names version %q, which is not loaded (loaded: %s)", name, v, versionList(f.versions)))
				}
			}
			break
		}
	}
	return errs
}

func versionList(vs []*Model) string {
	names := make([]string, len(vs))
	for i, m := range vs {
		names[i] = m.Version
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
	return sortedKeys(r.missing)
}

// List returns the default version of every loaded model, sorted by name.
func (r *Registry) List() []*Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Model, 0, len(r.models))
	for _, name := range sortedKeys(r.models) {
		out = append(out, r.models[name].def)
	}
	return out
}

// All returns every loaded version of every model, by name and version.
func (r *Registry) All() []*Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Model
	for _, name := range sortedKeys(r.models) {
		out = append(out, r.models[name].versions...)
	}
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
	for name, f := range r.models {
		for _, m := range f.versions {
			if err := m.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing %s version %s: %w", name, m.Version, err))
			}
		}
		delete(r.models, name)
	}
	return errors.Join(errs...)
}
