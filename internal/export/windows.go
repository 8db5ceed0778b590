package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// renderWindows writes a PowerShell script for Windows DNS Server (the
// DnsServer module): conditional forwarders for the role, a primary zone
// per Private Link zone with its records, and a zone per name that no
// Private Link zone answers, its record at the apex.
//
// Windows conditional forwarders always use port 53, so an upstream with
// another port is an error.
func renderWindows(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	b.WriteString(header("#", "Windows DNS Server script for Azure Machine Learning", p))
	b.WriteString("$ErrorActionPreference = 'Stop'\n\n")
	for _, f := range p.Forwards {
		var ups []string
		for _, u := range f.Upstreams {
			host, port := upstreamHostPort(u)
			if port != 0 && port != 53 {
				return nil, fmt.Errorf("upstream %s: Windows DNS forwards to port 53 only", u)
			}
			ups = append(ups, psQuote(host))
		}
		for _, z := range f.Zones {
			fmt.Fprintf(&b, "Add-DnsServerConditionalForwarderZone -Name %s -MasterServers %s\n",
				psQuote(z), strings.Join(ups, ","))
		}
	}
	b.WriteString("\n# Local Private Link zones. Windows DNS answers NXDOMAIN for any name " +
		"missing\n# here, so every private endpoint that shares a zone must be listed.\n")
	add := func(zone string, records []azureml.Record) {
		fmt.Fprintf(&b, "Add-DnsServerPrimaryZone -Name %s -ZoneFile %s\n",
			psQuote(zone), psQuote(zone+".dns"))
		for _, r := range records {
			param := "-IPv4Address"
			if r.Type() == "AAAA" {
				param = "-IPv6Address"
			}
			fmt.Fprintf(&b, "Add-DnsServerResourceRecord%s -ZoneName %s -Name %s %s %s "+
				"-TimeToLive ([TimeSpan]::FromSeconds(%d))\n", r.Type(), psQuote(zone),
				psQuote(r.Owner), param, psQuote(r.IP), azureml.RecordTTL)
		}
	}
	for _, z := range p.Zones {
		add(z.Name, z.Records)
	}
	for _, n := range standalone(p) {
		add(n.FQDN, []azureml.Record{{Owner: "@", IP: n.IP}})
	}
	return []File{{Name: "pedns-dns.ps1", Content: b.Bytes()}}, nil
}

// psQuote quotes s for PowerShell as a verbatim string.
func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
