package models

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPullTokenStaysWithTheHub: the Hugging Face token goes to the hub's
// host only: not to a manifest's own URLs, not across a redirect to
// another host.
func TestPullTokenStaysWithTheHub(t *testing.T) {
	content := []byte("weights")
	var mu sync.Mutex
	seen := map[string]string{} // path → Authorization header
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		w.Write(content)
	}))
	defer other.Close()
	hubSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		http.Redirect(w, r, other.URL+"/cdn/model.onnx", http.StatusFound)
	}))
	defer hubSrv.Close()
	hf := &Manifest{Name: "hf", Version: "1", Task: TaskTextClassification,
		Source: Source{Kind: SourceHuggingFace, Repo: "org/model", Revision: "main"},
		Files:  []File{{Name: "model.onnx", SHA256: digest(content)}}}
	if _, err := Pull(context.Background(), hf, t.TempDir(), PullOptions{HFEndpoint: hubSrv.URL, Token: "secret"}); err != nil {
		t.Fatal(err)
	}
	if seen["/org/model/resolve/main/model.onnx"] != "Bearer secret" {
		t.Errorf("the hub did not get the token: %v", seen)
	}
	if seen["/cdn/model.onnx"] != "" {
		t.Errorf("the token crossed a redirect to another host: %v", seen)
	}
	byURL := &Manifest{Name: "byurl", Version: "1", Task: TaskTextClassification, Source: Source{Kind: SourceURL},
		Files: []File{{Name: "model.onnx", URL: other.URL + "/direct/model.onnx", SHA256: digest(content)}}}
	if _, err := Pull(context.Background(), byURL, t.TempDir(), PullOptions{HFEndpoint: hubSrv.URL, Token: "secret"}); err != nil {
		t.Fatal(err)
	}
	if seen["/direct/model.onnx"] != "" {
		t.Errorf("the token was sent to a url source: %v", seen)
	}
}

func TestManifestRejectsPathEscapes(t *testing.T) {
	base := func() *Manifest {
		return &Manifest{Name: "m", Version: "1", Task: TaskTextClassification,
			Source: Source{Kind: SourceHuggingFace, Repo: "org/model", Revision: "main"},
			Files:  []File{{Name: "model.onnx", Path: "onnx/model.onnx"}}}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("a good manifest: %v", err)
	}
	for name, edit := range map[string]func(m *Manifest){
		"path ..":       func(m *Manifest) { m.Files[0].Path = "../../etc/passwd" },
		"absolute path": func(m *Manifest) { m.Files[0].Path = "/etc/passwd" },
		"path query":    func(m *Manifest) { m.Files[0].Path = "model.onnx?x=1" },
		"repo ..":       func(m *Manifest) { m.Source.Repo = "../org" },
		"repo 3 parts":  func(m *Manifest) { m.Source.Repo = "a/b/c" },
		"revision ..":   func(m *Manifest) { m.Source.Revision = "../../x" },
	} {
		m := base()
		edit(m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "manifest") {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}
