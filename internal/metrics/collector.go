package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// Descriptions of the metrics read from the server at scrape time.
var (
	descReady = desc("ready",
		"1 when every listener is bound and a configuration is loaded.")
	descReloads = desc("reloads_total",
		"Configurations swapped in by a reload.")
	descCacheEntries = desc("cache_entries",
		"Answers held in the cache.")
	descCacheHits = desc("cache_hits_total",
		"Cache lookups that found an answer. Starts again when a reload makes a new cache.")
	descCacheMisses = desc("cache_misses_total",
		"Cache lookups that found nothing.")
	descCacheEvictions = desc("cache_evictions_total",
		"Answers dropped to keep the cache within its size.")
	descCacheStale = desc("cache_stale_total",
		"Expired answers served because the upstreams failed (RFC 8767).")
	descUpHealthy = desc("upstream_healthy",
		"1 when the upstream is not marked down by health tracking.", "rule", "upstream")
	descUpInflight = desc("upstream_inflight",
		"Queries in flight to the upstream.", "rule", "upstream")
	descZoneRecords = desc("zone_records",
		"Records in a local zone.", "zone")
	descRateLimited = desc("rate_limited_total",
		"UDP responses over the per-network rate limit (dropped or truncated). "+
			"Starts again when a reload makes a new limiter.")
	descOverloaded = desc("overloaded_total",
		"Queries answered SERVFAIL because limits.queries were already in progress.")
	descReplyHits = desc("reply_cache_hits_total",
		"Queries answered from the cache of packed replies (the fast path), in front "+
			"of the answer cache that pedns_cache_hits_total counts.")
)

// stateCollector reads the figures that the server keeps itself, so that the
// query path pays nothing for them.
type stateCollector struct{ m *Metrics }

// Describe sends the descriptions of every metric Collect may send.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReady, descReloads, descCacheEntries,
		descCacheHits, descCacheMisses, descCacheEvictions, descCacheStale,
		descUpHealthy, descUpInflight, descZoneRecords, descRateLimited, descOverloaded} {
		ch <- d
	}
}

// Collect reads the tracked server; it sends nothing before Track.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	srv := c.m.server.Load()
	if srv == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ready := 0.0
	if srv.Ready() {
		ready = 1
	}
	gauge(descReady, ready)
	counter(descReloads, srv.Reloads())
	counter(descOverloaded, srv.Overloaded())
	counter(descReplyHits, srv.ReplyHits())

	st := srv.State()
	counter(descRateLimited, st.Limiter().Limited()) // Limited is nil-safe
	if cache := st.Cache(); cache != nil {
		s := cache.Stats()
		gauge(descCacheEntries, float64(s.Entries))
		counter(descCacheHits, s.Hits)
		counter(descCacheMisses, s.Misses)
		counter(descCacheEvictions, s.Evictions)
		counter(descCacheStale, s.Stale)
	}
	for _, r := range st.Rules() {
		for _, u := range r.Forwarder.Upstreams() {
			healthy := 0.0
			if u.Healthy() {
				healthy = 1
			}
			gauge(descUpHealthy, healthy, r.Forwarder.Name(), u.Addr())
			gauge(descUpInflight, float64(u.Inflight()), r.Forwarder.Name(), u.Addr())
		}
	}
	for _, z := range st.Config.ZoneData {
		gauge(descZoneRecords, float64(z.Len()), z.Origin())
	}
}

// buildInfo is a constant gauge of 1 whose labels name the build, the usual
// way to export a version to Prometheus.
func buildInfo() prometheus.Collector {
	version, revision := Version()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels name the pedns build.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision,
			"goversion": runtime.Version()},
	}, func() float64 { return 1 })
}

// Version returns the module version and VCS revision pedns was built from,
// as build_info exports them.
func Version() (version, revision string) {
	version, revision = "(unknown)", "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return version, revision
}
