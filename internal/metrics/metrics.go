// Package metrics keeps the Prometheus metrics of pedns serve. It is told of
// every query, refusal and upstream attempt through the observer interfaces of
// dnsserver and forward, and reads the rest (cache, upstream health, reloads)
// from the running server when it is scraped.
//
// Label values come from fixed lists or from the configuration, never from a
// client: query types beyond a fixed list count as "other", so a client that
// asks for every type cannot grow the number of series.
package metrics

import (
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/forward"
)

// namespace prefixes every pedns metric name.
const namespace = "pedns"

// durationBuckets are the bounds, in seconds, of the request duration and
// upstream RTT histograms: from a cached answer (tens of microseconds) to
// Azure's slow recursion (seconds; SPEC section 7).
var durationBuckets = []float64{
	0.000025, 0.0001, 0.00025, 0.001, 0.0025, 0.01, 0.025,
	0.1, 0.25, 1, 2.5, 5, 10,
}

// Metrics holds every metric of a running server. It implements
// dnsserver.Observer and forward.Observer; its methods are safe for
// concurrent use and do not allocate once a label combination has been seen.
type Metrics struct {
	reg *prometheus.Registry

	queries  *prometheus.CounterVec
	children [len(qtypeNames)][len(rcodeNames)][len(sourceNames)]atomic.Pointer[prometheus.Counter]
	duration [len(sourceNames)]prometheus.Observer

	refused        prometheus.Counter
	ruleQueries    *prometheus.CounterVec
	reloadFailures prometheus.Counter
	reloadFails    atomic.Int64 // the same count, for the status page

	upQueries *prometheus.CounterVec
	upErrors  *prometheus.CounterVec
	upRTT     *prometheus.HistogramVec
	merged    *prometheus.CounterVec

	// upstreams and rules are replaced whole under mu when a new label
	// value is seen, and read without a lock on the query path.
	mu        sync.Mutex
	upstreams atomic.Pointer[map[upstreamKey]*upstream]
	rules     atomic.Pointer[map[string]prometheus.Counter]

	server atomic.Pointer[dnsserver.Server] // nil until Track
}

var (
	_ dnsserver.Observer = (*Metrics)(nil)
	_ forward.Observer   = (*Metrics)(nil)
)

// New makes the metrics and registers them, with the Go runtime and process
// collectors, in a registry of their own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.queries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "queries_total",
		Help: "Queries answered, by query type, response code and the source " +
			"that gave the final answer.",
	}, []string{"qtype", "rcode", "source"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_duration_seconds",
		Help:    "Time from a parsed query to its reply, by answering source.",
		Buckets: durationBuckets,
	}, []string{"source"})
	for i, s := range sourceNames {
		m.duration[i] = dur.WithLabelValues(s)
	}
	m.ruleQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "forward", Name: "queries_total",
		Help: "Queries whose final answer came through a forward rule (from its " +
			"upstreams, the cache or served stale), by rule.",
	}, []string{"rule"})
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "refused_total",
		Help: "Queries refused because the client is outside the access list.",
	})
	m.reloadFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "reload_failures_total",
		Help: "Reloads refused because the new configuration did not load.",
	})
	m.upQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "upstream", Name: "queries_total",
		Help: "Attempts sent to an upstream, probes included, by forward rule and upstream.",
	}, []string{"rule", "upstream"})
	m.upErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "upstream", Name: "errors_total",
		Help: "Failed attempts to an upstream, by kind: servfail, refused, " +
			"timeout, network.",
	}, []string{"rule", "upstream", "kind"})
	m.upRTT = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "upstream", Name: "rtt_seconds",
		Help:    "Round-trip time of attempts that got a reply from the upstream.",
		Buckets: durationBuckets,
	}, []string{"rule", "upstream"})
	m.merged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "forward", Name: "merged_total",
		Help: "Queries that shared an identical upstream query already in flight.",
	}, []string{"rule"})

	m.upstreams.Store(&map[upstreamKey]*upstream{})
	m.rules.Store(&map[string]prometheus.Counter{})
	m.reg.MustRegister(m.queries, dur, m.ruleQueries, m.refused, m.reloadFailures,
		m.upQueries, m.upErrors, m.upRTT, m.merged,
		&stateCollector{m: m}, buildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Track has the metrics read the cache, upstream health and reload figures of
// srv at each scrape. Before it, those metrics are absent.
func (m *Metrics) Track(srv *dnsserver.Server) { m.server.Store(srv) }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry holding every metric, for tests and for
// callers that add collectors of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Query counts one answered query. It implements dnsserver.Observer.
func (m *Metrics) Query(ev dnsserver.QueryEvent) {
	q, r, s := qtypeIndex(ev.Qtype), rcodeIndex(ev.Rcode), sourceIndex(ev.Source)
	p := m.children[q][r][s].Load()
	if p == nil {
		p = m.child(q, r, s)
	}
	(*p).Inc()
	m.duration[s].Observe(ev.Duration.Seconds())
	if ev.Rule != "" {
		// Rules come from the configuration: the label set stays bounded.
		m.ruleQueries.WithLabelValues(ev.Rule).Inc()
	}
}

// child resolves and keeps the counter of one label combination. Only the
// combinations seen are exported, so a quiet server shows few series.
func (m *Metrics) child(q, r, s int) *prometheus.Counter {
	c := m.queries.WithLabelValues(qtypeNames[q], rcodeNames[r], sourceNames[s])
	m.children[q][r][s].CompareAndSwap(nil, &c)
	return m.children[q][r][s].Load()
}

// Refused counts one query refused by the access list. It implements
// dnsserver.Observer.
func (m *Metrics) Refused(netip.Addr) { m.refused.Inc() }

// ReloadFailed counts a reload whose configuration did not load.
func (m *Metrics) ReloadFailed() {
	m.reloadFailures.Inc()
	m.reloadFails.Add(1)
}

// ReloadFailures returns the number of reloads refused so far.
func (m *Metrics) ReloadFailures() int64 { return m.reloadFails.Load() }

// Attempt counts one upstream attempt and its outcome. It implements
// forward.Observer.
func (m *Metrics) Attempt(rule, addr string, rtt time.Duration, outcome string) {
	u := m.upstream(rule, addr)
	u.queries.Inc()
	u.attempts.Add(1)
	switch outcome {
	case forward.OutcomeOK:
	case forward.OutcomeCanceled:
		// Another attempt won, or the client gave up: not the upstream's fault,
		// and its time says nothing about the upstream.
		return
	default:
		u.failures.Add(1)
		if c := u.errors[outcomeIndex(outcome)]; c != nil {
			c.Inc()
		}
		if outcome == forward.OutcomeTimeout || outcome == forward.OutcomeNetwork {
			return // no reply: no round trip to measure
		}
	}
	u.rtt.Observe(rtt.Seconds())
	u.observeRTT(rtt)
}

// Merged counts one query that joined an identical one in flight. It
// implements forward.Observer.
func (m *Metrics) Merged(rule string) {
	c, ok := (*m.rules.Load())[rule]
	if !ok {
		m.mu.Lock()
		old := *m.rules.Load()
		if c, ok = old[rule]; !ok {
			c = m.merged.WithLabelValues(rule)
			next := make(map[string]prometheus.Counter, len(old)+1)
			for k, v := range old {
				next[k] = v
			}
			next[rule] = c
			m.rules.Store(&next)
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// UpstreamStats are the figures kept for one upstream of one forward rule,
// for the status page.
type UpstreamStats struct {
	Attempts, Failures int64
	LastRTT            time.Duration // of the last attempt that got a reply
	SmoothedRTT        time.Duration // moving average over replies, 1/8 weight
}

// Upstream returns the figures of upstream addr under rule; ok is false when
// no attempt has been seen.
func (m *Metrics) Upstream(rule, addr string) (s UpstreamStats, ok bool) {
	u, ok := (*m.upstreams.Load())[upstreamKey{rule, addr}]
	if !ok {
		return s, false
	}
	return UpstreamStats{
		Attempts:    u.attempts.Load(),
		Failures:    u.failures.Load(),
		LastRTT:     time.Duration(u.last.Load()),
		SmoothedRTT: time.Duration(u.srtt.Load()),
	}, true
}
