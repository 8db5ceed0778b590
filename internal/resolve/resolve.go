// Package resolve is the query pipeline of pedns serve.
//
// For each name in a question it asks, in this order, the first source that
// owns the name:
//
//  1. hosts: a name listed in a hosts file, for every type (NODATA for types
//     other than A, AAAA and PTR);
//  2. the local zone with the longest apex that contains the name;
//  3. the forward rule with the longest zone that contains the name, through
//     the cache; a rule for "." is the default.
//
// Where a local zone and a forward rule share a suffix, the longer one wins; at
// the same apex the zone wins, and its fallthrough option hands names it does
// not have to the longest forward rule. A name that no source owns is REFUSED.
//
// CNAME chasing: a local source (hosts, zone) never follows a CNAME itself, so
// its target always goes through the pipeline again. An upstream's answer is
// used whole, CNAME chain and all, unless a CNAME target in it belongs to a
// local source or to another explicit forward rule (the "." rule does not
// count); the answer is then cut after that CNAME and the target is resolved
// through the pipeline. This is how a public workspace name forwarded upstream
// ends at the private address of a local Private Link zone. The whole chain is
// returned; loops and chains longer than MaxChain give SERVFAIL.
package resolve

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/cache"
	"github.com/pedns/pedns/internal/forward"
	"github.com/pedns/pedns/internal/hosts"
	"github.com/pedns/pedns/internal/zone"
)

// Source names, as logs, metrics and the chain report them.
const (
	SourceHosts   = "hosts"
	SourceZone    = "zone"
	SourceCache   = "cache"
	SourceForward = "forward"
	SourceStale   = "stale"
	SourceNone    = "none"
)

// Defaults for Options.
const (
	DefaultMaxChain  = 8
	DefaultStaleTTL  = 30 // seconds, as RFC 8767 section 4 suggests
	DefaultStaleWait = 1800 * time.Millisecond
)

// Rule is one forward rule: the zones it serves and the forwarder for them.
type Rule struct {
	Zones     []string // lower-case FQDNs; "." is the default rule
	Forwarder *forward.Forwarder
}

// Options are the sources and limits of a Resolver.
type Options struct {
	Hosts *hosts.Hosts // may be nil
	Zones []*zone.Zone
	Rules []Rule
	Cache *cache.Cache // may be nil: no caching
	// MaxChain bounds the names followed through CNAMEs. Default 8.
	MaxChain int
	// Budget bounds a whole resolution, CNAME steps included: no new step
	// starts after it has passed (each upstream exchange has its own
	// timeout). 0 means no bound.
	Budget time.Duration
	// StaleTTL is the TTL of answers served stale (RFC 8767). Default 30.
	StaleTTL uint32
	// StaleWait is how long a query with an expired answer at hand waits for
	// the upstreams before it gets the expired answer. Default 1.8s, the
	// client response timer of RFC 8767 section 5: under the 2 to 5 seconds
	// after which stub resolvers give up.
	StaleWait time.Duration
	Log       *slog.Logger
}

// Resolver answers questions through the pipeline. It is immutable after New
// and safe for concurrent use.
type Resolver struct {
	hosts     *hosts.Hosts
	zones     map[string]*zone.Zone         // apex -> zone
	rules     map[string]*forward.Forwarder // zone -> forwarder
	cache     *cache.Cache
	maxChain  int
	budget    time.Duration
	staleTTL  uint32
	staleWait time.Duration
	log       *slog.Logger
	now       func() time.Time
}

// New builds a resolver from its sources.
func New(opts Options) *Resolver {
	r := &Resolver{
		hosts:     opts.Hosts,
		zones:     map[string]*zone.Zone{},
		rules:     map[string]*forward.Forwarder{},
		cache:     opts.Cache,
		maxChain:  opts.MaxChain,
		budget:    opts.Budget,
		staleTTL:  opts.StaleTTL,
		staleWait: opts.StaleWait,
		log:       opts.Log,
		now:       time.Now,
	}
	if r.maxChain <= 0 {
		r.maxChain = DefaultMaxChain
	}
	if r.staleTTL == 0 {
		r.staleTTL = DefaultStaleTTL
	}
	if r.staleWait <= 0 {
		r.staleWait = DefaultStaleWait
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, z := range opts.Zones {
		r.zones[z.Origin()] = z
	}
	for _, rule := range opts.Rules {
		for _, name := range rule.Zones {
			r.rules[strings.ToLower(dns.Fqdn(name))] = rule.Forwarder
		}
	}
	return r
}

// Step is one name of a resolution: which source answered it and how.
type Step struct {
	Name     string // lower-case name asked of the source
	Source   string // one of the Source constants
	Detail   string // the zone apex or forward rule
	Upstream string // the upstream that answered, when forwarded
	Rule     string // the forward rule's zone when the step went through one
	// RefreshAt, for an answer from the cache, is when its entry enters its
	// last tenth of life; zero otherwise.
	RefreshAt time.Time
	Rcode     int      // the source's rcode for this name
	Records   []dns.RR // the records of the chain that this step gave
	Merged    bool     // the upstream query was shared with another client's
	Duration  time.Duration
}

// Answer is the outcome of a whole resolution.
type Answer struct {
	Rcode         int
	Answer        []dns.RR // the whole chain, in order; shared: never modify
	Ns            []dns.RR // authority section of the last step
	Authoritative bool     // every step came from local data
	Steps         []Step
}

// RefreshAt returns the earliest time at which a cached step of the answer
// enters the last tenth of its life, or zero when no step came from the cache.
func (a *Answer) RefreshAt() time.Time {
	var t time.Time
	for _, st := range a.Steps {
		if !st.RefreshAt.IsZero() && (t.IsZero() || st.RefreshAt.Before(t)) {
			t = st.RefreshAt
		}
	}
	return t
}

// Rule returns the forward rule of the step that ended the resolution, empty
// when that step was local.
func (a *Answer) Rule() string {
	if len(a.Steps) == 0 {
		return ""
	}
	return a.Steps[len(a.Steps)-1].Rule
}

// Source returns the source of the step that ended the resolution.
func (a *Answer) Source() string {
	if len(a.Steps) == 0 {
		return SourceNone
	}
	return a.Steps[len(a.Steps)-1].Source
}

// Resolve answers question q, with the DNSSEC OK bit do passed upstream.
func (r *Resolver) Resolve(ctx context.Context, q dns.Question, do bool) Answer {
	var (
		ans   = Answer{Authoritative: true}
		name  = strings.ToLower(q.Name)
		seen  = []string{name}
		start = time.Now()
	)
	for {
		st := r.lookup(ctx, name, q, do)
		if st.source == SourceNone && len(ans.Steps) > 0 {
			// A CNAME target that no source owns: answer with the chain so
			// far, as an authoritative server does for a CNAME out of its
			// zones; the client's resolver follows it on.
			ans.Rcode = ans.Steps[len(ans.Steps)-1].Rcode
			return ans
		}
		chain, next := r.follow(name, q.Qtype, st)
		ans.Answer = append(ans.Answer, chain...)
		ans.Authoritative = ans.Authoritative && st.local
		ans.Steps = append(ans.Steps, Step{Name: name, Source: st.source, Detail: st.detail,
			Upstream: st.upstream,
			Rule:     st.ruleName, Rcode: st.rcode, Records: chain, Merged: st.merged,
			Duration: st.duration, RefreshAt: st.refreshAt})

		if next == "" {
			ans.Rcode, ans.Ns = st.rcode, st.ns
			return ans
		}
		if r.budget > 0 && time.Since(start) > r.budget {
			r.log.Info("resolution over its time budget", "qname", q.Name, "at", next,
				"budget", r.budget)
			ans.Rcode, ans.Answer, ans.Ns = dns.RcodeServerFailure, nil, nil
			ans.Authoritative = false
			return ans
		}
		if contains(seen, next) || len(seen) >= r.maxChain {
			r.log.Debug("CNAME chain loops or is too long", "qname", q.Name, "at", next,
				"length", len(seen))
			ans.Rcode, ans.Answer, ans.Ns = dns.RcodeServerFailure, nil, nil
			ans.Authoritative = false
			return ans
		}
		seen = append(seen, next)
		name = next
	}
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// step is one source's answer for one name.
type step struct {
	rcode     int
	answer    []dns.RR
	ns        []dns.RR
	local     bool               // from hosts or a zone
	rule      *forward.Forwarder // the rule that forwarded, nil for local answers
	ruleName  string             // that rule's zone
	upstream  string             // the upstream that answered
	refreshAt time.Time          // see Step.RefreshAt
	source    string
	detail    string
	merged    bool
	duration  time.Duration
}

// lookup asks the source that owns name.
func (r *Resolver) lookup(ctx context.Context, name string, q dns.Question, do bool) step {
	if r.hosts != nil {
		if rrs, ok := r.hosts.Lookup(name, q.Qtype); ok {
			return step{answer: rrs, local: true, source: SourceHosts}
		}
	}

	z, fwd, rule := r.route(name)
	if z != nil {
		res := z.Lookup(name, q.Qtype)
		if res.Rcode != dns.RcodeNameError || !z.Fallthrough {
			return step{rcode: res.Rcode, answer: res.Answer, ns: res.Ns, local: true,
				source: SourceZone, detail: z.Origin()}
		}
		fwd, rule = r.ruleFor(name)
		if fwd == nil {
			return step{rcode: res.Rcode, ns: res.Ns, local: true, source: SourceZone,
				detail: z.Origin()}
		}
	}
	if fwd == nil {
		return step{rcode: dns.RcodeRefused, source: SourceNone}
	}
	return r.forward(ctx, name, q, do, fwd, rule)
}

// forward answers name from the cache or from the rule's upstreams.
func (r *Resolver) forward(ctx context.Context, name string, q dns.Question, do bool,
	fwd *forward.Forwarder, rule string) step {

	key := cache.Key{Name: name, Qtype: q.Qtype, Qclass: q.Qclass, DO: do}
	if r.cache == nil {
		return r.fetch(ctx, key, fwd, rule)
	}
	c, ok := r.cache.Get(key, r.now())
	switch {
	case !ok:
		return r.fetch(ctx, key, fwd, rule)
	case !c.Stale:
		if c.Prefetch {
			go r.fetch(context.Background(), key, fwd, rule)
		}
		return step{rcode: c.Rcode, answer: c.Answer, ns: c.Ns, rule: fwd,
			source: SourceCache, detail: rule, ruleName: rule, refreshAt: c.RefreshAt}
	}

	// An expired answer is at hand: give the upstreams StaleWait to refresh it
	// (RFC 8767 section 5, the client response timer), then serve it stale
	// while the refresh goes on in the background and fills the cache.
	fresh := make(chan step, 1)
	go func() { fresh <- r.fetch(context.WithoutCancel(ctx), key, fwd, rule) }()
	timer := time.NewTimer(r.staleWait)
	defer timer.Stop()
	select {
	case st := <-fresh:
		if st.rcode != dns.RcodeServerFailure {
			return st
		}
	case <-timer.C:
	}
	r.log.Warn("serving stale answer", "qname", name, "qtype", dns.TypeToString[q.Qtype],
		"rule", rule)
	return step{rcode: c.Rcode, answer: withTTL(c.Answer, r.staleTTL),
		ns: withTTL(c.Ns, r.staleTTL), rule: fwd, source: SourceStale, detail: rule,
		ruleName: rule}
}

// fetch asks the rule's upstreams for key and caches the answer.
func (r *Resolver) fetch(ctx context.Context, key cache.Key, fwd *forward.Forwarder,
	rule string) step {

	start := r.now()
	q := dns.Question{Name: key.Name, Qtype: key.Qtype, Qclass: key.Qclass}
	res, err := fwd.Exchange(ctx, q, key.DO)
	end := r.now()
	elapsed := end.Sub(start)
	if err != nil {
		level := slog.LevelInfo
		if errors.Is(err, forward.ErrOverloaded) {
			level = slog.LevelWarn
		}
		r.log.Log(ctx, level, "upstream failed", "qname", key.Name,
			"qtype", dns.TypeToString[key.Qtype], "rule", rule, "error", err)
		return step{rcode: dns.RcodeServerFailure, rule: fwd, source: SourceForward,
			detail: rule, ruleName: rule, duration: elapsed}
	}

	answer, loop := chainOf(key.Name, key.Qtype, key.Qclass, res.Msg.Answer)
	if loop {
		r.log.Debug("upstream answer has a CNAME loop", "qname", key.Name, "rule", rule)
		return step{rcode: dns.RcodeServerFailure, rule: fwd,
			source: SourceForward, detail: rule, upstream: res.From, ruleName: rule,
			duration: elapsed}
	}
	rcode, ns := res.Msg.Rcode, negativeAuthority(res.Msg.Ns, key.Qclass)
	if r.cache != nil {
		// Serve what the cache keeps, TTLs clamped, so that a reply reused by
		// the fast path expires with the cache entry.
		msg := &dns.Msg{MsgHdr: res.Msg.MsgHdr, Answer: answer, Ns: ns}
		if res.Merged {
			answer, ns = r.cache.Clamp(msg, key.Qtype)
		} else {
			answer, ns = r.cache.Set(key, msg, end)
		}
	}
	return step{rcode: rcode, answer: answer, ns: ns, rule: fwd, source: SourceForward,
		detail: rule, upstream: res.From, ruleName: rule, merged: res.Merged,
		duration: elapsed}
}

// withTTL sets the TTL of records that the cache copied for this caller.
func withTTL(rrs []dns.RR, ttl uint32) []dns.RR {
	for _, rr := range rrs {
		rr.Header().Ttl = ttl
	}
	return rrs
}

// negativeAuthority keeps what a negative answer needs from an upstream's
// authority section: the SOA (RFC 2308) and, for DNSSEC-aware clients, the
// NSEC and NSEC3 records and signatures that prove the denial (RFC 4035
// section 3.1.3). NS records from a recursive upstream are neither needed nor
// to be trusted in a cache; nor are records of another class than the question's.
func negativeAuthority(ns []dns.RR, qclass uint16) []dns.RR {
	keeps := func(rr dns.RR) bool {
		switch rr.Header().Rrtype {
		case dns.TypeSOA, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeRRSIG:
			return rr.Header().Class == qclass
		}
		return false
	}
	keep := 0
	for _, rr := range ns {
		if keeps(rr) {
			keep++
		}
	}
	if keep == 0 {
		return nil
	}
	out := make([]dns.RR, 0, keep)
	for _, rr := range ns {
		if keeps(rr) {
			out = append(out, rr)
		}
	}
	return out
}

// route returns the zone, or else the forward rule, with the longest suffix of
// name. rule is the forward rule's zone.
func (r *Resolver) route(name string) (z *zone.Zone, fwd *forward.Forwarder, rule string) {
	walkSuffixes(name, func(suffix string) bool {
		if z = r.zones[suffix]; z != nil {
			return true
		}
		fwd, rule = r.rules[suffix], suffix
		return fwd != nil
	})
	if fwd == nil {
		rule = ""
	}
	return z, fwd, rule
}

// ruleFor returns the forward rule with the longest zone that contains name.
func (r *Resolver) ruleFor(name string) (fwd *forward.Forwarder, rule string) {
	walkSuffixes(name, func(suffix string) bool {
		fwd, rule = r.rules[suffix], suffix
		return fwd != nil
	})
	if fwd == nil {
		rule = ""
	}
	return fwd, rule
}

// walkSuffixes calls found with name and then each shorter suffix of it, down
// to the root ".", until found returns true. No suffix allocates: each is a
// slice of name.
func walkSuffixes(name string, found func(suffix string) bool) {
	for off := 0; ; {
		suffix := name[off:]
		if off == len(name) {
			suffix = "."
		}
		if found(suffix) || off == len(name) {
			return
		}
		var end bool
		off, end = dns.NextLabel(name, off)
		if end {
			off = len(name)
		}
	}
}

// chases reports whether a CNAME target in an answer from st must be resolved
// through the pipeline rather than taken from the rest of that answer.
func (r *Resolver) chases(target string, st step) bool {
	if st.local {
		return true
	}
	if r.hosts != nil && r.hosts.Has(target) {
		return true
	}
	z, fwd, rule := r.route(target)
	switch {
	case z != nil:
		return true
	case fwd == nil || fwd == st.rule || rule == ".":
		return false
	}
	return true
}

// follow walks the CNAME chain of st's answer from name. It returns the records
// to keep and, when the chain leaves for another source, the name to resolve
// next (empty when the resolution ends here).
func (r *Resolver) follow(name string, qtype uint16, st step) (chain []dns.RR, next string) {
	// Every source hands back a chain already: zones and hosts answer for the
	// name alone, and upstream answers were cut by chainOf before caching.
	chain = st.answer
	if qtype == dns.TypeCNAME {
		return chain, ""
	}
	for _, rr := range chain {
		cname, ok := rr.(*dns.CNAME)
		if !ok {
			continue
		}
		target := strings.ToLower(cname.Target)
		if r.chases(target, st) {
			// Keep the records up to and including this CNAME.
			for i, kept := range chain {
				if kept == rr {
					return chain[:i+1], target
				}
			}
		}
	}
	return chain, ""
}

// isChain reports whether answer is exactly a chain from name, in order:
// CNAMEs each leading to the next owner, then only records of qtype (and
// signatures) at the last name, nothing else.
func isChain(name string, qtype, qclass uint16, answer []dns.RR) bool {
	cur := name
	for i, rr := range answer {
		h := rr.Header()
		if h.Class != qclass || !strings.EqualFold(h.Name, cur) {
			return false
		}
		switch {
		case h.Rrtype == qtype || h.Rrtype == dns.TypeRRSIG:
		case h.Rrtype == dns.TypeCNAME && qtype != dns.TypeCNAME:
			cur = rr.(*dns.CNAME).Target
			for _, prev := range answer[:i] {
				if strings.EqualFold(prev.Header().Name, cur) {
					return false // a loop: leave it to the full walk
				}
			}
		default:
			return false
		}
	}
	return true
}

// chainOf returns the records of answer that belong to the chain starting at
// name: the CNAMEs that lead on from it, and the records of type qtype (and
// their signatures) at each name reached. Anything else an upstream put in its
// answer section is dropped, so that it can neither be cached nor served,
// records of another class than qclass included. loop reports a CNAME chain
// that comes back to a name it passed.
func chainOf(name string, qtype, qclass uint16,
	answer []dns.RR) (chain []dns.RR, loop bool) {

	if len(answer) == 0 {
		return nil, false
	}
	if isChain(name, qtype, qclass, answer) {
		return answer, false // the common case: already the chain, in order
	}
	chain = make([]dns.RR, 0, len(answer))
	cur := name
	var seen []string
	for {
		var target string
		for _, rr := range answer {
			h := rr.Header()
			if h.Class != qclass || !strings.EqualFold(h.Name, cur) {
				continue
			}
			switch {
			case h.Rrtype == qtype || qtype == dns.TypeANY:
				chain = append(chain, rr)
			case h.Rrtype == dns.TypeCNAME && target == "":
				chain = append(chain, rr)
				target = rr.(*dns.CNAME).Target
			case h.Rrtype == dns.TypeRRSIG:
				chain = append(chain, rr)
			}
		}
		if target == "" || qtype == dns.TypeCNAME {
			return chain, false
		}
		seen = append(seen, strings.ToLower(cur))
		cur = target
		if contains(seen, strings.ToLower(cur)) {
			return chain, true
		}
	}
}
