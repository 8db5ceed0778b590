package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/forward"
)

func TestLabelIndexes(t *testing.T) {
	tests := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{name: "A", qtype: dns.TypeA, want: "A"},
		{name: "AAAA", qtype: dns.TypeAAAA, want: "AAAA"},
		{name: "HTTPS", qtype: dns.TypeHTTPS, want: "HTTPS"},
		{name: "CAA above 255", qtype: dns.TypeCAA, want: "CAA"},
		{name: "ANY", qtype: dns.TypeANY, want: "ANY"},
		{name: "unlisted type", qtype: dns.TypeLOC, want: "other"},
		{name: "zero", qtype: 0, want: "other"},
		{name: "private use", qtype: 65280, want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := qtypeNames[qtypeIndex(tt.qtype)]; got != tt.want {
				t.Errorf("qtype %d counts as %q, want %q", tt.qtype, got, tt.want)
			}
		})
	}

	rcodes := []struct {
		rcode int
		want  string
	}{
		{rcode: dns.RcodeSuccess, want: "NOERROR"},
		{rcode: dns.RcodeNameError, want: "NXDOMAIN"},
		{rcode: dns.RcodeRefused, want: "REFUSED"},
		{rcode: dns.RcodeBadVers, want: "BADVERS"},
		{rcode: dns.RcodeYXDomain, want: "other"},
		{rcode: -1, want: "other"},
	}
	for _, tt := range rcodes {
		if got := rcodeNames[rcodeIndex(tt.rcode)]; got != tt.want {
			t.Errorf("rcode %d counts as %q, want %q", tt.rcode, got, tt.want)
		}
	}
	for _, s := range []string{"hosts", "zone", "cache", "forward", "stale", "none"} {
		if got := sourceNames[sourceIndex(s)]; got != s {
			t.Errorf("source %q counts as %q", s, got)
		}
	}
	if got := sourceNames[sourceIndex("something new")]; got != "other" {
		t.Errorf("an unknown source counts as %q, want other", got)
	}
}

func TestObserverCounts(t *testing.T) {
	m := New()
	for range 3 {
		m.Query(dnsserver.QueryEvent{Qtype: dns.TypeA, Rcode: dns.RcodeSuccess,
			Source: "cache", Duration: 20 * time.Microsecond})
	}
	m.Query(dnsserver.QueryEvent{Qtype: dns.TypeTLSA, Rcode: dns.RcodeNameError,
		Source: "forward", Duration: 3 * time.Millisecond})
	m.Refused(netip.MustParseAddr("192.0.2.1"))
	m.Attempt("api.azureml.ms.", "127.0.0.1:53", 2*time.Millisecond, forward.OutcomeOK)
	m.Attempt("api.azureml.ms.", "127.0.0.1:53", 4*time.Millisecond, forward.OutcomeServfail)
	m.Attempt("api.azureml.ms.", "127.0.0.1:53", time.Second, forward.OutcomeTimeout)
	m.Attempt("api.azureml.ms.", "127.0.0.1:53", time.Millisecond, forward.OutcomeCanceled)
	m.Merged("api.azureml.ms.")
	m.ReloadFailed()

	const want = `
# HELP pedns_queries_total Queries answered, by query type, response code and the ` +
		`source that gave the final answer.
# TYPE pedns_queries_total counter
pedns_queries_total{qtype="A",rcode="NOERROR",source="cache"} 3
pedns_queries_total{qtype="other",rcode="NXDOMAIN",source="forward"} 1
# HELP pedns_refused_total Queries refused because the client is outside the access list.
# TYPE pedns_refused_total counter
pedns_refused_total 1
# HELP pedns_reload_failures_total Reloads refused because the new configuration did not load.
# TYPE pedns_reload_failures_total counter
pedns_reload_failures_total 1
# HELP pedns_upstream_queries_total Attempts sent to an upstream, probes included, by forward rule and upstream.
# TYPE pedns_upstream_queries_total counter
pedns_upstream_queries_total{rule="api.azureml.ms.",upstream="127.0.0.1:53"} 4
# HELP pedns_forward_merged_total Queries that shared an identical upstream ` +
		`query already in flight.
# TYPE pedns_forward_merged_total counter
pedns_forward_merged_total{rule="api.azureml.ms."} 1
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"pedns_queries_total", "pedns_refused_total", "pedns_reload_failures_total",
		"pedns_upstream_queries_total", "pedns_forward_merged_total")
	if err != nil {
		t.Error(err)
	}

	errs := map[string]float64{"servfail": 1, "timeout": 1, "refused": 0, "network": 0}
	for kind, want := range errs {
		c := m.upErrors.WithLabelValues("api.azureml.ms.", "127.0.0.1:53", kind)
		if got := testutil.ToFloat64(c); got != want {
			t.Errorf("errors of kind %s = %v, want %v", kind, got, want)
		}
	}
	// Only attempts that got a reply have a round-trip time: ok and servfail.
	if got := testutil.CollectAndCount(m.upRTT); got != 1 {
		t.Errorf("rtt series = %d, want 1", got)
	}
	s, ok := m.Upstream("api.azureml.ms.", "127.0.0.1:53")
	if !ok || s.Attempts != 4 || s.Failures != 2 || s.LastRTT != 4*time.Millisecond {
		t.Errorf("Upstream = %+v, %v; want 4 attempts, 2 failures, last RTT 4ms", s, ok)
	}
	if want := 2*time.Millisecond + (2*time.Millisecond)/8; s.SmoothedRTT != want {
		t.Errorf("smoothed RTT = %v, want %v", s.SmoothedRTT, want)
	}
}

// The observer methods run once per query: after the first call for a label
// combination they must not allocate.
func TestObserverDoesNotAllocate(t *testing.T) {
	m := New()
	ev := dnsserver.QueryEvent{Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Source: "zone",
		Duration: 30 * time.Microsecond}
	tests := []struct {
		name string
		call func()
	}{
		{name: "Query", call: func() { m.Query(ev) }},
		{name: "Attempt", call: func() {
			m.Attempt("api.azureml.ms.", "127.0.0.1:53", time.Millisecond, forward.OutcomeOK)
		}},
		{name: "Merged", call: func() { m.Merged("api.azureml.ms.") }},
		{name: "Refused", call: func() { m.Refused(netip.Addr{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.call()
			if n := testing.AllocsPerRun(1000, tt.call); n != 0 {
				t.Errorf("%s allocates %v times per call", tt.name, n)
			}
		})
	}
}

func BenchmarkQuery(b *testing.B) {
	m := New()
	ev := dnsserver.QueryEvent{Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Source: "cache",
		Duration: 20 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Query(ev)
		}
	})
}

func BenchmarkAttempt(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Attempt("api.azureml.ms.", "127.0.0.1:53", time.Millisecond, forward.OutcomeOK)
		}
	})
}

// BenchmarkHandle measures the cost of the observer on the query path: the
// same cached answers through dnsserver.Handle without an observer and with
// the metrics as observer.
func BenchmarkHandle(b *testing.B) {
	text := "listen: [\"127.0.0.1:0\"]\nlog: {level: error}\nzones:\n" +
		"  - name: privatelink.api.azureml.ms\n    records: |\n"
	for i := range 100 {
		text += fmt.Sprintf("      w%03d.workspace.eastus 300 IN A 10.1.0.%d\n", i, i)
	}
	l, err := config.Parse([]byte(text), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var qs [][]byte
	for i := range 100 {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("w%03d.workspace.eastus.privatelink.api.azureml.ms.", i),
			dns.TypeA)
		p, _ := m.Pack()
		qs = append(qs, p)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := netip.MustParseAddr("127.0.0.1")
	for _, bc := range []struct {
		name string
		opts []dnsserver.Option
	}{
		{name: "observer=none"},
		{name: "observer=metrics", opts: []dnsserver.Option{dnsserver.WithObserver(New())}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := dnsserver.New(l, log, bc.opts...)
			for _, q := range qs {
				srv.Handle(context.Background(), q, client, true)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if srv.Handle(context.Background(), qs[i%len(qs)], client, true) == nil {
						b.Error("no reply")
						return
					}
					i++
				}
			})
		})
	}
}
