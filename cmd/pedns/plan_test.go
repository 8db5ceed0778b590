package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testGUID = "fb7e20a0-8891-458b-b969-55ddb3382f51"

// publicFlags describe the article's public example workspace.
var publicFlags = []string{"--guid", testGUID, "--name", "myworkspace", "--region", "eastus",
	"--api-ip", "10.1.0.5", "--notebooks-ip", "10.1.0.6", "--inference-ip", "10.1.0.7"}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlanCommand(t *testing.T) {
	nic := writeTemp(t, "nic.json", `[
  {"FQDNs": ["`+testGUID+`.workspace.eastus.api.azureml.ms",
             "`+testGUID+`.workspace.eastus.cert.api.azureml.ms"], "IPAddress": "10.1.0.5"},
  {"FQDNs": ["ml-myworkspace-eastus-`+testGUID+`.eastus.notebooks.azure.net"],
   "IPAddress": "10.1.0.6"},
  {"FQDNs": ["*.eastus.inference.ml.azure.com"], "IPAddress": "10.1.0.7"}
]`)
	brokenNIC := writeTemp(t, "broken.json", `[{"FQDNs": ["a.b"]}]`)
	wsFile := writeTemp(t, "ws.yaml", `listen: ["127.0.0.1:5353"]
workspaces:
  - guid: `+testGUID+`
    name: myworkspace
    region: eastus
    api_ip: 10.1.0.5
    notebooks_ip: 10.1.0.6
    projects:
      - guid: 11111111-2222-3333-4444-555555555555
        name: project-one
`)
	typoFile := writeTemp(t, "typo.yaml", "workspaces:\n  - guid: "+testGUID+"\n    apiip: x\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErr    string   // substring of stderr
		wantNotOut string
	}{
		{name: "flags table", args: publicFlags, wantCode: exitOK, wantOut: []string{
			"ml-myworkspace-eastus-" + testGUID + ".eastus.notebooks.azure.net  10.1.0.6",
			"*." + testGUID + ".inference.eastus 300 IN A 10.1.0.7"}},
		{name: "compute and endpoint hosts",
			args: append([]string{"-o", "hosts", "--compute", "ci1", "--endpoint", "ep1"},
				publicFlags...),
			wantCode: exitOK, wantOut: []string{
				"10.1.0.5        ci1-22.eastus.instances.azureml.ms",
				"10.1.0.7        ep1.eastus.inference.ml.azure.com"}},
		{name: "onprem pedns",
			args: append([]string{"-o", "pedns", "--role", "onprem", "--dns-server", "10.0.0.4"},
				publicFlags...),
			wantCode: exitOK, wantOut: []string{"- 10.0.0.4"}, wantNotOut: "aznbcontent.net"},
		{name: "from nic", args: []string{"--from-nic", nic, "--compute", "ci1"},
			wantCode: exitOK, wantOut: []string{"ci1.eastus.instances.azureml.ms"}},
		{name: "from nic contradicted", args: []string{"--from-nic", nic, "--region", "westus"},
			wantCode: exitFail, wantErr: "--region westus contradicts the import"},
		{name: "broken nic", args: []string{"--from-nic", brokenNIC},
			wantCode: exitFail, wantErr: "entry 0: missing key IPAddress"},
		{name: "file with project", args: []string{"-f", wsFile, "-o", "hosts"},
			wantCode: exitOK, wantOut: []string{
				"10.1.0.6        ml-project-one-eastus-11111111-2222-3333-4444-555555555555"}},
		{name: "file with unknown key", args: []string{"-f", typoFile},
			wantCode: exitFail, wantErr: "field apiip not found"},
		{name: "bad guid", args: []string{"--guid", "nope", "--name", "w", "--region", "eastus",
			"--api-ip", "10.0.0.1", "--notebooks-ip", "10.0.0.2"},
			wantCode: exitFail, wantErr: `guid "nope" is not a GUID`},
		{name: "onprem without dns server",
			args:     append([]string{"--role", "onprem"}, publicFlags...),
			wantCode: exitFail, wantErr: "role onprem needs"},
		{name: "no workspace", args: nil, wantCode: exitUsage, wantErr: "no workspace"},
		{name: "unknown format", args: append([]string{"-o", "nginx"}, publicFlags...),
			wantCode: exitUsage, wantErr: `unknown format "nginx"`},
		{name: "bad role", args: append([]string{"--role", "cloud"}, publicFlags...),
			wantCode: exitUsage, wantErr: `unknown role "cloud"`},
		{name: "unknown flag", args: []string{"--nope"}, wantCode: exitUsage,
			wantErr: "flag provided but not defined"},
		{name: "bad project flag", args: append([]string{"--project", "abc"}, publicFlags...),
			wantCode: exitFail, wantErr: `--project "abc": want GUID:NAME`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"plan"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if tt.wantNotOut != "" && strings.Contains(stdout.String(), tt.wantNotOut) {
				t.Errorf("stdout has %q:\n%s", tt.wantNotOut, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q: %s", tt.wantErr, stderr.String())
			}
			if tt.wantCode != exitOK && stdout.Len() > 0 {
				t.Errorf("failure wrote to stdout: %s", stdout.String())
			}
		})
	}
}

func TestPlanOutDir(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := append([]string{"plan", "-o", "bind", "--out", dir}, publicFlags...)
	if code := run(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, name := range []string{"named.conf.pedns", "db.privatelink.api.azureml.ms",
		"db.privatelink.notebooks.azure.net"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout not empty with --out: %s", stdout.String())
	}
}
