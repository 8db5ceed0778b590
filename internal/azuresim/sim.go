// Package azuresim emulates the Azure DNS virtual server, 168.63.129.16, for
// Azure Machine Learning workspaces reached through Private Link, so that a
// DNS setup can be tried on one machine before it meets Azure.
//
// The emulator knows three things (see Config): virtual networks, each with
// its own listen addresses; Private DNS zones, each linked to some networks;
// and workspaces, from which it builds the public side of DNS. It answers the
// way Azure's recursive resolver does: recursion available, the whole CNAME
// chain in one answer, the answer depending on the network asking:
//
//   - a public workspace name answers with a CNAME to its Private Link name
//     (SPEC.md section 2);
//   - a name inside a Private DNS zone linked to the asking network is
//     answered from that zone alone, NXDOMAIN included, unless the link has
//     the fallback-to-internet option and the zone lacks the name;
//   - a Private Link name asked from anywhere else resolves to a public
//     address, a documentation address in 203.0.113.0/24 (RFC 5737) that
//     stands for the workspace's public front end;
//   - a compute instance name, and its -22 name, answers with the
//     workspace's private endpoint address, with no CNAME, when the asking
//     network is linked to the workspace's Private Link API zone, and with
//     a public address otherwise;
//   - every other name is NXDOMAIN. The emulator never recurses and never
//     sends a packet anywhere but back to the client.
package azuresim

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/zone"
)

// PublicNet holds the public addresses the emulator answers with. It is
// TEST-NET-3 (RFC 5737): reserved for documentation, never routed, so that
// no answer of the emulator can lead anyone to a real host.
var PublicNet = netip.MustParsePrefix("203.0.113.0/24")

// PublicAddress returns the public address the emulator gives name (lower
// case, with or without the final dot) when it does not answer privately. It
// is stable: the same name always gets the same address.
func PublicAddress(name string) netip.Addr {
	h := fnv.New32a()
	h.Write([]byte(strings.TrimSuffix(strings.ToLower(name), ".")))
	b := PublicNet.Addr().As4()
	b[3] = byte(h.Sum32()%254) + 1 // 1 to 254: no network or broadcast address
	return netip.AddrFrom4(b)
}

// TTLs of the records the emulator makes. Records of Private DNS zones keep
// the TTLs written in them.
const (
	CNAMETTL  = 300 // public CNAMEs into Private Link zones
	PublicTTL = 60  // public addresses
	negTTL    = 30  // negative answers of the public zones
)

// maxChain bounds the names followed in one answer.
const maxChain = 8

// Sources of one step of an answer, as Step.Source and the logs tell them.
const (
	SourcePublic   = "public"      // Azure's public DNS
	SourceZone     = "zone"        // a Private DNS zone linked to the network
	SourceFallback = "fallback"    // public, after a linked zone lacked the name
	SourceCompute  = "compute"     // a compute instance name
	SourceUnknown  = "nxdomain"    // a name the emulator does not know
	SourceLoop     = "chain-limit" // the CNAME chain looped or was too long
)

// Step is how the emulator answered one name of a CNAME chain.
type Step struct {
	// Name is the name answered, lower case with the final dot.
	Name string
	// Source is one of the Source constants.
	Source string
	// Detail says more: the zone and its link for SourceZone, why the
	// answer is public for SourcePublic and SourceCompute.
	Detail string
	// Rcode is the answer's rcode for this name.
	Rcode int
	// Records are the records this step added to the answer.
	Records []dns.RR
}

// Result is the emulator's whole answer to one question.
type Result struct {
	Rcode  int
	Answer []dns.RR // the whole chain, in order
	Ns     []dns.RR // an SOA for negative answers
	Steps  []Step
}

// privateZone is a Private DNS zone with its links by network name.
type privateZone struct {
	zone  *zone.Zone
	links map[string]Link
}

// publicName is one public name of a workspace.
type publicName struct {
	target    string     // CNAME target; empty for compute and other names
	private   netip.Addr // the private endpoint address of a compute name
	linkZone  string     // the Private Link API zone a compute name needs
	public    netip.Addr // the address when not answered privately
	workspace string     // GUID, for details
}

// Model is the emulator's data: what it answers to which network. It is
// immutable after NewModel and safe for concurrent use.
type Model struct {
	networks []string
	zones    map[string]*privateZone // apex -> zone
	public   map[string]publicName   // public name -> how it answers
	linkPub  map[string]netip.Addr   // Private Link name -> public address
	soas     map[string]*dns.SOA     // public and Private Link zones of the clouds
}

// NewModel builds the emulator's data from a checked configuration.
func NewModel(cfg *Config) (*Model, error) {
	m := &Model{
		zones:   map[string]*privateZone{},
		public:  map[string]publicName{},
		linkPub: map[string]netip.Addr{},
		soas:    map[string]*dns.SOA{},
	}
	for _, n := range cfg.Networks {
		m.networks = append(m.networks, n.Name)
	}
	for _, k := range azureml.CloudKeys() {
		c, _ := azureml.LookupCloud(k)
		for _, z := range c.ForwardZones(azureml.RoleVNet) {
			m.addSOA(z)
		}
		for _, z := range c.PrivateZones() {
			m.addSOA(z)
		}
	}
	wsRecords, err := m.addWorkspaces(cfg.Workspaces)
	if err != nil {
		return nil, err
	}
	for i, pz := range cfg.PrivateZones {
		name, err := apex(pz.Name)
		if err != nil {
			return nil, fmt.Errorf("private_zones[%d]: %w", i, err)
		}
		rrs, err := zone.Parse(pz.Records, name, "private_zones["+fmt.Sprint(i)+"]", 1)
		if err != nil {
			return nil, fmt.Errorf("private_zones[%d]: %w", i, err)
		}
		if pz.WorkspaceRecords {
			rrs = append(rrs, wsRecords[name]...)
		}
		z, err := zone.New(name, rrs)
		if err != nil {
			return nil, fmt.Errorf("private_zones[%d]: %w", i, err)
		}
		links := map[string]Link{}
		for _, l := range pz.Links {
			links[l.Network] = l
		}
		m.zones[name] = &privateZone{zone: z, links: links}
	}
	return m, nil
}

func (m *Model) addSOA(z string) {
	origin := dns.Fqdn(z)
	m.soas[origin] = &dns.SOA{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET,
			Ttl: negTTL},
		Ns: "ns1-sim.azure-dns.invalid.", Mbox: "hostmaster.azure-dns.invalid.",
		Serial: 1, Refresh: 3600, Retry: 300, Expire: 86400, Minttl: negTTL,
	}
}

// addWorkspaces fills the public side from the workspaces and returns the
// records their private endpoints register, by zone apex.
func (m *Model) addWorkspaces(ws []azureml.Workspace) (map[string][]dns.RR, error) {
	for i, w := range ws {
		names, _, err := w.Names()
		if err != nil {
			return nil, fmt.Errorf("workspaces[%d]: %w", i, err)
		}
		c, err := azureml.LookupCloud(w.Cloud)
		if err != nil {
			return nil, fmt.Errorf("workspaces[%d]: %w", i, err)
		}
		for _, n := range names {
			m.addName(c, n)
		}
	}
	records := map[string][]dns.RR{}
	if len(ws) == 0 {
		return records, nil
	}
	pzs, err := azureml.PrivateZonesOf(ws)
	if err != nil {
		return nil, err
	}
	for _, pz := range pzs {
		origin := dns.Fqdn(pz.Name)
		rrs, err := zone.Parse(pz.Text(), origin, "workspaces", 1)
		if err != nil {
			return nil, fmt.Errorf("records of zone %s: %w", pz.Name, err)
		}
		records[origin] = rrs
	}
	return records, nil
}

// addName records how the public name n answers.
func (m *Model) addName(c azureml.Cloud, n azureml.Name) {
	fqdn := dns.Fqdn(n.FQDN)
	switch {
	case n.Purpose == azureml.PurposeInference:
		// The wildcard of the NIC is not a public name: Azure's public
		// DNS knows each endpoint by name.
	case n.PrivateLink != "":
		target := dns.Fqdn(n.PrivateLink)
		m.public[fqdn] = publicName{target: target, workspace: n.Workspace}
		m.linkPub[target] = PublicAddress(target)
	case n.Purpose == azureml.PurposeCompute || n.Purpose == azureml.PurposeComputeSSH:
		ip, _ := netip.ParseAddr(n.IP)
		m.public[fqdn] = publicName{private: ip, linkZone: dns.Fqdn(c.PrivateAPIZone()),
			public: PublicAddress(fqdn), workspace: n.Workspace}
	default:
		m.public[fqdn] = publicName{public: PublicAddress(fqdn), workspace: n.Workspace}
	}
}

// Networks returns the names of the networks, in configuration order.
func (m *Model) Networks() []string { return append([]string(nil), m.networks...) }

// Resolve answers qname and qtype as the Azure DNS virtual server does for a
// query from the named network, following CNAMEs to the end.
func (m *Model) Resolve(network, qname string, qtype uint16) Result {
	var res Result
	name := strings.ToLower(dns.Fqdn(qname))
	seen := map[string]bool{}
	for len(res.Steps) < maxChain {
		seen[name] = true
		st, next := m.lookup(network, name, qtype)
		res.Steps = append(res.Steps, st)
		res.Answer = append(res.Answer, st.Records...)
		res.Rcode = st.Rcode
		if next == "" {
			if st.Rcode != dns.RcodeSuccess || !hasType(st.Records, qtype) {
				res.Ns = m.negative(network, name)
			}
			return res
		}
		if seen[next] {
			break
		}
		name = next
	}
	res.Steps = append(res.Steps, Step{Name: name, Source: SourceLoop,
		Rcode: dns.RcodeServerFailure})
	res.Rcode, res.Answer = dns.RcodeServerFailure, nil
	return res
}

func hasType(rrs []dns.RR, qtype uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			return true
		}
	}
	return false
}

// lookup answers one name and returns the CNAME target to follow, if any.
func (m *Model) lookup(network, name string, qtype uint16) (Step, string) {
	if pz, link, ok := m.linkedZone(network, name); ok {
		r := pz.zone.Lookup(name, qtype)
		fallback := link.FallbackToInternet && r.Rcode == dns.RcodeNameError &&
			(qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeCNAME)
		if !fallback {
			st := Step{Name: name, Source: SourceZone, Rcode: r.Rcode, Records: r.Answer,
				Detail: fmt.Sprintf("Private DNS zone %s linked to %s",
					strings.TrimSuffix(pz.zone.Origin(), "."), network)}
			return st, cnameTarget(r.Answer, qtype)
		}
		st, next := m.publicLookup(network, name, qtype)
		st.Source = SourceFallback
		st.Detail = fmt.Sprintf("zone %s lacks the name; its link to %s falls back "+
			"to internet: %s", strings.TrimSuffix(pz.zone.Origin(), "."), network, st.Detail)
		return st, next
	}
	return m.publicLookup(network, name, qtype)
}

// linkedZone returns the Private DNS zone with the longest apex that holds
// name among those linked to network. Azure answers every name under such a
// zone from the zone alone.
func (m *Model) linkedZone(network, name string) (*privateZone, Link, bool) {
	for off := 0; ; {
		if pz, ok := m.zones[name[off:]]; ok {
			if l, linked := pz.links[network]; linked {
				return pz, l, true
			}
		}
		var end bool
		off, end = dns.NextLabel(name, off)
		if end {
			return nil, Link{}, false
		}
	}
}

// linked reports whether a zone named apex is linked to network.
func (m *Model) linked(network, apex string) bool {
	pz, ok := m.zones[apex]
	if !ok {
		return false
	}
	_, ok = pz.links[network]
	return ok
}

// publicLookup answers name from the public side of Azure DNS.
func (m *Model) publicLookup(network, name string, qtype uint16) (Step, string) {
	st := Step{Name: name, Source: SourcePublic}
	if p, ok := m.public[name]; ok {
		switch {
		case p.target != "":
			st.Detail = "public DNS"
			st.Records = []dns.RR{&dns.CNAME{Hdr: header(name, dns.TypeCNAME, CNAMETTL),
				Target: p.target}}
			if qtype == dns.TypeCNAME {
				return st, ""
			}
			return st, p.target
		case p.linkZone != "" && m.linked(network, p.linkZone):
			st.Source = SourceCompute
			st.Detail = fmt.Sprintf("compute instance; %s is linked to %s",
				strings.TrimSuffix(p.linkZone, "."), network)
			st.Records = addressRecords(name, p.private, qtype, PublicTTL)
			return st, ""
		case p.linkZone != "":
			st.Source = SourceCompute
			st.Detail = fmt.Sprintf("compute instance; %s is not linked to %s, "+
				"public address", strings.TrimSuffix(p.linkZone, "."), network)
		default:
			st.Detail = "name reported for workspace " + p.workspace
		}
		st.Records = addressRecords(name, p.public, qtype, PublicTTL)
		return st, ""
	}
	if addr, ok := m.linkPub[name]; ok {
		st.Detail = "no Private DNS zone linked to " + network + " holds it: public address"
		st.Records = addressRecords(name, addr, qtype, PublicTTL)
		return st, ""
	}
	st.Source, st.Rcode = SourceUnknown, dns.RcodeNameError
	st.Detail = "no such name"
	return st, ""
}

// negative returns the authority section of a negative answer for name: the
// SOA of the linked zone or public zone that holds it, if any.
func (m *Model) negative(network, name string) []dns.RR {
	if pz, _, ok := m.linkedZone(network, name); ok {
		if r := pz.zone.Lookup(name, dns.TypeSOA); len(r.Ns) > 0 {
			return r.Ns
		}
	}
	best := ""
	for origin := range m.soas {
		if dns.IsSubDomain(origin, name) && len(origin) > len(best) {
			best = origin
		}
	}
	if best == "" {
		return nil
	}
	return []dns.RR{m.soas[best]}
}

func header(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// addressRecords returns the record of addr at name when qtype asks for its
// family, and nothing (NODATA) otherwise.
func addressRecords(name string, addr netip.Addr, qtype uint16, ttl uint32) []dns.RR {
	switch {
	case addr.Is4() && qtype == dns.TypeA:
		return []dns.RR{&dns.A{Hdr: header(name, dns.TypeA, ttl), A: addr.AsSlice()}}
	case addr.Is6() && qtype == dns.TypeAAAA:
		return []dns.RR{&dns.AAAA{Hdr: header(name, dns.TypeAAAA, ttl), AAAA: addr.AsSlice()}}
	}
	return nil
}

// cnameTarget returns the target of a CNAME in rrs, unless the question
// asked for the CNAME itself.
func cnameTarget(rrs []dns.RR, qtype uint16) string {
	if qtype == dns.TypeCNAME {
		return ""
	}
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok {
			return strings.ToLower(c.Target)
		}
	}
	return ""
}

// PublicNames returns every public name the emulator knows, sorted: the
// workspaces' names and the Private Link names they lead to.
func (m *Model) PublicNames() []string {
	out := make([]string, 0, len(m.public)+len(m.linkPub))
	for n := range m.public {
		out = append(out, n)
	}
	for n := range m.linkPub {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
