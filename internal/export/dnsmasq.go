package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// renderDnsmasq writes a dnsmasq configuration fragment.
//
// server=/zone/ip sends each forwarded zone to its upstreams. dnsmasq only
// relays an upstream's answer and never looks up a CNAME target in its own
// records, so records are written twice: host-record lines for the public
// names (what clients ask) and for the Private Link names (what a CNAME
// from upstream points at). A host-record answers its exact name only; the
// inference wildcard becomes address=/domain/ip, which answers the domain
// and every name below it.
func renderDnsmasq(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	b.WriteString(header("#", "dnsmasq configuration for Azure Machine Learning", p))
	for _, f := range p.Forwards {
		for _, z := range f.Zones {
			for _, u := range f.Upstreams {
				host, port := upstreamHostPort(u)
				if port != 0 {
					host = fmt.Sprintf("%s#%d", host, port)
				}
				fmt.Fprintf(&b, "server=/%s/%s\n", z, host)
			}
		}
	}
	b.WriteString("\n# Public names\n")
	for _, n := range hostNames(p) {
		fmt.Fprintf(&b, "host-record=%s,%s,%d\n", n.FQDN, n.IP, azureml.RecordTTL)
	}
	for _, z := range p.Zones {
		fmt.Fprintf(&b, "\n# Private Link zone %s\n", z.Name)
		for _, r := range z.Records {
			name := r.Owner + "." + z.Name
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				fmt.Fprintf(&b, "address=/%s/%s\n", rest, r.IP)
				continue
			}
			fmt.Fprintf(&b, "host-record=%s,%s,%d\n", name, r.IP, azureml.RecordTTL)
		}
	}
	return []File{{Name: "dnsmasq-pedns.conf", Content: b.Bytes()}}, nil
}
