package main

import (
	"io"
	"os"

	"github.com/clicktocall/clicktocall/bench/loadtest"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
)

// runBench is "clicktocall bench": the bench tool (package loadtest, also
// "go run ./bench"), which from this binary can also run the server in
// process (-start-server -inproc) and profile it.
func runBench(args []string, stdout, stderr io.Writer) int {
	hooks := loadtest.Hooks{StartInProcess: startInProcess}
	if self, err := os.Executable(); err == nil {
		hooks.ServerBin = self
	}
	return loadtest.Main(args, stdout, stderr, hooks)
}

// startInProcess runs the server on configFile in this process, as serve
// does, and returns the function that shuts it down.
func startInProcess(configFile string) (func() error, error) {
	cfg, err := config.Load(configFile)
	if err != nil {
		return nil, err
	}
	log, closer, err := logging.New(cfg.Log)
	if err != nil {
		return nil, err
	}
	srv, err := start(cfg, log)
	if err != nil {
		closer.Close()
		return nil, err
	}
	return func() error {
		defer closer.Close()
		return srv.shutdown(cfg.ShutdownTimeout)
	}, nil
}
