package config

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/azureml"
)

// BuiltinFile names the built-in configuration in messages.
const BuiltinFile = "(built-in)"

// Builtin returns the configuration of pedns serve without -c: the DNS server
// of the virtual network role. It listens on port 53 of every address, forwards
// every Azure Machine Learning zone of every cloud (SPEC.md section 4, both
// spellings of the instances zone) to the Azure DNS virtual server, and every
// other name to the nameservers of resolvConf. A nameserver that is pedns's own
// listen address is skipped, since forwarding to itself would loop.
func Builtin(resolvConf string) (*Loaded, []string, error) {
	var warnings []string
	cfg := Config{Listen: DefaultListen}

	var zones []string
	seen := map[string]bool{}
	for _, key := range azureml.CloudKeys() {
		c, _ := azureml.LookupCloud(key)
		for _, z := range c.ForwardZones(azureml.RoleVNet) {
			if !seen[z] {
				seen[z] = true
				zones = append(zones, z)
			}
		}
	}
	cfg.Forward = append(cfg.Forward,
		ForwardRule{Zones: zones, Upstreams: []string{azureml.AzureDNS}})

	servers, err := resolvConfServers(resolvConf)
	switch {
	case err != nil:
		warnings = append(warnings, fmt.Sprintf("no default forwarder: %v", err))
	case len(servers) == 0:
		warnings = append(warnings, fmt.Sprintf(
			"no default forwarder: %s names no nameserver other than pedns itself", resolvConf))
	default:
		cfg.Forward = append(cfg.Forward, ForwardRule{Zones: []string{"."}, Upstreams: servers})
	}

	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the built-in configuration: %w", err)
	}
	l, err := Parse(data, BuiltinFile)
	return l, warnings, err
}

// resolvConfServers returns the nameservers of a resolv.conf file as ip:port,
// leaving out loopback addresses on port 53, which would be pedns itself when
// it listens on every address.
func resolvConfServers(file string) ([]string, error) {
	rc, err := dns.ClientConfigFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var out []string
	for _, s := range rc.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		if a.IsLoopback() && rc.Port == "53" {
			continue
		}
		out = append(out, net.JoinHostPort(a.String(), rc.Port))
	}
	return out, nil
}
