// Package metrics counts what the server does, for Prometheus: requests by
// interface and outcome, rejections by reason, calls active, results by code
// and leg, REFER outcomes and fallbacks, set-up latencies, SIP messages and
// status callbacks. It follows the call journal (a cdr.Follower), wraps the
// engine as the front ends see it (Starter) to count admissions, and is told
// by the front ends about requests they refuse themselves (Rejected).
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// Request outcomes (label outcome of clicktocall_requests_total): accepted,
// or a refused request's ending's Outcome. The reason label of
// clicktocall_rejections_total is that ending's MetricsLabel.
const (
	OutcomeAccepted   = "accepted" // the engine started the call
	OutcomeBadRequest = actors.OutcomeBadRequest
	OutcomeRefused    = actors.OutcomeRefused
	OutcomeError      = actors.OutcomeError
)

// Metrics holds the collectors, registered on their own registry together
// with the Go runtime and process collectors.
type Metrics struct {
	reg *prometheus.Registry

	requests       *prometheus.CounterVec
	rejections     *prometheus.CounterVec
	results        *prometheus.CounterVec
	referOutcomes  *prometheus.CounterVec
	toInvite       prometheus.Histogram
	toAnswer       prometheus.Histogram
	toFinal        *prometheus.HistogramVec
	sipMessages    *prometheus.CounterVec
	sipCounters    seriesCache // of sipMessages
	requestSeries  seriesCache // of requests
	rejectSeries   seriesCache // of rejections
	resultCounters sync.Map    // resultKey -> prometheus.Counter
	callbacks      *prometheus.CounterVec
}

// setupBuckets span a machine answering at once to a person picking up late.
var setupBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120}

// New creates the metrics. activeCalls, when not nil, is read at each scrape
// for clicktocall_calls_active (the engine's ActiveCalls).
func New(activeCalls func() int) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clicktocall_requests_total",
			Help: "Click-to-call requests by interface (http, xml, api) and outcome (accepted, bad_request, refused, error).",
		}, []string{"interface", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clicktocall_rejections_total",
			Help: "Requests not accepted, by interface and reason.",
		}, []string{"interface", "reason"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clicktocall_results_total",
			Help: "Call results reported, by code and leg (Initiator, Destination, or empty).",
		}, []string{"code", "leg"}),
		referOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clicktocall_refer_outcomes_total",
			Help: "Unanchored calls by what became of their REFER: transferred, failed, timeout, cancelled, or fallback (refused or unanswered, then anchored).",
		}, []string{"outcome"}),
		toInvite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clicktocall_request_to_invite_seconds",
			Help:    "Time from admitting a request to sending the initiator INVITE.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		toAnswer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clicktocall_request_to_initiator_answer_seconds",
			Help:    "Time from admitting a request to the initiator's answer (200 Initiator).",
			Buckets: setupBuckets,
		}),
		toFinal: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clicktocall_request_to_final_seconds",
			Help:    "Time from admitting a request to its final result, by outcome (connected, failed, cancelled).",
			Buckets: setupBuckets,
		}, []string{"outcome"}),
		sipMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clicktocall_sip_messages_total",
			Help: "SIP messages by direction (in, out) and kind (the request method, or the response class such as 2xx).",
		}, []string{"direction", "kind"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clicktocall_status_callbacks_total",
			Help: "Status callback deliveries by outcome (delivered, retried, failed, dropped).",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.rejections, m.results, m.referOutcomes,
		m.toInvite, m.toAnswer, m.toFinal, m.sipMessages, m.callbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if activeCalls != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clicktocall_calls_active",
			Help: "Calls in progress (admitted and not yet ended), including connected anchored calls.",
		}, func() float64 { return float64(activeCalls()) }))
	}
	return m
}

// Registry is where the collectors are registered, for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus text exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// CallResult counts a result and observes the set-up latencies; see
// cdr.Follower.
func (m *Metrics) CallResult(c cdr.Call, p actors.Progress) {
	m.resultCounter(p.Code, p.Leg).Inc()
	since := p.At.Sub(c.StartedAt()).Seconds()
	switch {
	case p.Answered() && p.Leg == actors.LegInitiator:
		m.toAnswer.Observe(since)
	case p.Final():
		end := p.End()
		m.toFinal.WithLabelValues(end.MetricsLabel()).Observe(since)
		if c.Mode == actors.ModeRefer && p.Leg == actors.LegDestination {
			m.referOutcomes.WithLabelValues(end.ReferOutcome()).Inc()
		}
	}
}

// resultCounter is the clicktocall_results_total series of a code and
// leg, resolved once: codes are SIP status codes (100..699), so the set is
// bounded.
func (m *Metrics) resultCounter(code int, leg actors.Leg) prometheus.Counter {
	key := resultKey{code, leg}
	if c, ok := m.resultCounters.Load(key); ok {
		return c.(prometheus.Counter)
	}
	c := m.results.WithLabelValues(strconv.Itoa(code), leg.String())
	m.resultCounters.Store(key, c)
	return c
}

type resultKey struct {
	code int
	leg  actors.Leg
}

// CallFallback counts a REFER refused or unanswered; see cdr.Follower.
func (m *Metrics) CallFallback(cdr.Call) {
	m.referOutcomes.WithLabelValues("fallback").Inc()
}

// CallInviteSent observes the request→INVITE latency; see cdr.InviteFollower.
func (m *Metrics) CallInviteSent(c cdr.Call) {
	m.toInvite.Observe(c.InviteAt.Sub(c.StartedAt()).Seconds())
}

// Rejected counts a request a front end refused before asking the engine.
func (m *Metrics) Rejected(iface string, e actors.Ending) {
	m.rejectSeries.of(m.rejections, iface, e.MetricsLabel()).Inc()
	m.requestSeries.of(m.requests, iface, e.Outcome()).Inc()
}

// SIPMessage counts a SIP message; kind is the method of a request or the
// status class ("2xx") of a response.
func (m *Metrics) SIPMessage(direction, kind string) {
	m.sipCounters.of(m.sipMessages, direction, kind).Inc()
}

// seriesCache keeps the series of a counter with two labels once resolved:
// SIPMessage runs for every message and the request counters for every
// request (thousands a second of refusals under overload), and hashing the
// labels each time was a measurable share of a call's CPU. The label
// values come from fixed sets, so the cache stays small.
type seriesCache struct{ m sync.Map } // [2]string -> prometheus.Counter

func (c *seriesCache) of(vec *prometheus.CounterVec, a, b string) prometheus.Counter {
	key := [2]string{a, b}
	if s, ok := c.m.Load(key); ok {
		return s.(prometheus.Counter)
	}
	s := vec.WithLabelValues(a, b)
	c.m.Store(key, s)
	return s
}

// StatusCallback counts a status callback delivery outcome.
func (m *Metrics) StatusCallback(outcome string) {
	m.callbacks.WithLabelValues(outcome).Inc()
}

// Starter wraps the engine so every StartCall is counted: accepted, or
// refused with the engine's reason. The interface is the request's Origin.
func (m *Metrics) Starter(next actors.CallStarter) actors.CallStarter {
	return starter{next: next, m: m}
}

type starter struct {
	next actors.CallStarter
	m    *Metrics
}

func (s starter) StartCall(req actors.CallRequest, onProgress func(actors.Progress)) (string, error) {
	id, err := s.next.StartCall(req, onProgress)
	if err == nil {
		s.m.requestSeries.of(s.m.requests, req.Origin, OutcomeAccepted).Inc()
		return id, nil
	}
	ending := actors.EndStartFailed
	var r *actors.Refusal
	if errors.As(err, &r) {
		ending = r.Ending
	}
	s.m.Rejected(req.Origin, ending)
	return id, err
}
