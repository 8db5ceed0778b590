package main

// End-to-end tests of pedns demo and pedns sim: the built binary, with every
// server on loopback, queried with dig.

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pedns/pedns/internal/testutil"
)

// wantName is one name of a test vector and the address it must have.
type wantName struct {
	fqdn string
	ip   string
	kind string // api, cert, notebooks, endpoint, compute
}

// vectorNames returns the names of the article's example workspace in a
// cloud, as SPEC.md section 3 writes them, with the compute instance and
// managed online endpoint the demo adds.
func vectorNames(cloud string) []wantName {
	const cnGUID = "52882c08-ead2-44aa-af65-08a75cf094bd"
	var guid, region, api, nb, inst, inf string
	switch cloud {
	case "public":
		guid, region, api = wsGUID, "eastus", "api.azureml.ms"
		nb = "ml-myworkspace-eastus-" + wsGUID + ".eastus.notebooks.azure.net"
		inst, inf = "instances.azureml.ms", "inference.ml.azure.com"
	case "china":
		guid, region, api = cnGUID, "chinaeast2", "api.ml.azure.cn"
		nb = "ml-mype-pltest-chinaeast2-" + cnGUID + ".chinaeast2.notebooks.chinacloudapi.cn"
		inst, inf = "instances.azureml.cn", "inference.ml.azure.cn"
	case "usgov":
		guid, region, api = cnGUID, "usgovvirginia", "api.ml.azure.us"
		nb = "ml-mype-plt-usgovvirginia-" + cnGUID +
			".usgovvirginia.notebooks.usgovcloudapi.net"
		inst, inf = "instances.azureml.us", "inference.ml.azure.us"
	}
	return []wantName{
		{fqdn: guid + ".workspace." + region + "." + api, ip: "10.1.0.5", kind: "api"},
		{fqdn: guid + ".workspace." + region + ".cert." + api, ip: "10.1.0.5", kind: "cert"},
		{fqdn: nb, ip: "10.1.0.6", kind: "notebooks"},
		{fqdn: "mymanagedendpoint." + region + "." + inf, ip: "10.1.0.7", kind: "endpoint"},
		{fqdn: "mycomputeinstance." + region + "." + inst, ip: "10.1.0.5", kind: "compute"},
		{fqdn: "mycomputeinstance-22." + region + "." + inst, ip: "10.1.0.5",
			kind: "compute"},
	}
}

// demoProc is a pedns demo --keep process that a test started.
type demoProc struct {
	servers map[string]string // server key -> ip:port
	out     string            // stdout up to the "Try:" line
}

var serverLineRe = regexp.MustCompile(`^  (\S+)\s+(127\.\d+\.\d+\.\d+:\d+)\s`)

// startDemo runs pedns demo --keep with args, waits until it prints its
// servers, and stops it by PID when the test ends.
func startDemo(t *testing.T, args ...string) *demoProc {
	t.Helper()
	bin := testutil.BuildPedns(t)
	cmd := exec.Command(bin, append([]string{"demo", "--keep"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pedns demo: %v", err)
	}
	exited := make(chan struct{})
	ready := make(chan *demoProc, 1)
	var mu sync.Mutex
	var out strings.Builder
	go func() {
		defer close(exited)
		p := &demoProc{servers: map[string]string{}}
		inServers := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			out.WriteString(line + "\n")
			mu.Unlock()
			switch {
			case strings.HasPrefix(line, "Servers"):
				inServers = true
			case strings.HasPrefix(line, "Try:"):
				mu.Lock()
				p.out = out.String()
				mu.Unlock()
				ready <- p
			case inServers:
				if m := serverLineRe.FindStringSubmatch(line); m != nil {
					p.servers[m[1]] = m[2]
				}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
	})
	select {
	case p := <-ready:
		return p
	case <-exited:
	case <-time.After(30 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("pedns demo %v did not print its servers:\n%s", args, out.String())
	return nil
}

// lastAddress returns the address that dig's answer ends at.
func lastAddress(r testutil.DigResult) string {
	for i := len(r.Answer) - 1; i >= 0; i-- {
		if f := strings.Fields(r.Answer[i]); len(f) == 3 && f[1] == "A" {
			return f[2]
		}
	}
	return ""
}

func TestDemoResolvesEveryNameInEveryCloud(t *testing.T) {
	tests := []struct {
		name  string
		cloud string
	}{
		{name: "public cloud", cloud: "public"},
		{name: "Azure operated by 21Vianet", cloud: "china"},
		{name: "US Government", cloud: "usgov"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startDemo(t, "--cloud", tc.cloud)
			for _, arch := range []string{"hub", "onprem", "hosts"} {
				for _, n := range vectorNames(tc.cloud) {
					r := testutil.Dig(t, p.servers[arch], n.fqdn, "A")
					if r.Status != "NOERROR" || lastAddress(r) != n.ip {
						t.Errorf("%s via %s: %s %v, want %s\n%s", n.fqdn, arch, r.Status,
							r.Answer, n.ip, r.Raw)
					}
					if arch != "hosts" && !r.HasFlag("ra") {
						t.Errorf("%s via %s: no RA flag", n.fqdn, arch)
					}
				}
			}
			// The public name's CNAME into Private Link reaches the client.
			first := vectorNames(tc.cloud)[0].fqdn
			r := testutil.Dig(t, p.servers["onprem"], first, "A")
			if len(r.Answer) != 2 || !strings.Contains(r.Answer[0], "CNAME") ||
				!strings.Contains(r.Answer[0], ".privatelink.") {
				t.Errorf("want CNAME into privatelink then A, got %v", r.Answer)
			}
		})
	}
}

// isPublic reports whether addr is one of the emulator's public addresses.
func isPublic(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && netip.MustParsePrefix("203.0.113.0/24").Contains(a)
}

func TestDemoBreaksGiveTheWrongAnswersOfTheRealSystem(t *testing.T) {
	// want returns "ok", "public", "NXDOMAIN" or "SERVFAIL" for a name of
	// the given kind asked through architecture arch.
	tests := []struct {
		name  string
		cause string
		want  func(arch, kind string) string
	}{
		{name: "zone not linked to the DNS server's network", cause: "zone-not-linked",
			want: func(arch, _ string) string { return pick(arch == "hosts", "ok", "public") }},
		{name: "missing conditional forwarder", cause: "no-forwarder",
			want: func(arch, _ string) string { return pick(arch == "hosts", "ok", "public") }},
		{name: "on-premises forwarder at the wrong server", cause: "onprem-wrong-forwarder",
			want: func(arch, _ string) string {
				return pick(arch == "onprem", "SERVFAIL", "ok")
			}},
		{name: "missing inference wildcard", cause: "no-inference-wildcard",
			want: func(arch, kind string) string {
				return pick(kind == "endpoint" && arch != "hosts", "NXDOMAIN", "ok")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startDemo(t, "--break", tc.cause)
			if !strings.Contains(p.out, "WRONG") {
				t.Errorf("the report shows no wrong answer:\n%s", p.out)
			}
			for _, arch := range []string{"hub", "onprem", "hosts"} {
				archKey := pick(arch == "hub", "vnet", arch)
				for _, n := range vectorNames("public") {
					want := tc.want(archKey, n.kind)
					r := testutil.Dig(t, p.servers[arch], n.fqdn, "A")
					got := r.Status
					if r.Status == "NOERROR" {
						switch addr := lastAddress(r); {
						case addr == n.ip:
							got = "ok"
						case isPublic(addr):
							got = "public"
						default:
							got = "address " + addr
						}
					}
					if got != want {
						t.Errorf("%s via %s: got %s, want %s\n%s", n.fqdn, arch, got, want,
							r.Raw)
					}
				}
			}
		})
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

func TestDemoHubWithTwoProjects(t *testing.T) {
	const (
		p1 = "11111111-2222-3333-4444-555555555555"
		p2 = "66666666-7777-8888-9999-000000000000"
	)
	file := writeTemp(t, "hub.yaml", `workspaces:
  - guid: `+wsGUID+`
    name: myhub
    region: eastus
    api_ip: 10.2.0.5
    notebooks_ip: 10.2.0.6
    projects:
      - {guid: `+p1+`, name: project-one}
      - url: https://`+p2+`.workspace.eastus.api.azureml.ms/mlflow/v1.0/subscriptions/s/`+
		`resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/project-two
`)
	p := startDemo(t, "-f", file)
	names := map[string]string{
		p1 + ".workspace.eastus.api.azureml.ms":                       "10.2.0.5",
		p1 + ".workspace.eastus.cert.api.azureml.ms":                  "10.2.0.5",
		"ml-project-one-eastus-" + p1 + ".eastus.notebooks.azure.net": "10.2.0.6",
		p2 + ".workspace.eastus.api.azureml.ms":                       "10.2.0.5",
		"ml-project-two-eastus-" + p2 + ".eastus.notebooks.azure.net": "10.2.0.6",
		wsGUID + ".workspace.eastus.api.azureml.ms":                   "10.2.0.5",
	}
	for _, arch := range []string{"hub", "onprem", "hosts"} {
		for fqdn, ip := range names {
			r := testutil.Dig(t, p.servers[arch], fqdn, "A")
			if r.Status != "NOERROR" || lastAddress(r) != ip {
				t.Errorf("%s via %s: %s %v, want %s", fqdn, arch, r.Status, r.Answer, ip)
			}
		}
	}
}

func TestDemoExitStatusAndSpeed(t *testing.T) {
	bin := testutil.BuildPedns(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "healthy", args: nil, code: 0, want: "All 18 answers are the private addresses"},
		{name: "china", args: []string{"--cloud", "china"}, code: 0, want: "All 18 answers"},
		{name: "broken", args: []string{"--break", "no-inference-wildcard"}, code: 1,
			want: "2 of 18 answers are wrong"},
		{name: "unknown cause", args: []string{"--break", "nope"}, code: 2},
		{name: "unknown cloud", args: []string{"--cloud", "mars"}, code: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			out, err := exec.CommandContext(ctx, bin,
				append([]string{"demo"}, tc.args...)...).CombinedOutput()
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("pedns demo took %v, want seconds", took)
			}
			if code := exitCode(err); code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestSimCommand(t *testing.T) {
	bin := testutil.BuildPedns(t)
	cfg := writeConfig(t, `networks:
  - {name: hub, listen: ["127.0.0.1:0"]}
private_zones:
  - name: privatelink.api.azureml.ms
    workspace_records: true
    links: [{network: hub}]
workspaces:
  - {guid: `+wsGUID+`, name: myworkspace, region: eastus,
     api_ip: 10.1.0.5, notebooks_ip: 10.1.0.6}
`)
	p := testutil.StartPedns(t, bin, "sim", "-c", cfg)
	tests := []struct {
		name   string
		qname  string
		status string
		answer []string
	}{
		{name: "public name through its Private Link zone", qname: wsPublic,
			status: "NOERROR", answer: []string{wsPublic + " CNAME " + wsPrivate,
				wsPrivate + " A 10.1.0.5"}},
		{name: "notebooks zone not linked", status: "NOERROR",
			qname: "ml-myworkspace-eastus-" + wsGUID + ".eastus.notebooks.azure.net."},
		{name: "unknown name", qname: "www.example.com.", status: "NXDOMAIN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.Dig(t, p.Addr, tc.qname, "A")
			if r.Status != tc.status || !r.HasFlag("ra") || r.HasFlag("aa") {
				t.Fatalf("status %s flags %v, want %s with ra, no aa", r.Status, r.Flags,
					tc.status)
			}
			if tc.answer != nil && strings.Join(r.Answer, "\n") != strings.Join(tc.answer, "\n") {
				t.Errorf("answer %v, want %v", r.Answer, tc.answer)
			}
			if tc.answer == nil && r.Status == "NOERROR" && !isPublic(lastAddress(r)) {
				t.Errorf("want a public 203.0.113.x address, got %v", r.Answer)
			}
		})
	}
}
