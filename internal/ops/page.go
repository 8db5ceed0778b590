package ops

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/metrics"
	"github.com/pedns/pedns/internal/resolve"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"join": strings.Join,
}).ParseFS(files, "templates/*.html"))

// formTypes are the query types offered by the resolve form.
var formTypes = []string{"A", "AAAA", "CNAME", "PTR", "SOA", "NS", "MX", "TXT", "SRV",
	"HTTPS", "ANY"}

// page is what every template gets: the header figures and the form.
type page struct {
	Title    string
	Version  string
	Revision string
	Uptime   string
	Ready    bool
	File     string
	Form     form
	Status   *status     // the status page only
	Resolved *resolution // the resolve page, when a name was resolved
	Error    string      // a problem with the form's input
}

// form is the resolve form's state.
type form struct {
	Name, Type string
	Types      []string
}

// status is the body of the status page.
type status struct {
	Listeners      []string
	Zones          []zoneRow
	Rules          []ruleRow
	Cache          cacheRow
	Reloads        int64
	ReloadFailures int64
	Refused        int64
	QueryLog       bool
	Recent         []queryRow
}

type zoneRow struct {
	Origin  string
	Records int
}

type ruleRow struct {
	Name      string
	Zones     []string
	Upstreams []upstreamRow
}

type upstreamRow struct {
	Addr               string
	Healthy            bool
	Inflight           int
	Attempts, Failures int64
	LastRTT, AvgRTT    string
}

type cacheRow struct {
	Enabled                                 bool
	Entries, Hits, Misses, Evictions, Stale int64
	HitRatio                                string
}

type queryRow struct {
	At, Client, Name, Type, Rcode, Source, Duration string
}

// resolution is one name resolved through the pipeline for the form.
type resolution struct {
	Question      string
	Rcode         string
	Authoritative bool
	Duration      string
	Steps         []stepRow
	Answer, Ns    []string
}

type stepRow struct {
	N        int
	Name     string
	Source   string
	Detail   string
	Rcode    string
	Records  []string
	Merged   bool
	Duration string
}

// header fills the figures shown on every page.
func (s *Server) header(srv *dnsserver.Server, title string) page {
	v, rev := metrics.Version()
	p := page{Title: title, Version: v, Revision: rev,
		Uptime: time.Since(s.started).Round(time.Second).String(),
		Form:   form{Type: "A", Types: formTypes}}
	if srv != nil {
		p.Ready = srv.Ready()
		p.File = srv.State().Config.File
	}
	return p
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	srv := s.dns.Load()
	p := s.header(srv, "pedns")
	if srv != nil {
		p.Status = s.status(srv)
	}
	render(w, http.StatusOK, "status.html", p)
}

// status gathers the status page's figures from the running server.
func (s *Server) status(srv *dnsserver.Server) *status {
	st := srv.State()
	out := &status{
		Listeners:      srv.Addrs(),
		Reloads:        srv.Reloads(),
		ReloadFailures: s.opts.Metrics.ReloadFailures(),
		Refused:        srv.Refused(),
		QueryLog:       st.Config.Log.Queries,
	}
	for _, z := range st.Config.ZoneData {
		out.Zones = append(out.Zones, zoneRow{Origin: z.Origin(), Records: z.Len()})
	}
	for _, r := range st.Rules() {
		row := ruleRow{Name: r.Forwarder.Name(), Zones: r.Zones}
		for _, u := range r.Forwarder.Upstreams() {
			ur := upstreamRow{Addr: u.Addr(), Healthy: u.Healthy(), Inflight: u.Inflight(),
				LastRTT: "-", AvgRTT: "-"}
			if us, ok := s.opts.Metrics.Upstream(row.Name, u.Addr()); ok {
				ur.Attempts, ur.Failures = us.Attempts, us.Failures
				if us.SmoothedRTT > 0 {
					ur.LastRTT, ur.AvgRTT = short(us.LastRTT), short(us.SmoothedRTT)
				}
			}
			row.Upstreams = append(row.Upstreams, ur)
		}
		out.Rules = append(out.Rules, row)
	}
	if c := st.Cache(); c != nil {
		cs := c.Stats()
		out.Cache = cacheRow{Enabled: *st.Config.Cache.Size > 0, Entries: cs.Entries,
			Hits: cs.Hits, Misses: cs.Misses, Evictions: cs.Evictions, Stale: cs.Stale,
			HitRatio: "-"}
		if n := cs.Hits + cs.Misses; n > 0 {
			out.Cache.HitRatio = fmt.Sprintf("%.1f %%", 100*float64(cs.Hits)/float64(n))
		}
	}
	for _, q := range s.recent.last() {
		out.Recent = append(out.Recent, queryRow{
			At: q.At.Format("15:04:05.000"), Client: q.Client.String(), Name: q.Qname,
			Type: typeName(q.Qtype), Rcode: dns.RcodeToString[q.Rcode], Source: q.Source,
			Duration: short(q.Duration)})
	}
	return out
}

// handleResolve resolves the form's name and type through the pipeline of the
// configuration in force, as a query from a client would be, and shows every
// step. It bypasses the listeners: the query counts in the upstream metrics
// when it is forwarded, but not in the query metrics or the query log.
// stepDetail names where a step's answer came from: the zone or rule, and
// the upstream when one answered.
func stepDetail(st resolve.Step) string {
	if st.Upstream != "" {
		return st.Detail + " via " + st.Upstream
	}
	return st.Detail
}

// metaType reports whether qtype is a meta type (RFC 6895 section 3.1) or a
// transfer, which the pipeline never resolves.
func metaType(qtype uint16) bool {
	switch qtype {
	case dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY,
		dns.TypeMAILA, dns.TypeMAILB:
		return true
	}
	return false
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) {
	srv := s.dns.Load()
	p := s.header(srv, "pedns: resolve")
	p.Form.Name = strings.TrimSpace(r.FormValue("name"))
	if t := strings.ToUpper(strings.TrimSpace(r.FormValue("type"))); t != "" {
		p.Form.Type = t
	}
	qtype, ok := dns.StringToType[p.Form.Type]
	switch {
	case srv == nil:
		p.Error = "the DNS server is not running yet"
	case p.Form.Name == "":
		p.Error = "give a name to resolve"
	case !ok:
		p.Error = fmt.Sprintf("unknown query type %q", p.Form.Type)
	case metaType(qtype):
		// The DNS listener answers these itself (REFUSED, or RFC 8482's
		// HINFO for ANY) and never sends them upstream: neither does the form.
		p.Error = fmt.Sprintf("%s is a query type that pedns does not resolve", p.Form.Type)
	default:
		if _, valid := dns.IsDomainName(p.Form.Name); !valid {
			p.Error = fmt.Sprintf("%q is not a domain name", p.Form.Name)
		}
	}
	if p.Error != "" {
		render(w, http.StatusBadRequest, "resolve.html", p)
		return
	}

	st := srv.State()
	ctx, cancel := context.WithTimeout(r.Context(), st.Config.Upstream.Timeout.D()+time.Second)
	defer cancel()
	q := dns.Question{Name: dns.CanonicalName(p.Form.Name), Qtype: qtype, Qclass: dns.ClassINET}
	start := time.Now()
	ans := st.Resolver().Resolve(ctx, q, false)
	p.Resolved = describe(q, ans, time.Since(start))
	render(w, http.StatusOK, "resolve.html", p)
}

// describe turns a pipeline answer into rows for the page.
func describe(q dns.Question, ans resolve.Answer, took time.Duration) *resolution {
	res := &resolution{
		Question:      strings.TrimSuffix(q.Name, ".") + " " + typeName(q.Qtype),
		Rcode:         dns.RcodeToString[ans.Rcode],
		Authoritative: ans.Authoritative,
		Duration:      short(took),
		Answer:        rrLines(ans.Answer),
		Ns:            rrLines(ans.Ns),
	}
	for i, st := range ans.Steps {
		res.Steps = append(res.Steps, stepRow{N: i + 1, Name: st.Name, Source: st.Source,
			Detail: stepDetail(st), Rcode: dns.RcodeToString[st.Rcode], Records: rrLines(st.Records),
			Merged: st.Merged, Duration: short(st.Duration)})
	}
	return res
}

// rrLines writes records as zone-file lines with single spaces.
func rrLines(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

// short rounds a duration for reading: microseconds below a millisecond,
// then a tenth of a millisecond.
func short(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

// render executes a template into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func render(w http.ResponseWriter, code int, name string, p page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf.WriteTo(w)
}

func handleCSS(w http.ResponseWriter, _ *http.Request) {
	css, _ := files.ReadFile("templates/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(css)
}
