package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agate-ml/agate/engine/onnxbuild"
	"github.com/agate-ml/agate/internal/shared"
)

// hub is a stand-in for the Hugging Face Hub: it serves files under
// /<repo>/resolve/<revision>/<path> and counts the requests it gets.
type hub struct {
	srv      *httptest.Server
	requests atomic.Int64

	mu    sync.Mutex
	files map[string][]byte           // by URL path
	hooks map[string]http.HandlerFunc // by URL path, replacing the file
}

func newHub(t *testing.T) *hub {
	h := &hub{files: map[string][]byte{}, hooks: map[string]http.HandlerFunc{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		h.mu.Lock()
		hook := h.hooks[r.URL.Path]
		body, ok := h.files[r.URL.Path]
		h.mu.Unlock()
		switch {
		case hook != nil:
			hook(w, r)
		case ok:
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// serve publishes content as repo's path at revision.
func (h *hub) serve(repo, rev, path string, content []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files["/"+repo+"/resolve/"+rev+"/"+path] = content
}

func (h *hub) hook(repo, rev, path string, f http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks["/"+repo+"/resolve/"+rev+"/"+path] = f
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// modelFiles returns the bytes of a small but real text model folder: a
// seeded random BERT encoder written by onnxbuild and the JSON files a
// tokenizer folder holds.
func modelFiles(t *testing.T, seed int64) map[string][]byte {
	t.Helper()
	m, err := onnxbuild.EncoderClassifier(onnxbuild.EncoderConfig{Layers: 1, Hidden: 16, Heads: 2, FFN: 32,
		Vocab: 64, MaxPositions: 32, TypeVocab: 2, Labels: 2, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	onnx, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"model.onnx":  onnx,
		"config.json": []byte(`{"id2label": {"0": "not-toxic", "1": "toxic"}, "problem_type": "single_label_classification"}`),
	}
}

// hubManifest publishes files in h under repo at rev and returns a manifest
// pinning them; model.onnx lives under onnx/ in the repository.
func hubManifest(h *hub, name, repo, rev string, files map[string][]byte) *Manifest {
	man := &Manifest{Name: name, Version: "1", Task: TaskTextClassification,
		Source: Source{Kind: SourceHuggingFace, Repo: repo, Revision: rev}}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := File{Name: n, SHA256: digest(files[n]), Size: int64(len(files[n]))}
		if n == "model.onnx" {
			f.Path = "onnx/model_quantized.onnx"
		}
		man.Files = append(man.Files, f)
		p := f.Path
		if p == "" {
			p = n
		}
		h.serve(repo, rev, p, files[n])
	}
	return man
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// assertNoModelFolder checks that a failed pull left nothing in cache: no
// model folder and no staging folder.
func assertNoModelFolder(t *testing.T, cache string) {
	t.Helper()
	entries, err := os.ReadDir(cache)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("a failed pull left %v in %s", listDir(t, cache), cache)
	}
}

// snapshot reads every file of dir.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range listDir(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func TestPullVerifiesAndWritesManifest(t *testing.T) {
	h := newHub(t)
	files := modelFiles(t, 1)
	man := hubManifest(h, "tiny", "org/tiny", "0123abcd", files)
	cache := t.TempDir()
	var msgs []string
	dir, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL,
		Progress: func(s string) { msgs = append(msgs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(cache, "tiny") || !Present(cache, "tiny") {
		t.Fatalf("folder %s, Present %v", dir, Present(cache, "tiny"))
	}
	if got := listDir(t, cache); !slices.Equal(got, []string{"tiny"}) {
		t.Errorf("cache holds %v, want only the model folder", got)
	}
	got := snapshot(t, dir)
	for n, want := range files {
		if !bytes.Equal(got[n], want) {
			t.Errorf("%s differs from the served file", n)
		}
	}
	written, err := ReadManifest(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if written.Name != "tiny" || written.Files[0].SHA256 != man.Files[0].SHA256 {
		t.Errorf("written manifest %+v", written)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "model.onnx verified") {
		t.Errorf("progress: %q", msgs)
	}
	// A second pull finds verified copies and asks for nothing.
	before := h.requests.Load()
	if _, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if n := h.requests.Load() - before; n != 0 {
		t.Errorf("re-pull of verified files made %d requests", n)
	}
	// Force downloads them again.
	if _, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL, Force: true}); err != nil {
		t.Fatal(err)
	}
	if n := h.requests.Load() - before; n != int64(len(files)) {
		t.Errorf("forced pull made %d requests, want %d", n, len(files))
	}
}

// TestPulledFolderClassifies pulls a text model whose tokenizer files are
// real Hugging Face ones and classifies with the folder it gets.
func TestPulledFolderClassifies(t *testing.T) {
	tokDir := shared.Path(t, "models", "tokenizers", "toxic-bert")
	files := map[string][]byte{}
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json", "config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	m, err := onnxbuild.EncoderClassifier(onnxbuild.EncoderConfig{Layers: 1, Hidden: 16, Heads: 2, FFN: 32,
		Vocab: 30522, MaxPositions: 512, TypeVocab: 2, Labels: 6, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if files["model.onnx"], err = m.Marshal(); err != nil {
		t.Fatal(err)
	}
	h := newHub(t)
	man := hubManifest(h, "toxic-tiny", "org/toxic-tiny", "main", files)
	man.Labels = map[string]string{"identity_hate": "hate"}
	dir, err := Pull(context.Background(), man, t.TempDir(), PullOptions{HFEndpoint: h.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	model, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	if model.Name != "toxic-tiny" || model.Text == nil || model.Manifest.Category("identity_hate") != "hate" {
		t.Fatalf("loaded %+v", model)
	}
	p, err := model.Text.Classify(context.Background(), []string{"Ce commentaire est méchant."})
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || len(p[0].Scores) != 6 {
		t.Fatalf("predictions %+v", p)
	}
}

func TestPullChecksumMismatchLeavesNoFolder(t *testing.T) {
	h := newHub(t)
	files := modelFiles(t, 1)
	man := hubManifest(h, "tiny", "org/tiny", "rev1", files)
	// config.json comes second: model.onnx is downloaded and verified first.
	h.serve("org/tiny", "rev1", "config.json", []byte(`{"id2label": {"0": "tampered", "1": "toxic!"}, "problem_type": "single_label_classification"}`))
	cache := t.TempDir()
	_, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	if !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("error does not name the file and the digest: %v", err)
	}
	assertNoModelFolder(t, cache)
}

func TestPullSizeMismatch(t *testing.T) {
	h := newHub(t)
	files := modelFiles(t, 1)
	cache := t.TempDir()

	// The Content-Length announces another size: refused before the body.
	man := hubManifest(h, "tiny", "org/tiny", "rev1", files)
	man.Files[1].Size++ // model.onnx
	_, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("err = %v, want a size error wrapping ErrChecksum", err)
	}
	assertNoModelFolder(t, cache)

	// Without Content-Length (chunked), a longer body is cut at size+1.
	big := bytes.Repeat([]byte("x"), 1<<20)
	h.hook("org/tiny", "rev1", "onnx/model_quantized.onnx", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 64; i++ {
			if _, err := w.Write(big); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	man = hubManifest(h, "tiny", "org/tiny", "rev1", files)
	_, err = Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want a size error wrapping ErrChecksum", err)
	}
	assertNoModelFolder(t, cache)
}

func TestPullNotFoundNamesFileAndURL(t *testing.T) {
	h := newHub(t)
	files := modelFiles(t, 1)
	man := hubManifest(h, "tiny", "org/tiny", "rev1", files)
	man.Files = append(man.Files, File{Name: "tokenizer.json", SHA256: digest([]byte("{}"))})
	cache := t.TempDir()
	_, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL})
	if err == nil {
		t.Fatal("missing file: want an error")
	}
	want := h.srv.URL + "/org/tiny/resolve/rev1/tokenizer.json"
	for _, s := range []string{"pull tiny", "tokenizer.json", want, "404", "revision and path"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	assertNoModelFolder(t, cache)
}

func TestPullUnpinnedRefusedBeforeAnyRequest(t *testing.T) {
	h := newHub(t)
	files := modelFiles(t, 1)
	man := hubManifest(h, "tiny", "org/tiny", "rev1", files)
	man.Files[0].SHA256 = "" // config.json; model.onnx stays pinned
	cache := t.TempDir()
	_, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL})
	if !errors.Is(err, ErrUnpinned) {
		t.Fatalf("err = %v, want ErrUnpinned", err)
	}
	for _, s := range []string{"config.json", "nothing was downloaded", "--allow-unpinned", "agate pull --allow-unpinned tiny"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "model.onnx") {
		t.Errorf("error names the pinned file: %v", err)
	}
	if n := h.requests.Load(); n != 0 {
		t.Errorf("%d requests before the refusal", n)
	}
	assertNoModelFolder(t, cache)

	// Accepted on request, with the digest to pin reported.
	var msgs []string
	if _, err := Pull(context.Background(), man, cache, PullOptions{HFEndpoint: h.srv.URL, AllowUnpinned: true,
		Progress: func(s string) { msgs = append(msgs, s) }}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), digest(files["config.json"])) {
		t.Errorf("the unpinned digest is not reported: %q", msgs)
	}
}

func TestPullCancelledLeavesNoFolder(t *testing.T) {
	h := newHub(t)
	files := modelFiles(t, 1)
	man := hubManifest(h, "tiny", "org/tiny", "rev1", files)
	cache := t.TempDir()

	// Cancelled before it starts: no request, no folder.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Pull(ctx, man, cache, PullOptions{HFEndpoint: h.srv.URL}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := h.requests.Load(); n != 0 {
		t.Errorf("%d requests after cancellation", n)
	}
	assertNoModelFolder(t, cache)

	// Cancelled in the middle of model.onnx (config.json is already staged).
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	onnx := files["model.onnx"]
	h.hook("org/tiny", "rev1", "onnx/model_quantized.onnx", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(onnx)))
		w.Write(onnx[:len(onnx)/2])
		w.(http.Flusher).Flush()
		cancel()
		<-r.Context().Done()
	})
	if _, err := Pull(ctx, man, cache, PullOptions{HFEndpoint: h.srv.URL}); err == nil {
		t.Fatal("cancelled download: want an error")
	}
	assertNoModelFolder(t, cache)
}

// TestRePullFailureKeepsOldFiles pulls a model, then pulls a new version
// that fails in several ways: the folder must keep the old version's files,
// byte for byte, with nothing added.
func TestRePullFailureKeepsOldFiles(t *testing.T) {
	h := newHub(t)
	v1 := modelFiles(t, 1)
	man1 := hubManifest(h, "tiny", "org/tiny", "rev1", v1)
	cache := t.TempDir()
	dir, err := Pull(context.Background(), man1, cache, PullOptions{HFEndpoint: h.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	old := snapshot(t, dir)

	v2 := modelFiles(t, 2)
	v2["config.json"] = []byte(`{"id2label": {"0": "ok", "1": "toxic"}}`)
	for name, setup := range map[string]func() (*Manifest, PullOptions){
		// The new model.onnx downloads and verifies; config.json is missing.
		"404 after a verified file": func() (*Manifest, PullOptions) {
			man := hubManifest(h, "tiny", "org/tiny", "rev2", v2)
			man.Files[0].Path = "missing/config.json"
			return man, PullOptions{HFEndpoint: h.srv.URL}
		},
		"checksum": func() (*Manifest, PullOptions) {
			man := hubManifest(h, "tiny", "org/tiny", "rev2", v2)
			man.Files[1].SHA256 = digest([]byte("something else"))
			return man, PullOptions{HFEndpoint: h.srv.URL}
		},
		"size": func() (*Manifest, PullOptions) {
			man := hubManifest(h, "tiny", "org/tiny", "rev2", v2)
			man.Files[1].Size--
			return man, PullOptions{HFEndpoint: h.srv.URL}
		},
		"unpinned": func() (*Manifest, PullOptions) {
			man := hubManifest(h, "tiny", "org/tiny", "rev2", v2)
			man.Files[1].SHA256 = ""
			return man, PullOptions{HFEndpoint: h.srv.URL}
		},
		"forced, network error": func() (*Manifest, PullOptions) {
			return man1, PullOptions{HFEndpoint: "http://127.0.0.1:1", Force: true}
		},
	} {
		man, o := setup()
		if _, err := Pull(context.Background(), man, cache, o); err == nil {
			t.Errorf("%s: want an error", name)
		}
		got := snapshot(t, dir)
		if len(got) != len(old) {
			t.Errorf("%s: folder holds %v after the failed pull", name, listDir(t, dir))
		}
		for n, b := range old {
			if !bytes.Equal(got[n], b) {
				t.Errorf("%s: %s changed", name, n)
			}
		}
		if entries := listDir(t, cache); !slices.Equal(entries, []string{"tiny"}) {
			t.Errorf("%s: cache holds %v", name, entries)
		}
	}

	// A good new version replaces the old one, manifest included.
	man2 := hubManifest(h, "tiny", "org/tiny", "rev3", v2)
	if _, err := Pull(context.Background(), man2, cache, PullOptions{HFEndpoint: h.srv.URL}); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, dir)
	for n, b := range v2 {
		if !bytes.Equal(got[n], b) {
			t.Errorf("after the good re-pull %s is not the new version", n)
		}
	}
	if m, err := ReadManifest(filepath.Join(dir, ManifestFile)); err != nil || m.Source.Revision != "rev3" {
		t.Errorf("manifest after re-pull: %+v, %v", m, err)
	}
}

// TestPullDest fills a folder given by the caller, creating its parents.
func TestPullDest(t *testing.T) {
	h := newHub(t)
	man := hubManifest(h, "tiny", "org/tiny", "rev1", modelFiles(t, 1))
	dest := filepath.Join(t.TempDir(), "a", "b", "tiny-out")
	dir, err := Pull(context.Background(), man, t.TempDir(), PullOptions{HFEndpoint: h.srv.URL, Dest: dest})
	if err != nil || dir != dest {
		t.Fatalf("dir %s, err %v", dir, err)
	}
	if got := listDir(t, filepath.Dir(dest)); !slices.Equal(got, []string{"tiny-out"}) {
		t.Errorf("beside the folder: %v", got)
	}
}

// TestBuiltinManifests checks every manifest file shipped in
// models/manifests, and the pins of toxic-bert.
func TestBuiltinManifests(t *testing.T) {
	entries, err := os.ReadDir("manifests")
	if err != nil {
		t.Fatal(err)
	}
	c, err := BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != len(entries) {
		t.Errorf("%d manifest files, %d in the catalog", len(entries), len(c))
	}
	commit := regexp.MustCompile(`^[0-9a-f]{40}$`)
	for _, e := range entries {
		m, err := ReadManifest(filepath.Join("manifests", e.Name()))
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if want := strings.TrimSuffix(e.Name(), ".yaml"); m.Name != want {
			t.Errorf("%s declares model %q", e.Name(), m.Name)
		}
		if m.Task == TaskTextClassification {
			var names []string
			for _, f := range m.Files {
				names = append(names, f.Name)
			}
			for _, want := range []string{"model.onnx", "tokenizer.json", "config.json"} {
				if !slices.Contains(names, want) {
					t.Errorf("%s lists no %s", m.Name, want)
				}
			}
			if len(m.Languages) == 0 {
				t.Errorf("%s names no language", m.Name)
			}
		}
		// A pinned file set must come from a pinned revision.
		if m.Source.Kind == SourceHuggingFace && len(m.Unpinned()) == 0 && !commit.MatchString(m.Source.Revision) {
			t.Errorf("%s pins every digest but not the revision (%q)", m.Name, m.Source.Revision)
		}
	}

	tb := c["toxic-bert"]
	if tb == nil {
		t.Fatal("no toxic-bert manifest")
	}
	if tb.Source.Repo != "Xenova/toxic-bert" || tb.Source.Revision != "bc69aac05bfdd0fedf8eaba603d206cc9b89b1a2" {
		t.Errorf("toxic-bert source %+v", tb.Source)
	}
	if names := tb.Unpinned(); len(names) > 0 {
		t.Errorf("toxic-bert leaves %v unpinned", names)
	}
	want := File{Name: "model.onnx", Path: "onnx/model_quantized.onnx",
		SHA256: "620012c9bed13e3c58b9c959d160d955ff033a1a27528212b9da5b0aa4ac3f73", Size: 110720344}
	if i := slices.IndexFunc(tb.Files, func(f File) bool { return f.Name == "model.onnx" }); i < 0 || tb.Files[i] != want {
		t.Errorf("toxic-bert model.onnx entry %+v, want %+v", tb.Files, want)
	}

	ml := c["distilbert-multilingual-toxicity"]
	if ml == nil || !slices.Contains(ml.Languages, "fr") || ml.Category("toxic") != "toxicity" {
		t.Fatalf("multilingual manifest %+v", ml)
	}
}

// TestToxicBertTokenizerPins checks the tokenizer digests and sizes of the
// toxic-bert manifest against the shared copies they were computed from.
func TestToxicBertTokenizerPins(t *testing.T) {
	dir := shared.Path(t, "models", "tokenizers", "toxic-bert")
	c, err := BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c["toxic-bert"].Files {
		if f.Name == "model.onnx" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if digest(b) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s: shared copy has sha256 %s and %d bytes, the manifest %s and %d", f.Name, digest(b), len(b), f.SHA256, f.Size)
		}
	}
}

// TestBuiltinUnpinnedModelMakesNoRequest pulls each catalog model that has
// unpinned files against a test hub: the refusal must come first.
func TestBuiltinUnpinnedModelMakesNoRequest(t *testing.T) {
	c, err := BuiltinCatalog()
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(t)
	for _, name := range c.Names() {
		m := c[name]
		if len(m.Unpinned()) == 0 {
			continue
		}
		cache := t.TempDir()
		if _, err := Pull(context.Background(), m, cache, PullOptions{HFEndpoint: h.srv.URL}); !errors.Is(err, ErrUnpinned) {
			t.Errorf("%s: err = %v, want ErrUnpinned", name, err)
		}
		assertNoModelFolder(t, cache)
	}
	if n := h.requests.Load(); n != 0 {
		t.Errorf("%d requests", n)
	}
}
