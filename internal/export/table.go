package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/pedns/pedns/internal/azureml"
)

// renderTable writes the names aligned in columns for a terminal, then the
// zones and the forwarders. A name reported by Azure is marked "(azure)".
func renderTable(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FQDN\tIP\tPRIVATE LINK NAME\tPURPOSE")
	for _, n := range p.Names {
		pl := n.PrivateLink
		if pl == "" {
			pl = "-"
		}
		purpose := string(n.Purpose)
		if n.Imported {
			purpose += " (azure)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.FQDN, n.IP, pl, purpose)
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	for _, z := range p.Zones {
		fmt.Fprintf(&b, "\nPrivate Link zone %s:\n", z.Name)
		for _, l := range z.Lines() {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for _, f := range p.Forwards {
		fmt.Fprintf(&b, "\nForward (role %s) to %s:\n  %s\n", p.Role,
			strings.Join(f.Upstreams, ", "), strings.Join(f.Zones, "\n  "))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "\nnote: %s\n", n)
	}
	return []File{{Name: "plan.txt", Content: b.Bytes()}}, nil
}

// renderJSON writes the plan as indented JSON. Its fields are those of
// azureml.Plan; new fields may appear, none will be removed or renamed.
func renderJSON(p *azureml.Plan, _ Options) ([]File, error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	return []File{{Name: "plan.json", Content: append(data, '\n')}}, nil
}
