package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds the service's Prometheus collectors, registered on the
// server's own registry (never the global one).
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	batchSize  *prometheus.HistogramVec
	queueDepth *prometheus.GaugeVec
	inference  *prometheus.HistogramVec
	rejected   *prometheus.CounterVec
	inFlight   prometheus.Gauge
	// modelRequests counts the requests served by each model version
	// (with a traffic split, how it was followed).
	modelRequests *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agate_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agate_http_request_duration_seconds", Help: "HTTP request latency by route, method and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agate_batch_size", Help: "Items (texts or rows) per model run.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model", "version"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agate_queue_depth", Help: "Items waiting in a model's batching queue.",
		}, []string{"model", "version"}),
		inference: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agate_inference_duration_seconds", Help: "Model run time per batch.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"model", "version"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agate_rejected_total", Help: "Requests refused for load: reason is queue_full (a model's batching queue), in_flight (the admission line full), queue_wait (waited too long in that line) or rate_limited.",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "agate_http_in_flight_requests", Help: "HTTP requests being served.",
		}),
		modelRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agate_model_requests_total", Help: "Requests handed to each model version (the traffic split between versions shows here).",
		}, []string{"model", "version"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.batchSize, m.queueDepth, m.inference, m.rejected, m.inFlight, m.modelRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// forgetVersion drops the per-version series of a version no longer served.
func (m *metrics) forgetVersion(name, version string) {
	for _, v := range []interface {
		DeleteLabelValues(...string) bool
	}{m.queueDepth, m.batchSize, m.inference} {
		v.DeleteLabelValues(name, version)
	}
}

// watchAdmission exports the admitted and waiting inference requests.
func (m *metrics) watchAdmission(a *admission) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "agate_admitted_requests", Help: "Inference requests being read, prepared or run (at most --max-in-flight).",
		}, func() float64 { return float64(a.inFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "agate_waiting_requests", Help: "Inference requests waiting in line for admission, bodies unread (at most --max-queued).",
		}, func() float64 { return float64(a.queued()) }),
	)
}
