package wire

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

func packed(t testing.TB, name string, qtype uint16, edns, do bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseQuery(t *testing.T) {
	plain := packed(t, "WwW.Example.", dns.TypeA, false, false)
	withOpt := packed(t, "www.example.", dns.TypeAAAA, true, true)
	compressed := append([]byte(nil), plain[:12]...)
	compressed = append(compressed, 0xc0, 0x0c, 0, 1, 0, 1)
	response := append([]byte(nil), plain...)
	response[2] |= 0x80
	chaos := append([]byte(nil), plain...)
	binary.BigEndian.PutUint16(chaos[len(chaos)-2:], dns.ClassCHAOS)

	tests := []struct {
		name   string
		packet []byte
		ok     bool
		key    string
		do     bool
	}{
		{name: "plain, lower-cased", packet: plain, ok: true,
			key: "\x03www\x07example\x00\x00\x01\x00"},
		{name: "with OPT and DO", packet: withOpt, ok: true, do: true,
			key: "\x03www\x07example\x00\x00\x1c\x03"},
		{name: "trailing byte", packet: append(append([]byte(nil), plain...), 0)},
		{name: "cut question", packet: plain[:len(plain)-1]},
		{name: "compressed question", packet: compressed},
		{name: "a response", packet: response},
		{name: "class CHAOS", packet: chaos},
		{name: "ANY", packet: packed(t, "www.example.", dns.TypeANY, false, false)},
		{name: "short", packet: plain[:11]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var q Query
			ok := ParseQuery(tc.packet, &q)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if key := string(q.Key(512)); key[:len(key)-2] != tc.key || q.DO != tc.do {
				t.Errorf("key %q do %v, want %q %v", key, q.DO, tc.key, tc.do)
			}
		})
	}
}

func TestReplyWriteTo(t *testing.T) {
	req := new(dns.Msg)
	req.SetQuestion("www.example.", dns.TypeA)
	resp := new(dns.Msg)
	resp.SetReply(req)
	rr, _ := dns.NewRR("www.example. 100 IN A 10.0.0.1")
	resp.Answer = []dns.RR{rr}
	msg, _ := resp.Pack()

	const sec = int64(1e9)
	r, ok := NewReply(msg, true, 1000*sec, 0, "cache", ".")
	if !ok {
		t.Fatal("NewReply refused a valid message")
	}
	query := packed(t, "WWW.example.", dns.TypeA, false, false)
	binary.BigEndian.PutUint16(query, 0xbeef)
	var q Query
	if !ParseQuery(query, &q) {
		t.Fatal("parse")
	}
	out := r.WriteTo(nil, query, &q, 1040*sec)
	got := new(dns.Msg)
	if err := got.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if got.Id != 0xbeef || got.Question[0].Name != "WWW.example." || !got.RecursionDesired {
		t.Errorf("id %x question %q rd %v", got.Id, got.Question[0].Name, got.RecursionDesired)
	}
	if ttl := got.Answer[0].Header().Ttl; ttl != 60 {
		t.Errorf("TTL %d after 40s, want 60", ttl)
	}

	c := NewReplies(16)
	c.Put(q.Key(512), r)
	if c.Get(q.Key(512), 1089*sec) == nil || c.Get(q.Key(512), 1090*sec) != nil {
		t.Error("reply should live nine tenths of its 100s TTL")
	}
	if c.Get(q.Key(1232), 1001*sec) != nil {
		t.Error("a reply for 512-byte clients served to a 1232-byte key")
	}
}

func BenchmarkParseQuery(b *testing.B) {
	pkt := packed(b, "w0042.workspace.eastus.privatelink.api.azureml.ms.", dns.TypeA, true, false)
	var q Query
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !ParseQuery(pkt, &q) {
			b.Fatal("parse")
		}
	}
}

func BenchmarkReplyCacheHit(b *testing.B) {
	req := new(dns.Msg)
	req.SetQuestion("w0042.workspace.eastus.privatelink.api.azureml.ms.", dns.TypeA)
	resp := new(dns.Msg)
	resp.SetReply(req)
	rr, _ := dns.NewRR("w0042.workspace.eastus.privatelink.api.azureml.ms. 100 IN A 10.1.0.42")
	resp.Answer = []dns.RR{rr}
	msg, _ := resp.Pack()
	c := NewReplies(1000)
	var q Query
	pkt, _ := req.Pack()
	ParseQuery(pkt, &q)
	r, _ := NewReply(msg, true, 0, 0, "cache", ".")
	c.Put(q.Key(512), r)
	buf := make([]byte, 0, 512)

	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParseQuery(pkt, &q)
		r := c.Get(q.Key(512), 1)
		buf = r.WriteTo(buf, pkt, &q, 1)
	}
}

// Query.Name gives what dns.UnpackDomainName gives, escapes included.
func TestQueryName(t *testing.T) {
	names := []string{"WwW.Example.", ".", `a\.b.example.`, `sp\032ace.example.`,
		`\255\000x.example.`, `q\"uote\@at\;semi.example.`}
	for i := 0; i < 256; i++ {
		names = append(names, fmt.Sprintf(`b\%03d.example.`, i))
	}
	for _, name := range names {
		packet := packed(t, name, dns.TypeA, false, false)
		var q Query
		if !ParseQuery(packet, &q) {
			t.Fatalf("%s: not parsed", name)
		}
		want, _, err := dns.UnpackDomainName(packet, HeaderLen)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Name(packet); got != want {
			t.Errorf("Name %q, want %q", got, want)
		}
	}
}

// Whole allows bytes after the last record, WellFormed does not; neither
// takes a message with fewer records than it counts.
func TestWholeAndWellFormed(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("a.example.", dns.TypeA)
	m.Response = true
	a, _ := dns.NewRR("a.example. 60 IN A 10.0.0.1")
	m.Answer = []dns.RR{a}
	whole, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	trailing := append(append([]byte(nil), whole...), 0, 0)
	short := append([]byte(nil), whole...)
	binary.BigEndian.PutUint16(short[6:], 2)
	for _, c := range []struct {
		name              string
		msg               []byte
		whole, wellFormed bool
	}{
		{"whole", whole, true, true},
		{"trailing bytes", trailing, true, false},
		{"count lies", short, false, false},
		{"cut", whole[:len(whole)-2], false, false},
	} {
		if Whole(c.msg) != c.whole || WellFormed(c.msg) != c.wellFormed {
			t.Errorf("%s: Whole %v WellFormed %v, want %v %v", c.name, Whole(c.msg),
				WellFormed(c.msg), c.whole, c.wellFormed)
		}
	}
}
