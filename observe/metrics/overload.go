package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Overload registers the gauges of the engine's overload protection, read
// at each scrape from read (the engine's Overload): the lag measured,
// the rate new calls are admitted at (+Inf while nothing is shed) and the
// share of new requests admitted lately. Nothing is registered while the
// protection is off.
func (m *Metrics) Overload(read func() (lag time.Duration, limit, admitted float64, ok bool)) {
	if _, _, _, ok := read(); !ok {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clicktocall_overload_lag_seconds",
			Help: "The lag overload protection acted on in the last control period (100 ms): the larger of how late the server handled what arrived (the least lateness of its own SIP probes and timers in the period) and the peers' excess delay.",
		}, func() float64 { lag, _, _, _ := read(); return lag.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clicktocall_admission_limit_calls_per_second",
			Help: "The rate overload protection admits new calls at; +Inf while it sheds nothing.",
		}, func() float64 { _, limit, _, _ := read(); return limit }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clicktocall_admission_ratio",
			Help: "The share of new requests overload protection admitted over the last seconds (1 while it sheds nothing).",
		}, func() float64 { _, _, admitted, _ := read(); return admitted }),
	)
}

// PeerDelay registers clicktocall_overload_peer_delay_seconds, read at each
// scrape from read (the engine's PeerDelay).
func (m *Metrics) PeerDelay(read func() time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "clicktocall_overload_peer_delay_seconds",
		Help: "How much later than usual the SIP peers answered the server's requests in the last reading: the 90th percentile of their answers' delay over each peer's usual delay, less its usual value. Overload protection sheds on it as on its own lag (limits.peer_delay_target).",
	}, func() float64 { return read().Seconds() }))
}

// Retransmissions registers clicktocall_sip_retransmissions_total, read at
// each scrape from count (the transport's Retransmissions).
func (m *Metrics) Retransmissions(count func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "clicktocall_sip_retransmissions_total",
		Help: "SIP messages the server sent again: requests retransmitted by their transaction (Timers A, E), answers and ACKs repeated for a peer's retransmission, 2xx to re-INVITEs resent until their ACK.",
	}, func() float64 { return float64(count()) }))
}
