package metrics

import (
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// Sample is one tick of the live statistics the console charts: the rates
// over the interval that ended At, read from the Prometheus counters, and
// the calls in progress at At.
type Sample struct {
	Seq uint64    `json:"seq"` // 1 for the first sample since the server started
	At  time.Time `json:"at"`
	// Requests per second: admitted, refused at a limit or while shutting
	// down (429, 503), and refused as bad requests (400, 413, ...).
	Admitted float64 `json:"admitted"`
	Refused  float64 `json:"refused"`
	Invalid  float64 `json:"invalid"`
	Active   int     `json:"active"` // calls in progress
	// Final results per second, by how the call ended.
	Connected float64 `json:"connected"`
	Failed    float64 `json:"failed"`
	Cancelled float64 `json:"cancelled"`
	// FailedByCode splits Failed (and Cancelled) by the final's SIP code:
	// {"486": 2.0, "408": 1.0}. Empty when none failed.
	FailedByCode map[string]float64 `json:"failed_by_code"`
	// ConnectP50 and ConnectP99 estimate, in seconds, the time from
	// admitting a request to its connected final over the interval, from
	// the buckets of clicktocall_request_to_final_seconds; nil when no call
	// connected in it.
	ConnectP50 *float64 `json:"connect_p50_s"`
	ConnectP99 *float64 `json:"connect_p99_s"`
	// SIP messages per second, received and sent.
	SIPIn  float64 `json:"sip_in"`
	SIPOut float64 `json:"sip_out"`
}

// Live samples the counters every interval and keeps the last samples,
// for the console's stats stream (/api/v1/stats/events). It reads what
// the Metrics already count; nothing is added to the calls' path.
type Live struct {
	m      *Metrics
	active func() int
	keep   int

	mu     sync.Mutex
	past   []Sample // a circle of at most keep samples, oldest at start
	start  int
	seq    uint64
	prev   totals
	prevAt time.Time
	subs   map[*Follow]struct{}

	stop chan struct{}
	done chan struct{}
}

// totals are the counters a sample is the difference of.
type totals struct {
	admitted, refused, invalid   float64
	connected, failed, cancelled float64
	sipIn, sipOut                float64
	failedByCode                 map[string]float64
	connectBuckets               []float64 // cumulative counts
	connectBounds                []float64 // upper bounds
}

// StartLive starts sampling m every interval (a second for the console),
// keeping the last keep samples; activeCalls gives the calls in progress
// (the engine's ActiveCalls; nil: 0). Close stops it.
func StartLive(m *Metrics, activeCalls func() int, interval time.Duration, keep int) *Live {
	if activeCalls == nil {
		activeCalls = func() int { return 0 }
	}
	l := &Live{m: m, active: activeCalls, keep: max(keep, 1), subs: map[*Follow]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	l.prev, l.prevAt = m.totals(), time.Now()
	go l.run(interval)
	return l
}

func (l *Live) run(interval time.Duration) {
	defer close(l.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-tick.C:
			l.Tick(now)
		}
	}
}

// Close stops the sampling and ends every Follow.
func (l *Live) Close() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for f := range l.subs {
		delete(l.subs, f)
		close(f.c)
	}
}

// Tick takes a sample now, as the interval timer does; tests call it to
// step time themselves.
func (l *Live) Tick(now time.Time) Sample {
	cur := l.m.totals()
	l.mu.Lock()
	defer l.mu.Unlock()
	secs := now.Sub(l.prevAt).Seconds()
	if secs <= 0 {
		secs = 1
	}
	rate := func(a, b float64) float64 { return max(a-b, 0) / secs }
	p, c := l.prev, cur
	l.seq++
	s := Sample{Seq: l.seq, At: now.UTC(), Active: l.active(),
		Admitted: rate(c.admitted, p.admitted), Refused: rate(c.refused, p.refused), Invalid: rate(c.invalid, p.invalid),
		Connected: rate(c.connected, p.connected), Failed: rate(c.failed, p.failed), Cancelled: rate(c.cancelled, p.cancelled),
		SIPIn: rate(c.sipIn, p.sipIn), SIPOut: rate(c.sipOut, p.sipOut), FailedByCode: map[string]float64{}}
	for code, n := range c.failedByCode {
		if d := rate(n, p.failedByCode[code]); d > 0 {
			s.FailedByCode[code] = d
		}
	}
	// Before the first connected call the series does not exist: all zero.
	if before := p.connectBuckets; len(c.connectBuckets) > 0 && (len(before) == 0 || len(before) == len(c.connectBuckets)) {
		delta := make([]float64, len(c.connectBuckets))
		for i := range delta {
			delta[i] = c.connectBuckets[i]
			if len(before) > 0 {
				delta[i] -= before[i]
			}
		}
		s.ConnectP50 = quantile(0.5, c.connectBounds, delta)
		s.ConnectP99 = quantile(0.99, c.connectBounds, delta)
	}
	l.prev, l.prevAt = cur, now
	if len(l.past) < l.keep {
		l.past = append(l.past, s)
	} else {
		l.past[l.start] = s
		l.start = (l.start + 1) % l.keep
	}
	for f := range l.subs {
		select {
		case f.c <- s:
		default:
			f.missed++ // a slow reader loses samples, never slows the sampler
		}
	}
	return s
}

// Follow is one reader of the samples: Past are those kept when it began,
// oldest first, then C gets each new one until Stop (or Close, which closes C).
type Follow struct {
	Past   []Sample
	C      <-chan Sample
	c      chan Sample
	l      *Live
	missed int
}

// Follow starts following the samples.
func (l *Live) Follow() *Follow {
	c := make(chan Sample, 8)
	f := &Follow{C: c, c: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	f.Past = make([]Sample, 0, len(l.past))
	f.Past = append(f.Past, l.past[l.start:]...)
	f.Past = append(f.Past, l.past[:l.start]...)
	select {
	case <-l.stop:
		close(c)
	default:
		l.subs[f] = struct{}{}
	}
	return f
}

// Stop ends the follow.
func (f *Follow) Stop() {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if _, ok := f.l.subs[f]; ok {
		delete(f.l.subs, f)
		close(f.c)
	}
}

// totals reads the counters a Sample is made of.
func (m *Metrics) totals() totals {
	t := totals{failedByCode: map[string]float64{}}
	each(m.requests, func(labels map[string]string, mt *dto.Metric) {
		v := mt.GetCounter().GetValue()
		switch labels["outcome"] {
		case OutcomeAccepted:
			t.admitted += v
		case OutcomeRefused:
			t.refused += v
		case OutcomeBadRequest:
			t.invalid += v
		}
	})
	each(m.toFinal, func(labels map[string]string, mt *dto.Metric) {
		h := mt.GetHistogram()
		n := float64(h.GetSampleCount())
		switch labels["outcome"] {
		case "connected":
			t.connected += n
			for _, b := range h.GetBucket() {
				t.connectBounds = append(t.connectBounds, b.GetUpperBound())
				t.connectBuckets = append(t.connectBuckets, float64(b.GetCumulativeCount()))
			}
			t.connectBounds = append(t.connectBounds, math.Inf(1))
			t.connectBuckets = append(t.connectBuckets, n)
		case "cancelled":
			t.cancelled += n
		default:
			t.failed += n
		}
	})
	each(m.results, func(labels map[string]string, mt *dto.Metric) {
		if code, err := strconv.Atoi(labels["code"]); err == nil && rfc3261.Failure(code) {
			t.failedByCode[labels["code"]] += mt.GetCounter().GetValue()
		}
	})
	each(m.sipMessages, func(labels map[string]string, mt *dto.Metric) {
		if labels["direction"] == "in" {
			t.sipIn += mt.GetCounter().GetValue()
		} else {
			t.sipOut += mt.GetCounter().GetValue()
		}
	})
	return t
}

// each calls f with the labels and value of every series of c.
func each(c prometheus.Collector, f func(labels map[string]string, m *dto.Metric)) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for pm := range ch {
		var mt dto.Metric
		if pm.Write(&mt) != nil {
			continue
		}
		labels := make(map[string]string, len(mt.GetLabel()))
		for _, lp := range mt.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		f(labels, &mt)
	}
}

// quantile estimates the q-quantile of observations counted in buckets
// (cumulative counts at or below each upper bound, the last bound +Inf) as
// Prometheus's histogram_quantile does: linear within the bucket the rank
// falls in, the highest finite bound when it falls in the +Inf bucket. nil
// for no observations.
func quantile(q float64, bounds, cumulative []float64) *float64 {
	if len(cumulative) == 0 || cumulative[len(cumulative)-1] <= 0 {
		return nil
	}
	rank := q * cumulative[len(cumulative)-1]
	i := sort.Search(len(cumulative), func(i int) bool { return cumulative[i] >= rank })
	i = min(i, len(cumulative)-1)
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bounds[i-1], cumulative[i-1]
	}
	if math.IsInf(bounds[i], 1) {
		return &lower
	}
	v := bounds[i]
	if in := cumulative[i] - below; in > 0 {
		v = lower + (bounds[i]-lower)*(rank-below)/in
	}
	return &v
}
