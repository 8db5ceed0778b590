package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Upstream is one server that a forwarder asks, with its health and its cap
// on queries in flight.
type Upstream struct {
	addr string        // host:port
	sem  chan struct{} // one token per query in flight

	mu        sync.Mutex
	fails     int       // consecutive failures; guarded by mu
	downUntil time.Time // zero when healthy; guarded by mu

	queries, errors atomic.Int64
}

// Health-tracking constants: an upstream is marked down after downAfter
// failures in a row, for a backoff that doubles up to maxBackoff.
const (
	downAfter   = 2
	baseBackoff = 1 * time.Second
	maxBackoff  = 30 * time.Second
)

func newUpstream(addr string, maxInflight int) *Upstream {
	return &Upstream{addr: hostPort(addr), sem: make(chan struct{}, maxInflight)}
}

// Addr returns the upstream's host:port.
func (u *Upstream) Addr() string { return u.addr }

// Inflight returns the number of queries now in flight to the upstream.
func (u *Upstream) Inflight() int { return len(u.sem) }

// Healthy reports whether the upstream is not marked down.
func (u *Upstream) Healthy() bool { return u.healthy(time.Now()) }

func (u *Upstream) healthy(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return !now.Before(u.downUntil)
}

func (u *Upstream) acquire() bool {
	select {
	case u.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (u *Upstream) release() { <-u.sem }

func (u *Upstream) markUp(log *slog.Logger, rule string) {
	u.mu.Lock()
	wasDown := u.fails >= downAfter
	u.fails = 0
	u.downUntil = time.Time{}
	u.mu.Unlock()
	if wasDown {
		log.Info("upstream up", "rule", rule, "upstream", u.addr)
	}
}

func (u *Upstream) markFailed(log *slog.Logger, rule string, err error, resp *dns.Msg) {
	u.errors.Add(1)
	u.mu.Lock()
	u.fails++
	fails := u.fails
	if fails >= downAfter {
		backoff := min(baseBackoff<<(fails-downAfter), maxBackoff)
		u.downUntil = time.Now().Add(backoff)
	}
	u.mu.Unlock()

	reason := "no error"
	if err != nil {
		reason = err.Error()
	} else if resp != nil {
		reason = dns.RcodeToString[resp.Rcode]
	}
	if fails == downAfter {
		log.Warn("upstream down", "rule", rule, "upstream", u.addr, "reason", reason)
	} else {
		log.Debug("upstream attempt failed", "rule", rule, "upstream", u.addr, "reason", reason)
	}
}

// exchange sends one query over UDP from a fresh socket, so that each query has
// a new random source port (RFC 5452 section 9.2), and retries over TCP when
// the answer is truncated. Replies that do not match the query are ignored.
func (u *Upstream) exchange(ctx context.Context, q dns.Question, do bool, udpSize uint16) (*dns.Msg, error) {
	u.queries.Add(1)
	query := newQuery(q, do, udpSize)

	resp, err := u.roundTrip(ctx, "udp", query, udpSize)
	if err != nil {
		return nil, err
	}
	if resp.Truncated {
		return u.roundTrip(ctx, "tcp", query, udpSize)
	}
	return resp, nil
}

var errMismatch = errors.New("reply does not match the query")

func (u *Upstream) roundTrip(ctx context.Context, network string, query *dns.Msg, udpSize uint16) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, u.addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", network, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	// Cancellation of ctx (another attempt won) ends the wait at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	co := &dns.Conn{Conn: conn, UDPSize: udpSize}
	if err := co.WriteMsg(query); err != nil {
		return nil, fmt.Errorf("sending over %s: %w", network, err)
	}
	for {
		resp, err := co.ReadMsg()
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				return nil, ErrTimeout
			}
			if resp == nil || network == "tcp" {
				return nil, fmt.Errorf("reading over %s: %w", network, err)
			}
			continue // a packet that does not parse: keep waiting for the real one
		}
		if matches(query, resp) {
			return resp, nil
		}
		if network == "tcp" {
			return nil, errMismatch
		}
		// On UDP a mismatched reply may be a spoofing attempt: drop it and keep
		// listening for the real one (RFC 5452 section 9.1).
	}
}
