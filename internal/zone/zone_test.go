package zone

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const testZone = `
$ORIGIN privatelink.api.azureml.ms.
@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60
fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus 300 IN A 10.1.0.5
*.fb7e20a0-8891-458b-b969-55ddb3382f51.inference.eastus 300 IN A 10.1.0.7
alias 300 IN CNAME fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus
txt 300 IN TXT "hello"
mx 300 IN MX 10 mail.example.
_ldap._tcp 300 IN SRV 0 0 389 dc.example.
`

func mustZone(t *testing.T, text string) *Zone {
	t.Helper()
	rrs, err := Parse(text, "privatelink.api.azureml.ms", "test.zone", 1)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	z, err := New("privatelink.api.azureml.ms", rrs)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return z
}

func TestLookup(t *testing.T) {
	z := mustZone(t, testZone)
	const ws = "fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus.privatelink.api.azureml.ms."
	tests := []struct {
		name       string
		qname      string
		qtype      uint16
		rcode      int
		answer     []string // zone-file lines, in order
		wantSOATTL uint32   // non-zero: the authority section holds the SOA with this TTL
	}{
		{name: "exact A", qname: ws, qtype: dns.TypeA,
			answer: []string{ws + "\t300\tIN\tA\t10.1.0.5"}},
		{name: "NODATA on existing name", qname: ws, qtype: dns.TypeAAAA, wantSOATTL: 60},
		{name: "NXDOMAIN", qname: "nope.privatelink.api.azureml.ms.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, wantSOATTL: 60},
		{name: "empty non-terminal is NODATA",
			qname: "workspace.eastus.privatelink.api.azureml.ms.",
			qtype: dns.TypeA, wantSOATTL: 60},
		{name: "wildcard synthesizes the owner",
			qname: "myendpoint.fb7e20a0-8891-458b-b969-55ddb3382f51.inference.eastus." +
				"privatelink.api.azureml.ms.",
			qtype: dns.TypeA,
			answer: []string{"myendpoint.fb7e20a0-8891-458b-b969-55ddb3382f51.inference.eastus." +
				"privatelink.api.azureml.ms.\t300\tIN\tA\t10.1.0.7"}},
		{name: "wildcard NODATA for other type",
			qname: "x.fb7e20a0-8891-458b-b969-55ddb3382f51.inference.eastus." +
				"privatelink.api.azureml.ms.",
			qtype: dns.TypeTXT, wantSOATTL: 60},
		{name: "wildcard does not cover deeper existing encloser",
			qname: "a.b.eastus.privatelink.api.azureml.ms.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, wantSOATTL: 60},
		{name: "CNAME returned for A", qname: "alias.privatelink.api.azureml.ms.",
			qtype:  dns.TypeA,
			answer: []string{"alias.privatelink.api.azureml.ms.\t300\tIN\tCNAME\t" + ws}},
		{name: "TXT", qname: "txt.privatelink.api.azureml.ms.", qtype: dns.TypeTXT,
			answer: []string{"txt.privatelink.api.azureml.ms.\t300\tIN\tTXT\t\"hello\""}},
		{name: "MX", qname: "mx.privatelink.api.azureml.ms.", qtype: dns.TypeMX,
			answer: []string{"mx.privatelink.api.azureml.ms.\t300\tIN\tMX\t10 mail.example."}},
		{name: "SRV", qname: "_ldap._tcp.privatelink.api.azureml.ms.", qtype: dns.TypeSRV,
			answer: []string{"_ldap._tcp.privatelink.api.azureml.ms.\t300\tIN\tSRV\t" +
				"0 0 389 dc.example."}},
		{name: "apex SOA", qname: "privatelink.api.azureml.ms.", qtype: dns.TypeSOA,
			answer: []string{"privatelink.api.azureml.ms.\t3600\tIN\tSOA\t" +
				"ns1.privatelink.api.azureml.ms. " +
				"hostmaster.privatelink.api.azureml.ms. 1 3600 600 86400 60"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := z.Lookup(tc.qname, tc.qtype)
			if res.Rcode != tc.rcode {
				t.Errorf("rcode = %s, want %s",
					dns.RcodeToString[res.Rcode], dns.RcodeToString[tc.rcode])
			}
			var got []string
			for _, rr := range res.Answer {
				got = append(got, rr.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.answer, "\n") {
				t.Errorf("answer =\n%s\nwant\n%s",
					strings.Join(got, "\n"), strings.Join(tc.answer, "\n"))
			}
			if tc.wantSOATTL == 0 {
				if len(res.Ns) != 0 {
					t.Errorf("authority = %v, want empty", res.Ns)
				}
				return
			}
			if len(res.Ns) != 1 || res.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Fatalf("authority = %v, want the SOA", res.Ns)
			}
			if ttl := res.Ns[0].Header().Ttl; ttl != tc.wantSOATTL {
				t.Errorf("SOA TTL = %d, want %d (RFC 2308 minimum)", ttl, tc.wantSOATTL)
			}
		})
	}
}

func TestEscapedOwnerIsFound(t *testing.T) {
	rrs, err := Parse("\\097bc 300 IN A 10.7.7.7\n", "esc.test", "inline", 1)
	if err != nil {
		t.Fatal(err)
	}
	z, err := New("esc.test", rrs)
	if err != nil {
		t.Fatal(err)
	}
	if res := z.Lookup("abc.esc.test.", dns.TypeA); len(res.Answer) != 1 {
		t.Errorf("abc.esc.test: %+v, want the record written as \\097bc", res)
	}
}

func TestSynthesizedSOA(t *testing.T) {
	rrs, err := Parse("a 300 IN A 10.0.0.1\n", "corp.example", "inline", 1)
	if err != nil {
		t.Fatal(err)
	}
	z, err := New("corp.example", rrs)
	if err != nil {
		t.Fatal(err)
	}
	res := z.Lookup("b.corp.example.", dns.TypeA)
	if res.Rcode != dns.RcodeNameError || len(res.Ns) != 1 {
		t.Fatalf("got rcode %d ns %v, want NXDOMAIN with an SOA", res.Rcode, res.Ns)
	}
	if soa := res.Ns[0].(*dns.SOA); soa.Hdr.Name != "corp.example." || soa.Minttl != synthMinimum {
		t.Errorf("synthesized SOA = %v", soa)
	}
	if z.Len() != 1 {
		t.Errorf("Len = %d, want 1 (synthesized SOA not counted)", z.Len())
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "CNAME beside A", text: "a 300 IN A 10.0.0.1\na 300 IN CNAME b\n",
			want: "CNAME at"},
		{name: "A beside CNAME", text: "a 300 IN CNAME b\na 300 IN A 10.0.0.1\n",
			want: "beside a CNAME"},
		{name: "two SOAs", text: "@ 300 IN SOA a b 1 2 3 4 5\n@ 300 IN SOA a b 2 2 3 4 5\n",
			want: "more than one SOA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rrs, err := Parse(tc.text, "corp.example", "inline", 1)
			if err != nil {
				t.Fatal(err)
			}
			_, err = New("corp.example", rrs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseCollectsEveryError(t *testing.T) {
	text := "a 300 IN A 10.0.0.1\nb 1x IN A 10.0.0.2\nc 300 IN A 999.0.0.1\n" +
		"d 300 IN A 10.0.0.4\ne 300 IN BOGUS x\n"
	_, err := Parse(text, "corp.example", "cfg.yaml", 10)
	errs, ok := err.(ParseErrors)
	if !ok {
		t.Fatalf("err = %v (%T), want ParseErrors", err, err)
	}
	wantLines := []int{11, 12, 14}
	if len(errs) != len(wantLines) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(wantLines), err)
	}
	for i, e := range errs {
		if e.Line != wantLines[i] || e.File != "cfg.yaml" {
			t.Errorf("error %d at %s:%d, want cfg.yaml:%d (%v)",
				i, e.File, e.Line, wantLines[i], e)
		}
	}
}

func TestParseRejectsOutOfZone(t *testing.T) {
	_, err := Parse("www.other.example. 300 IN A 10.0.0.1\n", "corp.example", "f.zone", 1)
	if err == nil || !strings.Contains(err.Error(), "outside zone") {
		t.Errorf("err = %v, want outside zone", err)
	}
}
