package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/agate-ml/agate/engine/onnxbuild"
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
	// computed digest is reported through Progress. Without it Pull refuses
	// such a manifest before any download.
	AllowUnpinned bool
	// Force downloads files again even when a verified copy is present.
	Force bool
	// Dest, when set, is the model folder to fill instead of
	// cacheDir/<name>.
	Dest string
	// Progress, when set, receives one line per step.
	Progress func(msg string)
}

// ErrChecksum is wrapped by digest and size mismatches.
var ErrChecksum = errors.New("checksum mismatch")

// ErrUnpinned is wrapped when a manifest lists files without sha256 and
// PullOptions.AllowUnpinned is not set; the error names the files.
var ErrUnpinned = errors.New("sha256 not pinned in the manifest")

// Dir returns the cache folder of the model called name.
func Dir(cacheDir, name string) string { return filepath.Join(cacheDir, name) }

// Present reports whether the cache holds a model.onnx for name.
func Present(cacheDir, name string) bool {
	_, err := os.Stat(filepath.Join(Dir(cacheDir, name), "model.onnx"))
	return err == nil
}

// Outdated reports whether the builtin model of man in cacheDir was built
// by an older agate (its recorded version differs from the one this build
// makes), so that it should be built again.
func Outdated(cacheDir string, man *Manifest) bool {
	if man.Source.Kind != SourceBuiltin || man.Name != demo.Name {
		return false
	}
	return builtDemoVersion(Dir(cacheDir, man.Name)) != demo.Version
}

// builtDemoVersion reads the version a built demo model records ("" when
// unreadable).
func builtDemoVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return ""
	}
	e, err := onnxbuild.LoadModel(b)
	if err != nil {
		return ""
	}
	return e.Metadata()["agate.version"]
}

// Pull makes the model of man available in cacheDir/<name> (or o.Dest): it
// downloads the listed files and verifies their sha256 and size (or builds
// a builtin model), writes the manifest beside them and returns the folder.
//
// A manifest with unpinned files is refused before any network access
// unless o.AllowUnpinned is set. Files are downloaded into a temporary
// folder beside the model folder and moved into it only once every file is
// verified, so a failed, refused or cancelled pull leaves no partial
// model folder: a folder that did not exist is not created, and an
// existing one keeps its files.
func Pull(ctx context.Context, man *Manifest, cacheDir string, o PullOptions) (string, error) {
	if err := man.Validate(); err != nil {
		return "", err
	}
	dir := Dir(cacheDir, man.Name)
	if o.Dest != "" {
		dir = o.Dest
	}
	if err := pull(ctx, man, dir, o); err != nil {
		return "", fmt.Errorf("pull %s: %w", man.Name, err)
	}
	return dir, nil
}

// pull fills dir through a staging folder; see Pull.
func pull(ctx context.Context, man *Manifest, dir string, o PullOptions) error {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	switch {
	case man.Source.Kind == SourceBuiltin && man.Name != demo.Name:
		return fmt.Errorf("no builtin builder for this model (only %s)", demo.Name)
	case man.Source.Kind != SourceBuiltin && !o.AllowUnpinned:
		if names := man.Unpinned(); len(names) > 0 {
			return fmt.Errorf("%s: %w; nothing was downloaded. Pin each file's sha256 in the manifest: "+
				"`agate pull --allow-unpinned %s` downloads them unverified and prints the digests to copy",
				strings.Join(names, ", "), ErrUnpinned, man.Name)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := newStaging(dir)
	if err != nil {
		return err
	}
	defer st.remove()

	if man.Source.Kind == SourceBuiltin {
		if builtDemoVersion(dir) == demo.Version && !o.Force {
			progress(fmt.Sprintf("%s: already built in %s", man.Name, dir))
		} else {
			progress(fmt.Sprintf("%s: training the demo random forest (%s)", man.Name, demo.Formula))
			if _, err := demo.Write(st.tmp, demo.DefaultConfig()); err != nil {
				return err
			}
		}
	} else if err := fetchFiles(ctx, man, dir, st.tmp, o, progress); err != nil {
		return err
	}
	if err := writeManifest(st.tmp, man); err != nil {
		return err
	}
	return st.commit()
}

// fetchFiles downloads man's files into tmp, skipping those dir already
// holds with the pinned digest (unless o.Force).
func fetchFiles(ctx context.Context, man *Manifest, dir, tmp string, o PullOptions, progress func(string)) error {
	client := o.Client
	if client == nil {
		client = &http.Client{}
	}
	for _, f := range man.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !o.Force && f.SHA256 != "" {
			if sum, err := FileSHA256(filepath.Join(dir, f.Name)); err == nil && sum == f.SHA256 {
				progress(fmt.Sprintf("%s: %s already verified", man.Name, f.Name))
				continue
			}
		}
		src, err := fileURL(man, f, o.HFEndpoint)
		if err != nil {
			return err
		}
		progress(fmt.Sprintf("%s: downloading %s", man.Name, src))
		token := ""
		if man.Source.Kind == SourceHuggingFace {
			token = o.Token // never sent to a manifest's own URLs
		}
		sum, n, err := download(ctx, client, src, filepath.Join(tmp, f.Name), token, f)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if f.SHA256 == "" {
			progress(fmt.Sprintf("%s: %s is unpinned: sha256 %s, size %d; add both to its manifest entry", man.Name, f.Name, sum, n))
			continue
		}
		progress(fmt.Sprintf("%s: %s verified (%d bytes)", man.Name, f.Name, n))
	}
	return nil
}

// staging is a temporary folder beside a model folder that receives the
// files of one pull; commit moves them into the model folder and remove
// deletes what is left.
type staging struct {
	dir string // the model folder
	tmp string // the staging folder, in the same parent
}

func newStaging(dir string) (*staging, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".pull-*")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &staging{dir: dir, tmp: tmp}, nil
}

// commit moves the staged files into the model folder. A folder that does
// not exist yet is created by renaming the staging folder, in one step; in
// an existing folder each file replaces its old copy by a rename, the
// manifest last.
func (s *staging) commit() error {
	st, err := os.Stat(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.Rename(s.tmp, s.dir)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s exists and is not a folder", s.dir)
	}
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return err
	}
	var last fs.DirEntry
	for _, e := range entries {
		if e.Name() == ManifestFile {
			last = e
			continue
		}
		if err := os.Rename(filepath.Join(s.tmp, e.Name()), filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
	}
	if last != nil {
		return os.Rename(filepath.Join(s.tmp, last.Name()), filepath.Join(s.dir, last.Name()))
	}
	return nil
}

// remove deletes the staging folder and whatever commit did not move.
func (s *staging) remove() { os.RemoveAll(s.tmp) }

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

// download writes src to dst, checks it against f's size and digest when
// set, and returns the content's sha256 and size. A response whose
// Content-Length differs from f.Size is refused before its body is read,
// and a body longer than f.Size is cut short.
func download(ctx context.Context, client *http.Client, src, dst, token string, f File) (string, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return "", 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		// the token goes to the endpoint's host only, never across a
		// redirect to another host (Go forwards it to subdomains)
		c := *client
		next := c.CheckRedirect
		c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
			if r.URL.Host != via[0].URL.Host {
				r.Header.Del("Authorization")
			}
			if next != nil {
				return next(r, via)
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}
		client = &c
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("GET %s: %s%s", src, resp.Status, statusHint(resp.StatusCode))
	}
	if f.Size > 0 && resp.ContentLength >= 0 && resp.ContentLength != f.Size {
		return "", 0, fmt.Errorf("%w: GET %s: size %d bytes, want %d", ErrChecksum, src, resp.ContentLength, f.Size)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, err
	}
	body := io.Reader(resp.Body)
	if f.Size > 0 {
		body = io.LimitReader(resp.Body, f.Size+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), body)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("GET %s: %w", src, err)
	}
	if f.Size > 0 && n > f.Size {
		return "", 0, fmt.Errorf("%w: GET %s: more than %d bytes, want %d", ErrChecksum, src, f.Size, f.Size)
	}
	if f.Size > 0 && n < f.Size {
		return "", 0, fmt.Errorf("%w: GET %s: got %d bytes, want %d", ErrChecksum, src, n, f.Size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if f.SHA256 != "" && sum != f.SHA256 {
		return "", 0, fmt.Errorf("%w: GET %s: got sha256 %s, want %s", ErrChecksum, src, sum, f.SHA256)
	}
	return sum, n, nil
}

// statusHint explains the HTTP statuses a pull commonly meets.
func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (a gated or private repository needs a Hugging Face token: --hf-token or HF_TOKEN)"
	case http.StatusNotFound:
		return " (no such file: check the manifest's repo, revision and path)"
	}
	return ""
}

// FileSHA256 returns the hex sha256 of the file at path.
func FileSHA256(path string) (string, error) {
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
