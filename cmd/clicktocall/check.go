package main

import (
	"fmt"
	"io"

	"github.com/clicktocall/clicktocall/config/logging"
)

// runCheck validates the configuration and prints every effective setting,
// one "key = value" per line; errors go to stderr with exit status 1.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "", stderr)
	cfg, status, ok := loadConfigFlags(fs, args, func(n int) bool { return n == 0 }, stderr)
	if !ok {
		return status
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
