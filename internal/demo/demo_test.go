package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pedns/pedns/internal/config"
)

func TestStartCheckStop(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		wrong int // answers of 18 that must be wrong
		shows string
	}{
		{name: "healthy public", opts: Options{}, wrong: 0, shows: "All 18 answers"},
		{name: "healthy usgov", opts: Options{Cloud: "usgov"}, wrong: 0,
			shows: "ml-mype-plt-usgovvirginia-"},
		{name: "zone not linked", opts: Options{Break: BreakZoneNotLinked}, wrong: 12,
			shows: "not linked to hub"},
		{name: "no forwarder", opts: Options{Break: BreakNoForwarder}, wrong: 12,
			shows: "sim-internet"},
		{name: "on-premises forwarder wrong", opts: Options{Break: BreakOnPremWrongServer},
			wrong: 6, shows: "SERVFAIL"},
		{name: "no inference wildcard", opts: Options{Break: BreakNoInferenceWildcard},
			wrong: 2, shows: "NXDOMAIN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			topo, err := Start(ctx, tc.opts)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer topo.Stop()
			if len(topo.Names) != 6 || topo.OnPrem == "" || topo.Hub == "" ||
				topo.SimHub == "" || topo.HostsClient == "" {
				t.Fatalf("topology incomplete: %+v", topo)
			}
			rep := topo.Check(ctx)
			if got := rep.Wrong(); got != tc.wrong || rep.OK() != (tc.wrong == 0) {
				t.Errorf("%d wrong answers (OK %v), want %d", got, rep.OK(), tc.wrong)
			}
			var out bytes.Buffer
			rep.Write(&out)
			if !strings.Contains(out.String(), tc.shows) {
				t.Errorf("report lacks %q:\n%s", tc.shows, out.String())
			}
		})
	}
}

func TestParseCause(t *testing.T) {
	for _, c := range Causes() {
		if got, err := ParseCause(c[0]); err != nil || string(got) != c[0] {
			t.Errorf("ParseCause(%q) = %q, %v", c[0], got, err)
		}
	}
	if _, err := ParseCause("bogus"); err == nil {
		t.Error("ParseCause accepted an unknown cause")
	}
}

func TestCheckLoopbackRefusesOtherHosts(t *testing.T) {
	tests := []struct {
		name     string
		listen   string
		upstream string
		ok       bool
	}{
		{name: "loopback", listen: "127.0.0.1:0", upstream: "127.0.10.4:5300", ok: true},
		{name: "Azure DNS", listen: "127.0.0.1:0", upstream: "168.63.129.16:53", ok: false},
		{name: "listen off loopback", listen: "10.0.0.1:53", upstream: "127.0.0.1:53",
			ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := serverYAML(tc.listen, []string{"api.azureml.ms"}, tc.upstream, "", "")
			l, err := config.Parse([]byte(yaml), "test.yaml")
			if err != nil {
				t.Fatalf("config.Parse: %v", err)
			}
			if err := checkLoopback(l); (err == nil) != tc.ok {
				t.Errorf("checkLoopback: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
