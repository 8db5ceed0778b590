package main

// End-to-end tests of the operations listener of pedns serve: the built
// binary with http.listen on loopback.

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/testutil"
)

const opsConfig = `listen: ["127.0.0.1:0"]
allow: ["127.0.0.0/8"]
http:
  listen: 127.0.0.1:0
zones:
  - name: privatelink.api.azureml.ms
    records: |
      ` + wsGUID + `.workspace.eastus 300 IN A 10.1.0.5
`

var httpListeningRe = regexp.MustCompile(`msg="http listening" addr=(\S+)`)

// httpAddr waits for the address the operations listener logs.
func httpAddr(t *testing.T, p *testutil.Proc) string {
	t.Helper()
	p.WaitLog(t, `msg="http listening"`, 5*time.Second)
	return httpListeningRe.FindStringSubmatch(p.Log())[1]
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metricValue returns the value of the series line that starts with series.
func metricValue(t *testing.T, body, series string) string {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return ""
}

func TestServeOpsListener(t *testing.T) {
	file := writeConfig(t, opsConfig)
	p := testutil.StartPedns(t, testutil.BuildPedns(t), "serve", "-c", file)
	base := "http://" + httpAddr(t, p)

	if code, body := fetch(t, base+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready: %d %q", code, body)
	}
	c := new(dns.Client)
	m := new(dns.Msg)
	m.SetQuestion(wsPrivate, dns.TypeA)
	for range 3 {
		if _, _, err := c.Exchange(m, p.Addr); err != nil {
			t.Fatal(err)
		}
	}
	_, body := fetch(t, base+"/metrics")
	q := `pedns_queries_total{qtype="A",rcode="NOERROR",source="zone"}`
	if v := metricValue(t, body, q); v != "3" {
		t.Errorf("%s = %s, want 3", q, v)
	}

	// A reload with a broken file is refused and counted; a good one counts
	// as a reload.
	if err := os.WriteFile(file, []byte("listen: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "reload refused", 5*time.Second)
	if err := os.WriteFile(file, []byte(opsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "configuration reloaded", 5*time.Second)
	_, body = fetch(t, base+"/metrics")
	for series, want := range map[string]string{
		"pedns_reload_failures_total": "1",
		"pedns_reloads_total":         "1",
	} {
		if v := metricValue(t, body, series); v != want {
			t.Errorf("%s = %s, want %s", series, v, want)
		}
	}
	if code, body := fetch(t, base+"/"); code != http.StatusOK ||
		!strings.Contains(body, "privatelink.api.azureml.ms.") {
		t.Errorf("status page: %d, without the zone:\n%s", code, body)
	}
}

func TestServeWithoutHTTPListensForDNSOnly(t *testing.T) {
	p := serve(t, strings.Split(opsConfig, "http:")[0]+
		"zones: []\n")
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(p.Log(), "http listening") {
		t.Errorf("an HTTP listener started without http.listen:\n%s", p.Log())
	}
}
