package doctor

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/export"
)

// syntaxes are the DNS servers fix lines can be written for; each is an
// export format of the same name.
var syntaxes = []string{"bind", "coredns", "dnsmasq", "pedns", "unbound", "windows"}

// Syntaxes returns the names of the syntaxes of fix lines, sorted.
func Syntaxes() []string { return append([]string(nil), syntaxes...) }

func knownSyntax(s string) bool { return contains(syntaxes, s) }

func parseAddrPort(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }

// forwarderFix writes the conditional forwarders of the zones that hold
// the names of rs, to the upstreams, in the chosen syntax.
func forwarderFix(rs []Result, role azureml.Role, ups []string, syntax string) string {
	zones := forwardZonesOf(rs, role)
	p := &azureml.Plan{Role: role,
		Forwards: []azureml.Forward{{Zones: zones, Upstreams: ups}}}
	where := "the DNS server"
	if role == azureml.RoleOnPrem {
		where = "the on-premises DNS server"
	}
	return fmt.Sprintf("On %s, forward %s to %s (%s):\n%s", where, strings.Join(zones, ", "),
		strings.Join(ups, ", "), syntax, snippet(syntax, p))
}

// recordFix writes the records the names of rs need: in the Private DNS
// zone in Azure, or in the DNS server's own zone where it keeps one.
func recordFix(id CauseID, rs []Result, syntax string) string {
	p := &azureml.Plan{Role: azureml.RoleVNet}
	var az strings.Builder
	zoneIndex := map[string]int{}
	for _, r := range rs {
		zone, rec, ok := privateRecordOf(r)
		if !ok {
			p.Names = appendName(p.Names, azureml.Name{FQDN: r.FQDN, IP: r.IP,
				Purpose: r.Purpose})
			continue
		}
		i, ok := zoneIndex[zone]
		if !ok {
			i = len(p.Zones)
			zoneIndex[zone] = i
			p.Zones = append(p.Zones, azureml.PrivateZone{Name: zone})
		}
		z := &p.Zones[i]
		if containsRecord(z.Records, rec) {
			continue
		}
		z.Records = append(z.Records, rec)
		fmt.Fprintf(&az, "az network private-dns record-set a add-record --resource-group RG "+
			"--zone-name %s --record-set-name '%s' --ipv4-address %s\n", zone, rec.Owner, rec.IP)
	}
	var b strings.Builder
	verb := "Add"
	if id == CauseStaleRecord {
		verb = "Replace the wrong address with"
	}
	if az.Len() > 0 {
		fmt.Fprintf(&b, "%s the record in the Private DNS zone:\n%s", verb, az.String())
		b.WriteString("or, where the DNS server keeps the zone itself (" + syntax + "):\n")
	} else {
		fmt.Fprintf(&b, "%s the record on the DNS server (%s):\n", verb, syntax)
	}
	b.WriteString(snippet(syntax, p))
	return b.String()
}

func appendName(ns []azureml.Name, n azureml.Name) []azureml.Name {
	for _, x := range ns {
		if x.FQDN == n.FQDN {
			return ns
		}
	}
	return append(ns, n)
}

func containsRecord(rs []azureml.Record, r azureml.Record) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// privateRecordOf returns the Private Link zone and the record that
// answers r's name. Endpoint names are answered by the inference wildcard.
func privateRecordOf(r Result) (string, azureml.Record, bool) {
	for _, z := range r.cloud.PrivateZones() {
		owner, ok := strings.CutSuffix(r.PrivateLink, "."+z)
		if !ok {
			continue
		}
		if r.Purpose == azureml.PurposeEndpoint {
			_, rest, _ := strings.Cut(owner, ".")
			owner = "*." + rest
		}
		return z, azureml.Record{Owner: owner, IP: r.IP}, true
	}
	return "", azureml.Record{}, false
}

// snippet renders the plan in the syntax and keeps the configuration lines,
// without the comments and blank lines that a whole file carries.
func snippet(syntax string, p *azureml.Plan) string {
	if syntax == "pedns" {
		return pednsSnippet(p)
	}
	files, err := export.Render(syntax, p, export.Options{})
	if err != nil {
		return fmt.Sprintf("(no %s lines: %v)", syntax, err)
	}
	var b strings.Builder
	for _, f := range files {
		lines := configLines(string(f.Content))
		if len(lines) == 0 {
			continue
		}
		if len(files) > 1 {
			fmt.Fprintf(&b, "==> %s <==\n", f.Name)
		}
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// configLines drops comments, blank lines and script boilerplate.
func configLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "", strings.HasPrefix(t, "#"), strings.HasPrefix(t, "//"),
			strings.HasPrefix(t, ";"), strings.HasPrefix(t, "$ErrorActionPreference"):
			continue
		}
		out = append(out, l)
	}
	return out
}

// pednsSnippet writes only the forward and zones keys of a pedns
// configuration: listen and allow have nothing to do with the fix.
func pednsSnippet(p *azureml.Plan) string {
	var cfg struct {
		Forward []export.PednsForward `yaml:"forward,omitempty"`
		Zones   []export.PednsZone    `yaml:"zones,omitempty"`
	}
	for _, f := range p.Forwards {
		cfg.Forward = append(cfg.Forward, export.PednsForward{Zones: f.Zones,
			Upstreams: f.Upstreams})
	}
	for _, z := range p.Zones {
		cfg.Zones = append(cfg.Zones, export.PednsZone{Name: z.Name, Fallthrough: true,
			Records: z.Text()})
	}
	for _, n := range p.Names {
		rec := azureml.Record{Owner: "@", IP: n.IP}
		cfg.Zones = append(cfg.Zones, export.PednsZone{Name: n.FQDN,
			Records: rec.String() + "\n"})
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Sprintf("(no pedns lines: %v)", err)
	}
	return strings.TrimSuffix(string(data), "\n")
}
