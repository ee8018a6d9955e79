package loadtest

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/clicktocall/clicktocall/bench/procstat"
	"github.com/clicktocall/clicktocall/bench/stats"
)

// Soak mode: a trial of soakMinimum or longer prints a line a minute (the
// calls that ended in it, their latency to the final, the server's CPU and
// RSS) and ends with the slope of the server's RSS after the warm-up, which
// says whether memory is flat over a long run.

// soakMinimum is the shortest -duration that gets the minute lines.
const soakMinimum = 2 * time.Minute

// rssEvery is how often the RSS is sampled for the slope.
const rssEvery = 5 * time.Second

// MinuteStat is one minute of a soak.
type MinuteStat struct {
	Minute       int           `json:"minute"` // 1 for the first
	OK           int64         `json:"ok"`
	Failed       int64         `json:"failed"`
	Refused      int64         `json:"refused"`
	FinalP50     time.Duration `json:"to_final_p50_ns"`
	FinalP99     time.Duration `json:"to_final_p99_ns"`
	ServerCores  float64       `json:"server_cores,omitempty"`
	ServerRSSMiB float64       `json:"server_rss_mib,omitempty"`
}

// RSSSlope is the least-squares trend of the server's RSS after the warm-up.
type RSSSlope struct {
	WarmupS     float64 `json:"warmup_s"`
	Samples     int     `json:"samples"`
	MeanMiB     float64 `json:"mean_mib"`
	MiBPerMin   float64 `json:"mib_per_min"`
	PctPer10Min float64 `json:"pct_per_10min"` // of the mean
}

// soakLog collects a trial's minutes and RSS samples; only the progress
// goroutine writes it, and the trial reads it once that has ended.
type soakLog struct {
	minutes []MinuteStat
	rss     []rssSample
	// counters at the start of the current minute
	ok, failed, refused int64
	cpu                 time.Duration
	at                  time.Time
}

type rssSample struct {
	at  time.Duration // since the trial's start
	mib float64
}

// minute closes minute n (from 1) of the trial at now and prints its line.
func (s *soakLog) minute(w io.Writer, n int, t *table, server *procstat.Sampler, now time.Time) {
	ok, failed, refused := t.succeeded.Load(), t.failedNow.Load(), t.refusedNow.Load()
	m := MinuteStat{Minute: n, OK: ok - s.ok, Failed: failed - s.failed, Refused: refused - s.refused}
	s.ok, s.failed, s.refused = ok, failed, refused
	from, to := t.since(s.at), t.since(now)
	var finals []time.Duration
	sent := int(t.sent.Load())
	for i := range min(sent, len(t.recs)) {
		r := &t.recs[i]
		at := r.final.Load()
		if t.http {
			at = r.connected.Load()
		}
		if at >= from && at < to && at > 0 && !r.refused.Load() {
			if s := r.sent.Load(); s > 0 {
				finals = append(finals, time.Duration(at-s))
			}
		}
	}
	sum := stats.Summarize(finals)
	m.FinalP50, m.FinalP99 = sum.P50, sum.P99
	line := fmt.Sprintf("  minute %3d: %d ok, %d failed, %d refused | to the final p50 %s p99 %s",
		n, m.OK, m.Failed, m.Refused, ms(m.FinalP50), ms(m.FinalP99))
	if server != nil {
		u, _ := server.Now()
		m.ServerCores = (u.CPU - s.cpu).Seconds() / now.Sub(s.at).Seconds()
		m.ServerRSSMiB = float64(u.RSS) / mib
		s.cpu = u.CPU
		line += fmt.Sprintf(" | server %.2f cores, RSS %.0f MiB", m.ServerCores, m.ServerRSSMiB)
	}
	s.at = now
	s.minutes = append(s.minutes, m)
	fmt.Fprintln(w, line)
}

// slope fits the RSS samples taken at or after warmup and before end; nil
// with fewer than a minute of them.
func (s *soakLog) slope(warmup, end time.Duration) *RSSSlope {
	var xs, ys []float64
	for _, r := range s.rss {
		if r.at >= warmup && r.at <= end {
			xs = append(xs, r.at.Minutes())
			ys = append(ys, r.mib)
		}
	}
	if len(xs) < int(time.Minute/rssEvery) {
		return nil
	}
	k, mean := leastSquares(xs, ys)
	out := &RSSSlope{WarmupS: warmup.Seconds(), Samples: len(xs), MeanMiB: mean, MiBPerMin: k}
	if mean > 0 {
		out.PctPer10Min = 100 * 10 * k / mean
	}
	return out
}

// leastSquares returns the slope of the line fitted to the points and the
// mean of ys.
func leastSquares(xs, ys []float64) (slope, meanY float64) {
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0, my
	}
	return sxy / sxx, my
}

func (s *RSSSlope) String() string {
	sign := "+"
	if s.MiBPerMin < 0 || math.Signbit(s.MiBPerMin) {
		sign = ""
	}
	return fmt.Sprintf("%s%.2f MiB/min (%s%.2f %% per 10 min of the mean %.0f MiB), %d samples after a %v warm-up",
		sign, s.MiBPerMin, sign, s.PctPer10Min, s.MeanMiB, s.Samples, time.Duration(s.WarmupS*float64(time.Second)))
}
