package wire

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/miekg/dns"
)

// For every reply shape pedns meets, the Unpacker gives what miekg/dns gives.
func TestUnpackMatchesMiekg(t *testing.T) {
	var u Unpacker
	for name, m := range packMessages(t) {
		t.Run(name, func(t *testing.T) {
			m.Compress = true
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			want := new(dns.Msg)
			if err := want.Unpack(b); err != nil {
				t.Fatal(err)
			}
			got, ok := u.Unpack(b)
			if !ok {
				t.Fatal("declined")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("unpacked\n%v\nmiekg/dns unpacks\n%v", got, want)
			}
		})
	}
}

// A name that only points to an earlier one shares its string.
func TestUnpackSharesNames(t *testing.T) {
	m := packMessages(t)["cname chain"]
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var u Unpacker
	got, ok := u.Unpack(b)
	if !ok {
		t.Fatal("declined")
	}
	q, cname, a := got.Question[0].Name, got.Answer[0].(*dns.CNAME), got.Answer[1]
	if unsafeData(q) != unsafeData(cname.Hdr.Name) ||
		unsafeData(cname.Target) != unsafeData(a.Header().Name) {
		t.Error("owner names that are pointers were decoded again")
	}
}

// What the Unpacker does not parse, it declines.
func TestUnpackDeclines(t *testing.T) {
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("a.example.", dns.TypeA)
		return m
	}
	mx := base()
	mx.Answer = []dns.RR{mustRR(t, "a.example. 60 IN MX 10 mail.example.")}
	escaped := base()
	escaped.Question[0].Name = `a\.b.example.`
	trailing := append(pack(base()), 0)
	lying := pack(base())
	lying[7] = 1 // ANCOUNT 1, no record
	cases := map[string][]byte{
		"mx record":    pack(mx),
		"escaped name": pack(escaped),
		"trailing":     trailing,
		"count lies":   lying,
		"short":        pack(base())[:14],
		"header only":  pack(base())[:12],
	}
	var u Unpacker
	for name, b := range cases {
		if _, ok := u.Unpack(b); ok {
			t.Errorf("%s: parsed, want declined", name)
		}
	}
}

// Any message the Unpacker parses, miekg/dns parses to the same value.
func FuzzUnpack(f *testing.F) {
	for _, m := range packMessages(f) {
		m.Compress = true
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var u Unpacker
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := u.Unpack(data)
		if !ok {
			return
		}
		want := new(dns.Msg)
		if err := want.Unpack(data); err != nil {
			t.Fatalf("parsed a message miekg/dns refuses (%v): %v", err, got)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("unpacked\n%v\nmiekg/dns unpacks\n%v", got, want)
		}
	})
}

func BenchmarkUnpack(b *testing.B) {
	m := packMessages(b)["cname chain"]
	m.Compress = true
	msg, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unpacker", func(b *testing.B) {
		var u Unpacker
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			u.Unpack(msg)
		}
	})
	b.Run("miekg", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			new(dns.Msg).Unpack(msg)
		}
	})
}

// unsafeData is where a string's bytes are, to tell a shared string from a
// copy.
func unsafeData(s string) *byte { return unsafe.StringData(s) }
