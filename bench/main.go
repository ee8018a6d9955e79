// Command bench drives a click-to-call server with simulated SIP phones and
// measures it; see package loadtest and docs/bench.md. The
// same tool is "clicktocall bench".
//
//	go run ./bench -start-server -mode refer -rate 1000 -duration 20s
package main

import (
	"os"

	"github.com/clicktocall/clicktocall/bench/loadtest"
)

func main() {
	os.Exit(loadtest.Main(os.Args[1:], os.Stdout, os.Stderr, loadtest.Hooks{}))
}
