package metrics

import (
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pedns/pedns/internal/forward"
	"github.com/pedns/pedns/internal/resolve"
)

// qtypeNames are the query types counted under their own name; every other
// type is "other" (the last entry), which bounds the series a client can make.
var qtypeNames = [...]string{
	"A", "AAAA", "CNAME", "PTR", "SOA", "NS", "MX", "TXT", "SRV", "NAPTR",
	"DS", "DNSKEY", "SVCB", "HTTPS", "CAA", "ANY", "other",
}

// qtypeIndexes maps a type below 256 to its place in qtypeNames, plus one (so
// that zero means other).
var qtypeIndexes [256]uint8

// caaIndex is the place of CAA, the one listed type above 255.
var caaIndex int

func init() {
	for i, name := range qtypeNames[:len(qtypeNames)-1] {
		switch t := dns.StringToType[name]; {
		case t < 256:
			qtypeIndexes[t] = uint8(i + 1)
		case t == dns.TypeCAA:
			caaIndex = i
		default:
			panic("metrics: listed query type " + name + " has no index")
		}
	}
}

func qtypeIndex(t uint16) int {
	if t < 256 {
		if i := qtypeIndexes[t]; i > 0 {
			return int(i - 1)
		}
	} else if t == dns.TypeCAA {
		return caaIndex
	}
	return len(qtypeNames) - 1
}

// rcodeNames are the response codes pedns sends, then "other".
var rcodeNames = [...]string{
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other",
}

func rcodeIndex(rc int) int {
	switch {
	case rc >= dns.RcodeSuccess && rc <= dns.RcodeRefused:
		return rc
	case rc == dns.RcodeBadVers:
		return 6
	}
	return len(rcodeNames) - 1
}

// sourceNames are the answering sources of resolve, then "other".
var sourceNames = [...]string{
	resolve.SourceHosts, resolve.SourceZone, resolve.SourceCache, resolve.SourceForward,
	resolve.SourceStale, resolve.SourceNone, "other",
}

func sourceIndex(s string) int {
	for i, name := range sourceNames[:len(sourceNames)-1] {
		if s == name {
			return i
		}
	}
	return len(sourceNames) - 1
}

// outcomeNames are the failed outcomes of an upstream attempt, in the order of
// upstream.errors, then "other" for an outcome forward may add later.
var outcomeNames = [...]string{
	forward.OutcomeServfail, forward.OutcomeRefused, forward.OutcomeTimeout,
	forward.OutcomeNetwork, "other",
}

func outcomeIndex(o string) int {
	for i, name := range outcomeNames[:len(outcomeNames)-1] {
		if o == name {
			return i
		}
	}
	return len(outcomeNames) - 1
}

// upstreamKey names one upstream of one forward rule. Both come from the
// configuration, so their number is bounded by it.
type upstreamKey struct{ rule, addr string }

// upstream holds the resolved metric children and status figures of one
// upstream of one rule.
type upstream struct {
	queries prometheus.Counter
	errors  [len(outcomeNames)]prometheus.Counter
	rtt     prometheus.Observer

	attempts, failures atomic.Int64
	last, srtt         atomic.Int64 // nanoseconds
}

// upstream returns the entry of addr under rule, making it on first use.
func (m *Metrics) upstream(rule, addr string) *upstream {
	k := upstreamKey{rule, addr}
	if u, ok := (*m.upstreams.Load())[k]; ok {
		return u
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.upstreams.Load()
	if u, ok := old[k]; ok {
		return u
	}
	u := &upstream{
		queries: m.upQueries.WithLabelValues(rule, addr),
		rtt:     m.upRTT.WithLabelValues(rule, addr),
	}
	for i, kind := range outcomeNames {
		u.errors[i] = m.upErrors.WithLabelValues(rule, addr, kind)
	}
	next := make(map[upstreamKey]*upstream, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = u
	m.upstreams.Store(&next)
	return u
}

// observeRTT keeps the last round-trip time and a moving average with weight
// 1/8 for the newest sample, the smoothing TCP uses for its RTT estimate.
func (u *upstream) observeRTT(rtt time.Duration) {
	u.last.Store(int64(rtt))
	for {
		old := u.srtt.Load()
		next := int64(rtt)
		if old != 0 {
			next = old + (int64(rtt)-old)/8
		}
		if u.srtt.CompareAndSwap(old, next) {
			return
		}
	}
}
