package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnstest"
)

// addressOf answers every A question with an address made from the name, so
// that a caller can tell its own answer from another's.
func addressOf(name string) net.IP {
	var n int
	fmt.Sscanf(name, "q%d.", &n)
	return net.IPv4(10, 0, byte(n/256), byte(n%256))
}

// Replies that come back in another order than the queries went out, on the
// socket the queries share, each reach the query they answer.
func TestSharedSocketRepliesReachTheirQueries(t *testing.T) {
	const n = 40
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		// Gather every query, then answer them last first.
		type query struct {
			msg  *dns.Msg
			from net.Addr
		}
		var got []query
		buf := make([]byte, 1500)
		for len(got) < n {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := new(dns.Msg)
			if req.Unpack(buf[:k]) == nil {
				got = append(got, query{req, from})
			}
		}
		for i := len(got) - 1; i >= 0; i-- {
			m := new(dns.Msg)
			m.SetReply(got[i].msg)
			name := m.Question[0].Name
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: addressOf(name)}}
			out, _ := m.Pack()
			pc.WriteTo(out, got[i].from)
		}
	}()

	f := New("test", []string{pc.LocalAddr().String()}, Options{}, quiet)
	defer f.Close()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("q%d.example.", i)
			res, err := f.Exchange(context.Background(), question(name), false)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if got := res.Msg.Answer[0].(*dns.A).A; !got.Equal(addressOf(name)) {
				t.Errorf("%s: answer %s, want %s", name, got, addressOf(name))
			}
		}()
	}
	wg.Wait()
}

// The source port changes every maxSocketUses queries, and a socket taken out
// of service is closed: one stays open, and none once the forwarder is closed.
func TestSocketReplacedAndClosed(t *testing.T) {
	ports := map[int]bool{}
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		return m
	})
	f := New("test", []string{up.Addr}, Options{}, quiet)
	u := f.Upstreams()[0]

	// The port of each query is read from the mux's current socket after it:
	// dnstest does not report client addresses.
	const queries = 3*maxSocketUses + 1
	for i := 0; i < queries; i++ {
		if _, err := f.Exchange(context.Background(), question(fmt.Sprintf("q%d.example.", i)),
			false); err != nil {
			t.Fatal(err)
		}
		u.udp.mu.Lock()
		ports[u.udp.cur.conn.LocalAddr().(*net.UDPAddr).Port] = true
		u.udp.mu.Unlock()
	}
	if len(ports) != 4 {
		t.Errorf("%d queries used %d source ports, want 4 (a new one every %d)",
			queries, len(ports), maxSocketUses)
	}
	u.udp.mu.Lock()
	open := u.udp.sockets
	u.udp.mu.Unlock()
	if open != 1 {
		t.Errorf("%d sockets open after the queries, want 1", open)
	}

	f.Close()
	u.udp.mu.Lock()
	open = u.udp.sockets
	u.udp.mu.Unlock()
	if open != 0 {
		t.Errorf("%d sockets open after Close, want 0", open)
	}
}

// Two queries in flight on one socket never share an ID: the second one sent
// with a taken ID gets another, and each still gets its own answer.
func TestSharedSocketIDsDistinct(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		name := req.Question[0].Name
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA,
			Class: dns.ClassINET, Ttl: 60}, A: addressOf(name)}}
		return m
	})
	u := newUpstream(up.Addr, 10, DefaultUDPSize, quiet)
	defer u.udp.Close()

	var pending []*pendingUDP
	for i := 1; i <= 2; i++ {
		q, err := newQuery(question(fmt.Sprintf("q%d.example.", i)), false, DefaultUDPSize)
		if err != nil {
			t.Fatal(err)
		}
		q.setID(4242)
		p, err := u.udp.send(u, q)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	if pending[0].query.id != 4242 || pending[1].query.id == 4242 {
		t.Fatalf("IDs %d and %d, want 4242 and another", pending[0].query.id,
			pending[1].query.id)
	}
	for i, p := range pending {
		resp, err := p.wait(time.Now().Add(2 * time.Second))
		p.close()
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("q%d.example.", i+1)
		if got := resp.Answer[0].(*dns.A).A; !got.Equal(addressOf(name)) {
			t.Errorf("%s: answer %s, want %s", name, got, addressOf(name))
		}
	}
}

// An upstream port where nothing listens fails the query at once (the ICMP
// port unreachable reaches the shared socket), not after the try timeout.
func TestClosedPortFailsAtOnce(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()

	opts := Options{TryTimeout: 3 * time.Second, Timeout: 4 * time.Second}
	f := New("test", []string{addr}, opts, quiet)
	defer f.Close()
	start := time.Now()
	_, err = f.Exchange(context.Background(), question("a.example."), false)
	if err == nil {
		t.Fatal("an answer from a closed port")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("failure took %v, want it at once (port unreachable)", d)
	}

	// The next query gets a new socket, and fails just as fast.
	start = time.Now()
	if _, err := f.Exchange(context.Background(), question("b.example."), false); err == nil {
		t.Fatal("an answer from a closed port")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second failure took %v, want it at once", d)
	}
}

// When the port unreachable of one query is reported to the next query's send
// rather than to the reader, the first query fails at once all the same.
func TestClosedPortReportedToSend(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()

	// One P: the reader cannot run between the two sends, so the second send
	// is the first call on the socket after the ICMP error.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	u := newUpstream(addr, 10, DefaultUDPSize, quiet)
	defer u.udp.Close()
	q1, _ := newQuery(question("a.example."), false, DefaultUDPSize)
	q2, _ := newQuery(question("b.example."), false, DefaultUDPSize)
	p1, err := u.udp.send(u, q1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.udp.send(u, q2); err == nil {
		t.Skip("the second send did not see the port unreachable: nothing to test")
	}

	start := time.Now()
	_, err = p1.wait(time.Now().Add(3 * time.Second))
	p1.close()
	if err == nil || errors.Is(err, ErrTimeout) {
		t.Fatalf("first query: %v, want the port unreachable error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("first query failed after %v, want at once", d)
	}
}

// An upstream that sends a UDP answer larger than the EDNS0 size offered
// (120 addresses, 3.6 KB against 1232) is asked again over TCP: the records
// that fit in the read are not taken for the whole answer.
func TestOversizedUDPAnswerRetriedOverTCP(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		name := req.Question[0].Name
		for i := 0; i < 120; i++ {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name,
				Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(10, 0, 0, byte(i))})
		}
		return m // whole over UDP too: the test server ignores the size
	})
	f := New("test", []string{up.Addr}, Options{}, quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("big.example."), false)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Msg.Answer); n != 120 || res.Msg.Truncated {
		t.Errorf("%d records (TC %v), want all 120 over TCP", n, res.Msg.Truncated)
	}
}

// A reply whose header counts more records than it holds is malformed: it is
// dropped, and the well-formed reply that follows is the answer.
func TestReplyWithLyingCountsDropped(t *testing.T) {
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		short := answerOf(req, 1, false)
		binary.BigEndian.PutUint16(short[6:], 3) // ANCOUNT 3, one record
		return [][]byte{short, answerOf(req, 3, false)}
	}, func(*dns.Msg) [][]byte { return nil })

	f := New("test", []string{addr}, Options{}, quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Msg.Answer); n != 3 {
		t.Errorf("%d records, want the 3 of the well-formed reply", n)
	}
}

// Over TCP too, a message that is not the answer is skipped: the answer that
// follows it on the connection is taken.
func TestTCPSkipsMismatchedMessage(t *testing.T) {
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		return [][]byte{answerOf(req, 0, true)}
	}, func(req *dns.Msg) [][]byte {
		right := answerOf(req, 1, false)
		wrong := append([]byte(nil), right...)
		binary.BigEndian.PutUint16(wrong, req.Id+1)
		return [][]byte{wrong, right}
	})

	f := New("test", []string{addr}, Options{}, quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil || len(res.Msg.Answer) != 1 {
		t.Fatalf("res %v err %v, want the answer after the stray message", res.Msg, err)
	}
}

// A TTL with its high bit set is read as zero (RFC 2181 section 8), not as
// the longest lifetime there is.
func TestHighBitTTLReadAsZero(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name,
			Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1<<31 + 5},
			A: net.IPv4(10, 0, 0, 1)}}
		return m
	})
	f := New("test", []string{up.Addr}, Options{}, quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := res.Msg.Answer[0].Header().Ttl; ttl != 0 {
		t.Errorf("TTL %d, want 0", ttl)
	}
}

// rawUpstream serves on one loopback port the raw messages that udp and tcp
// return for each query (nil: none), over UDP and over TCP.
func rawUpstream(t *testing.T, udp, tcp func(req *dns.Msg) [][]byte) string {
	t.Helper()
	pc, l := dnstest.ListenPair(t)
	t.Cleanup(func() { pc.Close(); l.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := new(dns.Msg)
			if req.Unpack(buf[:n]) == nil {
				for _, out := range udp(req) {
					pc.WriteTo(out, addr)
				}
			}
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				co := &dns.Conn{Conn: c}
				req, err := co.ReadMsg()
				if err != nil {
					return
				}
				for _, out := range tcp(req) {
					co.Write(out)
				}
			}()
		}
	}()
	return pc.LocalAddr().String()
}

// answerOf packs a reply to req with n addresses; tc sets the TC bit.
func answerOf(req *dns.Msg, n int, tc bool) []byte {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Truncated = tc
	for i := 1; i <= n; i++ {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name,
			Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, 0, byte(i))})
	}
	out, _ := m.Pack()
	return out
}

// Bytes after the last record of a UDP answer are ignored, not a reason to
// drop the answer.
func TestTrailingBytesIgnored(t *testing.T) {
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		return [][]byte{append(answerOf(req, 1, false), 0, 0, 0)}
	}, func(*dns.Msg) [][]byte { return nil })
	f := New("test", []string{addr}, Options{TryTimeout: time.Second, Timeout: 2 * time.Second},
		quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil || len(res.Msg.Answer) != 1 {
		t.Fatalf("res %v err %v, want the answer despite the trailing bytes", res.Msg, err)
	}
}

// Over TCP too, an answer with fewer records than it counts is skipped.
func TestTCPLyingCountsSkipped(t *testing.T) {
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		return [][]byte{answerOf(req, 0, true)}
	}, func(req *dns.Msg) [][]byte {
		short := answerOf(req, 1, false)
		binary.BigEndian.PutUint16(short[6:], 3)
		return [][]byte{short, answerOf(req, 3, false)}
	})
	f := New("test", []string{addr}, Options{}, quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil || len(res.Msg.Answer) != 3 {
		t.Fatalf("res %v err %v, want the 3 records of the whole answer", res.Msg, err)
	}
}

// An answer truncated even over TCP fails that name like a SERVFAIL: the
// upstream is not marked down for it.
func TestTruncatedOverTCPIsServfail(t *testing.T) {
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		return [][]byte{answerOf(req, 0, true)}
	}, func(req *dns.Msg) [][]byte {
		return [][]byte{answerOf(req, 2, true)}
	})
	f := New("test", []string{addr}, Options{}, quiet)
	defer f.Close()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil || res.Msg.Rcode != dns.RcodeServerFailure || len(res.Msg.Answer) != 0 {
		t.Fatalf("res %v err %v, want SERVFAIL without records", res.Msg, err)
	}
	if !f.Upstreams()[0].Healthy() {
		t.Error("one name truncated over TCP marked the upstream down")
	}
}
