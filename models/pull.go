package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/agate-ml/agate/models/demo"
	"gopkg.in/yaml.v3"
)

// DefaultHFEndpoint is the Hugging Face Hub address (HF_ENDPOINT overrides
// it in the command line tool, as in Hugging Face's own tools).
const DefaultHFEndpoint = "https://huggingface.co"

// PullOptions configure Pull.
type PullOptions struct {
	// Client downloads the files (default: a client without timeout; the
	// context bounds the download).
	Client *http.Client
	// HFEndpoint replaces DefaultHFEndpoint (a mirror, or a test server).
	HFEndpoint string
	// Token is sent as a bearer token to Hugging Face (gated models).
	Token string
	// AllowUnpinned accepts files whose manifest entry has no sha256; their
	// computed digest is reported through Progress.
	AllowUnpinned bool
	// Force downloads files again even when a verified copy is present.
	Force bool
	// Dest, when set, is the model folder to fill instead of
	// cacheDir/<name>.
	Dest string
	// Progress, when set, receives one line per step.
	Progress func(msg string)
}

// ErrChecksum is wrapped by digest mismatches.
var ErrChecksum = errors.New("checksum mismatch")

// ErrUnpinned is returned for a file without sha256 unless AllowUnpinned.
var ErrUnpinned = errors.New("file has no sha256 in the manifest")

// Dir returns the cache folder of the model called name.
func Dir(cacheDir, name string) string { return filepath.Join(cacheDir, name) }

// Present reports whether the cache holds a model.onnx for name.
func Present(cacheDir, name string) bool {
	_, err := os.Stat(filepath.Join(Dir(cacheDir, name), "model.onnx"))
	return err == nil
}

// Pull makes the model of man available in cacheDir/<name>: it downloads
// the listed files and verifies their sha256 (or builds a builtin model),
// writes the manifest beside them and returns the folder. Files are written
// under a temporary name and renamed once verified, so an interrupted pull
// leaves no half file behind.
func Pull(ctx context.Context, man *Manifest, cacheDir string, o PullOptions) (string, error) {
	if err := man.Validate(); err != nil {
		return "", err
	}
	dir := Dir(cacheDir, man.Name)
	if o.Dest != "" {
		dir = o.Dest
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pull %s: %w", man.Name, err)
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if man.Source.Kind == SourceBuiltin {
		if man.Name != demo.Name {
			return "", fmt.Errorf("pull %s: no builtin builder for this model (only %s)", man.Name, demo.Name)
		}
		if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err == nil && !o.Force {
			progress(fmt.Sprintf("%s: already built in %s", man.Name, dir))
		} else {
			progress(fmt.Sprintf("%s: training the demo random forest (%s)", man.Name, demo.Formula))
			if _, err := demo.Write(dir, demo.DefaultConfig()); err != nil {
				return "", fmt.Errorf("pull %s: %w", man.Name, err)
			}
		}
		return dir, writeManifest(dir, man)
	}
	client := o.Client
	if client == nil {
		client = &http.Client{}
	}
	for _, f := range man.Files {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("pull %s: %w", man.Name, err)
		}
		dst := filepath.Join(dir, f.Name)
		if !o.Force && f.SHA256 != "" {
			if sum, err := fileSHA256(dst); err == nil && sum == f.SHA256 {
				progress(fmt.Sprintf("%s: %s already verified", man.Name, f.Name))
				continue
			}
		}
		if f.SHA256 == "" && !o.AllowUnpinned {
			return "", fmt.Errorf("pull %s: %s: %w (rerun with --allow-unpinned to accept it and print its digest)", man.Name, f.Name, ErrUnpinned)
		}
		src, err := fileURL(man, f, o.HFEndpoint)
		if err != nil {
			return "", fmt.Errorf("pull %s: %w", man.Name, err)
		}
		progress(fmt.Sprintf("%s: downloading %s", man.Name, src))
		sum, n, err := download(ctx, client, src, dst, o.Token, f)
		if err != nil {
			return "", fmt.Errorf("pull %s: %s: %w", man.Name, f.Name, err)
		}
		if f.SHA256 == "" {
			progress(fmt.Sprintf("%s: %s is unpinned: sha256 %s (%d bytes); add it to the manifest", man.Name, f.Name, sum, n))
		}
		progress(fmt.Sprintf("%s: %s verified (%d bytes)", man.Name, f.Name, n))
	}
	return dir, writeManifest(dir, man)
}

func writeManifest(dir string, man *Manifest) error {
	b, err := yaml.Marshal(man)
	if err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	return nil
}

// fileURL is the download address of f.
func fileURL(man *Manifest, f File, endpoint string) (string, error) {
	if man.Source.Kind == SourceURL {
		return f.URL, nil
	}
	if endpoint == "" {
		endpoint = DefaultHFEndpoint
	}
	p := f.Path
	if p == "" {
		p = f.Name
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil {
		return "", fmt.Errorf("hugging face endpoint: %w", err)
	}
	return u.JoinPath(man.Source.Repo, "resolve", man.Source.Revision, p).String(), nil
}

// download writes src to dst through a temporary file, checks it against
// f's digest and size when set, and returns the content's sha256 and size.
// A file that fails the check never replaces dst.
func download(ctx context.Context, client *http.Client, src, dst, token string, f File) (string, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return "", 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("GET %s: %s", src, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("GET %s: %w", src, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if f.SHA256 != "" && sum != f.SHA256 {
		return "", 0, fmt.Errorf("%w: got sha256 %s, want %s", ErrChecksum, sum, f.SHA256)
	}
	if f.Size > 0 && n != f.Size {
		return "", 0, fmt.Errorf("%w: got %d bytes, want %d", ErrChecksum, n, f.Size)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
