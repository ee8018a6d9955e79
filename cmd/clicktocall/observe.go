package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
	"github.com/clicktocall/clicktocall/observe/cdr"
	"github.com/clicktocall/clicktocall/observe/metrics"
	"github.com/clicktocall/clicktocall/observe/siptrace"
)

// observability is what watches the calls: the call journal (the engine's
// Observer, read by the JSON API) with its CDR file, the metrics, the live
// statistics sampled from them for the console, and the calls' SIP traces.
type observability struct {
	journal *cdr.Journal
	metrics *metrics.Metrics
	records *logging.RotatingFile // nil without cdr.file
	traces  *siptrace.Ring        // nil with api.trace_calls = 0
	live    *metrics.Live         // nil until startLive (HTTP on)
}

// newObservability opens the CDR file, if any; activeCalls feeds
// clicktocall_calls_active.
func newObservability(cfg *config.Config, log *slog.Logger, activeCalls func() int) (*observability, error) {
	o := &observability{metrics: metrics.New(activeCalls), traces: siptrace.New(cfg.API.TraceCalls)}
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

// tracer is the engine's CallTracer: the traces, or none.
func (o *observability) tracer() actors.CallTracer {
	if o.traces == nil {
		return nil
	}
	return o.traces
}

// startLive samples the metrics every second for the console's charts,
// keeping 15 minutes.
func (o *observability) startLive(activeCalls func() int) {
	o.live = metrics.StartLive(o.metrics, activeCalls, time.Second, 15*60)
}

// close stops the sampling, writes the CDRs still queued and closes the file.
func (o *observability) close() error {
	if o.live != nil {
		o.live.Close()
	}
	o.journal.Close()
	if o.records != nil {
		return o.records.Close()
	}
	return nil
}
