package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/dnstest"
)

const (
	guid        = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	projectGUID = "11111111-2222-3333-4444-555555555555"
	// testTimeout keeps the tests of dead servers short.
	testTimeout = 400 * time.Millisecond
)

// article is the article's public example workspace with one managed
// online endpoint.
var article = azureml.Workspace{GUID: guid, Name: "myworkspace", Region: "eastus",
	APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7",
	Endpoints: []string{"mymanagedendpoint"}}

// Shorthands for the names of the article workspace.
const (
	apiName  = guid + ".workspace.eastus.api.azureml.ms"
	certName = guid + ".workspace.eastus.cert.api.azureml.ms"
	nbName   = "ml-myworkspace-eastus-" + guid + ".eastus.notebooks.azure.net"
	epName   = "mymanagedendpoint.eastus.inference.ml.azure.com"
	wildName = "*.eastus.inference.ml.azure.com"
	apiPL    = guid + ".workspace.eastus.privatelink.api.azureml.ms"
	nbPL     = "ml-myworkspace-eastus-" + guid + ".eastus.privatelink.notebooks.azure.net"
	epPL     = "mymanagedendpoint." + guid + ".inference.eastus.privatelink.api.azureml.ms"
	probePL  = ProbeLabel + "." + guid + ".inference.eastus.privatelink.api.azureml.ms"
)

// healthyLines are the answers a working DNS server gives for ws: each
// public name a CNAME to its Private Link name, which has the address.
func healthyLines(t *testing.T, ws azureml.Workspace) []string {
	t.Helper()
	targets, _, err := Targets([]azureml.Workspace{ws})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, tg := range targets {
		switch {
		case tg.Query != tg.FQDN: // a wildcard's probe name
			lines = append(lines, tg.Query+". 10 IN A "+tg.IP)
		case tg.PrivateLink == "":
			lines = append(lines, tg.FQDN+". 10 IN A "+tg.IP)
		default:
			lines = append(lines, tg.FQDN+". 300 IN CNAME "+tg.PrivateLink+".",
				tg.PrivateLink+". 10 IN A "+tg.IP)
		}
	}
	return lines
}

// edit returns lines without those starting with any of drop, then with
// add appended.
func edit(lines []string, drop []string, add ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, d := range drop {
			if strings.HasPrefix(l, d) {
				continue next
			}
		}
		out = append(out, l)
	}
	return append(out, add...)
}

func run(t *testing.T, opt Options) *Report {
	t.Helper()
	if opt.Timeout == 0 {
		opt.Timeout = testTimeout
	}
	if opt.Workspaces == nil {
		opt.Workspaces = []azureml.Workspace{article}
	}
	rep, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func named(addr string) []Server { return []Server{{Addr: addr, Source: SourceServer}} }

// TestCauses starts one broken setup per cause and checks that doctor sorts
// the broken names into the right class and names the cause first.
func TestCauses(t *testing.T) {
	healthy := healthyLines(t, article)
	tests := []struct {
		name      string
		server    func(t *testing.T) string     // address of the DNS server
		want      map[string]Class              // FQDN -> class; all others OK
		wantCause CauseID                       // first cause of the broken names
		healthy   bool                          // Report.Healthy
		check     func(t *testing.T, r *Report) // more checks, may be nil
	}{
		{
			name: "healthy",
			server: func(t *testing.T) string {
				return dnstest.Records(t, healthy...).Addr
			},
			healthy: true,
			check: func(t *testing.T, r *Report) {
				if len(r.Causes) != 0 {
					t.Errorf("causes in a healthy setup: %+v", r.Causes)
				}
			},
		},
		{
			name: "private DNS zone not linked: public address after the CNAME",
			server: func(t *testing.T) string {
				return dnstest.Records(t, edit(healthy, []string{nbPL + ". 10 IN A"},
					nbPL+". 10 IN A 203.0.113.6")...).Addr
			},
			want:      map[string]Class{nbName: ClassPublic},
			wantCause: CauseZoneNotLinked,
		},
		{
			name: "inference wildcard missing in the Private Link zone",
			server: func(t *testing.T) string {
				return dnstest.Records(t, edit(healthy, []string{epPL, probePL})...).Addr
			},
			want:      map[string]Class{epName: ClassNXPrivateLink, wildName: ClassNXPrivateLink},
			wantCause: CauseRecordMissing,
			check: func(t *testing.T, r *Report) {
				fix := findingOf(t, r, CauseRecordMissing).Fix
				if !strings.Contains(fix, "*."+guid+".inference.eastus 300 IN A 10.1.0.7") {
					t.Errorf("fix lacks the wildcard record:\n%s", fix)
				}
			},
		},
		{
			name: "public name unknown where it is forwarded",
			server: func(t *testing.T) string {
				return dnstest.Records(t, edit(healthy, []string{nbName})...).Addr
			},
			want:      map[string]Class{nbName: ClassNXPublic},
			wantCause: CauseNameWrong,
			check: func(t *testing.T, r *Report) {
				res := resultOf(t, r, nbName, SourceServer)
				if len(res.Causes) < 2 || res.Causes[1] != CauseForwarderToAzure {
					t.Errorf("causes %v, want the forwarder second", res.Causes)
				}
			},
		},
		{
			name: "forwarder unreachable: SERVFAIL",
			server: func(t *testing.T) string {
				return dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
					return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
				}).Addr
			},
			want: map[string]Class{apiName: ClassServFail, certName: ClassServFail,
				nbName: ClassServFail, epName: ClassServFail, wildName: ClassServFail},
			wantCause: CauseForwarderToAzure,
			check: func(t *testing.T, r *Report) {
				fix := findingOf(t, r, CauseForwarderToAzure).Fix
				for _, z := range []string{"api.azureml.ms", "notebooks.azure.net",
					"inference.ml.azure.com", "168.63.129.16"} {
					if !strings.Contains(fix, z) {
						t.Errorf("forwarder fix lacks %s:\n%s", z, fix)
					}
				}
			},
		},
		{
			name: "stale record: another private address",
			server: func(t *testing.T) string {
				return dnstest.Records(t, edit(healthy, []string{apiPL + ". 10 IN A"},
					apiPL+". 10 IN A 10.1.0.99")...).Addr
			},
			want:      map[string]Class{apiName: ClassWrongPrivate},
			wantCause: CauseStaleRecord,
		},
		{
			name: "manual record hides the chain",
			server: func(t *testing.T) string {
				return dnstest.Records(t, edit(healthy, []string{apiName},
					apiName+". 300 IN A 10.1.0.5")...).Addr
			},
			want:      map[string]Class{apiName: ClassNoCNAME},
			wantCause: CauseManualRecord,
			healthy:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := run(t, Options{Servers: named(tt.server(t))})
			if len(rep.Results) != 5 {
				t.Fatalf("%d results, want 5 names on one server", len(rep.Results))
			}
			for _, res := range rep.Results {
				want := tt.want[res.FQDN]
				if want == "" {
					want = ClassOK
				}
				if res.Class != want {
					t.Errorf("%s: class %s (%s), want %s", res.FQDN, res.Class,
						res.Evidence, want)
				}
				if want != ClassOK && (len(res.Causes) == 0 || res.Causes[0] != tt.wantCause) {
					t.Errorf("%s: causes %v, want %s first", res.FQDN, res.Causes,
						tt.wantCause)
				}
			}
			if rep.Healthy() != tt.healthy {
				t.Errorf("Healthy() = %v, want %v", rep.Healthy(), tt.healthy)
			}
			if tt.check != nil {
				tt.check(t, rep)
			}
		})
	}
}

func resultOf(t *testing.T, r *Report, fqdn string, src Source) Result {
	t.Helper()
	for _, res := range r.Results {
		if res.FQDN == fqdn && res.Source == src {
			return res
		}
	}
	t.Fatalf("no result for %s from %s", fqdn, src)
	return Result{}
}

func findingOf(t *testing.T, r *Report, id CauseID) Finding {
	t.Helper()
	for _, f := range r.Causes {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no finding %s in %+v", id, r.Causes)
	return Finding{}
}

// TestUnreachable checks that a server that never answers is a finding
// that arrives within a few deadlines, not a hang.
func TestUnreachable(t *testing.T) {
	silent := dnstest.Silent(t)
	start := time.Now()
	rep := run(t, Options{Servers: named(silent.Addr)})
	elapsed := time.Since(start)
	if limit := 4 * testTimeout; elapsed > limit {
		t.Errorf("took %v, want under %v", elapsed, limit)
	}
	for _, res := range rep.Results {
		if res.Class != ClassUnreachable {
			t.Errorf("%s: class %s, want %s", res.FQDN, res.Class, ClassUnreachable)
		}
		if !res.A.last().Timeout {
			t.Errorf("%s: lookup not marked as timed out: %+v", res.FQDN, res.A.last())
		}
	}
	f := findingOf(t, rep, CauseServerUnreachable)
	if !strings.Contains(f.Fix, silent.Addr) {
		t.Errorf("fix does not name the server: %s", f.Fix)
	}
}

// TestMachineNotUsingServer gives a healthy DNS server and a machine
// resolver that answers publicly: the machine's results differ and name
// the first cause of the article alone.
func TestMachineNotUsingServer(t *testing.T) {
	server := dnstest.Records(t, healthyLines(t, article)...)
	public := healthyLines(t, article)
	for i, l := range public {
		if f := strings.Fields(l); f[3] == "A" {
			public[i] = f[0] + " 10 IN A 203.0.113.9"
		}
	}
	machine := dnstest.Records(t, public...)
	rep := run(t, Options{Servers: []Server{{Addr: server.Addr, Source: SourceServer},
		{Addr: machine.Addr, Source: SourceResolvConf}}})
	if rep.Healthy() {
		t.Error("Healthy() with a machine that bypasses the DNS server")
	}
	if rep.Summary.Mismatches != 5 {
		t.Errorf("%d mismatches, want 5", rep.Summary.Mismatches)
	}
	for _, res := range rep.Results {
		switch res.Source {
		case SourceServer:
			if res.Class != ClassOK || res.DiffersFrom != "" {
				t.Errorf("server %s: %s, differs from %q", res.FQDN, res.Class,
					res.DiffersFrom)
			}
		case SourceResolvConf:
			if res.Class != ClassPublic || res.DiffersFrom != server.Addr ||
				len(res.Causes) != 1 || res.Causes[0] != CauseNotUsingServer {
				t.Errorf("machine %s: %s, differs from %q, causes %v", res.FQDN,
					res.Class, res.DiffersFrom, res.Causes)
			}
		}
	}
	var out bytes.Buffer
	if err := WriteText(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "DIFFERS  "+apiName) {
		t.Errorf("report lacks the comparison:\n%s", out.String())
	}
}

// TestProjects checks that a hub's project names are marked and listed
// apart in the report.
func TestProjects(t *testing.T) {
	hub := article
	hub.Projects = []azureml.Project{{GUID: projectGUID, Name: "project-one"}}
	server := dnstest.Records(t, healthyLines(t, hub)...)
	rep := run(t, Options{Servers: named(server.Addr), Workspaces: []azureml.Workspace{hub}})
	if !rep.Healthy() {
		t.Fatalf("not healthy: %+v", rep.Summary)
	}
	projects := 0
	for _, res := range rep.Results {
		isProject := strings.Contains(res.FQDN, projectGUID)
		if res.Project != isProject {
			t.Errorf("%s: Project = %v", res.FQDN, res.Project)
		}
		if isProject {
			projects++
			if res.Hub != guid {
				t.Errorf("%s: hub %s, want %s", res.FQDN, res.Hub, guid)
			}
		}
	}
	if projects != 3 {
		t.Errorf("%d project names, want api, cert and notebooks", projects)
	}
	var out bytes.Buffer
	if err := WriteText(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	head, tail, ok := strings.Cut(text, "Project names")
	if !ok {
		t.Fatalf("no project section:\n%s", text)
	}
	if strings.Contains(head, projectGUID+".workspace") ||
		!strings.Contains(tail, projectGUID+".workspace.eastus.api.azureml.ms") {
		t.Errorf("project names not apart:\n%s", text)
	}
}

// TestChaseAndTruncation uses a server that answers each name alone (no
// CNAME chasing) and truncates every UDP answer: doctor must ask again for
// the CNAME target, over TCP.
func TestChaseAndTruncation(t *testing.T) {
	rrs := map[string][]dns.RR{}
	for _, l := range healthyLines(t, article) {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ToLower(rr.Header().Name)
		rrs[name] = append(rrs[name], rr)
	}
	answer := func(truncate bool) dns.HandlerFunc {
		return func(w dns.ResponseWriter, req *dns.Msg) {
			resp := new(dns.Msg).SetReply(req)
			resp.RecursionAvailable = true
			q := req.Question[0]
			for _, rr := range rrs[strings.ToLower(q.Name)] {
				if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
					resp.Answer = append(resp.Answer, rr)
				}
			}
			if len(rrs[strings.ToLower(q.Name)]) == 0 {
				resp.Rcode = dns.RcodeNameError
			}
			if truncate {
				resp.Answer, resp.Truncated = nil, true
			}
			w.WriteMsg(resp)
		}
	}
	pc, l := dnstest.ListenPair(t)
	udp := &dns.Server{PacketConn: pc, Handler: answer(true)}
	tcp := &dns.Server{Listener: l, Handler: answer(false)}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	rep := run(t, Options{Servers: named(pc.LocalAddr().String())})
	res := resultOf(t, rep, apiName, SourceServer)
	if res.Class != ClassOK {
		t.Fatalf("class %s (%s), want OK", res.Class, res.Evidence)
	}
	if len(res.A.Lookups) != 2 || res.A.Lookups[1].Name != apiPL {
		t.Errorf("lookups %+v, want a second one for %s", res.A.Lookups, apiPL)
	}
	for _, lk := range res.A.Lookups {
		if lk.Transport != "tcp" {
			t.Errorf("lookup of %s over %s, want tcp", lk.Name, lk.Transport)
		}
	}
	if want := []string{apiName, apiPL}; strings.Join(res.A.Names, " ") !=
		strings.Join(want, " ") {
		t.Errorf("chain %v, want %v", res.A.Names, want)
	}
}

// TestFixSyntax checks that the forwarder fix is written in each syntax.
func TestFixSyntax(t *testing.T) {
	servfail := dnstest.Start(t, func(req *dns.Msg) *dns.Msg {
		return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
	})
	tests := []struct {
		syntax string
		want   string
	}{
		{syntax: "bind", want: "forwarders { 168.63.129.16; };"},
		{syntax: "windows", want: "Add-DnsServerConditionalForwarderZone -Name " +
			"'api.azureml.ms' -MasterServers '168.63.129.16'"},
		{syntax: "unbound", want: "forward-addr: 168.63.129.16"},
		{syntax: "dnsmasq", want: "server=/api.azureml.ms/168.63.129.16"},
		{syntax: "coredns", want: "forward . 168.63.129.16"},
		{syntax: "pedns", want: "- 168.63.129.16"},
	}
	for _, tt := range tests {
		t.Run(tt.syntax, func(t *testing.T) {
			rep := run(t, Options{Servers: named(servfail.Addr), Syntax: tt.syntax})
			fix := findingOf(t, rep, CauseForwarderToAzure).Fix
			if !strings.Contains(fix, tt.want) {
				t.Errorf("fix lacks %q:\n%s", tt.want, fix)
			}
			if strings.Contains(fix, "written by pedns plan") {
				t.Errorf("fix carries the file header:\n%s", fix)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string
		wantErr string
	}{
		{name: "plain", text: "# comment\nsearch example\nnameserver 127.0.0.53\n" +
			"options edns0\nnameserver ::1\n", want: []string{"127.0.0.53:53", "[::1]:53"}},
		{name: "with port", text: "nameserver 127.0.0.1:5353\nnameserver [::1]:5300\n",
			want: []string{"127.0.0.1:5353", "[::1]:5300"}},
		{name: "host name", text: "nameserver dns.example\n", wantErr: "line 1"},
		{name: "empty", text: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResolvConf(strings.NewReader(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, s := range got {
				addrs = append(addrs, s.Addr)
				if s.Source != SourceResolvConf {
					t.Errorf("%s: source %s", s.Addr, s.Source)
				}
			}
			if strings.Join(addrs, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", addrs, tt.want)
			}
		})
	}
}

// TestJSONFields pins the names of the JSON fields scripts read.
func TestJSONFields(t *testing.T) {
	server := dnstest.Records(t, healthyLines(t, article)...)
	rep := run(t, Options{Servers: named(server.Addr)})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []map[string]any `json:"servers"`
		Results []map[string]any `json:"results"`
		Summary map[string]any   `json:"summary"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fqdn", "query", "ip", "private_link", "purpose", "project",
		"server", "source", "class", "severity", "evidence", "addresses",
		"private_link_seen", "a", "aaaa"} {
		if _, ok := doc.Results[0][k]; !ok {
			t.Errorf("result lacks key %q", k)
		}
	}
	for _, k := range []string{"names", "results", "ok", "warnings", "failed", "classes"} {
		if _, ok := doc.Summary[k]; !ok {
			t.Errorf("summary lacks key %q", k)
		}
	}
}
