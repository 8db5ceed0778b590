package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pedns/pedns/internal/config"
	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/metrics"
	"github.com/pedns/pedns/internal/ops"
)

func init() {
	commands["serve"] = command{
		summary: "run the DNS server (built-in virtual network configuration without -c)",
		run:     runServe,
	}
	commands["check"] = command{
		summary: "validate a configuration file; errors name file, line and field",
		run:     runCheck,
	}
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pedns serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration `FILE` (default: the built-in virtual network role)")
	printConfig := fs.Bool("print-config", false, "print the effective configuration and exit")
	resolvConf := fs.String("resolv-conf", "/etc/resolv.conf",
		"resolver `FILE` whose nameservers the built-in configuration forwards other names to")
	drain := fs.Duration("drain", 5*time.Second,
		"on shutdown, how long to wait for queries in flight")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}

	load := func() (*config.Loaded, error) {
		if *file != "" {
			return config.Load(*file)
		}
		l, warnings, err := config.Builtin(*resolvConf)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "pedns serve: warning: %s\n", w)
		}
		return l, err
	}
	if os.Getenv("GOGC") == "" {
		// Loading makes mostly garbage; tuneGC sets the pace for serving.
		debug.SetGCPercent(200)
	}
	l, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "pedns serve: %v\n", err)
		return exitFail
	}
	if *printConfig {
		shown := l.Config
		if shown.HTTP.Token != "" {
			shown.HTTP.Token = "(hidden)" // the answer may land in a ticket or a log
		}
		out, err := yaml.Marshal(shown)
		if err != nil {
			fmt.Fprintf(stderr, "pedns serve: encoding configuration: %v\n", err)
			return exitFail
		}
		stdout.Write(out)
		return exitOK
	}

	// The level is a variable so that a reload can change it.
	level := new(slog.LevelVar)
	setLevel(level, l.Log.Level)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The operations listener (metrics, probes, status page) exists only when
	// http.listen is set.
	var web *ops.Server
	var opts []dnsserver.Option
	reloadFailed := func() {}
	if l.HTTP.Listen != "" {
		m := metrics.New()
		web = ops.New(ops.Options{Listen: l.HTTP.Listen, Metrics: m, Log: log})
		opts = append(opts, dnsserver.WithObserver(web), dnsserver.WithForwardObserver(m))
		reloadFailed = m.ReloadFailed
	}
	srv := dnsserver.New(l, log, opts...)
	if err := srv.Listen(); err != nil {
		log.Error("cannot start", "error", err)
		return exitFail
	}
	if web != nil {
		web.Attach(srv)
		if err := web.Listen(); err != nil {
			srv.Close()
			log.Error("cannot start", "error", err)
			return exitFail
		}
		go func() {
			if err := web.Serve(); err != nil {
				log.Error("http listener failed", "error", err)
			}
		}()
		defer web.Close()
	}
	log.Info("configuration loaded", "summary", l.Summary())
	// Loading parsed every zone and hosts file: hand the garbage it left back
	// to the system now rather than hold it as resident memory.
	debug.FreeOSMemory()
	tuneGC()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Reloads come from SIGHUP and, with watch set, from changed files; one
	// goroutine runs them all, one at a time.
	changed := make(chan struct{}, 1)
	if every := l.Watch.D(); every > 0 && *file != "" {
		files := func() []string { return srv.State().Config.Files }
		go watchFiles(ctx, every, files, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(srv, load, log, level, reloadFailed)
			case <-changed:
				log.Info("configuration files changed: reloading")
				reload(srv, load, log, level, reloadFailed)
			}
		}
	}()

	if err := srv.Serve(ctx, *drain); err != nil {
		log.Error("serving failed", "error", err)
		return exitFail
	}
	return exitOK
}

// reload loads the configuration again and swaps it in; a configuration that
// does not load leaves the running one in place and is counted by failed.
func reload(srv *dnsserver.Server, load func() (*config.Loaded, error), log *slog.Logger,
	level *slog.LevelVar, failed func()) {

	l, err := load()
	if err != nil {
		failed()
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				log.Error("reload refused, keeping the running configuration", "error", e)
			}
		} else {
			log.Error("reload refused, keeping the running configuration", "error", err)
		}
		return
	}
	old := srv.State().Config
	srv.Reload(l)
	setLevel(level, l.Log.Level)
	if old.HTTP.Listen != l.HTTP.Listen || old.Watch != l.Watch {
		log.Warn("http.listen and watch change only on restart: still running with "+
			"those of the start", "file", l.File)
	}
	log.Info("configuration reloaded", "summary", l.Summary())
	debug.FreeOSMemory() // the old configuration's data is garbage now
	tuneGC()
}

// largeHeap is the live heap past which the collector goes back to Go's
// default pace.
const largeHeap = 64 << 20

// tuneGC sets how much garbage may build up before a collection, from the live
// heap just measured (call it after a collection, as debug.FreeOSMemory does).
// Cache hits and local answers allocate nothing, so the collector works only
// for the queries that take the full path: with the small heap of a common
// configuration, their garbage may build to three times the live heap
// (GOGC 200: 8 % less CPU per miss in docs/PERFORMANCE.md's bench, a few MB
// more at peak). With large zones loaded (over 64 MB live), Go's default of
// twice the live heap already leaves a lot of room, and three times would
// cost hundreds of MB. GOGC, when set, decides instead.
func tuneGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > largeHeap {
		debug.SetGCPercent(100)
	} else {
		debug.SetGCPercent(200)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	v := new(slog.LevelVar)
	setLevel(v, level)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: v}))
}

// setLevel sets the logging level by name; config.Load has checked the name.
func setLevel(v *slog.LevelVar, name string) {
	var lv slog.Level
	lv.UnmarshalText([]byte(name))
	v.Set(lv)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pedns check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration `FILE` to check")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *file == "" && fs.NArg() == 1 {
		*file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pedns check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *file == "" {
		fmt.Fprintln(stderr, "pedns check: give the configuration file with -c FILE")
		return exitUsage
	}

	l, err := config.Load(*file)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
		} else {
			fmt.Fprintf(stderr, "pedns check: %v\n", err)
		}
		return exitFail
	}
	fmt.Fprintln(stdout, l.Summary())
	return exitOK
}
