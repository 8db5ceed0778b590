package export

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// renderCoreDNS writes a Corefile.
//
// One server block forwards the role's zones. Each Private Link zone gets a
// block of its own: the hosts plugin answers its exact names, the template
// plugin answers the inference wildcard (any name below the wildcard's
// parent, as RFC 4592 has it), and both fall through to forward, so names
// of other private endpoints still reach the upstreams. A name that no
// Private Link zone answers gets a block with a hosts entry.
func renderCoreDNS(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	b.WriteString(header("#", "Corefile for Azure Machine Learning", p))
	var ups []string
	for _, f := range p.Forwards {
		ups = append(ups, f.Upstreams...)
		fmt.Fprintf(&b, "%s {\n\tforward . %s\n\tcache 30\n\terrors\n}\n",
			strings.Join(f.Zones, " "), strings.Join(ups, " "))
	}
	for _, z := range p.Zones {
		fmt.Fprintf(&b, "\n%s {\n", z.Name)
		var exact, wild []azureml.Record
		for _, r := range z.Records {
			if strings.HasPrefix(r.Owner, "*.") {
				wild = append(wild, r)
			} else {
				exact = append(exact, r)
			}
		}
		if len(exact) > 0 {
			b.WriteString("\thosts {\n")
			for _, r := range exact {
				fmt.Fprintf(&b, "\t\t%s %s.%s\n", r.IP, r.Owner, z.Name)
			}
			fmt.Fprintf(&b, "\t\tttl %d\n\t\tfallthrough\n\t}\n", azureml.RecordTTL)
		}
		for _, r := range wild {
			parent := strings.TrimPrefix(r.Owner, "*.") + "." + z.Name + "."
			fmt.Fprintf(&b, "\ttemplate IN %s %s {\n\t\tmatch \"^.+\\.%s$\"\n"+
				"\t\tanswer \"{{ .Name }} %d IN %s %s\"\n\t\tfallthrough\n\t}\n",
				r.Type(), z.Name, regexp.QuoteMeta(parent), azureml.RecordTTL,
				r.Type(), r.IP)
		}
		if len(ups) > 0 {
			fmt.Fprintf(&b, "\tforward . %s\n", strings.Join(ups, " "))
		}
		b.WriteString("}\n")
	}
	for _, n := range standalone(p) {
		fmt.Fprintf(&b, "\n%s {\n\thosts {\n\t\t%s %s\n\t\tttl %d\n\t}\n}\n",
			n.FQDN, n.IP, n.FQDN, azureml.RecordTTL)
	}
	return []File{{Name: "Corefile", Content: b.Bytes()}}, nil
}
