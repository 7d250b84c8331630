package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MLmodelFile is the file that makes a folder an MLflow model.
const MLmodelFile = "MLmodel"

// ErrFlavor is wrapped by the error about an MLflow model that has no onnx
// flavor.
var ErrFlavor = errors.New("no onnx flavor")

// MLmodel is what agate reads of an MLflow model's MLmodel file.
type MLmodel struct {
	// Flavors lists the model's flavors, sorted.
	Flavors []string
	// ONNXFile is the ONNX file, relative to the model folder (the onnx
	// flavor's data, "model.onnx" as mlflow.onnx writes it).
	ONNXFile string
	// RunID and ModelUUID identify the model in MLflow.
	RunID, ModelUUID string
}

// ReadMLmodel reads dir/MLmodel. A model without the onnx flavor (a
// scikit-learn pickle, say) is an error wrapping ErrFlavor that names the
// flavors it has.
func ReadMLmodel(dir string) (*MLmodel, error) {
	b, err := os.ReadFile(filepath.Join(dir, MLmodelFile))
	if err != nil {
		return nil, fmt.Errorf("reading the MLflow model: %w", err)
	}
	var doc struct {
		Flavors   map[string]map[string]any `yaml:"flavors"`
		RunID     string                    `yaml:"run_id"`
		ModelUUID string                    `yaml:"model_uuid"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, MLmodelFile), err)
	}
	ml := &MLmodel{RunID: doc.RunID, ModelUUID: doc.ModelUUID}
	for f := range doc.Flavors {
		ml.Flavors = append(ml.Flavors, f)
	}
	sort.Strings(ml.Flavors)
	onnx, ok := doc.Flavors["onnx"]
	if !ok {
		have := "no flavor"
		if len(ml.Flavors) > 0 {
			have = "the flavors " + strings.Join(ml.Flavors, ", ")
		}
		return nil, fmt.Errorf("the MLflow model in %s has %s: agate serves the onnx flavor only (log the model with mlflow.onnx.log_model, after converting it with skl2onnx, say): %w", dir, have, ErrFlavor)
	}
	ml.ONNXFile = "model.onnx"
	if d, ok := onnx["data"]; ok {
		s, _ := d.(string)
		if !safeRelPath(s) {
			return nil, fmt.Errorf("the MLflow model in %s: flavors.onnx.data %v is not a relative path inside the folder", dir, d)
		}
		ml.ONNXFile = s
	}
	return ml, nil
}

// MLflowClient resolves MLflow model registry references through the
// MLflow REST API and downloads their files through the tracking server's
// artifact proxy (mlflow-artifacts:, what `mlflow server` serves by
// default).
type MLflowClient struct {
	// URI is the tracking server's address (http://mlflow:5000).
	URI string
	// Client sends the requests (default: one with a 5 minute timeout).
	Client *http.Client
	// Token, when set, is sent as a bearer token (MLFLOW_TRACKING_TOKEN);
	// else Username and Password, when set, as basic authentication
	// (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD).
	Token, Username, Password string
}

// ModelRef is a parsed models:/ reference.
type ModelRef struct {
	// Name is the registered model's name.
	Name string
	// Version or Alias (one of them) says which version.
	Version, Alias string
}

// String returns the reference as MLflow writes it.
func (r ModelRef) String() string {
	if r.Alias != "" {
		return "models:/" + r.Name + "@" + r.Alias
	}
	return "models:/" + r.Name + "/" + r.Version
}

// IsModelRef reports whether s is an MLflow registry reference (models:/...).
func IsModelRef(s string) bool { return strings.HasPrefix(s, "models:/") }

var aliasRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// ParseModelRef parses models:/<name>/<version> or models:/<name>@<alias>.
// The name must also be a valid agate model name (ValidName), since it
// names the model in URLs. Stages (models:/<name>/Production), deprecated
// in MLflow, are refused: use an alias.
func ParseModelRef(s string) (ModelRef, error) {
	rest, ok := strings.CutPrefix(s, "models:/")
	if !ok {
		return ModelRef{}, fmt.Errorf("%q is not an MLflow model reference (models:/<name>/<version> or models:/<name>@<alias>)", s)
	}
	var r ModelRef
	if name, alias, ok := strings.Cut(rest, "@"); ok {
		r = ModelRef{Name: name, Alias: alias}
		if !aliasRE.MatchString(alias) {
			return ModelRef{}, fmt.Errorf("%q: alias %q must be letters, digits, _ or -", s, alias)
		}
	} else {
		name, version, ok := strings.Cut(rest, "/")
		if !ok {
			return ModelRef{}, fmt.Errorf("%q: want models:/<name>/<version> or models:/<name>@<alias>", s)
		}
		if _, err := strconv.ParseUint(version, 10, 64); err != nil {
			return ModelRef{}, fmt.Errorf("%q: version %q is not a number (MLflow stages are deprecated: give an alias, models:/%s@<alias>)", s, version, name)
		}
		r = ModelRef{Name: name, Version: version}
	}
	if !ValidName(r.Name) {
		return ModelRef{}, fmt.Errorf("%q: the registered model name %q is not a valid agate model name (lowercase letters, digits, . _ -)", s, r.Name)
	}
	return r, nil
}

// MLflowVersion is a registered model version as the registry describes it.
type MLflowVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source"`
	RunID   string `json:"run_id"`
	Status  string `json:"status"`
}

// mlflowError is the error body of the MLflow REST API.
type mlflowError struct {
	Code    string `json:"error_code"`
	Message string `json:"message"`
}

// get sends GET uri+path?query and decodes the JSON answer into out.
func (c *MLflowClient) get(ctx context.Context, p string, query url.Values, out any) error {
	resp, err := c.do(ctx, p, query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("mlflow: GET %s: decoding the answer: %w", p, err)
	}
	return nil
}

// do sends GET uri+path?query; a status other than 200 is an error.
func (c *MLflowClient) do(ctx context.Context, p string, query url.Values) (*http.Response, error) {
	u := strings.TrimRight(c.URI, "/") + p
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("mlflow: %w", err)
	}
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case c.Username != "" || c.Password != "":
		req.SetBasicAuth(c.Username, c.Password)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mlflow: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e mlflowError
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("mlflow: GET %s: %s: %s (%s)", p, resp.Status, e.Message, e.Code)
		}
		return nil, fmt.Errorf("mlflow: GET %s: %s", p, resp.Status)
	}
	return resp, nil
}

// Resolve asks the registry which version ref is: GET
// /api/2.0/mlflow/model-versions/get for a version, GET
// /api/2.0/mlflow/registered-models/alias for an alias.
func (c *MLflowClient) Resolve(ctx context.Context, ref ModelRef) (*MLflowVersion, error) {
	var out struct {
		ModelVersion *MLflowVersion `json:"model_version"`
	}
	var err error
	if ref.Alias != "" {
		err = c.get(ctx, "/api/2.0/mlflow/registered-models/alias", url.Values{"name": {ref.Name}, "alias": {ref.Alias}}, &out)
	} else {
		err = c.get(ctx, "/api/2.0/mlflow/model-versions/get", url.Values{"name": {ref.Name}, "version": {ref.Version}}, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", ref, err)
	}
	mv := out.ModelVersion
	if mv == nil || mv.Version == "" {
		return nil, fmt.Errorf("resolving %s: mlflow: the answer has no model_version", ref)
	}
	if !ValidVersion(mv.Version) {
		return nil, fmt.Errorf("resolving %s: mlflow: version %q is not a valid version", ref, mv.Version)
	}
	if mv.Status != "" && mv.Status != "READY" {
		return nil, fmt.Errorf("resolving %s: version %s is %s, not READY", ref, mv.Version, mv.Status)
	}
	return mv, nil
}

// maxArtifactFiles bounds the files of one downloaded model.
const maxArtifactFiles = 10000

// Download fetches the files of the registered model version mv into
// dir/<name>/<version> (a version's files never change in MLflow, so a
// folder already there is used as it is) and returns that folder. It asks
// GET /api/2.0/mlflow/model-versions/get-download-uri where the files are:
// an mlflow-artifacts: URI is listed (GET
// /api/2.0/mlflow-artifacts/artifacts?path=) and downloaded (GET
// /api/2.0/mlflow-artifacts/artifacts/<path>) through the tracking server;
// a local path (file:) is used in place. Other stores (s3:, gs:...) are
// errors: serve them through the tracking server (mlflow server
// --serve-artifacts, the default).
func (c *MLflowClient) Download(ctx context.Context, mv *MLflowVersion, dir string) (string, error) {
	var out struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	if err := c.get(ctx, "/api/2.0/mlflow/model-versions/get-download-uri", url.Values{"name": {mv.Name}, "version": {mv.Version}}, &out); err != nil {
		return "", fmt.Errorf("model %s version %s: %w", mv.Name, mv.Version, err)
	}
	uri := out.ArtifactURI
	if uri == "" {
		uri = mv.Source
	}
	if local, ok := localPath(uri); ok {
		if !IsModelDir(local) {
			return "", fmt.Errorf("model %s version %s: %s holds no MLmodel or model.onnx", mv.Name, mv.Version, local)
		}
		return local, nil
	}
	rest, ok := strings.CutPrefix(uri, "mlflow-artifacts:")
	if !ok {
		return "", fmt.Errorf("model %s version %s: its files are at %q: agate downloads them through the tracking server's artifact proxy (mlflow-artifacts: URIs) or reads a local path; download them yourself and use --model-dir", mv.Name, mv.Version, uri)
	}
	if strings.HasPrefix(rest, "//") { // mlflow-artifacts://host:port/path
		rest = rest[2:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	root := strings.Trim(rest, "/")
	final := filepath.Join(dir, mv.Name, mv.Version)
	if IsModelDir(final) {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("mlflow: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), "."+mv.Version+".download-")
	if err != nil {
		return "", fmt.Errorf("mlflow: %w", err)
	}
	defer os.RemoveAll(tmp)
	n := 0
	if err := c.fetchTree(ctx, root, "", tmp, &n); err != nil {
		return "", fmt.Errorf("model %s version %s: %w", mv.Name, mv.Version, err)
	}
	if !IsModelDir(tmp) {
		return "", fmt.Errorf("model %s version %s: the artifacts at %s hold no MLmodel or model.onnx", mv.Name, mv.Version, uri)
	}
	if err := os.Rename(tmp, final); err != nil {
		if IsModelDir(final) { // another process was faster
			return final, nil
		}
		return "", fmt.Errorf("mlflow: %w", err)
	}
	return final, nil
}

// localPath returns the folder of a file: URI or an absolute path.
func localPath(uri string) (string, bool) {
	if strings.HasPrefix(uri, "/") {
		return uri, true
	}
	if u, err := url.Parse(uri); err == nil && u.Scheme == "file" && (u.Host == "" || u.Host == "localhost") {
		return filepath.FromSlash(u.Path), true
	}
	return "", false
}

// artifactFile is one entry of an mlflow-artifacts listing; file_size is
// an int64, which protobuf's JSON may write as a string.
type artifactFile struct {
	Path  string          `json:"path"`
	IsDir bool            `json:"is_dir"`
	Size  json.RawMessage `json:"file_size"`
}

// fetchTree downloads root/rel (a folder) into dst/rel.
func (c *MLflowClient) fetchTree(ctx context.Context, root, rel, dst string, n *int) error {
	var list struct {
		Files []artifactFile `json:"files"`
	}
	if err := c.get(ctx, "/api/2.0/mlflow-artifacts/artifacts", url.Values{"path": {path.Join(root, rel)}}, &list); err != nil {
		return err
	}
	for _, f := range list.Files {
		// The server answers base names; older ones, paths under root.
		name := path.Base(f.Path)
		if !safeRelPath(name) {
			return fmt.Errorf("mlflow: artifact listing: refusing the path %q", f.Path)
		}
		if *n++; *n > maxArtifactFiles {
			return fmt.Errorf("mlflow: the model has more than %d files", maxArtifactFiles)
		}
		sub := path.Join(rel, name)
		if f.IsDir {
			if err := os.MkdirAll(filepath.Join(dst, filepath.FromSlash(sub)), 0o755); err != nil {
				return fmt.Errorf("mlflow: %w", err)
			}
			if err := c.fetchTree(ctx, root, sub, dst, n); err != nil {
				return err
			}
			continue
		}
		if err := c.fetchFile(ctx, path.Join(root, sub), filepath.Join(dst, filepath.FromSlash(sub))); err != nil {
			return err
		}
	}
	return nil
}

func (c *MLflowClient) fetchFile(ctx context.Context, src, dst string) error {
	esc := make([]string, 0, 8)
	for _, e := range strings.Split(src, "/") {
		esc = append(esc, url.PathEscape(e))
	}
	resp, err := c.do(ctx, "/api/2.0/mlflow-artifacts/artifacts/"+strings.Join(esc, "/"), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("mlflow: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("mlflow: downloading %s: %w", src, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mlflow: %w", err)
	}
	return nil
}

// LoadMLflow resolves ref (models:/<name>/<version> or
// models:/<name>@<alias>) through the registry, downloads the version's
// files under cacheDir/mlflow and loads them. The model is named after the
// registered model (unless o.Name says otherwise) and carries the
// registry's version number; its Reload resolves ref again, so a reload
// follows an alias that moved.
func LoadMLflow(ctx context.Context, c *MLflowClient, ref, cacheDir string, o LoadOptions) (*Model, error) {
	r, err := ParseModelRef(ref)
	if err != nil {
		return nil, err
	}
	if c == nil || c.URI == "" {
		return nil, fmt.Errorf("%s: no MLflow tracking server to ask (--mlflow-uri)", ref)
	}
	mv, err := c.Resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	dir, err := c.Download(ctx, mv, filepath.Join(cacheDir, "mlflow"))
	if err != nil {
		return nil, err
	}
	lo := o
	if lo.Name == "" {
		lo.Name = r.Name
	}
	lo.Version = mv.Version
	m, err := load(dir, lo)
	if err != nil {
		return nil, fmt.Errorf("%s (version %s): %w", ref, mv.Version, err)
	}
	m.Ref = r.String()
	m.reload = func(ctx context.Context) (*Model, error) { return LoadMLflow(ctx, c, ref, cacheDir, o) }
	return m, nil
}
