package dnsserver

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
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
	s := newServer(t, "listen: [\"127.0.0.1:0\"]\nlimits: {tcp_connections: 5, tcp_idle_timeout: 30s}\n"+
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
