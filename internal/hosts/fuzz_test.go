package hosts

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParse checks that no hosts text panics the parser, and that every name
// it accepts answers A or AAAA with the address of its line.
func FuzzParse(f *testing.F) {
	f.Add("10.0.0.1 a.example b.example # c\n::1 a.example\n")
	f.Add("# only a comment\n\n 10.1.0.5\tfb7e20a0.workspace.eastus.api.azureml.ms \n")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := Parse(strings.NewReader(text), "fuzz")
		if err != nil {
			return
		}
		h := New(entries, 60)
		for _, e := range entries {
			for _, name := range e.Names {
				qtype := dns.TypeA
				if e.Addr.Is6() {
					qtype = dns.TypeAAAA
				}
				if ans, ok := h.Lookup(name, qtype); !ok || len(ans) == 0 {
					t.Fatalf("%s listed on line %d but not answered", name, e.Line)
				}
			}
		}
	})
}
