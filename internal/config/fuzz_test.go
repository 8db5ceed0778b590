package config

import (
	"os"
	"testing"
)

// FuzzParse checks that no configuration text panics the loader, and that a
// configuration it accepts can be summarized.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{full, "listen: [':53']\n",
		"forward: [{zones: [.], upstreams: [1.2.3.4]}]\n",
		"zones: [{name: a.example, records: 'x 1 IN A 10.0.0.1'}]\n", "cache: {size: -1}\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data, os.DevNull)
		if err == nil {
			_ = l.Summary()
		}
	})
}
