package main

import (
	"fmt"
	"io"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
)

// runCheck validates the configuration and prints every effective setting,
// one "key = value" per line; errors go to stderr with exit status 1.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "", stderr)
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	if status, ok := parseFlags(fs, args); !ok {
		return status
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// The config package validates the level name; this catches a mismatch with logging's table.
	if _, _, err := logging.ParseLevel(cfg.Log.Level); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s is valid; effective settings:\n", cfg.File)
	for _, s := range cfg.Settings() {
		fmt.Fprintf(stdout, "%s = %s\n", s.Key, s.Value)
	}
	if len(cfg.Translation) == 0 {
		fmt.Fprintln(stdout, "# no translation rules: every address will be refused")
	}
	return 0
}
