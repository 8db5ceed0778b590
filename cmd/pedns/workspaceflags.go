package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/azureml"
)

// listFlag is a repeatable string flag.
type listFlag []string

// String shows the values given so far, for the flag package's help.
func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set adds one more value: each use of the flag appends.
func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// workspaceFlags are the flags that describe workspaces, shared by the
// commands that take a workspace (plan, doctor) so that each reads them
// the same way: single flags, -f FILE, or an import that flags complete.
type workspaceFlags struct {
	ws                     azureml.Workspace
	computes, endpoints    listFlag
	projects, projectURLs  listFlag
	file                   string
	fromNIC, fromPE, fromL string
}

// register adds the workspace flags to fs.
func (f *workspaceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ws.Cloud, "cloud", "", "cloud: public (default), china or usgov")
	fs.StringVar(&f.ws.GUID, "guid", "", "workspace GUID")
	fs.StringVar(&f.ws.Name, "name", "", "workspace name")
	fs.StringVar(&f.ws.Region, "region", "", "workspace region, e.g. eastus")
	fs.StringVar(&f.ws.APIIP, "api-ip", "", "private endpoint address for the API names")
	fs.StringVar(&f.ws.NotebooksIP, "notebooks-ip", "", "private endpoint address for notebooks")
	fs.StringVar(&f.ws.InferenceIP, "inference-ip", "", "private endpoint address for inference")
	fs.StringVar(&f.ws.NotebookFQDN, "notebook-fqdn", "",
		"the workspace's notebookInfo.fqdn; wins over the computed name")
	fs.BoolVar(&f.ws.NoSSHNames, "no-ssh-names", false, "leave out the <compute>-22 names")
	fs.Var(&f.computes, "compute", "compute instance `NAME` (repeatable)")
	fs.Var(&f.endpoints, "endpoint", "managed online endpoint `NAME` (repeatable)")
	fs.Var(&f.projects, "project", "hub project as `GUID:NAME` (repeatable)")
	fs.Var(&f.projectURLs, "project-url", "hub project's discovery `URL` (repeatable)")
	fs.StringVar(&f.file, "f", "", "YAML `FILE` with a workspaces: list")
	fs.StringVar(&f.fromNIC, "from-nic", "", "JSON `FILE` from az network nic show")
	fs.StringVar(&f.fromPE, "from-pe", "", "JSON `FILE` of Get-AzPrivateEndpoint CustomDnsConfigs")
	fs.StringVar(&f.fromL, "from-list", "", "text `FILE`: the portal's FQDN and IP list")
}

// check finds workspace flags that cannot mean anything together. cmd is
// the command's name, for the hint to its help.
func (f *workspaceFlags) check(cmd string) error {
	imports := 0
	for _, s := range []string{f.fromNIC, f.fromPE, f.fromL} {
		if s != "" {
			imports++
		}
	}
	if imports > 1 {
		return errors.New("give at most one of --from-nic, --from-pe, --from-list")
	}
	if f.file != "" && (imports > 0 || f.hasWorkspaceFlags()) {
		return errors.New("-f FILE describes whole workspaces; " +
			"do not mix it with workspace flags or imports")
	}
	if f.file == "" && imports == 0 && !f.hasWorkspaceFlags() {
		return fmt.Errorf("no workspace: give --guid, --name, --region and the "+
			"addresses, or -f FILE, or an import (see %s -h)", cmd)
	}
	return nil
}

func (f *workspaceFlags) hasWorkspaceFlags() bool {
	w := f.ws
	return w.Cloud != "" || w.GUID != "" || w.Name != "" || w.Region != "" ||
		w.APIIP != "" || w.NotebooksIP != "" || w.InferenceIP != "" ||
		w.NotebookFQDN != "" || len(f.computes) > 0 || len(f.endpoints) > 0 ||
		len(f.projects) > 0 || len(f.projectURLs) > 0
}

// workspaces returns the workspaces the command line describes.
func (f *workspaceFlags) workspaces() ([]azureml.Workspace, error) {
	if f.file != "" {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return nil, err
		}
		ws, err := parseWorkspacesFile(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.file, err)
		}
		return ws, nil
	}
	w := f.ws
	w.Computes, w.Endpoints = f.computes, f.endpoints
	for _, p := range f.projects {
		guid, name, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("--project %q: want GUID:NAME", p)
		}
		w.Projects = append(w.Projects, azureml.Project{GUID: guid, Name: name})
	}
	for _, u := range f.projectURLs {
		w.Projects = append(w.Projects, azureml.Project{URL: u})
	}
	imported, err := f.imported()
	if err != nil {
		return nil, err
	}
	if imported != nil {
		if w, err = mergeImported(*imported, w); err != nil {
			return nil, err
		}
	}
	return []azureml.Workspace{w}, nil
}

// imported reads the import file, if any, into a workspace.
func (f *workspaceFlags) imported() (*azureml.Workspace, error) {
	var (
		path  string
		parse func([]byte) ([]azureml.FQDNAddress, error)
	)
	switch {
	case f.fromNIC != "":
		path, parse = f.fromNIC, azureml.ParseNIC
	case f.fromPE != "":
		path, parse = f.fromPE, azureml.ParsePE
	case f.fromL != "":
		path, parse = f.fromL, func(b []byte) ([]azureml.FQDNAddress, error) {
			return azureml.ParseList(bytes.NewReader(b))
		}
	default:
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fqdns, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w, err := azureml.WorkspaceFromFQDNs(fqdns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &w, nil
}

// mergeImported completes the imported workspace with the flags. A flag
// that contradicts the import is an error; the name from flags replaces
// the (perhaps cut) name read from the notebooks FQDN.
func mergeImported(imp, flags azureml.Workspace) (azureml.Workspace, error) {
	w := imp
	pairs := []struct {
		flag     string
		dst, src *string
	}{
		{"--cloud", &w.Cloud, &flags.Cloud},
		{"--guid", &w.GUID, &flags.GUID},
		{"--region", &w.Region, &flags.Region},
		{"--api-ip", &w.APIIP, &flags.APIIP},
		{"--notebooks-ip", &w.NotebooksIP, &flags.NotebooksIP},
		{"--inference-ip", &w.InferenceIP, &flags.InferenceIP},
	}
	for _, p := range pairs {
		if *p.src == "" {
			continue
		}
		if *p.dst != "" && !strings.EqualFold(*p.dst, *p.src) {
			return azureml.Workspace{}, fmt.Errorf("%s %s contradicts the import, "+
				"which says %s", p.flag, *p.src, *p.dst)
		}
		*p.dst = *p.src
	}
	if flags.Name != "" {
		w.Name = flags.Name
	}
	w.NotebookFQDN = flags.NotebookFQDN
	w.NoSSHNames = flags.NoSSHNames
	w.Computes, w.Endpoints, w.Projects = flags.Computes, flags.Endpoints, flags.Projects
	return w, nil
}

// parseWorkspacesFile reads the workspaces list of a YAML file. Other
// top-level keys are allowed, so that a pedns configuration with a
// workspaces section can be given; keys inside a workspace must be known.
func parseWorkspacesFile(data []byte) ([]azureml.Workspace, error) {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	node, ok := top["workspaces"]
	if !ok {
		return nil, errors.New("no workspaces: list")
	}
	// Re-encode the section so that a strict decoder can reject unknown keys.
	section, err := yaml.Marshal(&node)
	if err != nil {
		return nil, err
	}
	var ws []azureml.Workspace
	dec := yaml.NewDecoder(bytes.NewReader(section))
	dec.KnownFields(true)
	if err := dec.Decode(&ws); err != nil {
		return nil, fmt.Errorf("workspaces: %w", err)
	}
	if len(ws) == 0 {
		return nil, errors.New("workspaces: list is empty")
	}
	return ws, nil
}
