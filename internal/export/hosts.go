package export

import (
	"bytes"
	"fmt"

	"github.com/pedns/pedns/internal/azureml"
)

// renderHosts writes a hosts file: "IP<spaces>FQDN" lines in groups, each
// after a comment saying what the group is for, as in the article's
// example. Wildcards cannot be written in a hosts file; they appear as
// comments that say so. The project's own reader is internal/hosts.
func renderHosts(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	b.WriteString(header("#", "Hosts entries for Azure Machine Learning", p))
	last := ""
	for _, n := range p.Names {
		group, title := hostsGroup(n)
		if group != last {
			fmt.Fprintf(&b, "\n# %s\n", title)
			last = group
		}
		if n.FQDN[0] == '*' {
			fmt.Fprintf(&b, "# %s %s: a hosts file has no wildcards; "+
				"list endpoints by name\n", n.FQDN, n.IP)
			continue
		}
		fmt.Fprintf(&b, "%-15s %s\n", n.IP, n.FQDN)
	}
	return []File{{Name: "hosts", Content: b.Bytes()}}, nil
}

// hostsGroup returns the group a name is written in and its title.
func hostsGroup(n azureml.Name) (string, string) {
	switch n.Purpose {
	case azureml.PurposeAPI, azureml.PurposeCert, azureml.PurposeNotebooks:
		return "core " + n.Workspace, fmt.Sprintf("Workspace %s (%s): API, "+
			"certificate and notebooks", n.Label, n.Workspace)
	case azureml.PurposeCompute, azureml.PurposeComputeSSH:
		return "compute " + n.Label, fmt.Sprintf("Compute instance %s "+
			"(at the workspace's API address, not the instance's own)", n.Label)
	case azureml.PurposeEndpoint:
		return "endpoint " + n.Label, "Managed online endpoint " + n.Label
	case azureml.PurposeInference:
		return "inference " + n.Workspace, "Managed online endpoints of workspace " +
			n.Workspace
	}
	return "other", "Other names Azure reported for the private endpoint"
}
