// Package hosts reads hosts files (the format of /etc/hosts) and answers A, AAAA
// and PTR questions from them.
//
// A name that a hosts file lists is owned by the hosts source for every type: A
// and AAAA get the listed addresses, any other type gets NODATA, so that a
// hosts entry overrides the rest of the pipeline the way it does on one machine
// (SPEC.md section 4, the hosts-file alternative).
package hosts

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Entry is one line of a hosts file.
type Entry struct {
	Addr  netip.Addr
	Names []string // lower-case FQDNs
	File  string
	Line  int
}

// ParseError is a bad line in a hosts file.
type ParseError struct {
	File string
	Line int
	Msg  string
}

// Error formats the problem as FILE:LINE: problem.
func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse reads hosts-file lines: an address, then one or more names, then an
// optional # comment. It reports every bad line, not only the first.
func Parse(r io.Reader, file string) ([]Entry, error) {
	var (
		entries []Entry
		errs    []error
	)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		e, err := parseLine(fields)
		if err != nil {
			errs = append(errs, &ParseError{File: file, Line: line, Msg: err.Error()})
			continue
		}
		e.File, e.Line = file, line
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("reading %s: %w", file, err))
	}
	if len(errs) > 0 {
		return nil, Errors(errs)
	}
	return entries, nil
}

func parseLine(fields []string) (Entry, error) {
	addr, err := netip.ParseAddr(fields[0])
	if err != nil {
		return Entry{}, fmt.Errorf("bad address %q", fields[0])
	}
	if len(fields) == 1 {
		return Entry{}, fmt.Errorf("address %s has no names", fields[0])
	}
	e := Entry{Addr: addr.Unmap().WithZone("")}
	for _, name := range fields[1:] {
		if _, ok := dns.IsDomainName(name); !ok || strings.Contains(name, "*") {
			return Entry{}, fmt.Errorf("bad host name %q", name)
		}
		e.Names = append(e.Names, strings.ToLower(dns.Fqdn(name)))
	}
	return e, nil
}

// Errors is every problem found while reading hosts files.
type Errors []error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Hosts answers questions from parsed entries. It is immutable after New and
// safe for concurrent use.
type Hosts struct {
	byName map[string]*records // lower-case FQDN -> its address records
	byAddr map[string][]dns.RR // lower-case reverse name -> its PTR records
}

type records struct {
	a, aaaa []dns.RR
}

// New indexes entries, answering with the given TTL. Later lines add to the
// addresses of a name that an earlier line already listed.
func New(entries []Entry, ttl uint32) *Hosts {
	h := &Hosts{byName: map[string]*records{}, byAddr: map[string][]dns.RR{}}
	for _, e := range entries {
		rev, _ := dns.ReverseAddr(e.Addr.String())
		for _, name := range e.Names {
			h.add(name, e.Addr, rev, ttl)
		}
	}
	return h
}

func (h *Hosts) add(name string, addr netip.Addr, rev string, ttl uint32) {
	r, ok := h.byName[name]
	if !ok {
		r = &records{}
		h.byName[name] = r
	}
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
	if addr.Is4() {
		hdr.Rrtype = dns.TypeA
		r.a = append(r.a, &dns.A{Hdr: hdr, A: addr.AsSlice()})
	} else {
		hdr.Rrtype = dns.TypeAAAA
		r.aaaa = append(r.aaaa, &dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()})
	}

	ptrHdr := dns.RR_Header{Name: rev, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}
	for _, old := range h.byAddr[rev] {
		if old.(*dns.PTR).Ptr == name {
			return
		}
	}
	h.byAddr[rev] = append(h.byAddr[rev], &dns.PTR{Hdr: ptrHdr, Ptr: name})
}

// Has reports whether qname (lower case) is a name or a reverse name of an
// address in the hosts files.
func (h *Hosts) Has(qname string) bool {
	if _, ok := h.byName[qname]; ok {
		return true
	}
	_, ok := h.byAddr[qname]
	return ok
}

// Lookup answers qname (lower case) and qtype. ok is false when the hosts files
// do not list the name; otherwise answer holds the matching records, empty for
// NODATA. The records are shared: never modify them.
func (h *Hosts) Lookup(qname string, qtype uint16) (answer []dns.RR, ok bool) {
	if r, found := h.byName[qname]; found {
		switch qtype {
		case dns.TypeA:
			return r.a, true
		case dns.TypeAAAA:
			return r.aaaa, true
		}
		return nil, true
	}
	if ptrs, found := h.byAddr[qname]; found {
		if qtype == dns.TypePTR {
			return ptrs, true
		}
		return nil, true
	}
	return nil, false
}

// Len returns the number of names the hosts files list.
func (h *Hosts) Len() int { return len(h.byName) }
