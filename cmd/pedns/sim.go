package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/pedns/pedns/internal/azuresim"
)

func init() {
	commands["sim"] = command{
		summary: "emulate the Azure DNS virtual server: Private DNS zones linked to networks",
		run:     runSim,
	}
}

const simUsage = `Usage: pedns sim -c FILE

Emulates the Azure DNS virtual server (168.63.129.16) on the addresses of
FILE: public workspace names answer with a CNAME into Private Link names,
which resolve privately only for networks linked to their Private DNS zone.
It runs until SIGTERM or SIGINT. See examples/sim.yaml and docs/DEMO.md.

Exit status: 0 after a signal, 1 when the configuration is wrong or an
address cannot be bound, 2 for a bad command line.

Flags:
`

func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pedns sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "sim configuration `FILE` (required)")
	fs.Usage = func() {
		fmt.Fprint(stderr, simUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *file == "" {
		fmt.Fprintln(stderr, "pedns sim: give the configuration file with -c FILE")
		return exitUsage
	}
	cfg, err := azuresim.LoadConfig(*file)
	if err != nil {
		fmt.Fprintf(stderr, "pedns sim: %v\n", err)
		return exitFail
	}
	log := newLogger(stderr, cfg.Log.Level)
	sim, err := azuresim.New(cfg, azuresim.Options{Log: log, LogQueries: cfg.Log.Queries})
	if err != nil {
		fmt.Fprintf(stderr, "pedns sim: %v\n", err)
		return exitFail
	}
	if err := sim.Listen(); err != nil {
		log.Error("cannot start", "error", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := sim.Serve(ctx); err != nil {
		log.Error("serving failed", "error", err)
		return exitFail
	}
	return exitOK
}
