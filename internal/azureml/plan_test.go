package azureml

import (
	"slices"
	"strings"
	"testing"
)

// publicVector is the public cloud example of SPEC.md section 3.
var publicVector = Workspace{
	GUID:        "fb7e20a0-8891-458b-b969-55ddb3382f51",
	Name:        "myworkspace",
	Region:      "eastus",
	APIIP:       "10.1.0.5",
	NotebooksIP: "10.1.0.6",
	InferenceIP: "10.1.0.7",
	Computes:    []string{"mycomputeinstance"},
	Endpoints:   []string{"mymanagedendpoint"},
}

// pairs returns "fqdn ip" for every name, for comparison with SPEC.md.
func pairs(names []Name) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.FQDN + " " + n.IP
	}
	return out
}

func TestNamesMatchSpecVectors(t *testing.T) {
	tests := []struct {
		name string
		ws   Workspace
		want []string // every "fqdn ip" of SPEC.md section 3, in any order
	}{
		{
			name: "public",
			ws:   publicVector,
			want: []string{
				"fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus.api.azureml.ms 10.1.0.5",
				"fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus.cert.api.azureml.ms " +
					"10.1.0.5",
				"ml-myworkspace-eastus-fb7e20a0-8891-458b-b969-55ddb3382f51.eastus." +
					"notebooks.azure.net 10.1.0.6",
				"*.eastus.inference.ml.azure.com 10.1.0.7",
				"mymanagedendpoint.eastus.inference.ml.azure.com 10.1.0.7",
				"mycomputeinstance.eastus.instances.azureml.ms 10.1.0.5",
			},
		},
		{
			name: "china exactly 62",
			ws: Workspace{Cloud: "china", GUID: "52882c08-ead2-44aa-af65-08a75cf094bd",
				Name: "mype-pltest", Region: "chinaeast2", APIIP: "10.1.0.5",
				NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7"},
			want: []string{
				"52882c08-ead2-44aa-af65-08a75cf094bd.workspace.chinaeast2.api.ml.azure.cn " +
					"10.1.0.5",
				"52882c08-ead2-44aa-af65-08a75cf094bd.workspace.chinaeast2.cert.api.ml.azure.cn " +
					"10.1.0.5",
				"ml-mype-pltest-chinaeast2-52882c08-ead2-44aa-af65-08a75cf094bd.chinaeast2." +
					"notebooks.chinacloudapi.cn 10.1.0.6",
				"*.chinaeast2.inference.ml.azure.cn 10.1.0.7",
			},
		},
		{
			name: "usgov cut to mype-plt",
			ws: Workspace{Cloud: "usgov", GUID: "52882c08-ead2-44aa-af65-08a75cf094bd",
				Name: "mype-pltest", Region: "usgovvirginia", APIIP: "10.1.0.5",
				NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7"},
			want: []string{
				"52882c08-ead2-44aa-af65-08a75cf094bd.workspace.usgovvirginia.api.ml.azure.us " +
					"10.1.0.5",
				"52882c08-ead2-44aa-af65-08a75cf094bd.workspace.usgovvirginia.cert." +
					"api.ml.azure.us 10.1.0.5",
				"ml-mype-plt-usgovvirginia-52882c08-ead2-44aa-af65-08a75cf094bd.usgovvirginia." +
					"notebooks.usgovcloudapi.net 10.1.0.6",
				"*.usgovvirginia.inference.ml.azure.us 10.1.0.7",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ws.NoSSHNames = true
			names, notes, err := tt.ws.Names()
			if err != nil {
				t.Fatalf("Names: %v", err)
			}
			if len(notes) != 0 {
				t.Errorf("notes = %q, want none", notes)
			}
			got := pairs(names)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("names:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestNotebooksLabel(t *testing.T) {
	const guid = "52882c08-ead2-44aa-af65-08a75cf094bd"
	tests := []struct {
		name, ws, region, want, wantErr string
	}{
		{name: "fits exactly", ws: "mype-pltest", region: "chinaeast2",
			want: "ml-mype-pltest-chinaeast2-" + guid},
		{name: "cut by three", ws: "mype-pltest", region: "usgovvirginia",
			want: "ml-mype-plt-usgovvirginia-" + guid},
		{name: "long name long region", ws: "a-very-long-workspace-name-for-tests",
			region: "southeastasia", want: "ml-a-very-l-southeastasia-" + guid},
		{name: "no room", ws: "x", region: "a-region-name-of-twenty-one",
			wantErr: "truncates to nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NotebooksLabel(tt.ws, tt.region, guid)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || len(got) > NotebooksLabelBudget {
				t.Errorf("label = %q (%d), want %q", got, len(got), tt.want)
			}
		})
	}
}

func TestPrivateZonesPublic(t *testing.T) {
	zones, err := publicVector.PrivateZones()
	if err != nil {
		t.Fatal(err)
	}
	const g = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	want := map[string][]string{
		"privatelink.api.azureml.ms": {
			"*." + g + ".inference.eastus 300 IN A 10.1.0.7",
			g + ".workspace.eastus 300 IN A 10.1.0.5",
			g + ".workspace.eastus.cert 300 IN A 10.1.0.5",
		},
		"privatelink.notebooks.azure.net": {
			"ml-myworkspace-eastus-" + g + ".eastus 300 IN A 10.1.0.6",
		},
	}
	if len(zones) != len(want) {
		t.Fatalf("got %d zones, want %d: %+v", len(zones), len(want), zones)
	}
	for _, z := range zones {
		if got := z.Lines(); !slices.Equal(got, want[z.Name]) {
			t.Errorf("zone %s:\n got %q\nwant %q", z.Name, got, want[z.Name])
		}
	}
}

func TestPrivateLinkNames(t *testing.T) {
	names, _, err := publicVector.Names()
	if err != nil {
		t.Fatal(err)
	}
	const g = "fb7e20a0-8891-458b-b969-55ddb3382f51"
	want := map[Purpose]string{
		PurposeAPI:       g + ".workspace.eastus.privatelink.api.azureml.ms",
		PurposeNotebooks: "ml-myworkspace-eastus-" + g + ".eastus.privatelink.notebooks.azure.net",
		PurposeEndpoint: "mymanagedendpoint." + g +
			".inference.eastus.privatelink.api.azureml.ms",
		PurposeInference: "*." + g + ".inference.eastus.privatelink.api.azureml.ms",
		PurposeCompute:   "",
	}
	for _, n := range names {
		w, ok := want[n.Purpose]
		if ok && n.PrivateLink != w {
			t.Errorf("%s %s: private link %q, want %q", n.Purpose, n.FQDN, n.PrivateLink, w)
		}
	}
}

func TestComputeSSHNames(t *testing.T) {
	ws := publicVector
	ws.Computes = []string{"CI-One", "ci2"}
	names, _, err := ws.Names()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		if n.Purpose == PurposeCompute || n.Purpose == PurposeComputeSSH {
			got = append(got, n.FQDN+" "+n.IP)
		}
	}
	want := []string{
		"ci-one.eastus.instances.azureml.ms 10.1.0.5",
		"ci-one-22.eastus.instances.azureml.ms 10.1.0.5",
		"ci2.eastus.instances.azureml.ms 10.1.0.5",
		"ci2-22.eastus.instances.azureml.ms 10.1.0.5",
	}
	if !slices.Equal(got, want) {
		t.Errorf("compute names:\n got %q\nwant %q", got, want)
	}
}

func TestHubProjects(t *testing.T) {
	const (
		p1 = "11111111-2222-3333-4444-555555555555"
		p2 = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	)
	hub := publicVector
	hub.Projects = []Project{
		{GUID: p1, Name: "project-one"},
		{URL: "https://" + p2 + ".workspace.eastus.api.azureml.ms/mlflow/v1.0/subscriptions/" +
			"sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/" +
			"workspaces/Project-Two"},
	}
	names, _, err := hub.Names()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range names {
		got[n.FQDN] = n.IP
	}
	want := map[string]string{
		p1 + ".workspace.eastus.api.azureml.ms":                                "10.1.0.5",
		p1 + ".workspace.eastus.cert.api.azureml.ms":                           "10.1.0.5",
		"ml-project-one-eastus-" + p1 + ".eastus.notebooks.azure.net":          "10.1.0.6",
		p2 + ".workspace.eastus.api.azureml.ms":                                "10.1.0.5",
		p2 + ".workspace.eastus.cert.api.azureml.ms":                           "10.1.0.5",
		"ml-project-two-eastus-" + p2 + ".eastus.notebooks.azure.net":          "10.1.0.6",
		"fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus.api.azureml.ms": "10.1.0.5",
	}
	for fqdn, ip := range want {
		if got[fqdn] != ip {
			t.Errorf("%s = %q, want %q", fqdn, got[fqdn], ip)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Workspace)
		wantErr string
	}{
		{name: "bad guid", edit: func(w *Workspace) { w.GUID = "not-a-guid" },
			wantErr: `guid "not-a-guid" is not a GUID`},
		{name: "unknown cloud", edit: func(w *Workspace) { w.Cloud = "mars" },
			wantErr: `unknown cloud "mars"`},
		{name: "region with dot", edit: func(w *Workspace) { w.Region = "east.us" },
			wantErr: `region "east.us"`},
		{name: "region with space", edit: func(w *Workspace) { w.Region = "east us" },
			wantErr: `region "east us"`},
		{name: "name to nothing", edit: func(w *Workspace) {
			w.Region = "a-region-name-of-twenty-one"
		}, wantErr: "truncates to nothing"},
		{name: "bad api ip", edit: func(w *Workspace) { w.APIIP = "10.1.0.300" },
			wantErr: `api_ip "10.1.0.300" is not an IP address`},
		{name: "missing notebooks ip", edit: func(w *Workspace) { w.NotebooksIP = "" },
			wantErr: "notebooks_ip is missing"},
		{name: "endpoint without inference ip", edit: func(w *Workspace) { w.InferenceIP = "" },
			wantErr: "endpoints need inference_ip"},
		{name: "bad project", edit: func(w *Workspace) {
			w.Projects = []Project{{GUID: "zz", Name: "p"}}
		}, wantErr: `projects[0]: guid "zz" is not a GUID`},
		{name: "bad compute", edit: func(w *Workspace) { w.Computes = []string{"-x"} },
			wantErr: `compute "-x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := publicVector
			tt.edit(&ws)
			err := ws.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "workspace") {
				t.Errorf("error %q does not name the workspace", err)
			}
		})
	}
}

func TestForwardZones(t *testing.T) {
	tests := []struct {
		name  string
		cloud string
		role  Role
		want  []string
	}{
		{name: "public vnet", cloud: "public", role: RoleVNet, want: []string{
			"api.azureml.ms", "notebooks.azure.net", "instances.azureml.ms",
			"instances.ml.azure.ms", "inference.ml.azure.com", "aznbcontent.net"}},
		{name: "public onprem", cloud: "public", role: RoleOnPrem, want: []string{
			"api.azureml.ms", "notebooks.azure.net", "instances.azureml.ms",
			"instances.ml.azure.ms", "inference.ml.azure.com"}},
		{name: "usgov vnet", cloud: "usgov", role: RoleVNet, want: []string{
			"api.ml.azure.us", "notebooks.usgovcloudapi.net", "instances.azureml.us",
			"instances.ml.azure.us", "inference.ml.azure.us", "aznbcontent.net"}},
		{name: "china onprem", cloud: "china", role: RoleOnPrem, want: []string{
			"api.ml.azure.cn", "notebooks.chinacloudapi.cn", "instances.azureml.cn",
			"inference.ml.azure.cn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LookupCloud(tt.cloud)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ForwardZones(tt.role); !slices.Equal(got, tt.want) {
				t.Errorf("ForwardZones:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestBuildPlanMergesZonesAndForwards(t *testing.T) {
	other := publicVector
	other.GUID = "00000000-1111-2222-3333-444444444444"
	other.Name = "second"
	p, err := BuildPlan([]Workspace{publicVector, other},
		Options{Role: RoleOnPrem, DNSServers: []string{"10.0.0.4", "10.0.0.5:53"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Zones) != 2 || len(p.Zones[0].Records) != 6 {
		t.Errorf("zones = %+v, want 2 zones, 6 API records", p.Zones)
	}
	if len(p.Forwards) != 1 || !slices.Equal(p.Forwards[0].Upstreams,
		[]string{"10.0.0.4", "10.0.0.5:53"}) {
		t.Errorf("forwards = %+v", p.Forwards)
	}
	if _, err := BuildPlan([]Workspace{publicVector}, Options{Role: RoleOnPrem}); err == nil {
		t.Error("onprem without DNS servers: no error")
	}
}
