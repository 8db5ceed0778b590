package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnstest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func question(name string) dns.Question {
	return dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
}

func TestAnswer(t *testing.T) {
	up := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	f := New("test", []string{up.Addr}, Options{}, quiet)
	res, err := f.Exchange(context.Background(), question("A.Example."), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Msg.Answer) != 1 || res.From != up.Addr {
		t.Errorf("answer %v from %s", res.Msg.Answer, res.From)
	}
}

func TestFailoverFromSilentUpstream(t *testing.T) {
	dead := dnstest.Silent(t)
	live := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	opts := Options{TryTimeout: 300 * time.Millisecond, Timeout: 5 * time.Second}
	f := New("test", []string{dead.Addr, live.Addr}, opts, quiet)

	start := time.Now()
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != live.Addr {
		t.Errorf("answer from %s, want %s", res.From, live.Addr)
	}
	// The second attempt starts after one TryTimeout; allow generous slack for a
	// loaded machine, but far less than the total Timeout.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want about one try timeout (300ms)", d)
	}
}

func TestServfailMovesOn(t *testing.T) {
	bad := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		return m
	})
	good := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	f := New("test", []string{bad.Addr, good.Addr}, Options{}, quiet)
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil || res.Msg.Rcode != dns.RcodeSuccess || res.From != good.Addr {
		t.Fatalf("res %+v err %v, want success from %s", res, err, good.Addr)
	}

	only := New("test", []string{bad.Addr}, Options{}, quiet)
	res, err = only.Exchange(context.Background(), question("a.example."), false)
	if err != nil || res.Msg.Rcode != dns.RcodeServerFailure {
		t.Fatalf("res %+v err %v, want the upstream's SERVFAIL passed on", res, err)
	}
	if bad.Queries() != 2 {
		t.Errorf("SERVFAIL upstream got %d queries, want 2 (one per Exchange, no retry loop)",
			bad.Queries())
	}
}

func TestSlowAnswerStillWins(t *testing.T) {
	// Azure's recursion can take seconds: an answer that arrives after the try
	// timeout, to the first attempt, must still be used.
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		time.Sleep(700 * time.Millisecond)
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name,
			Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, 0, 1)}}
		return m
	})
	opts := Options{TryTimeout: 200 * time.Millisecond, Timeout: 5 * time.Second}
	f := New("test", []string{up.Addr}, opts, quiet)
	res, err := f.Exchange(context.Background(), question("slow.example."), false)
	if err != nil || len(res.Msg.Answer) != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestTimeout(t *testing.T) {
	dead := dnstest.Silent(t)
	opts := Options{TryTimeout: 100 * time.Millisecond, Timeout: 400 * time.Millisecond}
	f := New("test", []string{dead.Addr}, opts, quiet)
	_, err := f.Exchange(context.Background(), question("a.example."), false)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if n := dead.Queries(); n < 2 || n > 5 {
		t.Errorf("silent upstream got %d queries, want a few retries within the budget", n)
	}
}

func TestMergesIdenticalQuestions(t *testing.T) {
	release := make(chan struct{})
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		<-release
		m := new(dns.Msg)
		m.SetReply(req)
		return m
	})
	f := New("test", []string{up.Addr}, Options{}, quiet)

	const callers = 200
	var wg sync.WaitGroup
	merged := make(chan bool, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.Exchange(context.Background(), question("same.example."), false)
			if err != nil {
				t.Error(err)
			}
			merged <- res.Merged
		}()
	}
	// Let every caller join the flight before the upstream answers.
	time.Sleep(300 * time.Millisecond)
	close(release)
	wg.Wait()
	close(merged)

	if n := up.Queries(); n != 1 {
		t.Errorf("upstream got %d queries for %d identical questions, want 1", n, callers)
	}
	n := 0
	for m := range merged {
		if m {
			n++
		}
	}
	if n != callers-1 {
		t.Errorf("%d callers merged, want %d", n, callers-1)
	}
}

func TestInflightCap(t *testing.T) {
	release := make(chan struct{})
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		<-release
		return nil
	})
	defer close(release)
	f := New("test", []string{up.Addr}, Options{MaxInflight: 2, Timeout: 2 * time.Second}, quiet)

	for _, name := range []string{"a.example.", "b.example."} {
		go f.Exchange(context.Background(), question(name), false)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	_, err := f.Exchange(context.Background(), question("c.example."), false)
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusal took %v, want it at once", d)
	}
}

func TestTruncatedRetriesOverTCP(t *testing.T) {
	var tcpQueries atomic.Int32
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		return [][]byte{answerOf(req, 0, true)}
	}, func(req *dns.Msg) [][]byte {
		tcpQueries.Add(1)
		return [][]byte{answerOf(req, 1, false)}
	})

	f := New("test", []string{addr}, Options{}, quiet)
	res, err := f.Exchange(context.Background(), question("big.example."), false)
	if err != nil || res.Msg.Truncated || len(res.Msg.Answer) != 1 {
		t.Fatalf("res %+v err %v, want the full answer over TCP", res.Msg, err)
	}
	if n := tcpQueries.Load(); n != 1 {
		t.Errorf("%d queries over TCP, want 1", n)
	}
}

func TestSpoofedRepliesIgnored(t *testing.T) {
	// A raw UDP upstream that first sends replies with a wrong ID, a wrong
	// question and a wrong opcode, then the real answer.
	addr := rawUpstream(t, func(req *dns.Msg) [][]byte {
		var out [][]byte
		reply := func(id uint16, name, ip string, opcode int) {
			m := new(dns.Msg)
			m.SetReply(req)
			m.Id, m.Opcode = id, opcode
			m.Question[0].Name = name
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)}}
			b, _ := m.Pack()
			out = append(out, b)
		}
		q := req.Question[0].Name
		reply(req.Id+1, q, "203.0.113.66", dns.OpcodeQuery)
		reply(req.Id, "evil.example.", "203.0.113.66", dns.OpcodeQuery)
		reply(req.Id, q, "203.0.113.66", dns.OpcodeUpdate)
		reply(req.Id, q, "10.0.0.1", dns.OpcodeQuery)
		return out
	}, func(*dns.Msg) [][]byte { return nil })

	f := New("test", []string{addr}, Options{}, quiet)
	res, err := f.Exchange(context.Background(), question("a.example."), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.Answer[0].(*dns.A).A.String(); got != "10.0.0.1" {
		t.Errorf("answer %s, want 10.0.0.1 (spoofed replies must be dropped)", got)
	}
}

// silentUntil starts an upstream that drops every query until answering is
// set, and then answers each with an empty NOERROR.
func silentUntil(t *testing.T) (*dnstest.Server, *atomic.Bool) {
	answering := new(atomic.Bool)
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		if !answering.Load() {
			return nil
		}
		m := new(dns.Msg)
		m.SetReply(req)
		return m
	})
	return up, answering
}

// After the first failure of a dead upstream, queries go straight to the live
// one: the dead one is marked down, and a probe notices when it returns.
func TestDeadUpstreamMarkedDownAndProbed(t *testing.T) {
	flaky, answering := silentUntil(t)
	live := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1", "b.example. 60 IN A 10.0.0.2",
		"c.example. 60 IN A 10.0.0.3")
	opts := Options{TryTimeout: 300 * time.Millisecond, Timeout: 3 * time.Second}
	f := New(".", []string{flaky.Addr, live.Addr}, opts, quiet)
	defer f.Close()

	if _, err := f.Exchange(context.Background(), question("a.example."), false); err != nil {
		t.Fatal(err)
	}
	// The slow attempt is judged when it is cut short, just after the answer.
	for i := 0; i < 100 && f.Upstreams()[0].Healthy(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Upstreams()[0].Healthy() {
		t.Fatal("the silent upstream is still marked healthy after a try timeout")
	}
	for _, name := range []string{"b.example.", "c.example."} {
		start := time.Now()
		res, err := f.Exchange(context.Background(), question(name), false)
		if err != nil || res.From != live.Addr {
			t.Fatalf("%s: %+v %v", name, res, err)
		}
		if d := time.Since(start); d > 150*time.Millisecond {
			t.Errorf("%s took %v after the dead upstream was marked down", name, d)
		}
	}

	answering.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for !f.Upstreams()[0].Healthy() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !f.Upstreams()[0].Healthy() {
		t.Error("the probe did not notice the upstream's return")
	}
}

// With every upstream down, a query fails after one try timeout, not the
// whole budget.
func TestAllDownFailsPromptly(t *testing.T) {
	dead := dnstest.Silent(t)
	opts := Options{TryTimeout: 200 * time.Millisecond, Timeout: 2 * time.Second}
	f := New(".", []string{dead.Addr}, opts, quiet)
	defer f.Close()
	f.Exchange(context.Background(), question("a.example."), false) // marks it down

	start := time.Now()
	_, err := f.Exchange(context.Background(), question("b.example."), false)
	if err == nil {
		t.Fatal("answer from a silent upstream")
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("failure took %v with every upstream down, want about one try timeout", d)
	}
}

// An upstream slower than TryTimeout but within Timeout keeps answering: the
// spare attempt to it that the slow answer cuts short does not mark it down.
func TestSlowUpstreamStaysUp(t *testing.T) {
	up := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		time.Sleep(500 * time.Millisecond)
		m := new(dns.Msg)
		m.SetReply(req)
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 10.0.0.1")
		m.Answer = []dns.RR{rr}
		return m
	})
	opts := Options{TryTimeout: 200 * time.Millisecond, Timeout: 2 * time.Second}
	f := New(".", []string{up.Addr}, opts, quiet)
	defer f.Close()
	for i := 0; i < 4; i++ {
		q := question(fmt.Sprintf("n%d.example.", i))
		res, err := f.Exchange(context.Background(), q, false)
		if err != nil || len(res.Msg.Answer) != 1 {
			t.Fatalf("query %d: %+v %v", i, res, err)
		}
		time.Sleep(50 * time.Millisecond) // let the cut-short attempt be judged
		if !f.Upstreams()[0].Healthy() {
			t.Fatalf("after query %d the slow upstream is marked down", i)
		}
	}
}

// recorder is an Observer that keeps the outcomes of attempts per upstream.
type recorder struct {
	mu       sync.Mutex
	outcomes map[string][]string
}

func (r *recorder) Attempt(_, upstream string, _ time.Duration, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[upstream] = append(r.outcomes[upstream], outcome)
}

func (r *recorder) Merged(string) {}

func (r *recorder) of(upstream string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.outcomes[upstream]...)
}

// A silent upstream that another upstream answers for shows as a timeout, not
// as an attempt canceled, and its probes while it is down are counted too.
func TestSilentUpstreamReportedAsTimeouts(t *testing.T) {
	dead := dnstest.Silent(t)
	live := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	rec := &recorder{outcomes: map[string][]string{}}
	opts := Options{TryTimeout: 200 * time.Millisecond, Timeout: 600 * time.Millisecond,
		Observer: rec}
	f := New("test", []string{dead.Addr, live.Addr}, opts, quiet)
	defer f.Close()
	if _, err := f.Exchange(context.Background(), question("a.example."), false); err != nil {
		t.Fatal(err)
	}
	// The slow attempt is judged when the answer from the other has ended it.
	wait := time.Now().Add(2 * time.Second)
	for len(rec.of(dead.Addr)) == 0 && time.Now().Before(wait) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := rec.of(dead.Addr); len(got) != 1 || got[0] != OutcomeTimeout {
		t.Fatalf("silent upstream's attempts %v, want one timeout", got)
	}

	// The first probe starts after probeEvery and waits the whole Timeout.
	deadline := time.Now().Add(probeEvery + opts.Timeout + 2*time.Second)
	for len(rec.of(dead.Addr)) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := rec.of(dead.Addr); len(got) < 2 || got[1] != OutcomeTimeout {
		t.Errorf("attempts %v, want the probe's timeout after the first", got)
	}
}

// A forwarder made for a reload knows what the old one knew: an upstream that
// is down stays down, without a try of its own, and is probed back up.
func TestKeepHealthAcrossReload(t *testing.T) {
	flaky, answering := silentUntil(t)
	live := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	opts := Options{TryTimeout: 200 * time.Millisecond, Timeout: time.Second}
	old := New("test", []string{flaky.Addr, live.Addr}, opts, quiet)
	old.Exchange(context.Background(), question("a.example."), false) // marks flaky down
	for wait := time.Now().Add(2 * time.Second); old.Upstreams()[0].Healthy() &&
		time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond) // the slow attempt is judged after the answer
	}
	if old.Upstreams()[0].Healthy() {
		t.Fatal("the silent upstream is not marked down")
	}

	f := New("test", []string{flaky.Addr, live.Addr}, opts, quiet)
	f.KeepHealth(old)
	old.Close()
	defer f.Close()
	if f.Upstreams()[0].Healthy() {
		t.Error("the new forwarder forgot that the upstream is down")
	}
	before := flaky.Queries()
	if _, err := f.Exchange(context.Background(), question("a.example."), false); err != nil {
		t.Fatal(err)
	}
	if flaky.Queries() != before {
		t.Error("the first query after the reload tried the downed upstream")
	}

	answering.Store(true)
	deadline := time.Now().Add(3 * time.Second)
	for !f.Upstreams()[0].Healthy() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !f.Upstreams()[0].Healthy() {
		t.Error("the new forwarder's probe did not notice the upstream back")
	}
}
