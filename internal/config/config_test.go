package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example of the serve issue, with every key.
const full = `listen: ["127.0.0.1:5353"]
allow: ["127.0.0.0/8"]
forward:
  - zones: [api.azureml.ms, notebooks.azure.net]
    upstreams: ["127.0.0.1:5300", "127.0.0.2"]
  - zones: ["."]
    upstreams: ["127.0.0.1:5301"]
zones:
  - name: privatelink.api.azureml.ms
    fallthrough: false
    records: |
      fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus 300 IN A 10.1.0.5
      *.fb7e20a0-8891-458b-b969-55ddb3382f51.inference.eastus 300 IN A 10.1.0.7
  - name: corp.example
    file: corp.example.zone
hosts: [../../../examples/aml.hosts]
cache: {size: 10000, min_ttl: 0s, max_ttl: 1h}
log: {level: info, queries: true}
`

func write(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/corp.example.zone")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "corp.example.zone"), data, 0o644)
	// hosts path relative to the config file: point it at the repository's example.
	abs, _ := filepath.Abs("../../examples/aml.hosts")
	text = strings.ReplaceAll(text, "../../../examples/aml.hosts", abs)
	file := filepath.Join(dir, "pedns.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestLoadFull(t *testing.T) {
	l, err := Load(write(t, full))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Forward[0].Upstreams; got[0] != "127.0.0.1:5300" || got[1] != "127.0.0.2:53" {
		t.Errorf("upstreams %v, want ports filled in", got)
	}
	if l.Forward[0].Zones[0] != "api.azureml.ms." {
		t.Errorf("zone %q, want a lower-case FQDN", l.Forward[0].Zones[0])
	}
	if len(l.ZoneData) != 2 || l.ZoneData[0].Len() != 2 || l.ZoneData[1].Len() != 4 {
		t.Errorf("zones %d", len(l.ZoneData))
	}
	if len(l.HostEntries) != 5 {
		t.Errorf("%d hosts entries, want 5", len(l.HostEntries))
	}
	if !l.Log.Queries || l.Cache.MaxTTL.D() != time.Hour || *l.Cache.Size != 10000 {
		t.Errorf("cache/log not read: %+v %+v", l.Cache, l.Log)
	}
	if l.Upstream.Timeout.D() <= 4*time.Second {
		t.Errorf("default upstream timeout %v, want over 4s", l.Upstream.Timeout.D())
	}
}

func TestDefaults(t *testing.T) {
	l, err := Parse([]byte("forward: [{zones: [.], upstreams: [127.0.0.1]}]\n"), "min.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.Allow, ",") != strings.Join(DefaultAllow, ",") {
		t.Errorf("allow %v, want the private ranges", l.Allow)
	}
	if *l.Cache.Size != DefaultCacheSize || l.Cache.NegativeTTL.D() != DefaultNegativeTTL {
		t.Errorf("cache defaults %+v", l.Cache)
	}
}

func TestErrorsArePositioned(t *testing.T) {
	text := `listen: ["127.0.0.1:5353"]
allow: ["10.0.0.0/33"]
forward:
  - zones: [api.azureml.ms]
    upstreams: ["dns.example.com"]
zones:
  - name: privatelink.api.azureml.ms
    records: |
      ok 300 IN A 10.1.0.5
      bad 300 IN A 10.1.0.999
cache: {size: 10, colour: blue}
`
	file := write(t, text)
	_, err := Load(file)
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("err = %v (%T), want Errors", err, err)
	}
	want := []string{
		"pedns.yaml:2:9: allow[0]: ",
		"pedns.yaml:5:17: forward[0].upstreams[0]: ",
		"pedns.yaml:10:",
		"pedns.yaml:11:19: cache.colour: unknown field",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = strings.TrimPrefix(e.Error(), filepath.Dir(file)+"/")
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error starts with %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "syntax", text: "listen: [\n", want: "YAML syntax"},
		{name: "bad listen", text: "listen: [localhost]\n", want: "want ip:port"},
		{name: "duplicate forward zone",
			text: "forward:\n- {zones: [a.example], upstreams: [127.0.0.1]}\n" +
				"- {zones: [A.example.], upstreams: [127.0.0.2]}\n",
			want: "already forwarded"},
		{name: "rule without upstream", text: "forward:\n- {zones: [a.example]}\n",
			want: "at least one upstream"},
		{name: "records and file",
			text: "zones:\n- {name: a.example, records: 'x 1 IN A 10.0.0.1', file: f}\n",
			want: "not both"},
		{name: "missing zone file", text: "zones:\n- {name: a.example, file: nope.zone}\n",
			want: "reading zone file"},
		{name: "missing hosts file", text: "hosts: [nope.hosts]\n", want: "reading hosts file"},
		{name: "bad duration", text: "cache: {max_ttl: 1x}\n", want: "must be a duration"},
		{name: "bad level", text: "log: {level: loud}\n", want: "want debug, info, warn or error"},
		{name: "min above max", text: "cache: {min_ttl: 2h, max_ttl: 1h}\n",
			want: "above max_ttl"},
		{name: "duplicate key", text: "listen: [':53']\nlisten: [':54']\n", want: "given twice"},
		{name: "wrong kind", text: "forward: {zones: x}\n", want: "must be a list"},
		{name: "empty allow", text: "allow: []\n", want: "would refuse every client"},
		{name: "listen twice", text: "listen: ['127.0.0.1:5300', '127.0.0.1:5300']\n",
			want: "listed twice"},
		{name: "forward to itself",
			text: "listen: ['127.0.0.1:5300']\n" +
				"forward: [{zones: [.], upstreams: ['127.0.0.1:5300']}]\n",
			want: "loops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Problems in one zone do not hide the others: a bad record, a CNAME beside
// other data and a zone defined twice are all reported in one run.
// An empty file, or one of comments only, is refused: it is more likely a
// file caught half written than a wish to serve nothing.
func TestEmptyFileRefused(t *testing.T) {
	for _, text := range []string{"", "\n  \n", "# nothing yet\n", "---\n", "null\n",
		"---\n# nothing yet\n", "~\n"} {
		_, err := Parse([]byte(text), "pedns.yaml")
		if err == nil || !strings.Contains(err.Error(), "pedns.yaml: the file is empty") {
			t.Errorf("%q: error %v, want the file is empty", text, err)
		}
	}
}

func TestZoneErrorsAllAtOnce(t *testing.T) {
	_, err := Load(write(t, `zones:
  - name: corp.example
    records: |
      www.other.example. 300 IN A 10.0.0.1
      a 300 IN A 10.0.0.2
      a 300 IN CNAME b
  - name: corp.example.
    records: |
      x 300 IN A 10.0.0.3
`))
	for _, want := range []string{"outside zone", "CNAME at a.corp.example.", "defined twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestBuiltin(t *testing.T) {
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(rc, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.1\n"), 0o644)
	l, warnings, err := Builtin(rc)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %v", warnings)
	}
	azure := strings.Join(l.Forward[0].Zones, " ")
	for _, z := range []string{"api.azureml.ms.", "notebooks.azure.net.", "instances.azureml.ms.",
		"instances.ml.azure.ms.", "inference.ml.azure.com.", "aznbcontent.net.",
		"api.ml.azure.cn.", "api.ml.azure.us.", "instances.ml.azure.us."} {
		if !strings.Contains(azure, z) {
			t.Errorf("built-in forwarders lack %s: %s", z, azure)
		}
	}
	if l.Forward[0].Upstreams[0] != "168.63.129.16:53" {
		t.Errorf("Azure rule upstream %v", l.Forward[0].Upstreams)
	}
	// The loopback nameserver would be pedns itself: left out.
	if got := l.Forward[1].Upstreams; len(got) != 1 || got[0] != "192.0.2.1:53" {
		t.Errorf("default rule upstreams %v, want only 192.0.2.1:53", got)
	}
	if l.Listen[0] != ":53" {
		t.Errorf("listen %v", l.Listen)
	}
}
