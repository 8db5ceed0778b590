package azureml

import (
	"bytes"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestWorkspaceYAMLKeys decodes every key of a workspace strictly, as the
// server's configuration and pedns plan -f do.
func TestWorkspaceYAMLKeys(t *testing.T) {
	const doc = `
- cloud: usgov
  guid: 52882c08-ead2-44aa-af65-08a75cf094bd
  name: mype-pltest
  region: usgovvirginia
  api_ip: 10.1.0.5
  notebooks_ip: 10.1.0.6
  inference_ip: 10.1.0.7
  computes: [ci1]
  no_ssh_names: true
  endpoints: [ep1]
  projects:
    - {guid: 11111111-2222-3333-4444-555555555555, name: p1}
    - {url: "https://x"}
  notebook_fqdn: ml-x.usgovvirginia.notebooks.usgovcloudapi.net
  fqdns:
    - {fqdn: a.example.net, ip: 10.1.0.9}
`
	want := []Workspace{{
		Cloud: "usgov", GUID: "52882c08-ead2-44aa-af65-08a75cf094bd", Name: "mype-pltest",
		Region: "usgovvirginia", APIIP: "10.1.0.5", NotebooksIP: "10.1.0.6",
		InferenceIP: "10.1.0.7", Computes: []string{"ci1"}, NoSSHNames: true,
		Endpoints: []string{"ep1"},
		Projects: []Project{{GUID: "11111111-2222-3333-4444-555555555555", Name: "p1"},
			{URL: "https://x"}},
		NotebookFQDN: "ml-x.usgovvirginia.notebooks.usgovcloudapi.net",
		FQDNs:        []FQDNAddress{{FQDN: "a.example.net", IP: "10.1.0.9"}},
	}}
	var got []Workspace
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
	}
}
