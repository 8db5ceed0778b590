// Package config reads, checks and defaults the configuration of pedns serve.
//
// The file is YAML. Every problem is reported with file, line, column and the
// path of the field (FILE:LINE:COL: field: problem), all problems of a file at
// once; unknown keys are errors, not silently ignored. Zone files and hosts
// files named by the configuration are read and parsed by Load too, so that a
// configuration that loads is one the server can run.
package config

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/hosts"
	"github.com/pedns/pedns/internal/zone"
)

// Config is the YAML schema of pedns serve. The zero value of a field means its
// default, which Load fills in; the defaults are written beside each field.
type Config struct {
	// Listen holds the addresses to serve on, UDP and TCP on each, as ip:port;
	// an empty ip means every address, and port 0 a free port (for tests).
	// Default [":53"].
	Listen []string `yaml:"listen"`
	// Allow holds the client networks that may query, as CIDR prefixes or
	// single addresses; every other client is REFUSED. Default: loopback and
	// the private ranges (RFC 1918, RFC 4193), so that pedns is never an open
	// resolver by accident.
	Allow []string `yaml:"allow,omitempty"`
	// Forward holds the conditional forwarders; the longest matching zone
	// wins and a rule for "." is the default.
	Forward []ForwardRule `yaml:"forward"`
	// Zones holds local authoritative zones.
	Zones []Zone `yaml:"zones"`
	// Workspaces describes Azure Machine Learning workspaces whose Private
	// Link zones pedns builds and serves itself (see pedns plan).
	Workspaces []azureml.Workspace `yaml:"workspaces"`
	// Hosts holds hosts files (the format of /etc/hosts).
	Hosts []string `yaml:"hosts"`
	// HostsTTL is the TTL of answers from hosts files. Default 5m.
	HostsTTL Duration `yaml:"hosts_ttl"`
	// Cache bounds the answer cache.
	Cache Cache `yaml:"cache"`
	// Upstream tunes every forwarder.
	Upstream Upstream `yaml:"upstream"`
	// Limits protect the server from clients.
	Limits Limits `yaml:"limits"`
	// RateLimit caps the UDP responses sent to each client network.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Log sets logging.
	Log Log `yaml:"log"`
	// HTTP serves metrics, health and a status page; off when not set.
	HTTP HTTP `yaml:"http"`
	// Watch, when set, checks the configuration file and the zone and hosts
	// files it names this often, and reloads when one changes (a Kubernetes
	// ConfigMap, say). Default 0s: reload on SIGHUP only.
	Watch Duration `yaml:"watch"`
}

// HTTP is the listener for operations: /metrics, /health, /ready and the
// status page.
type HTTP struct {
	// Listen is the ip:port to serve on; empty turns the listener off. An
	// address beyond loopback exposes the status page and the resolve form to
	// that network: set Token then.
	Listen string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer TOKEN" on every
	// path but /health and /ready.
	Token string `yaml:"token"`
}

// ForwardRule sends the names under Zones to Upstreams.
type ForwardRule struct {
	// Zones are domain suffixes; "." matches every name.
	Zones []string `yaml:"zones"`
	// Upstreams are IP addresses, with an optional port (default 53); tried in
	// order, with failover when one times out or answers SERVFAIL or REFUSED.
	Upstreams []string `yaml:"upstreams"`
}

// Zone is a local authoritative zone, from inline records or a zone file.
type Zone struct {
	// Name is the zone apex.
	Name string `yaml:"name"`
	// Fallthrough forwards a name that the zone does not have, instead of
	// answering NXDOMAIN. Default false.
	Fallthrough bool `yaml:"fallthrough"`
	// Records holds zone-file lines, owner names relative to the apex.
	Records string `yaml:"records"`
	// File is an RFC 1035 zone file, relative to the configuration file.
	File string `yaml:"file"`
}

// Cache bounds the answer cache.
type Cache struct {
	// Size is the most answers kept; 0 turns the cache off. Default 10000.
	Size *int `yaml:"size"`
	// MinTTL and MaxTTL clamp how long a positive answer is kept.
	// Defaults 0s and 1h.
	MinTTL Duration `yaml:"min_ttl"`
	MaxTTL Duration `yaml:"max_ttl"`
	// NegativeTTL caps how long NXDOMAIN and NODATA are kept. Default 30s,
	// short because a private endpoint created a minute after a failed
	// lookup must not look broken.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// Stale is how long past expiry an answer may still be served while every
	// upstream of its rule fails (RFC 8767). Default 24h; 0s turns it off.
	Stale *Duration `yaml:"stale"`
	// StaleTTL is the TTL of an answer served stale. Default 30s.
	StaleTTL Duration `yaml:"stale_ttl"`
	// Prefetch refreshes an answer that is asked for in the last tenth of its
	// TTL, in the background, so that names in steady use never miss: the
	// asking client gets the cached answer at once. Default true.
	Prefetch *bool `yaml:"prefetch"`
}

// Upstream tunes how pedns waits for its upstreams.
type Upstream struct {
	// TryTimeout is how long one attempt waits before another starts beside
	// it. Default 1500ms.
	TryTimeout Duration `yaml:"try_timeout"`
	// Timeout is the total wait for an answer. Default 5s: Azure's recursion
	// can take seconds, and Microsoft advises more than 4s.
	Timeout Duration `yaml:"timeout"`
	// MaxInflight caps the queries in flight to each upstream. Default 100,
	// well under the 200 pending queries Azure DNS accepts per machine.
	MaxInflight int `yaml:"max_inflight"`
}

// Limits protect the server from clients.
type Limits struct {
	// UDPSize is the EDNS0 payload size pedns advertises and the most it sends
	// over UDP. Default 1232 (DNS flag day 2020).
	UDPSize int `yaml:"udp_size"`
	// TCPConnections caps open TCP client connections. Default 1000.
	TCPConnections int `yaml:"tcp_connections"`
	// TCPIdleTimeout closes a TCP connection that sends nothing for this long.
	// Default 10s.
	TCPIdleTimeout Duration `yaml:"tcp_idle_timeout"`
	// Queries caps the queries being answered at once. Default 10000.
	Queries int `yaml:"queries"`
}

// RateLimit caps the UDP responses sent to each client network, against
// floods with forged source addresses (see internal/ratelimit).
type RateLimit struct {
	// ResponsesPerSecond per client prefix; 0 turns the limit off. Default
	// 2000, far above what one client network asks of a DNS server in a
	// virtual network. Exempt the on-premises DNS server that forwards to
	// pedns: all its clients share its address.
	ResponsesPerSecond *int `yaml:"responses_per_second"`
	// Slip: past the limit every Slip-th response is sent empty with TC set,
	// so that a real client retries over TCP; 0 drops them all. Default 2.
	Slip *int `yaml:"slip"`
	// IPv4Prefix and IPv6Prefix group clients. Defaults 24 and 56.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Exempt clients are never limited. Default: loopback.
	Exempt []string `yaml:"exempt"`
}

// Log sets logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Queries logs one line per query: client, qname, qtype, rcode, source,
	// duration. Default false.
	Queries bool `yaml:"queries"`
}

// Defaults.
const (
	DefaultCacheSize      = 10000
	DefaultMaxTTL         = time.Hour
	DefaultNegativeTTL    = 30 * time.Second
	DefaultStale          = 24 * time.Hour
	DefaultStaleTTL       = 30 * time.Second
	DefaultHostsTTL       = 5 * time.Minute
	DefaultTryTimeout     = 1500 * time.Millisecond
	DefaultTimeout        = 5 * time.Second
	DefaultMaxInflight    = 100
	DefaultUDPSize        = 1232
	DefaultTCPConnections = 1000
	DefaultTCPIdleTimeout = 10 * time.Second
	DefaultQueries        = 10000
	DefaultRateLimit      = 2000
	DefaultSlip           = 2
)

// DefaultListen is where pedns serves without a listen key.
var DefaultListen = []string{":53"}

// DefaultAllow is who may query without an allow key: loopback and the private
// ranges of RFC 1918 and RFC 4193.
var DefaultAllow = []string{
	"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
}

// Loaded is a configuration that passed every check, with the data it names
// read and parsed.
type Loaded struct {
	Config
	// File is the configuration file, or "(built-in)".
	File string
	// AllowPrefixes is Allow parsed.
	AllowPrefixes []netip.Prefix
	// ExemptPrefixes is RateLimit.Exempt parsed.
	ExemptPrefixes []netip.Prefix
	// ZoneData holds the parsed local zones, those built from Workspaces last.
	ZoneData []*zone.Zone
	// HostEntries holds the parsed lines of every hosts file.
	HostEntries []hosts.Entry
	// Files are the files the configuration was read from: itself, then the
	// zone and hosts files it names.
	Files []string
}

// Load reads, checks and completes the configuration in file.
func Load(file string) (*Loaded, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(data, file)
}

// Parse checks and completes a configuration held in data; file names it in
// errors and anchors the relative paths of zone and hosts files.
func Parse(data []byte, file string) (*Loaded, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && err.Error() != "EOF" {
		return nil, Errors{yamlError(file, err)}
	}

	if len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		// Most likely a file caught half written (truncated, not yet filled):
		// serving it would drop every zone and rule.
		return nil, Errors{&Error{File: file,
			Msg: "the file is empty (or holds only comments): nothing to serve"}}
	}
	d := &decoder{file: file, nodes: map[string]*yaml.Node{}}
	var cfg Config
	d.decode(root.Content[0], reflect.ValueOf(&cfg).Elem(), "")
	l := &Loaded{Config: cfg, File: file, Files: []string{file}}
	l.setDefaults()
	l.check(d, filepath.Dir(file))
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	return l, nil
}

// sortErrors puts errors in file order: by file, then line and column.
func sortErrors(errs Errors) {
	pos := func(e error) (string, int, int) {
		if ce, ok := e.(*Error); ok {
			return ce.File, ce.Line, ce.Col
		}
		return "", 0, 0
	}
	sort.SliceStable(errs, func(i, j int) bool {
		fi, li, ci := pos(errs[i])
		fj, lj, cj := pos(errs[j])
		if fi != fj {
			return fi < fj
		}
		if li != lj {
			return li < lj
		}
		return ci < cj
	})
}

// yamlError turns a YAML syntax error ("yaml: line 3: ...") into an Error.
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		_, rest, _ := strings.Cut(msg, ": ")
		return &Error{File: file, Line: line, Col: 1, Msg: "YAML syntax: " + rest}
	}
	return &Error{File: file, Msg: "YAML syntax: " + msg}
}

func (l *Loaded) setDefaults() {
	c := &l.Config
	if len(c.Listen) == 0 {
		c.Listen = DefaultListen
	}
	if c.Allow == nil {
		c.Allow = DefaultAllow
	}
	zeroDefault(&c.HostsTTL, Duration(DefaultHostsTTL))
	nilDefault(&c.Cache.Size, DefaultCacheSize)
	zeroDefault(&c.Cache.MaxTTL, Duration(DefaultMaxTTL))
	zeroDefault(&c.Cache.NegativeTTL, Duration(DefaultNegativeTTL))
	nilDefault(&c.Cache.Stale, Duration(DefaultStale))
	nilDefault(&c.Cache.Prefetch, true)
	zeroDefault(&c.Cache.StaleTTL, Duration(DefaultStaleTTL))
	zeroDefault(&c.Upstream.TryTimeout, Duration(DefaultTryTimeout))
	zeroDefault(&c.Upstream.Timeout, Duration(DefaultTimeout))
	zeroDefault(&c.Upstream.MaxInflight, DefaultMaxInflight)
	zeroDefault(&c.Limits.UDPSize, DefaultUDPSize)
	zeroDefault(&c.Limits.TCPConnections, DefaultTCPConnections)
	zeroDefault(&c.Limits.TCPIdleTimeout, Duration(DefaultTCPIdleTimeout))
	zeroDefault(&c.Limits.Queries, DefaultQueries)
	zeroDefault(&c.Log.Level, "info")
	rl := &c.RateLimit
	nilDefault(&rl.ResponsesPerSecond, DefaultRateLimit)
	nilDefault(&rl.Slip, DefaultSlip)
	zeroDefault(&rl.IPv4Prefix, 24)
	zeroDefault(&rl.IPv6Prefix, 56)
	if rl.Exempt == nil {
		rl.Exempt = []string{"127.0.0.0/8", "::1/128"}
	}
}

// zeroDefault sets *field to def when the configuration left it at zero.
func zeroDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// nilDefault sets *field to point at def when the configuration left it out:
// for fields whose zero value is a setting of its own (size 0, stale 0s, ...).
func nilDefault[T any](field **T, def T) {
	if *field == nil {
		*field = &def
	}
}

// check validates every field, reads the files the configuration names, and
// records each problem in d.
func (l *Loaded) check(d *decoder, dir string) {
	c := &l.Config
	listening := map[string]bool{}
	for i, addr := range c.Listen {
		if err := checkListen(addr); err != nil {
			d.at(fmt.Sprintf("listen[%d]", i), "%v", err)
			continue
		}
		if listening[addr] {
			d.at(fmt.Sprintf("listen[%d]", i), "%s is listed twice", addr)
		}
		listening[addr] = true
	}
	if c.Allow != nil && len(c.Allow) == 0 {
		d.at("allow", "an empty list would refuse every client; leave the key out for "+
			"the default (loopback and the private ranges)")
	}
	for i, s := range c.Allow {
		p, err := parsePrefix(s)
		if err != nil {
			d.at(fmt.Sprintf("allow[%d]", i), "%v", err)
			continue
		}
		l.AllowPrefixes = append(l.AllowPrefixes, p)
	}
	l.checkForward(d, listening)
	l.loadZones(d, dir)
	l.loadHosts(d, dir)
	l.checkLimits(d)
	for i, s := range c.RateLimit.Exempt {
		p, err := parsePrefix(s)
		if err != nil {
			d.at(fmt.Sprintf("rate_limit.exempt[%d]", i), "%v", err)
			continue
		}
		l.ExemptPrefixes = append(l.ExemptPrefixes, p)
	}
	if c.HTTP.Listen != "" {
		if err := checkListen(c.HTTP.Listen); err != nil {
			d.at("http.listen", "%v", err)
		}
	}
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want ip:port, such as 127.0.0.1:53 or :53, not %q", addr)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q is not an IP address", host)
		}
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func parsePort(s string) (int, error) {
	var p int
	if _, err := fmt.Sscanf(s, "%d", &p); err != nil || p < 0 || p > 65535 ||
		fmt.Sprint(p) != s {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network such as 10.0.0.0/8", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a network", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// UpstreamAddr returns upstream as ip:port, adding port 53, or an error when it
// is not an IP address: a forwarder must not need DNS to find its upstream.
func UpstreamAddr(upstream string) (string, error) {
	if a, err := netip.ParseAddr(upstream); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(upstream)
	if err != nil || ap.Port() == 0 {
		return "", fmt.Errorf("want an IP address or ip:port, not %q", upstream)
	}
	return ap.String(), nil
}

func (l *Loaded) checkForward(d *decoder, listening map[string]bool) {
	seen := map[string]string{}
	for i := range l.Forward {
		rule := &l.Forward[i]
		path := fmt.Sprintf("forward[%d]", i)
		if len(rule.Zones) == 0 {
			d.at(path, "a rule needs at least one zone")
		}
		if len(rule.Upstreams) == 0 {
			d.at(path, "a rule needs at least one upstream")
		}
		for j, z := range rule.Zones {
			zpath := fmt.Sprintf("%s.zones[%d]", path, j)
			name, err := canonicalZone(z)
			if err != nil {
				d.at(zpath, "%v", err)
				continue
			}
			if prev, dup := seen[name]; dup {
				d.at(zpath, "zone %s is already forwarded by %s", name, prev)
			}
			seen[name] = zpath
			rule.Zones[j] = name
		}
		for j, u := range rule.Upstreams {
			addr, err := UpstreamAddr(u)
			if err != nil {
				d.at(fmt.Sprintf("%s.upstreams[%d]", path, j), "%v", err)
				continue
			}
			if listening[addr] {
				d.at(fmt.Sprintf("%s.upstreams[%d]", path, j),
					"%s is pedns's own listen address: forwarding there loops", addr)
			}
			rule.Upstreams[j] = addr
		}
	}
}

// canonicalZone returns a zone name as a lower-case FQDN.
func canonicalZone(name string) (string, error) {
	if name == "." {
		return ".", nil
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" || strings.Contains(name, "*") {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return strings.ToLower(dns.Fqdn(name)), nil
}

func (l *Loaded) loadZones(d *decoder, dir string) {
	seen := map[string]int{} // apex -> index in ZoneData
	defined := map[string]bool{}
	for i := range l.Zones {
		z := &l.Zones[i]
		path := fmt.Sprintf("zones[%d]", i)
		name, err := canonicalZone(z.Name)
		if err != nil || name == "." {
			d.at(path+".name", "want the zone apex as a domain name, not %q", z.Name)
			continue
		}
		if defined[name] {
			d.at(path+".name", "zone %s is defined twice", name)
			continue
		}
		defined[name] = true

		var rrs []dns.RR
		switch {
		case z.Records != "" && z.File != "":
			d.at(path, "give records or file, not both")
			continue
		case z.Records != "":
			rrs, err = zone.Parse(z.Records, name, l.File, recordsLine(d.nodes[path+".records"]))
		case z.File != "":
			l.Files = append(l.Files, resolvePath(dir, z.File))
			rrs, err = readZoneFile(resolvePath(dir, z.File), name)
		}
		parsed := err == nil
		if err != nil {
			appendParseErrors(d, path, err)
		}
		// Build the zone from what parsed even after errors, to report its
		// conflicts (a CNAME beside other data) in the same run.
		zd, err := zone.New(name, rrs)
		if err != nil {
			d.at(path, "%v", err)
			continue
		}
		if !parsed {
			continue
		}
		zd.Fallthrough = z.Fallthrough
		seen[name] = len(l.ZoneData)
		l.ZoneData = append(l.ZoneData, zd)
	}
	l.loadWorkspaces(d, seen)
}

// loadWorkspaces builds the Private Link zones of the configured workspaces.
// A zone that the configuration also defines by hand gets the workspace
// records added to it; any other is created with fallthrough on, because it
// knows only these workspaces and other resources may share its name.
func (l *Loaded) loadWorkspaces(d *decoder, seen map[string]int) {
	if len(l.Workspaces) == 0 {
		return
	}
	pzs, err := azureml.PrivateZonesOf(l.Workspaces)
	if err != nil {
		d.at("workspaces", "%v", err)
		return
	}
	for _, pz := range pzs {
		name := strings.ToLower(dns.Fqdn(pz.Name))
		rrs, err := zone.Parse(pz.Text(), name, l.File+" (workspaces)", 1)
		if err != nil {
			d.at("workspaces", "building zone %s: %v", name, err)
			continue
		}
		if i, ok := seen[name]; ok {
			old := l.ZoneData[i]
			merged, err := zone.New(name, append(old.Records(), rrs...))
			if err != nil {
				d.at("workspaces", "adding workspace records to zone %s: %v", name, err)
				continue
			}
			merged.Fallthrough = old.Fallthrough
			l.ZoneData[i] = merged
			continue
		}
		zd, err := zone.New(name, rrs)
		if err != nil {
			d.at("workspaces", "building zone %s: %v", name, err)
			continue
		}
		zd.Fallthrough = true
		seen[name] = len(l.ZoneData)
		l.ZoneData = append(l.ZoneData, zd)
	}
}

// recordsLine is the line of the configuration file on which inline records
// start: the line after the key for a block scalar (records: |).
func recordsLine(n *yaml.Node) int {
	if n == nil {
		return 1
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line + 1
	}
	return n.Line
}

func readZoneFile(file, origin string) ([]dns.RR, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading zone file: %w", err)
	}
	return zone.Parse(string(data), origin, file, 1)
}

// appendParseErrors adds the errors of zone or hosts data, which carry their
// own file and line, or one error at path for anything else.
func appendParseErrors(d *decoder, path string, err error) {
	switch es := err.(type) {
	case zone.ParseErrors:
		for _, e := range es {
			d.errs = append(d.errs, &Error{File: e.File, Line: e.Line, Col: max(e.Col, 1),
				Field: path, Msg: e.Msg})
		}
	case hosts.Errors:
		for _, e := range es {
			if pe, ok := e.(*hosts.ParseError); ok {
				d.errs = append(d.errs, &Error{File: pe.File, Line: pe.Line, Col: 1,
					Field: path, Msg: pe.Msg})
				continue
			}
			d.at(path, "%v", e)
		}
	default:
		d.at(path, "%v", err)
	}
}

func (l *Loaded) loadHosts(d *decoder, dir string) {
	for i, f := range l.Hosts {
		path := fmt.Sprintf("hosts[%d]", i)
		file := resolvePath(dir, f)
		l.Files = append(l.Files, file)
		fh, err := os.Open(file)
		if err != nil {
			d.at(path, "reading hosts file: %v", err)
			continue
		}
		entries, err := hosts.Parse(fh, file)
		fh.Close()
		if err != nil {
			appendParseErrors(d, path, err)
			continue
		}
		l.HostEntries = append(l.HostEntries, entries...)
	}
}

func (l *Loaded) checkLimits(d *decoder) {
	c := &l.Config
	if *c.Cache.Size < 0 {
		d.at("cache.size", "must not be negative")
	}
	if c.Cache.MinTTL > c.Cache.MaxTTL {
		d.at("cache.min_ttl", "%v is above max_ttl %v", c.Cache.MinTTL.D(), c.Cache.MaxTTL.D())
	}
	if c.Upstream.TryTimeout > c.Upstream.Timeout {
		d.at("upstream.try_timeout", "%v is above timeout %v",
			c.Upstream.TryTimeout.D(), c.Upstream.Timeout.D())
	}
	if c.Upstream.MaxInflight < 0 {
		d.at("upstream.max_inflight", "must not be negative")
	}
	if c.Limits.UDPSize < 512 || c.Limits.UDPSize > 65535 {
		d.at("limits.udp_size", "must be between 512 and 65535, not %d", c.Limits.UDPSize)
	}
	rl := c.RateLimit
	if *rl.ResponsesPerSecond < 0 || *rl.Slip < 0 {
		d.at("rate_limit", "responses_per_second and slip must not be negative")
	}
	if rl.IPv4Prefix < 1 || rl.IPv4Prefix > 32 {
		d.at("rate_limit.ipv4_prefix", "must be between 1 and 32, not %d", rl.IPv4Prefix)
	}
	if rl.IPv6Prefix < 1 || rl.IPv6Prefix > 128 {
		d.at("rate_limit.ipv6_prefix", "must be between 1 and 128, not %d", rl.IPv6Prefix)
	}
	if c.Limits.TCPConnections < 0 || c.Limits.Queries < 0 {
		d.at("limits", "limits must not be negative")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.at("log.level", "want debug, info, warn or error, not %q", c.Log.Level)
	}
}

// resolvePath makes a path named in the configuration relative to the
// configuration file's folder.
func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Summary is one line that describes a loaded configuration, for pedns check
// and the startup log.
func (l *Loaded) Summary() string {
	records := 0
	for _, z := range l.ZoneData {
		records += z.Len()
	}
	return fmt.Sprintf("%s: %d zones, %d records, %d hosts entries, %d forward rules, "+
		"listening on %s", l.File, len(l.ZoneData), records, len(l.HostEntries),
		len(l.Forward), strings.Join(l.Listen, " "))
}
