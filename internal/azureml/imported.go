package azureml

import (
	"fmt"
	"strings"
)

// classified is what the shape of a name tells about it.
type classified struct {
	purpose Purpose
	guid    string // workspace GUID, for API, cert and notebooks names
	region  string
	label   string // compute or endpoint name, or notebooks label
}

// classify reads the purpose of a lower-case FQDN in cloud c from its shape.
func classify(c Cloud, fqdn string) classified {
	other := classified{purpose: PurposeOther}
	if rest, ok := strings.CutSuffix(fqdn, "."+c.APIZone); ok {
		parts := strings.Split(rest, ".")
		if len(parts) < 3 || parts[1] != "workspace" || !guidRE.MatchString(parts[0]) {
			return other
		}
		cl := classified{guid: parts[0], region: parts[2]}
		switch {
		case len(parts) == 3:
			cl.purpose = PurposeAPI
		case len(parts) == 4 && parts[3] == "cert":
			cl.purpose = PurposeCert
		default:
			return other
		}
		return cl
	}
	if rest, ok := strings.CutSuffix(fqdn, "."+c.NotebooksZone); ok {
		label, region, ok := strings.Cut(rest, ".")
		guidStart := len(label) - 36
		if !ok || strings.Contains(region, ".") || guidStart < 0 ||
			!guidRE.MatchString(label[guidStart:]) {
			return other
		}
		return classified{purpose: PurposeNotebooks, guid: label[guidStart:],
			region: region, label: label}
	}
	zones := append([]string{c.InferenceZone}, c.InstancesZones...)
	for i, z := range zones {
		rest, ok := strings.CutSuffix(fqdn, "."+z)
		if !ok {
			continue
		}
		label, region, ok := strings.Cut(rest, ".")
		if !ok || strings.Contains(region, ".") {
			return other
		}
		cl := classified{region: region, label: label}
		switch {
		case i > 0:
			cl.purpose = PurposeCompute
		case label == "*":
			cl.purpose = PurposeInference
		default:
			cl.purpose = PurposeEndpoint
		}
		return cl
	}
	return other
}

// privateLinkOf returns the Private Link name of fqdn in the workspace n.
func privateLinkOf(c Cloud, n Workspace, fqdn string, cl classified) string {
	switch cl.purpose {
	case PurposeAPI, PurposeCert:
		return strings.TrimSuffix(fqdn, c.APIZone) + c.PrivateAPIZone()
	case PurposeNotebooks:
		return strings.TrimSuffix(fqdn, c.NotebooksZone) + c.PrivateNotebooksZone()
	case PurposeEndpoint, PurposeInference:
		return cl.label + "." + n.GUID + ".inference." + cl.region + "." + c.PrivateAPIZone()
	}
	return ""
}

// singleton reports whether a workspace has exactly one name of purpose p.
func singleton(p Purpose) bool {
	return p == PurposeAPI || p == PurposeCert || p == PurposeNotebooks ||
		p == PurposeInference
}

// applyImported lets the names Azure reported win over the computed ones.
// A reported name replaces the computed name of the same purpose and
// workspace (or the same FQDN); each difference is told in a note. Reported
// names of no computed counterpart are added.
func (n Workspace) applyImported(c Cloud, names []Name) ([]Name, []string) {
	reported := append([]FQDNAddress(nil), n.FQDNs...)
	if n.NotebookFQDN != "" {
		reported = append(reported, FQDNAddress{FQDN: n.NotebookFQDN, IP: n.NotebooksIP})
	}
	var notes []string
	replaced := map[int]bool{}
	for _, r := range reported {
		cl := classify(c, r.FQDN)
		i := findName(names, n.GUID, r.FQDN, cl)
		if i >= 0 && replaced[i] && names[i].FQDN == r.FQDN && names[i].IP == r.IP {
			continue // the same name reported twice
		}
		nm := Name{FQDN: r.FQDN, IP: r.IP, Purpose: cl.purpose, Imported: true,
			PrivateLink: privateLinkOf(c, n, r.FQDN, cl), Workspace: n.GUID, Label: cl.label}
		if cl.guid != "" {
			nm.Workspace = cl.guid
		}
		if i < 0 || replaced[i] {
			names = append(names, nm)
			replaced[len(names)-1] = true
			continue
		}
		old := names[i]
		if old.FQDN != nm.FQDN {
			notes = append(notes, fmt.Sprintf("%s: Azure reports %s where pedns "+
				"computed %s; using Azure's name", old.Purpose, nm.FQDN, old.FQDN))
		}
		if old.IP != nm.IP {
			notes = append(notes, fmt.Sprintf("%s: Azure reports %s where the "+
				"workspace says %s; using Azure's address", nm.FQDN, nm.IP, old.IP))
		}
		nm.Label = old.Label
		names[i] = nm
		replaced[i] = true
	}
	return names, notes
}

// findName returns the index of the computed name a reported one stands
// for, or -1.
func findName(names []Name, hub, fqdn string, cl classified) int {
	for i, nm := range names {
		if nm.FQDN == fqdn {
			return i
		}
	}
	if !singleton(cl.purpose) {
		return -1
	}
	owner := cl.guid
	if owner == "" {
		owner = hub // the inference wildcard carries no GUID
	}
	for i, nm := range names {
		if nm.Purpose == cl.purpose && nm.Workspace == owner {
			return i
		}
	}
	return -1
}

// WorkspaceFromFQDNs fills a workspace from the names and addresses Azure
// reported for its private endpoint: cloud, GUID and region from the API
// name, the API, notebooks and inference addresses, the workspace name as
// far as the notebooks name shows it (perhaps cut), and FQDNs itself.
// Fields the names do not show stay empty for flags to fill; Validate
// reports what is still missing. Names of two workspaces, or of two clouds,
// are an error.
func WorkspaceFromFQDNs(fqdns []FQDNAddress) (Workspace, error) {
	var w Workspace
	for _, f := range fqdns {
		f.FQDN = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(f.FQDN)), ".")
		f.IP = strings.TrimSpace(f.IP)
		w.FQDNs = append(w.FQDNs, f)
		c, ok := cloudOfName(f.FQDN)
		if !ok {
			continue
		}
		if w.Cloud != "" && w.Cloud != c.Key {
			return Workspace{}, fmt.Errorf("%s is in cloud %s, earlier names in %s",
				f.FQDN, c.Key, w.Cloud)
		}
		w.Cloud = c.Key
		if err := fillFrom(&w, c, f); err != nil {
			return Workspace{}, err
		}
	}
	return w, nil
}

func fillFrom(w *Workspace, c Cloud, f FQDNAddress) error {
	cl := classify(c, f.FQDN)
	set := func(field *string, v, what string) error {
		if *field != "" && *field != v {
			return fmt.Errorf("%s: %s %s differs from %s seen before", f.FQDN, what, v, *field)
		}
		*field = v
		return nil
	}
	switch cl.purpose {
	case PurposeAPI, PurposeCert:
		if err := set(&w.GUID, cl.guid, "workspace GUID"); err != nil {
			return fmt.Errorf("names of two workspaces in one import: %w", err)
		}
		if err := set(&w.Region, cl.region, "region"); err != nil {
			return err
		}
		if cl.purpose == PurposeAPI {
			return set(&w.APIIP, f.IP, "address")
		}
	case PurposeNotebooks:
		if w.NotebooksIP == "" {
			w.NotebooksIP = f.IP
		}
		prefix, suffix := "ml-", "-"+cl.region+"-"+cl.guid
		if w.Name == "" && strings.HasPrefix(cl.label, prefix) &&
			strings.HasSuffix(cl.label, suffix) {
			w.Name = cl.label[len(prefix) : len(cl.label)-len(suffix)]
		}
	case PurposeInference, PurposeEndpoint:
		if w.InferenceIP == "" {
			w.InferenceIP = f.IP
		}
	}
	return nil
}
