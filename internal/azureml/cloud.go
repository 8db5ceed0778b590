// Package azureml models the DNS names of Azure Machine Learning workspaces
// reached through Private Link: the clouds and their zones, the names of one
// workspace and the addresses they resolve to, the Private Link names Azure
// maps them to, the records of the Private DNS zones, and the zones a custom
// DNS server must forward. It knows nothing of sockets; the exporters and the
// server both consume it.
//
// The facts come from the Azure Machine Learning article on custom DNS
// servers, restated in the project's SPEC.md sections 1 to 5.
package azureml

import (
	"fmt"
	"sort"
	"strings"
)

// AzureDNS is the Azure DNS virtual server, the only resolver that answers
// from the Private DNS zones linked to a virtual network.
const AzureDNS = "168.63.129.16"

// NotebookContentZone serves notebook content in every cloud. The virtual
// network role forwards it; the article leaves it out of the on-premises
// forwarder list, and so does ForwardZones.
const NotebookContentZone = "aznbcontent.net"

// Cloud is one Azure cloud and the public zones of Azure Machine Learning in
// it. All zone names are lower case, without a trailing dot.
type Cloud struct {
	// Key is the name used in flags and configuration: public, china, usgov.
	Key string
	// Title is the cloud's name for people.
	Title string
	// APIZone holds the workspace API names, e.g. api.azureml.ms.
	APIZone string
	// NotebooksZone holds the notebooks names, e.g. notebooks.azure.net.
	NotebooksZone string
	// InstancesZones holds the compute instance names. The first entry is
	// the spelling of the article; newer documentation adds a second one
	// in some clouds, and a deployment may meet either.
	InstancesZones []string
	// InferenceZone holds the managed online endpoint names.
	InferenceZone string
}

var clouds = map[string]Cloud{
	"public": {
		Key:            "public",
		Title:          "Azure public cloud",
		APIZone:        "api.azureml.ms",
		NotebooksZone:  "notebooks.azure.net",
		InstancesZones: []string{"instances.azureml.ms", "instances.ml.azure.ms"},
		InferenceZone:  "inference.ml.azure.com",
	},
	"china": {
		Key:            "china",
		Title:          "Microsoft Azure operated by 21Vianet",
		APIZone:        "api.ml.azure.cn",
		NotebooksZone:  "notebooks.chinacloudapi.cn",
		InstancesZones: []string{"instances.azureml.cn"},
		InferenceZone:  "inference.ml.azure.cn",
	},
	"usgov": {
		Key:            "usgov",
		Title:          "Azure US Government",
		APIZone:        "api.ml.azure.us",
		NotebooksZone:  "notebooks.usgovcloudapi.net",
		InstancesZones: []string{"instances.azureml.us", "instances.ml.azure.us"},
		InferenceZone:  "inference.ml.azure.us",
	},
}

// DefaultCloud is the cloud of a workspace that names none.
const DefaultCloud = "public"

// LookupCloud returns the cloud with the given key; an empty key means
// DefaultCloud.
func LookupCloud(key string) (Cloud, error) {
	k := strings.ToLower(strings.TrimSpace(key))
	if k == "" {
		k = DefaultCloud
	}
	c, ok := clouds[k]
	if !ok {
		return Cloud{}, fmt.Errorf("unknown cloud %q (want one of %s)",
			key, strings.Join(CloudKeys(), ", "))
	}
	return c, nil
}

// CloudKeys returns the keys of all known clouds, sorted.
func CloudKeys() []string {
	keys := make([]string, 0, len(clouds))
	for k := range clouds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PrivateAPIZone is the Private Link zone of the API names, e.g.
// privatelink.api.azureml.ms. It also holds the inference wildcard records.
func (c Cloud) PrivateAPIZone() string { return "privatelink." + c.APIZone }

// PrivateNotebooksZone is the Private Link zone of the notebooks names, e.g.
// privatelink.notebooks.azure.net.
func (c Cloud) PrivateNotebooksZone() string {
	return "privatelink." + c.NotebooksZone
}

// PrivateZones returns the two Private DNS zones a workspace's private
// endpoint registers its records in.
func (c Cloud) PrivateZones() []string {
	return []string{c.PrivateAPIZone(), c.PrivateNotebooksZone()}
}

// Role says where a DNS server stands and so what it forwards to.
type Role string

// The two architectures of the article (SPEC.md section 4).
const (
	// RoleVNet is the DNS server inside a virtual network: it forwards the
	// Azure Machine Learning zones to AzureDNS.
	RoleVNet Role = "vnet"
	// RoleOnPrem is the on-premises DNS server: it cannot reach AzureDNS,
	// so it forwards the zones to the DNS server in the virtual network.
	RoleOnPrem Role = "onprem"
)

// ParseRole checks a role name; an empty name means RoleVNet.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case "":
		return RoleVNet, nil
	case RoleVNet, RoleOnPrem:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want vnet or onprem)", s)
}

// ForwardZones returns the public zones that a DNS server of the given role
// must forward for this cloud: the API, notebooks, instances (every
// spelling) and inference zones, plus NotebookContentZone in the virtual
// network role only, as the article lists them. Missing any one of them
// makes a workspace flip between its public and private addresses.
func (c Cloud) ForwardZones(role Role) []string {
	zones := []string{c.APIZone, c.NotebooksZone}
	zones = append(zones, c.InstancesZones...)
	zones = append(zones, c.InferenceZone)
	if role != RoleOnPrem {
		zones = append(zones, NotebookContentZone)
	}
	return zones
}

// cloudOfName returns the cloud whose zones hold fqdn, if any.
func cloudOfName(fqdn string) (Cloud, bool) {
	for _, k := range CloudKeys() {
		c := clouds[k]
		zones := append([]string{c.APIZone, c.NotebooksZone, c.InferenceZone},
			c.InstancesZones...)
		for _, z := range zones {
			if strings.HasSuffix(fqdn, "."+z) {
				return c, true
			}
		}
	}
	return Cloud{}, false
}
