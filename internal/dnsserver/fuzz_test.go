package dnsserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnstest"
)

// FuzzHandle feeds raw packets to the whole query path (hosts, a zone with a
// wildcard and a CNAME, the cache, and a loopback upstream) and checks that a
// reply, when there is one, parses, answers the packet's ID, has QR set and
// fits the size the client may receive over UDP.
func FuzzHandle(f *testing.F) {
	up := dnstest.Records(f, "up.example. 60 IN A 10.9.0.1",
		"alias.up.example. 60 IN CNAME www.corp.example.")
	hostsFile := filepath.Join(f.TempDir(), "h.hosts")
	os.WriteFile(hostsFile, []byte("10.8.0.1 pinned.example\n"), 0o644)
	s := newServer(f, fmt.Sprintf(`listen: ["127.0.0.1:0"]
forward: [{zones: ["."], upstreams: [%q]}]
upstream: {try_timeout: 100ms, timeout: 300ms}
hosts: [%q]
zones:
  - name: corp.example
    records: |
      www 300 IN A 10.0.0.1
      *.wild 300 IN A 10.0.0.2
      cn 300 IN CNAME alias.up.example.
`, up.Addr, hostsFile))

	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"www.corp.example.", dns.TypeA, false},
		{"x.wild.corp.example.", dns.TypeA, true},
		{"cn.corp.example.", dns.TypeA, true},
		{"pinned.example.", dns.TypeAAAA, false},
		{"up.example.", dns.TypeA, true},
		{"corp.example.", dns.TypeANY, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(1232, true)
		}
		b, _ := m.Pack()
		f.Add(b, true)
	}

	f.Fuzz(func(t *testing.T, packet []byte, udp bool) {
		out := s.Handle(context.Background(), packet, loopback, udp)
		if out == nil {
			return
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if len(packet) >= 2 && resp.Id != binary.BigEndian.Uint16(packet) {
			t.Fatalf("reply ID %d, query ID %d", resp.Id, binary.BigEndian.Uint16(packet))
		}
		if !resp.Response {
			t.Fatal("reply without QR")
		}
		if udp && len(out) > 1232 {
			t.Fatalf("UDP reply of %d bytes", len(out))
		}
	})
}
