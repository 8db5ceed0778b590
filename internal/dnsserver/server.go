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
	"github.com/pedns/pedns/internal/wire"
)

// Server answers DNS queries over UDP and TCP.
type Server struct {
	log   *slog.Logger
	state atomic.Pointer[State]

	queries chan struct{} // one token per query being answered
	tcpConn chan struct{} // one token per open TCP connection

	mu        sync.Mutex
	udp       []*net.UDPConn // guarded by mu
	tcp       []net.Listener // guarded by mu
	handlers  sync.WaitGroup // queries and connections in progress
	ready     atomic.Bool
	refused   atomic.Int64
	closeOnce sync.Once
}

// New makes a server for the loaded configuration l. It does not listen yet.
func New(l *config.Loaded, log *slog.Logger) *Server {
	s := &Server{
		log:     log,
		queries: make(chan struct{}, l.Limits.Queries),
		tcpConn: make(chan struct{}, l.Limits.TCPConnections),
	}
	s.state.Store(NewState(l, nil, log))
	return s
}

// State returns the configuration now in force.
func (s *Server) State() *State { return s.state.Load() }

// Reload swaps in the configuration l. Queries in flight finish on the old one.
// Listen addresses and the limits on connections and concurrent queries are
// fixed at start: a change to them is logged and takes a restart.
func (s *Server) Reload(l *config.Loaded) {
	old := s.state.Load()
	s.state.Store(NewState(l, old, s.log))
	if fmt.Sprint(old.Config.Listen) != fmt.Sprint(l.Listen) ||
		old.Config.Limits.Queries != l.Limits.Queries ||
		old.Config.Limits.TCPConnections != l.Limits.TCPConnections {
		s.log.Warn("listen addresses and query or connection limits change only on restart",
			"file", l.File)
	}
}

// Ready reports whether every listener is bound.
func (s *Server) Ready() bool { return s.ready.Load() }

// Refused returns the number of queries refused by the access list.
func (s *Server) Refused() int64 { return s.refused.Load() }

func (s *Server) metricRefused() { s.refused.Add(1) }

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
		uc, err := net.ListenUDP("udp", uaddr)
		if err != nil {
			s.closeLocked()
			return fmt.Errorf("listening on UDP %s: %w", addr, err)
		}
		s.udp = append(s.udp, uc)
		// Bind TCP to the port UDP got, which matters when addr asked for port 0.
		tl, err := net.Listen("tcp", uc.LocalAddr().String())
		if err != nil {
			s.closeLocked()
			return fmt.Errorf("listening on TCP %s: %w", addr, err)
		}
		s.tcp = append(s.tcp, tl)
	}
	return nil
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
	s.Close()

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
	return nil
}

// Close closes every listener.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Server) closeLocked() {
	for _, c := range s.udp {
		c.Close()
	}
	for _, l := range s.tcp {
		l.Close()
	}
}

// maxUDPQuery is the largest UDP query read; anything longer is cut and then
// fails to parse.
const maxUDPQuery = 4096

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxUDPQuery); return &b }}

// serveUDP reads queries from c. A query the reply cache can answer is
// answered right here, without a goroutine or an allocation; any other goes to
// a goroutine of its own, at most Limits.Queries at once.
func (s *Server) serveUDP(c *net.UDPConn) {
	var (
		q   wire.Query
		buf = make([]byte, 0, dns.MaxMsgSize)
	)
	for {
		bp := bufPool.Get().(*[]byte)
		n, client, err := c.ReadFromUDPAddrPort(*bp)
		if err != nil {
			bufPool.Put(bp)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("UDP read failed", "error", err)
			continue
		}

		packet := (*bp)[:n]
		st := s.state.Load()
		parsed := wire.ParseQuery(packet, &q)
		if reply := st.fast(packet, client.Addr(), true, &q, parsed, buf, s.log); reply != nil {
			if _, err := c.WriteToUDPAddrPort(reply, client); err != nil {
				s.log.Debug("UDP write failed", "client", client, "error", err)
			}
			bufPool.Put(bp)
			continue
		}

		s.queries <- struct{}{}
		s.handlers.Add(1)
		go func(q wire.Query) {
			defer func() {
				bufPool.Put(bp)
				<-s.queries
				s.handlers.Done()
			}()
			reply := s.slow(context.Background(), st, packet, client.Addr(), true, &q, parsed)
			if reply != nil {
				if _, err := c.WriteToUDPAddrPort(reply, client); err != nil {
					s.log.Debug("UDP write failed", "client", client, "error", err)
				}
			}
		}(q)
	}
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
		select {
		case s.tcpConn <- struct{}{}:
		default:
			s.log.Debug("TCP connection limit reached", "client", conn.RemoteAddr())
			conn.Close()
			continue
		}
		s.handlers.Add(1)
		go func() {
			defer func() {
				conn.Close()
				<-s.tcpConn
				s.handlers.Done()
			}()
			s.serveConn(conn)
		}()
	}
}

// serveConn answers the queries of one TCP connection (RFC 7766): several may
// be in flight at once and their replies may come back in any order.
func (s *Server) serveConn(conn net.Conn) {
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

		slots <- struct{}{}
		pending.Add(1)
		go func() {
			defer func() {
				<-slots
				pending.Done()
			}()
			reply := s.Handle(context.Background(), msg, client, false)
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
