package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func msg(rcode int, answer, ns []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Rcode = rcode
	m.Answer, m.Ns = answer, ns
	return m
}

func TestLifetimes(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	soa := "example. 3600 IN SOA ns. host. 1 2 3 4 300"
	tests := []struct {
		name    string
		opts    Options
		resp    func(t *testing.T) *dns.Msg
		cached  bool
		expires time.Duration // still served (fresh) just before, not at
	}{
		{name: "positive uses the smallest TTL", opts: Options{Size: 10, MaxTTL: time.Hour},
			resp: func(t *testing.T) *dns.Msg {
				return msg(0, []dns.RR{rr(t, "a.example. 60 IN CNAME b.example."),
					rr(t, "b.example. 20 IN A 10.0.0.1")}, nil)
			}, cached: true, expires: 20 * time.Second},
		{name: "max TTL clamps", opts: Options{Size: 10, MaxTTL: 10 * time.Second},
			resp: func(t *testing.T) *dns.Msg {
				return msg(0, []dns.RR{rr(t, "a.example. 86400 IN A 10.0.0.1")}, nil)
			}, cached: true, expires: 10 * time.Second},
		{name: "min TTL raises", opts: Options{Size: 10, MinTTL: 30 * time.Second},
			resp: func(t *testing.T) *dns.Msg {
				return msg(0, []dns.RR{rr(t, "a.example. 5 IN A 10.0.0.1")}, nil)
			}, cached: true, expires: 30 * time.Second},
		{name: "NXDOMAIN for the SOA minimum", opts: Options{Size: 10, NegativeTTL: time.Hour},
			resp: func(t *testing.T) *dns.Msg {
				return msg(dns.RcodeNameError, nil, []dns.RR{rr(t, soa)})
			}, cached: true, expires: 300 * time.Second},
		{name: "NODATA capped by NegativeTTL",
			opts:   Options{Size: 10, NegativeTTL: 30 * time.Second},
			resp:   func(t *testing.T) *dns.Msg { return msg(0, nil, []dns.RR{rr(t, soa)}) },
			cached: true, expires: 30 * time.Second},
		{name: "CNAME then NODATA lives by the SOA, capped",
			opts: Options{Size: 10, MaxTTL: time.Hour, NegativeTTL: 30 * time.Second},
			resp: func(t *testing.T) *dns.Msg {
				return msg(0, []dns.RR{rr(t, "a.example. 3600 IN CNAME b.example.")},
					[]dns.RR{rr(t, soa)})
			}, cached: true, expires: 30 * time.Second},
		{name: "negative without SOA is not cached", opts: Options{Size: 10},
			resp:   func(t *testing.T) *dns.Msg { return msg(dns.RcodeNameError, nil, nil) },
			cached: false},
		{name: "SERVFAIL is not cached", opts: Options{Size: 10},
			resp:   func(t *testing.T) *dns.Msg { return msg(dns.RcodeServerFailure, nil, nil) },
			cached: false},
		{name: "size 0 caches nothing", opts: Options{},
			resp: func(t *testing.T) *dns.Msg {
				return msg(0, []dns.RR{rr(t, "a.example. 60 IN A 10.0.0.1")}, nil)
			}, cached: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.opts)
			k := Key{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
			c.Set(k, tc.resp(t), t0)
			_, ok := c.Get(k, t0)
			if ok != tc.cached {
				t.Fatalf("cached = %v, want %v", ok, tc.cached)
			}
			if !ok {
				return
			}
			if a, _ := c.Get(k, t0.Add(tc.expires-time.Second)); a.Stale {
				t.Errorf("stale one second before %v", tc.expires)
			}
			if _, ok := c.Get(k, t0.Add(tc.expires)); ok {
				t.Errorf("still served at %v with no stale window", tc.expires)
			}
		})
	}
}

func TestMinTTLRaisesServedTTL(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := New(Options{Size: 10, MinTTL: time.Minute, MaxTTL: time.Hour})
	k := Key{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	answer, _ := c.Set(k, msg(0, []dns.RR{rr(t, "a.example. 3 IN A 10.0.0.1")}, nil), t0)
	if ttl := answer[0].Header().Ttl; ttl != 60 {
		t.Errorf("served TTL %d, want min_ttl 60", ttl)
	}
	a, _ := c.Get(k, t0.Add(10*time.Second))
	if ttl := a.Answer[0].Header().Ttl; ttl != 50 {
		t.Errorf("TTL after 10s %d, want 50", ttl)
	}
}

func TestTTLCountsDownAndCopies(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := New(Options{Size: 10, MaxTTL: time.Hour})
	k := Key{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	c.Set(k, msg(0, []dns.RR{rr(t, "a.example. 100 IN A 10.0.0.1")}, nil), t0)

	a, _ := c.Get(k, t0.Add(40*time.Second))
	if ttl := a.Answer[0].Header().Ttl; ttl != 60 {
		t.Errorf("TTL after 40s = %d, want 60", ttl)
	}
	a.Answer[0].Header().Ttl = 9999 // must not reach the cache
	b, _ := c.Get(k, t0)
	if ttl := b.Answer[0].Header().Ttl; ttl != 100 {
		t.Errorf("TTL = %d after a caller changed its copy, want 100", ttl)
	}
}

func TestStale(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := New(Options{Size: 10, MaxTTL: time.Hour, StaleWindow: time.Hour})
	k := Key{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	c.Set(k, msg(0, []dns.RR{rr(t, "a.example. 10 IN A 10.0.0.1")}, nil), t0)

	a, ok := c.Get(k, t0.Add(30*time.Minute))
	if !ok || !a.Stale || a.Answer[0].Header().Ttl != 0 {
		t.Errorf("within stale window: ok=%v stale=%v answer=%v", ok, a.Stale, a.Answer)
	}
	if _, ok := c.Get(k, t0.Add(2*time.Hour)); ok {
		t.Error("served past the stale window")
	}
	if s := c.Stats(); s.Stale != 1 || s.Misses != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestSizeBound(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := New(Options{Size: 64, MaxTTL: time.Hour})
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("n%d.example.", i)
		c.Set(Key{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET},
			msg(0, []dns.RR{rr(t, name+" 100 IN A 10.0.0.1")}, nil), t0)
	}
	s := c.Stats()
	if s.Entries > 64 || s.Evictions < 1000-64 {
		t.Errorf("entries %d evictions %d, want at most 64 and at least %d",
			s.Entries, s.Evictions, 1000-64)
	}
}

// Set clamps the TTLs it serves without touching the response's records,
// which merged callers share.
func TestSetLeavesResponseRecords(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := New(Options{Size: 64, MaxTTL: time.Hour})
	long := rr(t, "a.example. 86400 IN A 10.0.0.1")
	short := rr(t, "b.example. 60 IN A 10.0.0.2")
	for _, r := range []dns.RR{long, short} {
		name := r.Header().Name
		answer, _ := c.Set(Key{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET},
			msg(0, []dns.RR{r}, nil), t0)
		want := min(r.Header().Ttl, 3600)
		if got := answer[0].Header().Ttl; got != want {
			t.Errorf("%s: served TTL %d, want %d", name, got, want)
		}
	}
	if long.Header().Ttl != 86400 || short.Header().Ttl != 60 {
		t.Errorf("response TTLs changed to %d and %d", long.Header().Ttl,
			short.Header().Ttl)
	}
}

func TestKeyIncludesDO(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	c := New(Options{Size: 10, MaxTTL: time.Hour})
	k := Key{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	c.Set(k, msg(0, []dns.RR{rr(t, "a.example. 100 IN A 10.0.0.1")}, nil), t0)
	k.DO = true
	if _, ok := c.Get(k, t0); ok {
		t.Error("an answer cached without DO was served to a DO query")
	}
}

// BenchmarkGet is an answer-cache hit. It copies the records to age their
// TTLs (allocating); the query path's zero-allocation cache hit is the reply
// cache in internal/wire, in front of this one.
func BenchmarkGet(b *testing.B) {
	c := New(Options{Size: 1000, MaxTTL: time.Hour})
	now := time.Now()
	k := Key{Name: "w0001.workspace.eastus.api.azureml.ms.",
		Qtype: dns.TypeA, Qclass: dns.ClassINET}
	r1, _ := dns.NewRR(k.Name + " 300 IN CNAME w0001.workspace.eastus.privatelink.api.azureml.ms.")
	r2, _ := dns.NewRR("w0001.workspace.eastus.privatelink.api.azureml.ms. 300 IN A 10.1.0.1")
	c.Set(k, msg(0, []dns.RR{r1, r2}, nil), now)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := c.Get(k, now); !ok {
			b.Fatal("miss")
		}
	}
}
