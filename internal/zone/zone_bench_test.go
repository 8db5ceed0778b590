package zone

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func benchZone(b *testing.B, n int) *Zone {
	b.Helper()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "w%07d.workspace.eastus 300 IN A 10.%d.%d.%d\n",
			i, i>>16&255, i>>8&255, i&255)
	}
	rrs, err := Parse(sb.String(), "privatelink.api.azureml.ms", "bench", 1)
	if err != nil {
		b.Fatal(err)
	}
	z, err := New("privatelink.api.azureml.ms", rrs)
	if err != nil {
		b.Fatal(err)
	}
	return z
}

// BenchmarkLookup shows that a lookup costs the same in a zone of a thousand
// names and of a hundred thousand: a hash lookup, not a walk.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			z := benchZone(b, n)
			names := make([]string, 1000)
			for i := range names {
				names[i] = fmt.Sprintf("w%07d.workspace.eastus.privatelink.api.azureml.ms.",
					i*(n/1000))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := z.Lookup(names[i%len(names)], dns.TypeA); len(r.Answer) != 1 {
					b.Fatal("no answer")
				}
			}
		})
	}
}
