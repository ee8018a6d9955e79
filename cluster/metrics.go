package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// clusterMetrics are the cluster's Prometheus collectors.
type clusterMetrics struct {
	members     prometheus.Gauge
	lookups     *prometheus.CounterVec   // by what was asked and outcome
	latency     *prometheus.HistogramVec // by what was asked
	misses      prometheus.Counter
	unavailable *prometheus.CounterVec
	lost        prometheus.Counter
}

func newClusterMetrics(reg prometheus.Registerer) *clusterMetrics {
	m := &clusterMetrics{
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clicktocall_cluster_members",
			Help: "Members of the cluster this node sees, itself included."}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clicktocall_cluster_requests_total",
			Help: "Requests to other nodes and grains, by what was asked (ctc-call, ctc-request, ctc-initiator, owner) and outcome (ok, error)."},
			[]string{"kind", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clicktocall_cluster_request_seconds",
			Help:    "Time a request to another node or a grain took, by what was asked.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}},
			[]string{"kind"}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "clicktocall_cluster_directory_misses_total",
			Help: "Look-ups of a call id the call directory does not know."}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clicktocall_cluster_unavailable_total",
			Help: "Requests that needed the cluster while it was unavailable, by what was asked."}, []string{"kind"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "clicktocall_cluster_node_lost_total",
			Help: "Answers and event streams ended with 503 Node lost: the call's node left the cluster."}),
	}
	if reg != nil {
		reg.MustRegister(m.members, m.lookups, m.latency, m.misses, m.unavailable, m.lost)
	}
	return m
}

func (m *clusterMetrics) observe(kind string, began time.Time, err error) {
	m.latency.WithLabelValues(kind).Observe(time.Since(began).Seconds())
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.lookups.WithLabelValues(kind, outcome).Inc()
}
