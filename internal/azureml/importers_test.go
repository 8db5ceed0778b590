package azureml

import (
	"slices"
	"strings"
	"testing"
)

const g1 = "fb7e20a0-8891-458b-b969-55ddb3382f51"

// nicJSON is the layout printed by az network nic show with the query of
// SPEC.md section 5, for the public example workspace.
const nicJSON = `[
  {
    "FQDNs": [
      "` + g1 + `.workspace.eastus.api.azureml.ms",
      "` + g1 + `.workspace.eastus.cert.api.azureml.ms"
    ],
    "IPAddress": "10.1.0.5"
  },
  {
    "FQDNs": [
      "ml-myworkspace-eastus-` + g1 + `.eastus.notebooks.azure.net"
    ],
    "IPAddress": "10.1.0.6"
  },
  {
    "FQDNs": [
      "*.eastus.inference.ml.azure.com"
    ],
    "IPAddress": "10.1.0.7"
  }
]`

// peJSON is CustomDnsConfigs of Get-AzPrivateEndpoint, as ConvertTo-Json
// prints it, for the same workspace.
const peJSON = `[
  {"Fqdn": "` + g1 + `.workspace.eastus.api.azureml.ms", "IpAddresses": ["10.1.0.5"]},
  {"Fqdn": "` + g1 + `.workspace.eastus.cert.api.azureml.ms", "IpAddresses": ["10.1.0.5"]},
  {"Fqdn": "ml-myworkspace-eastus-` + g1 + `.eastus.notebooks.azure.net",
   "IpAddresses": ["10.1.0.6"]},
  {"Fqdn": "*.eastus.inference.ml.azure.com", "IpAddresses": ["10.1.0.7"]}
]`

var wantImported = []string{
	g1 + ".workspace.eastus.api.azureml.ms 10.1.0.5",
	g1 + ".workspace.eastus.cert.api.azureml.ms 10.1.0.5",
	"ml-myworkspace-eastus-" + g1 + ".eastus.notebooks.azure.net 10.1.0.6",
	"*.eastus.inference.ml.azure.com 10.1.0.7",
}

func fqdnPairs(fs []FQDNAddress) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.FQDN + " " + f.IP
	}
	return out
}

func TestImporters(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) ([]FQDNAddress, error)
		input string
	}{
		{name: "nic", parse: func(s string) ([]FQDNAddress, error) {
			return ParseNIC([]byte(s))
		}, input: nicJSON},
		{name: "private endpoint", parse: func(s string) ([]FQDNAddress, error) {
			return ParsePE([]byte(s))
		}, input: peJSON},
		{name: "portal alternating lines", parse: parseListString, input: "FQDN\nIP address\n" +
			g1 + ".workspace.eastus.api.azureml.ms\n10.1.0.5\n" +
			g1 + ".workspace.eastus.cert.api.azureml.ms\n10.1.0.5\n" +
			"ml-myworkspace-eastus-" + g1 + ".eastus.notebooks.azure.net\n10.1.0.6\n\n" +
			"*.eastus.inference.ml.azure.com\n10.1.0.7\n"},
		{name: "portal pairs", parse: parseListString, input: "# copied\n" +
			g1 + ".workspace.eastus.api.azureml.ms\t10.1.0.5\n" +
			g1 + ".workspace.eastus.cert.api.azureml.ms, 10.1.0.5\n" +
			"10.1.0.6 ml-myworkspace-eastus-" + g1 + ".eastus.notebooks.azure.net\n" +
			"*.eastus.inference.ml.azure.com   10.1.0.7\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fqdnPairs(got), wantImported) {
				t.Errorf("got %q\nwant %q", fqdnPairs(got), wantImported)
			}
			ws, err := WorkspaceFromFQDNs(got)
			if err != nil {
				t.Fatal(err)
			}
			want := Workspace{Cloud: "public", GUID: g1, Name: "myworkspace", Region: "eastus",
				APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7"}
			ws.FQDNs = nil
			if !equalWorkspace(ws, want) {
				t.Errorf("workspace = %+v\nwant %+v", ws, want)
			}
		})
	}
}

func equalWorkspace(a, b Workspace) bool {
	return a.Cloud == b.Cloud && a.GUID == b.GUID && a.Name == b.Name &&
		a.Region == b.Region && a.APIIP == b.APIIP && a.NotebooksIP == b.NotebooksIP &&
		a.InferenceIP == b.InferenceIP
}

func parseListString(s string) ([]FQDNAddress, error) {
	return ParseList(strings.NewReader(s))
}

func TestImportersBrokenInput(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) ([]FQDNAddress, error)
		input   string
		wantErr string
	}{
		{name: "nic not json", parse: parseNICString, input: "IPAddress: 10.1.0.5",
			wantErr: "nic json: want a list"},
		{name: "nic missing IPAddress", parse: parseNICString,
			input:   `[{"FQDNs": ["a.b"], "IPAddress": "10.1.0.5"}, {"FQDNs": ["c.d"]}]`,
			wantErr: "entry 1: missing key IPAddress"},
		{name: "nic missing FQDNs", parse: parseNICString,
			input:   `[{"IPAddress": "10.1.0.9"}]`,
			wantErr: "entry 0 (10.1.0.9): missing key FQDNs"},
		{name: "nic bad ip", parse: parseNICString,
			input:   `[{"FQDNs": ["x.eastus.instances.azureml.ms"], "IPAddress": "10.1.0"}]`,
			wantErr: `entry 0: ip of x.eastus.instances.azureml.ms "10.1.0" is not an IP`},
		{name: "pe missing Fqdn", parse: parsePEString,
			input: `[{"IpAddresses": ["10.1.0.5"]}]`, wantErr: "entry 0: missing key Fqdn"},
		{name: "pe ip not list", parse: parsePEString,
			input:   `{"Fqdn": "a.b", "IpAddresses": "10.1.0.5"}`,
			wantErr: "entry 0 (a.b): key IpAddresses"},
		{name: "list name without ip", parse: parseListString,
			input:   "a.example.com\nb.example.com\n10.1.0.5\n",
			wantErr: "line 1: a.example.com has no address"},
		{name: "list bad ip", parse: parseListString,
			input: "a.example.com 10.1.0.500\n", wantErr: `line 1: "10.1.0.500" is not an IP`},
		{name: "list empty", parse: parseListString, input: "# nothing\n",
			wantErr: "no FQDN and address pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.parse(tt.input)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func parseNICString(s string) ([]FQDNAddress, error) { return ParseNIC([]byte(s)) }
func parsePEString(s string) ([]FQDNAddress, error)  { return ParsePE([]byte(s)) }

func TestImportedNamesWin(t *testing.T) {
	ws := publicVector
	ws.NoSSHNames = true
	// Azure cut the name differently from what pedns computes, and moved
	// the inference address.
	azureNB := "ml-myworkspac-eastus-" + g1 + ".eastus.notebooks.azure.net"
	ws.FQDNs = []FQDNAddress{
		{FQDN: g1 + ".workspace.eastus.api.azureml.ms", IP: "10.1.0.5"},
		{FQDN: "*.eastus.inference.ml.azure.com", IP: "10.1.0.8"},
		{FQDN: "extra.example.net", IP: "10.1.0.9"},
	}
	ws.NotebookFQDN = strings.ToUpper(azureNB)
	p, err := BuildPlan([]Workspace{ws}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Name{}
	for _, n := range p.Names {
		got[n.FQDN] = n
	}
	if n, ok := got[azureNB]; !ok || !n.Imported || n.IP != "10.1.0.6" ||
		n.PrivateLink != "ml-myworkspac-eastus-"+g1+".eastus.privatelink.notebooks.azure.net" {
		t.Errorf("notebooks name = %+v, want Azure's", n)
	}
	if _, ok := got["ml-myworkspace-eastus-"+g1+".eastus.notebooks.azure.net"]; ok {
		t.Error("computed notebooks name still in plan")
	}
	if n := got["*.eastus.inference.ml.azure.com"]; n.IP != "10.1.0.8" {
		t.Errorf("wildcard = %+v, want 10.1.0.8", n)
	}
	if n, ok := got["extra.example.net"]; !ok || n.Purpose != PurposeOther {
		t.Errorf("extra name = %+v, want imported", n)
	}
	if len(p.Notes) != 2 {
		t.Errorf("notes = %q, want 2 (notebooks name, inference address)", p.Notes)
	}
	for _, z := range p.Zones {
		if z.Name == "privatelink.notebooks.azure.net" &&
			!strings.HasPrefix(z.Records[0].Owner, "ml-myworkspac-eastus") {
			t.Errorf("notebooks zone = %+v, want Azure's name", z)
		}
	}
}
