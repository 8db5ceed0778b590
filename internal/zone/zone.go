// Package zone holds authoritative zones in memory and answers questions from them.
//
// A Zone answers the way an authoritative server does (RFC 1034 section 4.3.2,
// RFC 4592 for wildcards): an exact match, a CNAME at the name, a wildcard
// synthesis from the closest encloser, NODATA or NXDOMAIN with the zone's SOA in
// the authority section. It does not follow a CNAME itself: the resolver does,
// because the target may belong to another source. Delegations (NS records below
// the apex) are stored but never turned into referrals: pedns serves its local
// zones as leaf zones.
package zone

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Zone is an immutable authoritative zone, safe for concurrent lookups.
type Zone struct {
	origin string // lower-case FQDN of the apex
	soa    *dns.SOA
	neg    []dns.RR         // the SOA as negative answers carry it, TTL lowered
	nodes  map[string]*node // lower-case owner name -> node; empty non-terminals too
	count  int              // records, the synthesized SOA excluded
	synth  bool             // the SOA was synthesized, not given

	// Fallthrough makes a name that does not exist in the zone go on to the
	// forwarders instead of NXDOMAIN, like the "fallback to internet" resolution
	// policy of an Azure Private DNS zone link (SPEC.md section 7).
	Fallthrough bool
}

// node is everything stored at one owner name. A name holds one to three
// types as a rule, so a short slice searched in order is smaller and faster
// than a map; it matters for zones of a million names.
type node struct {
	rrsets []rrset
}

type rrset struct {
	rrtype uint16
	rrs    []dns.RR
}

// get returns the records of type t at n.
func (n *node) get(t uint16) ([]dns.RR, bool) {
	for i := range n.rrsets {
		if n.rrsets[i].rrtype == t {
			return n.rrsets[i].rrs, true
		}
	}
	return nil, false
}

// add appends rr to its rrset at n.
func (n *node) add(rr dns.RR) {
	t := rr.Header().Rrtype
	for i := range n.rrsets {
		if n.rrsets[i].rrtype == t {
			n.rrsets[i].rrs = append(n.rrsets[i].rrs, rr)
			return
		}
	}
	n.rrsets = append(n.rrsets, rrset{rrtype: t, rrs: []dns.RR{rr}})
}

// Result is the zone's answer to one question.
type Result struct {
	Rcode  int      // dns.RcodeSuccess or dns.RcodeNameError
	Answer []dns.RR // shared with the zone unless synthesized: never modify
	Ns     []dns.RR // the SOA for NXDOMAIN and NODATA
}

// synthesizedSOA values, for a zone whose data has no SOA record. The negative
// TTL is short on purpose: see SPEC.md section 7 on caching missing answers.
const (
	synthRefresh = 3600
	synthRetry   = 600
	synthExpire  = 86400
	synthMinimum = 30
	synthTTL     = 30
)

// New builds a zone at origin from records. It checks that every record lies in
// the zone and that no name holds a CNAME beside other data (RFC 1034 section
// 3.6.2), and synthesizes an SOA when the data has none.
func New(origin string, rrs []dns.RR) (*Zone, error) {
	z := &Zone{origin: strings.ToLower(dns.Fqdn(origin)), nodes: map[string]*node{}}
	z.nodes[z.origin] = &node{}

	for _, rr := range rrs {
		if err := z.add(rr); err != nil {
			return nil, err
		}
	}

	if z.soa == nil {
		z.synth = true
		z.soa = &dns.SOA{
			Hdr: dns.RR_Header{Name: z.origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET,
				Ttl: synthTTL},
			Ns:      "ns." + z.origin,
			Mbox:    "hostmaster." + z.origin,
			Serial:  1,
			Refresh: synthRefresh,
			Retry:   synthRetry,
			Expire:  synthExpire,
			Minttl:  synthMinimum,
		}
		z.nodes[z.origin].add(z.soa)
	}

	// RFC 2308 section 3: the negative TTL is the lesser of the SOA's TTL and
	// its MINIMUM field.
	neg := *z.soa
	neg.Hdr.Ttl = min(z.soa.Hdr.Ttl, z.soa.Minttl)
	z.neg = []dns.RR{&neg}
	return z, nil
}

func (z *Zone) add(rr dns.RR) error {
	h := rr.Header()
	name := canonical(h.Name)
	if !dns.IsSubDomain(z.origin, name) {
		return fmt.Errorf("record %s is outside zone %s", h.Name, z.origin)
	}
	if h.Rrtype == dns.TypeSOA {
		if name != z.origin {
			return fmt.Errorf("SOA record %s is not at the zone apex %s", h.Name, z.origin)
		}
		if z.soa != nil {
			return fmt.Errorf("zone %s has more than one SOA record", z.origin)
		}
		z.soa = rr.(*dns.SOA)
	}

	n := z.nodeFor(name)
	_, hasCNAME := n.get(dns.TypeCNAME)
	switch {
	case h.Rrtype == dns.TypeCNAME && len(n.rrsets) > 0 && !hasCNAME:
		return fmt.Errorf("CNAME at %s beside other records", h.Name)
	case h.Rrtype == dns.TypeCNAME && hasCNAME:
		return fmt.Errorf("more than one CNAME at %s", h.Name)
	case h.Rrtype != dns.TypeCNAME && hasCNAME:
		return fmt.Errorf("%s record at %s beside a CNAME", dns.TypeToString[h.Rrtype], h.Name)
	}

	old, _ := n.get(h.Rrtype)
	for _, o := range old {
		if dns.IsDuplicate(o, rr) {
			return nil
		}
	}
	n.add(rr)
	z.count++
	return nil
}

// canonical returns name as queries arrive: lower case, and with escapes such
// as \097 turned into the characters they stand for (and back into escapes
// only where the presentation format needs them), so that a record written
// with escapes is found.
func canonical(name string) string {
	var buf [256]byte
	off, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return strings.ToLower(name)
	}
	out, _, err := dns.UnpackDomainName(buf[:off], 0)
	if err != nil {
		return strings.ToLower(name)
	}
	return strings.ToLower(out)
}

// nodeFor returns the node at name, creating it and any empty non-terminals
// between it and the apex, so that a name with nothing but descendants answers
// NODATA rather than NXDOMAIN (RFC 8020).
func (z *Zone) nodeFor(name string) *node {
	n, ok := z.nodes[name]
	if ok {
		return n
	}
	n = &node{}
	z.nodes[name] = n
	for parent := name; parent != z.origin; {
		i, _ := dns.NextLabel(parent, 0)
		parent = parent[i:]
		if _, ok := z.nodes[parent]; ok {
			break
		}
		z.nodes[parent] = &node{}
	}
	return n
}

// Origin returns the lower-case apex of the zone.
func (z *Zone) Origin() string { return z.origin }

// Records returns every record of the zone, a synthesized SOA excluded, in no
// particular order. The records are shared: never modify them.
func (z *Zone) Records() []dns.RR {
	out := make([]dns.RR, 0, z.count)
	for _, n := range z.nodes {
		for _, set := range n.rrsets {
			if set.rrtype == dns.TypeSOA && z.synth {
				continue
			}
			out = append(out, set.rrs...)
		}
	}
	return out
}

// Len returns the number of records in the zone, a synthesized SOA excluded.
func (z *Zone) Len() int { return z.count }

// Lookup answers qname and qtype from the zone. qname must be lower case and lie
// in the zone. A CNAME at qname is returned alone for any other qtype; the caller
// follows it.
func (z *Zone) Lookup(qname string, qtype uint16) Result {
	if n, ok := z.nodes[qname]; ok {
		return z.answerAt(n, qname, qtype, false)
	}

	// Not there: find the closest encloser and try its wildcard (RFC 4592 section 3.3).
	encloser := qname
	for encloser != z.origin {
		i, _ := dns.NextLabel(encloser, 0)
		encloser = encloser[i:]
		if _, ok := z.nodes[encloser]; ok {
			break
		}
	}
	if wild, ok := z.nodes["*."+encloser]; ok {
		return z.answerAt(wild, qname, qtype, true)
	}
	return Result{Rcode: dns.RcodeNameError, Ns: z.negativeSOA()}
}

// answerAt answers from node n. When synthesize is set, n is a wildcard and the
// returned records are copies owned by qname.
func (z *Zone) answerAt(n *node, qname string, qtype uint16, synthesize bool) Result {
	rrs, ok := n.get(dns.TypeCNAME)
	if !ok || qtype == dns.TypeCNAME {
		rrs, ok = n.get(qtype)
	}
	if !ok {
		return Result{Rcode: dns.RcodeSuccess, Ns: z.negativeSOA()}
	}
	if synthesize {
		out := make([]dns.RR, len(rrs))
		for i, rr := range rrs {
			out[i] = dns.Copy(rr)
			out[i].Header().Name = qname
		}
		rrs = out
	}
	return Result{Rcode: dns.RcodeSuccess, Answer: rrs}
}

// negativeSOA returns the authority section of a negative answer. The slice is
// shared: never modify it.
func (z *Zone) negativeSOA() []dns.RR { return z.neg }
