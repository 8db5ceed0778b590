package wire

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// packMessages are replies of the shapes pedns sends.
func packMessages(t testing.TB) map[string]*dns.Msg {
	reply := func(name string, qtype uint16, answer, ns []string, edns bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response, m.RecursionAvailable, m.Id = true, true, 0xbeef
		for _, s := range answer {
			m.Answer = append(m.Answer, mustRR(t, s))
		}
		for _, s := range ns {
			m.Ns = append(m.Ns, mustRR(t, s))
		}
		if edns {
			m.SetEdns0(1232, true)
		}
		return m
	}
	ws := "ws1.workspace.eastus.api.azureml.ms."
	pl := "ws1.workspace.eastus.privatelink.api.azureml.ms."
	msgs := map[string]*dns.Msg{
		"cname chain": reply(ws, dns.TypeA, []string{
			ws + " 300 IN CNAME " + pl,
			pl + " 10 IN A 10.1.0.5",
		}, nil, true),
		"mixed case": reply("WS1.Workspace.eastus.api.azureml.ms.", dns.TypeA, []string{
			"WS1.Workspace.eastus.api.azureml.ms. 300 IN CNAME " + pl,
			pl + " 10 IN A 10.1.0.5",
		}, nil, false),
		"aaaa": reply("v6.example.", dns.TypeAAAA, []string{
			"v6.example. 60 IN AAAA 2001:db8::1",
			"v6.example. 60 IN AAAA 2001:db8::2",
		}, nil, true),
		"nxdomain": reply("missing.privatelink.api.azureml.ms.", dns.TypeA, nil, []string{
			"privatelink.api.azureml.ms. 10 IN SOA azureprivatedns.net. " +
				"azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10",
		}, true),
		"ptr": reply("5.0.1.10.in-addr.arpa.", dns.TypePTR, []string{
			"5.0.1.10.in-addr.arpa. 3600 IN PTR " + pl,
		}, nil, false),
		"root question": reply(".", dns.TypeNS, nil, nil, false),
		"question only": reply("only.example.", dns.TypeA, nil, nil, true),
	}
	msgs["nxdomain"].Rcode = dns.RcodeNameError
	badvers := reply("v.example.", dns.TypeA, nil, nil, true)
	badvers.Rcode = dns.RcodeBadVers
	msgs["badvers"] = badvers
	return msgs
}

// The Packer's bytes are miekg/dns's, compression included, for every shape
// it accepts.
func TestPackMatchesMiekg(t *testing.T) {
	var p Packer
	for name, m := range packMessages(t) {
		t.Run(name, func(t *testing.T) {
			m.Compress = true
			want, err := m.Copy().Pack()
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Pack(nil, m)
			if !ok {
				t.Fatal("declined")
			}
			if !bytes.Equal(got, want) {
				t.Errorf("packed\n%x\nmiekg/dns packs\n%x", got, want)
			}
		})
	}
}

// What the Packer does not encode, it declines rather than gets wrong.
func TestPackDeclines(t *testing.T) {
	base := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("a.example.", dns.TypeA)
		return m
	}
	cases := map[string]func(m *dns.Msg){
		"mx record": func(m *dns.Msg) {
			m.Answer = []dns.RR{mustRR(t, "a.example. 60 IN MX 10 mail.example.")}
		},
		"escaped name": func(m *dns.Msg) { m.Question[0].Name = `a\.b.example.` },
		"not fully qualified": func(m *dns.Msg) {
			m.Question[0].Name = "a.example"
		},
		"empty label": func(m *dns.Msg) { m.Question[0].Name = "a..example." },
		"long label": func(m *dns.Msg) {
			m.Question[0].Name = string(bytes.Repeat([]byte("x"), 64)) + ".example."
		},
		"edns option": func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE,
				Cookie: "0102030405060708"}}
		},
		"extended rcode without opt": func(m *dns.Msg) { m.Rcode = dns.RcodeBadVers },
	}
	var p Packer
	for name, change := range cases {
		m := base()
		change(m)
		if _, ok := p.Pack(nil, m); ok {
			t.Errorf("%s: packed, want declined", name)
		}
	}
}

// Packing into a buffer with room allocates nothing.
func TestPackDoesNotAllocate(t *testing.T) {
	m := packMessages(t)["cname chain"]
	var p Packer
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := p.Pack(buf, m); !ok {
			t.Fatal("declined")
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Pack, want 0", allocs)
	}
}

// Any message miekg/dns parses, the Packer either declines or packs to the
// bytes miekg/dns packs.
func FuzzPack(f *testing.F) {
	for _, m := range packMessages(f) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var p Packer
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		m.Compress = true
		got, ok := p.Pack(nil, m)
		want, err := m.Copy().Pack()
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("packed a message miekg/dns refuses (%v): %v", err, m)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("packed\n%x\nmiekg/dns packs\n%x\nfor %v", got, want, m)
		}
	})
}

func BenchmarkPack(b *testing.B) {
	m := packMessages(b)["cname chain"]
	b.Run("packer", func(b *testing.B) {
		var p Packer
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p.Pack(buf, m)
		}
	})
	b.Run("miekg", func(b *testing.B) {
		m.Compress = true
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Pack()
		}
	})
}

// A message with more name suffixes than the Packer remembers is declined, not
// packed with less compression than miekg/dns would give it.
func TestPackManyNames(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("many.example.", dns.TypeA)
	for i := 0; i < 70; i++ {
		name := fmt.Sprintf("host%d.many.example.", i)
		m.Answer = append(m.Answer, mustRR(t, name+" 60 IN A 10.0.0.1"),
			mustRR(t, name+" 60 IN A 10.0.0.2"))
	}
	m.Compress = true
	want, err := m.Copy().Pack()
	if err != nil {
		t.Fatal(err)
	}
	var p Packer
	if got, ok := p.Pack(nil, m); ok && !bytes.Equal(got, want) {
		t.Errorf("packed %d bytes, miekg/dns packs %d", len(got), len(want))
	}
}
