package export

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/hosts"
	"github.com/pedns/pedns/internal/zone"
)

// The golden files under testdata hold the expected output of every format
// for the cases below. After an intended change of output, regenerate them
// with
//
//	go test ./internal/export -run TestGolden -update
//
// and read the diff before committing it.
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	pubGUID = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	cnGUID  = "52882c08-ead2-44aa-af65-08a75cf094bd"
)

// publicWS is the article's public cloud example (SPEC.md section 3).
var publicWS = azureml.Workspace{
	GUID: pubGUID, Name: "myworkspace", Region: "eastus",
	APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7",
	Computes: []string{"mycomputeinstance"}, Endpoints: []string{"mymanagedendpoint"},
}

// planCase is one input of the golden and checker tests.
type planCase struct {
	name    string
	ws      []azureml.Workspace
	opt     azureml.Options
	formats []string // golden formats; all when nil
}

var planCases = []planCase{
	{name: "public", ws: []azureml.Workspace{publicWS}},
	{name: "china", formats: []string{"table", "hosts"}, ws: []azureml.Workspace{{
		Cloud: "china", GUID: cnGUID, Name: "mype-pltest", Region: "chinaeast2",
		APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7"}}},
	{name: "usgov", formats: []string{"table", "hosts"}, ws: []azureml.Workspace{{
		Cloud: "usgov", GUID: cnGUID, Name: "mype-pltest", Region: "usgovvirginia",
		APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7"}}},
	{name: "long-name", formats: []string{"table"}, ws: []azureml.Workspace{{
		GUID: pubGUID, Name: "Research-Workspace-For-Genomics-2024", Region: "southeastasia",
		APIIP: "10.2.0.4", NotebooksIP: "10.2.0.5"}}},
	{name: "hub-onprem", opt: azureml.Options{Role: azureml.RoleOnPrem,
		DNSServers: []string{"10.0.0.4", "10.0.0.5"}},
		ws: []azureml.Workspace{{
			GUID: pubGUID, Name: "myhub", Region: "eastus",
			APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7",
			Computes: []string{"ci-one", "ci-two"},
			Projects: []azureml.Project{
				{GUID: "11111111-2222-3333-4444-555555555555", Name: "project-one"},
				{URL: "https://aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.workspace.eastus." +
					"api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/rg/providers/" +
					"Microsoft.MachineLearningServices/workspaces/project-two"},
			},
		}}},
	{name: "two-clouds", formats: []string{"pedns"}, ws: []azureml.Workspace{publicWS, {
		Cloud: "usgov", GUID: cnGUID, Name: "mype-pltest", Region: "usgovvirginia",
		APIIP: "10.3.0.5", NotebooksIP: "10.3.0.6"}}},
}

func (c planCase) plan(t *testing.T) *azureml.Plan {
	t.Helper()
	p, err := azureml.BuildPlan(c.ws, c.opt)
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	return p
}

func allFormats() []string {
	var out []string
	for _, f := range Formats() {
		out = append(out, f[0])
	}
	return out
}

func render(t *testing.T, format string, p *azureml.Plan) []File {
	t.Helper()
	files, err := Render(format, p, Options{})
	if err != nil {
		t.Fatalf("Render(%s): %v", format, err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, c := range planCases {
		formats := c.formats
		if formats == nil {
			formats = allFormats()
		}
		for _, format := range formats {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				var got bytes.Buffer
				if err := WriteStream(&got, render(t, format, c.plan(t))); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", c.name+"."+format+".golden")
				if *update {
					if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("%s differs from the output:\n%s", path, got.String())
				}
			})
		}
	}
}

// TestHostsMatchesArticle checks the hosts output of the public example
// against the article's hosts example, line for line, ignoring comments
// and spacing.
func TestHostsMatchesArticle(t *testing.T) {
	ws := publicWS
	ws.NoSSHNames = true
	p, err := azureml.BuildPlan([]azureml.Workspace{ws}, azureml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files := render(t, "hosts", p)
	var got []string
	for _, l := range strings.Split(string(files[0].Content), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0][0] != '#' {
			got = append(got, strings.Join(f, " "))
		}
	}
	want := []string{
		"10.1.0.5 " + pubGUID + ".workspace.eastus.api.azureml.ms",
		"10.1.0.5 " + pubGUID + ".workspace.eastus.cert.api.azureml.ms",
		"10.1.0.6 ml-myworkspace-eastus-" + pubGUID + ".eastus.notebooks.azure.net",
		"10.1.0.7 mymanagedendpoint.eastus.inference.ml.azure.com",
		"10.1.0.5 mycomputeinstance.eastus.instances.azureml.ms",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hosts lines:\n got %q\nwant %q", got, want)
	}
}

// TestHostsLoadedByServerParser feeds the hosts output to the server's hosts
// source and asks it for every name of the plan.
func TestHostsLoadedByServerParser(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			p := c.plan(t)
			files := render(t, "hosts", p)
			entries, err := hosts.Parse(bytes.NewReader(files[0].Content), "hosts")
			if err != nil {
				t.Fatal(err)
			}
			h := hosts.New(entries, 300)
			for _, n := range hostNames(p) {
				answer, ok := h.Lookup(dns.Fqdn(n.FQDN), dns.TypeA)
				if !ok || len(answer) != 1 || answer[0].(*dns.A).A.String() != n.IP {
					t.Errorf("%s: answer %v, want A %s", n.FQDN, answer, n.IP)
				}
			}
		})
	}
}

// TestPednsRoundTrip reads the pedns output back and loads each zone's
// records with the server's zone parser, then checks every Private Link
// name of the plan is answered with its address.
func TestPednsRoundTrip(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			p := c.plan(t)
			files := render(t, "pedns", p)
			cfg, err := ParsePedns(files[0].Content)
			if err != nil {
				t.Fatalf("ParsePedns: %v\n%s", err, files[0].Content)
			}
			// The plan's rule, then (virtual network role) "." to Azure DNS.
			wantRules := 1
			if p.Role != azureml.RoleOnPrem {
				wantRules = 2
			}
			if len(cfg.Forward) != wantRules || !reflect.DeepEqual(cfg.Forward[0].Zones,
				p.Forwards[0].Zones) {
				t.Errorf("forward = %+v, want %+v", cfg.Forward, p.Forwards)
			}
			if wantRules == 2 && (cfg.Forward[1].Zones[0] != "." ||
				cfg.Forward[1].Upstreams[0] != azureml.AzureDNS) {
				t.Errorf("default rule = %+v, want . to %s", cfg.Forward[1], azureml.AzureDNS)
			}
			zones := map[string]*zone.Zone{}
			for _, zc := range cfg.Zones {
				rrs, err := zone.Parse(zc.Records, zc.Name, "pedns.yaml", 1)
				if err != nil {
					t.Fatalf("zone %s: %v", zc.Name, err)
				}
				z, err := zone.New(zc.Name, rrs)
				if err != nil {
					t.Fatalf("zone %s: %v", zc.Name, err)
				}
				zones[zc.Name] = z
			}
			for _, n := range p.Names {
				qname, zname := n.PrivateLink, ""
				if qname == "" {
					qname, zname = n.FQDN, n.FQDN
				}
				if strings.HasPrefix(qname, "*.") {
					qname = "any-endpoint" + qname[1:]
				}
				for name := range zones {
					if zname == "" && strings.HasSuffix(qname, "."+name) {
						zname = name
					}
				}
				z, ok := zones[zname]
				if !ok {
					t.Errorf("%s: no zone holds %s", n.FQDN, qname)
					continue
				}
				res := z.Lookup(dns.Fqdn(qname), dns.TypeA)
				if len(res.Answer) != 1 || res.Answer[0].(*dns.A).A.String() != n.IP {
					t.Errorf("%s in %s: answer %v, want A %s", qname, zname, res.Answer, n.IP)
				}
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	p := planCases[0].plan(t)
	var back azureml.Plan
	if err := json.Unmarshal(render(t, "json", p)[0].Content, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, p) {
		t.Errorf("json round trip:\n got %+v\nwant %+v", back, *p)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	files := render(t, "bind", planCases[0].plan(t))
	var b bytes.Buffer
	if err := WriteStream(&b, files); err != nil {
		t.Fatal(err)
	}
	back, err := SplitStream(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, files) {
		t.Errorf("split stream differs:\n got %q\nwant %q", back, files)
	}
}

func TestRenderErrors(t *testing.T) {
	p, err := azureml.BuildPlan([]azureml.Workspace{publicWS}, azureml.Options{
		Role: azureml.RoleOnPrem, DNSServers: []string{"10.0.0.4:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, format, wantErr string
	}{
		{name: "unknown format", format: "nginx", wantErr: `unknown format "nginx"`},
		{name: "windows port", format: "windows", wantErr: "port 53 only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.format, p, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestPednsAcceptedByConfig loads the pedns output with the server's own
// configuration loader, as pedns check and pedns serve do.
func TestPednsAcceptedByConfig(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			files := render(t, "pedns", c.plan(t))
			path := filepath.Join(t.TempDir(), files[0].Name)
			loaded, err := config.Parse(files[0].Content, path)
			if err != nil {
				t.Fatalf("config.Parse: %v\n%s", err, files[0].Content)
			}
			if len(loaded.ZoneData) != len(loaded.Zones) {
				t.Errorf("loaded %d zones, configuration has %d",
					len(loaded.ZoneData), len(loaded.Zones))
			}
		})
	}
}

func TestWriteDirCreatesTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "out")
	if err := WriteDir(dir, []File{{Name: "a.zone", Content: []byte("x\n")}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "a.zone"))
	if err != nil || string(data) != "x\n" {
		t.Errorf("read back %q, %v", data, err)
	}
}
