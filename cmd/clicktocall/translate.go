package main

import (
	"fmt"
	"io"

	"github.com/clicktocall/clicktocall/config"
)

// runTranslate prints "ADDRESS -> URI" for each address, or "ADDRESS: "
// followed by the error the front ends would answer; exit 1 if any failed.
func runTranslate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("translate", "ADDRESS...", stderr)
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	if status, ok := parseFlags(fs, args); !ok {
		return status
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	status := 0
	for _, address := range fs.Args() {
		uri, err := config.Translate(cfg.Translation, address)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", address, err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s -> %s\n", address, uri)
	}
	return status
}
