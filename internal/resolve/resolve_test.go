package resolve

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/cache"
	"github.com/pedns/pedns/internal/dnstest"
	"github.com/pedns/pedns/internal/forward"
	"github.com/pedns/pedns/internal/hosts"
	"github.com/pedns/pedns/internal/zone"
)

const (
	guid    = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	public  = guid + ".workspace.eastus.api.azureml.ms."
	private = guid + ".workspace.eastus.privatelink.api.azureml.ms."
)

func mustZone(t *testing.T, origin string, fall bool, lines string) *zone.Zone {
	t.Helper()
	rrs, err := zone.Parse(lines, origin, "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zone.New(origin, rrs)
	if err != nil {
		t.Fatal(err)
	}
	z.Fallthrough = fall
	return z
}

func fwd(addrs ...string) *forward.Forwarder {
	return forward.New("test", addrs, forward.Options{TryTimeout: 200 * time.Millisecond,
		Timeout: 600 * time.Millisecond}, nil)
}

func a(name string, qtype uint16) dns.Question {
	return dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
}

// clock is a settable time source, safe to read from the resolver's
// goroutines while the test moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lines renders records as "name type data" without TTLs, for comparison.
func lines(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		out = append(out, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
	}
	return strings.Join(out, "\n")
}

// The article's case: the public name goes upstream and comes back as a CNAME
// into the Private Link zone plus a public A record; the local Private Link
// zone must supply the private address.
func TestChaseIntoLocalPrivateLinkZone(t *testing.T) {
	up := dnstest.Records(t,
		public+" 60 IN CNAME "+private,
		private+" 60 IN A 203.0.113.5")
	r := New(Options{
		Zones: []*zone.Zone{mustZone(t, "privatelink.api.azureml.ms", false,
			guid+".workspace.eastus 300 IN A 10.1.0.5\n")},
		Rules: []Rule{{Zones: []string{"api.azureml.ms"}, Forwarder: fwd(up.Addr)}},
		Cache: cache.New(cache.Options{Size: 100, MaxTTL: time.Hour}),
	})

	for i, want := range []string{SourceForward, SourceCache} {
		ans := r.Resolve(context.Background(), a(public, dns.TypeA), false)
		got := lines(ans.Answer)
		wantAns := public + " CNAME " + private + "\n" + private + " A 10.1.0.5"
		if ans.Rcode != dns.RcodeSuccess || got != wantAns {
			t.Fatalf("query %d: rcode %d answer\n%s\nwant\n%s", i, ans.Rcode, got, wantAns)
		}
		if ans.Steps[0].Source != want || ans.Steps[1].Source != SourceZone {
			t.Errorf("query %d: steps %+v, want %s then zone", i, ans.Steps, want)
		}
		if ans.Authoritative {
			t.Errorf("query %d: AA set on an answer that came partly from upstream", i)
		}
	}
	if up.Queries() != 1 {
		t.Errorf("upstream got %d queries, want 1 (the second from cache)", up.Queries())
	}
}

// Without a more specific source for the target, the upstream's chain is used
// whole: one upstream query per name, as the performance issue asks.
func TestUpstreamChainUsedWhole(t *testing.T) {
	up := dnstest.Records(t,
		public+" 60 IN CNAME "+private,
		private+" 60 IN A 10.1.0.5",
		"unrelated.example. 60 IN A 203.0.113.9")
	r := New(Options{Rules: []Rule{
		{Zones: []string{"api.azureml.ms"}, Forwarder: fwd(up.Addr)},
		{Zones: []string{"."}, Forwarder: fwd(up.Addr)},
	}})
	ans := r.Resolve(context.Background(), a(public, dns.TypeA), false)
	if got := lines(ans.Answer); got != public+" CNAME "+private+"\n"+private+" A 10.1.0.5" {
		t.Errorf("answer\n%s", got)
	}
	if up.Queries() != 1 || len(ans.Steps) != 1 {
		t.Errorf("%d upstream queries, %d steps; want 1 and 1", up.Queries(), len(ans.Steps))
	}
}

func TestChaseToOtherForwardRule(t *testing.T) {
	public1 := dnstest.Records(t, "www.example.com. 60 IN CNAME "+private,
		private+" 60 IN A 203.0.113.5")
	azure := dnstest.Records(t, private+" 60 IN A 10.1.0.5")
	r := New(Options{Rules: []Rule{
		{Zones: []string{"privatelink.api.azureml.ms"}, Forwarder: fwd(azure.Addr)},
		{Zones: []string{"."}, Forwarder: fwd(public1.Addr)},
	}})
	ans := r.Resolve(context.Background(), a("www.example.com.", dns.TypeA), false)
	want := "www.example.com. CNAME " + private + "\n" + private + " A 10.1.0.5"
	if got := lines(ans.Answer); got != want {
		t.Errorf("answer\n%s", got)
	}
}

func TestLocalSources(t *testing.T) {
	entries, err := hosts.Parse(strings.NewReader("10.9.9.9 pinned.corp.example\n"), "h")
	if err != nil {
		t.Fatal(err)
	}
	up := dnstest.Records(t, "fallen.pl.example. 60 IN A 203.0.113.1",
		"out.example. 60 IN A 203.0.113.2")
	corp := mustZone(t, "corp.example", false, `
www 300 IN A 10.0.0.1
alias 300 IN CNAME www
outside 300 IN CNAME out.example.
loop1 300 IN CNAME loop2
loop2 300 IN CNAME loop1
pinned 300 IN A 10.0.0.99
`)
	pl := mustZone(t, "pl.example", true, "here 300 IN A 10.0.0.2\n")
	r := New(Options{
		Hosts: hosts.New(entries, 300),
		Zones: []*zone.Zone{corp, pl},
		Rules: []Rule{{Zones: []string{"."}, Forwarder: fwd(up.Addr)}},
	})

	tests := []struct {
		name   string
		q      dns.Question
		rcode  int
		answer string
		aa     bool
		source string
	}{
		{name: "zone A", q: a("WWW.corp.example.", dns.TypeA),
			answer: "www.corp.example. A 10.0.0.1", aa: true, source: SourceZone},
		{name: "in-zone CNAME chased", q: a("alias.corp.example.", dns.TypeA),
			answer: "alias.corp.example. CNAME www.corp.example.\nwww.corp.example. A 10.0.0.1",
			aa:     true, source: SourceZone},
		{name: "CNAME out of the zone chased upstream", q: a("outside.corp.example.", dns.TypeA),
			answer: "outside.corp.example. CNAME out.example.\nout.example. A 203.0.113.2",
			source: SourceForward},
		{name: "hosts beats the zone", q: a("pinned.corp.example.", dns.TypeA),
			answer: "pinned.corp.example. A 10.9.9.9", aa: true, source: SourceHosts},
		{name: "hosts NODATA for MX", q: a("pinned.corp.example.", dns.TypeMX), aa: true,
			source: SourceHosts},
		{name: "NXDOMAIN without fallthrough", q: a("nope.corp.example.", dns.TypeA),
			rcode: dns.RcodeNameError, aa: true, source: SourceZone},
		{name: "fallthrough forwards a missing name", q: a("fallen.pl.example.", dns.TypeA),
			answer: "fallen.pl.example. A 203.0.113.1", source: SourceForward},
		{name: "fallthrough keeps local names", q: a("here.pl.example.", dns.TypeA),
			answer: "here.pl.example. A 10.0.0.2", aa: true, source: SourceZone},
		// SERVFAIL carries no part of the chain: a client must not take it.
		{name: "CNAME loop is SERVFAIL", q: a("loop1.corp.example.", dns.TypeA),
			rcode: dns.RcodeServerFailure, source: SourceZone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans := r.Resolve(context.Background(), tc.q, false)
			if ans.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s",
					dns.RcodeToString[ans.Rcode], dns.RcodeToString[tc.rcode])
			}
			if got := lines(ans.Answer); got != tc.answer {
				t.Errorf("answer\n%s\nwant\n%s", got, tc.answer)
			}
			if ans.Authoritative != tc.aa {
				t.Errorf("AA = %v, want %v", ans.Authoritative, tc.aa)
			}
			if ans.Source() != tc.source {
				t.Errorf("source %s, want %s", ans.Source(), tc.source)
			}
			if tc.rcode == dns.RcodeNameError && len(ans.Ns) != 1 {
				t.Errorf("NXDOMAIN without the SOA: %v", ans.Ns)
			}
		})
	}
}

func TestCNAMEToUnownedNameEndsTheChain(t *testing.T) {
	r := New(Options{Zones: []*zone.Zone{mustZone(t, "local.test", false,
		"out 300 IN CNAME www.example.com.\n")}})
	ans := r.Resolve(context.Background(), a("out.local.test.", dns.TypeA), false)
	if ans.Rcode != dns.RcodeSuccess || !ans.Authoritative ||
		lines(ans.Answer) != "out.local.test. CNAME www.example.com." {
		t.Errorf("rcode %s aa %v answer %q, want NOERROR, AA and the CNAME",
			dns.RcodeToString[ans.Rcode], ans.Authoritative, lines(ans.Answer))
	}
}

func TestUpstreamCNAMELoopIsServfail(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		for _, s := range []string{"loop1.example. 60 IN CNAME loop2.example.",
			"loop2.example. 60 IN CNAME loop1.example."} {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		return m
	})
	c := cache.New(cache.Options{Size: 10, MaxTTL: time.Hour})
	r := New(Options{Rules: []Rule{{Zones: []string{"."}, Forwarder: fwd(up.Addr)}}, Cache: c})
	ans := r.Resolve(context.Background(), a("loop1.example.", dns.TypeA), false)
	if ans.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL for a CNAME loop", dns.RcodeToString[ans.Rcode])
	}
	if c.Stats().Entries != 0 {
		t.Error("a looping answer was cached")
	}
	if len(ans.Answer) != 0 {
		t.Errorf("SERVFAIL with the loop's records: %v", ans.Answer)
	}
}

// What a fresh upstream answer is served with is what the cache keeps: TTLs
// clamped, negative answers to the SOA minimum and the negative cap.
func TestServedTTLsAreClamped(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		switch req.Question[0].Name {
		case "long.example.":
			rr, _ := dns.NewRR("long.example. 86400 IN A 10.0.0.1")
			m.Answer = []dns.RR{rr}
		default:
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("example. 3600 IN SOA ns. host. 1 2 3 4 3600")
			m.Ns = []dns.RR{soa}
		}
		return m
	})
	c := cache.New(cache.Options{Size: 10, MaxTTL: time.Hour, NegativeTTL: 30 * time.Second})
	r := New(Options{Rules: []Rule{{Zones: []string{"."}, Forwarder: fwd(up.Addr)}}, Cache: c})

	long := r.Resolve(context.Background(), a("long.example.", dns.TypeA), false)
	if long.Answer[0].Header().Ttl != 3600 {
		t.Errorf("TTL %d, want max_ttl 3600", long.Answer[0].Header().Ttl)
	}
	ans := r.Resolve(context.Background(), a("nx.example.", dns.TypeA), false)
	if ans.Rcode != dns.RcodeNameError || len(ans.Ns) != 1 || ans.Ns[0].Header().Ttl != 30 {
		t.Errorf("NXDOMAIN authority %v, want the SOA with TTL 30 (negative cap)", ans.Ns)
	}
}

func TestNoRouteIsRefused(t *testing.T) {
	r := New(Options{})
	ans := r.Resolve(context.Background(), a("x.example.", dns.TypeA), false)
	if ans.Rcode != dns.RcodeRefused {
		t.Errorf("rcode %s, want REFUSED", dns.RcodeToString[ans.Rcode])
	}
}

func TestServeStale(t *testing.T) {
	var answering atomic.Bool
	answering.Store(true)
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		if !answering.Load() {
			return nil
		}
		m := new(dns.Msg)
		m.SetReply(req)
		rr, _ := dns.NewRR(req.Question[0].Name + " 1 IN A 10.0.0.1")
		m.Answer = []dns.RR{rr}
		return m
	})
	c := cache.New(cache.Options{Size: 10, MaxTTL: time.Hour, StaleWindow: time.Hour})
	r := New(Options{Rules: []Rule{{Zones: []string{"."}, Forwarder: fwd(up.Addr)}}, Cache: c})
	clock := newClock()
	r.now = clock.now

	r.Resolve(context.Background(), a("a.example.", dns.TypeA), false)
	answering.Store(false)
	clock.add(10 * time.Second)

	ans := r.Resolve(context.Background(), a("a.example.", dns.TypeA), false)
	if ans.Source() != SourceStale || len(ans.Answer) != 1 ||
		ans.Answer[0].Header().Ttl != DefaultStaleTTL {
		t.Fatalf("got %+v, want the stale answer with TTL %d", ans, DefaultStaleTTL)
	}
	ans = r.Resolve(context.Background(), a("new.example.", dns.TypeA), false)
	if ans.Rcode != dns.RcodeServerFailure {
		t.Errorf("uncached name: rcode %s, want SERVFAIL", dns.RcodeToString[ans.Rcode])
	}
}

func TestChainOfKeepsAnExactChain(t *testing.T) {
	var answer []dns.RR
	for _, s := range []string{"a.example. 60 IN CNAME b.example.", "B.example. 60 IN A 10.0.0.1",
		"b.example. 60 IN A 10.0.0.2"} {
		rr, _ := dns.NewRR(s)
		answer = append(answer, rr)
	}
	chain, loop := chainOf("a.example.", dns.TypeA, dns.ClassINET, answer)
	if loop || len(chain) != 3 || &chain[0] != &answer[0] {
		t.Errorf("chain %v loop %v: want the answer itself, not a copy", chain, loop)
	}
}

func TestChainOfDropsOutOfChainRecords(t *testing.T) {
	var answer []dns.RR
	for _, s := range []string{
		"evil.example. 60 IN A 203.0.113.66",
		"a.example. 60 IN CNAME b.example.",
		"b.example. 60 IN A 10.0.0.1",
		"a.example. 60 IN TXT \"other type\"",
		"b.example. 60 CH A 203.0.113.67",
	} {
		rr, _ := dns.NewRR(s)
		answer = append(answer, rr)
	}
	chain, loop := chainOf("a.example.", dns.TypeA, dns.ClassINET, answer)
	got := lines(chain)
	if loop {
		t.Error("loop reported for a chain without one")
	}
	if got != "a.example. CNAME b.example.\nb.example. A 10.0.0.1" {
		t.Errorf("chain\n%s", got)
	}
}

func TestPrefetchRefreshesEntriesInTheirLastTenth(t *testing.T) {
	up := dnstest.Records(t, "hot.example. 10 IN A 10.0.0.1")
	c := cache.New(cache.Options{Size: 10, MaxTTL: time.Hour, Prefetch: true})
	r := New(Options{Rules: []Rule{{Zones: []string{"."}, Forwarder: fwd(up.Addr)}}, Cache: c})
	clock := newClock()
	r.now = clock.now

	r.Resolve(context.Background(), a("hot.example.", dns.TypeA), false)
	clock.add(5 * time.Second)
	r.Resolve(context.Background(), a("hot.example.", dns.TypeA), false) // hit 1, not near expiry
	if up.Queries() != 1 {
		t.Fatalf("upstream got %d queries, want 1", up.Queries())
	}
	// 0.5s left of 10s, the last tenth: hit 2 starts the prefetch.
	clock.add(4500 * time.Millisecond)
	ans := r.Resolve(context.Background(), a("hot.example.", dns.TypeA), false)
	if ans.Source() != SourceCache {
		t.Fatalf("source %s, want the cached answer while prefetching", ans.Source())
	}
	deadline := time.Now().Add(2 * time.Second)
	for up.Queries() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if up.Queries() != 2 {
		t.Fatalf("upstream got %d queries, want a prefetch", up.Queries())
	}
	// The refreshed entry outlives the old one's expiry.
	clock.add(2 * time.Second)
	after := r.Resolve(context.Background(), a("hot.example.", dns.TypeA), false)
	if after.Source() != SourceCache {
		t.Errorf("after the old expiry: source %s, want cache (prefetched)", after.Source())
	}
}

// BenchmarkRoute finds the source that owns a name among a hundred zones and
// rules: one map lookup per label.
func BenchmarkRoute(b *testing.B) {
	var rules []Rule
	f := fwd(dnstest.Silent(b).Addr) // never asked: routing only
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("zone%d.example.", i)
		rules = append(rules, Rule{Zones: []string{name}, Forwarder: f})
	}
	rules = append(rules, Rule{Zones: []string{"api.azureml.ms."}, Forwarder: f})
	r := New(Options{Rules: rules})
	name := "w0001.workspace.eastus.api.azureml.ms."
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, rule := r.route(name); rule != "api.azureml.ms." {
			b.Fatal(rule)
		}
	}
}

func TestBudgetBoundsAChain(t *testing.T) {
	slow := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		time.Sleep(300 * time.Millisecond)
		m := new(dns.Msg)
		m.SetReply(req)
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN CNAME x.other.example.")
		m.Answer = []dns.RR{rr}
		return m
	})
	other := dnstest.Records(t, "x.other.example. 60 IN A 10.0.0.1")
	slowRule := forward.New("a.example.", []string{slow.Addr},
		forward.Options{TryTimeout: time.Second, Timeout: 2 * time.Second}, nil)
	r := New(Options{Budget: 200 * time.Millisecond, Rules: []Rule{
		{Zones: []string{"a.example."}, Forwarder: slowRule},
		{Zones: []string{"other.example."}, Forwarder: fwd(other.Addr)},
	}})
	ans := r.Resolve(context.Background(), a("q.a.example.", dns.TypeA), false)
	if ans.Rcode != dns.RcodeServerFailure || other.Queries() != 0 {
		t.Errorf("rcode %s, %d queries to the second rule; want SERVFAIL before the next step",
			dns.RcodeToString[ans.Rcode], other.Queries())
	}
}

func TestNegativeAuthorityKeepsDenialProof(t *testing.T) {
	var ns []dns.RR
	for _, s := range []string{
		"example. 300 IN SOA ns. host. 1 2 3 4 60",
		"example. 300 CH SOA ns. evil. 1 2 3 4 86400",
		"example. 300 IN NS ns.example.",
		"a.example. 60 IN NSEC c.example. A RRSIG NSEC",
		"a.example. 60 IN RRSIG NSEC 8 2 60 20270101000000 20260101000000 1 example. AAAA",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, rr)
	}
	got := negativeAuthority(ns, dns.ClassINET)
	var types []string
	for _, rr := range got {
		types = append(types, dns.TypeToString[rr.Header().Rrtype])
	}
	if strings.Join(types, " ") != "SOA NSEC RRSIG" {
		t.Errorf("kept %v, want SOA NSEC RRSIG (no NS, no class CH)", types)
	}
}
