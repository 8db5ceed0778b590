package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the report as indented JSON. Fields are only ever added
// to this output, never renamed or removed, so that scripts keep working.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ANSI colours of the class labels. The label's text always says the
// class; colour only helps the eye.
const (
	colourReset = "\x1b[0m"
	colourGreen = "\x1b[32m"
	colourAmber = "\x1b[33m"
	colourRed   = "\x1b[31m"
)

// labelWidth fits the longest class name.
const labelWidth = len(ClassNXPrivateLink)

// WriteText writes the report for a person: per server, one line per name
// with the chain below it, the names of hub projects apart; then the
// comparison of the machine's resolver with the DNS server, a summary with
// counts, and each cause with its fix. colour adds ANSI colours to the
// class labels, for terminals.
func WriteText(w io.Writer, r *Report, colour bool) error {
	tw := &textWriter{w: w, colour: colour}
	tw.header(r)
	for _, s := range r.Servers {
		tw.server(r, s)
	}
	tw.comparison(r)
	tw.summary(r)
	tw.causes(r)
	return tw.err
}

// textWriter keeps the first write error, so that the report code reads
// as a list of lines.
type textWriter struct {
	w      io.Writer
	colour bool
	err    error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *textWriter) header(r *Report) {
	var list []string
	for _, s := range r.Servers {
		list = append(list, fmt.Sprintf("%s (%s)", s.Addr, s.Source))
	}
	t.printf("pedns doctor: %d names through %s\n", r.Summary.Names,
		strings.Join(list, ", "))
	for _, n := range r.Notes {
		t.printf("note: %s\n", n)
	}
}

func (t *textWriter) server(r *Report, s Server) {
	t.printf("\nThrough %s (%s):\n", s.Addr, s.Source)
	var ws, projects []Result
	for _, res := range r.Results {
		if res.Server != s.Addr || res.Source != s.Source {
			continue
		}
		if res.Project {
			projects = append(projects, res)
		} else {
			ws = append(ws, res)
		}
	}
	t.printf("  Workspace names:\n")
	for _, res := range ws {
		t.result(res)
	}
	if len(projects) > 0 {
		t.printf("  Project names (hub projects, resolving to the hub's addresses):\n")
		for _, res := range projects {
			t.result(res)
		}
	}
}

func (t *textWriter) label(c Class) string {
	text := fmt.Sprintf("%-*s", labelWidth, c)
	if !t.colour {
		return text
	}
	col := colourGreen
	switch c.Severity() {
	case SeverityWarning:
		col = colourAmber
	case SeverityFailed:
		col = colourRed
	}
	return col + text + colourReset
}

func (t *textWriter) result(res Result) {
	got := "no address"
	if len(res.Addresses) > 0 {
		got = strings.Join(res.Addresses, ", ")
	}
	name := res.FQDN
	if res.Query != res.FQDN {
		name += " (asked as " + res.Query + ")"
	}
	t.printf("    %s  %s -> %s", t.label(res.Class), name, got)
	if res.Class != ClassOK {
		t.printf(" (want %s)", res.IP)
	}
	t.printf("\n")
	indent := strings.Repeat(" ", 4+labelWidth+2)
	t.printf("%schain: %s\n", indent, chainText(res))
	if res.Class != ClassOK {
		t.printf("%swhy: %s", indent, res.Evidence)
		if len(res.Causes) > 0 {
			t.printf("; causes: %s", joinIDs(res.Causes))
		}
		t.printf("\n")
	}
}

// chainText shows the A chain, and the AAAA chain when it has addresses,
// as records joined by arrows, ending in the response code when that is
// not NOERROR.
func chainText(res Result) string {
	text := lookupsText(res.A)
	if len(res.AAAA.Addresses) > 0 {
		text += "; AAAA: " + lookupsText(res.AAAA)
	}
	return text
}

func lookupsText(c Chain) string {
	var parts []string
	for i, lk := range c.Lookups {
		if i > 0 {
			parts = append(parts, "asked again for "+lk.Name)
		}
		for _, rec := range lk.Records {
			// The owner is the name asked or the CNAME target before it,
			// both shown already.
			parts = append(parts, fmt.Sprintf("%s %s (%ds)", rec.Type, rec.Data, rec.TTL))
		}
		switch {
		case lk.Error != "":
			parts = append(parts, fmt.Sprintf("%s %s: %s after %dms", lk.Type, lk.Name,
				lk.Error, lk.Milliseconds))
		case lk.Rcode != "NOERROR" || len(lk.Records) == 0:
			parts = append(parts, fmt.Sprintf("%s %s: %s", lk.Type, lastOf(c, i), lk.Rcode))
		}
		if lk.Transport == "tcp" {
			parts = append(parts, "(over TCP after truncation)")
		}
	}
	return strings.Join(parts, " -> ")
}

// lastOf names what lookup i's response code is about: the last name of
// the chain for the last lookup, the asked name otherwise.
func lastOf(c Chain, i int) string {
	if i == len(c.Lookups)-1 {
		return c.lastName()
	}
	return c.Lookups[i].Name
}

func joinIDs(ids []CauseID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

func (t *textWriter) comparison(r *Report) {
	var machine, named bool
	for _, s := range r.Servers {
		machine = machine || s.Source == SourceResolvConf
		named = named || s.Source == SourceServer
	}
	if !machine || !named {
		return
	}
	t.printf("\nThis machine's resolver against the DNS server:\n")
	if r.Summary.Mismatches == 0 {
		t.printf("    SAME     every name gets the same answer from both\n")
		return
	}
	byName := map[string][]Result{}
	for _, res := range r.Results {
		byName[res.FQDN] = append(byName[res.FQDN], res)
	}
	for _, res := range r.Results {
		if res.DiffersFrom == "" {
			continue
		}
		var other Result
		for _, o := range byName[res.FQDN] {
			if o.Server == res.DiffersFrom && o.Source == SourceServer {
				other = o
			}
		}
		t.printf("    DIFFERS  %s: machine %s says %s %s, DNS server %s says %s %s\n",
			res.FQDN, res.Server, res.Class, addrsText(res), other.Server, other.Class,
			addrsText(other))
	}
}

func addrsText(r Result) string {
	if len(r.Addresses) == 0 {
		return "(no address)"
	}
	return strings.Join(r.Addresses, ", ")
}

func (t *textWriter) summary(r *Report) {
	s := r.Summary
	t.printf("\nSummary: %d names, %d results: %d ok, %d warnings, %d failed",
		s.Names, s.Results, s.OK, s.Warnings, s.Failed)
	if s.Mismatches > 0 {
		t.printf(", %d differ between this machine and the DNS server", s.Mismatches)
	}
	t.printf("\n")
	var counts []string
	for _, c := range sortedClasses(s.Classes) {
		counts = append(counts, fmt.Sprintf("%s %d", c, s.Classes[c]))
	}
	t.printf("  by class: %s\n", strings.Join(counts, ", "))
	if r.Healthy() {
		t.printf("  verdict: HEALTHY, every name resolves to its private endpoint\n")
	} else {
		t.printf("  verdict: BROKEN, see the causes below\n")
	}
}

func (t *textWriter) causes(r *Report) {
	if len(r.Causes) == 0 {
		return
	}
	t.printf("\nCauses, most results first:\n")
	for i, f := range r.Causes {
		classes := make([]string, len(f.Classes))
		for j, c := range f.Classes {
			classes[j] = string(c)
		}
		t.printf("%2d. %s [%s: %d results, %s]\n", i+1, f.Title, f.ID, f.Results,
			strings.Join(classes, ", "))
		t.printf("    %s\n", f.Explain)
		t.printf("    names:\n")
		for _, n := range f.Names {
			t.printf("      %s\n", n)
		}
		t.printf("    fix: %s\n", indentLines(f.Fix, "      "))
	}
}

// indentLines indents every line of s but the first.
func indentLines(s, indent string) string {
	return strings.ReplaceAll(s, "\n", "\n"+indent)
}
