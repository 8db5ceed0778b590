package main

// End-to-end tests of pedns serve under operational stress: reloads under
// load and an upstream outage.

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnstest"
	"github.com/pedns/pedns/internal/testutil"
)

// A client querying in a loop through ten reloads, half of them with broken
// files, gets no error and no wrong answer.
func TestReloadUnderLoad(t *testing.T) {
	good := func(n int) string {
		return fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nzones:\n  - name: corp.example\n"+
			"    records: |\n      www 300 IN A 10.0.0.1\n      gen 300 IN TXT \"%d\"\n", n)
	}
	file := writeConfig(t, good(0))
	p := testutil.StartPedns(t, testutil.BuildPedns(t), "serve", "-c", file)

	var (
		stop     atomic.Bool
		queries  atomic.Int64
		failures []string
		mu       sync.Mutex
		wg       sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Timeout: 2 * time.Second}
			for !stop.Load() {
				m := new(dns.Msg)
				m.SetQuestion("www.corp.example.", dns.TypeA)
				resp, _, err := c.Exchange(m, p.Addr)
				queries.Add(1)
				var problem string
				switch {
				case err != nil:
					problem = err.Error()
				case resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1:
					problem = resp.String()
				case resp.Answer[0].(*dns.A).A.String() != "10.0.0.1":
					problem = "wrong address " + resp.Answer[0].String()
				}
				if problem != "" {
					mu.Lock()
					failures = append(failures, problem)
					mu.Unlock()
				}
			}
		}()
	}

	for i := 1; i <= 10; i++ {
		text := good(i)
		if i%2 == 0 {
			text = strings.Replace(text, "10.0.0.1", "10.0.0.999", 1) // refused
		}
		os.WriteFile(file, []byte(text), 0o644)
		p.Signal(t, syscall.SIGHUP)
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Errorf("%d of %d queries failed during reloads; first: %s",
			len(failures), queries.Load(), failures[0])
	}
	if n := strings.Count(p.Log(), "configuration reloaded"); n != 5 {
		t.Errorf("%d reloads applied, want 5", n)
	}
	if n := strings.Count(p.Log(), "reload refused"); n < 5 {
		t.Errorf("%d reloads refused, want 5", n)
	}
	// The last good file (generation 9) is the one in force.
	m := new(dns.Msg)
	m.SetQuestion("gen.corp.example.", dns.TypeTXT)
	resp, err := dns.Exchange(m, p.Addr)
	if err != nil || len(resp.Answer) != 1 || !strings.Contains(resp.Answer[0].String(), `"9"`) {
		t.Errorf("after the reloads: %v %v, want generation 9", resp, err)
	}
}

// The only upstream stops answering: cached names keep resolving, stale and
// with a short TTL; new names get SERVFAIL promptly; when the upstream returns,
// fresh answers again.
func TestUpstreamOutageServesStale(t *testing.T) {
	var down atomic.Bool
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		if down.Load() {
			return nil
		}
		m := new(dns.Msg)
		m.SetReply(req)
		rr, _ := dns.NewRR(req.Question[0].Name + " 1 IN A 10.0.0.7")
		m.Answer = []dns.RR{rr}
		return m
	})
	p := serve(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
forward: [{zones: ["."], upstreams: [%q]}]
upstream: {try_timeout: 300ms, timeout: 2s}
cache: {stale: 1h, stale_ttl: 30s}
`, up.Addr))
	ask := func(name string) (*dns.Msg, time.Duration) {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		c := &dns.Client{Timeout: 4 * time.Second}
		resp, rtt, err := c.Exchange(m, p.Addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return resp, rtt
	}

	if resp, _ := ask("cached.example."); len(resp.Answer) != 1 {
		t.Fatalf("warm-up: %v", resp)
	}
	down.Store(true)
	time.Sleep(1100 * time.Millisecond) // the 1s TTL runs out

	resp, _ := ask("cached.example.")
	if len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 30 {
		t.Errorf("cached name during the outage: %v, want the stale answer with TTL 30", resp)
	}
	ask("other.example.") // marks the upstream down
	resp, rtt := ask("new.example.")
	if resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("new name during the outage: %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	if rtt > time.Second {
		t.Errorf("SERVFAIL took %v, want it within about one try timeout", rtt)
	}
	if !strings.Contains(p.Log(), "serving stale answer") {
		t.Error("serving stale was not logged")
	}

	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, _ = ask("back.example.")
		if resp.Rcode == dns.RcodeSuccess {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 ||
		resp.Answer[0].Header().Ttl != 1 {
		t.Errorf("after the upstream returned: %v, want a fresh answer", resp)
	}
}

// With watch set, a changed file is picked up without SIGHUP, and a broken one
// is refused just the same.
func TestWatchReloadsChangedFiles(t *testing.T) {
	text := func(ip string) string {
		return "listen: [\"127.0.0.1:0\"]\nwatch: 200ms\nzones:\n  - name: corp.example\n" +
			"    records: |\n      www 300 IN A " + ip + "\n"
	}
	file := writeConfig(t, text("10.0.0.1"))
	p := testutil.StartPedns(t, testutil.BuildPedns(t), "serve", "-c", file)

	os.WriteFile(file, []byte(text("10.0.0.999")), 0o644)
	p.WaitLog(t, "reload refused", 5*time.Second)
	os.WriteFile(file, []byte(text("10.0.0.2")+"# changed\n"), 0o644)
	p.WaitLog(t, "configuration reloaded", 5*time.Second)
	res := testutil.Dig(t, p.Addr, "www.corp.example.", "A")
	if len(res.Answer) != 1 || res.Answer[0] != "www.corp.example. A 10.0.0.2" {
		t.Errorf("after the file changed: %v", res.Answer)
	}
}

// A reload applies a new log level, and says that http.listen waits for a
// restart.
func TestReloadAppliesLogLevel(t *testing.T) {
	text := "listen: [\"127.0.0.1:0\"]\nlog: {level: %s}\nzones:\n  - name: corp.example\n" +
		"    records: |\n      www 300 IN A 10.0.0.1\n"
	file := writeConfig(t, fmt.Sprintf(text, "info"))
	p := testutil.StartPedns(t, testutil.BuildPedns(t), "serve", "-c", file)
	testutil.Dig(t, p.Addr, "nope.corp.example.", "A")
	if strings.Contains(p.Log(), "level=DEBUG") {
		t.Fatal("debug lines at level info")
	}
	debug := fmt.Sprintf(text, "debug") + "http: {listen: \"127.0.0.1:0\"}\n"
	os.WriteFile(file, []byte(debug), 0o644)
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "configuration reloaded", 5*time.Second)
	if !strings.Contains(p.Log(), "http.listen and watch change only on restart") {
		t.Error("no warning that http.listen needs a restart")
	}
	// A malformed query is logged at debug level.
	c, err := net.Dial("udp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a'})
	p.WaitLog(t, "level=DEBUG msg=\"malformed query\"", 5*time.Second)
}

// Many clients asking different names at once through one upstream (whose
// queries share sockets in pedns) each get the answer to their own name, and
// the sockets pedns opened for them are closed afterwards.
func TestForwardsManyNamesAtOnce(t *testing.T) {
	addressOf := func(name string) net.IP {
		var n int
		fmt.Sscanf(name, "n%d.", &n)
		return net.IPv4(10, 9, byte(n/256), byte(n%256))
	}
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		name := req.Question[0].Name
		target := "pl." + name
		m.Answer = []dns.RR{
			&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME,
				Class: dns.ClassINET, Ttl: 300}, Target: target},
			&dns.A{Hdr: dns.RR_Header{Name: target, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 300}, A: addressOf(name)},
		}
		return m
	})
	p := serve(t, fmt.Sprintf("listen: [\"127.0.0.1:0\"]\n"+
		"forward:\n  - zones: [example]\n    upstreams: [%q]\n", up.Addr))
	fds := func() int {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Cmd.Process.Pid))
		if err != nil {
			t.Skipf("cannot count open files: %v", err)
		}
		return len(entries)
	}
	before := fds()

	const clients, each = 8, 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &dns.Client{Timeout: 3 * time.Second}
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("n%d.example.", c*each+i)
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				resp, _, err := client.Exchange(m, p.Addr)
				problem := ""
				switch {
				case err != nil:
					problem = err.Error()
				case len(resp.Answer) != 2:
					problem = resp.String()
				case !resp.Answer[1].(*dns.A).A.Equal(addressOf(name)):
					problem = name + " answered " + resp.Answer[1].String()
				}
				if problem != "" {
					mu.Lock()
					failures = append(failures, problem)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d queries failed; first: %s", len(failures), clients*each,
			failures[0])
	}
	if n := up.Queries(); n != clients*each {
		t.Errorf("upstream saw %d queries, want %d", n, clients*each)
	}

	// dig agrees, from the cache now.
	r := testutil.Dig(t, p.Addr, "n123.example.", "A")
	if !strings.Contains(strings.Join(r.Answer, "\n"), addressOf("n123.").String()) {
		t.Errorf("dig n123.example: %v", r.Answer)
	}

	// 800 queries went out over a new socket every 64: all but the current
	// one are closed.
	if after := fds(); after > before+2 {
		t.Errorf("%d open files after the queries, %d before: upstream sockets leak",
			after, before)
	}
}
