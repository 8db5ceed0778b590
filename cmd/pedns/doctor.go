package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/doctor"
)

func init() {
	commands["doctor"] = command{
		summary: "resolve every workspace FQDN, follow the chain, name the cause of failures",
		run:     runDoctor,
	}
}

// defaultResolvConf is the resolver configuration whose nameservers doctor
// asks when no --server is given: what the machine's programs really use.
const defaultResolvConf = "/etc/resolv.conf"

// doctorFlags are the command line of pedns doctor.
type doctorFlags struct {
	workspaceFlags
	servers    listFlag
	resolvConf string
	timeout    time.Duration
	syntax     string
	role       string
	dnsServers listFlag
	output     string
}

const doctorUsage = `Usage: pedns doctor [flags]

Looks up every FQDN of an Azure Machine Learning workspace (A and AAAA,
recursion desired, UDP then TCP on truncation) through the DNS servers
given with --server, or else through the nameservers of --resolv-conf.
Follows each answer's CNAME chain and sorts it into a class:

  OK                    resolves to the private endpoint address
  NO-CNAME              right address, but without the Private Link name (warning)
  PUBLIC                resolves to a public address
  WRONG-PRIVATE         a private address, not this endpoint's
  NXDOMAIN-PRIVATELINK  the Private Link name does not exist
  NXDOMAIN-PUBLIC       the public name does not exist
  SERVFAIL              the server answered with a failure
  UNREACHABLE           no answer before --timeout

Each failure is mapped to the article's causes, with the fix written in the
syntax of --syntax. With both --server and --resolv-conf, the machine's
resolver is compared with the DNS server: different answers mean the
machine does not use the DNS server. A wildcard name is checked through a
probe name under its Private Link name.

The workspace comes from flags, -f FILE or an import, as for pedns plan.

Exit status: 0 when every name resolves to its private endpoint (warnings
allowed), 1 when any does not or the input is wrong, 2 for a bad command
line.

Flags:
`

func newDoctorFlagSet(f *doctorFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pedns doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.workspaceFlags.register(fs)
	fs.Var(&f.servers, "server", "DNS server to ask, `HOST[:PORT]` (repeatable)")
	fs.StringVar(&f.resolvConf, "resolv-conf", defaultResolvConf,
		"resolver `FILE` whose nameservers are the machine's resolver")
	fs.DurationVar(&f.timeout, "timeout", doctor.DefaultTimeout, "deadline of each query")
	fs.StringVar(&f.syntax, "syntax", "pedns", "syntax of the fix lines: "+
		strings.Join(doctor.Syntaxes(), ", "))
	fs.StringVar(&f.role, "role", "vnet", "where the DNS server stands: vnet or onprem")
	fs.Var(&f.dnsServers, "dns-server", "virtual network DNS server `IP` the onprem "+
		"role forwards to, for the fix lines (repeatable)")
	fs.StringVar(&f.output, "o", "text", "output `FORMAT`: text or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		fs.PrintDefaults()
	}
	return fs
}

func runDoctor(args []string, stdout, stderr io.Writer) int {
	var f doctorFlags
	fs := newDoctorFlagSet(&f, stderr)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	resolvSet := false
	fs.Visit(func(fl *flag.Flag) { resolvSet = resolvSet || fl.Name == "resolv-conf" })
	opt, err := f.options(resolvSet)
	if err != nil {
		fmt.Fprintf(stderr, "pedns doctor: %v\n", err)
		return exitUsage
	}
	if opt.Workspaces, err = f.workspaces(); err != nil {
		fmt.Fprintf(stderr, "pedns doctor: %v\n", err)
		return exitFail
	}
	if f.servers == nil || resolvSet {
		machine, err := doctor.ReadResolvConf(f.resolvConf)
		if err != nil {
			fmt.Fprintf(stderr, "pedns doctor: %v\n", err)
			return exitFail
		}
		if len(machine) == 0 {
			fmt.Fprintf(stderr, "pedns doctor: %s names no nameserver\n", f.resolvConf)
			return exitFail
		}
		opt.Servers = append(opt.Servers, machine...)
	}
	rep, err := doctor.Run(context.Background(), opt)
	if err != nil {
		fmt.Fprintf(stderr, "pedns doctor: %v\n", err)
		return exitFail
	}
	if f.output == "json" {
		err = doctor.WriteJSON(stdout, rep)
	} else {
		err = doctor.WriteText(stdout, rep, isTerminal(stdout))
	}
	if err != nil {
		fmt.Fprintf(stderr, "pedns doctor: writing the report: %v\n", err)
		return exitFail
	}
	if !rep.Healthy() {
		return exitFail
	}
	return exitOK
}

// options checks the flags that are not about the workspace and turns them
// into doctor options; the named servers come first.
func (f *doctorFlags) options(resolvSet bool) (doctor.Options, error) {
	opt := doctor.Options{Timeout: f.timeout, Syntax: f.syntax, DNSServers: f.dnsServers}
	if err := f.workspaceFlags.check("pedns doctor"); err != nil {
		return opt, err
	}
	if f.output != "text" && f.output != "json" {
		return opt, fmt.Errorf("unknown output format %q (want text or json)", f.output)
	}
	if f.timeout <= 0 {
		return opt, fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	found := false
	for _, s := range doctor.Syntaxes() {
		found = found || s == f.syntax
	}
	if !found {
		return opt, fmt.Errorf("unknown syntax %q (want one of %s)", f.syntax,
			strings.Join(doctor.Syntaxes(), ", "))
	}
	role, err := azureml.ParseRole(f.role)
	if err != nil {
		return opt, err
	}
	opt.Role = role
	for _, s := range f.servers {
		addr, err := doctor.ServerAddr(s)
		if err != nil {
			return opt, fmt.Errorf("--server: %w", err)
		}
		opt.Servers = append(opt.Servers, doctor.Server{Addr: addr,
			Source: doctor.SourceServer})
	}
	return opt, nil
}

// isTerminal reports whether w is a terminal that colour suits: not when
// NO_COLOR is set (no-color.org) or TERM is dumb.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
