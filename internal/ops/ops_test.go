package ops

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/dnstest"
	"github.com/pedns/pedns/internal/metrics"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Names of the test network. Every address is on loopback or in the
// documentation ranges, and the only servers asked are the ones tests start.
const (
	wsPublic  = "ws.workspace.eastus.api.azureml.ms."
	wsPrivate = "ws.workspace.eastus.privatelink.api.azureml.ms."
	slowName  = "slow.api.azureml.ms."
	plainName = "plain.api.azureml.ms."
	hostName  = "notebook.corp.test."
	failName  = "any.fail.test."
)

// azureLike starts an upstream that answers the workspace's public name with
// the CNAME into the Private Link zone and a public address, as Azure's public
// DNS does, answers slowName after a pause (so that identical queries meet in
// flight), and NXDOMAIN to the rest.
func azureLike(t *testing.T) *dnstest.Server {
	return dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		switch strings.ToLower(req.Question[0].Name) {
		case wsPublic:
			resp.Answer = append(resp.Answer,
				rr(t, wsPublic+" 60 IN CNAME "+wsPrivate),
				rr(t, wsPrivate+" 60 IN A 203.0.113.9"))
		case plainName:
			resp.Answer = append(resp.Answer, rr(t, plainName+" 60 IN A 192.0.2.8"))
		case slowName:
			time.Sleep(300 * time.Millisecond)
			resp.Answer = append(resp.Answer, rr(t, slowName+" 60 IN A 192.0.2.7"))
		default:
			resp.Rcode = dns.RcodeNameError
		}
		return resp
	})
}

func rr(t *testing.T, line string) dns.RR {
	r, err := dns.NewRR(line)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testConfig is the configuration of the tests: a Private Link zone, the
// public zone forwarded to azureLike, a rule whose upstream always fails, and
// a hosts file. token may be empty.
func testConfig(t *testing.T, up, failing, token string, queryLog bool) *config.Loaded {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test.hosts"),
		[]byte("10.2.0.9 notebook.corp.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`listen: ["127.0.0.1:0"]
allow: ["127.0.0.1/32"]
http:
  listen: 127.0.0.1:0
  token: %q
forward:
  - zones: [api.azureml.ms]
    upstreams: [%q]
  - zones: [fail.test]
    upstreams: [%q]
zones:
  - name: privatelink.api.azureml.ms
    records: |
      ws.workspace.eastus 300 IN A 10.1.0.5
hosts: [test.hosts]
log:
  queries: %v
`, token, up, failing, queryLog)
	l, err := config.Parse([]byte(text), filepath.Join(dir, "pedns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// harness is a DNS server with its operations listener, both on loopback.
type harness struct {
	dns     *dnsserver.Server
	web     *Server
	url     string // http://127.0.0.1:port
	dnsAddr string
	serve   func() // starts the DNS server
}

// newHarness binds the operations listener and serves it; the DNS server is
// made and bound only when start is called, so a test can look at the
// listener before.
func newHarness(t *testing.T, l *config.Loaded) *harness {
	t.Helper()
	m := metrics.New()
	web := New(Options{Listen: l.HTTP.Listen, Metrics: m, Log: quiet})
	srv := dnsserver.New(l, quiet, dnsserver.WithObserver(web),
		dnsserver.WithForwardObserver(m))
	web.Attach(srv)
	if err := web.Listen(); err != nil {
		t.Fatal(err)
	}
	go web.Serve()
	t.Cleanup(web.Close)

	h := &harness{dns: srv, web: web, url: "http://" + web.Addr()}
	h.serve = func() {
		if err := srv.Listen(); err != nil {
			t.Fatal(err)
		}
		h.dnsAddr = srv.Addrs()[0]
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			srv.Serve(ctx, time.Second)
			close(done)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		waitReady(t, h.url)
	}
	return h
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := get(t, url+"/ready", ""); code == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("/ready never answered 200")
}

// get fetches url, with token as a bearer token when set.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// scrape reads /metrics into a map from "name{labels}" (as the exposition
// format writes them) to value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	code, body := get(t, url+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// ask sends one query over UDP from the local address from (nil: any) and
// returns the reply's rcode.
func ask(t *testing.T, server string, from net.IP, name string, qtype uint16) int {
	t.Helper()
	rc := exchange(server, from, name, qtype)
	if rc < 0 {
		t.Fatalf("query %s %s: no reply", name, dns.TypeToString[qtype])
	}
	return rc
}

// exchange is ask for other goroutines than the test's: -1 means no reply.
func exchange(server string, from net.IP, name string, qtype uint16) int {
	c := &dns.Client{Timeout: 5 * time.Second}
	if from != nil {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: from}, Timeout: 5 * time.Second}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	resp, _, err := c.Exchange(m, server)
	if err != nil {
		return -1
	}
	return resp.Rcode
}

func TestMetricsCountScriptedQueries(t *testing.T) {
	up := azureLike(t)
	failing := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		resp := new(dns.Msg)
		resp.SetRcode(req, dns.RcodeServerFailure)
		return resp
	})
	h := newHarness(t, testConfig(t, up.Addr, failing.Addr, "", false))
	h.serve()
	before := scrape(t, h.url)

	script := []struct {
		why   string
		name  string
		qtype uint16
		want  int
	}{
		{why: "zone", name: wsPrivate, qtype: dns.TypeA, want: dns.RcodeSuccess},
		{why: "zone again", name: wsPrivate, qtype: dns.TypeA, want: dns.RcodeSuccess},
		{why: "zone, no such name", name: "no." + wsPrivate, qtype: dns.TypeA,
			want: dns.RcodeNameError},
		{why: "forwarded, chased into the zone", name: wsPublic, qtype: dns.TypeA,
			want: dns.RcodeSuccess},
		{why: "forwarded", name: plainName, qtype: dns.TypeA, want: dns.RcodeSuccess},
		{why: "from the cache", name: plainName, qtype: dns.TypeA, want: dns.RcodeSuccess},
		{why: "hosts", name: hostName, qtype: dns.TypeA, want: dns.RcodeSuccess},
		{why: "a private-use type counts as other", name: wsPrivate, qtype: 65280,
			want: dns.RcodeSuccess},
		{why: "forwarded, SERVFAIL", name: failName, qtype: dns.TypeMX,
			want: dns.RcodeServerFailure},
	}
	for _, q := range script {
		if rc := ask(t, h.dnsAddr, nil, q.name, q.qtype); rc != q.want {
			t.Fatalf("%s (%s %d): rcode %s, want %s", q.why, q.name, q.qtype,
				dns.RcodeToString[rc], dns.RcodeToString[q.want])
		}
	}
	// Two identical queries at once share one upstream query. The second is
	// asked here while the first waits in its own goroutine.
	first := make(chan int, 1)
	go func() { first <- exchange(h.dnsAddr, nil, slowName, dns.TypeA) }()
	time.Sleep(50 * time.Millisecond)
	ask(t, h.dnsAddr, nil, slowName, dns.TypeA)
	if rc := <-first; rc != dns.RcodeSuccess {
		t.Fatalf("first of the merged queries: rcode %d", rc)
	}
	// A client outside the access list.
	outside := net.ParseIP("127.0.0.2")
	if rc := ask(t, h.dnsAddr, outside, wsPrivate, dns.TypeA); rc != dns.RcodeRefused {
		t.Fatalf("query from 127.0.0.2: rcode %s, want REFUSED", dns.RcodeToString[rc])
	}

	after := scrape(t, h.url)
	upA := fmt.Sprintf(`{rule="api.azureml.ms.",upstream=%q}`, up.Addr)
	upF := fmt.Sprintf(`{rule="fail.test.",upstream=%q}`, failing.Addr)
	servfail := fmt.Sprintf(`{kind="servfail",rule="fail.test.",upstream=%q}`, failing.Addr)
	want := map[string]float64{
		`pedns_queries_total{qtype="A",rcode="NOERROR",source="zone"}`:      3,
		`pedns_queries_total{qtype="A",rcode="NXDOMAIN",source="zone"}`:     1,
		`pedns_queries_total{qtype="A",rcode="NOERROR",source="cache"}`:     1,
		`pedns_queries_total{qtype="A",rcode="NOERROR",source="hosts"}`:     1,
		`pedns_queries_total{qtype="other",rcode="NOERROR",source="zone"}`:  1,
		`pedns_queries_total{qtype="MX",rcode="SERVFAIL",source="forward"}`: 1,
		`pedns_queries_total{qtype="A",rcode="NOERROR",source="forward"}`:   3,
		`pedns_request_duration_seconds_count{source="zone"}`:               5,
		`pedns_request_duration_seconds_count{source="forward"}`:            4,
		`pedns_request_duration_seconds_count{source="cache"}`:              1,
		`pedns_request_duration_seconds_count{source="hosts"}`:              1,
		`pedns_upstream_queries_total` + upA:                                3,
		`pedns_upstream_rtt_seconds_count` + upA:                            3,
		`pedns_upstream_queries_total` + upF:                                1,
		`pedns_upstream_errors_total` + servfail:                            1,
		`pedns_forward_merged_total{rule="api.azureml.ms."}`:                1,
		// By rule: plainName forwarded and then cached, slowName twice; the
		// workspace name ends in the local zone, so it counts for no rule.
		`pedns_forward_queries_total{rule="api.azureml.ms."}`: 4,
		`pedns_forward_queries_total{rule="fail.test."}`:      1,
		`pedns_refused_total`:                                 1,
		// Each forwarded name misses the answer cache once: the workspace,
		// plainName, slowName twice (before they meet in flight) and
		// failName. Whether plainName's second answer comes from the answer
		// cache or the reply cache is the server's choice; either way its
		// source is "cache".
		`pedns_cache_misses_total`: 5,
		// The workspace's private name asked twice: the second time from the
		// reply cache.
		`pedns_reply_cache_hits_total`: 1,
		`pedns_rate_limited_total`:     0,
		`pedns_overloaded_total`:       0,
		`pedns_reloads_total`:          0,
		`pedns_reload_failures_total`:  0,
	}
	for key, delta := range want {
		if got := after[key] - before[key]; got != delta {
			t.Errorf("%s moved by %v, want %v", key, got, delta)
		}
	}
	for key, v := range map[string]float64{
		`pedns_ready`: 1,
		`pedns_zone_records{zone="privatelink.api.azureml.ms."}`: 1,
		`pedns_upstream_healthy` + upA:                           1,
		`pedns_upstream_inflight` + upA:                          0,
	} {
		if after[key] != v {
			t.Errorf("%s = %v, want %v", key, after[key], v)
		}
	}
	if t.Failed() {
		t.Logf("metrics after the script:\n%s", dump(after, "pedns_"))
	}
}

func dump(m map[string]float64, prefix string) string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, prefix) && !strings.Contains(k, "_bucket") {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
	}
	return b.String()
}

func TestReadyOnlyWhenServing(t *testing.T) {
	h := newHarness(t, testConfig(t, "127.0.0.1:9", "127.0.0.1:9", "", false))
	if code, body := get(t, h.url+"/ready", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready before the listeners are bound: %d %q, want 503", code, body)
	}
	if code, _ := get(t, h.url+"/health", ""); code != http.StatusOK {
		t.Fatalf("/health before the listeners are bound: %d, want 200", code)
	}
	h.serve() // waits for /ready to answer 200
	if code, body := get(t, h.url+"/ready", ""); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("/ready once serving: %d %q, want 200", code, body)
	}
}

func TestToken(t *testing.T) {
	const token = "s3cret-token"
	h := newHarness(t, testConfig(t, "127.0.0.1:9", "127.0.0.1:9", token, false))
	h.serve()

	tests := []struct {
		name  string
		path  string
		token string
		want  int
	}{
		{name: "health needs none", path: "/health", want: http.StatusOK},
		{name: "ready needs none", path: "/ready", want: http.StatusOK},
		{name: "metrics without", path: "/metrics", want: http.StatusUnauthorized},
		{name: "metrics wrong", path: "/metrics", token: "s3cret-tokeN",
			want: http.StatusUnauthorized},
		{name: "metrics prefix", path: "/metrics", token: "s3cret", want: http.StatusUnauthorized},
		{name: "metrics right", path: "/metrics", token: token, want: http.StatusOK},
		{name: "status without", path: "/", want: http.StatusUnauthorized},
		{name: "status right", path: "/", token: token, want: http.StatusOK},
		{name: "resolve without", path: "/resolve?name=x.test&type=A",
			want: http.StatusUnauthorized},
		{name: "css without", path: "/style.css", want: http.StatusUnauthorized},
		{name: "unknown path without", path: "/nothing", want: http.StatusUnauthorized},
		{name: "unknown path right", path: "/nothing", token: token, want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := get(t, h.url+tt.path, tt.token); code != tt.want {
				t.Errorf("GET %s: status %d, want %d: %s", tt.path, code, tt.want, body)
			}
		})
	}

	t.Run("basic auth password", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/", nil)
		req.SetBasicAuth("anyone", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("basic auth with the token: status %d, want 200", resp.StatusCode)
		}
	})
	t.Run("challenge", func(t *testing.T) {
		resp, err := http.Get(h.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Values("WWW-Authenticate"); len(got) != 2 {
			t.Errorf("WWW-Authenticate = %q, want a Bearer and a Basic challenge", got)
		}
	})
}

func TestHostHeaderAgainstRebinding(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{host: "127.0.0.1:8053", ok: true},
		{host: "[::1]:8053", ok: true},
		{host: "localhost:8053", ok: true},
		{host: "10.0.0.4", ok: true},
		{host: "evil.example", ok: false},
		{host: "evil.example:8053", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := hostAllowed(tc.host); got != tc.ok {
				t.Errorf("hostAllowed(%q) = %v, want %v", tc.host, got, tc.ok)
			}
		})
	}
}

func TestResolveFormRefusesMetaTypes(t *testing.T) {
	for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeANY, dns.TypeOPT, dns.TypeMAILB} {
		if !metaType(qtype) {
			t.Errorf("%s not refused", dns.TypeToString[qtype])
		}
	}
	if metaType(dns.TypeA) || metaType(dns.TypeTXT) {
		t.Error("an ordinary type refused")
	}
}

func TestStatusPageRefusesForeignHost(t *testing.T) {
	up := azureLike(t)
	h := newHarness(t, testConfig(t, up.Addr, up.Addr, "", false))
	h.serve()
	for _, tc := range []struct {
		host string
		code int
	}{
		{host: "", code: http.StatusOK}, // the listener's own address
		{host: "evil.example", code: http.StatusMisdirectedRequest},
	} {
		req, _ := http.NewRequest("GET", h.url+"/", nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Host %q: status %d, want %d", tc.host, resp.StatusCode, tc.code)
		}
	}
}
