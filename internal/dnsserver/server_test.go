package dnsserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/dnstest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testConfig = `listen: ["127.0.0.1:0"]
allow: ["127.0.0.0/8"]
limits: {tcp_idle_timeout: 300ms}
zones:
  - name: corp.example
    records: |
      www 300 IN A 10.0.0.1
`

func newServer(t testing.TB, text string) *Server {
	t.Helper()
	l, err := config.Parse([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return New(l, quiet)
}

// running starts s on loopback and stops it when the test ends.
func running(t testing.TB, s *Server) string {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Serve(ctx, time.Second)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s.Addrs()[0]
}

var loopback = netip.MustParseAddr("127.0.0.1")

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func pack(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleRcodes(t *testing.T) {
	s := newServer(t, testConfig)
	valid := pack(t, query("www.corp.example.", dns.TypeA))

	withOpcode := query("www.corp.example.", dns.TypeA)
	withOpcode.Opcode = dns.OpcodeNotify
	noQuestion := query("www.corp.example.", dns.TypeA)
	noQuestion.Question = nil
	twoQuestions := query("www.corp.example.", dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, twoQuestions.Question[0])
	badVersion := query("www.corp.example.", dns.TypeA)
	badVersion.SetEdns0(1232, false)
	badVersion.IsEdns0().SetVersion(1)
	response := query("www.corp.example.", dns.TypeA)
	response.Response = true

	tests := []struct {
		name   string
		packet []byte
		rcode  int // -1: dropped
	}{
		{name: "valid", packet: valid, rcode: dns.RcodeSuccess},
		{name: "short header", packet: valid[:5], rcode: -1},
		{name: "header only, counts lie", packet: valid[:12], rcode: dns.RcodeFormatError},
		{name: "question cut before its class", packet: valid[:len(valid)-2],
			rcode: dns.RcodeFormatError},
		{name: "a response", packet: pack(t, response), rcode: -1},
		{name: "unknown opcode", packet: pack(t, withOpcode), rcode: dns.RcodeNotImplemented},
		{name: "QDCOUNT 0", packet: pack(t, noQuestion), rcode: dns.RcodeFormatError},
		{name: "QDCOUNT 2", packet: pack(t, twoQuestions), rcode: dns.RcodeFormatError},
		{name: "EDNS version 1", packet: pack(t, badVersion), rcode: dns.RcodeBadVers},
		{name: "compression loop", packet: rawQuestion([]byte{0xc0, 12}),
			rcode: dns.RcodeFormatError},
		{name: "pointer past the end", packet: rawQuestion([]byte{0xc0, 200}),
			rcode: dns.RcodeFormatError},
		{name: "label over 63", packet: rawQuestion(append([]byte{64}, make([]byte, 65)...)),
			rcode: dns.RcodeFormatError},
		{name: "name over 255", packet: rawQuestion(longName(300)), rcode: dns.RcodeFormatError},
		{name: "trailing garbage", packet: append(append([]byte(nil), valid...), 1, 2, 3),
			rcode: dns.RcodeFormatError},
		{name: "counts that lie", packet: func() []byte {
			b := append([]byte(nil), valid...)
			b[7] = 3 // ANCOUNT 3, no records
			return b
		}(), rcode: dns.RcodeFormatError},
		{name: "two OPT records", packet: func() []byte {
			m := query("www.corp.example.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.Extra = append(m.Extra, m.Extra[0])
			return pack(t, m)
		}(), rcode: dns.RcodeFormatError},
		{name: "OPT not owned by the root", packet: func() []byte {
			m := query("www.corp.example.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.Extra[0].Header().Name = "corp.example."
			return pack(t, m)
		}(), rcode: dns.RcodeFormatError},
		{name: "AXFR refused", packet: pack(t, query("corp.example.", dns.TypeAXFR)),
			rcode: dns.RcodeRefused},
		{name: "CHAOS class refused", packet: func() []byte {
			m := query("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			return pack(t, m)
		}(), rcode: dns.RcodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := s.Handle(context.Background(), tc.packet, loopback, true)
			if tc.rcode == -1 {
				if out != nil {
					t.Errorf("got a reply, want the packet dropped")
				}
				return
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(out); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s",
					dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			if resp.Id != binary.BigEndian.Uint16(tc.packet) || !resp.Response {
				t.Errorf("reply ID %d / QR %v does not match the query", resp.Id, resp.Response)
			}
		})
	}
}

// rawQuestion builds a query header with QDCOUNT 1 followed by name as given
// and type A, class IN: for names that no encoder would produce.
func rawQuestion(name []byte) []byte {
	b := []byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	b = append(b, name...)
	return append(b, 0, 1, 0, 1)
}

// longName is a wire name of about n bytes in labels of 50.
func longName(n int) []byte {
	var b []byte
	for len(b) < n {
		b = append(b, 50)
		b = append(b, make([]byte, 50)...)
		for i := len(b) - 50; i < len(b); i++ {
			b[i] = 'a'
		}
	}
	return append(b, 0)
}

func TestHandleANYIsMinimal(t *testing.T) {
	s := newServer(t, testConfig)
	pkt := pack(t, query("www.corp.example.", dns.TypeANY))
	out := s.Handle(context.Background(), pkt, loopback, true)
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 || resp.Answer[0].Header().Rrtype != dns.TypeHINFO {
		t.Errorf("ANY answer %v, want one HINFO (RFC 8482)", resp.Answer)
	}
}

func TestRefusedIsNeverLargerThanQuery(t *testing.T) {
	s := newServer(t, "allow: [\"10.0.0.0/8\"]\n")
	for _, edns := range []bool{false, true} {
		q := query("www.corp.example.", dns.TypeA)
		if edns {
			q.SetEdns0(4096, true)
		}
		in := pack(t, q)
		out := s.Handle(context.Background(), in, loopback, true)
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatal(err)
		}
		if resp.Rcode != dns.RcodeRefused || len(out) > len(in) {
			t.Errorf("edns=%v: rcode %s, %d bytes for a %d-byte query", edns,
				dns.RcodeToString[resp.Rcode], len(out), len(in))
		}
	}
	// Garbage from a refused client gets nothing at all.
	garbage := []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0x3f, 0xff}
	if out := s.Handle(context.Background(), garbage, loopback, true); out != nil {
		t.Errorf("reply to garbage from a refused client")
	}
}

func TestTCPPipelinedAndIdleTimeout(t *testing.T) {
	addr := running(t, newServer(t, testConfig))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Two queries written back to back before reading any reply.
	co := &dns.Conn{Conn: conn}
	q1, q2 := query("www.corp.example.", dns.TypeA), query("nope.corp.example.", dns.TypeA)
	q2.Id = q1.Id + 1
	if err := co.WriteMsg(q1); err != nil {
		t.Fatal(err)
	}
	if err := co.WriteMsg(q2); err != nil {
		t.Fatal(err)
	}
	got := map[uint16]int{}
	for i := 0; i < 2; i++ {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := co.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		got[resp.Id] = resp.Rcode
	}
	if got[q1.Id] != dns.RcodeSuccess || got[q2.Id] != dns.RcodeNameError {
		t.Errorf("replies by ID %v", got)
	}

	// Then silence: the server closes the connection after the idle timeout.
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("read data from an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("connection still open after %v, want it closed after 300ms", time.Since(start))
	}
}

func TestReloadSwapsState(t *testing.T) {
	s := newServer(t, testConfig)
	addr := running(t, s)
	ask := func() string {
		resp, err := dns.Exchange(query("www.corp.example.", dns.TypeA), addr)
		if err != nil || len(resp.Answer) != 1 {
			t.Fatalf("resp %v err %v", resp, err)
		}
		return resp.Answer[0].(*dns.A).A.String()
	}
	if got := ask(); got != "10.0.0.1" {
		t.Fatalf("before: %s", got)
	}
	changed := testConfig[:len(testConfig)-len("10.0.0.1\n")] + "10.0.0.2\n"
	l, err := config.Parse([]byte(changed), "t2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Reload(l)
	if got := ask(); got != "10.0.0.2" {
		t.Errorf("after reload: %s", got)
	}
}

// A query that the fast parser accepts is rebuilt from its wire form for the
// slow path: the result must equal what the full parser makes of it.
func TestQueryFromWireMatchesUnpack(t *testing.T) {
	for _, m := range []*dns.Msg{
		query("WwW.Corp.Example.", dns.TypeA),
		func() *dns.Msg {
			m := query("x.example.", dns.TypeAAAA)
			m.SetEdns0(4096, true)
			m.CheckingDisabled = true
			m.RecursionDesired = false
			return m
		}(),
	} {
		pkt := pack(t, m)
		var q wireQuery
		if !parseQuery(pkt, &q) {
			t.Fatal("fast parser refused a plain query")
		}
		fast, full := new(dns.Msg), new(dns.Msg)
		queryFromWire(fast, pkt, &q)
		if err := full.Unpack(pkt); err != nil {
			t.Fatal(err)
		}
		if fast.String() != full.String() {
			t.Errorf("rebuilt query\n%s\nwant\n%s", fast, full)
		}
	}
}

// Replies are compressed (RFC 1035 section 4.1.4) even when they would fit
// without it: smaller on the wire for the client and every hop after.
func TestRepliesAreCompressed(t *testing.T) {
	s := newServer(t, testConfig)
	q := query("www.corp.example.", dns.TypeA)
	out := s.Handle(context.Background(), pack(t, q), loopback, true)
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		t.Fatal(err)
	}
	resp.Compress = false
	plain, _ := resp.Pack()
	if len(out) >= len(plain) {
		t.Errorf("reply of %d bytes, uncompressed %d: want it compressed", len(out), len(plain))
	}
}

// A reload keeps what the running configuration knows of upstream health, for
// the rules it keeps, even when their upstreams change around the downed one.
func TestReloadKeepsUpstreamHealth(t *testing.T) {
	dead := dnstest.Silent(t)
	live := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	conf := func(upstreams ...string) *config.Loaded {
		text := fmt.Sprintf("forward:\n  - zones: [example]\n    upstreams: [%s]\n"+
			"upstream: {try_timeout: 200ms, timeout: 1s}\n", strings.Join(upstreams, ", "))
		l, err := config.Parse([]byte(text), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	s := New(conf(strconv.Quote(dead.Addr), strconv.Quote(live.Addr)), quiet)
	defer s.Close()
	downed := func() bool { return !s.State().Rules()[0].Forwarder.Upstreams()[0].Healthy() }
	s.State().Resolver().Resolve(context.Background(),
		dns.Question{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, false)
	for wait := time.Now().Add(2 * time.Second); !downed() && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	if !downed() {
		t.Fatal("the silent upstream was not marked down")
	}

	s.Reload(conf(strconv.Quote(dead.Addr), strconv.Quote(live.Addr), `"127.0.0.1:1"`))
	if !downed() {
		t.Error("after the reload the silent upstream is taken for healthy again")
	}
}
