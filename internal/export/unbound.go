package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// renderUnbound writes an unbound.conf fragment, to include from
// unbound.conf.
//
// The server clause marks every forwarded zone domain-insecure (DNSSEC
// validation has broken private answers) and private-domain (rebinding
// protection would drop the 10.x answers), as SPEC.md section 7 asks. Each
// Private Link zone is a transparent local zone, so names it lacks are
// still resolved upstream; the inference wildcard becomes a redirect zone,
// Unbound's way of answering every name below a point. Names that no
// Private Link zone answers get local-data of their own.
func renderUnbound(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	b.WriteString(header("#", "Unbound configuration for Azure Machine Learning", p))
	b.WriteString("server:\n")
	for _, f := range p.Forwards {
		for _, z := range f.Zones {
			fmt.Fprintf(&b, "\tdomain-insecure: %q\n\tprivate-domain: %q\n", z+".", z+".")
		}
	}
	for _, z := range p.Zones {
		fmt.Fprintf(&b, "\tlocal-zone: %q transparent\n", z.Name+".")
		for _, r := range z.Records {
			owner := r.Owner + "." + z.Name + "."
			if rest, ok := strings.CutPrefix(owner, "*."); ok {
				fmt.Fprintf(&b, "\tlocal-zone: %q redirect\n", rest)
				owner = rest
			}
			fmt.Fprintf(&b, "\tlocal-data: \"%s %d IN %s %s\"\n",
				owner, azureml.RecordTTL, r.Type(), r.IP)
		}
	}
	for _, n := range standalone(p) {
		r := azureml.Record{IP: n.IP}
		fmt.Fprintf(&b, "\tlocal-data: \"%s. %d IN %s %s\"\n",
			n.FQDN, azureml.RecordTTL, r.Type(), n.IP)
	}
	for _, f := range p.Forwards {
		for _, z := range f.Zones {
			fmt.Fprintf(&b, "\nforward-zone:\n\tname: %q\n", z+".")
			for _, u := range f.Upstreams {
				host, port := upstreamHostPort(u)
				if port != 0 {
					host = fmt.Sprintf("%s@%d", host, port)
				}
				fmt.Fprintf(&b, "\tforward-addr: %s\n", host)
			}
		}
	}
	return []File{{Name: "unbound-pedns.conf", Content: b.Bytes()}}, nil
}
