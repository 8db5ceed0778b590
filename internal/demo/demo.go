// Package demo runs the topologies of the Azure Machine Learning custom DNS
// article on loopback, in one process: the Azure DNS emulator (azuresim), a
// pedns server in the hub virtual network, an on-premises pedns server that
// forwards to it, and a client's hosts file. It resolves every name of a
// workspace through each and tells, name by name, the path each answer took.
//
// Start builds and starts a topology; Topology.Check resolves and reports;
// Topology.Stop ends every server. Other packages and tests may use the
// topology as a fixture:
//
//	topo, err := demo.Start(ctx, demo.Options{Cloud: "china",
//		Break: demo.BreakZoneNotLinked})
//	if err != nil { ... }
//	defer topo.Stop()
//	// topo.OnPrem, topo.Hub, topo.SimHub ... are ip:port addresses to query;
//	// topo.Names are the names with the private addresses they must have.
//	report := topo.Check(ctx)
//
// The servers and what they stand for (addresses as in DESIGN.md; the ports
// are free ones the kernel picks unless Options.Port names one):
//
//	sim-hub       127.63.129.16  Azure DNS (168.63.129.16) as the hub sees it
//	sim-spoke     127.63.129.17  Azure DNS as another virtual network sees it
//	sim-internet  127.63.129.18  a public resolver: the emulator from a network
//	                             linked to no zone
//	hub           127.0.10.4     pedns serve in the hub: the Azure ML zones to
//	                             sim-hub, everything else to sim-internet
//	onprem        127.0.20.53    pedns serve on premises: the Azure ML zones to
//	                             hub, everything else to sim-internet
//	hosts         127.0.30.10    pedns serving only the hosts file that
//	                             pedns plan -o hosts writes, for the client
//	                             that uses a hosts file
//
// Where the system offers other addresses of 127.0.0.0/8 only on 127.0.0.1
// (macOS without aliases), every server moves to 127.0.0.1 on its own port.
// No server of the topology ever sends a packet off loopback: every upstream
// is checked to be a loopback address before a server starts.
package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/azuresim"
	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/export"
)

// Cause is one documented misconfiguration the demo can build in.
type Cause string

// The misconfigurations of the article's troubleshooting section (SPEC.md
// section 6), plus the missing wildcard of its note on managed online
// endpoints.
const (
	// BreakNone builds the topology as it should be.
	BreakNone Cause = ""
	// BreakZoneNotLinked links the Private DNS zones to the spoke network
	// instead of the hub, where the DNS server is: every Private Link name
	// and compute name resolves to its public address.
	BreakZoneNotLinked Cause = "zone-not-linked"
	// BreakNoForwarder leaves out the hub's conditional forwarders to Azure
	// DNS: the names go to its default resolver and resolve publicly.
	BreakNoForwarder Cause = "no-forwarder"
	// BreakOnPremWrongServer points the on-premises forwarders at an
	// address where no DNS server answers: SERVFAIL on premises.
	BreakOnPremWrongServer Cause = "onprem-wrong-forwarder"
	// BreakNoInferenceWildcard leaves the inference wildcard record out of
	// the Private Link API zone: endpoint names end in NXDOMAIN.
	BreakNoInferenceWildcard Cause = "no-inference-wildcard"
)

// causeSummaries describe each cause for help texts, in a stable order.
var causeSummaries = []struct {
	cause   Cause
	summary string
}{
	{BreakZoneNotLinked, "the Private DNS zones are not linked to the DNS server's network"},
	{BreakNoForwarder, "the DNS server has no conditional forwarders to Azure DNS"},
	{BreakOnPremWrongServer, "the on-premises forwarders point at the wrong server"},
	{BreakNoInferenceWildcard, "the Private Link zone lacks the inference wildcard record"},
}

// Causes returns every cause with a one-line summary.
func Causes() [][2]string {
	out := make([][2]string, len(causeSummaries))
	for i, c := range causeSummaries {
		out[i] = [2]string{string(c.cause), c.summary}
	}
	return out
}

// ParseCause checks a cause name; an empty name is BreakNone.
func ParseCause(s string) (Cause, error) {
	if s == "" {
		return BreakNone, nil
	}
	var names []string
	for _, c := range causeSummaries {
		if string(c.cause) == s {
			return c.cause, nil
		}
		names = append(names, string(c.cause))
	}
	return "", fmt.Errorf("unknown cause %q (want one of %s)", s, strings.Join(names, ", "))
}

// Loopback addresses of the servers (see the package documentation).
const (
	SimHubIP      = "127.63.129.16"
	SimSpokeIP    = "127.63.129.17"
	SimInternetIP = "127.63.129.18"
	HubIP         = "127.0.10.4"
	OnPremIP      = "127.0.20.53"
	HostsIP       = "127.0.30.10"
	// WrongIP is where BreakOnPremWrongServer sends the on-premises
	// forwarders: a hub address where nothing listens.
	WrongIP = "127.0.10.5"
)

// Options choose a topology.
type Options struct {
	// Cloud picks the article's example workspace of that cloud: public
	// (default), china or usgov. Unused when Workspaces is given.
	Cloud string
	// Break builds in one misconfiguration. Default BreakNone.
	Break Cause
	// Workspaces replaces the example workspace. Default: one workspace,
	// ExampleWorkspace(Cloud).
	Workspaces []azureml.Workspace
	// Port is the port of every server; 0 (the default) lets the kernel
	// pick a free port for each, so that the demo runs without root and
	// beside anything else.
	Port int
	// Log receives the servers' logs, each record with a "server" key.
	// Default: discard.
	Log *slog.Logger
}

// ExampleWorkspace returns the article's example workspace in the given
// cloud (SPEC.md section 3), with a compute instance and a managed online
// endpoint.
func ExampleWorkspace(cloud string) (azureml.Workspace, error) {
	c, err := azureml.LookupCloud(cloud)
	if err != nil {
		return azureml.Workspace{}, err
	}
	w := azureml.Workspace{
		Cloud: c.Key, APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6", InferenceIP: "10.1.0.7",
		Computes:  []string{"mycomputeinstance"},
		Endpoints: []string{"mymanagedendpoint"},
	}
	switch c.Key {
	case "public":
		w.GUID, w.Name, w.Region = "fb7e20a0-8891-458b-b969-55ddb3382f51", "myworkspace", "eastus"
	case "china":
		w.GUID, w.Name, w.Region = "52882c08-ead2-44aa-af65-08a75cf094bd", "mype-pltest",
			"chinaeast2"
	case "usgov":
		w.GUID, w.Name, w.Region = "52882c08-ead2-44aa-af65-08a75cf094bd", "mype-pltest",
			"usgovvirginia"
	default:
		return azureml.Workspace{}, fmt.Errorf("no example workspace for cloud %q", c.Key)
	}
	return w, nil
}

// Server is one running server of a topology.
type Server struct {
	// Key is the short name used in output: sim-hub, hub, onprem, ...
	Key string
	// Addr is its ip:port, UDP and TCP.
	Addr string
	// Role says what it stands for in a real deployment.
	Role string
}

// Hop is one server on an architecture's path, nearest the client first.
type Hop struct {
	// Key is the Server.Key of the hop.
	Key string
	// Addr is the hop's ip:port.
	Addr string
}

// Architecture is one way a client resolves the workspace's names.
type Architecture struct {
	// Key is vnet, onprem or hosts.
	Key string
	// Title is a short description for people.
	Title string
	// Path lists the servers a query passes, the client's own first.
	Path []Hop
}

// Entry returns the address a client of the architecture asks.
func (a Architecture) Entry() string { return a.Path[0].Addr }

// Topology is a running demo. Its fields are set by Start and read-only.
type Topology struct {
	// Cloud is the cloud of the first workspace.
	Cloud string
	// Break is the misconfiguration built in.
	Break Cause
	// SimHub, SimSpoke and SimInternet are the emulator's addresses for the
	// hub network, another network, and a network linked to no zone.
	SimHub, SimSpoke, SimInternet string
	// Hub is the pedns server of the hub virtual network.
	Hub string
	// OnPrem is the on-premises pedns server.
	OnPrem string
	// HostsClient is a pedns server that answers from HostsFile only.
	HostsClient string
	// HostsFile is the hosts file pedns plan -o hosts writes.
	HostsFile string
	// Names are the names Check resolves (wildcards left out), each with
	// the private address it must resolve to.
	Names []azureml.Name
	// Servers lists every server, in start order.
	Servers []Server
	// Architectures are the client paths Check resolves through.
	Architectures []Architecture

	rec    *recorder
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dir    string
	once   sync.Once
}

// Start builds the topology of opts and starts every server. The servers
// run until Stop or until ctx ends; call Stop in both cases to wait for
// them and remove the temporary files.
func Start(ctx context.Context, opts Options) (*Topology, error) {
	if _, err := ParseCause(string(opts.Break)); err != nil {
		return nil, err
	}
	ws := opts.Workspaces
	if len(ws) == 0 {
		w, err := ExampleWorkspace(opts.Cloud)
		if err != nil {
			return nil, err
		}
		ws = []azureml.Workspace{w}
	}
	plan, err := azureml.BuildPlan(ws, azureml.Options{Role: azureml.RoleVNet})
	if err != nil {
		return nil, fmt.Errorf("planning the workspaces: %w", err)
	}
	cloud, _ := azureml.LookupCloud(ws[0].Cloud)

	dir, err := os.MkdirTemp("", "pedns-demo-")
	if err != nil {
		return nil, fmt.Errorf("making the demo's folder: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	t := &Topology{Cloud: cloud.Key, Break: opts.Break, rec: &recorder{}, cancel: cancel,
		dir: dir}
	for _, n := range plan.Names {
		if !strings.HasPrefix(n.FQDN, "*.") {
			t.Names = append(t.Names, n)
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := t.start(sctx, ws, plan, opts.Port, log); err != nil {
		t.Stop()
		return nil, err
	}
	return t, nil
}

// ips are the addresses the servers listen on.
type ips struct {
	simHub, simSpoke, simInternet, hub, onPrem, hosts, wrong string
}

// chooseIPs returns the addresses of the package documentation, or all
// 127.0.0.1 when the system does not let a program bind the others.
func chooseIPs(port int) (ips, error) {
	want := ips{SimHubIP, SimSpokeIP, SimInternetIP, HubIP, OnPremIP, HostsIP, WrongIP}
	c, err := net.ListenPacket("udp", net.JoinHostPort(SimHubIP, "0"))
	if err == nil {
		c.Close()
		return want, nil
	}
	if port != 0 {
		return ips{}, fmt.Errorf("cannot bind %s (%v); without a fixed port the "+
			"demo would move every server to 127.0.0.1", SimHubIP, err)
	}
	lo := "127.0.0.1"
	return ips{lo, lo, lo, lo, lo, lo, lo}, nil
}

func (t *Topology) start(ctx context.Context, ws []azureml.Workspace, plan *azureml.Plan,
	port int, log *slog.Logger) error {

	ip, err := chooseIPs(port)
	if err != nil {
		return err
	}
	at := func(host string) string { return net.JoinHostPort(host, fmt.Sprint(port)) }

	// Azure DNS, with the workspace's Private DNS zones.
	simCfg := t.simConfig(ws, plan, at(ip.simHub), at(ip.simSpoke), at(ip.simInternet))
	if err := simCfg.Check(); err != nil {
		return fmt.Errorf("emulator configuration: %w", err)
	}
	sim, err := azuresim.New(simCfg, azuresim.Options{
		Log:   log.With("server", "sim"),
		Trace: t.rec.addSim,
	})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if err := sim.Listen(); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	t.SimHub, t.SimSpoke = sim.Addrs("hub")[0], sim.Addrs("spoke")[0]
	t.SimInternet = sim.Addrs("internet")[0]
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		sim.Serve(ctx)
	}()
	t.Servers = append(t.Servers,
		Server{Key: "sim-hub", Addr: t.SimHub,
			Role: "Azure DNS (168.63.129.16) as seen from the hub virtual network"},
		Server{Key: "sim-spoke", Addr: t.SimSpoke,
			Role: "Azure DNS as seen from another virtual network"},
		Server{Key: "sim-internet", Addr: t.SimInternet,
			Role: "a public resolver: Azure DNS from a network linked to no zone"})

	// The DNS server in the hub virtual network.
	hubZones := plan.Forwards[0].Zones
	if t.Break == BreakNoForwarder {
		hubZones = nil
	}
	hubYAML := serverYAML(at(ip.hub), hubZones, t.SimHub, t.SimInternet, "")
	if t.Hub, err = t.startServer(ctx, "hub", hubYAML, log); err != nil {
		return err
	}
	t.Servers = append(t.Servers, Server{Key: "hub", Addr: t.Hub,
		Role: "pedns serve: the custom DNS server in the hub virtual network"})

	// The on-premises DNS server.
	onpremPlan, err := azureml.BuildPlan(ws, azureml.Options{Role: azureml.RoleOnPrem,
		DNSServers: []string{t.Hub}})
	if err != nil {
		return fmt.Errorf("planning the on-premises server: %w", err)
	}
	target := t.Hub
	if t.Break == BreakOnPremWrongServer {
		_, hubPort, _ := net.SplitHostPort(t.Hub)
		target = net.JoinHostPort(ip.wrong, hubPort)
		if ip.wrong == ip.hub {
			target = freeAddr(ip.wrong)
		}
	}
	onpremYAML := serverYAML(at(ip.onPrem), onpremPlan.Forwards[0].Zones, target,
		t.SimInternet, "")
	if t.OnPrem, err = t.startServer(ctx, "onprem", onpremYAML, log); err != nil {
		return err
	}
	t.Servers = append(t.Servers, Server{Key: "onprem", Addr: t.OnPrem,
		Role: "pedns serve: the on-premises DNS server, forwarding to hub"})

	// The client with a hosts file.
	files, err := export.Render("hosts", plan, export.Options{})
	if err != nil {
		return err
	}
	t.HostsFile = filepath.Join(t.dir, "hosts")
	if err := os.WriteFile(t.HostsFile, files[0].Content, 0o644); err != nil {
		return fmt.Errorf("writing the hosts file: %w", err)
	}
	hostsYAML := serverYAML(at(ip.hosts), nil, "", "", t.HostsFile)
	if t.HostsClient, err = t.startServer(ctx, "hosts", hostsYAML, log); err != nil {
		return err
	}
	t.Servers = append(t.Servers, Server{Key: "hosts", Addr: t.HostsClient,
		Role: "the client's hosts file (" + t.HostsFile + "), served by pedns for dig"})

	t.Architectures = []Architecture{
		{Key: "vnet", Title: "client in a virtual network, custom DNS server in the hub",
			Path: []Hop{{"hub", t.Hub}, {"sim-hub", t.SimHub}}},
		{Key: "onprem", Title: "client on premises, on-premises DNS server -> hub",
			Path: []Hop{{"onprem", t.OnPrem}, {"hub", t.Hub}, {"sim-hub", t.SimHub}}},
		{Key: "hosts", Title: "client with a hosts file",
			Path: []Hop{{"hosts", t.HostsClient}}},
	}
	return nil
}

// freeAddr returns host with a port where nothing listens now.
func freeAddr(host string) string {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return net.JoinHostPort(host, "9")
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// simConfig returns the emulator's configuration: three networks, the
// workspaces, and their Private Link zones linked to the hub (or, broken,
// to the spoke), with the records their private endpoint registers.
func (t *Topology) simConfig(ws []azureml.Workspace, plan *azureml.Plan,
	hub, spoke, internet string) *azuresim.Config {

	cfg := &azuresim.Config{
		Networks: []azuresim.Network{
			{Name: "hub", Listen: []string{hub}},
			{Name: "spoke", Listen: []string{spoke}},
			{Name: "internet", Listen: []string{internet}},
		},
		Workspaces: ws,
		Log:        azuresim.Log{Level: "info"},
	}
	linked := "hub"
	if t.Break == BreakZoneNotLinked {
		linked = "spoke"
	}
	for _, pz := range plan.Zones {
		var lines []string
		for _, r := range pz.Records {
			if t.Break == BreakNoInferenceWildcard && strings.HasPrefix(r.Owner, "*.") {
				continue
			}
			lines = append(lines, r.String())
		}
		cfg.PrivateZones = append(cfg.PrivateZones, azuresim.PrivateZone{
			Name: pz.Name, Records: strings.Join(lines, "\n"),
			Links: []azuresim.Link{{Network: linked}},
		})
	}
	return cfg
}

// serverYAML writes a pedns configuration: zones forwarded to upstream, the
// rest to fallback, and a hosts file. Empty arguments leave parts out. The
// cache is off so that every query of the demo walks the whole path.
func serverYAML(listen string, zones []string, upstream, fallback, hostsFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: [%q]\nallow: [\"127.0.0.0/8\"]\n", listen)
	if len(zones) > 0 || fallback != "" {
		b.WriteString("forward:\n")
	}
	if len(zones) > 0 {
		quoted := make([]string, len(zones))
		for i, z := range zones {
			quoted[i] = fmt.Sprintf("%q", z)
		}
		fmt.Fprintf(&b, "  - zones: [%s]\n    upstreams: [%q]\n",
			strings.Join(quoted, ", "), upstream)
	}
	if fallback != "" {
		fmt.Fprintf(&b, "  - zones: [\".\"]\n    upstreams: [%q]\n", fallback)
	}
	if hostsFile != "" {
		fmt.Fprintf(&b, "hosts: [%q]\n", hostsFile)
	}
	b.WriteString("cache: {size: 0}\nlog: {level: info, queries: true}\n")
	return b.String()
}

// checkLoopback refuses a configuration with an upstream off loopback: the
// demo must never send a packet to any other host.
func checkLoopback(l *config.Loaded) error {
	for _, r := range l.Forward {
		for _, u := range r.Upstreams {
			ap, err := netip.ParseAddrPort(u)
			if err != nil || !ap.Addr().IsLoopback() {
				return fmt.Errorf("upstream %s is not a loopback address", u)
			}
		}
	}
	for _, a := range l.Listen {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().IsLoopback() {
			return fmt.Errorf("listen address %s is not a loopback address", a)
		}
	}
	return nil
}

// startServer loads a pedns configuration, checks it, and serves it.
func (t *Topology) startServer(ctx context.Context, key, yamlText string,
	log *slog.Logger) (string, error) {

	file := filepath.Join(t.dir, key+".yaml")
	if err := os.WriteFile(file, []byte(yamlText), 0o644); err != nil {
		return "", fmt.Errorf("%s: writing configuration: %w", key, err)
	}
	l, err := config.Load(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if err := checkLoopback(l); err != nil {
		return "", fmt.Errorf("%s: refusing to start: %w", key, err)
	}
	srv := dnsserver.New(l, slog.New(t.rec.handler(key, log.Handler())))
	if err := srv.Listen(); err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		srv.Serve(ctx, time.Second)
	}()
	return srv.Addrs()[0], nil
}

// ConfigFile returns the path of the pedns configuration of a server (hub,
// onprem or hosts), which stays readable until Stop.
func (t *Topology) ConfigFile(key string) string {
	return filepath.Join(t.dir, key+".yaml")
}

// Stop ends every server, waits for them, and removes the temporary files.
// It may be called more than once.
func (t *Topology) Stop() {
	t.once.Do(func() {
		t.cancel()
		t.wg.Wait()
		os.RemoveAll(t.dir)
	})
}

// Expected returns the private address each name must resolve to, by FQDN.
func (t *Topology) Expected() map[string]string {
	out := make(map[string]string, len(t.Names))
	for _, n := range t.Names {
		out[n.FQDN] = n.IP
	}
	return out
}
