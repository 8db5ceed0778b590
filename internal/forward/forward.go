// Package forward sends questions to upstream DNS servers and returns their
// answers.
//
// It is written for the Azure DNS virtual server (168.63.129.16) and the facts
// of SPEC.md section 7: Azure drops queries past 200 pending per virtual
// machine, so each upstream has a cap on queries in flight and identical
// questions in flight are merged into one upstream query; Azure's recursion can
// take seconds, so an attempt that times out is not abandoned: a new attempt
// starts beside it (on the next upstream when there is one) and the first good
// answer of any attempt wins, until the total Timeout.
package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Options tune every upstream of a forwarder.
type Options struct {
	// TryTimeout is how long one attempt waits before the next attempt starts
	// beside it. Default 1.5s.
	TryTimeout time.Duration
	// Timeout is the total time to wait for an answer; over 4 seconds by default
	// (5s), as Microsoft advises for forwarders in front of Azure DNS.
	Timeout time.Duration
	// MaxInflight caps the queries in flight to one upstream. Default 100, well
	// under Azure's 200 pending queries per virtual machine.
	MaxInflight int
	// UDPSize is the EDNS0 buffer size offered to upstreams. Default 1232.
	UDPSize uint16
	// Observer, when set, is told of every attempt and merged query.
	Observer Observer
}

// Observer is told what the forwarder does, for metrics. Calls come from the
// query path: they must be quick and safe for concurrent use.
type Observer interface {
	// Attempt reports one attempt to upstream for rule: how long it took and
	// its outcome, one of the Outcome constants.
	Attempt(rule, upstream string, rtt time.Duration, outcome string)
	// Merged reports a query that waited on an identical one in flight.
	Merged(rule string)
}

// Outcomes of an attempt, as Observer.Attempt reports them.
const (
	OutcomeOK       = "ok"
	OutcomeServfail = "servfail"
	OutcomeRefused  = "refused"
	OutcomeTimeout  = "timeout"
	OutcomeNetwork  = "network"
	OutcomeCanceled = "canceled"
)

func outcome(resp *dns.Msg, err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case err != nil:
		return OutcomeNetwork
	case resp.Rcode == dns.RcodeServerFailure:
		return OutcomeServfail
	case resp.Rcode == dns.RcodeRefused:
		return OutcomeRefused
	}
	return OutcomeOK
}

// Defaults for Options.
const (
	DefaultTryTimeout  = 1500 * time.Millisecond
	DefaultTimeout     = 5 * time.Second
	DefaultMaxInflight = 100
	DefaultUDPSize     = 1232
)

func (o Options) withDefaults() Options {
	if o.TryTimeout <= 0 {
		o.TryTimeout = DefaultTryTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.UDPSize == 0 {
		o.UDPSize = DefaultUDPSize
	}
	return o
}

// Errors returned by Exchange.
var (
	// ErrOverloaded means every upstream already has MaxInflight queries.
	ErrOverloaded = errors.New("every upstream is at its in-flight limit")
	// ErrTimeout means no upstream answered within Timeout.
	ErrTimeout = errors.New("no upstream answered in time")
)

// Forwarder sends the questions of one forward rule to its upstreams.
type Forwarder struct {
	name      string // the rule, for logs
	upstreams []*Upstream
	opts      Options
	log       *slog.Logger

	mu       sync.Mutex
	inflight map[flightKey]*flight // guarded by mu

	closed    chan struct{} // closed by Close: probes stop
	closeOnce sync.Once
}

type flightKey struct {
	name          string
	qtype, qclass uint16
	do            bool
}

// flight is one upstream query that several callers wait on.
type flight struct {
	done chan struct{}
	resp *dns.Msg // set before done is closed; shared, never modified
	err  error
	from string // the upstream that answered
}

// New makes a forwarder named name (used in logs) for upstream addresses in
// host:port form (port 53 when missing). A nil log discards.
func New(name string, addrs []string, opts Options, log *slog.Logger) *Forwarder {
	opts = opts.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{name: name, opts: opts, log: log, inflight: map[flightKey]*flight{},
		closed: make(chan struct{})}
	for _, a := range addrs {
		f.upstreams = append(f.upstreams, newUpstream(a, opts.MaxInflight, opts.UDPSize, log))
	}
	return f
}

// Name returns the rule name given to New.
func (f *Forwarder) Name() string { return f.name }

// Upstreams returns the forwarder's upstreams, in configuration order.
func (f *Forwarder) Upstreams() []*Upstream { return f.upstreams }

// Result is an upstream's answer.
type Result struct {
	Msg    *dns.Msg // shared between merged callers: never modify
	From   string   // address of the upstream that answered
	Merged bool     // this caller waited on a query that another caller sent
}

// Exchange asks the upstreams question q, with the DNSSEC OK bit when do is
// set. Identical questions in flight at once share one upstream query. An
// upstream's SERVFAIL or REFUSED moves on to the next upstream; if none gives a
// better answer, the last such answer is returned.
func (f *Forwarder) Exchange(ctx context.Context, q dns.Question, do bool) (Result, error) {
	key := flightKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass, do: do}

	f.mu.Lock()
	if fl, ok := f.inflight[key]; ok {
		f.mu.Unlock()
		if f.opts.Observer != nil {
			f.opts.Observer.Merged(f.name)
		}
		select {
		case <-fl.done:
			return Result{Msg: fl.resp, From: fl.from, Merged: true}, fl.err
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	fl := &flight{done: make(chan struct{})}
	f.inflight[key] = fl
	f.mu.Unlock()

	// The upstream query runs to its own deadline, not the first caller's: other
	// callers may be waiting on it.
	if ctx.Done() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	fl.resp, fl.from, fl.err = f.resolve(ctx, q, do)

	f.mu.Lock()
	delete(f.inflight, key)
	f.mu.Unlock()
	close(fl.done)
	return Result{Msg: fl.resp, From: fl.from}, fl.err
}

type attemptResult struct {
	resp *dns.Msg
	from *Upstream
	err  error

	// For a first attempt still waiting for its answer: the query, and when
	// it was sent.
	pending *pendingUDP
	began   time.Time
}

// resolve runs attempts until one gives a usable answer or the budget passes.
func (f *Forwarder) resolve(ctx context.Context, q dns.Question,
	do bool) (*dns.Msg, string, error) {

	// When every upstream is down, one try and SERVFAIL: the probes notice
	// recovery, and clients (and serve-stale) need a prompt answer meanwhile.
	order, allDown := f.order()
	budget := f.opts.Timeout
	if allDown {
		budget = min(budget, f.opts.TryTimeout)
	}
	start := time.Now()
	deadline := start.Add(budget)

	// The first attempt runs in this goroutine, with nothing set up for the
	// others: the common case is an answer within TryTimeout.
	first := f.firstAttempt(order[0], q, do, start, deadline)
	switch {
	case first.pending == nil && first.from != nil && first.err == nil && usable(first.resp):
		return first.resp, first.from.addr, nil
	case first.pending == nil && first.from != nil && len(order) == 1:
		return f.failed(first)
	}
	return f.resolveConcurrently(ctx, order, q, do, deadline, first)
}

// failed returns the outcome of a query whose attempts all failed: the last
// SERVFAIL or REFUSED an upstream sent, passed on, or else the last error.
func (f *Forwarder) failed(r attemptResult) (*dns.Msg, string, error) {
	if r.err != nil {
		return nil, "", fmt.Errorf("upstream %s: %w", r.from.addr, r.err)
	}
	return r.resp, r.from.addr, nil
}

// resolveConcurrently goes on where the first attempt left off: that attempt
// still waiting for a slow answer (first.pending), failed, or never sent
// (order[0] at its in-flight limit). One more attempt starts each TryTimeout,
// or at once after a quick failure (failover), and the first usable answer
// of any wins until deadline.
func (f *Forwarder) resolveConcurrently(ctx context.Context, order []*Upstream,
	q dns.Question, do bool, deadline time.Time, first attemptResult) (*dns.Msg, string, error) {

	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	maxAttempts := len(order) + int(time.Until(deadline)/f.opts.TryTimeout) + 1
	results := make(chan attemptResult, maxAttempts)
	attempts, running := 0, 0
	sent := false                    // some upstream had room for an attempt
	var won atomic.Pointer[Upstream] // set before returning an answer
	var (
		lastResp *dns.Msg
		lastFrom string
		lastErr  error = ErrTimeout
	)

	start := func() bool {
		for tried := 0; tried < len(order) && attempts < maxAttempts; tried++ {
			u := order[attempts%len(order)]
			attempts++
			if !u.acquire() {
				continue
			}
			sent = true
			running++
			go func() {
				defer u.release()
				start := time.Now()
				resp, err := u.exchange(ctx, q, do, f.opts.UDPSize)
				f.judge(ctx, u, resp, err, time.Since(start), &won)
				results <- attemptResult{resp: resp, from: u, err: err}
			}()
			return true
		}
		return false
	}

	wait := f.opts.TryTimeout
	switch {
	case first.pending != nil:
		// Keep waiting for the slow attempt beside the next one.
		attempts, running, sent = 1, 1, true
		wait = 0 // TryTimeout has passed: the next attempt starts at once
		go func() {
			p, u := first.pending, first.from
			defer u.release()
			resp, err := p.finish(ctx)
			f.judge(ctx, u, resp, err, time.Since(first.began), &won)
			results <- attemptResult{resp: resp, from: u, err: err}
		}()
	case first.from != nil:
		attempts, sent = 1, true
		if first.err != nil {
			lastErr = fmt.Errorf("upstream %s: %w", first.from.addr, first.err)
		} else {
			lastResp, lastFrom = first.resp, first.from.addr
		}
	}
	if running == 0 && !start() {
		if !sent {
			return nil, "", ErrOverloaded
		}
		return lastResp, lastFrom, f.finalErr(lastResp, lastErr)
	}

	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return lastResp, lastFrom, f.finalErr(lastResp, lastErr)

		case <-timer.C:
			// Keep the slow attempt: Azure's recursion may still answer it.
			start()
			timer.Reset(f.opts.TryTimeout)

		case r := <-results:
			running--
			if r.err == nil && usable(r.resp) {
				won.Store(r.from)
				return r.resp, r.from.addr, nil
			}
			if r.err != nil {
				lastErr = fmt.Errorf("upstream %s: %w", r.from.addr, r.err)
			} else {
				lastResp, lastFrom = r.resp, r.from.addr
			}
			if attempts < len(order) && start() {
				timer.Reset(f.opts.TryTimeout)
			} else if running == 0 {
				return lastResp, lastFrom, f.finalErr(lastResp, lastErr)
			}
		}
	}
}

// finalErr is the error to return when no attempt gave a usable answer: none if
// some upstream at least answered (its SERVFAIL or REFUSED is passed on).
func (f *Forwarder) finalErr(lastResp *dns.Msg, lastErr error) error {
	if lastResp != nil {
		return nil
	}
	return lastErr
}

// usable reports whether an answer ends the search: anything but a server
// failure or a refusal, which another upstream may not share.
func usable(m *dns.Msg) bool {
	return m.Rcode != dns.RcodeServerFailure && m.Rcode != dns.RcodeRefused
}

// firstAttempt asks u in the calling goroutine, from began for up to
// TryTimeout (or until deadline, when sooner). The result has from nil when u was at its in-flight
// limit; pending set when u has not answered yet but deadline is still ahead:
// the query is still out, u's in-flight slot still held, for the caller to
// go on waiting. Otherwise it holds u's answer or error, judged.
func (f *Forwarder) firstAttempt(u *Upstream, q dns.Question, do bool,
	began, deadline time.Time) attemptResult {

	if !u.acquire() {
		return attemptResult{}
	}
	r := attemptResult{from: u, began: began}
	query, err := newQuery(q, do, f.opts.UDPSize)
	if err == nil {
		r.pending, err = u.udp.send(u, query)
	}
	if err != nil {
		r.pending, r.err = nil, err
		return f.endFirst(r)
	}

	try := r.began.Add(f.opts.TryTimeout)
	if deadline.Before(try) {
		try = deadline
	}
	r.resp, r.err = r.pending.wait(try)
	if errors.Is(r.err, ErrTimeout) && time.Now().Before(deadline) {
		r.err = nil
		return r // slow: the caller goes on waiting
	}
	r.pending.close()
	r.pending = nil
	if r.err == nil && r.resp.Truncated {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		r.resp, r.err = u.tcpRoundTrip(ctx, query)
		cancel()
	}
	return f.endFirst(r)
}

// endFirst releases the upstream of a first attempt that is over and judges it.
func (f *Forwarder) endFirst(r attemptResult) attemptResult {
	r.from.release()
	f.judge(context.Background(), r.from, r.resp, r.err, time.Since(r.began), nil)
	return r
}

// judge updates the health of u after one attempt and tells the observer. An
// answer marks u up. A timeout or a network error marks it down: so does an
// attempt cut short because another upstream answered first (won), when it
// had already gone a whole TryTimeout without answering. An attempt cut short
// because another attempt to the same upstream answered says nothing against
// it: a slow upstream within Timeout is still a working one. A SERVFAIL or REFUSED
// only moves the query on: it is often about one name, not the server.
func (f *Forwarder) judge(ctx context.Context, u *Upstream, resp *dns.Msg, err error,
	rtt time.Duration, won *atomic.Pointer[Upstream]) {

	oc := outcome(resp, err)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		oc = OutcomeCanceled
		if rtt >= f.opts.TryTimeout && won != nil && won.Load() != u {
			// A whole try without an answer, while another upstream
			// answered: this one timed out, as metrics should show.
			oc = OutcomeTimeout
		}
	}
	if f.opts.Observer != nil {
		f.opts.Observer.Attempt(f.name, u.addr, rtt, oc)
	}

	switch oc {
	case OutcomeOK:
		u.markUp(f.log, f.name)
	case OutcomeTimeout, OutcomeNetwork:
		if u.markFailed(f.log, f.name, err, resp) {
			go f.probe(u)
		}
	}
}

// probe asks a downed upstream for the SOA of the rule's zone until it gives a
// usable answer, then marks it up, so that recovery is noticed without
// sending clients' queries to a dead server. It stops when the forwarder is
// closed.
func (f *Forwarder) probe(u *Upstream) {
	q := dns.Question{Name: dns.Fqdn(f.name), Qtype: dns.TypeSOA, Qclass: dns.ClassINET}
	wait := probeEvery
	for {
		select {
		case <-f.closed:
			return
		case <-time.After(wait):
		}
		// The whole Timeout: an upstream that answers slowly is up.
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
		start := time.Now()
		resp, err := u.exchange(ctx, q, false, f.opts.UDPSize)
		cancel()
		if f.opts.Observer != nil {
			// Counted like any attempt, so that an upstream that stays down
			// keeps showing errors in the metrics.
			f.opts.Observer.Attempt(f.name, u.addr, time.Since(start), outcome(resp, err))
		}
		if err == nil && usable(resp) {
			u.markUp(f.log, f.name)
			return
		}
		wait = min(wait*2, probeMax)
	}
}

// KeepHealth carries over what old knows of the health of the upstreams the
// two forwarders share (same address), so that a reload does not send queries
// to an upstream known to be down and wait a try for it again. A downed
// upstream gets a probe of f's. Call it before f serves queries.
func (f *Forwarder) KeepHealth(old *Forwarder) {
	for _, u := range f.upstreams {
		for _, ou := range old.upstreams {
			if ou.addr != u.addr {
				continue
			}
			ou.mu.Lock()
			fails, down := ou.fails, ou.down
			ou.mu.Unlock()
			u.mu.Lock()
			u.fails, u.down = fails, down
			u.mu.Unlock()
			if down {
				go f.probe(u)
			}
			break
		}
	}
}

// Close stops the forwarder's background probes and closes its upstream
// sockets once the queries on them are over. Queries may still use it.
func (f *Forwarder) Close() {
	f.closeOnce.Do(func() {
		close(f.closed)
		for _, u := range f.upstreams {
			u.udp.Close()
		}
	})
}

// order returns the upstreams to try: healthy ones first, in configuration
// order, then those marked down, so that a dead upstream costs nothing while
// another one answers, yet is still used when it is the only hope. allDown
// reports that no upstream is healthy.
func (f *Forwarder) order() (out []*Upstream, allDown bool) {
	// One look at each upstream's health, so that the order is consistent
	// while probes change it.
	var small [8]bool
	up := small[:0]
	healthy := 0
	for _, u := range f.upstreams {
		h := u.Healthy()
		up = append(up, h)
		if h {
			healthy++
		}
	}
	if healthy == len(f.upstreams) {
		return f.upstreams, false // the common case, shared: callers only read it
	}
	out = make([]*Upstream, 0, len(f.upstreams))
	for i, u := range f.upstreams {
		if up[i] {
			out = append(out, u)
		}
	}
	for i, u := range f.upstreams {
		if !up[i] {
			out = append(out, u)
		}
	}
	return out, healthy == 0
}

// outQuery is a query as sent upstream: its ID and question, to match the
// reply, and its wire form.
type outQuery struct {
	id   uint16
	q    dns.Question
	wire []byte
	buf  [12 + 255 + 4 + 11]byte // header, the longest name, type and class, OPT
}

// newQuery builds the query sent upstream, packed by hand (it is the same
// few fields every time): a fresh random ID (RFC 5452 section 9.2), recursion
// desired, the question, and an EDNS0 OPT record offering udpSize with the DO
// bit when asked.
func newQuery(q dns.Question, do bool, udpSize uint16) (*outQuery, error) {
	oq := &outQuery{id: uint16(rand.Uint32()), q: q}
	buf := oq.buf[:]
	binary.BigEndian.PutUint16(buf[0:], oq.id)
	binary.BigEndian.PutUint16(buf[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(buf[4:], 1)      // QDCOUNT
	binary.BigEndian.PutUint16(buf[10:], 1)     // ARCOUNT: the OPT record
	off, err := dns.PackDomainName(q.Name, buf, 12, nil, false)
	if err != nil {
		return nil, fmt.Errorf("encoding the question %q: %w", q.Name, err)
	}
	binary.BigEndian.PutUint16(buf[off:], q.Qtype)
	binary.BigEndian.PutUint16(buf[off+2:], q.Qclass)
	off += 4
	buf[off] = 0 // OPT owner: the root
	binary.BigEndian.PutUint16(buf[off+1:], dns.TypeOPT)
	binary.BigEndian.PutUint16(buf[off+3:], udpSize)
	binary.BigEndian.PutUint32(buf[off+5:], 0) // extended rcode, version 0, flags
	if do {
		buf[off+7] = 0x80
	}
	binary.BigEndian.PutUint16(buf[off+9:], 0) // no options
	oq.wire = buf[:off+11]
	return oq, nil
}

// setID changes the query's ID, in its wire form too.
func (oq *outQuery) setID(id uint16) {
	oq.id = id
	binary.BigEndian.PutUint16(oq.wire, id)
}

// idOf returns the ID of a packed message, or false when it is too short.
func idOf(msg []byte) (uint16, bool) {
	if len(msg) < 12 {
		return 0, false
	}
	return binary.BigEndian.Uint16(msg), true
}

// matches reports whether resp answers query: a response of opcode QUERY with
// the same ID and the same question, the name compared without case (RFC 5452
// section 9.1).
func matches(query *outQuery, resp *dns.Msg) bool {
	if resp.Id != query.id || !resp.Response || resp.Opcode != dns.OpcodeQuery ||
		len(resp.Question) != 1 {
		return false
	}
	q, r := query.q, resp.Question[0]
	return r.Qtype == q.Qtype && r.Qclass == q.Qclass && strings.EqualFold(r.Name, q.Name)
}

// hostPort adds port 53 to an address without one.
func hostPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), "53")
}
