// Package doctor automates the troubleshooting of the Azure Machine Learning
// article on custom DNS servers (SPEC.md section 6): it looks up every name
// of a workspace through the DNS servers a machine uses, records the whole
// chain of each answer, sorts the outcome into a few classes, and names the
// documented cause of each failure with the fix.
//
// The package sends its own queries (A and AAAA, recursion desired, UDP with
// a retry over TCP when the answer is truncated) rather than asking the
// operating system, so that it can see every CNAME and TTL and tell one
// server's answer from another's. It knows nothing of flags or terminals
// beyond the writers it is given; cmd/pedns wraps it as pedns doctor.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pedns/pedns/internal/azureml"
)

// DefaultTimeout is how long one query waits for its answer. Azure's own
// recursion behind 168.63.129.16 can take seconds (SPEC.md section 7), so a
// shorter wait would report slow as broken.
const DefaultTimeout = 5 * time.Second

// DefaultParallel is how many queries are in flight at once. It keeps a run
// against a dead server to a few timeouts instead of one per name.
const DefaultParallel = 16

// maxChase bounds the queries that follow one CNAME chain; a longer chain
// is reported as it stands.
const maxChase = 8

// ProbeLabel stands for * when a wildcard name is checked: no client looks
// up a wildcard itself, so doctor asks for a name the wildcard must answer.
const ProbeLabel = "pedns-doctor-probe"

// Source says where a server came from, which is what the comparison of
// answers rests on.
type Source string

// The sources of the servers doctor asks.
const (
	// SourceServer is a DNS server named on the command line: the custom
	// DNS server under test.
	SourceServer Source = "server"
	// SourceResolvConf is a nameserver of the machine's resolver
	// configuration: what the machine's programs really ask.
	SourceResolvConf Source = "resolv.conf"
)

// Server is one DNS server to ask.
type Server struct {
	// Addr is ip:port.
	Addr string `json:"address"`
	// Source says where the server came from.
	Source Source `json:"source"`
}

// Options is what one run of the doctor needs.
type Options struct {
	// Workspaces are the workspaces whose names are checked. Required.
	Workspaces []azureml.Workspace
	// Servers are asked in turn for every name. Required. When servers of
	// both sources are given, the answers of the resolv.conf servers are
	// compared with those of the named servers.
	Servers []Server
	// Timeout bounds each query. Default DefaultTimeout.
	Timeout time.Duration
	// Parallel bounds the queries in flight. Default DefaultParallel.
	Parallel int
	// Role is where the named DNS server stands (vnet, the default, or
	// onprem); it chooses which forwarders the fixes talk about.
	Role azureml.Role
	// DNSServers are the virtual network DNS servers an on-premises server
	// forwards to, for the fix lines of the onprem role.
	DNSServers []string
	// Syntax is the DNS server software the fix lines are written for, one
	// of Syntaxes. Default "pedns".
	Syntax string
}

// Target is one name to check.
type Target struct {
	azureml.Name
	// Query is the name actually asked: FQDN itself, or for a wildcard
	// a probe name under its Private Link name.
	Query string `json:"query"`
	// Project is true for the names of a hub's project workspaces.
	Project bool `json:"project"`
	// Hub is the GUID of the workspace the names were listed for.
	Hub string `json:"hub"`
	// cloud holds the zones the name belongs to.
	cloud azureml.Cloud
	// wsIPs are all addresses of the workspace's private endpoint.
	wsIPs map[netip.Addr]bool
}

// Report is the outcome of one run.
type Report struct {
	// Servers are the servers asked, in order.
	Servers []Server `json:"servers"`
	// Results hold one entry per name and server, names in the order of
	// the plan, servers in the order given.
	Results []Result `json:"results"`
	// Causes are the documented causes behind the failures, each once,
	// most common first.
	Causes []Finding `json:"causes"`
	// Summary counts the results.
	Summary Summary `json:"summary"`
	// Notes are remarks about the names, e.g. where imported names differ
	// from computed ones.
	Notes []string `json:"notes,omitempty"`
	// Syntax is the syntax of the fix lines.
	Syntax string `json:"syntax"`
}

// Summary counts results.
type Summary struct {
	// Names is the number of names checked.
	Names int `json:"names"`
	// Results is names times servers.
	Results int `json:"results"`
	// OK counts results of class OK.
	OK int `json:"ok"`
	// Warnings counts results that resolve right but deserve a look.
	Warnings int `json:"warnings"`
	// Failed counts results that do not resolve to the private endpoint.
	Failed int `json:"failed"`
	// Mismatches counts resolv.conf results that differ from the DNS
	// server's.
	Mismatches int `json:"mismatches"`
	// Classes counts results per class.
	Classes map[Class]int `json:"classes"`
}

// Healthy reports whether every name resolved right everywhere and the
// machine's resolver agrees with the DNS server. Warnings do not count
// against it.
func (r *Report) Healthy() bool {
	return r.Summary.Failed == 0 && r.Summary.Mismatches == 0
}

// Run checks every name of the workspaces through every server. Errors are
// for unusable options only; a server that does not answer is a finding.
func Run(ctx context.Context, opt Options) (*Report, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	targets, notes, err := Targets(opt.Workspaces)
	if err != nil {
		return nil, err
	}
	rep := &Report{Servers: opt.Servers, Notes: notes, Syntax: opt.Syntax}
	rep.Results = make([]Result, len(targets)*len(opt.Servers))
	type job struct{ i int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	// Each result holds two lookups (A and AAAA); both run in one worker so
	// that the result is written by one goroutine.
	for w := 0; w < opt.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				t := targets[j.i/len(opt.Servers)]
				s := opt.Servers[j.i%len(opt.Servers)]
				rep.Results[j.i] = check(ctx, t, s, opt)
			}
		}()
	}
	for i := range rep.Results {
		jobs <- job{i}
	}
	close(jobs)
	wg.Wait()
	explainProbes(rep.Results)
	compare(rep.Results, len(opt.Servers))
	rep.summarize(len(targets))
	rep.Causes = findings(rep.Results, targets, opt)
	return rep, nil
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Servers) == 0 {
		return o, errors.New("no DNS server to ask")
	}
	for _, s := range o.Servers {
		if _, err := netip.ParseAddrPort(s.Addr); err != nil {
			return o, fmt.Errorf("server %q: want ip:port", s.Addr)
		}
	}
	if len(o.Workspaces) == 0 {
		return o, errors.New("no workspace to check")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	role, err := azureml.ParseRole(string(o.Role))
	if err != nil {
		return o, err
	}
	o.Role = role
	if o.Syntax == "" {
		o.Syntax = "pedns"
	}
	if !knownSyntax(o.Syntax) {
		return o, fmt.Errorf("unknown syntax %q (want one of %s)",
			o.Syntax, strings.Join(Syntaxes(), ", "))
	}
	return o, nil
}

// Targets returns the names to check for the workspaces, in plan order,
// with the names of hub projects marked. The notes tell where imported
// names differ from computed ones.
func Targets(ws []azureml.Workspace) ([]Target, []string, error) {
	var out []Target
	var notes []string
	for i, w := range ws {
		names, n, err := w.Names()
		if err != nil {
			return nil, nil, fmt.Errorf("workspaces[%d]: %w", i, err)
		}
		notes = append(notes, n...)
		cloud, err := azureml.LookupCloud(w.Cloud)
		if err != nil {
			return nil, nil, fmt.Errorf("workspaces[%d]: %w", i, err)
		}
		hub := strings.ToLower(strings.TrimSpace(w.GUID))
		ips := map[netip.Addr]bool{}
		for _, nm := range names {
			if a, err := netip.ParseAddr(nm.IP); err == nil {
				ips[a] = true
			}
		}
		for _, nm := range names {
			t := Target{Name: nm, Query: nm.FQDN, Hub: hub, cloud: cloud, wsIPs: ips}
			// Names() marks each name with the GUID of the workspace it
			// is for; a hub's project names carry the project's GUID.
			t.Project = nm.Workspace != hub
			if rest, ok := strings.CutPrefix(nm.FQDN, "*."); ok {
				t.Query = ProbeLabel + "." + rest
				if pl, ok := strings.CutPrefix(nm.PrivateLink, "*."); ok {
					t.Query = ProbeLabel + "." + pl
				}
			}
			out = append(out, t)
		}
	}
	return out, notes, nil
}

func (r *Report) summarize(names int) {
	s := Summary{Names: names, Results: len(r.Results), Classes: map[Class]int{}}
	for _, res := range r.Results {
		s.Classes[res.Class]++
		switch res.Class.Severity() {
		case SeverityOK:
			s.OK++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Failed++
		}
		if res.DiffersFrom != "" {
			s.Mismatches++
		}
	}
	r.Summary = s
}

// sortedClasses returns the classes of counts, failures first.
func sortedClasses(counts map[Class]int) []Class {
	var cs []Class
	for c := range counts {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return classRank(cs[i]) < classRank(cs[j]) })
	return cs
}
