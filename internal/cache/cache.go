// Package cache holds upstream answers for reuse, positive and negative.
//
// Entries are keyed on what makes an answer differ: owner name (lower case),
// type, class and the DNSSEC OK bit (RFC 4035 section 3.2.1: an answer fetched
// without DO may lack the signatures a DO query wants). Positive answers live
// for their smallest record TTL, clamped to [MinTTL, MaxTTL]. Negative answers
// (NXDOMAIN and NODATA) live for the SOA minimum (RFC 2308 section 5), capped by
// NegativeTTL, which is short by default because a private endpoint created a
// minute after a failed lookup must not look broken (SPEC.md section 7). Answers
// without an SOA to time them, and server failures, are not cached.
//
// An expired entry is kept for StaleWindow so that it can be served when every
// upstream fails (RFC 8767).
package cache

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Key identifies one cached answer.
type Key struct {
	Name   string // lower-case FQDN
	Qtype  uint16
	Qclass uint16
	DO     bool
}

// Options bound what the cache keeps and for how long.
type Options struct {
	// Size is the most entries held; 0 disables the cache.
	Size int
	// MinTTL and MaxTTL clamp the lifetime of positive answers. Defaults 0 and 1h.
	MinTTL, MaxTTL time.Duration
	// NegativeTTL caps the lifetime of NXDOMAIN and NODATA answers. Default 30s.
	NegativeTTL time.Duration
	// StaleWindow is how long past expiry an entry may still be served when the
	// upstreams fail. 0 disables serve-stale.
	StaleWindow time.Duration
	// Prefetch: an entry read in the last tenth of its lifetime is handed out
	// once with Prefetch set, so that the caller refreshes it before it
	// expires and names in steady use never miss. Default false.
	Prefetch bool
}

// Answer is a cached response, with TTLs counted down to the time of the lookup.
type Answer struct {
	Rcode  int
	Answer []dns.RR
	Ns     []dns.RR
	Stale  bool // past its TTL: serve only when the upstreams fail
	// Prefetch asks the caller to refresh the entry in the background.
	Prefetch bool
	// RefreshAt is when the entry enters the last tenth of its lifetime, in
	// which a read triggers prefetch: a copy kept elsewhere (the reply cache)
	// must not outlive it, or the refresh is never asked for.
	RefreshAt time.Time
}

// Stats are counters since the cache was made.
type Stats struct {
	Entries, Hits, Misses, Evictions, Stale int64
}

const shardCount = 16

// Cache is a size-bounded, sharded answer cache, safe for concurrent use.
type Cache struct {
	opts   Options
	seed   maphash.Seed
	shards [shardCount]shard

	hits, misses, evictions, stale atomic.Int64
}

type shard struct {
	mu      sync.Mutex
	entries map[Key]*entry // guarded by mu
	ring    []Key          // keys in order of insertion, for eviction; guarded by mu
	next    int            // the ring slot to evict and reuse next; guarded by mu
	max     int
}

type entry struct {
	prefetched atomic.Bool
	rcode      int
	answer     []dns.RR
	ns         []dns.RR
	stored     time.Time
	expires    time.Time
}

// New makes a cache. A zero Size gives a cache that holds nothing.
func New(opts Options) *Cache {
	c := &Cache{opts: opts, seed: maphash.MakeSeed()}
	per := (opts.Size + shardCount - 1) / shardCount
	for i := range c.shards {
		c.shards[i].entries = map[Key]*entry{}
		c.shards[i].max = per
	}
	return c
}

func (c *Cache) shardFor(k Key) *shard {
	h := maphash.String(c.seed, k.Name)
	return &c.shards[(h^uint64(k.Qtype))%shardCount]
}

// Get returns the answer cached for k as of now. An entry past its TTL but
// within the stale window is returned with Stale set and TTLs of zero; the
// caller decides whether to use it.
func (c *Cache) Get(k Key, now time.Time) (Answer, bool) {
	if c.opts.Size == 0 {
		return Answer{}, false
	}
	s := c.shardFor(k)
	s.mu.Lock()
	e, ok := s.entries[k]
	s.mu.Unlock()
	if !ok || !now.Before(e.expires.Add(c.opts.StaleWindow)) {
		c.misses.Add(1)
		return Answer{}, false
	}

	stale := !now.Before(e.expires)
	elapsed := uint32(now.Sub(e.stored) / time.Second)
	prefetch := false
	if stale {
		c.stale.Add(1)
	} else {
		c.hits.Add(1)
		left := e.expires.Sub(now)
		prefetch = c.opts.Prefetch && left*10 < e.expires.Sub(e.stored) &&
			e.prefetched.CompareAndSwap(false, true)
	}
	return Answer{
		Rcode:     e.rcode,
		Answer:    aged(e.answer, elapsed, stale),
		Ns:        aged(e.ns, elapsed, stale),
		Stale:     stale,
		Prefetch:  prefetch,
		RefreshAt: e.expires.Add(-e.expires.Sub(e.stored) / 10),
	}, true
}

// aged copies rrs with their TTLs lowered by elapsed seconds.
func aged(rrs []dns.RR, elapsed uint32, stale bool) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		cp := dns.Copy(rr)
		h := cp.Header()
		if stale || h.Ttl <= elapsed {
			h.Ttl = 0
		} else {
			h.Ttl -= elapsed
		}
		out[i] = cp
	}
	return out
}

// Set stores the answer of resp under k as of now, if the response may be
// cached. It returns the records to serve for resp: the stored ones, their
// TTLs clamped to the entry's lifetime (negative answers to the SOA minimum and
// NegativeTTL, positive ones to MaxTTL); or resp's own records when it is not
// cached. The stored records are resp's own where no TTL needed clamping:
// neither the caller nor anyone else may modify resp's records afterwards, or
// the records Set returns.
func (c *Cache) Set(k Key, resp *dns.Msg, now time.Time) (answer, ns []dns.RR) {
	ttl, floor, ok := c.lifetime(resp, k.Qtype)
	if !ok || c.opts.Size == 0 {
		return resp.Answer, resp.Ns
	}

	e := &entry{
		rcode:   resp.Rcode,
		answer:  copyRRs(resp.Answer, floor, ttl),
		ns:      copyRRs(resp.Ns, floor, ttl),
		stored:  now,
		expires: now.Add(ttl),
	}
	s := c.shardFor(k)
	s.mu.Lock()
	n := len(s.entries)
	s.entries[k] = e
	if len(s.entries) > n { // a new key (one map operation, not a lookup first)
		c.insertLocked(s, k)
	}
	s.mu.Unlock()
	return e.answer, e.ns
}

// Clamp returns the records to serve for resp without storing it: copies with
// the TTLs Set would give them, or resp's own records when it may not be
// cached. For a caller whose identical query was answered to another caller.
func (c *Cache) Clamp(resp *dns.Msg, qtype uint16) (answer, ns []dns.RR) {
	ttl, floor, ok := c.lifetime(resp, qtype)
	if !ok || c.opts.Size == 0 {
		return resp.Answer, resp.Ns
	}
	return copyRRs(resp.Answer, floor, ttl), copyRRs(resp.Ns, floor, ttl)
}

// copyRRs returns rrs with each TTL clamped to [floor, ceil]: no record
// outlives the entry, and none is announced shorter than the MinTTL the cache
// keeps it for. The slice is new; a record whose TTL is already in range is
// shared, not copied: records handed to the cache are never modified (the
// upstream answer they come from is shared between merged callers too), and
// readers get copies from Get.
func copyRRs(rrs []dns.RR, floor, ceil time.Duration) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	lo, hi := uint32(floor/time.Second), uint32(ceil/time.Second)
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		ttl := rr.Header().Ttl
		if clamped := min(max(ttl, lo), hi); clamped != ttl {
			rr = dns.Copy(rr)
			rr.Header().Ttl = clamped
		}
		out[i] = rr
	}
	return out
}

// insertLocked records a new key in the shard's ring, evicting the oldest
// inserted entry when the shard is full: first in, first out, in constant time
// and with no bookkeeping on the hit path. A key stored again keeps its slot,
// so an entry refreshed often still goes in insertion order: one refetch.
func (c *Cache) insertLocked(s *shard, k Key) {
	if len(s.ring) < s.max {
		s.ring = append(s.ring, k)
		return
	}
	old := s.ring[s.next]
	if old != k { // never k, as a key leaves the map only with its slot: but keep k
		n := len(s.entries)
		delete(s.entries, old)
		if len(s.entries) < n {
			c.evictions.Add(1)
		}
	}
	s.ring[s.next] = k
	s.next = (s.next + 1) % len(s.ring)
}

// lifetime returns how long resp, the answer to a question of type qtype, may
// be cached, and false when it may not; floor is the least TTL its records
// are given (MinTTL, for positive answers). An answer that has records but none of
// qtype (a CNAME chain ending in NODATA) is negative: it lives by the SOA like
// any NODATA (RFC 2308 section 2.2), never longer than its CNAMEs.
func (c *Cache) lifetime(resp *dns.Msg, qtype uint16) (d, floor time.Duration, ok bool) {
	if resp.Truncated {
		return 0, 0, false
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return 0, 0, false
	}
	var minTTL uint32 = math.MaxUint32
	positive := false
	for _, rr := range resp.Answer {
		h := rr.Header()
		minTTL = min(minTTL, h.Ttl)
		if h.Rrtype == qtype || qtype == dns.TypeANY ||
			(qtype == dns.TypeCNAME && h.Rrtype == dns.TypeCNAME) {
			positive = true
		}
	}

	if positive && resp.Rcode == dns.RcodeSuccess {
		d := max(time.Duration(minTTL)*time.Second, c.opts.MinTTL)
		if c.opts.MaxTTL > 0 {
			d = min(d, c.opts.MaxTTL)
		}
		return d, min(c.opts.MinTTL, d), d > 0
	}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl := min(soa.Hdr.Ttl, soa.Minttl, minTTL)
			d := time.Duration(ttl) * time.Second
			if c.opts.NegativeTTL > 0 {
				d = min(d, c.opts.NegativeTTL)
			}
			return d, 0, d > 0
		}
	}
	return 0, 0, false // negative without an SOA to time it: RFC 2308 section 5
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	var n int64
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += int64(len(s.entries))
		s.mu.Unlock()
	}
	return Stats{Entries: n, Hits: c.hits.Load(), Misses: c.misses.Load(),
		Evictions: c.evictions.Load(), Stale: c.stale.Load()}
}
