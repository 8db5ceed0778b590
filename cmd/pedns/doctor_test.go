package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pedns/pedns/internal/dnstest"
)

// Every test here gives --resolv-conf a file of its own that names only
// loopback servers it started: the machine's /etc/resolv.conf names a
// resolver off this machine, which tests must never query.

// doctorNames are the answers of a healthy DNS server for publicFlags.
var doctorNames = []string{
	testGUID + ".workspace.eastus.api.azureml.ms. 300 IN CNAME " +
		testGUID + ".workspace.eastus.privatelink.api.azureml.ms.",
	testGUID + ".workspace.eastus.privatelink.api.azureml.ms. 10 IN A 10.1.0.5",
	testGUID + ".workspace.eastus.cert.api.azureml.ms. 300 IN CNAME " +
		testGUID + ".workspace.eastus.cert.privatelink.api.azureml.ms.",
	testGUID + ".workspace.eastus.cert.privatelink.api.azureml.ms. 10 IN A 10.1.0.5",
	"ml-myworkspace-eastus-" + testGUID + ".eastus.notebooks.azure.net. 300 IN CNAME " +
		"ml-myworkspace-eastus-" + testGUID + ".eastus.privatelink.notebooks.azure.net.",
	"ml-myworkspace-eastus-" + testGUID + ".eastus.privatelink.notebooks.azure.net. " +
		"10 IN A 10.1.0.6",
	"pedns-doctor-probe." + testGUID + ".inference.eastus.privatelink.api.azureml.ms. " +
		"10 IN A 10.1.0.7",
}

func resolvConf(t *testing.T, servers ...string) string {
	t.Helper()
	var b strings.Builder
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	return writeTemp(t, "resolv.conf", b.String())
}

func TestDoctorCommand(t *testing.T) {
	healthy := dnstest.Records(t, doctorNames...).Addr
	public := dnstest.Records(t, testGUID+".workspace.eastus.api.azureml.ms. 10 IN A 203.0.113.5")
	rcHealthy := resolvConf(t, healthy)
	rcPublic := resolvConf(t, public.Addr)
	rcEmpty := resolvConf(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // substrings of stdout
		wantErr  string   // substring of stderr
		bare     bool     // args carry the workspace, or none: no publicFlags
	}{
		{name: "healthy through the server",
			args:     []string{"--server", healthy, "--resolv-conf", rcHealthy},
			wantCode: exitOK,
			wantOut:  []string{"verdict: HEALTHY", "SAME     every name"}},
		{name: "healthy through resolv.conf alone",
			args: []string{"--resolv-conf", rcHealthy}, wantCode: exitOK,
			wantOut: []string{"(resolv.conf)", "OK "}},
		{name: "machine bypasses the server",
			args:     []string{"--server", healthy, "--resolv-conf", rcPublic},
			wantCode: exitFail,
			wantOut:  []string{"DIFFERS  " + testGUID, "[not-using-dns-server:"}},
		{name: "resolv.conf without nameserver", args: []string{"--resolv-conf", rcEmpty},
			wantCode: exitFail, wantErr: "names no nameserver"},
		{name: "no workspace", args: []string{"--resolv-conf", rcHealthy}, bare: true,
			wantCode: exitUsage, wantErr: "no workspace"},
		{name: "host name as server",
			args:     []string{"--server", "dns.example", "--resolv-conf", rcHealthy},
			wantCode: exitUsage, wantErr: `server "dns.example": want an IP address`},
		{name: "unknown syntax",
			args:     []string{"--syntax", "nginx", "--resolv-conf", rcHealthy},
			wantCode: exitUsage, wantErr: `unknown syntax "nginx"`},
		{name: "unknown output",
			args:     []string{"-o", "yaml", "--resolv-conf", rcHealthy},
			wantCode: exitUsage, wantErr: `unknown output format "yaml"`},
		{name: "bad role", args: []string{"--role", "cloud", "--resolv-conf", rcHealthy},
			wantCode: exitUsage, wantErr: `unknown role "cloud"`},
		{name: "bad timeout", args: []string{"--timeout", "0s", "--resolv-conf", rcHealthy},
			wantCode: exitUsage, wantErr: "want a positive duration"},
		{name: "bad workspace",
			args: []string{"--guid", "nope", "--name", "w", "--region", "eastus",
				"--api-ip", "10.0.0.1", "--notebooks-ip", "10.0.0.2",
				"--resolv-conf", rcHealthy}, bare: true,
			wantCode: exitFail, wantErr: `guid "nope" is not a GUID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"doctor", "--timeout", "500ms"}, tt.args...)
			if !tt.bare {
				args = append(args, publicFlags...)
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode,
					stdout.String(), stderr.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q: %s", tt.wantErr, stderr.String())
			}
			if strings.Contains(stdout.String(), "\x1b[") {
				t.Errorf("colour on a stdout that is no terminal:\n%s", stdout.String())
			}
		})
	}
}

// TestDoctorBinary runs the built program: exit statuses and JSON as a
// script sees them.
func TestDoctorBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "pedns")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	healthy := dnstest.Records(t, doctorNames...).Addr
	silent := dnstest.Silent(t).Addr
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantClass string // class of every result; empty: no JSON expected
		within    time.Duration
	}{
		{name: "healthy", args: []string{"--server", healthy,
			"--resolv-conf", resolvConf(t, healthy)}, wantCode: 0, wantClass: "OK"},
		{name: "silent server", args: []string{"--server", silent,
			"--resolv-conf", resolvConf(t, silent), "--timeout", "300ms"},
			wantCode: 1, wantClass: "UNREACHABLE", within: 3 * time.Second},
		{name: "usage", args: []string{"--bogus"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"doctor", "-o", "json"}, publicFlags...),
				tt.args...)
			cmd := exec.Command(bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			elapsed := time.Since(start)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			if tt.within > 0 && elapsed > tt.within {
				t.Errorf("took %v, want under %v", elapsed, tt.within)
			}
			if tt.wantClass == "" {
				if stdout.Len() > 0 {
					t.Errorf("usage error wrote to stdout: %s", stdout.String())
				}
				return
			}
			var rep struct {
				Results []struct {
					FQDN   string `json:"fqdn"`
					Class  string `json:"class"`
					Source string `json:"source"`
				} `json:"results"`
				Summary struct {
					Names int `json:"names"`
				} `json:"summary"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("stdout is no JSON: %v\n%s", err, stdout.String())
			}
			if rep.Summary.Names != 4 || len(rep.Results) != 8 {
				t.Errorf("%d names, %d results; want 4 names on 2 servers",
					rep.Summary.Names, len(rep.Results))
			}
			for _, r := range rep.Results {
				if r.Class != tt.wantClass {
					t.Errorf("%s via %s: class %s, want %s", r.FQDN, r.Source, r.Class,
						tt.wantClass)
				}
			}
		})
	}
}
