package doctor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// CauseID names one cause of a failure. The IDs are part of the JSON output
// and stay stable.
type CauseID string

// The causes. The first four are the article's own list (SPEC.md section
// 6); the others name what the classes show more precisely.
const (
	// CauseNotUsingServer: the machine does not use the DNS server.
	CauseNotUsingServer CauseID = "not-using-dns-server"
	// CauseZoneNotLinked: the Private DNS zones are not linked to the
	// DNS server's virtual network.
	CauseZoneNotLinked CauseID = "zone-not-linked"
	// CauseForwarderToAzure: the DNS server's conditional forwarders to
	// 168.63.129.16 are missing or wrong.
	CauseForwarderToAzure CauseID = "forwarder-to-azure"
	// CauseForwarderOnPrem: the on-premises server's conditional
	// forwarders to the DNS server are missing or wrong.
	CauseForwarderOnPrem CauseID = "forwarder-onprem"
	// CauseRecordMissing: the Private Link zone lacks the name's record.
	CauseRecordMissing CauseID = "record-missing"
	// CauseStaleRecord: a record holds an address that is not this
	// private endpoint's.
	CauseStaleRecord CauseID = "stale-record"
	// CauseNameWrong: the name itself is wrong.
	CauseNameWrong CauseID = "name-wrong"
	// CauseManualRecord: a hand-made record answers the public name.
	CauseManualRecord CauseID = "manual-record"
	// CauseServerUnreachable: the DNS server does not answer at all.
	CauseServerUnreachable CauseID = "server-unreachable"
)

// cause is the plain-words description of a CauseID.
type cause struct {
	title   string // one line, the cause as the article would say it
	explain string // why the evidence points here
}

var causes = map[CauseID]cause{
	CauseNotUsingServer: {
		title: "This machine does not use the DNS server for its lookups",
		explain: "The machine's own resolver (resolv.conf) answers differently from " +
			"the DNS server, so programs here never see the server's answers.",
	},
	CauseZoneNotLinked: {
		title: "The Private DNS zones are not linked to the DNS server's virtual network",
		explain: "Azure DNS answers a Private Link name from the Private DNS zone only " +
			"for queries that come from a linked virtual network; from anywhere else " +
			"it answers with the public address.",
	},
	CauseForwarderToAzure: {
		title: "The DNS server's conditional forwarders to 168.63.129.16 are wrong",
		explain: "The Azure Machine Learning zones must go to the Azure DNS virtual " +
			"server; forwarded elsewhere (or not at all) they resolve publicly, " +
			"fail, or do not exist.",
	},
	CauseForwarderOnPrem: {
		title: "The on-premises DNS server's conditional forwarders to the DNS " +
			"server are wrong",
		explain: "An on-premises server cannot reach 168.63.129.16; it must forward the " +
			"zones to the DNS server in the virtual network.",
	},
	CauseRecordMissing: {
		title: "The Private Link zone has no record for the name",
		explain: "The chain reached the Private Link name and it does not exist. A zone " +
			"kept by hand often lacks the inference wildcard " +
			"*.<guid>.inference.<region> that managed online endpoints need.",
	},
	CauseStaleRecord: {
		title: "A record holds an address that is not this private endpoint's",
		explain: "The answer is private but points elsewhere: a record left from an " +
			"earlier private endpoint, or one typed wrong.",
	},
	CauseNameWrong: {
		title: "The name does not exist as asked",
		explain: "The public name itself is unknown: typed or computed wrong (compare " +
			"with the FQDNs Azure lists on the private endpoint), or a forwarder " +
			"for its zone sends it to a server that does not know it.",
	},
	CauseManualRecord: {
		title: "A hand-made record answers the public name directly",
		explain: "The address is right but Azure's CNAME to the Private Link name is " +
			"missing: a hosts entry or a zone for the whole name. Fine when meant; it " +
			"hides later changes of the private endpoint.",
	},
	CauseServerUnreachable: {
		title: "The DNS server does not answer",
		explain: "No answer came before the deadline: the server is down, listens " +
			"elsewhere, or a firewall drops DNS (UDP and TCP port 53) on the way.",
	},
}

// Finding is one cause behind some results, with the fix.
type Finding struct {
	// ID names the cause.
	ID CauseID `json:"id"`
	// Title says the cause in one line.
	Title string `json:"title"`
	// Explain says why the evidence points here.
	Explain string `json:"explain"`
	// Results counts the results that list this cause.
	Results int `json:"results"`
	// Names are the FQDNs concerned, each once.
	Names []string `json:"names"`
	// Classes are the classes of the results concerned.
	Classes []Class `json:"classes"`
	// Fix says what to do, in words and configuration lines.
	Fix string `json:"fix"`
}

// findings gathers the causes of all results, with their fixes, the cause
// behind the most results first.
func findings(results []Result, targets []Target, opt Options) []Finding {
	byID := map[CauseID]*Finding{}
	concerned := map[CauseID][]Result{}
	var order []CauseID
	for _, r := range results {
		for _, id := range r.Causes {
			f := byID[id]
			if f == nil {
				c := causes[id]
				f = &Finding{ID: id, Title: c.title, Explain: c.explain}
				byID[id] = f
				order = append(order, id)
			}
			f.Results++
			if !contains(f.Names, r.FQDN) {
				f.Names = append(f.Names, r.FQDN)
			}
			if !containsClass(f.Classes, r.Class) {
				f.Classes = append(f.Classes, r.Class)
			}
			concerned[id] = append(concerned[id], r)
		}
	}
	out := make([]Finding, 0, len(order))
	for _, id := range order {
		f := byID[id]
		f.Fix = fixFor(id, concerned[id], opt)
		out = append(out, *f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Results > out[j].Results })
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsClass(list []Class, c Class) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// fixFor writes the fix of a cause for the results it concerns.
func fixFor(id CauseID, rs []Result, opt Options) string {
	switch id {
	case CauseNotUsingServer:
		servers := namedServers(opt.Servers)
		return "Point this machine at the DNS server: set the virtual network's DNS " +
			"servers to it (az network vnet update --dns-servers " +
			strings.Join(hosts(servers), " ") + "), or on this machine write\n" +
			nameserverLines(servers)
	case CauseZoneNotLinked:
		var b strings.Builder
		b.WriteString("Link each Private DNS zone to the DNS server's virtual network:\n")
		for _, z := range privateZonesOf(rs) {
			fmt.Fprintf(&b, "az network private-dns link vnet create --resource-group RG "+
				"--zone-name %s --name pedns-link --virtual-network VNET_ID "+
				"--registration-enabled false\n", z)
		}
		return strings.TrimSuffix(b.String(), "\n")
	case CauseForwarderToAzure:
		return forwarderFix(rs, azureml.RoleVNet, []string{azureml.AzureDNS}, opt.Syntax)
	case CauseForwarderOnPrem:
		if len(opt.DNSServers) == 0 {
			return "Forward " + strings.Join(forwardZonesOf(rs, azureml.RoleOnPrem), ", ") +
				" from the on-premises server to the DNS server in the virtual network " +
				"(give --dns-server to see the lines)."
		}
		return forwarderFix(rs, azureml.RoleOnPrem, opt.DNSServers, opt.Syntax)
	case CauseRecordMissing, CauseStaleRecord:
		return recordFix(id, rs, opt.Syntax)
	case CauseNameWrong:
		return "Compare the name with the FQDNs Azure lists on the private endpoint " +
			"(az network nic show, or the portal's DNS configuration) and let them " +
			"win: pedns doctor --from-nic FILE; then check the forwarder below."
	case CauseManualRecord:
		return "Nothing to do if the record is meant. Otherwise remove it, so that the " +
			"name is forwarded and Azure's chain answers."
	case CauseServerUnreachable:
		return "Check that the DNS server runs and listens on " +
			strings.Join(serversOf(rs), ", ") + ", and that UDP and TCP port 53 are " +
			"open from here to it."
	}
	return ""
}

func namedServers(all []Server) []Server {
	var out []Server
	for _, s := range all {
		if s.Source == SourceServer {
			out = append(out, s)
		}
	}
	return out
}

func hosts(servers []Server) []string {
	var out []string
	for _, s := range servers {
		if ap, err := parseAddrPort(s.Addr); err == nil {
			out = append(out, ap.Addr().String())
		}
	}
	return out
}

// nameserverLines writes resolv.conf lines for the servers. A port other
// than 53 is written as pedns reads it; the C library knows no ports.
func nameserverLines(servers []Server) string {
	var b strings.Builder
	for _, s := range servers {
		ap, err := parseAddrPort(s.Addr)
		if err != nil {
			continue
		}
		v := ap.Addr().String()
		if ap.Port() != 53 {
			v = s.Addr
		}
		fmt.Fprintf(&b, "nameserver %s\n", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func serversOf(rs []Result) []string {
	var out []string
	for _, r := range rs {
		if !contains(out, r.Server) {
			out = append(out, r.Server)
		}
	}
	return out
}

// forwardZonesOf returns the forwarded zones that hold the names of rs.
func forwardZonesOf(rs []Result, role azureml.Role) []string {
	var zones []string
	for _, r := range rs {
		for _, z := range r.cloud.ForwardZones(role) {
			if (r.Query == z || strings.HasSuffix(r.Query, "."+z)) && !contains(zones, z) {
				zones = append(zones, z)
			}
		}
	}
	return zones
}

// privateZonesOf returns the Private Link zones of the names of rs.
func privateZonesOf(rs []Result) []string {
	var zones []string
	for _, r := range rs {
		for _, z := range r.cloud.PrivateZones() {
			if strings.HasSuffix(r.PrivateLink, "."+z) && !contains(zones, z) {
				zones = append(zones, z)
			}
		}
	}
	return zones
}
