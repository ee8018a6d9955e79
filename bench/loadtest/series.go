package loadtest

import (
	"sync"
	"time"

	"github.com/clicktocall/clicktocall/bench/procstat"
	"github.com/clicktocall/clicktocall/bench/stats"
)

// Series is a trial second by second, for the charts of the HTML report
// (-report): the calls by the second they were sent, and the server's CPU
// and memory as sampled while the trial ran.
type Series struct {
	Seconds []SecondStats `json:"seconds"`
	Server  []UsagePoint  `json:"server,omitempty"`
}

// SecondStats are the calls sent in one second of a trial (second 0 is the
// first): how many, how they ended, and the latencies of those that got
// that far, in milliseconds (0 when none did).
type SecondStats struct {
	Second      int     `json:"second"`
	Sent        int     `json:"sent"`
	OK          int     `json:"ok"`
	Failed      int     `json:"failed"`
	FinalP50MS  float64 `json:"final_p50_ms"`
	FinalP90MS  float64 `json:"final_p90_ms"`
	FinalP99MS  float64 `json:"final_p99_ms"`
	InviteP50MS float64 `json:"invite_p50_ms"`
	InviteP99MS float64 `json:"invite_p99_ms"`
}

// UsagePoint is the server process at one moment of a trial.
type UsagePoint struct {
	AtS    float64 `json:"at_s"`    // seconds since the trial's first request
	Cores  float64 `json:"cores"`   // CPU seconds per second since the previous point
	RSSMiB float64 `json:"rss_mib"` // resident set size
}

// seriesRecorder samples the server once a second during a trial.
type seriesRecorder struct {
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	usage []UsagePoint
}

// startSeries begins recording trial t, which has just started, when the
// run writes an HTML report (nil otherwise: finish then returns nil).
func (r *runner) startSeries(t *table) *seriesRecorder {
	if r.o.ReportFile == "" {
		return nil
	}
	return recordSeries(r.server, t.start)
}

// recordSeries samples server (nil: no process to sample, only the calls
// are recorded) once a second from start.
func recordSeries(server *procstat.Sampler, start time.Time) *seriesRecorder {
	s := &seriesRecorder{start: start, stop: make(chan struct{}), done: make(chan struct{})}
	if server == nil {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, _ := server.Now()
		lastAt := time.Now()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tick.C:
				u, _ := server.Now()
				p := UsagePoint{AtS: now.Sub(start).Seconds(), RSSMiB: float64(u.RSS) / mib}
				if d := now.Sub(lastAt).Seconds(); d > 0 {
					p.Cores = (u.CPU - last.CPU).Seconds() / d
				}
				last, lastAt = u, now
				s.mu.Lock()
				s.usage = append(s.usage, p)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// finish stops the sampling and sorts the trial's calls into seconds.
func (s *seriesRecorder) finish(t *table, sent int) *Series {
	if s == nil {
		return nil
	}
	select {
	case <-s.done:
	default:
		close(s.stop)
		<-s.done
	}
	out := &Series{Server: s.usage}
	type bucket struct {
		ok, failed, sent int
		final, invite    []time.Duration
	}
	var buckets []bucket
	for i := range sent {
		rec := &t.recs[i]
		at := rec.sent.Load()
		if at <= 0 {
			continue
		}
		k := int(time.Duration(at) / time.Second)
		for len(buckets) <= k {
			buckets = append(buckets, bucket{})
		}
		b := &buckets[k]
		b.sent++
		if t.failure(rec) == "" {
			b.ok++
		} else {
			b.failed++
		}
		end := rec.final.Load()
		if t.http {
			end = rec.connected.Load()
		}
		if end > 0 {
			b.final = append(b.final, time.Duration(end-at))
		}
		if inv := rec.invite.Load(); inv > 0 {
			b.invite = append(b.invite, time.Duration(inv-at))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for k, b := range buckets {
		f, inv := stats.Summarize(b.final), stats.Summarize(b.invite)
		out.Seconds = append(out.Seconds, SecondStats{Second: k, Sent: b.sent, OK: b.ok, Failed: b.failed,
			FinalP50MS: ms(f.P50), FinalP90MS: ms(f.P90), FinalP99MS: ms(f.P99),
			InviteP50MS: ms(inv.P50), InviteP99MS: ms(inv.P99)})
	}
	return out
}
