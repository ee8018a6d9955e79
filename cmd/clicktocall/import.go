package main

import (
	"fmt"
	"io"
	"os"

	"github.com/clicktocall/clicktocall/config"
)

// runImportConfig converts an original clicktocall.config to config.hcl
// text on stdout; skipped settings are reported on stderr.
func runImportConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import-config", "FILE", stderr)
	if status, ok := parseFlags(fs, args); !ok {
		return status
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "import-config: %v\n", err)
		return 1
	}
	out, warnings, err := config.ImportOriginal(src, path)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "import-config: %v\n", err)
		return 1
	}
	return 0
}
