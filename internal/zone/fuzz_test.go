package zone

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzParse checks that no zone text panics the parser or the zone built from
// it, and that every record it accepts lies in the zone.
func FuzzParse(f *testing.F) {
	f.Add(testZone)
	f.Add("$ORIGIN corp.example.\n$TTL 60\n@ SOA a b 1 2 3 4 5\n* A 10.0.0.1\n")
	f.Add("a 300 IN CNAME b\nb 300 IN TXT \"x\" (\n \"y\" )\n")
	f.Fuzz(func(t *testing.T, text string) {
		rrs, err := Parse(text, "privatelink.api.azureml.ms", "fuzz", 1)
		if err != nil {
			return
		}
		for _, rr := range rrs {
			if !dns.IsSubDomain("privatelink.api.azureml.ms.", rr.Header().Name) {
				t.Fatalf("accepted %v outside the zone", rr)
			}
		}
		z, err := New("privatelink.api.azureml.ms", rrs)
		if err != nil {
			return
		}
		for _, rr := range rrs {
			z.Lookup(dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype)
			z.Lookup("nope."+z.Origin(), dns.TypeA)
		}
	})
}
