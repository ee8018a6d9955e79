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
	cfg, status, ok := loadConfigFlags(fs, args, func(n int) bool { return n > 0 }, stderr)
	if !ok {
		return status
	}
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
