package dnsserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/dnstest"
)

// A client flooding over UDP is rate limited; a second client on another
// address keeps getting its answers in normal time.
func TestFloodingClientDoesNotStarveOthers(t *testing.T) {
	s := newServer(t, testConfig+
		"rate_limit: {responses_per_second: 200, slip: 2, ipv4_prefix: 32, exempt: []}\n")
	addr := running(t, s)
	server, _ := net.ResolveUDPAddr("udp", addr)

	flooder, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer flooder.Close()
	pkt := pack(t, query("www.corp.example.", dns.TypeA))

	// Read what comes back to the flooder, counting answers and truncated slips.
	var answers, slips int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			flooder.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := flooder.Read(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil {
				continue
			}
			if m.Truncated {
				slips++
			} else {
				answers++
			}
		}
	}()

	// A bounded flood, 5,000 queries at about 10,000 a second (fifty times the
	// limit; paced so that it fills the server's rate limiter rather than the
	// kernel's socket buffer, which would drop anyone's packets), while the
	// other client asks 20 times.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 5000; i++ {
			flooder.WriteToUDP(pkt, server)
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	other := &dns.Client{Timeout: time.Second, Dialer: &net.Dialer{
		LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.3")}}}
	slow := 0
	for i := 0; i < 20; i++ {
		m := query("www.corp.example.", dns.TypeA)
		resp, rtt, err := other.Exchange(m, addr)
		if err != nil || len(resp.Answer) != 1 {
			t.Fatalf("well-behaved client, query %d: %v %v", i, resp, err)
		}
		if rtt > 200*time.Millisecond {
			slow++
		}
	}
	<-done
	wg.Wait()

	if slow > 2 {
		t.Errorf("%d of 20 answers to the well-behaved client took over 200ms", slow)
	}
	// The bucket holds one second (200); the flood lasts well under a few
	// seconds, so most of the 5,000 must have been limited.
	if answers > 1500 || slips == 0 {
		t.Errorf("flooder got %d answers and %d truncated slips; want it limited", answers, slips)
	}
	if s.State().Limiter().Limited() == 0 {
		t.Error("limiter counted nothing")
	}
}

// A client that holds more idle TCP connections than the limit cannot lock
// others out: the longest idle one is closed to admit a new client.
func TestTCPConnectionLimit(t *testing.T) {
	s := newServer(t, "listen: [\"127.0.0.1:0\"]\n"+
		"limits: {tcp_connections: 5, tcp_idle_timeout: 30s}\n"+
		"zones:\n  - name: corp.example\n    records: |\n      www 300 IN A 10.0.0.1\n")
	addr := running(t, s)

	var hogs []net.Conn
	for i := 0; i < 8; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hogs = append(hogs, c)
		time.Sleep(10 * time.Millisecond)
	}
	defer func() {
		for _, c := range hogs {
			c.Close()
		}
	}()

	client := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	for i := 0; i < 3; i++ {
		resp, _, err := client.Exchange(query("www.corp.example.", dns.TypeA), addr)
		if err != nil || len(resp.Answer) != 1 {
			t.Fatalf("new client %d after %d idle connections: %v %v", i, len(hogs), resp, err)
		}
	}
}

// Shutdown drains: a forwarded query in flight when the server is told to stop
// still gets its answer over UDP.
func TestShutdownDrainsUDP(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		time.Sleep(400 * time.Millisecond)
		m := new(dns.Msg)
		m.SetReply(req)
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 10.0.0.9")
		m.Answer = []dns.RR{rr}
		return m
	})
	s := newServer(t, fmt.Sprintf("listen: [\"127.0.0.1:0\"]\n"+
		"forward: [{zones: [\".\"], upstreams: [%q]}]\n", up.Addr))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		s.Serve(ctx, 3*time.Second)
		close(served)
	}()
	addr := s.Addrs()[0]
	dnstest.WaitUDP(t, addr, 2*time.Second)

	got := make(chan *dns.Msg, 1)
	go func() {
		resp, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(
			query("slow.example.", dns.TypeA), addr)
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	time.Sleep(150 * time.Millisecond)
	cancel()

	if resp := <-got; resp == nil || len(resp.Answer) != 1 {
		t.Errorf("query in flight at shutdown got %v, want its answer", resp)
	}
	<-served
}

// When every slow-path worker is busy, a query that needs one gets SERVFAIL at
// once, and local answers keep flowing.
func TestWorkerLimitDoesNotStallLocalAnswers(t *testing.T) {
	release := make(chan struct{})
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		<-release
		return nil
	})
	defer close(release)
	s := newServer(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
limits: {queries: 2}
upstream: {try_timeout: 2s, timeout: 4s}
forward: [{zones: ["."], upstreams: [%q]}]
zones:
  - name: corp.example
    records: |
      www 300 IN A 10.0.0.1
`, up.Addr))
	addr := running(t, s)
	c := &dns.Client{Timeout: time.Second}
	if _, _, err := c.Exchange(query("www.corp.example.", dns.TypeA), addr); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		go c.Exchange(query(fmt.Sprintf("slow%d.example.", i), dns.TypeA), addr)
	}
	time.Sleep(200 * time.Millisecond)

	// A name the slow path would have to answer: SERVFAIL at once.
	start := time.Now()
	resp, _, err := c.Exchange(query("nope.corp.example.", dns.TypeA), addr)
	if err != nil || resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("with every worker busy: %v %v, want SERVFAIL", resp, err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("SERVFAIL took %v, want it at once", d)
	}

	// A name answered before: from the reply cache, as usual.
	start = time.Now()
	resp, _, err = c.Exchange(query("www.corp.example.", dns.TypeA), addr)
	if err != nil || len(resp.Answer) != 1 {
		t.Fatalf("cached local name with every worker busy: %v %v", resp, err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("reply took %v with every worker busy, want it at once", d)
	}
	if s.Overloaded() == 0 {
		t.Error("no overloaded query counted")
	}
}

// A thousand clients asking the same uncached name at once cost the upstream
// one query (SPEC.md section 7: Azure DNS drops what it cannot take).
func TestThousandClientsOneUpstreamQuery(t *testing.T) {
	release := make(chan struct{})
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		<-release
		m := new(dns.Msg)
		m.SetReply(req)
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 10.0.0.5")
		m.Answer = []dns.RR{rr}
		return m
	})
	s := newServer(t, fmt.Sprintf("forward: [{zones: [\".\"], upstreams: [%q]}]\n", up.Addr))
	pkt := pack(t, query("popular.example.", dns.TypeA))

	var wg sync.WaitGroup
	answers := make(chan int, 1000)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := new(dns.Msg)
			out := s.Handle(context.Background(), pkt, loopback, true)
			if err := resp.Unpack(out); err != nil {
				t.Error(err)
				return
			}
			answers <- len(resp.Answer)
		}()
	}
	time.Sleep(300 * time.Millisecond) // every client waits on the one query
	close(release)
	wg.Wait()
	close(answers)

	n := 0
	for a := range answers {
		if a == 1 {
			n++
		}
	}
	if n != 1000 || up.Queries() != 1 {
		t.Errorf("%d of 1000 clients answered with %d upstream queries; want 1000 and 1",
			n, up.Queries())
	}
}

type sourceCounter struct {
	mu      sync.Mutex
	sources map[string]int
}

func (c *sourceCounter) Query(ev QueryEvent) {
	c.mu.Lock()
	c.sources[ev.Source]++
	c.mu.Unlock()
}

func (c *sourceCounter) Refused(netip.Addr) {}

// A name asked for steadily is refreshed before it expires: after the first
// query, no client waits on the upstream, with the reply cache in front of the
// answer cache.
func TestPrefetchKeepsSteadyNamesWarm(t *testing.T) {
	up := dnstest.Records(t, "steady.example. 2 IN A 10.0.0.1")
	l, err := config.Parse([]byte(fmt.Sprintf(
		"forward: [{zones: [\".\"], upstreams: [%q]}]\n", up.Addr)), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	counts := &sourceCounter{sources: map[string]int{}}
	s := New(l, quiet, WithObserver(counts))
	pkt := pack(t, query("steady.example.", dns.TypeA))
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		if s.Handle(context.Background(), pkt, loopback, true) == nil {
			t.Fatal("no reply")
		}
		time.Sleep(40 * time.Millisecond)
	}
	counts.mu.Lock()
	defer counts.mu.Unlock()
	if counts.sources["forward"] != 1 || up.Queries() < 2 {
		t.Errorf("sources %v with %d upstream queries; want one forwarded query and "+
			"the rest from cache, refreshed in the background", counts.sources, up.Queries())
	}
}

// TCP queries count against limits.queries too: past it, SERVFAIL at once.
func TestTCPQueriesRespectTheLimit(t *testing.T) {
	release := make(chan struct{})
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		<-release
		return nil
	})
	defer close(release)
	s := newServer(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
limits: {queries: 2}
upstream: {try_timeout: 2s, timeout: 4s}
forward: [{zones: ["."], upstreams: [%q]}]
`, up.Addr))
	addr := running(t, s)
	c := &dns.Client{Net: "tcp", Timeout: 3 * time.Second}
	for i := 0; i < 2; i++ {
		go c.Exchange(query(fmt.Sprintf("slow%d.example.", i), dns.TypeA), addr)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	resp, _, err := c.Exchange(query("third.example.", dns.TypeA), addr)
	if err != nil || resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("third TCP query: %v %v, want SERVFAIL", resp, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("SERVFAIL took %v, want it at once", d)
	}
	if s.Overloaded() != 1 {
		t.Errorf("overloaded = %d, want 1", s.Overloaded())
	}
}
