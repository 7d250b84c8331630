package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/gin-gonic/gin"
)

// A runtimeModel lives while its model is in the registry and, once a
// reload has replaced the model (retired), until the last request holding
// it is released: then its batchers are drained and the model closed.

// acquire returns the runtime of the model name at version, or, when
// version is "", of the version the registry routes the request to
// (traffic split or default version), and counts the request in
// agate_model_requests_total; its batchers are made on first use. The
// caller must release it.
func (s *Server) acquire(name, version string) (*runtimeModel, *apiError) {
	return s.hold(name, version, true)
}

// peek is acquire for requests that only describe the model: version ""
// is the default version, and nothing is counted.
func (s *Server) peek(name, version string) (*runtimeModel, *apiError) {
	return s.hold(name, version, false)
}

func (s *Server) hold(name, version string, route bool) (*runtimeModel, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &apiError{status: http.StatusServiceUnavailable, msg: "the server is shutting down", retryAfter: 1}
	}
	var m *models.Model
	var ok bool
	switch {
	case version == "" && route:
		m, ok = s.reg.Route(name)
	case version == "":
		m, ok = s.reg.Get(name)
	default:
		m, ok = s.reg.Version(name, version)
	}
	if !ok {
		if vs := s.reg.Versions(name); len(vs) > 0 {
			return nil, errorf(http.StatusNotFound, "model %q has no version %q; its versions: %s", name, version, versionNames(vs))
		}
		if hint, missing := s.reg.Missing(name); missing {
			return nil, &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("model %q is not installed on this server", name), hint: hint}
		}
		return nil, errorf(http.StatusNotFound, "model %q not found; GET /v1/models lists the models", name)
	}
	rt, ok := s.runtimes[m]
	if !ok {
		rt = s.newRuntime(m)
		s.runtimes[m] = rt
	}
	rt.refs++
	if route {
		s.metrics.modelRequests.WithLabelValues(m.Name, m.Version).Inc()
	}
	return rt, nil
}

// release gives back a runtime taken by acquire; the last release of a
// retired runtime closes it.
func (s *Server) release(rt *runtimeModel) {
	s.mu.Lock()
	rt.refs--
	done := rt.refs == 0 && rt.retired
	s.mu.Unlock()
	if done {
		s.closeRetired(rt)
	}
}

// closeRetired drains the batchers of a replaced model and closes it.
func (s *Server) closeRetired(rt *runtimeModel) {
	rt.closeBatchers()
	if err := rt.m.Close(); err != nil {
		s.log.Warn("closing a replaced model", slog.String("model", rt.m.Name), slog.String("version", rt.m.Version), slog.String("error", err.Error()))
	}
}

func (rt *runtimeModel) closeBatchers() {
	if rt.text != nil {
		rt.text.Close()
	}
	if rt.rows != nil {
		rt.rows.Close()
	}
}

func versionNames(vs []*models.Model) string { return strings.Join(modelVersions(vs), ", ") }

// ErrReloadFailed is wrapped by Reload's errors about a model whose new
// files could not be loaded (the previous model keeps serving).
var ErrReloadFailed = errors.New("reload failed")

// Reload loads every version of the model name again from where it came
// from (its folder; an MLflow reference is resolved again) and swaps them
// in atomically: requests that arrive afterwards get the new models,
// requests in flight finish on the old ones, which are closed once the
// last of them is done. When a version fails to load, nothing is swapped
// and the old versions keep serving; the error wraps ErrReloadFailed, or
// models.ErrNotReloadable for a model embedded in the binary. Reloads are
// done one at a time. It returns the new versions.
func (s *Server) Reload(ctx context.Context, name string) ([]*models.Model, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	olds := s.reg.Versions(name)
	if len(olds) == 0 {
		return nil, fmt.Errorf("model %q is not loaded", name)
	}
	news := make([]*models.Model, 0, len(olds))
	fail := func(err error) ([]*models.Model, error) {
		for _, m := range news {
			m.Close()
		}
		return nil, err
	}
	for _, old := range olds {
		if !old.Reloadable() {
			return fail(fmt.Errorf("model %q version %q: %w", name, old.Version, models.ErrNotReloadable))
		}
		m, err := old.Reload(ctx)
		if err != nil {
			return fail(fmt.Errorf("%w: model %q version %q: %w", ErrReloadFailed, name, old.Version, err))
		}
		news = append(news, m)
	}
	var retired []*runtimeModel
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fail(errors.New("the server is shutting down"))
	}
	replaced, err := s.reg.Replace(name, news)
	if err != nil {
		s.mu.Unlock()
		return fail(fmt.Errorf("%w: %w", ErrReloadFailed, err))
	}
	var unused []*models.Model
	for _, old := range replaced {
		rt, ok := s.runtimes[old]
		if !ok {
			unused = append(unused, old)
			continue
		}
		delete(s.runtimes, old)
		rt.retired = true
		if rt.refs == 0 {
			retired = append(retired, rt)
		}
	}
	s.mu.Unlock()
	for _, rt := range retired {
		s.closeRetired(rt)
	}
	for _, m := range unused {
		m.Close()
	}
	for _, old := range replaced {
		if !slices.ContainsFunc(news, func(m *models.Model) bool { return m.Version == old.Version }) {
			s.metrics.forgetVersion(old.Name, old.Version)
		}
	}
	return news, nil
}

// ReloadResponse is the body of POST /v1/models/{name}/reload.
type ReloadResponse struct {
	// Model is the model's default version after the reload.
	Model ModelRef `json:"model"`
	// Versions lists the versions now loaded.
	Versions []string `json:"versions"`
	// Traffic is the split between versions, when the manifests set one.
	Traffic  map[string]int `json:"traffic,omitempty"`
	TookMS   float64        `json:"took_ms"`
	Reloaded bool           `json:"reloaded"`
}

// reload answers POST /v1/models/{name}/reload.
func (s *Server) reload(c *gin.Context) {
	start := time.Now()
	name := c.Param("name")
	if len(s.reg.Versions(name)) == 0 {
		if hint, missing := s.reg.Missing(name); missing {
			abort(c, &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("model %q is not installed on this server", name), hint: hint})
			return
		}
		abort(c, errorf(http.StatusNotFound, "model %q not found; GET /v1/models lists the models", name))
		return
	}
	news, err := s.Reload(c.Request.Context(), name)
	if err != nil {
		s.log.Error("reload failed", slog.String("model", name), slog.String("error", err.Error()))
		switch {
		case errors.Is(err, models.ErrNotReloadable):
			abort(c, &apiError{status: http.StatusConflict, msg: err.Error(), cause: err})
		case errors.Is(err, ErrReloadFailed):
			abort(c, &apiError{status: http.StatusUnprocessableEntity, msg: err.Error() + "; the previous version keeps serving", cause: err})
		default:
			abort(c, &apiError{status: http.StatusServiceUnavailable, msg: err.Error(), cause: err, retryAfter: 1})
		}
		return
	}
	s.log.Info("model reloaded", slog.String("model", name), slog.String("versions", versionNames(news)), slog.String("trigger", "api"))
	def, _ := s.reg.Get(name)
	resp := ReloadResponse{Model: ModelRef{Name: def.Name, Version: def.Version}, Traffic: s.reg.Traffic(name),
		Reloaded: true, TookMS: ms(time.Since(start))}
	for _, m := range news {
		resp.Versions = append(resp.Versions, m.Version)
	}
	c.JSON(http.StatusOK, resp)
}

// WatchModels reloads a model when the files of one of its version
// folders change, until ctx is done: every interval it looks at the size
// and modification time of each folder's files, and reloads once a change
// has held for one more look (so a file being copied is not read half
// written). A failed reload is logged and the old model keeps serving;
// the folder is tried again when it changes again.
func (s *Server) WatchModels(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	seen := map[string]string{}    // folder → fingerprint of the last load
	pending := map[string]string{} // folder → changed fingerprint waiting to hold
	look := func() {
		due := map[string]bool{}
		current := map[string]bool{}
		for _, m := range s.reg.All() {
			if !m.Reloadable() {
				continue
			}
			current[m.Dir] = true
			fp := fingerprint(m.Dir)
			old, known := seen[m.Dir]
			switch {
			case !known:
				seen[m.Dir] = fp
			case fp == old:
				delete(pending, m.Dir)
			case pending[m.Dir] == fp:
				due[m.Name] = true
				seen[m.Dir] = fp
				delete(pending, m.Dir)
			default:
				pending[m.Dir] = fp
			}
		}
		for dir := range seen {
			if !current[dir] {
				delete(seen, dir)
				delete(pending, dir)
			}
		}
		for _, name := range sortedNames(due) {
			start := time.Now()
			news, err := s.Reload(ctx, name)
			if err != nil {
				s.log.Error("reload failed", slog.String("model", name), slog.String("trigger", "files"), slog.String("error", err.Error()))
				continue
			}
			s.log.Info("model reloaded", slog.String("model", name), slog.String("versions", versionNames(news)),
				slog.String("trigger", "files"), slog.Float64("took_ms", ms(time.Since(start))))
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	look()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			look()
		}
	}
}

func sortedNames(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fingerprint sums up the names, sizes and modification times of the
// files of dir and of its sub-folders one level down ("" when it cannot be
// read).
func fingerprint(dir string) string {
	var b strings.Builder
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		entries, err := os.ReadDir(d)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v;", d, err)
			return
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue // temporary files of writers that rename into place
			}
			if e.IsDir() {
				if depth > 0 {
					walk(filepath.Join(d, e.Name()), depth-1)
				}
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "%s/%s %d %d;", d, e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	walk(dir, 1)
	return b.String()
}
