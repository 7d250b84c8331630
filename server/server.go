// Package server is agate's HTTP API, a thin Gin layer over the engine and
// the task adapters of package models:
//
//   - POST /analyze: toxicity analysis of one or many texts
//   - POST /v1alpha1/comments:analyze: a Perspective API compatible route
//   - POST /predict and POST /v1/models/{name}/predict: tabular predictions
//   - POST /v1/models/{name}/explain: predictions with exact TreeSHAP contributions
//   - /v1/models/{name}/versions/{version}/...: the same for one version
//     when several are served side by side; requests naming no version go
//     to the default version or follow the manifests' traffic split
//   - POST /v1/models/{name}/reload: swap in the model's files again
//     (also done on file changes with Config.ReloadInterval)
//   - the KServe v2 / Open Inference Protocol REST routes under /v2
//   - GET /health, /healthz, /readyz, /v1/models, /metrics, /docs, /openapi.json
//
// Requests to a model go through a dynamic batcher (one per model and task)
// with a bounded queue: when it is full the client gets 429 with
// Retry-After. Every response carries an X-Request-ID; errors are JSON with
// the request id; every request is logged as one JSON line.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a Server. The zero value of a field means its default.
type Config struct {
	// Addr is the listen address (default ":8080").
	Addr string
	// Logger receives the JSON request log (default: discard).
	Logger *slog.Logger
	// Version is reported by /health and /v2.
	Version string
	// AnalyzeModel names the text model behind /analyze and the Perspective
	// route (default "agate-toxicity", the embedded model; see
	// SetAnalyzeModel).
	AnalyzeModel string
	// PredictModel names the tabular model behind POST /predict (default
	// "demo-rf").
	PredictModel string
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxTexts caps the texts of one /analyze request (default 64).
	MaxTexts int
	// MaxTextBytes caps one text (default 20000 bytes).
	MaxTextBytes int
	// MaxRows caps the rows of one predict request (default 1024).
	MaxRows int
	// OutOfRange is what a predict request with a feature outside the
	// model's declared range gets, for models whose manifest does not say:
	// models.OutOfRangeFlag (the default: answered, the values listed),
	// Reject (422 naming the feature) or Ignore.
	OutOfRange string
	// MaxTensorElements caps the elements of one raw tensor (KServe v2)
	// request, all inputs together (default 4,194,304).
	MaxTensorElements int
	// TLSCertFile and TLSKeyFile, when both set, serve HTTPS (HTTP/2 and
	// HTTP/1.1, TLS 1.2 at least) with that certificate chain and key
	// (PEM). The files are read again when they change, so a renewed
	// certificate is served to new connections without a restart.
	TLSCertFile, TLSKeyFile string
	// TLSReloadInterval is the least time between two looks at the TLS
	// files for a change (default 10s).
	TLSReloadInterval time.Duration
	// CORSOrigins lists the web origins allowed to call the API from a
	// browser ("*": any); empty leaves CORS off.
	CORSOrigins []string
	// MaxInFlight caps the inference requests being read, prepared or
	// waiting for a model at once (default Batch.QueueSize). Past it a
	// request waits in line, its body unread, so that overload costs no
	// parsing or tokenizing.
	MaxInFlight int
	// MaxQueued bounds that line (default 8 × MaxInFlight): past it a
	// request gets 429 at once. A negative value means no line.
	MaxQueued int
	// MaxQueueWait is the longest a request waits in line before it gets
	// 429 (default a quarter of RequestTimeout, and never more than half
	// of ReadTimeout, since the body is read after the wait). A client that
	// hangs up while waiting keeps its place until then (HTTP/1 reports the
	// hang-up only once the body is read). RequestTimeout starts after
	// admission.
	MaxQueueWait time.Duration
	// RequestTimeout bounds a request's time in the queue and the model
	// (default 10s): past it the client gets 504.
	RequestTimeout time.Duration
	// Batching enables dynamic batching; when false every request runs on
	// its own (still through the bounded queue).
	Batching bool
	// Batch configures the per-model batchers (defaults: 32 items, 2ms,
	// 16384 padded tokens, queue 512, GOMAXPROCS workers).
	Batch BatchConfig
	// RateLimit is the sustained requests per second allowed per client
	// address; 0 disables rate limiting.
	RateLimit float64
	// RateBurst is the bucket size (default: RateLimit rounded up).
	RateBurst int
	// TrustedProxies are the proxy addresses or CIDRs whose
	// X-Forwarded-For is believed for the client address (default none).
	TrustedProxies []string
	// ReadTimeout, WriteTimeout and IdleTimeout configure the HTTP server
	// (defaults 15s, 30s, 120s); ReadHeaderTimeout is 5s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain (default 30s).
	ShutdownTimeout time.Duration
	// ShutdownDelay keeps serving, with readiness failing, for this long
	// after the stop signal so load balancers stop routing first (default 0).
	ShutdownDelay time.Duration
	// LogHealth logs successful probe and /metrics requests too.
	LogHealth bool
	// ReloadInterval, when positive, makes Serve watch the model folders
	// and reload a model whose files changed (see WatchModels).
	ReloadInterval time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.AnalyzeModel == "" {
		c.AnalyzeModel = "agate-toxicity"
	}
	if c.PredictModel == "" {
		c.PredictModel = "demo-rf"
	}
	if c.OutOfRange == "" {
		c.OutOfRange = models.OutOfRangeFlag
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxTexts <= 0 {
		c.MaxTexts = 64
	}
	if c.MaxTextBytes <= 0 {
		c.MaxTextBytes = 20000
	}
	if c.MaxTensorElements <= 0 {
		c.MaxTensorElements = 1 << 22
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 1024
	}
	def(&c.RequestTimeout, 10*time.Second)
	def(&c.MaxQueueWait, c.RequestTimeout/4)
	if c.Batch.MaxSize <= 0 {
		c.Batch.MaxSize = 32
	}
	if c.Batch.MaxDelay < 0 {
		c.Batch.MaxDelay = 0
	}
	if c.Batch.MaxTokens <= 0 {
		c.Batch.MaxTokens = 16384
	}
	if c.Batch.QueueSize <= 0 {
		c.Batch.QueueSize = 512
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = c.Batch.QueueSize
	}
	switch {
	case c.MaxQueued == 0:
		c.MaxQueued = 8 * c.MaxInFlight
	case c.MaxQueued < 0:
		c.MaxQueued = 0
	}
	if c.Batch.Workers <= 0 {
		c.Batch.Workers = runtime.GOMAXPROCS(0)
	}
	if !c.Batching {
		c.Batch.MaxSize = 1
	}
	def(&c.ReadTimeout, 15*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.ShutdownTimeout, 30*time.Second)
	if c.ReadTimeout > 0 && c.MaxQueueWait > c.ReadTimeout/2 {
		c.MaxQueueWait = c.ReadTimeout / 2
	}
	return c
}

// Server serves the models of a registry over HTTP.
type Server struct {
	cfg         Config
	log         *slog.Logger
	reg         *models.Registry
	metrics     *metrics
	limiter     *clientLimiter
	engine      *gin.Engine
	ready       atomic.Bool
	analyzeName atomic.Pointer[string] // the analysis model's name
	started     time.Time
	mu          sync.Mutex
	runtimes    map[*models.Model]*runtimeModel // guarded by mu
	closed      bool
	// reloadMu makes reloads one at a time.
	reloadMu sync.Mutex
	// maxItems is the most texts or rows of one request sent to the model
	// in one run (Batch.MaxSize, even when dynamic batching is off).
	maxItems int
	// openapi is the OpenAPI document as JSON.
	openapi []byte
	// rawSlots bounds concurrent direct engine calls (v2 tensor inference).
	rawSlots chan struct{}
	// admission holds the inference requests admitted and the line of
	// those waiting (admit).
	admission *admission
	// warned holds the 503 messages already logged as warnings.
	warned sync.Map
	// tls is the HTTPS configuration (nil: plain HTTP).
	tls *tls.Config
}

// runtimeModel is a loaded model (one version) with its batchers.
type runtimeModel struct {
	m    *models.Model
	text *batcher[models.TextInput, models.Prediction]
	rows *batcher[[]float64, rowResult]
	// refs counts the requests holding it (acquire); retired is set when a
	// reload replaced the model. Both are guarded by Server.mu.
	refs    int
	retired bool
}

type rowResult struct {
	pred    models.TabularPrediction
	classes []string
}

// New builds a server over reg. It is not ready (readiness probes fail)
// until SetReady(true), so the caller can load models in the background.
func New(reg *models.Registry, cfg Config) (*Server, error) {
	if reg == nil {
		return nil, errors.New("server: nil registry")
	}
	maxItems := cfg.Batch.MaxSize
	if maxItems <= 0 {
		maxItems = 32
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, maxItems: maxItems, log: cfg.Logger, reg: reg, metrics: newMetrics(), started: time.Now(),
		runtimes: map[*models.Model]*runtimeModel{}, rawSlots: make(chan struct{}, cfg.Batch.QueueSize+cfg.Batch.Workers),
		admission: newAdmission(cfg.MaxInFlight, cfg.MaxQueued, cfg.MaxQueueWait)}
	s.metrics.watchAdmission(s.admission)
	doc, err := OpenAPI()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.openapi = doc
	s.analyzeName.Store(&cfg.AnalyzeModel)
	if !models.ValidOutOfRange(cfg.OutOfRange) {
		return nil, fmt.Errorf("server: out-of-range policy %q is not one of reject, flag, ignore", cfg.OutOfRange)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("server: TLS needs both a certificate and a key file")
	}
	if cfg.TLSCertFile != "" {
		every := cfg.TLSReloadInterval
		if every <= 0 {
			every = 10 * time.Second
		}
		certs, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, every, s.log)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	}
	if cfg.RateLimit > 0 {
		s.limiter = newClientLimiter(cfg.RateLimit, cfg.RateBurst, 100000)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server: trusted proxies: %w", err)
	}
	e.Use(withRequestID, s.recoverPanics, s.observe)
	if len(cfg.CORSOrigins) > 0 {
		e.Use(s.cors)
	}
	if s.limiter != nil {
		e.Use(s.rateLimit)
	}
	e.Use(s.limitBody)
	s.routes(e)
	s.engine = e
	return s, nil
}

func (s *Server) routes(e *gin.Engine) {
	e.NoRoute(func(c *gin.Context) {
		abort(c, errorf(http.StatusNotFound, "no route for %s %s; see /docs", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		abort(c, errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	e.GET("/health", s.health)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)})))
	e.GET("/openapi.json", s.openAPI)
	e.GET("/docs", s.docs)
	e.GET("/docs/*file", s.docsAsset)
	e.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/docs") })

	e.POST("/analyze", s.admit, s.analyze)
	e.POST("/v1alpha1/comments:analyze", s.admit, s.perspective)
	e.POST("/v1/moderations", s.admit, s.moderations)

	e.GET("/v1/models", s.listModels)
	e.GET("/v1/models/:name", s.getModel)
	e.POST("/v1/models/:name/predict", s.admit, s.predict)
	e.POST("/v1/models/:name/explain", s.admit, s.explainPredict)
	e.POST("/v1/models/:name/reload", s.reload)
	e.GET("/v1/models/:name/versions/:version", s.getModel)
	e.POST("/v1/models/:name/versions/:version/predict", s.admit, s.predict)
	e.POST("/v1/models/:name/versions/:version/explain", s.admit, s.explainPredict)
	e.POST("/predict", s.admit, s.predict)
	// the seed's predict API, unchanged for its clients
	e.POST("/api/v1/predict", s.admit, s.predict)
	e.GET("/api/v1/predict/health", s.predictHealth)

	e.GET("/v2", s.v2Server)
	e.GET("/v2/health/live", s.v2Live)
	e.GET("/v2/health/ready", s.v2Ready)
	e.GET("/v2/models/:name", s.v2Model)
	e.GET("/v2/models/:name/ready", s.v2ModelReady)
	e.POST("/v2/models/:name/infer", s.admit, s.v2Infer)
	e.GET("/v2/models/:name/versions/:version", s.v2Model)
	e.GET("/v2/models/:name/versions/:version/ready", s.v2ModelReady)
	e.POST("/v2/models/:name/versions/:version/infer", s.admit, s.v2Infer)
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// SetReady marks the server ready (models loaded) or not.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// admit lets an inference request in while fewer than MaxInFlight are in;
// the next ones wait in line (at most MaxQueued, each at most MaxQueueWait)
// and the rest get 429 with Retry-After, all before any work.
func (s *Server) admit(c *gin.Context) {
	if err := s.admission.acquire(c.Request.Context()); err != nil {
		switch {
		case errors.Is(err, errLineFull):
			s.metrics.rejected.WithLabelValues("in_flight").Inc()
			abort(c, &apiError{status: http.StatusTooManyRequests, retryAfter: 1,
				msg: fmt.Sprintf("the server is handling %d inference requests and %d more are waiting, its limits: retry later", s.cfg.MaxInFlight, s.cfg.MaxQueued)})
		case errors.Is(err, errWaitedTooLong):
			s.metrics.rejected.WithLabelValues("queue_wait").Inc()
			abort(c, &apiError{status: http.StatusTooManyRequests, retryAfter: 1,
				msg: fmt.Sprintf("the request waited %v for one of the server's %d inference slots, its limit: retry later", s.cfg.MaxQueueWait, s.cfg.MaxInFlight)})
		default:
			abort(c, inferenceError(err))
		}
		return
	}
	defer s.admission.release()
	c.Next()
}

// SetAnalyzeModel names the text model behind /analyze and the
// Perspective route, replacing Config.AnalyzeModel (the command line picks
// it once the models are loaded).
func (s *Server) SetAnalyzeModel(name string) { s.analyzeName.Store(&name) }

// AnalyzeModel returns the name of the text model behind /analyze.
func (s *Server) AnalyzeModel() string { return *s.analyzeName.Load() }

// Ready reports whether the server is ready.
func (s *Server) Ready() bool { return s.ready.Load() }

// Close drains and stops every batcher; requests submitted afterwards get 503.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	rts := s.runtimes
	s.runtimes = map[*models.Model]*runtimeModel{}
	s.mu.Unlock()
	for _, rt := range rts {
		rt.closeBatchers()
	}
}

// newRuntime makes the batchers of m.
func (s *Server) newRuntime(m *models.Model) *runtimeModel {
	rt := &runtimeModel{m: m}
	depth := s.metrics.queueDepth.WithLabelValues(m.Name, m.Version)
	onDepth := func(n int64) { depth.Set(float64(n)) }
	size, inf := s.metrics.batchSize.WithLabelValues(m.Name, m.Version), s.metrics.inference.WithLabelValues(m.Name, m.Version)
	onBatch := func(n int, d time.Duration) { size.Observe(float64(n)); inf.Observe(d.Seconds()) }
	switch {
	case m.Text != nil:
		rt.text = newBatcher(s.cfg.Batch, m.Text.ClassifyEncoded, onDepth, onBatch)
	case m.Tabular != nil:
		cfg := s.cfg.Batch
		cfg.MaxTokens = 0
		tab := m.Tabular
		rt.rows = newBatcher(cfg, func(ctx context.Context, rows [][]float64) ([]rowResult, error) {
			preds, classes, err := tab.Predict(ctx, rows)
			if err != nil {
				return nil, err
			}
			out := make([]rowResult, len(preds))
			for i, p := range preds {
				out[i] = rowResult{pred: p, classes: classes}
			}
			return out, nil
		}, onDepth, onBatch)
	}
	return rt
}

// acquireRaw takes a slot for a direct (unbatched) engine call; false
// means the server is saturated.
func (s *Server) acquireRaw() bool {
	select {
	case s.rawSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) releaseRaw() { <-s.rawSlots }

// requestContext bounds a request by RequestTimeout.
func (s *Server) requestContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
}

// submitError converts a batcher error and counts load shedding.
func (s *Server) submitError(err error) *apiError {
	if errors.Is(err, ErrQueueFull) {
		s.metrics.rejected.WithLabelValues("queue_full").Inc()
	}
	return inferenceError(err)
}

// HTTPServer returns an http.Server for the configured address and
// timeouts, serving Handler.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.Addr,
		Handler:           s.engine,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves on ln until ctx is done, then shuts down gracefully: the
// server turns unready, waits ShutdownDelay, stops accepting connections,
// lets in-flight requests finish (up to ShutdownTimeout) and drains the
// batchers.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer()
	scheme := "http"
	serve := hs.Serve
	if s.tls != nil {
		// ServeTLS offers HTTP/2 through ALPN besides HTTP/1.1.
		hs.TLSConfig = s.tls.Clone()
		serve = func(ln net.Listener) error { return hs.ServeTLS(ln, "", "") }
		scheme = "https"
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ln) }()
	if s.cfg.ReloadInterval > 0 {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go s.WatchModels(wctx, s.cfg.ReloadInterval)
	}
	s.log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("scheme", scheme))
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.SetReady(false)
	s.log.Info("shutting down", slog.Duration("delay", s.cfg.ShutdownDelay), slog.Duration("timeout", s.cfg.ShutdownTimeout))
	if s.cfg.ShutdownDelay > 0 {
		time.Sleep(s.cfg.ShutdownDelay)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Close()
	if err != nil {
		return fmt.Errorf("server: graceful shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// ListenAndServe listens on the configured address and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}
