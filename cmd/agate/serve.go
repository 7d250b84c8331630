package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	flag "github.com/spf13/pflag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/agate-ml/agate/models"
	"github.com/agate-ml/agate/models/toxicity"
	"github.com/agate-ml/agate/ops"
	"github.com/agate-ml/agate/server"
)

// envFlags defines flags whose default comes from an environment variable
// of the same name: --batch-max-size reads AGATE_BATCH_MAX_SIZE.
type envFlags struct {
	fs   *flag.FlagSet
	errs []error
}

func envName(flagName string) string {
	return "AGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// failed reports (on stderr, for the command cmd) whether an environment
// variable held a value its flag cannot take.
func (e *envFlags) failed(cmd string, stderr io.Writer) bool {
	if len(e.errs) == 0 {
		return false
	}
	fmt.Fprintf(stderr, "agate %s: %v\n", cmd, errors.Join(e.errs...))
	return true
}

func (e *envFlags) env(name string) (string, bool) {
	return os.LookupEnv(envName(name))
}

func (e *envFlags) usage(name, usage string) string {
	return usage + " [$" + envName(name) + "]"
}

func (e *envFlags) String(name, def, usage string) *string {
	if v, ok := e.env(name); ok {
		def = v
	}
	return e.fs.String(name, def, e.usage(name, usage))
}

func (e *envFlags) Int(name string, def int, usage string) *int {
	if v, ok := e.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("$%s: %w", envName(name), err))
		}
		def = n
	}
	return e.fs.Int(name, def, e.usage(name, usage))
}

func (e *envFlags) Int64(name string, def int64, usage string) *int64 {
	if v, ok := e.env(name); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("$%s: %w", envName(name), err))
		}
		def = n
	}
	return e.fs.Int64(name, def, e.usage(name, usage))
}

func (e *envFlags) Float(name string, def float64, usage string) *float64 {
	if v, ok := e.env(name); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("$%s: %w", envName(name), err))
		}
		def = n
	}
	return e.fs.Float64(name, def, e.usage(name, usage))
}

func (e *envFlags) Bool(name string, def bool, usage string) *bool {
	if v, ok := e.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("$%s: %w", envName(name), err))
		}
		def = b
	}
	return e.fs.Bool(name, def, e.usage(name, usage))
}

func (e *envFlags) Duration(name string, def time.Duration, usage string) *time.Duration {
	if v, ok := e.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("$%s: %w", envName(name), err))
		}
		def = d
	}
	return e.fs.Duration(name, def, e.usage(name, usage))
}

// defaultCacheDir is $XDG_CACHE_HOME/agate (or the OS equivalent).
func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "agate")
	}
	return filepath.Join(os.TempDir(), "agate-cache")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

const serveUsage = `Usage: agate serve [flags]

Serves the models over HTTP: POST /analyze (toxicity), POST /predict and
/v1/models/{name}/predict (tabular models), the KServe v2 / Open Inference
Protocol under /v2, a Perspective API compatible /v1alpha1/comments:analyze,
/health, /healthz, /readyz, /metrics (Prometheus), /docs and /openapi.json.

Models come from the binary, the cache folder (see 'agate pull') and
--model-dir: model folders, MLflow model folders, <name>/<version>/
folders (versions served side by side, under
/v1/models/{name}/versions/{version}/...), and MLflow registry references
(models:/<name>/<version>, models:/<name>@<alias>) with --mlflow-uri.
POST /v1/models/{name}/reload, or --reload-interval, swaps in changed
model files without a restart. The toxicity model agate trains itself (agate-toxicity,
multilingual, French first) is compiled in: /analyze answers with it out of
the box, with nothing to download. A text model given with --model-dir, or
a pulled one listed in --models (toxic-bert, say), replaces it behind
/analyze unless --analyze-model names a model. The demo random forest
(demo-rf) is built into the cache on first start.

Every flag can also be set through the environment variable named after it,
shown in brackets; a flag on the command line wins.

Flags:
`

// serveCommand defines the flags of 'agate serve' on fs and returns what runs
// the command on its positional arguments (cobra or runFlags parses).
func serveCommand(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) func(args []string) int {
	setUsage(fs, stderr, serveUsage)
	f := &envFlags{fs: fs}
	addr := f.String("addr", ":8080", "listen address")
	cacheDir := f.String("cache-dir", defaultCacheDir(), "model cache folder (filled by 'agate pull')")
	device := f.String("device", "cpu", "where models run: cpu, or cuda:N in a binary built with -tags cuda (falls back to the CPU, with a log line, when the GPU cannot be used)")
	modelDirs := f.String("model-dir", "", "comma-separated models to serve: a folder with model.onnx or an MLflow MLmodel, a folder of such folders, a folder of <name>/<version>/ folders (several versions side by side), or an MLflow registry reference models:/<name>/<version> or models:/<name>@<alias> (with --mlflow-uri)")
	modelName := f.String("model-name", "", "serve the model of a single --model-dir folder under this name (KServe passes the InferenceService's name)")
	modelNames := f.String("models", "demo-rf,toxic-bert", "comma-separated catalog models to serve from the cache")
	mlflowURI := f.String("mlflow-uri", os.Getenv("MLFLOW_TRACKING_URI"), "MLflow tracking server that resolves the models:/ references of --model-dir (default: $MLFLOW_TRACKING_URI; credentials from $MLFLOW_TRACKING_TOKEN, or $MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD)")
	reloadInterval := f.Duration("reload-interval", 0, "how often to look for changed model files and reload the models they belong to (0: never; POST /v1/models/{name}/reload always works)")
	manifestDir := f.String("manifest-dir", "", "folder of extra model manifests (*.yaml) added to the built-in catalog")
	analyzeModel := f.String("analyze-model", "", "text model behind /analyze and /v1alpha1/comments:analyze (default: the first text model from --model-dir, else a pulled one from --models, else the embedded agate-toxicity)")
	predictModel := f.String("predict-model", "demo-rf", "tabular model behind POST /predict")
	batching := f.Bool("batching", true, "merge concurrent requests into one model run (dynamic batching)")
	batchSize := f.Int("batch-max-size", 32, "most texts or rows per model run")
	batchDelay := f.Duration("batch-max-delay", 0, "longest wait for a batch to fill (0: batch whatever is queued when a worker frees up)")
	batchTokens := f.Int("batch-max-tokens", 16384, "most padded tokens (texts x longest text) per text batch")
	queueSize := f.Int("queue-size", 512, "most texts or rows waiting per model; beyond it requests get 429")
	workers := f.Int("batch-workers", 0, "model runs in parallel per model (0: number of CPUs)")
	engineWorkers := f.Int("engine-workers", 0, "engine threads inside one model run (0: number of CPUs)")
	rateLimit := f.Float("rate-limit", 0, "requests per second allowed per client address (0: no limit)")
	rateBurst := f.Int("rate-burst", 0, "rate limiter bucket size (0: the rate, rounded up)")
	tlsCert := f.String("tls-cert-file", "", "PEM certificate chain: serve HTTPS and HTTP/2 (with --tls-key-file); read again when it changes")
	tlsKey := f.String("tls-key-file", "", "PEM private key of --tls-cert-file")
	// The names of earlier releases stay as hidden aliases.
	fs.StringVar(tlsCert, "tls-cert", *tlsCert, "")
	fs.StringVar(tlsKey, "tls-key", *tlsKey, "")
	fs.MarkDeprecated("tls-cert", "use --tls-cert-file")
	fs.MarkDeprecated("tls-key", "use --tls-key-file")
	corsOrigins := f.String("cors-origins", "", "comma-separated web origins allowed to call the API from a browser (* for any); empty: CORS off")
	proxies := f.String("trusted-proxies", "", "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is trusted")
	maxBody := f.Int64("max-body-bytes", 1<<20, "largest request body")
	maxInFlight := f.Int("max-in-flight", 0, "most inference requests read, prepared or run at once; the next ones wait in line, bodies unread (0: --queue-size)")
	maxQueued := f.Int("max-queued", 0, "most inference requests waiting in line for --max-in-flight; beyond it 429 at once (0: 8 × --max-in-flight, -1: no line)")
	maxQueueWait := f.Duration("max-queue-wait", 0, "longest wait in that line before 429 (0: a quarter of --request-timeout; at most half --read-timeout, since bodies are read after it)")
	maxTexts := f.Int("max-texts", 64, "most texts per /analyze request")
	maxTextBytes := f.Int("max-text-bytes", 20000, "longest text, in bytes")
	maxRows := f.Int("max-rows", 1024, "most rows per predict request")
	outOfRange := f.String("out-of-range", "flag", "tabular feature values outside the model's declared range: flag (answer, listing them), reject (422 naming the feature) or ignore; a manifest's out_of_range wins")
	reqTimeout := f.Duration("request-timeout", 10*time.Second, "time limit of one request in queue and model (then 504)")
	readTimeout := f.Duration("read-timeout", 15*time.Second, "HTTP read timeout")
	writeTimeout := f.Duration("write-timeout", 30*time.Second, "HTTP write timeout")
	idleTimeout := f.Duration("idle-timeout", 120*time.Second, "HTTP keep-alive idle timeout")
	shutdownTimeout := f.Duration("shutdown-timeout", 30*time.Second, "longest graceful drain on SIGTERM")
	shutdownDelay := f.Duration("shutdown-delay", 0, "keep serving, unready, this long after SIGTERM (set ~5s behind a load balancer)")
	logLevel := f.String("log-level", "info", "debug, info, warn or error")
	logHealth := f.Bool("log-health", false, "also log successful probe and /metrics requests")
	arenaLimit := f.String("arena-limit", "16MiB", "buffer bytes each concurrent model run keeps for reuse between runs beyond its own working set; past it, buffers of shapes no recent run used are given back")
	mappedWeights := f.Bool("mapped-weights", false, "keep the weights of model files the kernels do not repack (embedding tables) in the mapped file instead of memory of their own: less memory for large vocabularies, but replace model files by renaming, never by rewriting them in place")
	precision := f.String("precision", "fp32", "arithmetic of the models' float32 matrix products: fp32, or bf16 (weights stored as bfloat16, products on AVX512-BF16 with float32 accumulation: faster, logits about 1e-2 off; falls back to fp32 on CPUs without it)")
	gcPct := f.String("gc-percent", "", "garbage-collection target: how far the heap may grow past its live size between collections, in percent, or off (with a memory limit only; default: $GOGC, else 50, which keeps the resident set closer to the live heap than Go's 100 for a little CPU)")
	memLimit := f.String("memory-limit", "", "Go soft memory limit: a size (1GiB), a share of the container's limit (90%), or off (default: $GOMEMLIMIT, else 90% of the container's limit)")
	healthcheck := fs.Bool("healthcheck", false, "do not serve: probe the server at --addr (GET /readyz) and exit 0 when ready (for container HEALTHCHECKs)")
	return func(args []string) int {
		if f.failed("serve", stderr) {
			return 2
		}
		if len(args) > 0 {
			fmt.Fprintf(stderr, "agate serve: unexpected arguments %q\n", args)
			return 2
		}
		if *healthcheck {
			return probe(ctx, *addr, *tlsCert != "", stderr)
		}
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			fmt.Fprintln(stderr, "agate serve: --log-level:", err)
			return 2
		}
		log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
		limit, limitDesc, err := memoryLimit(*memLimit, os.Getenv("GOMEMLIMIT"), containerMemory(cgroupMemoryFile))
		if err != nil {
			fmt.Fprintln(stderr, "agate serve:", err)
			return 2
		}
		applyMemoryLimit(limit)
		gcp, gcDesc, err := gcPercent(*gcPct, os.Getenv("GOGC"), limit > 0 || os.Getenv("GOMEMLIMIT") != "")
		if err != nil {
			fmt.Fprintln(stderr, "agate serve:", err)
			return 2
		}
		if gcp != 0 {
			debug.SetGCPercent(gcp)
		}
		arenaBytes, err := parseSize(*arenaLimit)
		if err != nil {
			fmt.Fprintln(stderr, "agate serve: --arena-limit:", err)
			return 2
		}
		prec, err := ops.ParsePrecision(*precision)
		if err != nil {
			fmt.Fprintln(stderr, "agate serve: --precision:", err)
			return 2
		}
		log.Info("memory limit", slog.String("limit", limitDesc), slog.Int64("bytes", limit), slog.String("gc_percent", gcDesc))
		if prec == ops.PrecisionBFloat16 && !ops.BFloat16Supported() {
			log.Warn("--precision bf16: this CPU lacks AVX512-BF16 (or AGATE_NOASM is set); models run in fp32")
		}
		catalog, err := models.BuiltinCatalog()
		if err == nil && *manifestDir != "" {
			var extra models.Catalog
			extra, err = models.ReadCatalog(*manifestDir)
			catalog = catalog.Merge(extra)
		}
		if err != nil {
			log.Error("reading manifests", slog.String("error", err.Error()))
			return 1
		}
		reg := models.NewRegistry()
		defer reg.Close()
		srv, err := server.New(reg, server.Config{
			Addr: *addr, Logger: log, Version: version, AnalyzeModel: *analyzeModel, PredictModel: *predictModel,
			MaxBodyBytes: *maxBody, MaxInFlight: *maxInFlight, MaxQueued: *maxQueued, MaxQueueWait: *maxQueueWait, MaxTexts: *maxTexts, MaxTextBytes: *maxTextBytes, MaxRows: *maxRows, OutOfRange: *outOfRange,
			RequestTimeout: *reqTimeout, Batching: *batching,
			Batch:     server.BatchConfig{MaxSize: *batchSize, MaxDelay: *batchDelay, MaxTokens: *batchTokens, QueueSize: *queueSize, Workers: *workers},
			RateLimit: *rateLimit, RateBurst: *rateBurst, TrustedProxies: splitList(*proxies), CORSOrigins: splitList(*corsOrigins), TLSCertFile: *tlsCert, TLSKeyFile: *tlsKey,
			ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout, IdleTimeout: *idleTimeout,
			ShutdownTimeout: *shutdownTimeout, ShutdownDelay: *shutdownDelay, LogHealth: *logHealth, ReloadInterval: *reloadInterval,
		})
		if err != nil {
			log.Error("configuring the server", slog.String("error", err.Error()))
			return 2
		}
		pool := ops.NewPool(*engineWorkers)
		defer pool.Close()
		// Models load in the background: the port answers at once (liveness),
		// readiness turns on when loading is done.
		go func() {
			picked := loadModels(ctx, log, reg, catalog, modelSources{cacheDir: *cacheDir, dirs: splitList(*modelDirs), names: splitList(*modelNames),
				modelName: *modelName, pool: pool, device: *device, arenaLimit: arenaBytes, precision: prec, mappedWeights: *mappedWeights, mlflow: mlflowClient(*mlflowURI)})
			if *analyzeModel == "" {
				srv.SetAnalyzeModel(picked)
			}
			log.Info("analysis model", slog.String("model", srv.AnalyzeModel()))
			// Decoding the models left their protobufs behind as garbage
			// (a BERT-base: about 400 MB): give it back before serving
			// rather than when the heap next doubles.
			debug.FreeOSMemory()
			srv.SetReady(true)
			log.Info("ready", slog.Int("models", len(reg.List())), slog.Any("missing", reg.MissingNames()))
		}()
		if err := srv.ListenAndServe(ctx); err != nil {
			log.Error("serving", slog.String("error", err.Error()))
			return 1
		}
		return 0
	}
}

// loadModels fills reg from the model folders, then from the cache for
// the catalog names (building the builtin demo model when absent), then
// with the embedded toxicity model unless a model of its name is loaded.
// It returns the text model to put behind /analyze: the first from dirs,
// else the first pulled from names, else the embedded one.
// modelSources says where loadModels finds models and how it loads them.
type modelSources struct {
	cacheDir   string
	dirs       []string // --model-dir
	names      []string // --models (catalog names)
	modelName  string   // --model-name: the name of the single --model-dir model
	pool       *ops.Pool
	device     string
	arenaLimit int64
	precision  ops.Precision
	// mappedWeights: see models.LoadOptions.MappedWeights.
	mappedWeights bool
	mlflow        *models.MLflowClient // resolves models:/ references (nil: none given)
}

// mlflowClient is the MLflow client for uri ("": nil), with the
// credentials of the MLflow environment variables.
func mlflowClient(uri string) *models.MLflowClient {
	if uri == "" {
		return nil
	}
	return &models.MLflowClient{URI: uri, Token: os.Getenv("MLFLOW_TRACKING_TOKEN"),
		Username: os.Getenv("MLFLOW_TRACKING_USERNAME"), Password: os.Getenv("MLFLOW_TRACKING_PASSWORD")}
}

func loadModels(ctx context.Context, log *slog.Logger, reg *models.Registry, catalog models.Catalog, src modelSources) string {
	cacheDir, dirs, names, pool, device, arenaLimit, precision := src.cacheDir, src.dirs, src.names, src.pool, src.device, src.arenaLimit, src.precision
	var fromDirs, pulled []string
	add := func(dir string, man *models.Manifest, found models.Found) string {
		start := time.Now()
		name := found.Name
		if src.modelName != "" && man == nil && len(dirs) == 1 && (dir == dirs[0] || models.IsModelRef(dirs[0])) {
			name = src.modelName // KServe: the InferenceService's name, not the folder's
		}
		opts := models.LoadOptions{Name: name, Version: found.Version, Manifest: man, Pool: pool, Device: device, ArenaLimit: arenaLimit, Precision: precision, MappedWeights: src.mappedWeights,
			Logf: func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }}
		var m *models.Model
		var err error
		if models.IsModelRef(dir) {
			m, err = models.LoadMLflow(ctx, src.mlflow, dir, cacheDir, opts)
		} else {
			m, err = models.Load(dir, opts)
		}
		if err == nil {
			err = reg.Add(m)
		}
		if err != nil {
			log.Error("loading model", slog.String("dir", dir), slog.String("error", err.Error()))
			return ""
		}
		log.Info("model loaded", slog.String("model", m.Name), slog.String("version", m.Version), slog.String("task", m.Task),
			slog.String("dir", m.Dir), slog.String("source", m.Ref), tookMS(start))
		if m.Text == nil {
			return ""
		}
		for _, l := range m.Text.Labels() {
			if m.Manifest.Category(l) != "" {
				return m.Name // a toxicity model: a candidate for /analyze
			}
		}
		log.Info("text model without toxicity categories: not put behind /analyze", slog.String("model", m.Name), slog.Any("labels", m.Text.Labels()))
		return ""
	}
	defer func() {
		if _, ok := reg.Get(toxicity.Name); ok {
			return
		}
		start := time.Now()
		m, err := models.LoadFS(toxicity.Default(), "embedded:"+toxicity.Name, models.LoadOptions{Pool: pool, ArenaLimit: arenaLimit, Precision: precision})
		if err == nil {
			err = reg.Add(m)
		}
		if err != nil {
			log.Error("loading the embedded toxicity model", slog.String("error", err.Error()))
			return
		}
		log.Info("model loaded", slog.String("model", m.Name), slog.String("version", m.Version), slog.String("task", m.Task),
			slog.String("dir", "embedded"), tookMS(start))
	}()
	note := func(list *[]string, name string) {
		if name != "" {
			*list = append(*list, name)
		}
	}
	defer func() {
		for _, err := range reg.Check() {
			log.Warn("traffic split", slog.String("error", err.Error()))
		}
	}()
	for _, d := range dirs {
		if models.IsModelRef(d) {
			note(&fromDirs, add(d, nil, models.Found{}))
			continue
		}
		found, err := models.Discover(d)
		if err != nil {
			log.Error("reading model folder", slog.String("dir", d), slog.String("error", err.Error()))
			continue
		}
		if len(found) == 0 {
			log.Error("no model in folder", slog.String("dir", d))
		}
		for _, f := range found {
			note(&fromDirs, add(f.Dir, nil, f))
		}
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		if _, ok := reg.Get(name); ok {
			continue
		}
		man := catalog[name]
		if man == nil {
			log.Error("unknown model name in --models", slog.String("model", name), slog.Any("catalog", catalog.Names()))
			reg.SetMissing(name, fmt.Sprintf("%q is not in the catalog (%s)", name, strings.Join(catalog.Names(), ", ")))
			continue
		}
		if !models.Present(cacheDir, name) || models.Outdated(cacheDir, man) {
			if man.Source.Kind != models.SourceBuiltin {
				hint := fmt.Sprintf("run `agate pull %s` (into the server's --cache-dir), then restart", name)
				log.Info("optional model not pulled", slog.String("model", name), slog.String("hint", hint))
				reg.SetMissing(name, hint)
				continue
			}
			start := time.Now()
			if _, err := models.Pull(ctx, man, cacheDir, models.PullOptions{}); err != nil {
				log.Error("building model", slog.String("model", name), slog.String("error", err.Error()))
				reg.SetMissing(name, fmt.Sprintf("run `agate pull %s`", name))
				continue
			}
			log.Info("model built", slog.String("model", name), slog.String("dir", models.Dir(cacheDir, name)), tookMS(start))
		}
		note(&pulled, add(models.Dir(cacheDir, name), man, models.Found{}))
	}
	switch {
	case len(fromDirs) > 0:
		return fromDirs[0]
	case len(pulled) > 0:
		return pulled[0]
	}
	return toxicity.Name
}

// probe checks a running server's readiness; it exits 0 when ready. With
// TLS it speaks HTTPS to the local server without checking the certificate
// (the name on it is not the loopback address).
func probe(ctx context.Context, addr string, useTLS bool, stderr io.Writer) int {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(stderr, "agate serve --healthcheck:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	scheme, client := "http", http.DefaultClient
	if useTLS {
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		fmt.Fprintln(stderr, "agate serve --healthcheck:", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "agate serve --healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "agate serve --healthcheck: not ready:", resp.Status)
		return 1
	}
	return 0
}

// tookMS is the log attribute of the milliseconds since start.
func tookMS(start time.Time) slog.Attr {
	return slog.Float64("took_ms", float64(time.Since(start).Microseconds())/1000)
}
