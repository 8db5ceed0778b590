package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// renderAzCLI writes a bash script of Azure CLI commands that create the
// Private DNS zones, link them to the DNS server's virtual network, and add
// the records, for when the private endpoint's own DNS integration was not
// used. The script reads the resource group and virtual network from the
// environment. Forwarders are not Azure resources; the script lists them
// as comments for the DNS server's owner.
func renderAzCLI(p *azureml.Plan, _ Options) ([]File, error) {
	var b bytes.Buffer
	b.WriteString("#!/usr/bin/env bash\n")
	b.WriteString(header("#", "Azure Private DNS zones for Azure Machine Learning", p))
	b.WriteString("set -euo pipefail\n" +
		": \"${RESOURCE_GROUP:?set RESOURCE_GROUP to the zones' resource group}\"\n" +
		": \"${VNET_ID:?set VNET_ID to the DNS server virtual network's resource ID}\"\n")
	for _, f := range p.Forwards {
		fmt.Fprintf(&b, "\n# Conditional forwarders for the DNS server, to %s:\n",
			strings.Join(f.Upstreams, ", "))
		for _, z := range f.Zones {
			fmt.Fprintf(&b, "#   %s\n", z)
		}
	}
	for _, z := range p.Zones {
		zq := shQuote(z.Name)
		fmt.Fprintf(&b, "\naz network private-dns zone create \\\n"+
			"  --resource-group \"$RESOURCE_GROUP\" --name %s\n", zq)
		fmt.Fprintf(&b, "az network private-dns link vnet create \\\n"+
			"  --resource-group \"$RESOURCE_GROUP\" --zone-name %s \\\n"+
			"  --name pedns-dns-server --virtual-network \"$VNET_ID\" "+
			"--registration-enabled false\n", zq)
		for _, r := range z.Records {
			kind, param := "a", "--ipv4-address"
			if r.Type() == "AAAA" {
				kind, param = "aaaa", "--ipv6-address"
			}
			fmt.Fprintf(&b, "az network private-dns record-set %s add-record \\\n"+
				"  --resource-group \"$RESOURCE_GROUP\" --zone-name %s \\\n"+
				"  --record-set-name %s %s %s\n", kind, zq, shQuote(r.Owner), param, r.IP)
		}
	}
	if names := standalone(p); len(names) > 0 {
		b.WriteString("\n# The article resolves these names by forwarding the instances " +
			"zones to\n# Azure DNS; this script adds no record for them:\n")
		for _, n := range names {
			fmt.Fprintf(&b, "#   %s %s\n", n.FQDN, n.IP)
		}
	}
	return []File{{Name: "pedns-private-dns.sh", Content: b.Bytes()}}, nil
}

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
