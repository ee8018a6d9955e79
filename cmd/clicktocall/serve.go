package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
)

// serve runs the server until SIGINT or SIGTERM. For now it loads the
// configuration, starts logging and logs the settings; starting the engine
// and the front ends comes here.
func serve(args []string) int {
	fs := newFlagSet("serve", "", os.Stderr)
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	if status, ok := parseFlags(fs, args); !ok {
		return status
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clicktocall: %v\n", err)
		return 1
	}
	log, closer, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clicktocall: %v\n", err)
		return 1
	}
	defer closer.Close()

	log.Info("starting", "version", versionString(), "config", cfg.File)
	for _, s := range cfg.Settings() {
		log.Info("setting", "key", s.Key, "value", s.Value)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("stopping", "reason", "signal")
	return 0
}
