package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/azureml"
)

// Class is the kind of outcome of one name through one server. The names are
// part of the JSON output and stay stable.
type Class string

// The classes, after the outcomes the article's troubleshooting meets.
const (
	// ClassOK: the name resolves to its private endpoint address.
	ClassOK Class = "OK"
	// ClassNoCNAME: the right address, but the answer skipped the Private
	// Link name: a hand-made record answers the public name. A warning.
	ClassNoCNAME Class = "NO-CNAME"
	// ClassPublic: the name resolves, to an address outside the private
	// network.
	ClassPublic Class = "PUBLIC"
	// ClassWrongPrivate: a private address, but not this endpoint's.
	ClassWrongPrivate Class = "WRONG-PRIVATE"
	// ClassNXPrivateLink: the chain reached the Private Link name, which
	// does not exist (or has no address).
	ClassNXPrivateLink Class = "NXDOMAIN-PRIVATELINK"
	// ClassNXPublic: the public name itself does not exist (or has no
	// address), before any Private Link name.
	ClassNXPublic Class = "NXDOMAIN-PUBLIC"
	// ClassServFail: the server answered with a failure (SERVFAIL,
	// REFUSED, ...), typically because its forwarder is unreachable.
	ClassServFail Class = "SERVFAIL"
	// ClassUnreachable: the server itself gave no answer before the
	// deadline, or refused the connection.
	ClassUnreachable Class = "UNREACHABLE"
)

// Severity groups classes for the exit status and the summary.
type Severity string

// The severities.
const (
	SeverityOK      Severity = "ok"
	SeverityWarning Severity = "warning"
	SeverityFailed  Severity = "failed"
)

// Severity returns how bad the class is.
func (c Class) Severity() Severity {
	switch c {
	case ClassOK:
		return SeverityOK
	case ClassNoCNAME:
		return SeverityWarning
	}
	return SeverityFailed
}

// classRank orders classes for reports: failures first, OK last.
func classRank(c Class) int {
	order := []Class{ClassUnreachable, ClassServFail, ClassNXPublic, ClassNXPrivateLink,
		ClassPublic, ClassWrongPrivate, ClassNoCNAME, ClassOK}
	for i, o := range order {
		if o == c {
			return i
		}
	}
	return len(order)
}

// Result is one name looked up through one server, with its diagnosis.
type Result struct {
	Target
	// Server is the address asked.
	Server string `json:"server"`
	// Source says where the server came from.
	Source Source `json:"source"`
	// Class is the diagnosis.
	Class Class `json:"class"`
	// Severity is Class.Severity(), spelled out for scripts.
	Severity Severity `json:"severity"`
	// Evidence says in one line what was seen that led to Class.
	Evidence string `json:"evidence"`
	// Addresses are the final A and AAAA addresses.
	Addresses []string `json:"addresses,omitempty"`
	// PrivateLinkSeen is true when the chain passed through a Private
	// Link zone.
	PrivateLinkSeen bool `json:"private_link_seen"`
	// A and AAAA are the chains of the two queries.
	A    Chain `json:"a"`
	AAAA Chain `json:"aaaa"`
	// Causes are the documented causes that fit, likeliest first.
	Causes []CauseID `json:"causes,omitempty"`
	// DiffersFrom is set on a resolv.conf result whose answer differs from
	// that of the named DNS server at this address.
	DiffersFrom string `json:"differs_from,omitempty"`
}

// check looks t up through s and diagnoses the answers.
func check(ctx context.Context, t Target, s Server, opt Options) Result {
	r := Result{Target: t, Server: s.Addr, Source: s.Source}
	r.A = resolve(ctx, s.Addr, t.Query, dns.TypeA, opt.Timeout)
	r.AAAA = resolve(ctx, s.Addr, t.Query, dns.TypeAAAA, opt.Timeout)
	r.Addresses = append(append([]string(nil), r.A.Addresses...), r.AAAA.Addresses...)
	for _, n := range append(append([]string(nil), r.A.Names...), r.AAAA.Names...) {
		r.PrivateLinkSeen = r.PrivateLinkSeen || inPrivateLinkZone(n)
	}
	r.Class, r.Evidence = classify(t, r)
	r.Severity = r.Class.Severity()
	r.Causes = causesOf(r, opt.Role)
	return r
}

// inPrivateLinkZone reports whether name lies in a Private Link zone.
func inPrivateLinkZone(name string) bool {
	return strings.HasPrefix(name, "privatelink.") || strings.Contains(name, ".privatelink.")
}

// classify reads the class of a result from its chains. The A chain
// decides, since private endpoints have IPv4 addresses; an AAAA answer can
// only make it worse, because a client that prefers IPv6 would leave the
// private network.
func classify(t Target, r Result) (Class, string) {
	a := r.A
	last := a.last()
	switch {
	case last.Error != "":
		return ClassUnreachable, fmt.Sprintf("%s %s: %s", last.Type, last.Name, last.Error)
	case a.Rcode == "NXDOMAIN" || a.Rcode == "NOERROR" && len(a.Addresses) == 0:
		what := "does not exist (NXDOMAIN)"
		if a.Rcode == "NOERROR" {
			what = "has no A record (NODATA)"
		}
		end := a.lastName()
		if inPrivateLinkZone(end) {
			return ClassNXPrivateLink, "Private Link name " + end + " " + what
		}
		return ClassNXPublic, end + " " + what
	case a.Rcode != "NOERROR":
		return ClassServFail, fmt.Sprintf("the server answered %s", a.Rcode)
	}
	want, _ := netip.ParseAddr(t.IP)
	cls, ev := judge(want, t.wsIPs, a.Addresses, "A")
	if cls == ClassOK {
		cls, ev = judge(want, t.wsIPs, r.AAAA.Addresses, "AAAA")
		if cls == ClassOK {
			ev = "resolves to " + strings.Join(a.Addresses, ", ")
		}
	}
	if cls == ClassOK && t.PrivateLink != "" && !r.PrivateLinkSeen {
		return ClassNoCNAME, fmt.Sprintf("resolves to %s without the CNAME to %s",
			t.IP, t.PrivateLink)
	}
	return cls, ev
}

// judge compares addresses with the wanted one: any public address makes
// PUBLIC, any other private one WRONG-PRIVATE. The workspace's own
// endpoint addresses count as private even where a virtual network uses
// public ranges.
func judge(want netip.Addr, ws map[netip.Addr]bool, addrs []string,
	typ string) (Class, string) {
	var public, other []string
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		switch {
		case err == nil && a.Unmap() == want.Unmap():
		case err == nil && (isPrivate(a) || ws[a.Unmap()]):
			other = append(other, s)
		default:
			public = append(public, s)
		}
	}
	switch {
	case len(public) > 0:
		return ClassPublic, fmt.Sprintf("%s %s is public, want %s",
			typ, strings.Join(public, ", "), want)
	case len(other) > 0:
		return ClassWrongPrivate, fmt.Sprintf("%s %s is private but not this endpoint's "+
			"%s", typ, strings.Join(other, ", "), want)
	}
	return ClassOK, ""
}

// causesOf returns the documented causes that fit r, likeliest first.
func causesOf(r Result, role azureml.Role) []CauseID {
	forwarders := []CauseID{CauseForwarderToAzure}
	if role == azureml.RoleOnPrem {
		forwarders = []CauseID{CauseForwarderOnPrem, CauseForwarderToAzure}
	}
	switch r.Class {
	case ClassPublic:
		if r.PrivateLinkSeen {
			// Azure's public DNS gave the CNAME, so the query reached an
			// Azure resolver, which answered the Private Link name
			// without the Private DNS zone.
			return append([]CauseID{CauseZoneNotLinked}, forwarders...)
		}
		return append(forwarders, CauseZoneNotLinked)
	case ClassNXPrivateLink:
		return []CauseID{CauseRecordMissing}
	case ClassNXPublic:
		return append([]CauseID{CauseNameWrong}, forwarders...)
	case ClassServFail:
		return forwarders
	case ClassUnreachable:
		return []CauseID{CauseServerUnreachable}
	case ClassWrongPrivate:
		return []CauseID{CauseStaleRecord}
	case ClassNoCNAME:
		return []CauseID{CauseManualRecord}
	}
	return nil
}

// explainProbes weighs the causes of a wildcard's probe name that does not
// exist. Where Azure answers without the Private DNS zone (a network not
// linked to it, or a resolver other than 168.63.129.16), an unknown Private
// Link name is NXDOMAIN too, so a missing wildcard and a public answer look
// alike for the probe. Public answers for the other Private Link names of
// the same server tell which it is: then the probe shares their causes.
func explainProbes(results []Result) {
	public := map[string][]CauseID{}
	for _, r := range results {
		key := r.Server + " " + r.Hub
		if r.Class == ClassPublic && r.PrivateLinkSeen && public[key] == nil {
			public[key] = r.Causes
		}
	}
	for i := range results {
		r := &results[i]
		if r.Class != ClassNXPrivateLink || r.Query == r.FQDN {
			continue
		}
		if cs := public[r.Server+" "+r.Hub]; cs != nil {
			r.Causes = append(append([]CauseID(nil), cs...), CauseRecordMissing)
		} else {
			r.Causes = []CauseID{CauseRecordMissing, CauseZoneNotLinked}
		}
	}
}

// compare marks each resolv.conf result whose answer differs from the named
// DNS server's answer for the same name. results holds the servers of one
// name next to each other, n per name.
func compare(results []Result, n int) {
	for i := 0; i+n <= len(results); i += n {
		group := results[i : i+n]
		for m := range group {
			if group[m].Source != SourceResolvConf {
				continue
			}
			for _, s := range group {
				if s.Source != SourceServer || sameAnswer(group[m], s) {
					continue
				}
				mark(&group[m], s)
				break
			}
		}
	}
}

// mark records that the machine's answer m differs from the server's s:
// the first cause of the article. When the server itself answers right,
// that is the whole explanation of m.
func mark(m *Result, s Result) {
	m.DiffersFrom = s.Server
	if s.Class.Severity() != SeverityFailed {
		m.Causes = []CauseID{CauseNotUsingServer}
		return
	}
	m.Causes = append([]CauseID{CauseNotUsingServer}, m.Causes...)
}

func sameAnswer(a, b Result) bool {
	return a.Class == b.Class && sameSet(a.Addresses, b.Addresses)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}
