package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/clicktocall/clicktocall/actors/cdr"
	"github.com/clicktocall/clicktocall/actors/metrics"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
)

// observability is what watches the calls: the call journal (the engine's
// Observer, read by the JSON API) with its CDR file, and the metrics.
type observability struct {
	journal *cdr.Journal
	metrics *metrics.Metrics
	records *logging.RotatingFile // nil without cdr.file
}

// newObservability opens the CDR file, if any; activeCalls feeds
// clicktocall_calls_active.
func newObservability(cfg *config.Config, log *slog.Logger, activeCalls func() int) (*observability, error) {
	o := &observability{metrics: metrics.New(activeCalls)}
	var records io.Writer
	if cfg.CDR.File != "" {
		f, err := logging.OpenRotatingFile(cfg.CDR.File, cfg.CDR.MaxLines)
		if err != nil {
			return nil, fmt.Errorf("cdr file: %w", err)
		}
		o.records, records = f, f
	}
	o.journal = cdr.New(cdr.Options{Retention: cfg.API.CallRetention, MaxFinished: cfg.API.MaxFinishedCalls,
		Records: records, Followers: []cdr.Follower{o.metrics}, Logger: log})
	return o, nil
}

// close writes the CDRs still queued and closes the file.
func (o *observability) close() error {
	o.journal.Close()
	if o.records != nil {
		return o.records.Close()
	}
	return nil
}
