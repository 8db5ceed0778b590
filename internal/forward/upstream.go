package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Upstream is one server that a forwarder asks, with its health and its cap
// on queries in flight.
type Upstream struct {
	addr string        // host:port
	sem  chan struct{} // one token per query in flight
	udp  *udpMux       // the UDP sockets to addr

	mu    sync.Mutex
	fails int  // consecutive failures; guarded by mu
	down  bool // marked down, a probe running; guarded by mu

}

// Health tracking: an upstream is marked down after downAfter failures in a
// row. A probe then asks it every probeEvery, backing off to probeMax, until
// it answers; real queries go to it only when every upstream is down.
const (
	downAfter  = 1
	probeEvery = 500 * time.Millisecond
	probeMax   = 15 * time.Second
)

func newUpstream(addr string, maxInflight int, udpSize uint16, log *slog.Logger) *Upstream {
	u := &Upstream{addr: hostPort(addr), sem: make(chan struct{}, maxInflight)}
	u.udp = newUDPMux(u.addr, udpSize, log)
	return u
}

// Addr returns the upstream's host:port.
func (u *Upstream) Addr() string { return u.addr }

// Inflight returns the number of queries now in flight to the upstream.
func (u *Upstream) Inflight() int { return len(u.sem) }

// Healthy reports whether the upstream is not marked down.
func (u *Upstream) Healthy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return !u.down
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
	wasDown := u.down
	u.fails, u.down = 0, false
	u.mu.Unlock()
	if wasDown {
		log.Info("upstream up", "rule", rule, "upstream", u.addr)
	}
}

// markFailed counts a failed attempt. It returns true when this failure marks
// the upstream down, which the caller answers by starting a probe.
func (u *Upstream) markFailed(log *slog.Logger, rule string, err error, resp *dns.Msg) bool {
	u.mu.Lock()
	u.fails++
	wentDown := !u.down && u.fails >= downAfter
	if wentDown {
		u.down = true
	}
	u.mu.Unlock()

	reason := "slower than the try timeout"
	if err != nil {
		reason = err.Error()
	} else if resp != nil {
		reason = dns.RcodeToString[resp.Rcode]
	}
	if wentDown {
		log.Warn("upstream down", "rule", rule, "upstream", u.addr, "reason", reason)
	} else {
		log.Debug("upstream attempt failed", "rule", rule, "upstream", u.addr, "reason", reason)
	}
	return wentDown
}

// exchange sends one query over UDP and retries over TCP when the answer is
// truncated. Replies that do not match the query are ignored.
func (u *Upstream) exchange(ctx context.Context, q dns.Question, do bool,
	udpSize uint16) (*dns.Msg, error) {

	query, err := newQuery(q, do, udpSize)
	if err != nil {
		return nil, err
	}
	p, err := u.udp.send(u, query)
	if err != nil {
		return nil, err
	}
	return p.finish(ctx)
}

// finish waits for the reply until ctx ends (its cancellation, when another
// attempt won, ends the wait at once; either way the result is ErrTimeout),
// and fetches the answer again over TCP when the reply is truncated.
func (p *pendingUDP) finish(ctx context.Context) (*dns.Msg, error) {
	var resp *dns.Msg
	var err error
	select {
	case r := <-p.reply:
		resp, err = p.result(r)
	case <-ctx.Done():
		err = ErrTimeout
	}
	p.close()
	if err != nil {
		return nil, err
	}
	if resp.Truncated {
		return p.u.tcpRoundTrip(ctx, p.query)
	}
	return resp, nil
}

// fixTTLs sets to zero every TTL of resp with the high bit set: RFC 2181
// section 8 has them read as zero, not as the longest lifetime. resp is fresh
// from the parser, not yet shared.
func fixTTLs(resp *dns.Msg) {
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range section {
			if h := rr.Header(); h.Ttl > math.MaxInt32 && h.Rrtype != dns.TypeOPT {
				h.Ttl = 0
			}
		}
	}
}

// tcpRoundTrip sends query over a new TCP connection.
func (u *Upstream) tcpRoundTrip(ctx context.Context, query *outQuery) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, fmt.Errorf("dialing tcp: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	co := &dns.Conn{Conn: conn}
	if _, err := co.Write(query.wire); err != nil {
		return nil, fmt.Errorf("sending over tcp: %w", err)
	}
	// A message that is not the answer (another ID or question, fewer
	// records than it counts) is skipped, as over UDP; the connection's
	// deadline bounds the wait.
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, err := co.Read(buf)
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				return nil, ErrTimeout
			}
			return nil, fmt.Errorf("reading over tcp: %w", err)
		}
		resp := parseAnswer(buf[:n], nil)
		if resp == nil || !matches(query, resp) {
			continue
		}
		if resp.Truncated {
			// Too large even for TCP, or a broken upstream: a failure of this
			// name, like a SERVFAIL, not of the upstream.
			resp.Rcode = dns.RcodeServerFailure
			resp.Answer, resp.Ns, resp.Extra = nil, nil, nil
		}
		return resp, nil
	}
}
