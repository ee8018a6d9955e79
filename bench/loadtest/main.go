// Package loadtest is the bench tool: it starts simulated SIP phones on
// loopback (package phone), drives a click-to-call server over its XML or
// HTTP interface at a fixed rate or in an RFC 7502-style search for the
// highest rate with no failed call, judges every call by its XML results
// and by what the phones saw, measures latencies and the server's CPU and
// memory, and prints tables and JSON. It needs nothing of the server but
// its addresses and translation rules that pass sip: URIs through, so it
// can measure other implementations of the seed's interfaces too.
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the bench with command-line args and returns the exit status:
// 0 when every trial passed (a search: when some rate passed; an A/B
// search: when some rate of each binary passed), 1 when calls failed or
// the run could not be done, 2 for bad flags.
func Main(args []string, stdout, stderr io.Writer, hooks Hooks) int {
	o, err := parseOptions(args, stderr, hooks)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, o, hooks, stderr)
	if res != nil {
		WriteReport(stdout, res)
		if o.JSONFile != "" {
			if jerr := writeJSON(o.JSONFile, res); jerr != nil {
				fmt.Fprintln(stderr, "bench:", jerr)
				return 1
			}
		}
		if o.ReportFile != "" {
			if rerr := WriteHTMLReportFile(o.ReportFile, res); rerr != nil {
				fmt.Fprintln(stderr, "bench:", rerr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if res.AB != nil {
		if !abPassed(res) {
			return 1
		}
		return 0
	}
	if res.Search != nil {
		if res.Search.Best == 0 {
			return 1
		}
		return 0
	}
	for _, t := range res.Trials {
		if !t.Pass {
			return 1
		}
	}
	return 0
}

func writeJSON(path string, res *Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
