package doctor

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Lookup is one query doctor sent and what came back.
type Lookup struct {
	// Name is the name asked, without the final dot.
	Name string `json:"name"`
	// Type is A or AAAA.
	Type string `json:"type"`
	// Rcode is the response code (NOERROR, NXDOMAIN, SERVFAIL, ...);
	// empty when no answer came.
	Rcode string `json:"rcode,omitempty"`
	// Error says why no answer came (timeout, refused connection).
	Error string `json:"error,omitempty"`
	// Timeout is true when the error was the deadline passing.
	Timeout bool `json:"timeout,omitempty"`
	// Transport is udp, or tcp after a truncated UDP answer.
	Transport string `json:"transport"`
	// Milliseconds is how long the answer took.
	Milliseconds int64 `json:"ms"`
	// Records are the answer section, in order.
	Records []Record `json:"records,omitempty"`
}

// Record is one record of an answer section.
type Record struct {
	// Name is the owner, without the final dot.
	Name string `json:"name"`
	// Type is the record type, e.g. CNAME or A.
	Type string `json:"type"`
	// TTL is in seconds.
	TTL uint32 `json:"ttl"`
	// Data is the target name or the address.
	Data string `json:"data"`
}

// Chain is what one record type of a name resolved to, after every CNAME.
type Chain struct {
	// Lookups are the queries sent: the name itself, then CNAME targets
	// the server left unresolved.
	Lookups []Lookup `json:"lookups"`
	// Names are the query name and every CNAME target, in order.
	Names []string `json:"names"`
	// Addresses are the final addresses.
	Addresses []string `json:"addresses,omitempty"`
	// Rcode is the last answer's response code; empty when none came.
	Rcode string `json:"rcode,omitempty"`
}

// last returns the last lookup of c.
func (c Chain) last() Lookup {
	if len(c.Lookups) == 0 {
		return Lookup{}
	}
	return c.Lookups[len(c.Lookups)-1]
}

// lastName returns the name the chain ended at: the one an NXDOMAIN or an
// empty answer is about (RFC 6604 section 2.1).
func (c Chain) lastName() string {
	if len(c.Names) == 0 {
		return ""
	}
	return c.Names[len(c.Names)-1]
}

// resolve asks server for name and qtype and follows the CNAME chain,
// sending a further query when the server left a target unresolved.
func resolve(ctx context.Context, server, name string, qtype uint16,
	timeout time.Duration) Chain {
	var c Chain
	seen := map[string]bool{}
	cur := name
	for step := 0; step < maxChase; step++ {
		lk, msg := exchange(ctx, server, cur, qtype, timeout)
		c.Lookups = append(c.Lookups, lk)
		c.Rcode = lk.Rcode
		if msg == nil {
			if len(c.Names) == 0 {
				c.Names = []string{cur}
			}
			return c
		}
		names, addrs := follow(msg, cur, qtype)
		if len(c.Names) > 0 {
			names = names[1:] // cur is already the chain's last name
		}
		c.Names = append(c.Names, names...)
		c.Addresses = append(c.Addresses, addrs...)
		end := c.lastName()
		if msg.Rcode != dns.RcodeSuccess || len(addrs) > 0 || end == cur || seen[end] {
			return c
		}
		seen[cur] = true
		cur = end
	}
	return c
}

// follow walks the answer section from qname along CNAMEs and returns the
// names passed and the addresses of qtype at the last one.
func follow(msg *dns.Msg, qname string, qtype uint16) ([]string, []string) {
	names := []string{qname}
	cur := qname
	for hop := 0; hop <= len(msg.Answer); hop++ {
		next := ""
		for _, rr := range msg.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && sameName(rr.Header().Name, cur) {
				next = trimDot(strings.ToLower(cn.Target))
				break
			}
		}
		if next == "" || next == cur {
			break
		}
		names = append(names, next)
		cur = next
	}
	var addrs []string
	for _, rr := range msg.Answer {
		if rr.Header().Rrtype != qtype || !sameName(rr.Header().Name, cur) {
			continue
		}
		switch a := rr.(type) {
		case *dns.A:
			addrs = append(addrs, a.A.String())
		case *dns.AAAA:
			addrs = append(addrs, a.AAAA.String())
		}
	}
	return names, addrs
}

// exchange sends one query over UDP, and again over TCP when the answer is
// truncated (RFC 7766 section 5: a truncated answer must not be used).
func exchange(ctx context.Context, server, name string, qtype uint16,
	timeout time.Duration) (Lookup, *dns.Msg) {
	lk := Lookup{Name: name, Type: dns.TypeToString[qtype], Transport: "udp"}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	resp, err := exchangeOver(ctx, "udp", m, server)
	if err == nil && resp.Truncated {
		lk.Transport = "tcp"
		resp, err = exchangeOver(ctx, "tcp", m, server)
	}
	lk.Milliseconds = time.Since(start).Milliseconds()
	if err != nil {
		lk.Error = describeError(err)
		lk.Timeout = isTimeout(err)
		return lk, nil
	}
	lk.Rcode = dns.RcodeToString[resp.Rcode]
	for _, rr := range resp.Answer {
		lk.Records = append(lk.Records, record(rr))
	}
	return lk, resp
}

func exchangeOver(ctx context.Context, network string, m *dns.Msg,
	server string) (*dns.Msg, error) {
	c := &dns.Client{Net: network}
	// The context carries the deadline; the client's own timeouts are
	// left at their defaults, which are longer.
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, err
	}
	if resp.Id != m.Id {
		return nil, errors.New("answer with another message ID")
	}
	return resp, nil
}

func record(rr dns.RR) Record {
	h := rr.Header()
	r := Record{Name: trimDot(strings.ToLower(h.Name)), Type: dns.TypeToString[h.Rrtype],
		TTL: h.Ttl}
	switch v := rr.(type) {
	case *dns.CNAME:
		r.Data = trimDot(strings.ToLower(v.Target))
	case *dns.A:
		r.Data = v.A.String()
	case *dns.AAAA:
		r.Data = v.AAAA.String()
	default:
		r.Data = strings.TrimPrefix(rr.String(), h.String())
	}
	return r
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func describeError(err error) string {
	if isTimeout(err) {
		return "no answer before the deadline"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

func sameName(a, b string) bool { return strings.EqualFold(trimDot(a), trimDot(b)) }

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }

// isPrivate reports whether a is an address no Internet host has: the
// private ranges of RFC 1918 and RFC 4193, shared address space (RFC 6598),
// loopback, link-local and unspecified. A private endpoint's address is
// one of these in nearly every virtual network.
func isPrivate(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsUnspecified() || cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")
