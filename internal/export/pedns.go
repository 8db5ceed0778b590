package export

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/azureml"
)

// PednsConfig is the part of the pedns configuration that the pedns format
// writes. The keys are those of the server's configuration (owned by
// internal/config); ParsePedns reads them back strictly.
type PednsConfig struct {
	// Listen are addresses (ip:port) served over UDP and TCP.
	Listen []string `yaml:"listen"`
	// Allow are the client networks answered.
	Allow []string `yaml:"allow"`
	// Forward are the conditional forwarders.
	Forward []PednsForward `yaml:"forward"`
	// Zones are local zones with inline records.
	Zones []PednsZone `yaml:"zones"`
	// Hosts are hosts files to load.
	Hosts []string `yaml:"hosts,omitempty"`
}

// PednsForward is one conditional forwarding rule of a pedns configuration.
type PednsForward struct {
	// Zones are forwarded, with all names below them.
	Zones []string `yaml:"zones"`
	// Upstreams are ip or ip:port.
	Upstreams []string `yaml:"upstreams"`
}

// PednsZone is one local zone of a pedns configuration.
type PednsZone struct {
	// Name is the zone's apex.
	Name string `yaml:"name"`
	// Fallthrough forwards the names missing here.
	Fallthrough bool `yaml:"fallthrough"`
	// Records are zone-file lines relative to the apex.
	Records string `yaml:"records"`
}

// renderPedns writes a pedns configuration: the forwarders of the plan's
// role, each Private Link zone with its records, and a zone per name that
// no Private Link zone answers (compute instances), its A record at the
// apex as the article recommends for hand-made records.
//
// Private Link zones fall through: Azure keeps the records of every private
// endpoint of the subscription in the same zone, and names this plan does
// not know must still reach Azure (SPEC.md section 7, fallback to
// internet). A per-name zone does not: it holds the one name it is for.
func renderPedns(p *azureml.Plan, o Options) ([]File, error) {
	cfg := PednsConfig{Listen: o.Listen, Allow: o.Allow}
	if len(cfg.Listen) == 0 {
		cfg.Listen = DefaultListen
	}
	if len(cfg.Allow) == 0 {
		cfg.Allow = DefaultAllow
	}
	for _, f := range p.Forwards {
		cfg.Forward = append(cfg.Forward, PednsForward{Zones: f.Zones, Upstreams: f.Upstreams})
	}
	// In the virtual network, Azure DNS resolves public names too: it is the
	// default rule, so that pedns answers every name the network asks. On
	// premises the default belongs to the resolvers already in use there.
	if p.Role != azureml.RoleOnPrem {
		cfg.Forward = append(cfg.Forward, PednsForward{Zones: []string{"."},
			Upstreams: []string{azureml.AzureDNS}})
	}
	for _, z := range p.Zones {
		cfg.Zones = append(cfg.Zones, PednsZone{Name: z.Name, Fallthrough: true,
			Records: z.Text()})
	}
	for _, n := range standalone(p) {
		rec := azureml.Record{Owner: "@", IP: n.IP}
		cfg.Zones = append(cfg.Zones, PednsZone{Name: n.FQDN, Records: rec.String() + "\n"})
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding pedns configuration: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(header("#", "pedns configuration for Azure Machine Learning", p))
	b.WriteString("# Change listen to this server's own address before use.\n")
	if p.Role == azureml.RoleOnPrem {
		b.WriteString("# Add a forward rule for \".\" to the resolvers this site uses now,\n" +
			"# or every other name is REFUSED.\n")
	}
	b.Write(data)
	return []File{{Name: "pedns.yaml", Content: b.Bytes()}}, nil
}

// ParsePedns reads a configuration written by the pedns format, rejecting
// unknown keys. It checks the shape only; internal/config validates
// configurations for the server.
func ParsePedns(data []byte) (PednsConfig, error) {
	var cfg PednsConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return PednsConfig{}, fmt.Errorf("pedns configuration: %w", err)
	}
	for i, z := range cfg.Zones {
		if strings.TrimSpace(z.Name) == "" {
			return PednsConfig{}, fmt.Errorf("pedns configuration: zones[%d]: no name", i)
		}
	}
	return cfg, nil
}
