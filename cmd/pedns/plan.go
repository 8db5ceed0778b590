package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/export"
)

func init() {
	commands["plan"] = command{
		summary: "a workspace's FQDNs, IPs, Private Link zones and forwarders, in many formats",
		run:     runPlan,
	}
}

// planFlags are the command line of pedns plan.
type planFlags struct {
	workspaceFlags
	format, role, outDir string
	dnsServers           listFlag
	listen, allow        listFlag
}

func newPlanFlagSet(f *planFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pedns plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.workspaceFlags.register(fs)
	fs.StringVar(&f.format, "o", "table", "output `FORMAT`: "+formatNames())
	fs.StringVar(&f.outDir, "out", "", "write the files into `DIR` instead of stdout")
	fs.StringVar(&f.role, "role", "vnet", "forwarders for the vnet or onprem DNS server")
	fs.Var(&f.dnsServers, "dns-server", "virtual network DNS server `IP` that the onprem role "+
		"forwards to (repeatable)")
	fs.Var(&f.listen, "listen", "pedns format: listen `ADDR` (repeatable)")
	fs.Var(&f.allow, "allow", "pedns format: client `CIDR` (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, planUsage)
		fs.PrintDefaults()
	}
	return fs
}

const planUsage = `Usage: pedns plan [flags]

Prints every FQDN an Azure Machine Learning workspace needs, the address it
resolves to, its Private Link name, the Private Link zone records and the
zones to forward, in the format chosen with -o. The workspace comes from
flags, from -f FILE (several workspaces), or from an import of what Azure
reports (--from-nic, --from-pe, --from-list), which flags may complete.

Formats that write several files (bind) print each after a "==> NAME <=="
line, or write them into --out DIR.

Exit status: 0 on success, 1 when the input is wrong, 2 for a bad command line.

Flags:
`

func formatNames() string {
	var names []string
	for _, f := range export.Formats() {
		names = append(names, f[0])
	}
	return strings.Join(names, ", ")
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	var f planFlags
	fs := newPlanFlagSet(&f, stderr)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if err := f.checkUsage(); err != nil {
		fmt.Fprintf(stderr, "pedns plan: %v\n", err)
		return exitUsage
	}
	ws, err := f.workspaces()
	if err != nil {
		fmt.Fprintf(stderr, "pedns plan: %v\n", err)
		return exitFail
	}
	plan, err := azureml.BuildPlan(ws, azureml.Options{
		Role: azureml.Role(f.role), DNSServers: f.dnsServers})
	if err != nil {
		fmt.Fprintf(stderr, "pedns plan: %v\n", err)
		return exitFail
	}
	files, err := export.Render(f.format, plan, export.Options{Listen: f.listen, Allow: f.allow})
	if err != nil {
		fmt.Fprintf(stderr, "pedns plan: %v\n", err)
		return exitFail
	}
	if f.outDir != "" {
		err = export.WriteDir(f.outDir, files)
	} else {
		err = export.WriteStream(stdout, files)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pedns plan: writing output: %v\n", err)
		return exitFail
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(stderr, "pedns plan: note: %s\n", n)
	}
	return exitOK
}

// checkUsage finds command lines that cannot mean anything.
func (f *planFlags) checkUsage() error {
	if _, err := azureml.ParseRole(f.role); err != nil {
		return err
	}
	known := false
	for _, nf := range export.Formats() {
		known = known || nf[0] == f.format
	}
	if !known {
		return fmt.Errorf("unknown format %q (want one of %s)", f.format, formatNames())
	}
	return f.workspaceFlags.check("pedns plan")
}
