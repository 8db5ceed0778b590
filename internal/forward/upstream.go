package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	udp  socketPool    // idle UDP sockets connected to addr

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

func newUpstream(addr string, maxInflight int) *Upstream {
	u := &Upstream{addr: hostPort(addr), sem: make(chan struct{}, maxInflight)}
	u.udp.addr = u.addr
	u.udp.maxIdle = maxInflight // a socket for every query that may be in flight
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
	p, err := u.sendUDP(query, udpSize)
	if err != nil {
		return nil, err
	}
	return p.finish(ctx)
}

var errMismatch = errors.New("reply does not match the query")

// pendingUDP is a query sent from a pooled socket, waiting for its reply.
type pendingUDP struct {
	u     *Upstream
	sock  *pooledSocket
	query *outQuery
	clean bool // the reply arrived: the socket may serve another query
}

// sendUDP sends query from a socket of the pool.
func (u *Upstream) sendUDP(query *outQuery, udpSize uint16) (*pendingUDP, error) {
	sock, err := u.udp.get()
	if err != nil {
		return nil, fmt.Errorf("opening a UDP socket: %w", err)
	}
	if len(sock.buf) < max(int(udpSize), 512) {
		sock.buf = make([]byte, max(int(udpSize), 512))
	}
	if _, err := sock.conn.Write(query.wire); err != nil {
		u.udp.put(sock, false)
		return nil, fmt.Errorf("sending over udp: %w", err)
	}
	return &pendingUDP{u: u, sock: sock, query: query}, nil
}

// wait reads until the reply that matches the query arrives or deadline
// passes (ErrTimeout). A reply with another ID or question may be a spoofing
// attempt, or a late answer to an earlier query: it is dropped and the wait
// goes on (RFC 5452 section 9.1). The socket is connected, so the kernel drops
// datagrams from any other address. After ErrTimeout, wait may be called
// again with a later deadline: the query is still out.
func (p *pendingUDP) wait(deadline time.Time) (*dns.Msg, error) {
	p.sock.conn.SetReadDeadline(deadline)
	return p.read()
}

// read waits for the reply under the read deadline already set.
func (p *pendingUDP) read() (*dns.Msg, error) {
	buf := p.sock.buf
	for {
		n, err := p.sock.conn.Read(buf)
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				return nil, ErrTimeout
			}
			return nil, fmt.Errorf("reading over udp: %w", err)
		}
		if id, ok := idOf(buf[:n]); !ok || id != p.query.id {
			continue // not ours: no need to parse it
		}
		resp := new(dns.Msg)
		if resp.Unpack(buf[:n]) != nil || !matches(p.query, resp) {
			continue
		}
		p.clean = true
		return resp, nil
	}
}

// close returns the socket to the pool, or closes it when a reply may still
// be on its way.
func (p *pendingUDP) close() { p.u.udp.put(p.sock, p.clean) }

// finish waits for the reply until ctx ends (its cancellation, when another
// attempt won, ends the wait at once), releases the socket, and fetches the
// answer again over TCP when the reply is truncated.
func (p *pendingUDP) finish(ctx context.Context) (*dns.Msg, error) {
	deadline, _ := ctx.Deadline()
	p.sock.conn.SetReadDeadline(deadline)
	// Registered after the deadline is set, so that it cannot be undone.
	stop := context.AfterFunc(ctx, func() { p.sock.conn.SetReadDeadline(time.Now()) })
	resp, err := p.read()
	stop()
	p.close()
	if err != nil {
		return nil, err
	}
	if resp.Truncated {
		return p.u.tcpRoundTrip(ctx, p.query)
	}
	return resp, nil
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
	resp, err := co.ReadMsg()
	if err != nil {
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			return nil, ErrTimeout
		}
		return nil, fmt.Errorf("reading over tcp: %w", err)
	}
	if !matches(query, resp) {
		return nil, errMismatch
	}
	return resp, nil
}

// socketPool keeps connected UDP sockets to one upstream for reuse: opening a
// socket per query costs several system calls, more than the query itself.
// A socket serves one query at a time, goes back to the pool only after a
// clean exchange (so no late reply is pending on it), and is closed after
// maxSocketUses queries, so that the source port still changes often (RFC
// 5452 section 9.2 asks for unpredictable ports; the query ID and the
// question are checked as well).
type socketPool struct {
	addr    string
	maxIdle int
	mu      sync.Mutex
	free    []*pooledSocket // guarded by mu
}

type pooledSocket struct {
	conn *net.UDPConn
	uses int
	buf  []byte // for replies; a reply is parsed before the socket is reused
}

const maxSocketUses = 64

func (p *socketPool) get() (*pooledSocket, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		s.uses++
		return s, nil
	}
	p.mu.Unlock()

	ua, err := net.ResolveUDPAddr("udp", p.addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	return &pooledSocket{conn: c, uses: 1}, nil
}

func (p *socketPool) put(s *pooledSocket, clean bool) {
	if clean && s.uses < maxSocketUses {
		s.conn.SetDeadline(time.Time{})
		p.mu.Lock()
		if len(p.free) < p.maxIdle {
			p.free = append(p.free, s)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	s.conn.Close()
}
