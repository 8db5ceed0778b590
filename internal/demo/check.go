package demo

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/azuresim"
)

// Result is the outcome of resolving one name through one architecture.
type Result struct {
	// Arch is the Architecture.Key.
	Arch string
	// Name is the name with the address it must resolve to.
	Name azureml.Name
	// Rcode is the client's answer's rcode, e.g. NOERROR, NXDOMAIN.
	Rcode string
	// Chain is the client's answer section, one zone-file line per record.
	Chain []string
	// Addrs are the addresses the answer ends at.
	Addrs []string
	// Err is set when no answer came.
	Err error
	// Events are the queries each server answered for this name.
	Events []Event
	// OK is true when the only address is Name.IP.
	OK bool
}

// Report is the outcome of a Check, name by name.
type Report struct {
	// Break is the misconfiguration the topology was built with.
	Break Cause
	// Architectures are those resolved through, in order.
	Architectures []Architecture
	// Results are ordered by name, then architecture.
	Results []Result
}

// OK reports whether every name resolved to its private address.
func (r *Report) OK() bool {
	for _, res := range r.Results {
		if !res.OK {
			return false
		}
	}
	return len(r.Results) > 0
}

// Wrong returns the number of results that are not OK.
func (r *Report) Wrong() int {
	n := 0
	for _, res := range r.Results {
		if !res.OK {
			n++
		}
	}
	return n
}

// queryTimeout bounds one question of Check; a server of the topology
// waits at most its upstream timeout (5s by default) before SERVFAIL.
const queryTimeout = 8 * time.Second

// Check resolves every name through every architecture, one question at a
// time, and records the path of each answer.
func (t *Topology) Check(ctx context.Context) *Report {
	rep := &Report{Break: t.Break, Architectures: t.Architectures}
	for _, n := range t.Names {
		for _, a := range t.Architectures {
			rep.Results = append(rep.Results, t.resolve(ctx, a, n))
		}
	}
	return rep
}

func (t *Topology) resolve(ctx context.Context, a Architecture, n azureml.Name) Result {
	res := Result{Arch: a.Key, Name: n}
	want, err := netip.ParseAddr(n.IP)
	if err != nil {
		res.Err = fmt.Errorf("expected address %q: %w", n.IP, err)
		return res
	}
	qtype := dns.TypeA
	if !want.Is4() {
		qtype = dns.TypeAAAA
	}
	t.rec.take()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(n.FQDN), qtype)
	q.SetEdns0(1232, false)
	c := &dns.Client{Timeout: queryTimeout}
	resp, _, err := c.ExchangeContext(ctx, q, a.Entry())
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, a.Entry())
	}
	res.Events = t.rec.take()
	if err != nil {
		res.Err = fmt.Errorf("asking %s: %w", a.Entry(), err)
		return res
	}
	res.Rcode = rcodeName(resp.Rcode)
	for _, rr := range resp.Answer {
		res.Chain = append(res.Chain, rrText(rr))
		switch v := rr.(type) {
		case *dns.A:
			res.Addrs = append(res.Addrs, v.A.String())
		case *dns.AAAA:
			res.Addrs = append(res.Addrs, v.AAAA.String())
		}
	}
	res.OK = resp.Rcode == dns.RcodeSuccess && len(res.Addrs) == 1 &&
		res.Addrs[0] == want.String()
	return res
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// rrText is a record as "name TYPE data", without TTL and class.
func rrText(rr dns.RR) string {
	h := rr.Header()
	data := strings.TrimPrefix(rr.String(), h.String())
	return strings.TrimSuffix(h.Name, ".") + " " + dns.TypeToString[h.Rrtype] + " " +
		strings.TrimSuffix(data, ".")
}

// Write prints the report for people: for each name, each architecture's
// path server by server, the emulator's answer CNAME by CNAME, and the
// final address with a verdict; then a summary line.
func (r *Report) Write(w io.Writer) {
	last := ""
	for _, res := range r.Results {
		if res.Name.FQDN != last {
			last = res.Name.FQDN
			fmt.Fprintf(w, "\n%s\n  (%s, must be %s)\n", res.Name.FQDN, res.Name.Purpose,
				res.Name.IP)
		}
		r.writeResult(w, res)
	}
	fmt.Fprintln(w)
	total := len(r.Results)
	switch wrong := r.Wrong(); {
	case wrong == 0:
		fmt.Fprintf(w, "All %d answers are the private addresses: every architecture works.\n",
			total)
	case r.Break != BreakNone:
		fmt.Fprintf(w, "%d of %d answers are wrong: this is what %q looks like "+
			"(see docs/DEMO.md).\n", wrong, total, r.Break)
	default:
		fmt.Fprintf(w, "%d of %d answers are wrong.\n", wrong, total)
	}
}

func (r *Report) writeResult(w io.Writer, res Result) {
	verdict := "ok"
	if !res.OK {
		verdict = "WRONG"
	}
	final := strings.Join(res.Addrs, ", ")
	switch {
	case res.Err != nil:
		final = "no answer: " + res.Err.Error()
	case res.Rcode != "NOERROR":
		final = res.Rcode
	case final == "":
		final = "no address (NODATA)"
	}
	fmt.Fprintf(w, "  %-7s %-5s %s\n", res.Arch, verdict, final)
	for _, a := range r.Architectures {
		if a.Key != res.Arch {
			continue
		}
		fmt.Fprintf(w, "          client -> %s\n", pathText(a, res.Events))
	}
	for _, e := range res.Events {
		if e.Sim == nil {
			continue
		}
		fmt.Fprintf(w, "          %s (Azure DNS, %s network):\n", e.Server, e.Sim.Network)
		for _, st := range e.Sim.Result.Steps {
			writeStep(w, st)
		}
	}
	if len(res.Chain) > 0 && !hasSim(res.Events) {
		for _, line := range res.Chain {
			fmt.Fprintf(w, "            %s\n", line)
		}
	}
}

// pathText writes the servers that answered, in the architecture's order,
// each with its source and rcode; servers that saw no query are left out.
func pathText(a Architecture, events []Event) string {
	var hops []string
	for _, h := range a.Path {
		var seen []string
		for _, e := range events {
			if e.Server != h.Key {
				continue
			}
			s := e.Rcode
			if e.Source != "" {
				s = e.Source + " " + e.Rcode
			}
			seen = append(seen, s)
		}
		if len(seen) == 0 {
			continue
		}
		hops = append(hops, fmt.Sprintf("%s %s [%s]", h.Key, h.Addr, strings.Join(seen, "; ")))
	}
	// The emulator may answer on a network the path does not name, such as
	// sim-internet for names sent to a default forwarder.
	for _, e := range events {
		if e.Sim != nil && !onPath(a, e.Server) {
			hops = append(hops, fmt.Sprintf("%s %s [%s]", e.Server, e.Sim.Listen, e.Rcode))
		}
	}
	if len(hops) == 0 {
		return "(no server logged the query)"
	}
	return strings.Join(hops, " -> ")
}

func onPath(a Architecture, key string) bool {
	for _, h := range a.Path {
		if h.Key == key {
			return true
		}
	}
	return false
}

func hasSim(events []Event) bool {
	for _, e := range events {
		if e.Sim != nil {
			return true
		}
	}
	return false
}

func writeStep(w io.Writer, st azuresim.Step) {
	if len(st.Records) == 0 {
		fmt.Fprintf(w, "            %s %s  (%s)\n", strings.TrimSuffix(st.Name, "."),
			rcodeOrNoData(st.Rcode), st.Detail)
		return
	}
	for _, rr := range st.Records {
		h := rr.Header()
		data := strings.TrimSuffix(strings.TrimPrefix(rr.String(), h.String()), ".")
		fmt.Fprintf(w, "            %-5s %s  (%s)\n", dns.TypeToString[h.Rrtype], data,
			st.Detail)
	}
}

func rcodeOrNoData(rc int) string {
	if rc == dns.RcodeSuccess {
		return "NODATA"
	}
	return rcodeName(rc)
}
