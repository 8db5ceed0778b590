package hosts

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestArticleExample(t *testing.T) {
	f, err := os.Open("../../examples/aml.hosts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := Parse(f, "aml.hosts")
	if err != nil {
		t.Fatal(err)
	}
	h := New(entries, 300)

	const guid = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	want := map[string]string{
		guid + ".workspace.eastus.api.azureml.ms.":                       "10.1.0.5",
		guid + ".workspace.eastus.cert.api.azureml.ms.":                  "10.1.0.5",
		"ml-myworkspace-eastus-" + guid + ".eastus.notebooks.azure.net.": "10.1.0.6",
		"mymanagedendpoint.eastus.inference.ml.azure.com.":               "10.1.0.7",
		"mycomputeinstance.eastus.instances.azureml.ms.":                 "10.1.0.5",
	}
	if h.Len() != len(want) {
		t.Errorf("Len = %d, want %d", h.Len(), len(want))
	}
	for name, ip := range want {
		ans, ok := h.Lookup(name, dns.TypeA)
		if !ok || len(ans) != 1 || ans[0].(*dns.A).A.String() != ip {
			t.Errorf("%s: got %v ok=%v, want %s", name, ans, ok, ip)
		}
	}
}

func TestLookup(t *testing.T) {
	text := "10.0.0.1 a.example b.example # two names\n::1 a.example\n10.0.0.2 A.Example\n"
	entries, err := Parse(strings.NewReader(text), "t.hosts")
	if err != nil {
		t.Fatal(err)
	}
	h := New(entries, 60)
	tests := []struct {
		name  string
		qname string
		qtype uint16
		ok    bool
		want  []string
	}{
		{name: "A, two lines merged", qname: "a.example.", qtype: dns.TypeA, ok: true,
			want: []string{"10.0.0.1", "10.0.0.2"}},
		{name: "AAAA", qname: "a.example.", qtype: dns.TypeAAAA, ok: true, want: []string{"::1"}},
		{name: "NODATA for MX", qname: "b.example.", qtype: dns.TypeMX, ok: true},
		{name: "PTR", qname: "1.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, ok: true,
			want: []string{"a.example.", "b.example."}},
		{name: "not listed", qname: "c.example.", qtype: dns.TypeA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans, ok := h.Lookup(tc.qname, tc.qtype)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			var got []string
			for _, rr := range ans {
				switch rr := rr.(type) {
				case *dns.A:
					got = append(got, rr.A.String())
				case *dns.AAAA:
					got = append(got, rr.AAAA.String())
				case *dns.PTR:
					got = append(got, rr.Ptr)
				}
				if rr.Header().Ttl != 60 {
					t.Errorf("TTL = %d, want 60", rr.Header().Ttl)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	text := "10.0.0.1 ok.example\nnot-an-ip host\n10.0.0.2\n10.0.0.3 bad..name\n"
	_, err := Parse(strings.NewReader(text), "t.hosts")
	errs, ok := err.(Errors)
	if !ok || len(errs) != 3 {
		t.Fatalf("err = %v, want three errors", err)
	}
	for i, line := range []string{"t.hosts:2:", "t.hosts:3:", "t.hosts:4:"} {
		if !strings.HasPrefix(errs[i].Error(), line) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], line)
		}
	}
}
