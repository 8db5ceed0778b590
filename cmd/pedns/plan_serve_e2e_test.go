package main

// End-to-end tests that feed what pedns plan writes to pedns serve, and serve
// workspaces described in its own configuration.

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/pedns/pedns/internal/dnstest"
	"github.com/pedns/pedns/internal/testutil"
)

// exampleFlags describe the article's public workspace with a compute instance
// and a managed online endpoint.
var exampleFlags = []string{"--guid", wsGUID, "--name", "myworkspace", "--region", "eastus",
	"--api-ip", "10.1.0.5", "--notebooks-ip", "10.1.0.6", "--inference-ip", "10.1.0.7",
	"--compute", "mycomputeinstance", "--endpoint", "mymanagedendpoint"}

// exampleAnswers are the public names of that workspace and their private IPs.
var exampleAnswers = map[string]string{
	wsPublic: "10.1.0.5",
	wsGUID + ".workspace.eastus.cert.api.azureml.ms.":                  "10.1.0.5",
	"ml-myworkspace-eastus-" + wsGUID + ".eastus.notebooks.azure.net.": "10.1.0.6",
	"mymanagedendpoint.eastus.inference.ml.azure.com.":                 "10.1.0.7",
	"mycomputeinstance.eastus.instances.azureml.ms.":                   "10.1.0.5",
	"mycomputeinstance-22.eastus.instances.azureml.ms.":                "10.1.0.5",
}

func plan(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(testutil.BuildPedns(t), append([]string{"plan"}, args...)...).Output()
	if err != nil {
		t.Fatalf("pedns plan %v: %v", args, err)
	}
	return string(out)
}

func checkAnswers(t *testing.T, addr string, want map[string]string) {
	t.Helper()
	for name, ip := range want {
		res := testutil.Dig(t, addr, name, "A")
		n := len(res.Answer)
		if res.Status != "NOERROR" || n == 0 || !strings.HasSuffix(res.Answer[n-1], " A "+ip) {
			t.Errorf("%s: %s %v, want it to end at A %s", name, res.Status, res.Answer, ip)
		}
	}
}

func TestPlanHostsServed(t *testing.T) {
	hostsFile := writeConfig(t, plan(t, append(exampleFlags, "-o", "hosts")...))
	p := serve(t, fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nhosts: [%q]\n", hostsFile))
	checkAnswers(t, p.Addr, exampleAnswers)
}

// azureLikeUpstream answers like Azure DNS seen from outside a linked network:
// each public name is a CNAME into its Private Link name, which has a public
// address. pedns must end at the private addresses of its own zones.
func azureLikeUpstream(t *testing.T) *dnstest.Server {
	const pl = ".privatelink.api.azureml.ms."
	return dnstest.Records(t,
		wsPublic+" 60 IN CNAME "+wsPrivate,
		wsPrivate+" 60 IN A 203.0.113.5",
		wsGUID+".workspace.eastus.cert.api.azureml.ms. 60 IN CNAME "+
			wsGUID+".workspace.eastus.cert"+pl,
		wsGUID+".workspace.eastus.cert"+pl+" 60 IN A 203.0.113.5",
		"ml-myworkspace-eastus-"+wsGUID+".eastus.notebooks.azure.net. 60 IN CNAME "+
			"ml-myworkspace-eastus-"+wsGUID+".eastus.privatelink.notebooks.azure.net.",
		"ml-myworkspace-eastus-"+wsGUID+".eastus.privatelink.notebooks.azure.net. "+
			"60 IN A 203.0.113.6",
		"mymanagedendpoint.eastus.inference.ml.azure.com. 60 IN CNAME "+
			"mymanagedendpoint."+wsGUID+".inference.eastus"+pl,
		"mymanagedendpoint."+wsGUID+".inference.eastus"+pl+" 60 IN A 203.0.113.7",
	)
}

func TestPlanPednsConfigServed(t *testing.T) {
	up := azureLikeUpstream(t)
	cfg := plan(t, append(exampleFlags, "-o", "pedns")...)
	if !strings.Contains(cfg, "168.63.129.16") {
		t.Fatalf("plan output does not forward to Azure DNS:\n%s", cfg)
	}
	// Point everything at loopback before starting it.
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:53", "127.0.0.1:0")
	cfg = strings.ReplaceAll(cfg, "168.63.129.16", up.Addr)
	p := serve(t, cfg)
	checkAnswers(t, p.Addr, exampleAnswers)
}

func TestServeWorkspacesSection(t *testing.T) {
	up := azureLikeUpstream(t)
	p := serve(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
forward:
  - zones: [api.azureml.ms, notebooks.azure.net, inference.ml.azure.com]
    upstreams: [%q]
workspaces:
  - cloud: public
    guid: %s
    name: myworkspace
    region: eastus
    api_ip: 10.1.0.5
    notebooks_ip: 10.1.0.6
    inference_ip: 10.1.0.7
`, up.Addr, wsGUID))
	want := map[string]string{}
	for name, ip := range exampleAnswers {
		if !strings.Contains(name, "instances") {
			want[name] = ip
		}
	}
	checkAnswers(t, p.Addr, want)
}
