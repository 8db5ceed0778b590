package azureml

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Purpose says why a name exists.
type Purpose string

// The purposes of a workspace's names (SPEC.md section 2).
const (
	PurposeAPI        Purpose = "api"                // <guid>.workspace.<region>.<API zone>
	PurposeCert       Purpose = "cert"               // <guid>.workspace.<region>.cert.<API zone>
	PurposeNotebooks  Purpose = "notebooks"          // ml-<name>-<region>-<guid>.<region>.<nb zone>
	PurposeCompute    Purpose = "compute"            // <instance>.<region>.<instances zone>
	PurposeComputeSSH Purpose = "compute-ssh"        // <instance>-22.<region>.<instances zone>
	PurposeEndpoint   Purpose = "endpoint"           // <endpoint>.<region>.<inference zone>
	PurposeInference  Purpose = "inference-wildcard" // *.<region>.<inference zone>
	PurposeOther      Purpose = "imported"           // reported by Azure, of no known pattern
)

// RecordTTL is the TTL of every record pedns writes. Five minutes keeps a
// changed private endpoint address from lingering in caches.
const RecordTTL = 300

// Name is one FQDN of a plan.
type Name struct {
	// FQDN is the public name clients look up, lower case, no final dot.
	FQDN string `json:"fqdn"`
	// IP is the private endpoint address the name must resolve to.
	IP string `json:"ip"`
	// PrivateLink is the CNAME target Azure's public DNS answers with, in
	// a Private Link zone; empty for names that have none (compute
	// instances and unknown imported names).
	PrivateLink string `json:"private_link,omitempty"`
	// Purpose says why the name exists.
	Purpose Purpose `json:"purpose"`
	// Workspace is the GUID of the workspace or project the name is for.
	Workspace string `json:"workspace"`
	// Label is the compute instance or endpoint name, or the workspace
	// name; for grouping output.
	Label string `json:"label,omitempty"`
	// Imported is true when the name came from what Azure reported.
	Imported bool `json:"imported,omitempty"`
}

// Record is one address record of a Private Link zone.
type Record struct {
	// Owner is relative to the zone's apex, e.g.
	// fb7e20a0-8891-458b-b969-55ddb3382f51.workspace.eastus or a wildcard
	// *.<guid>.inference.<region>.
	Owner string `json:"owner"`
	// IP is the address; A for IPv4, AAAA for IPv6.
	IP string `json:"ip"`
}

// Type returns A or AAAA, after the address family of r.IP.
func (r Record) Type() string {
	if a, err := netip.ParseAddr(r.IP); err == nil && a.Is6() && !a.Is4In6() {
		return "AAAA"
	}
	return "A"
}

// String returns r as a zone-file line relative to the apex, e.g.
// "<guid>.workspace.eastus 300 IN A 10.1.0.5".
func (r Record) String() string {
	return fmt.Sprintf("%s %d IN %s %s", r.Owner, RecordTTL, r.Type(), r.IP)
}

// PrivateZone is one Private Link zone and the records it needs.
type PrivateZone struct {
	// Name is the zone's apex, e.g. privatelink.api.azureml.ms.
	Name string `json:"name"`
	// Records are sorted by owner, without duplicates.
	Records []Record `json:"records"`
}

// Lines returns the zone's records as zone-file lines relative to the apex,
// one per element: what the records key of a pedns zone holds.
func (z PrivateZone) Lines() []string {
	out := make([]string, len(z.Records))
	for i, r := range z.Records {
		out[i] = r.String()
	}
	return out
}

// Text returns Lines joined, each ended by a newline.
func (z PrivateZone) Text() string {
	var b strings.Builder
	for _, l := range z.Lines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Forward is one conditional forwarding rule.
type Forward struct {
	// Zones are forwarded, with every name below them.
	Zones []string `json:"zones"`
	// Upstreams are the servers to forward to (addresses, maybe ip:port).
	Upstreams []string `json:"upstreams"`
}

// Options choose the forwarding of a plan.
type Options struct {
	// Role is RoleVNet (the default when empty) or RoleOnPrem.
	Role Role
	// DNSServers are the virtual network DNS servers that the on-premises
	// role forwards to. Required for RoleOnPrem, unused for RoleVNet.
	DNSServers []string
}

// Plan is everything a DNS setup needs for some workspaces.
type Plan struct {
	// Role is the role the forwarders were chosen for.
	Role Role `json:"role"`
	// Names are all FQDNs, per workspace in input order, then by purpose.
	Names []Name `json:"names"`
	// Zones are the Private Link zones with their records, sorted by name.
	Zones []PrivateZone `json:"zones"`
	// Forwards are the conditional forwarders for Role.
	Forwards []Forward `json:"forwarders"`
	// Notes tell where imported names differ from computed ones, and other
	// things a person should know.
	Notes []string `json:"notes,omitempty"`
}

// PrivateZones returns the Private Link zones of w with their records. It is
// what a DNS server calls to serve a workspace without hand-written records.
func (w Workspace) PrivateZones() ([]PrivateZone, error) {
	return PrivateZonesOf([]Workspace{w})
}

// PrivateZonesOf returns the Private Link zones of all workspaces, merged:
// workspaces of one cloud share a zone. Errors name the workspace.
func PrivateZonesOf(ws []Workspace) ([]PrivateZone, error) {
	p, err := BuildPlan(ws, Options{})
	if err != nil {
		return nil, err
	}
	return p.Zones, nil
}

// Names returns every FQDN of w with its address and Private Link name.
func (w Workspace) Names() ([]Name, []string, error) {
	if err := w.Validate(); err != nil {
		return nil, nil, err
	}
	n := w.normalized()
	c, _ := LookupCloud(n.Cloud)
	names, err := n.computedNames(c)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", n.label(), err)
	}
	names, notes := n.applyImported(c, names)
	return names, notes, nil
}

// BuildPlan validates the workspaces and returns their plan. Every invalid
// workspace is reported, by index.
func BuildPlan(ws []Workspace, opt Options) (*Plan, error) {
	role, err := ParseRole(string(opt.Role))
	if err != nil {
		return nil, err
	}
	p := &Plan{Role: role}
	var errs []error
	var cloudsSeen []Cloud
	records := map[string]map[Record]bool{}
	for i, w := range ws {
		names, notes, err := w.Names()
		if err != nil {
			errs = append(errs, fmt.Errorf("workspaces[%d]: %w", i, err))
			continue
		}
		c, _ := LookupCloud(w.Cloud)
		cloudsSeen = appendCloud(cloudsSeen, c)
		p.Names = append(p.Names, names...)
		p.Notes = append(p.Notes, notes...)
		for _, nm := range names {
			zone, rec, ok := privateRecord(c, nm)
			if !ok {
				continue
			}
			if records[zone] == nil {
				records[zone] = map[Record]bool{}
			}
			records[zone][rec] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.Zones = zonesFrom(cloudsSeen, records)
	fw, err := forwards(cloudsSeen, role, opt.DNSServers)
	if err != nil {
		return nil, err
	}
	p.Forwards = fw
	return p, nil
}

func appendCloud(cs []Cloud, c Cloud) []Cloud {
	for _, x := range cs {
		if x.Key == c.Key {
			return cs
		}
	}
	return append(cs, c)
}

// zonesFrom returns both Private Link zones of every cloud seen, even when
// one has no records, sorted by name.
func zonesFrom(cs []Cloud, records map[string]map[Record]bool) []PrivateZone {
	var zones []PrivateZone
	for _, c := range cs {
		for _, z := range c.PrivateZones() {
			pz := PrivateZone{Name: z}
			for r := range records[z] {
				pz.Records = append(pz.Records, r)
			}
			sort.Slice(pz.Records, func(i, j int) bool {
				a, b := pz.Records[i], pz.Records[j]
				if a.Owner != b.Owner {
					return a.Owner < b.Owner
				}
				return a.IP < b.IP
			})
			zones = append(zones, pz)
		}
	}
	sort.Slice(zones, func(i, j int) bool { return zones[i].Name < zones[j].Name })
	return zones
}

func forwards(cs []Cloud, role Role, servers []string) ([]Forward, error) {
	ups := []string{AzureDNS}
	if role == RoleOnPrem {
		if len(servers) == 0 {
			return nil, errors.New("role onprem needs the virtual network " +
				"DNS server addresses to forward to")
		}
		for _, s := range servers {
			if err := checkUpstream(s); err != nil {
				return nil, err
			}
		}
		ups = append([]string(nil), servers...)
	}
	var zones []string
	seen := map[string]bool{}
	for _, c := range cs {
		for _, z := range c.ForwardZones(role) {
			if !seen[z] {
				seen[z] = true
				zones = append(zones, z)
			}
		}
	}
	if len(zones) == 0 {
		return nil, nil
	}
	return []Forward{{Zones: zones, Upstreams: ups}}, nil
}

// checkUpstream accepts an address or address:port.
func checkUpstream(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if _, err := netip.ParseAddrPort(s); err == nil {
		return nil
	}
	return fmt.Errorf("dns server %q is not an IP address or IP:port", s)
}

// privateRecord returns the Private Link zone and record that answer nm's
// CNAME target. Endpoint names have none of their own: the inference
// wildcard answers them.
func privateRecord(c Cloud, nm Name) (string, Record, bool) {
	if nm.PrivateLink == "" || nm.Purpose == PurposeEndpoint {
		return "", Record{}, false
	}
	for _, z := range c.PrivateZones() {
		if owner, ok := strings.CutSuffix(nm.PrivateLink, "."+z); ok {
			return z, Record{Owner: owner, IP: nm.IP}, true
		}
	}
	return "", Record{}, false
}

// computedNames builds the names of n, which must be valid and normalized.
func (n Workspace) computedNames(c Cloud) ([]Name, error) {
	names, err := coreNames(c, n.GUID, n.Name, n.Region, n.APIIP, n.NotebooksIP)
	if err != nil {
		return nil, err
	}
	if n.InferenceIP != "" {
		names = append(names, inferenceName(c, n, "*", PurposeInference))
		for _, e := range n.Endpoints {
			names = append(names, inferenceName(c, n, e, PurposeEndpoint))
		}
	}
	for _, ci := range n.Computes {
		names = append(names, Name{
			FQDN:    ci + "." + n.Region + "." + c.InstancesZones[0],
			IP:      n.APIIP,
			Purpose: PurposeCompute, Workspace: n.GUID, Label: ci,
		})
		if !n.NoSSHNames {
			names = append(names, Name{
				FQDN:    ci + "-22." + n.Region + "." + c.InstancesZones[0],
				IP:      n.APIIP,
				Purpose: PurposeComputeSSH, Workspace: n.GUID, Label: ci,
			})
		}
	}
	for _, p := range n.Projects {
		p, err := p.resolve(n)
		if err != nil {
			return nil, err
		}
		pn, err := coreNames(c, p.GUID, p.Name, n.Region, n.APIIP, n.NotebooksIP)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", p.GUID, err)
		}
		names = append(names, pn...)
	}
	return names, nil
}

// coreNames returns the API, certificate and notebooks names of a workspace
// or project.
func coreNames(c Cloud, guid, name, region, apiIP, nbIP string) ([]Name, error) {
	label, err := NotebooksLabel(name, region, guid)
	if err != nil {
		return nil, err
	}
	api := guid + ".workspace." + region
	cert := api + ".cert"
	nb := label + "." + region
	return []Name{
		{FQDN: api + "." + c.APIZone, IP: apiIP, Purpose: PurposeAPI,
			PrivateLink: api + "." + c.PrivateAPIZone(), Workspace: guid, Label: name},
		// The article gives no CNAME for the certificate name; it follows
		// the API name's pattern, which is where Azure's zone group
		// registers it.
		{FQDN: cert + "." + c.APIZone, IP: apiIP, Purpose: PurposeCert,
			PrivateLink: cert + "." + c.PrivateAPIZone(), Workspace: guid, Label: name},
		{FQDN: nb + "." + c.NotebooksZone, IP: nbIP, Purpose: PurposeNotebooks,
			PrivateLink: nb + "." + c.PrivateNotebooksZone(), Workspace: guid, Label: name},
	}, nil
}

// inferenceName returns an endpoint name, or the wildcard for label "*".
// Both map to <label>.<guid>.inference.<region> in the Private API zone.
func inferenceName(c Cloud, n Workspace, label string, p Purpose) Name {
	nm := Name{
		FQDN:        label + "." + n.Region + "." + c.InferenceZone,
		IP:          n.InferenceIP,
		PrivateLink: label + "." + n.GUID + ".inference." + n.Region + "." + c.PrivateAPIZone(),
		Purpose:     p, Workspace: n.GUID, Label: label,
	}
	if label == "*" {
		nm.Label = n.Name
	}
	return nm
}
