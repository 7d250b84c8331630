package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

const (
	ctxRequestID = "agate.request_id"
	headerReqID  = "X-Request-ID"
)

// requestID returns the request's id (set by the requestID middleware).
func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withRequestID reuses a well-formed incoming X-Request-ID (so a trace
// spans proxies) or makes one, and echoes it in the response.
func withRequestID(c *gin.Context) {
	id := c.GetHeader(headerReqID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header(headerReqID, id)
	c.Next()
}

// routeOf is the matched route pattern, used as a bounded metric label.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// observe logs every request as one JSON line and records its metrics.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	c.Next()
	s.metrics.inFlight.Dec()
	d := time.Since(start)
	status := c.Writer.Status()
	route := routeOf(c)
	code := strconv.Itoa(status)
	s.metrics.requests.WithLabelValues(route, c.Request.Method, code).Inc()
	s.metrics.latency.WithLabelValues(route, c.Request.Method, code).Observe(d.Seconds())
	if !s.cfg.LogHealth && isProbe(route) && status < 400 {
		return
	}
	if status == http.StatusTooManyRequests && !s.log.Enabled(c.Request.Context(), slog.LevelDebug) {
		// Load shedding is counted in agate_requests_total and
		// agate_rejected_total; a line per refused request would make
		// an overload worse.
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(d.Microseconds())/1000),
		slog.Int("bytes", c.Writer.Size()),
		slog.String("client_ip", c.ClientIP()),
	}
	level := slog.LevelInfo
	if v, ok := c.Get(ctxErrorKey); ok {
		e := v.(*apiError)
		attrs = append(attrs, slog.String("error", e.msg))
		if e.cause != nil {
			attrs = append(attrs, slog.String("cause", e.cause.Error()))
		}
	}
	if status >= 500 {
		level = slog.LevelError
	}
	if status == http.StatusServiceUnavailable {
		// a model that is missing or loading, a server shutting down: an
		// operator's matter, logged once per message as a warning
		level = slog.LevelDebug
		if v, ok := c.Get(ctxErrorKey); ok {
			if _, seen := s.warned.LoadOrStore(v.(*apiError).msg, true); !seen {
				level = slog.LevelWarn
			}
		}
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

func isProbe(route string) bool {
	switch route {
	case "/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready":
		return true
	}
	return false
}

// recoverPanics turns a handler panic into a logged 500 with the request
// id; the stack goes to the log, never to the client.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(r)
		}
		s.log.Error("panic", slog.String("request_id", requestID(c)), slog.String("route", routeOf(c)),
			slog.String("panic", fmt.Sprint(r)), slog.String("stack", string(debug.Stack())))
		if !c.Writer.Written() {
			abort(c, &apiError{status: http.StatusInternalServerError, msg: "internal error; quote the request id when reporting it",
				cause: fmt.Errorf("panic: %v", r)})
		} else {
			c.Abort()
		}
	}()
	c.Next()
}

// limitBody caps the request body: a declared length over the limit is
// refused at once, a body that grows past it fails while decoding.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		if c.Request.ContentLength > s.cfg.MaxBodyBytes {
			abort(c, tooLarge(s.cfg.MaxBodyBytes))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	}
	c.Next()
}

// clientLimiter is a token bucket per client address, with a bounded
// number of tracked clients: idle buckets are dropped.
type clientLimiter struct {
	rate    rate.Limit
	burst   int
	max     int
	idle    time.Duration
	mu      sync.Mutex
	clients map[string]*clientBucket
	now     func() time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimiter(perSecond float64, burst, maxClients int) *clientLimiter {
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &clientLimiter{rate: rate.Limit(perSecond), burst: burst, max: maxClients, idle: 10 * time.Minute,
		clients: map[string]*clientBucket{}, now: time.Now}
}

// allow reports whether key may make a request now, and if not, how long
// until it may.
func (l *clientLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max {
			l.sweep(now)
		}
		b = &clientBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		if len(l.clients) < l.max {
			l.clients[key] = b
		}
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops buckets idle for l.idle and, if still full, those not seen
// since the mean last-seen time (about the older half).
func (l *clientLimiter) sweep(now time.Time) {
	for k, b := range l.clients {
		if now.Sub(b.seen) > l.idle {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < l.max {
		return
	}
	var mean float64
	for _, b := range l.clients {
		mean += float64(b.seen.UnixNano()) / float64(len(l.clients))
	}
	cutoff := time.Unix(0, int64(mean))
	for k, b := range l.clients {
		if !b.seen.After(cutoff) {
			delete(l.clients, k)
		}
	}
}

func (s *Server) rateLimit(c *gin.Context) {
	if isProbe(routeOf(c)) {
		c.Next()
		return
	}
	ok, wait := s.limiter.allow(c.ClientIP())
	if !ok {
		s.metrics.rejected.WithLabelValues("rate_limited").Inc()
		abort(c, &apiError{status: http.StatusTooManyRequests, msg: "rate limit exceeded for this client",
			retryAfter: max(1, int(math.Ceil(wait.Seconds())))})
		return
	}
	c.Next()
}
