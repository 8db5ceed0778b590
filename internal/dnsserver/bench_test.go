package dnsserver

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnstest"
	"github.com/pedns/pedns/internal/wire"
)

// benchZone is the LOCAL scenario of the shared harness: 1,000 names in a
// Private Link zone.
func benchZone() string {
	text := "listen: [\"127.0.0.1:0\"]\nlog: {level: error}\nzones:\n" +
		"  - name: privatelink.api.azureml.ms\n    records: |\n"
	for i := 0; i < 1000; i++ {
		text += fmt.Sprintf("      w%04d.workspace.eastus 300 IN A 10.1.%d.%d\n", i, i/250, i%250)
	}
	return text
}

func benchQueries(b *testing.B, suffix string) [][]byte {
	out := make([][]byte, 1000)
	for i := range out {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("w%04d.workspace.eastus.%s", i, suffix), dns.TypeA)
		m.SetEdns0(1232, false)
		out[i], _ = m.Pack()
	}
	return out
}

// BenchmarkHandleLocal answers from a local zone through Handle; after the
// first pass every query is a reply-cache hit.
func BenchmarkHandleLocal(b *testing.B) {
	s := newServer(b, benchZone())
	qs := benchQueries(b, "privatelink.api.azureml.ms.")
	client := loopback
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Handle(context.Background(), qs[i%len(qs)], client, true) == nil {
			b.Fatal("no reply")
		}
	}
}

// BenchmarkFastPathHit measures the fast path alone, as the UDP loop runs it:
// parse, reply-cache lookup and write, with no allocation.
func BenchmarkFastPathHit(b *testing.B) {
	s := newServer(b, benchZone())
	qs := benchQueries(b, "privatelink.api.azureml.ms.")
	for _, q := range qs {
		s.Handle(context.Background(), q, loopback, true)
	}
	st := s.State()
	buf := make([]byte, 0, 4096)
	var q wireQuery
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt := qs[i%len(qs)]
		parsed := parseQuery(pkt, &q)
		if s.fast(st, pkt, loopback, true, &q, parsed, buf, time.Now().UnixNano()) == nil {
			b.Fatal("fast path missed")
		}
	}
}

// BenchmarkSlowPathLocal measures the full path for a local-zone answer:
// unpack, resolve, pack, with the reply cache bypassed.
func BenchmarkSlowPathLocal(b *testing.B) {
	s := newServer(b, benchZone())
	qs := benchQueries(b, "privatelink.api.azureml.ms.")
	st := s.State()
	var q wireQuery
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.slow(context.Background(), st, qs[i%len(qs)], loopback, true, &q, false) == nil {
			b.Fatal("no reply")
		}
	}
}

// BenchmarkMiss forwards a new name on every query to a loopback upstream that
// answers CNAME + A, like the MISS scenario of the shared harness.
func BenchmarkMiss(b *testing.B) {
	up := dnstest.Start(b, func(req *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		name := req.Question[0].Name
		target := "pl." + name
		m.Answer = []dns.RR{
			&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: 1, Ttl: 60},
				Target: target},
			&dns.A{Hdr: dns.RR_Header{Name: target, Rrtype: dns.TypeA, Class: 1, Ttl: 60},
				A: net.IPv4(10, 1, 2, 3)},
		}
		return m
	})
	s := newServer(b,
		fmt.Sprintf("forward: [{zones: [api.azureml.ms], upstreams: [%q]}]\n", up.Addr))
	st := s.State()
	var q wireQuery
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("m%d.workspace.eastus.api.azureml.ms.", i), dns.TypeA)
		pkt, _ := m.Pack()
		parsed := parseQuery(pkt, &q)
		if s.slow(context.Background(), st, pkt, loopback, true, &q, parsed) == nil {
			b.Fatal("no reply")
		}
	}
}

type wireQuery = wire.Query

var parseQuery = wire.ParseQuery
