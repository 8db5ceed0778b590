package azureml

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// Workspace describes one Azure Machine Learning workspace (a hub workspace
// included) and its private endpoint. It is plain data: the pedns server
// configuration embeds a list of them under its workspaces key, and the plan
// command reads the same keys from -f FILE. Names are compared and written
// in lower case.
type Workspace struct {
	// Cloud is public (the default when empty), china or usgov.
	Cloud string `yaml:"cloud,omitempty" json:"cloud,omitempty"`
	// GUID is the workspace's globally unique identifier.
	GUID string `yaml:"guid" json:"guid"`
	// Name is the workspace name; it appears, perhaps cut, in the
	// notebooks name.
	Name string `yaml:"name" json:"name"`
	// Region is the Azure region the workspace was created in, e.g. eastus.
	Region string `yaml:"region" json:"region"`
	// APIIP is the private endpoint's first address: the API, certificate
	// and compute instance names resolve to it. Required.
	APIIP string `yaml:"api_ip" json:"api_ip"`
	// NotebooksIP is the private endpoint's second address, for the
	// notebooks name. Required.
	NotebooksIP string `yaml:"notebooks_ip" json:"notebooks_ip"`
	// InferenceIP is the private endpoint's third address, for managed
	// online endpoints. Optional; without it no inference names are made
	// and Endpoints must be empty.
	InferenceIP string `yaml:"inference_ip,omitempty" json:"inference_ip,omitempty"`
	// Computes are compute instance names.
	Computes []string `yaml:"computes,omitempty" json:"computes,omitempty"`
	// NoSSHNames leaves out the <instance>-22 names, which only
	// "az ml compute connect-ssh" needs. Default false: they are made.
	NoSSHNames bool `yaml:"no_ssh_names,omitempty" json:"no_ssh_names,omitempty"`
	// Endpoints are managed online endpoint names.
	Endpoints []string `yaml:"endpoints,omitempty" json:"endpoints,omitempty"`
	// Projects are the project workspaces of a hub; their names resolve to
	// the hub's addresses.
	Projects []Project `yaml:"projects,omitempty" json:"projects,omitempty"`
	// NotebookFQDN is the workspace's notebookInfo.fqdn as Azure reports
	// it. When set it wins over the computed notebooks name.
	NotebookFQDN string `yaml:"notebook_fqdn,omitempty" json:"notebook_fqdn,omitempty"`
	// FQDNs are names and addresses that Azure reported for the private
	// endpoint (see the importers). They win over computed names.
	FQDNs []FQDNAddress `yaml:"fqdns,omitempty" json:"fqdns,omitempty"`
}

// Project is one project workspace of a hub: either GUID and Name, or the
// project's discovery URL, from which both are read.
type Project struct {
	// GUID is the project workspace's identifier.
	GUID string `yaml:"guid,omitempty" json:"guid,omitempty"`
	// Name is the project workspace's name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// URL is the discovery URL printed by
	// "az ml workspace show --query discovery_url".
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
}

// FQDNAddress is one name that Azure reported for a private endpoint, with
// its address. FQDN may be a wildcard such as *.eastus.inference.ml.azure.com.
type FQDNAddress struct {
	// FQDN is the reported name.
	FQDN string `yaml:"fqdn" json:"fqdn"`
	// IP is the private address the name resolves to.
	IP string `yaml:"ip" json:"ip"`
}

// NotebooksLabelBudget is the longest first label of a notebooks name,
// ml-<name>-<region>-<guid>; the workspace name is cut from its end to fit.
//
// The article's text says 63 characters, the limit of a DNS label. Its two
// worked examples say 62: both labels are exactly 62 characters long, and
// the US Government one cuts the workspace mype-pltest to mype-plt, where a
// budget of 63 would have kept mype-plte. Azure's own output is what must
// be matched, so the budget is 62.
const NotebooksLabelBudget = 62

// guidRE matches a GUID in its usual 8-4-4-4-12 hexadecimal form.
var guidRE = regexp.MustCompile(
	`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// labelRE matches a host name label: letters, digits and hyphens, not at
// either end.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// nameRE matches a workspace name as far as a DNS label can carry it.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// normalized returns a copy of w with every name in lower case and without
// surrounding space, and the cloud key filled in.
func (w Workspace) normalized() Workspace {
	low := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	n := w
	n.Cloud, n.GUID, n.Name, n.Region = low(w.Cloud), low(w.GUID), low(w.Name), low(w.Region)
	if n.Cloud == "" {
		n.Cloud = DefaultCloud
	}
	n.APIIP, n.NotebooksIP = strings.TrimSpace(w.APIIP), strings.TrimSpace(w.NotebooksIP)
	n.InferenceIP = strings.TrimSpace(w.InferenceIP)
	n.NotebookFQDN = strings.TrimSuffix(low(w.NotebookFQDN), ".")
	n.Computes = mapStrings(w.Computes, low)
	n.Endpoints = mapStrings(w.Endpoints, low)
	n.Projects = make([]Project, len(w.Projects))
	for i, p := range w.Projects {
		n.Projects[i] = Project{GUID: low(p.GUID), Name: low(p.Name),
			URL: strings.TrimSpace(p.URL)}
	}
	n.FQDNs = make([]FQDNAddress, len(w.FQDNs))
	for i, f := range w.FQDNs {
		n.FQDNs[i] = FQDNAddress{FQDN: strings.TrimSuffix(low(f.FQDN), "."),
			IP: strings.TrimSpace(f.IP)}
	}
	return n
}

func mapStrings(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

// label returns a short description of w for error messages.
func (w Workspace) label() string {
	switch {
	case w.Name != "" && w.GUID != "":
		return fmt.Sprintf("workspace %s (%s)", w.Name, w.GUID)
	case w.GUID != "":
		return "workspace " + w.GUID
	case w.Name != "":
		return "workspace " + w.Name
	}
	return "workspace"
}

// Validate reports every problem of w at once, each naming the field and
// the value at fault, wrapped with the workspace's name or GUID.
func (w Workspace) Validate() error {
	n := w.normalized()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	_, err := LookupCloud(n.Cloud)
	add(err)
	add(checkGUID("guid", n.GUID))
	add(checkRegion(n.Region))
	add(checkName("name", n.Name))
	add(checkIP("api_ip", n.APIIP, true))
	add(checkIP("notebooks_ip", n.NotebooksIP, true))
	add(checkIP("inference_ip", n.InferenceIP, false))
	if len(n.Endpoints) > 0 && n.InferenceIP == "" {
		errs = append(errs, errors.New("endpoints need inference_ip"))
	}
	for _, c := range n.Computes {
		// The SSH name adds "-22" and must still fit in one label.
		add(checkLabel("compute", c, 63-len("-22")))
	}
	for _, e := range n.Endpoints {
		add(checkLabel("endpoint", e, 63))
	}
	if err == nil && n.Region != "" && n.GUID != "" {
		add(checkNotebooksFits(n.Name, n.Region, n.GUID))
	}
	for i, p := range n.Projects {
		if _, perr := p.resolve(n); perr != nil {
			errs = append(errs, fmt.Errorf("projects[%d]: %w", i, perr))
		}
	}
	for i, f := range n.FQDNs {
		if ferr := checkFQDNAddress(f); ferr != nil {
			errs = append(errs, fmt.Errorf("fqdns[%d]: %w", i, ferr))
		}
	}
	if n.NotebookFQDN != "" {
		add(checkFQDN("notebook_fqdn", n.NotebookFQDN))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", n.label(), errors.Join(errs...))
	}
	return nil
}

func checkGUID(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is missing", field)
	}
	if !guidRE.MatchString(s) {
		return fmt.Errorf("%s %q is not a GUID (want 8-4-4-4-12 hex digits)", field, s)
	}
	return nil
}

func checkRegion(s string) error {
	if s == "" {
		return errors.New("region is missing")
	}
	return checkLabel("region", s, 63)
}

func checkName(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is missing", field)
	}
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%s %q: only letters, digits, '-' and '_' fit in a DNS name, "+
			"starting with a letter or digit", field, s)
	}
	return nil
}

func checkLabel(field, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%s name is empty", field)
	}
	if !labelRE.MatchString(s) {
		return fmt.Errorf("%s %q: only letters, digits and '-' (not at either end) "+
			"fit in a DNS label", field, s)
	}
	if len(s) > max {
		return fmt.Errorf("%s %q is %d characters, more than the %d that fit",
			field, s, len(s), max)
	}
	return nil
}

func checkIP(field, s string, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s is missing", field)
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("%s %q is not an IP address", field, s)
	}
	return nil
}

func checkFQDN(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", field)
	}
	for i, l := range strings.Split(s, ".") {
		if i == 0 && l == "*" {
			continue
		}
		if !labelRE.MatchString(l) && !nameRE.MatchString(l) || len(l) > 63 {
			return fmt.Errorf("%s %q: label %q cannot be carried by DNS", field, s, l)
		}
	}
	return nil
}

func checkFQDNAddress(f FQDNAddress) error {
	if err := checkFQDN("fqdn", f.FQDN); err != nil {
		return err
	}
	return checkIP("ip of "+f.FQDN, f.IP, true)
}

// NotebooksLabel returns the first label of a workspace's notebooks name,
// ml-<name>-<region>-<guid>, with name cut from its end so that the label
// is at most NotebooksLabelBudget characters. Arguments must be lower case.
// It fails when not even one character of the name would remain.
func NotebooksLabel(name, region, guid string) (string, error) {
	fixed := len("ml-") + len("-") + len(region) + len("-") + len(guid)
	room := NotebooksLabelBudget - fixed
	if room < 1 {
		return "", fmt.Errorf("name %q truncates to nothing: region %q and the GUID "+
			"leave no room in the %d-character notebooks label",
			name, region, NotebooksLabelBudget)
	}
	if len(name) > room {
		name = name[:room]
	}
	return "ml-" + name + "-" + region + "-" + guid, nil
}

func checkNotebooksFits(name, region, guid string) error {
	if name == "" {
		return nil // reported as missing already
	}
	_, err := NotebooksLabel(name, region, guid)
	return err
}

// resolve returns p with GUID and Name filled in, reading them from the
// discovery URL when given. The hub h must be normalized.
func (p Project) resolve(h Workspace) (Project, error) {
	if p.URL != "" {
		u, err := ParseDiscoveryURL(p.URL)
		if err != nil {
			return Project{}, err
		}
		if p.GUID != "" && p.GUID != u.GUID {
			return Project{}, fmt.Errorf("guid %q differs from %q in url", p.GUID, u.GUID)
		}
		if u.Region != h.Region {
			return Project{}, fmt.Errorf("url %q is in region %q, the hub in %q",
				p.URL, u.Region, h.Region)
		}
		if u.Cloud != h.Cloud {
			return Project{}, fmt.Errorf("url %q is in cloud %q, the hub in %q",
				p.URL, u.Cloud, h.Cloud)
		}
		if p.Name == "" {
			p.Name = u.Name
		}
		p.GUID = u.GUID
	}
	if err := checkGUID("guid", p.GUID); err != nil {
		return Project{}, err
	}
	if err := checkName("name", p.Name); err != nil {
		return Project{}, fmt.Errorf("project %s: %w", p.GUID, err)
	}
	if err := checkNotebooksFits(p.Name, h.Region, p.GUID); err != nil {
		return Project{}, fmt.Errorf("project %s: %w", p.GUID, err)
	}
	return p, nil
}

// DiscoveryURL is what a project workspace's discovery URL tells.
type DiscoveryURL struct {
	// Cloud is the key of the cloud whose API zone the host is in.
	Cloud string
	// GUID is the workspace's identifier.
	GUID string
	// Region is the workspace's region.
	Region string
	// Name is the workspace name from the path's last
	// workspaces/<name> segment; empty when the path has none.
	Name string
}

// ParseDiscoveryURL reads a discovery URL of the form
// https://<guid>.workspace.<region>.<API zone>/mlflow/<version>/subscriptions/
// .../workspaces/<name>.
func ParseDiscoveryURL(raw string) (DiscoveryURL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return DiscoveryURL{}, fmt.Errorf("discovery url: %w", err)
	}
	host := strings.ToLower(u.Hostname())
	parts := strings.SplitN(host, ".", 4)
	if u.Scheme == "" || len(parts) < 4 || parts[1] != "workspace" {
		return DiscoveryURL{}, fmt.Errorf("discovery url %q: want the form "+
			"https://<guid>.workspace.<region>.<api zone>/<path>", raw)
	}
	d := DiscoveryURL{GUID: parts[0], Region: parts[2]}
	for _, k := range CloudKeys() {
		if parts[3] == clouds[k].APIZone {
			d.Cloud = k
		}
	}
	if d.Cloud == "" {
		return DiscoveryURL{}, fmt.Errorf("discovery url %q: %q is no cloud's API zone",
			raw, parts[3])
	}
	if err := checkGUID("guid", d.GUID); err != nil {
		return DiscoveryURL{}, fmt.Errorf("discovery url %q: %w", raw, err)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "workspaces") {
			d.Name = strings.ToLower(segs[i+1])
		}
	}
	return d, nil
}
