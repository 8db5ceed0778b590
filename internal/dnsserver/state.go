package dnsserver

import (
	"log/slog"
	"net/netip"
	"reflect"
	"time"

	"github.com/pedns/pedns/internal/cache"
	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/forward"
	"github.com/pedns/pedns/internal/hosts"
	"github.com/pedns/pedns/internal/ratelimit"
	"github.com/pedns/pedns/internal/resolve"
	"github.com/pedns/pedns/internal/wire"
)

// State is everything a loaded configuration gives the query path. A reload
// builds a new State and swaps it in whole: a query in flight finishes on the
// State it started with.
type State struct {
	Config   *config.Loaded
	resolver *resolve.Resolver
	cache    *cache.Cache
	rules    []resolve.Rule
	// replies keeps packed replies for the fast path. It belongs to this
	// State alone, so a reload that changes local data never serves old bytes.
	replies *wire.Replies
	// limiter caps UDP responses per client network; nil when off.
	limiter *ratelimit.Limiter

	allow      []netip.Prefix
	udpSize    int
	logQueries bool
}

// NewState builds the query path of l. When prev is given and l keeps its cache
// settings and forward rules, the cache of prev is carried over, so a reload
// that changes only local data keeps every cached answer; otherwise the cache
// starts empty, so that answers from an upstream no longer configured are not
// served. What prev knows of the health of upstreams is carried over to the
// rules of the same name either way. obs, which may be nil, is told of every
// upstream attempt.
func NewState(l *config.Loaded, prev *State, log *slog.Logger, obs forward.Observer) *State {
	c := l.Config
	var ch *cache.Cache
	if prev != nil && reflect.DeepEqual(prev.Config.Cache, c.Cache) &&
		reflect.DeepEqual(prev.Config.Forward, c.Forward) {
		ch = prev.cache
	} else {
		ch = cache.New(cache.Options{
			Size:        *c.Cache.Size,
			MinTTL:      c.Cache.MinTTL.D(),
			MaxTTL:      c.Cache.MaxTTL.D(),
			NegativeTTL: c.Cache.NegativeTTL.D(),
			StaleWindow: c.Cache.Stale.D(),
			Prefetch:    *c.Cache.Prefetch,
		})
	}

	fopts := forward.Options{
		TryTimeout:  c.Upstream.TryTimeout.D(),
		Timeout:     c.Upstream.Timeout.D(),
		MaxInflight: c.Upstream.MaxInflight,
		UDPSize:     uint16(c.Limits.UDPSize),
		Observer:    obs,
	}
	var rules []resolve.Rule
	for _, r := range c.Forward {
		name := r.Zones[0]
		f := forward.New(name, r.Upstreams, fopts, log)
		if prev != nil {
			for _, pr := range prev.rules {
				if pr.Forwarder.Name() == name {
					f.KeepHealth(pr.Forwarder)
				}
			}
		}
		rules = append(rules, resolve.Rule{Zones: r.Zones, Forwarder: f})
	}

	st := &State{
		Config: l,
		cache:  ch,
		rules:  rules,
		resolver: resolve.New(resolve.Options{
			Hosts:    hosts.New(l.HostEntries, uint32(c.HostsTTL.D()/time.Second)),
			Zones:    l.ZoneData,
			Rules:    rules,
			Cache:    ch,
			StaleTTL: uint32(c.Cache.StaleTTL.D() / time.Second),
			// A query waits for at most about one upstream timeout, CNAME
			// steps included.
			Budget: c.Upstream.Timeout.D() + time.Second,
			Log:    log,
		}),
		replies: wire.NewReplies(*c.Cache.Size),
		limiter: ratelimit.New(ratelimit.Options{
			Rate:       *c.RateLimit.ResponsesPerSecond,
			Slip:       *c.RateLimit.Slip,
			IPv4Prefix: c.RateLimit.IPv4Prefix,
			IPv6Prefix: c.RateLimit.IPv6Prefix,
			Exempt:     l.ExemptPrefixes,
		}),
		allow:      l.AllowPrefixes,
		udpSize:    c.Limits.UDPSize,
		logQueries: c.Log.Queries,
	}
	return st
}

// Close stops the background work of the state's forwarders (health probes).
// Queries still in flight on the state may finish.
func (st *State) Close() {
	for _, r := range st.rules {
		r.Forwarder.Close()
	}
}

// Limiter returns the response rate limiter; nil when limiting is off.
func (st *State) Limiter() *ratelimit.Limiter { return st.limiter }

// Resolver returns the query pipeline of the state.
func (st *State) Resolver() *resolve.Resolver { return st.resolver }

// Cache returns the answer cache of the state.
func (st *State) Cache() *cache.Cache { return st.cache }

// Rules returns the forward rules of the state.
func (st *State) Rules() []resolve.Rule { return st.rules }

func (st *State) allowed(client netip.Addr) bool {
	client = client.Unmap()
	for _, p := range st.allow {
		if p.Contains(client) {
			return true
		}
	}
	return false
}
