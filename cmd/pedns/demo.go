package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pedns/pedns/internal/azureml"
	"github.com/pedns/pedns/internal/demo"
)

func init() {
	commands["demo"] = command{
		summary: "run the article's DNS topologies on loopback, resolving a workspace " +
			"through each",
		run: runDemo,
	}
}

const demoUsage = `Usage: pedns demo [--cloud public|china|usgov] [--break CAUSE] [--keep]

Starts on loopback, in this one process, an emulator of Azure DNS with the
workspace's Private DNS zones linked to the hub network, a pedns server in
the hub forwarding the Azure Machine Learning zones to it, an on-premises
pedns server forwarding them to the hub, and a client's hosts file. It
resolves every name of the article's example workspace (or of -f FILE)
through each, prints the path of every answer and checks it against the
private endpoint address. See docs/DEMO.md.

Causes for --break:
%s
Exit status: 0 when every answer is the private address, 1 when any is
wrong (always so with --break) or the demo cannot start, 2 for a bad
command line.

Flags:
`

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pedns demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cloud := fs.String("cloud", "", "the article's example workspace in `CLOUD`: "+
		"public (default), china or usgov")
	cause := fs.String("break", "", "build in the misconfiguration `CAUSE` (see above)")
	keep := fs.Bool("keep", false, "leave the servers running after the check, "+
		"until SIGINT or SIGTERM, and print their addresses")
	file := fs.String("f", "", "YAML `FILE` with a workspaces: list, instead of the example")
	port := fs.Int("port", 0, "`PORT` for every server (default: a free one each)")
	verbose := fs.Bool("v", false, "print the servers' logs on stderr")
	fs.Usage = func() {
		var causes strings.Builder
		for _, c := range demo.Causes() {
			fmt.Fprintf(&causes, "  %-23s %s\n", c[0], c[1])
		}
		fmt.Fprintf(stderr, demoUsage, causes.String())
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	opts, code := demoOptions(*cloud, *cause, *file, *port, stderr)
	if code != exitOK {
		return code
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	topo, err := demo.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "pedns demo: %v\n", err)
		return exitFail
	}
	defer topo.Stop()

	writeTopology(stdout, topo)
	report := topo.Check(ctx)
	report.Write(stdout)
	code = exitOK
	if !report.OK() {
		code = exitFail
	}
	if *keep {
		writeServers(stdout, topo)
		<-ctx.Done()
	}
	return code
}

// demoOptions checks the flags that choose the topology.
func demoOptions(cloud, cause, file string, port int, stderr io.Writer) (demo.Options, int) {
	c, err := demo.ParseCause(cause)
	if err != nil {
		fmt.Fprintf(stderr, "pedns demo: --break: %v\n", err)
		return demo.Options{}, exitUsage
	}
	if _, err := azureml.LookupCloud(cloud); err != nil {
		fmt.Fprintf(stderr, "pedns demo: --cloud: %v\n", err)
		return demo.Options{}, exitUsage
	}
	if port < 0 || port > 65535 {
		fmt.Fprintf(stderr, "pedns demo: --port %d is not a port\n", port)
		return demo.Options{}, exitUsage
	}
	opts := demo.Options{Cloud: cloud, Break: c, Port: port}
	if file == "" {
		return opts, exitOK
	}
	if cloud != "" {
		fmt.Fprintln(stderr, "pedns demo: -f FILE names the clouds of its workspaces; "+
			"do not give --cloud too")
		return demo.Options{}, exitUsage
	}
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "pedns demo: %v\n", err)
		return demo.Options{}, exitFail
	}
	if opts.Workspaces, err = parseWorkspacesFile(data); err != nil {
		fmt.Fprintf(stderr, "pedns demo: %s: %v\n", file, err)
		return demo.Options{}, exitFail
	}
	return opts, exitOK
}

func writeTopology(w io.Writer, t *demo.Topology) {
	fmt.Fprintf(w, "pedns demo: the custom DNS article's topologies on loopback (cloud %s)\n",
		t.Cloud)
	if t.Break != demo.BreakNone {
		fmt.Fprintf(w, "Broken on purpose: %s\n", t.Break)
	}
	for _, a := range t.Architectures {
		hops := make([]string, len(a.Path))
		for i, h := range a.Path {
			hops[i] = h.Key
		}
		fmt.Fprintf(w, "  %-7s %s: client -> %s\n", a.Key, a.Title,
			strings.Join(hops, " -> "))
	}
}

// writeServers prints one line per server: key, address, role. Tests read
// these lines; keep their form.
func writeServers(w io.Writer, t *demo.Topology) {
	fmt.Fprintln(w, "\nServers (running until Ctrl-C):")
	for _, s := range t.Servers {
		fmt.Fprintf(w, "  %-13s %-21s %s\n", s.Key, s.Addr, s.Role)
	}
	if len(t.Names) > 0 {
		host, port := splitAddr(t.OnPrem)
		fmt.Fprintf(w, "\nTry:\n  dig @%s -p %s %s\n", host, port, t.Names[0].FQDN)
	}
}

func splitAddr(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, "53"
	}
	return addr[:i], addr[i+1:]
}
