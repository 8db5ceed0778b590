// Package ratelimit limits the UDP responses pedns sends to each client
// network, in the spirit of response rate limiting in BIND: a token bucket per
// client prefix, and, past the limit, every Slip-th response sent as an empty
// truncated reply instead of dropped, so that a real client behind a spoofed
// flood can still get its answer over TCP, which cannot be spoofed.
//
// Over UDP an attacker can forge the source address and use a DNS server to
// flood a victim with responses; the limit caps what any one network can be
// sent. TCP is not limited here: its handshake proves the address.
package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Options set the limit.
type Options struct {
	// Rate is the responses per second allowed to one client prefix; 0 turns
	// limiting off. The bucket holds one second of responses.
	Rate int
	// Slip: past the limit, every Slip-th response is sent truncated instead
	// of dropped; 0 drops them all, 1 truncates them all.
	Slip int
	// IPv4Prefix and IPv6Prefix are the lengths by which clients are grouped.
	IPv4Prefix, IPv6Prefix int
	// Exempt clients are never limited.
	Exempt []netip.Prefix
	// MaxClients bounds the buckets kept; past it, idle buckets are dropped,
	// and if none is idle a new client is limited with a fresh bucket that
	// is not kept. Default 100000.
	MaxClients int
}

// Verdict is what to do with one response.
type Verdict int

// Verdicts.
const (
	Send     Verdict = iota // under the limit
	Truncate                // over the limit: send an empty reply with TC set
	Drop                    // over the limit: send nothing
)

const shards = 16

// Limiter keeps one token bucket per client prefix. Safe for concurrent use.
type Limiter struct {
	opts   Options
	seed   maphash.Seed
	shards [shards]shard

	limited atomic.Int64
}

type shard struct {
	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket // guarded by mu
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill
	over   int   // responses over the limit, for the slip count
}

// New makes a limiter; it returns nil when opts.Rate is 0, and a nil Limiter
// sends everything.
func New(opts Options) *Limiter {
	if opts.Rate <= 0 {
		return nil
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 100000
	}
	l := &Limiter{opts: opts, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[netip.Prefix]*bucket{}
	}
	return l
}

// Check takes one token for a response to client at now (unix nanoseconds).
func (l *Limiter) Check(client netip.Addr, now int64) Verdict {
	if l == nil {
		return Send
	}
	client = client.Unmap()
	for _, p := range l.opts.Exempt {
		if p.Contains(client) {
			return Send
		}
	}
	bits := l.opts.IPv4Prefix
	if client.Is6() {
		bits = l.opts.IPv6Prefix
	}
	key, err := client.Prefix(bits)
	if err != nil {
		return Send
	}

	s := &l.shards[maphash.Comparable(l.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.opts.Rate), last: now}
		if len(s.buckets) >= l.opts.MaxClients/shards {
			l.sweepLocked(s, now)
		}
		if len(s.buckets) < l.opts.MaxClients/shards {
			s.buckets[key] = b
		}
	}

	rate := float64(l.opts.Rate)
	b.tokens = min(rate, b.tokens+rate*float64(now-b.last)/1e9)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		b.over = 0
		return Send
	}
	l.limited.Add(1)
	b.over++
	if l.opts.Slip > 0 && b.over%l.opts.Slip == 0 {
		return Truncate
	}
	return Drop
}

// sweepLocked drops the buckets of s that have refilled completely: such a
// client is indistinguishable from a new one.
func (l *Limiter) sweepLocked(s *shard, now int64) {
	for k, b := range s.buckets {
		if now-b.last > int64(time.Second) {
			delete(s.buckets, k)
		}
	}
}

// Limited returns how many responses were over the limit.
func (l *Limiter) Limited() int64 {
	if l == nil {
		return 0
	}
	return l.limited.Load()
}
