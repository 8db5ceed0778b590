package azuresim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/zone"
)

// Config is the YAML schema of pedns sim: the virtual networks the emulator
// listens for, the Private DNS zones and their links, and the workspaces whose
// public names it answers.
type Config struct {
	// Networks are the virtual networks. Each has its own listen addresses:
	// the emulator tells which network a query comes from by the address it
	// arrives on, as 168.63.129.16 tells it by the virtual machine's NIC.
	Networks []Network `yaml:"networks"`
	// PrivateZones are the Azure Private DNS zones.
	PrivateZones []PrivateZone `yaml:"private_zones"`
	// Workspaces are Azure Machine Learning workspaces with the same keys as
	// pedns plan -f. Their public names answer with a CNAME into Private
	// Link names, or, for compute instances, with an address.
	Workspaces []azureml.Workspace `yaml:"workspaces"`
	// Log sets logging.
	Log Log `yaml:"log"`
}

// Network is one virtual network, as seen by the Azure DNS virtual server.
type Network struct {
	// Name identifies the network in links.
	Name string `yaml:"name"`
	// Listen holds ip:port addresses that stand for 168.63.129.16 as this
	// network sees it. Port 0 asks for a free port. At least one.
	Listen []string `yaml:"listen"`
}

// PrivateZone is one Azure Private DNS zone.
type PrivateZone struct {
	// Name is the zone apex, e.g. privatelink.api.azureml.ms.
	Name string `yaml:"name"`
	// Records holds zone-file lines with owners relative to the apex.
	Records string `yaml:"records"`
	// WorkspaceRecords adds the records that the private endpoints of the
	// configured workspaces register in a zone of this name, as a private
	// DNS zone group does in Azure. Default false.
	WorkspaceRecords bool `yaml:"workspace_records"`
	// Links are the virtual network links. A zone answers only queries that
	// arrive from a linked network.
	Links []Link `yaml:"links"`
}

// Link is a virtual network link of a Private DNS zone.
type Link struct {
	// Network is the name of a configured network.
	Network string `yaml:"network"`
	// FallbackToInternet is the link's resolution policy NxDomainRedirect: a
	// name missing from the zone resolves as if the zone were not linked,
	// for A, AAAA and CNAME queries only (SPEC.md section 7). Default false.
	FallbackToInternet bool `yaml:"fallback_to_internet"`
}

// Log sets the emulator's logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Queries logs one line per query at info level. Default false.
	Queries bool `yaml:"queries"`
}

// LoadConfig reads and checks the configuration in file.
func LoadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading sim configuration: %w", err)
	}
	return ParseConfig(data, file)
}

// ParseConfig decodes a configuration strictly (an unknown key is an error)
// and checks it, reporting every problem at once, each prefixed by file.
func ParseConfig(data []byte, file string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if cfg.Log.Level == "" {
		cfg.Log.Level = "info"
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &cfg, nil
}

// Check reports every problem of c, each naming the field at fault.
func (c *Config) Check() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if len(c.Networks) == 0 {
		add("networks: at least one network is needed")
	}
	nets := map[string]bool{}
	for i, n := range c.Networks {
		switch {
		case n.Name == "":
			add("networks[%d].name is missing", i)
		case nets[n.Name]:
			add("networks[%d].name: network %q is defined twice", i, n.Name)
		}
		nets[n.Name] = true
		if len(n.Listen) == 0 {
			add("networks[%d].listen: at least one address is needed", i)
		}
		for j, a := range n.Listen {
			if err := checkListen(a); err != nil {
				add("networks[%d].listen[%d]: %v", i, j, err)
			}
		}
	}
	zones := map[string]bool{}
	for i, z := range c.PrivateZones {
		name, err := apex(z.Name)
		if err != nil {
			add("private_zones[%d].name: %v", i, err)
			continue
		}
		if zones[name] {
			add("private_zones[%d].name: zone %s is defined twice", i, name)
		}
		zones[name] = true
		if _, err := zone.Parse(z.Records, name, "records", 1); err != nil {
			add("private_zones[%d].records: %v", i, err)
		}
		linked := map[string]bool{}
		for j, l := range z.Links {
			switch {
			case !nets[l.Network]:
				add("private_zones[%d].links[%d].network: no network named %q", i, j, l.Network)
			case linked[l.Network]:
				add("private_zones[%d].links[%d].network: %q is linked twice", i, j, l.Network)
			}
			linked[l.Network] = true
		}
	}
	for i, w := range c.Workspaces {
		if err := w.Validate(); err != nil {
			add("workspaces[%d]: %v", i, err)
		}
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		add("log.level: want debug, info, warn or error, not %q", c.Log.Level)
	}
	return errors.Join(errs...)
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want ip:port, such as 127.63.129.16:5300, not %q", addr)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q is not an IP address", host)
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// apex returns a zone name as a lower-case FQDN, or an error.
func apex(name string) (string, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" || name == "." ||
		strings.Contains(name, "*") {
		return "", fmt.Errorf("%q is not a zone name", name)
	}
	return strings.ToLower(dns.Fqdn(name)), nil
}
