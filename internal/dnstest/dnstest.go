// Package dnstest starts small DNS servers on loopback for tests: upstreams
// that answer from a function, count their queries, or stay silent.
package dnstest

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a DNS server on 127.0.0.1 (UDP and TCP on the same port) that a
// test started. It stops when the test ends.
type Server struct {
	Addr    string // 127.0.0.1:port
	queries atomic.Int64
}

// Queries returns how many queries the server received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// ListenPair listens on one loopback port for UDP and for TCP, as a DNS
// server does. The port is the kernel's pick for UDP; when that port is taken
// for TCP (by a connection of another test, say), it tries a new one.
func ListenPair(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	var lastErr error
	for try := 0; try < 20; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listening on UDP: %v", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
		lastErr = err
	}
	t.Fatalf("dnstest: listening on TCP beside UDP: %v", lastErr)
	return nil, nil
}

// Start runs handler for each query on a fresh loopback port. A nil reply from
// handler means silence: the query is dropped, as by a dead upstream.
func Start(t testing.TB, handler func(req *dns.Msg) *dns.Msg) *Server {
	t.Helper()
	pc, l := ListenPair(t)

	s := &Server{Addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.queries.Add(1)
		if resp := handler(req); resp != nil {
			w.WriteMsg(resp)
		}
	})
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// Silent starts a server that reads queries and never answers.
func Silent(t testing.TB) *Server {
	return Start(t, func(*dns.Msg) *dns.Msg { return nil })
}

// Records starts a server that answers each query from zone-file lines the way
// a recursive upstream does: the records of the question's type at its name
// (compared without case), following CNAMEs through the same lines, NXDOMAIN
// when the last name reached has no line at all, and RA set.
func Records(t testing.TB, lines ...string) *Server {
	t.Helper()
	var rrs []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("dnstest: record %q: %v", l, err)
		}
		rrs = append(rrs, rr)
	}
	return Start(t, func(req *dns.Msg) *dns.Msg {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		q := req.Question[0]
		name := q.Name
		for hops := 0; hops < 8; hops++ {
			found, next := false, ""
			for _, rr := range rrs {
				h := rr.Header()
				if !strings.EqualFold(h.Name, name) {
					continue
				}
				found = true
				if h.Rrtype == q.Qtype {
					resp.Answer = append(resp.Answer, rr)
				} else if h.Rrtype == dns.TypeCNAME {
					resp.Answer = append(resp.Answer, rr)
					next = rr.(*dns.CNAME).Target
				}
			}
			if !found {
				resp.Rcode = dns.RcodeNameError
			}
			if next == "" || q.Qtype == dns.TypeCNAME {
				break
			}
			name = next
		}
		return resp
	})
}

// WaitUDP waits until a DNS server answers on addr, or fails the test after
// timeout.
func WaitUDP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("ready.check.", dns.TypeA)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, _, err := c.Exchange(m, addr); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dnstest: no DNS answer from %s within %v", addr, timeout)
}
