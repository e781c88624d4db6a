package dispatch

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plugd/plugd/internal/wire"
)

// Metrics are the per-plugin Prometheus series. The names follow the reference daemon's
// where it has one (plugin_invocations_total, plugin_invocation_duration_seconds,
// plugin_invocations_active); the others are plugd's.
type Metrics struct {
	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	active      *prometheus.GaugeVec

	mu sync.Mutex
	d  *Dispatcher
}

// NewMetrics registers the series on reg. Call Attach with the Dispatcher so that process
// counts and memory are read at scrape time.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plugin_invocations_total", Help: "Requests sent to plugins, by plugin and action.",
		}, []string{"plugin", "action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plugin_invocation_errors_total", Help: "Requests that ended in an error, by plugin and action.",
		}, []string{"plugin", "action"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "plugin_invocation_duration_seconds", Help: "Time from request to the end of its result stream.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"plugin"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "plugin_invocations_active", Help: "Requests in flight, by plugin.",
		}, []string{"plugin"}),
	}
	reg.MustRegister(m.invocations, m.errors, m.duration, m.active, (*processCollector)(m))
	return m
}

// Attach lets the metrics read the dispatcher's processes at scrape time.
func (m *Metrics) Attach(d *Dispatcher) {
	m.mu.Lock()
	m.d = d
	m.mu.Unlock()
}

func (m *Metrics) begin(uid string) {
	if m != nil {
		m.active.WithLabelValues(uid).Inc()
	}
}

func (m *Metrics) end(uid string, action wire.Action, start time.Time, err error) {
	if m == nil {
		return
	}
	m.active.WithLabelValues(uid).Dec()
	m.observe(uid, action, start, err)
}

func (m *Metrics) observe(uid string, action wire.Action, start time.Time, err error) {
	if m == nil {
		return
	}
	m.invocations.WithLabelValues(uid, string(action)).Inc()
	if err != nil {
		m.errors.WithLabelValues(uid, string(action)).Inc()
	}
	m.duration.WithLabelValues(uid).Observe(time.Since(start).Seconds())
}

// forget drops an uninstalled plugin's series.
func (m *Metrics) forget(uid string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"plugin": uid}
	m.invocations.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.active.DeletePartialMatch(l)
}

// processCollector reports processes and resident memory per plugin when scraped.
type processCollector Metrics

var (
	processesDesc = prometheus.NewDesc("plugin_processes", "Running processes, by plugin.", []string{"plugin"}, nil)
	rssDesc       = prometheus.NewDesc("plugin_resident_memory_bytes", "Resident memory of the plugin's processes and their children.", []string{"plugin"}, nil)
	zygotesDesc   = prometheus.NewDesc("plugd_zygotes", "Running zygotes: per-environment processes that fork plugins.", nil, nil)
	zygoteRSSDesc = prometheus.NewDesc("plugd_zygote_resident_memory_bytes", "Resident memory of the zygotes themselves (their plugins count to the plugins).", nil, nil)
)

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- processesDesc
	ch <- rssDesc
	ch <- zygotesDesc
	ch <- zygoteRSSDesc
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	d := c.d
	c.mu.Unlock()
	if d == nil {
		return
	}
	for _, s := range d.Readiness() {
		ch <- prometheus.MustNewConstMetric(processesDesc, prometheus.GaugeValue, float64(s.Processes), s.UniqueIdentifier)
		ch <- prometheus.MustNewConstMetric(rssDesc, prometheus.GaugeValue, float64(s.RSS), s.UniqueIdentifier)
	}
	if d.cfg.Zygotes != nil {
		n, rss := d.cfg.Zygotes.Usage()
		ch <- prometheus.MustNewConstMetric(zygotesDesc, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(zygoteRSSDesc, prometheus.GaugeValue, float64(rss))
	}
}
