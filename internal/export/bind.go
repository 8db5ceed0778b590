package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// BindConfName is the named.conf fragment of the bind format; include it
// from named.conf. Zone files are named "db." plus the zone name, and the
// fragment refers to them relative to BIND's directory option.
const BindConfName = "named.conf.pedns"

// bindSOA is the start of authority of every zone file pedns writes: the
// zones are local and never transferred, so only the negative TTL (the
// last field, kept short as SPEC.md section 7 asks) matters.
const bindSOA = "@ 3600 IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 30\n" +
	"@ 3600 IN NS localhost.\n"

// renderBind writes BIND's configuration: forward zones for the plan's
// role, a primary zone per Private Link zone, and one per name that no
// Private Link zone answers, each with its zone file.
//
// BIND has no fall-through for a primary zone: once it holds
// privatelink.api.azureml.ms, it answers NXDOMAIN for every private endpoint
// this plan does not list. The fragment says so where the zones begin.
func renderBind(p *azureml.Plan, _ Options) ([]File, error) {
	var conf bytes.Buffer
	conf.WriteString(header("//", "BIND configuration for Azure Machine Learning", p))
	for _, f := range p.Forwards {
		var ups []string
		for _, u := range f.Upstreams {
			host, port := upstreamHostPort(u)
			if port != 0 {
				host = fmt.Sprintf("%s port %d", host, port)
			}
			ups = append(ups, host+";")
		}
		for _, z := range f.Zones {
			fmt.Fprintf(&conf, "zone %q {\n\ttype forward;\n\tforward only;\n"+
				"\tforwarders { %s };\n};\n", z, strings.Join(ups, " "))
		}
	}
	files := []File{{Name: BindConfName}}
	conf.WriteString("\n// Local Private Link zones. BIND answers NXDOMAIN for any name " +
		"missing here,\n// so every private endpoint that shares a zone must be listed.\n")
	add := func(zone string, records []azureml.Record) {
		name := "db." + zone
		fmt.Fprintf(&conf, "zone %q {\n\ttype primary;\n\tfile %q;\n};\n", zone, name)
		var zf bytes.Buffer
		zf.WriteString(header(";", "Zone "+zone, p))
		fmt.Fprintf(&zf, "$ORIGIN %s.\n$TTL %d\n%s", zone, azureml.RecordTTL, bindSOA)
		for _, r := range records {
			zf.WriteString(r.String() + "\n")
		}
		files = append(files, File{Name: name, Content: zf.Bytes()})
	}
	for _, z := range p.Zones {
		add(z.Name, z.Records)
	}
	for _, n := range standalone(p) {
		add(n.FQDN, []azureml.Record{{Owner: "@", IP: n.IP}})
	}
	files[0].Content = conf.Bytes()
	return files, nil
}
