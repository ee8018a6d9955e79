// Command clicktocall is the click-to-call server and its tools. With no
// subcommand (or "serve") it runs the server on ./config.hcl; "check",
// "translate", "import-config" and "version" help set it up. main stays thin:
// each subcommand is a function of its arguments and output streams, listed
// in the commands table.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clicktocall/clicktocall/config"
)

// defaultConfig is the file used when -config is not given.
const defaultConfig = "config.hcl"

// command is one subcommand: run gets the arguments after its name and
// returns the exit status (0 ok, 1 failure, 2 usage error).
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is the subcommand table; new tools (demo, bench) add a line here.
var commands = []command{
	{"serve", "run the server (the default)", func(args []string, _, _ io.Writer) int { return serve(args) }},
	{"check", "validate the configuration and print the effective settings", runCheck},
	{"translate", "show what the translation rules make of addresses", runTranslate},
	{"import-config", "convert an original clicktocall.config to config.hcl on stdout", runImportConfig},
	{"version", "print the version", runVersion},
	{"bench", "drive a server with simulated phones and measure it (docs/bench.md)", runBench},
	{"demo", "start the server and two simulated phones, place one call in each mode", runDemo},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch picks the subcommand; no name, or flags first, means serve.
func dispatch(args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(args, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "clicktocall: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: clicktocall [command] [flags] [arguments]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'clicktocall COMMAND -h' for a command's flags.")
}

// newFlagSet makes a subcommand's flag set that reports to stderr instead
// of exiting, so the subcommand can return its status.
func newFlagSet(name, argsUsage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: clicktocall %s [flags] %s\n", name, argsUsage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and returns the exit status to use when parsing
// stopped: 0 after -h, 2 after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (status int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// loadConfigFlags is the start of a subcommand that works on the
// configuration: it declares -config on fs (with the subcommand's own flags
// already declared), parses args, checks the number of arguments left with
// argsOK (nil: any number) and loads the configuration. When ok is false the
// subcommand returns status: 0 after -h, 2 after a bad flag or argument
// count (the usage printed), 1 when the configuration does not load (the
// error on stderr).
func loadConfigFlags(fs *flag.FlagSet, args []string, argsOK func(n int) bool, stderr io.Writer) (cfg *config.Config, status int, ok bool) {
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	if status, ok := parseFlags(fs, args); !ok {
		return nil, status, false
	}
	if argsOK != nil && !argsOK(fs.NArg()) {
		fs.Usage()
		return nil, 2, false
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1, false
	}
	return cfg, 0, true
}
