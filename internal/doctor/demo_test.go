package doctor

import (
	"context"
	"testing"
	"time"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/demo"
)

// TestDemoTopologies runs doctor against the article's topologies that
// pedns demo builds on loopback, healthy and with each built-in break, and
// checks that the broken names are found and the break named among their
// causes.
func TestDemoTopologies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo topologies")
	}
	tests := []struct {
		name      string
		brk       demo.Cause
		onprem    bool           // ask the on-premises server, else the hub's
		wantBad   map[Class]bool // classes the broken names may have
		wantCause CauseID        // among the causes of every broken name
	}{
		{name: "healthy hub", brk: demo.BreakNone},
		{name: "healthy on premises", brk: demo.BreakNone, onprem: true},
		{name: "zone not linked", brk: demo.BreakZoneNotLinked,
			wantBad:   map[Class]bool{ClassPublic: true, ClassNXPrivateLink: true},
			wantCause: CauseZoneNotLinked},
		{name: "no forwarder", brk: demo.BreakNoForwarder,
			wantBad:   map[Class]bool{ClassPublic: true, ClassNXPrivateLink: true},
			wantCause: CauseForwarderToAzure},
		{name: "on-premises forwarder to the wrong server", brk: demo.BreakOnPremWrongServer,
			onprem:    true,
			wantBad:   map[Class]bool{ClassServFail: true},
			wantCause: CauseForwarderOnPrem},
		{name: "no inference wildcard", brk: demo.BreakNoInferenceWildcard,
			wantBad:   map[Class]bool{ClassNXPrivateLink: true},
			wantCause: CauseRecordMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			topo, err := demo.Start(ctx, demo.Options{Break: tt.brk})
			if err != nil {
				t.Fatalf("starting the demo: %v", err)
			}
			defer topo.Stop()
			ws, err := demo.ExampleWorkspace("public")
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Workspaces: []azureml.Workspace{ws},
				Servers: named(topo.Hub), Timeout: 8 * time.Second}
			if tt.onprem {
				opt.Servers = named(topo.OnPrem)
				opt.Role = azureml.RoleOnPrem
				opt.DNSServers = []string{demo.HubIP}
			}
			rep, err := Run(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantBad == nil {
				if !rep.Healthy() || rep.Summary.Warnings != 0 {
					for _, r := range rep.Results {
						t.Logf("%s: %s %s", r.FQDN, r.Class, r.Evidence)
					}
					t.Fatalf("healthy topology reported %+v", rep.Summary)
				}
				return
			}
			if rep.Healthy() {
				t.Fatalf("break %s not found", tt.brk)
			}
			for _, r := range rep.Results {
				if r.Class == ClassOK {
					continue
				}
				if !tt.wantBad[r.Class] {
					t.Errorf("%s: class %s (%s)", r.FQDN, r.Class, r.Evidence)
				}
				found := false
				for _, c := range r.Causes {
					found = found || c == tt.wantCause
				}
				if !found {
					t.Errorf("%s: causes %v lack %s", r.FQDN, r.Causes, tt.wantCause)
				}
			}
		})
	}
}
