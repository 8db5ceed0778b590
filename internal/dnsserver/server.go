// Package dnsserver runs the DNS listeners of pedns serve: UDP and TCP on each
// listen address, the access list, limits on connections and concurrent
// queries, graceful shutdown, and the atomic swap of configuration on reload.
package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/forward"
	"github.com/pedns/pedns/internal/ratelimit"
	"github.com/pedns/pedns/internal/resolve"
	"github.com/pedns/pedns/internal/udpbatch"
	"github.com/pedns/pedns/internal/wire"
)

// Server answers DNS queries over UDP and TCP.
type Server struct {
	log         *slog.Logger
	state       atomic.Pointer[State]
	started     config.Config    // the configuration the listeners and limits come from
	observer    Observer         // may be nil
	fwdObserver forward.Observer // may be nil

	queries chan struct{} // one token per slow-path worker or query being answered
	jobs    chan udpJob   // UDP queries for idle slow-path workers
	// tcpQueries holds one token per TCP query on the slow path.
	tcpQueries chan struct{}
	closed     chan struct{} // closed by Close
	tcpConn    chan struct{} // one token per open TCP connection

	tcpMu      sync.Mutex
	tcpClients map[*tcpClient]struct{} // open TCP connections; guarded by tcpMu

	mu         sync.Mutex
	udp        []*net.UDPConn // guarded by mu
	tcp        []net.Listener // guarded by mu
	handlers   sync.WaitGroup // queries and connections in progress
	ready      atomic.Bool
	stopping   atomic.Bool // Serve is draining: read loops end
	refused    atomic.Int64
	overloaded atomic.Int64 // UDP queries answered SERVFAIL at Limits.Queries
	reloads    atomic.Int64
	replyHits  atomic.Int64 // queries answered from the reply cache
	closeOnce  sync.Once
}

// New makes a server for the loaded configuration l. It does not listen yet.
func New(l *config.Loaded, log *slog.Logger, opts ...Option) *Server {
	s := &Server{
		log:     log,
		queries: make(chan struct{}, l.Limits.Queries),
		tcpConn: make(chan struct{}, l.Limits.TCPConnections),
		jobs:    make(chan udpJob),

		tcpQueries: make(chan struct{}, l.Limits.Queries),

		tcpClients: map[*tcpClient]struct{}{},
		closed:     make(chan struct{}),
	}
	s.started = l.Config
	for _, o := range opts {
		o(s)
	}
	s.state.Store(NewState(l, nil, log, s.fwdObserver))
	return s
}

// State returns the configuration now in force.
func (s *Server) State() *State { return s.state.Load() }

// Reload swaps in the configuration l. Queries in flight finish on the old one.
// Listen addresses and the limits on connections and concurrent queries are
// fixed at start: a change to them is logged and takes a restart.
func (s *Server) Reload(l *config.Loaded) {
	old := s.state.Load()
	s.state.Store(NewState(l, old, s.log, s.fwdObserver))
	old.Close()
	s.reloads.Add(1)
	if fmt.Sprint(s.started.Listen) != fmt.Sprint(l.Listen) ||
		s.started.Limits.Queries != l.Limits.Queries ||
		s.started.Limits.TCPConnections != l.Limits.TCPConnections {
		s.log.Warn("listen addresses and query or connection limits change only on restart: "+
			"still serving with those of the start", "file", l.File, "listening", s.Addrs())
	}
}

// Ready reports whether every listener is bound.
func (s *Server) Ready() bool { return s.ready.Load() }

// Overloaded returns the number of UDP queries answered SERVFAIL because
// Limits.Queries were already being answered.
func (s *Server) Overloaded() int64 { return s.overloaded.Load() }

// ReplyHits returns the number of queries answered from the reply cache of
// packed replies, across reloads.
func (s *Server) ReplyHits() int64 { return s.replyHits.Load() }

// Reloads returns the number of configurations swapped in by Reload.
func (s *Server) Reloads() int64 { return s.reloads.Load() }

// Refused returns the number of queries refused by the access list.
func (s *Server) Refused() int64 { return s.refused.Load() }

// Listen binds UDP and TCP on every listen address of the configuration. On
// error, nothing stays bound.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, addr := range s.state.Load().Config.Listen {
		uaddr, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			s.closeLocked()
			return fmt.Errorf("listen address %s: %w", addr, err)
		}
		uc, tl, err := bindPair(uaddr)
		if err != nil {
			s.closeLocked()
			return fmt.Errorf("listen address %s: %w", addr, err)
		}
		// A large receive buffer absorbs bursts; the kernel may cap it.
		uc.SetReadBuffer(udpReadBuffer)
		s.udp = append(s.udp, uc)
		s.tcp = append(s.tcp, tl)
	}
	return nil
}

// bindPair binds UDP on uaddr and TCP on the port UDP got. With port 0 the
// kernel picks the UDP port, which may be in use for TCP (an outgoing
// connection holds it): then it tries another pick, a few times.
func bindPair(uaddr *net.UDPAddr) (*net.UDPConn, net.Listener, error) {
	for try := 0; ; try++ {
		uc, err := net.ListenUDP("udp", uaddr)
		if err != nil {
			return nil, nil, fmt.Errorf("listening on UDP: %w", err)
		}
		tl, err := net.Listen("tcp", uc.LocalAddr().String())
		if err == nil {
			return uc, tl, nil
		}
		uc.Close()
		if uaddr.Port != 0 || try == 9 {
			return nil, nil, fmt.Errorf("listening on TCP: %w", err)
		}
	}
}

// Addrs returns the bound UDP addresses (TCP uses the same ports).
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.udp))
	for i, c := range s.udp {
		out[i] = c.LocalAddr().String()
	}
	return out
}

// Serve answers queries on the bound listeners until ctx ends, then stops
// accepting, waits up to drain for the queries in flight, and returns.
func (s *Server) Serve(ctx context.Context, drain time.Duration) error {
	s.mu.Lock()
	for _, c := range s.udp {
		go s.serveUDP(c)
	}
	for _, l := range s.tcp {
		go s.serveTCP(l)
	}
	s.mu.Unlock()
	s.ready.Store(true)
	for _, a := range s.Addrs() {
		s.log.Info("listening", "addr", a, "transports", "udp,tcp")
	}

	<-ctx.Done()
	s.ready.Store(false)
	s.stopAccepting()

	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.log.Info("stopped", "drained", true)
	case <-time.After(drain):
		s.log.Warn("stopped with queries still in flight", "waited", drain)
	}
	s.Close()
	return nil
}

// stopAccepting ends the read loops and closes the TCP listeners, but keeps the
// UDP sockets open so that queries in flight can still send their replies.
func (s *Server) stopAccepting() {
	s.stopping.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.udp {
		c.SetReadDeadline(time.Now())
	}
	for _, l := range s.tcp {
		l.Close()
	}
}

// Close closes every listener.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Server) closeLocked() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.state.Load().Close()
	})
	for _, c := range s.udp {
		c.Close()
	}
	for _, l := range s.tcp {
		l.Close()
	}
}

// udpReadBuffer is the socket receive buffer asked for on UDP listeners.
const udpReadBuffer = 4 << 20

// maxUDPQuery is the largest UDP query read; anything longer is cut and then
// fails to parse.
const maxUDPQuery = 4096

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxUDPQuery); return &b }}

// udpBatch is how many datagrams one system call reads or writes (recvmmsg and
// sendmmsg on Linux): under load one call serves many queries.
const udpBatch = 32

// serveUDP reads queries from c in batches. A query the reply cache can answer
// is answered in the same pass, without a goroutine or an allocation of its own,
// and the replies of one batch leave in one call; any other query goes to a
// goroutine of its own, at most Limits.Queries at once.
func (s *Server) serveUDP(c *net.UDPConn) {
	io := udpbatch.New(c, udpBatch)
	bufs := make([][]byte, udpBatch)
	lens := make([]int, udpBatch)
	from := make([]netip.AddrPort, udpBatch)
	outBufs := make([][]byte, udpBatch)
	for i := range bufs {
		bufs[i] = make([]byte, maxUDPQuery)
		outBufs[i] = make([]byte, 0, maxUDPQuery) // grows for the rare larger reply
	}
	out := make([][]byte, 0, udpBatch)
	to := make([]netip.AddrPort, 0, udpBatch)
	var q wire.Query
	for {
		n, err := io.Read(bufs, lens, from)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.stopping.Load() {
				return
			}
			s.log.Debug("UDP read failed", "error", err)
			continue
		}

		st := s.state.Load()
		now := time.Now().UnixNano()
		out, to = out[:0], to[:0]
		for i := 0; i < n; i++ {
			packet, client := bufs[i][:lens[i]], from[i]
			parsed := wire.ParseQuery(packet, &q)
			buf := outBufs[len(out)][:0]
			reply := s.fast(st, packet, client.Addr(), true, &q, parsed, buf, now)
			if reply == nil {
				s.slowUDP(c, st, packet, client, q, parsed)
				continue
			}
			switch st.limiter.Check(client.Addr(), now) {
			case ratelimit.Drop:
				continue
			case ratelimit.Truncate:
				reply = questionOnly(buf, packet[:q.QEnd], dns.RcodeSuccess, true)
			}
			out, to = append(out, reply), append(to, client)
		}
		if len(out) > 0 {
			if err := io.Write(out, to); err != nil {
				s.log.Debug("UDP write failed", "error", err)
			}
		}
	}
}

// udpJob is a UDP query for the slow path.
type udpJob struct {
	conn   *net.UDPConn
	st     *State
	bp     *[]byte // pooled buffer holding packet
	packet []byte
	client netip.AddrPort
	q      wire.Query
	parsed bool
}

// workerIdle is how long a slow-path worker waits for work before it exits.
const workerIdle = 30 * time.Second

// slowUDP hands one query to a slow-path worker, on a copy of packet. Workers
// are long-lived goroutines, so their stacks have already grown to what a
// forwarded query needs; a new worker starts only when every worker is busy,
// up to Limits.Queries of them; beyond that the query gets SERVFAIL at once.
func (s *Server) slowUDP(c *net.UDPConn, st *State, packet []byte, client netip.AddrPort,
	q wire.Query, parsed bool) {

	bp := bufPool.Get().(*[]byte)
	j := udpJob{conn: c, st: st, bp: bp, packet: (*bp)[:copy(*bp, packet)], client: client,
		q: q, parsed: parsed}
	s.handlers.Add(1)
	// An idle worker first; only when none waits, a new one. (One select
	// with both cases would pick at random and start workers needlessly.)
	select {
	case s.jobs <- j:
		return
	default:
	}
	select {
	case s.queries <- struct{}{}:
		go s.worker(j)
	default:
		// Every worker is busy and no more may start: SERVFAIL at once rather
		// than stall the read loop, which also answers cached and local
		// names.
		s.handlers.Done()
		if reply := s.overload(st, packet, client.Addr(), &q, parsed); reply != nil {
			c.WriteToUDPAddrPort(reply, client)
		}
		bufPool.Put(bp)
	}
}

// handleTCP answers one query of a TCP connection: from the reply cache when
// it can, else through the slow path, within the same Limits.Queries as UDP
// (counted apart, as TCP queries hold no worker).
func (s *Server) handleTCP(packet []byte, client netip.Addr) []byte {
	st := s.state.Load()
	var q wire.Query
	parsed := wire.ParseQuery(packet, &q)
	now := time.Now().UnixNano()
	if out := s.fast(st, packet, client, false, &q, parsed, nil, now); out != nil {
		return out
	}
	select {
	case s.tcpQueries <- struct{}{}:
		defer func() { <-s.tcpQueries }()
	default:
		return s.overload(st, packet, client, &q, parsed)
	}
	return s.slow(context.Background(), st, packet, client, false, &q, parsed)
}

// overload answers a query that arrives while Limits.Queries are already
// being answered: SERVFAIL at once, counted and observed like any answer.
func (s *Server) overload(st *State, packet []byte, client netip.Addr, q *wire.Query,
	parsed bool) []byte {

	s.overloaded.Add(1)
	if !parsed {
		return nil
	}
	s.observe(st, QueryEvent{Client: client, Qtype: q.Qtype, Rcode: dns.RcodeServerFailure,
		Source: resolve.SourceNone})
	return questionOnly(nil, packet[:q.QEnd], dns.RcodeServerFailure, false)
}

// worker answers slow-path jobs until it has been idle for workerIdle or the
// server closes.
func (s *Server) worker(j udpJob) {
	defer func() { <-s.queries }()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.runJob(&j)
		idle.Reset(workerIdle)
		select {
		case j = <-s.jobs:
		case <-idle.C:
			return
		case <-s.closed:
			return
		}
	}
}

func (s *Server) runJob(j *udpJob) {
	defer func() {
		bufPool.Put(j.bp)
		s.handlers.Done()
	}()
	reply := s.slow(context.Background(), j.st, j.packet, j.client.Addr(), true, &j.q, j.parsed)
	if reply != nil {
		switch j.st.limiter.Check(j.client.Addr(), time.Now().UnixNano()) {
		case ratelimit.Drop:
			return
		case ratelimit.Truncate:
			if !j.parsed {
				return
			}
			reply = questionOnly(nil, j.packet[:j.q.QEnd], dns.RcodeSuccess, true)
		}
		if _, err := j.conn.WriteToUDPAddrPort(reply, j.client); err != nil {
			s.log.Debug("UDP write failed", "client", j.client, "error", err)
		}
	}
}

// questionOnly writes into buf a reply made of the header and question of
// query (packed up to the end of its question) and nothing else, with QR and
// RA set, the opcode and RD kept, and the given rcode and TC bit. It serves
// the replies pedns builds without the full path: the rate limiter's
// truncated slip (TC, so that a real client retries over TCP) and the
// SERVFAIL of an overloaded server.
func questionOnly(buf, query []byte, rcode int, tc bool) []byte {
	out := append(buf[:0], query...)
	out[2] = 0x80 | out[2]&0x79 // QR; keep opcode and RD
	if tc {
		out[2] |= 0x02
	}
	out[3] = 0x80 | byte(rcode&0x0f) // RA
	for i := 6; i < headerLen; i++ {
		out[i] = 0 // no answer, authority or additional records
	}
	return out
}

// maxPipelined caps the queries of one TCP connection answered at once.
const maxPipelined = 32

func (s *Server) serveTCP(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("TCP accept failed", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !s.admitTCP() {
			s.log.Debug("TCP connection limit reached", "client", conn.RemoteAddr())
			conn.Close()
			continue
		}

		tc := &tcpClient{conn: conn}
		tc.lastActive.Store(time.Now().UnixNano())
		s.tcpMu.Lock()
		s.tcpClients[tc] = struct{}{}
		s.tcpMu.Unlock()
		s.handlers.Add(1)
		go func() {
			defer func() {
				conn.Close()
				s.tcpMu.Lock()
				delete(s.tcpClients, tc)
				s.tcpMu.Unlock()
				<-s.tcpConn
				s.handlers.Done()
			}()
			s.serveConn(tc)
		}()
	}
}

// tcpClient is one open TCP connection, as the connection limit sees it.
type tcpClient struct {
	conn       net.Conn
	lastActive atomic.Int64 // unix nanoseconds of the last query read
	pending    atomic.Int32 // queries read and not yet answered
}

// admitTCP takes a connection slot. At the limit it closes the connection that
// has been idle longest, with no query pending, to make room: otherwise a
// client holding connections open would lock every other client out of TCP,
// the transport that truncated and rate-limited answers depend on.
func (s *Server) admitTCP() bool {
	select {
	case s.tcpConn <- struct{}{}:
		return true
	default:
	}

	var victim *tcpClient
	s.tcpMu.Lock()
	for tc := range s.tcpClients {
		if tc.pending.Load() == 0 &&
			(victim == nil || tc.lastActive.Load() < victim.lastActive.Load()) {
			victim = tc
		}
	}
	s.tcpMu.Unlock()
	if victim == nil {
		return false
	}
	s.log.Debug("TCP connection limit reached: closing the longest idle connection",
		"client", victim.conn.RemoteAddr())
	victim.conn.Close()

	select {
	case s.tcpConn <- struct{}{}:
		return true
	case <-time.After(time.Second):
		return false
	}
}

// serveConn answers the queries of one TCP connection (RFC 7766): several may
// be in flight at once and their replies may come back in any order.
func (s *Server) serveConn(tc *tcpClient) {
	conn := tc.conn
	client := netip.Addr{}
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		client = ap.Addr()
	}
	idle := s.state.Load().Config.Limits.TCPIdleTimeout.D()

	var (
		wmu     sync.Mutex
		pending sync.WaitGroup
		slots   = make(chan struct{}, maxPipelined)
	)
	defer pending.Wait()
	for {
		conn.SetReadDeadline(time.Now().Add(idle))
		var lenBuf [2]byte
		if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return
		}
		tc.lastActive.Store(time.Now().UnixNano())

		slots <- struct{}{}
		pending.Add(1)
		tc.pending.Add(1)
		go func() {
			defer func() {
				tc.pending.Add(-1)
				<-slots
				pending.Done()
			}()
			reply := s.handleTCP(msg, client)
			if reply == nil {
				return
			}
			out := make([]byte, 2+len(reply))
			binary.BigEndian.PutUint16(out, uint16(len(reply)))
			copy(out[2:], reply)
			wmu.Lock()
			conn.SetWriteDeadline(time.Now().Add(idle))
			conn.Write(out)
			wmu.Unlock()
		}()
	}
}
