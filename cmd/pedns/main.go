// Command pedns is a DNS server and toolkit for networks that reach Azure services,
// Azure Machine Learning first, through Private Link.
//
// Each subcommand lives in its own file of this package and has the signature of
// command.run: it parses its own flags, writes its answer to stdout and everything
// else to stderr, and returns the process exit status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand of pedns.
type command struct {
	// summary is the one line shown by "pedns help".
	summary string
	// run executes the subcommand with the arguments after its name.
	run func(args []string, stdout, stderr io.Writer) int
}

// commands maps each subcommand name to its implementation. Files of this package
// register themselves here from init functions so that adding a subcommand touches
// only its own file.
var commands = map[string]command{}

// Exit statuses shared by every subcommand.
const (
	exitOK    = 0 // success
	exitFail  = 1 // the command ran and found a problem (bad config, failed check)
	exitUsage = 2 // the command line itself was wrong
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return exitOK
	}

	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "pedns: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "pedns: a DNS server and toolkit for Azure Private Link")
	fmt.Fprintln(w, "\nUsage: pedns COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'pedns COMMAND -h' for the flags of one command.")
}

// parseFlags parses a subcommand's flags and refuses positional arguments. ok
// is false when the command must stop, with code its exit status: 0 when
// help was asked for, exitUsage otherwise (the flag package or this function
// has said why on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		return flagExit(err), false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

// flagExit is the exit status for a flag parse error: 0 when help was asked
// for, 2 otherwise (the flag package has printed the usage).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
