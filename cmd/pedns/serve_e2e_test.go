package main

// End-to-end tests of pedns serve: the built binary, started on loopback with
// upstreams that each test starts itself, queried with dig and the Go resolver.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnstest"
	"github.com/pedns/pedns/internal/testutil"
)

const (
	wsGUID    = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	wsPublic  = wsGUID + ".workspace.eastus.api.azureml.ms."
	wsPrivate = wsGUID + ".workspace.eastus.privatelink.api.azureml.ms."
)

// writeConfig writes a configuration into a fresh folder and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "pedns.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func serve(t *testing.T, text string) *testutil.Proc {
	t.Helper()
	bin := testutil.BuildPedns(t)
	return testutil.StartPedns(t, bin, "serve", "-c", writeConfig(t, text))
}

// goResolver is the Go standard library's resolver, pointed at addr.
func goResolver(addr string) *net.Resolver {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &net.Resolver{PreferGo: true, Dial: dial}
}

func TestServeExampleWorkspaceFromHostsAndZones(t *testing.T) {
	// The README's main job: examples/serve.yaml, moved to a free port.
	data, err := os.ReadFile("../../examples/serve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../../examples/aml.hosts")
	text := strings.Replace(string(data),
		`listen: ["127.0.0.1:5300"]`, `listen: ["127.0.0.1:0"]`, 1)
	text = strings.Replace(text, "hosts: [aml.hosts]", "hosts: ["+abs+"]", 1)
	p := serve(t, text)

	// SPEC.md section 3, the public vector; the wildcard line is a zone, not hosts.
	want := map[string]string{
		wsPublic: "10.1.0.5",
		wsGUID + ".workspace.eastus.cert.api.azureml.ms.":                              "10.1.0.5",
		"ml-myworkspace-eastus-" + wsGUID + ".eastus.notebooks.azure.net.":             "10.1.0.6",
		"mymanagedendpoint.eastus.inference.ml.azure.com.":                             "10.1.0.7",
		"mycomputeinstance.eastus.instances.azureml.ms.":                               "10.1.0.5",
		"anotherendpoint.eastus.inference.ml.azure.com.":                               "10.1.0.7",
		"ep1." + wsGUID + ".inference.eastus.privatelink.api.azureml.ms.":              "10.1.0.7",
		"ml-myworkspace-eastus-" + wsGUID + ".eastus.privatelink.notebooks.azure.net.": "10.1.0.6",
	}
	r := goResolver(p.Addr)
	for name, ip := range want {
		res := testutil.Dig(t, p.Addr, name, "A")
		if res.Status != "NOERROR" || len(res.Answer) != 1 ||
			!strings.HasSuffix(res.Answer[0], " A "+ip) {
			t.Errorf("dig %s: %s %v, want A %s", name, res.Status, res.Answer, ip)
		}
		addrs, err := r.LookupHost(context.Background(), name)
		if err != nil || len(addrs) != 1 || addrs[0] != ip {
			t.Errorf("Go resolver %s: %v %v, want %s", name, addrs, err, ip)
		}
	}

	// The example turns the query log on: one structured line per query.
	p.WaitLog(t, `msg=query client=127\.0\.0\.1 qname=`+wsPublic+` qtype=A rcode=NOERROR `+
		`source=hosts duration=`, 2*time.Second)
}

func TestServeChasesCNAMEIntoLocalPrivateLinkZone(t *testing.T) {
	up := dnstest.Records(t,
		wsPublic+" 60 IN CNAME "+wsPrivate,
		wsPrivate+" 60 IN A 203.0.113.5")
	p := serve(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
forward:
  - zones: [api.azureml.ms]
    upstreams: [%q]
zones:
  - name: privatelink.api.azureml.ms
    records: |
      %s.workspace.eastus 300 IN A 10.1.0.5
      *.%s.inference.eastus 300 IN A 10.1.0.7
`, up.Addr, wsGUID, wsGUID))

	res := testutil.Dig(t, p.Addr, wsPublic, "A")
	want := []string{wsPublic + " CNAME " + wsPrivate, wsPrivate + " A 10.1.0.5"}
	if res.Status != "NOERROR" || strings.Join(res.Answer, "|") != strings.Join(want, "|") {
		t.Errorf("dig: %s %v, want %v", res.Status, res.Answer, want)
	}
	if res.HasFlag("aa") || !res.HasFlag("ra") {
		t.Errorf("flags %v: want ra and no aa for an answer that came partly from upstream",
			res.Flags)
	}

	addrs, err := goResolver(p.Addr).LookupHost(context.Background(), wsPublic)
	if err != nil || len(addrs) != 1 || addrs[0] != "10.1.0.5" {
		t.Errorf("Go resolver: %v %v, want 10.1.0.5", addrs, err)
	}

	// The inference wildcard answers any endpoint name.
	ep := "anything." + wsGUID + ".inference.eastus.privatelink.api.azureml.ms."
	wild := testutil.Dig(t, p.Addr, ep, "A")
	if len(wild.Answer) != 1 || wild.Answer[0] != ep+" A 10.1.0.7" {
		t.Errorf("wildcard: %v", wild.Answer)
	}
}

func TestServeNegativeAnswersAndFallthrough(t *testing.T) {
	up := dnstest.Records(t, "public.pl.example. 60 IN A 203.0.113.7")
	p := serve(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
forward:
  - zones: ["."]
    upstreams: [%q]
zones:
  - name: strict.example
    records: |
      www 300 IN A 10.0.0.1
  - name: pl.example
    fallthrough: true
    records: |
      private 300 IN A 10.0.0.2
`, up.Addr))

	tests := []struct {
		name, qname, qtype, status string
		answer                     []string
		soa                        bool
	}{
		{name: "NXDOMAIN with SOA", qname: "nope.strict.example.", qtype: "A",
			status: "NXDOMAIN", soa: true},
		{name: "NODATA with SOA", qname: "www.strict.example.", qtype: "AAAA",
			status: "NOERROR", soa: true},
		{name: "fallthrough on forwards", qname: "public.pl.example.", qtype: "A",
			status: "NOERROR", answer: []string{"public.pl.example. A 203.0.113.7"}},
		{name: "fallthrough keeps local names", qname: "private.pl.example.", qtype: "A",
			status: "NOERROR", answer: []string{"private.pl.example. A 10.0.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := testutil.Dig(t, p.Addr, tc.qname, tc.qtype)
			if res.Status != tc.status ||
				strings.Join(res.Answer, "|") != strings.Join(tc.answer, "|") {
				t.Errorf("got %s %v, want %s %v", res.Status, res.Answer, tc.status, tc.answer)
			}
			if tc.soa &&
				(len(res.Authority) != 1 || !strings.Contains(res.Authority[0], " SOA ")) {
				t.Errorf("authority %v, want the zone's SOA", res.Authority)
			}
		})
	}
}

func TestServeFailsOverFromSilentUpstream(t *testing.T) {
	dead := dnstest.Silent(t)
	live := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	p := serve(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
forward:
  - zones: ["."]
    upstreams: [%q, %q]
upstream: {try_timeout: 1s, timeout: 5s}
`, dead.Addr, live.Addr))

	start := time.Now()
	res := testutil.Dig(t, p.Addr, "a.example.", "A", "+time=5")
	elapsed := time.Since(start)
	if len(res.Answer) != 1 || res.Answer[0] != "a.example. A 10.0.0.1" {
		t.Fatalf("answer %v", res.Answer)
	}
	// One try timeout (1s) plus slack for a shared machine; far below the
	// 5s total that a client would otherwise wait.
	if elapsed > 3*time.Second {
		t.Errorf("answer took %v, want about one try timeout", elapsed)
	}
}

func TestServeTruncatesForSmallClientsAndAnswersOverTCP(t *testing.T) {
	var lines strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&lines, "      big 300 IN A 10.0.%d.%d\n", i/250, i%250+1)
	}
	p := serve(t, "listen: [\"127.0.0.1:0\"]\nzones:\n  - name: corp.example\n    records: |\n"+
		lines.String())

	udp := testutil.Dig(t, p.Addr, "big.corp.example.", "A", "+noedns", "+ignore")
	if !udp.HasFlag("tc") || len(udp.Answer) >= 40 {
		t.Errorf("UDP without EDNS: flags %v, %d records; want TC and a cut answer",
			udp.Flags, len(udp.Answer))
	}
	tcp := testutil.Dig(t, p.Addr, "big.corp.example.", "A", "+noedns", "+tcp")
	if tcp.HasFlag("tc") || len(tcp.Answer) != 40 {
		t.Errorf("TCP: flags %v, %d records; want all 40", tcp.Flags, len(tcp.Answer))
	}
	// A client that advertises a larger EDNS buffer gets it all over UDP.
	edns := testutil.Dig(t, p.Addr, "big.corp.example.", "A", "+bufsize=1232", "+ignore")
	if edns.HasFlag("tc") || len(edns.Answer) != 40 {
		t.Errorf("UDP with EDNS 1232: flags %v, %d records", edns.Flags, len(edns.Answer))
	}
}

func TestServeRefusesClientsOutsideAllow(t *testing.T) {
	up := dnstest.Records(t, "a.example. 60 IN A 10.0.0.1")
	p := serve(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
allow: ["127.0.0.2/32"]
forward:
  - zones: ["."]
    upstreams: [%q]
`, up.Addr))
	res := testutil.Dig(t, p.Addr, "a.example.", "A", "-b", "127.0.0.1")
	if res.Status != "REFUSED" || len(res.Answer) != 0 {
		t.Errorf("got %s %v, want REFUSED", res.Status, res.Answer)
	}
	if up.Queries() != 0 {
		t.Errorf("a refused query reached the upstream %d times", up.Queries())
	}
	allowed := testutil.Dig(t, p.Addr, "a.example.", "A", "-b", "127.0.0.2")
	if allowed.Status != "NOERROR" {
		t.Errorf("allowed client got %s", allowed.Status)
	}
}

func TestServeReloadKeepsOldConfigOnError(t *testing.T) {
	good1 := "listen: [\"127.0.0.1:0\"]\nzones:\n  - name: corp.example\n    records: |\n" +
		"      www 300 IN A 10.0.0.1\n"
	file := writeConfig(t, good1)
	p := testutil.StartPedns(t, testutil.BuildPedns(t), "serve", "-c", file)

	lookup := func() string {
		res := testutil.Dig(t, p.Addr, "www.corp.example.", "A")
		return strings.Join(res.Answer, "|")
	}
	if got := lookup(); got != "www.corp.example. A 10.0.0.1" {
		t.Fatalf("before reload: %q", got)
	}

	broken := strings.Replace(good1, "10.0.0.1", "10.0.0.999", 1)
	os.WriteFile(file, []byte(broken), 0o644)
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `reload refused`, 5*time.Second)
	if got := lookup(); got != "www.corp.example. A 10.0.0.1" {
		t.Errorf("after a broken reload: %q, want the old record", got)
	}
	if !strings.Contains(p.Log(), "pedns.yaml:5") {
		t.Errorf("the refused reload does not name the bad line:\n%s", p.Log())
	}

	// A file caught empty, as a copy that has truncated it but not yet
	// written it, is refused too, rather than served as no rules at all.
	os.WriteFile(file, nil, 0o644)
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `the file is empty`, 5*time.Second)
	if got := lookup(); got != "www.corp.example. A 10.0.0.1" {
		t.Errorf("after an empty file: %q, want the old record", got)
	}

	os.WriteFile(file, []byte(strings.Replace(good1, "10.0.0.1", "10.0.0.2", 1)), 0o644)
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `configuration reloaded`, 5*time.Second)
	if got := lookup(); got != "www.corp.example. A 10.0.0.2" {
		t.Errorf("after a good reload: %q, want the new record", got)
	}
}

func TestServeShutsDownOnSIGTERM(t *testing.T) {
	p := serve(t, "listen: [\"127.0.0.1:0\"]\n")
	p.Signal(t, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pedns did not stop within 5s of SIGTERM")
	}
}

func TestServePreservesQuestionCase(t *testing.T) {
	p := serve(t, "listen: [\"127.0.0.1:0\"]\nzones:\n  - name: corp.example\n    records: |\n"+
		"      www 300 IN A 10.0.0.1\n")
	m := new(dns.Msg)
	m.SetQuestion("WwW.CoRp.ExAmPlE.", dns.TypeA)
	resp, err := dns.Exchange(m, p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Question[0].Name != "WwW.CoRp.ExAmPlE." || !resp.Authoritative ||
		len(resp.Answer) != 1 {
		t.Errorf("question %q aa=%v answer %v",
			resp.Question[0].Name, resp.Authoritative, resp.Answer)
	}
}

func TestCheckReportsEveryError(t *testing.T) {
	file := writeConfig(t, `listen: ["127.0.0.1:99999"]
forward:
  - zones: [api.azureml.ms]
    upstreams: [not-an-ip]
zones:
  - name: corp.example
    records: |
      www 300 IN A 10.0.0.1
      bad 300 IN A 10.0.0.300
`)
	out, err := exec.Command(testutil.BuildPedns(t), "check", "-c", file).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"pedns.yaml:1:10: listen[0]: bad port",
		"pedns.yaml:4:17: forward[0].upstreams[0]: want an IP address",
		"pedns.yaml:9:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	good := writeConfig(t, "listen: [\"127.0.0.1:5300\"]\n")
	out, err = exec.Command(testutil.BuildPedns(t), "check", "-c", good).CombinedOutput()
	if exitCode(err) != 0 || !strings.Contains(string(out), "0 zones") {
		t.Errorf("valid file: %v\n%s", err, out)
	}
}

func TestServePrintConfigBuiltin(t *testing.T) {
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(rc, []byte("nameserver 127.0.0.153\n"), 0o644)
	out, err := exec.Command(testutil.BuildPedns(t), "serve", "--print-config",
		"--resolv-conf", rc).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"168.63.129.16:53", "api.azureml.ms.", "instances.ml.azure.ms.",
		"- :53"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("built-in configuration lacks %q:\n%s", want, out)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
