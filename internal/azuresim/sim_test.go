package azuresim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	guid   = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	apiPub = guid + ".workspace.eastus.api.azureml.ms."
	apiPL  = guid + ".workspace.eastus.privatelink.api.azureml.ms."
	certPL = guid + ".workspace.eastus.cert.privatelink.api.azureml.ms."
	nbPub  = "ml-myworkspace-eastus-" + guid + ".eastus.notebooks.azure.net."
	nbPL   = "ml-myworkspace-eastus-" + guid + ".eastus.privatelink.notebooks.azure.net."
	epPub  = "mymanagedendpoint.eastus.inference.ml.azure.com."
	epPL   = "mymanagedendpoint." + guid + ".inference.eastus.privatelink.api.azureml.ms."
	ciPub  = "mycomputeinstance.eastus.instances.azureml.ms."
	ci22   = "mycomputeinstance-22.eastus.instances.azureml.ms."
)

// testConfig has four networks: hub is linked to both zones, spoke to the
// API zone only but with fallback to internet on the notebooks zone, which
// holds no records; internet is linked to nothing.
const testConfig = `
networks:
  - {name: hub, listen: ["127.0.0.1:0"]}
  - {name: spoke, listen: ["127.0.0.1:0"]}
  - {name: internet, listen: ["127.0.0.1:0"]}
private_zones:
  - name: privatelink.api.azureml.ms
    workspace_records: true
    links: [{network: hub}, {network: spoke}]
  - name: privatelink.notebooks.azure.net
    records: |
      unrelated 300 IN A 10.9.9.9
    links:
      - {network: hub}
      - {network: spoke, fallback_to_internet: true}
workspaces:
  - guid: ` + guid + `
    name: myworkspace
    region: eastus
    api_ip: 10.1.0.5
    notebooks_ip: 10.1.0.6
    inference_ip: 10.1.0.7
    computes: [mycomputeinstance]
    endpoints: [mymanagedendpoint]
`

func testModel(t *testing.T) *Model {
	t.Helper()
	cfg, err := ParseConfig([]byte(testConfig), "test.yaml")
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	m, err := NewModel(cfg)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	return m
}

// rrLines writes records as zone-file lines without TTLs, for comparison.
func rrLines(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		out[i] = strings.Join(strings.Fields(c.String()), " ")
	}
	return out
}

func TestResolve(t *testing.T) {
	m := testModel(t)
	pub := func(name string) string { return PublicAddress(name).String() }
	tests := []struct {
		name    string
		network string
		qname   string
		qtype   uint16
		rcode   int
		answer  []string
		soa     string // owner of the SOA in the authority section, if any
	}{
		{name: "api from linked network", network: "hub", qname: apiPub, qtype: dns.TypeA,
			answer: []string{apiPub + " 0 IN CNAME " + apiPL, apiPL + " 0 IN A 10.1.0.5"}},
		{name: "api asked in upper case", network: "hub", qname: strings.ToUpper(apiPub),
			qtype:  dns.TypeA,
			answer: []string{apiPub + " 0 IN CNAME " + apiPL, apiPL + " 0 IN A 10.1.0.5"}},
		{name: "api from unlinked network", network: "internet", qname: apiPub,
			qtype: dns.TypeA, answer: []string{apiPub + " 0 IN CNAME " + apiPL,
				apiPL + " 0 IN A " + pub(apiPL)}},
		{name: "private link name from linked network", network: "hub", qname: certPL,
			qtype: dns.TypeA, answer: []string{certPL + " 0 IN A 10.1.0.5"}},
		{name: "endpoint through the inference wildcard", network: "spoke", qname: epPub,
			qtype: dns.TypeA, answer: []string{epPub + " 0 IN CNAME " + epPL,
				epPL + " 0 IN A 10.1.0.7"}},
		{name: "endpoint from unlinked network", network: "internet", qname: epPub,
			qtype: dns.TypeA, answer: []string{epPub + " 0 IN CNAME " + epPL,
				epPL + " 0 IN A " + pub(epPL)}},
		{name: "linked zone without the name", network: "hub", qname: nbPub,
			qtype: dns.TypeA, rcode: dns.RcodeNameError,
			answer: []string{nbPub + " 0 IN CNAME " + nbPL},
			soa:    "privatelink.notebooks.azure.net."},
		{name: "fallback to internet", network: "spoke", qname: nbPub, qtype: dns.TypeA,
			answer: []string{nbPub + " 0 IN CNAME " + nbPL, nbPL + " 0 IN A " + pub(nbPL)}},
		{name: "fallback is for A, AAAA and CNAME only", network: "spoke", qname: nbPL,
			qtype: dns.TypeTXT, rcode: dns.RcodeNameError,
			soa: "privatelink.notebooks.azure.net."},
		{name: "compute from linked network", network: "hub", qname: ciPub,
			qtype: dns.TypeA, answer: []string{ciPub + " 0 IN A 10.1.0.5"}},
		{name: "compute ssh name", network: "spoke", qname: ci22, qtype: dns.TypeA,
			answer: []string{ci22 + " 0 IN A 10.1.0.5"}},
		{name: "compute from unlinked network", network: "internet", qname: ciPub,
			qtype: dns.TypeA, answer: []string{ciPub + " 0 IN A " + pub(ciPub)}},
		{name: "AAAA is NODATA after the chain", network: "hub", qname: apiPub,
			qtype: dns.TypeAAAA, answer: []string{apiPub + " 0 IN CNAME " + apiPL},
			soa: "privatelink.api.azureml.ms."},
		{name: "CNAME question gets the CNAME alone", network: "hub", qname: apiPub,
			qtype: dns.TypeCNAME, answer: []string{apiPub + " 0 IN CNAME " + apiPL}},
		{name: "unknown workspace name", network: "hub",
			qname: "00000000-0000-0000-0000-000000000000.workspace.eastus.api.azureml.ms.",
			qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: "api.azureml.ms."},
		{name: "wildcard of the NIC is not a public name", network: "hub",
			qname: "*.eastus.inference.ml.azure.com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: "inference.ml.azure.com."},
		{name: "never recurses", network: "hub", qname: "www.example.com.",
			qtype: dns.TypeA, rcode: dns.RcodeNameError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := m.Resolve(tc.network, tc.qname, tc.qtype)
			if res.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[res.Rcode],
					dns.RcodeToString[tc.rcode])
			}
			got, want := rrLines(res.Answer), tc.answer
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"),
					strings.Join(want, "\n"))
			}
			soa := ""
			if len(res.Ns) == 1 {
				soa = res.Ns[0].Header().Name
			}
			if soa != tc.soa {
				t.Errorf("authority SOA %q, want %q", soa, tc.soa)
			}
		})
	}
}

func TestPublicAddress(t *testing.T) {
	for _, name := range []string{apiPL, nbPL, epPL, ciPub, "x."} {
		a := PublicAddress(name)
		if !PublicNet.Contains(a) || a.As4()[3] == 0 || a.As4()[3] == 255 {
			t.Errorf("PublicAddress(%q) = %s, want a host of %s", name, a, PublicNet)
		}
		if b := PublicAddress(strings.ToUpper(strings.TrimSuffix(name, "."))); b != a {
			t.Errorf("PublicAddress depends on case or final dot: %s and %s", a, b)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{name: "unknown key", yaml: "networks: [{name: a, listen: [127.0.0.1:0], x: 1}]",
			want: "field x not found"},
		{name: "no networks", yaml: "private_zones: []", want: "at least one network"},
		{name: "network twice",
			yaml: "networks: [{name: a, listen: [127.0.0.1:0]}, {name: a, listen: [127.0.0.1:0]}]",
			want: `network "a" is defined twice`},
		{name: "bad listen", yaml: "networks: [{name: a, listen: [localhost:53]}]",
			want: "networks[0].listen[0]"},
		{name: "link to unknown network",
			yaml: "networks: [{name: a, listen: [127.0.0.1:0]}]\n" +
				"private_zones: [{name: z.test, links: [{network: b}]}]",
			want: `no network named "b"`},
		{name: "bad record",
			yaml: "networks: [{name: a, listen: [127.0.0.1:0]}]\n" +
				"private_zones: [{name: z.test, records: \"x 300 IN A notanip\"}]",
			want: "private_zones[0].records"},
		{name: "bad workspace",
			yaml: "networks: [{name: a, listen: [127.0.0.1:0]}]\n" +
				"workspaces: [{guid: nope, name: w, region: eastus}]",
			want: "workspaces[0]"},
		{name: "bad log level",
			yaml: "networks: [{name: a, listen: [127.0.0.1:0]}]\nlog: {level: loud}",
			want: "log.level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml), "bad.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) ||
				!strings.HasPrefix(err.Error(), "bad.yaml: ") {
				t.Fatalf("error %v, want one starting with bad.yaml and containing %q",
					err, tc.want)
			}
		})
	}
}

// TestServe runs the emulator on loopback sockets and checks that the
// network is told by the listen address, over UDP and TCP.
func TestServe(t *testing.T) {
	cfg, err := ParseConfig([]byte(testConfig), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 10)
	s, err := New(cfg, Options{Trace: func(e Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	}()

	tests := []struct {
		name    string
		network string
		net     string
		want    string
	}{
		{name: "hub over UDP", network: "hub", net: "udp", want: "10.1.0.5"},
		{name: "hub over TCP", network: "hub", net: "tcp", want: "10.1.0.5"},
		{name: "internet over UDP", network: "internet", net: "udp",
			want: PublicAddress(apiPL).String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := s.Addrs(tc.network)[0]
			c := &dns.Client{Net: tc.net, Timeout: 2 * time.Second}
			q := new(dns.Msg)
			q.SetQuestion(apiPub, dns.TypeA)
			resp, _, err := c.Exchange(q, addr)
			if err != nil {
				t.Fatalf("exchange with %s: %v", addr, err)
			}
			if !resp.RecursionAvailable || resp.Authoritative || len(resp.Answer) != 2 {
				t.Fatalf("want RA, not AA, CNAME and A; got\n%v", resp)
			}
			if a, ok := resp.Answer[1].(*dns.A); !ok || a.A.String() != tc.want {
				t.Errorf("answer %v, want A %s", resp.Answer[1], tc.want)
			}
			select {
			case e := <-events:
				if e.Network != tc.network || e.Listen != addr {
					t.Errorf("event from %s on %s, want %s on %s",
						e.Network, e.Listen, tc.network, addr)
				}
			case <-time.After(time.Second):
				t.Error("no trace event")
			}
		})
	}
}

// TestExampleConfig keeps examples/sim.yaml loadable and on loopback.
func TestExampleConfig(t *testing.T) {
	cfg, err := LoadConfig("../../examples/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cfg.Networks {
		for _, a := range n.Listen {
			if !strings.HasPrefix(a, "127.") {
				t.Errorf("network %s listens on %s, not loopback", n.Name, a)
			}
		}
	}
	if _, err := NewModel(cfg); err != nil {
		t.Fatal(err)
	}
}
