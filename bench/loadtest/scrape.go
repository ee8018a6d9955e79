package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// ServerSIP is what the server counted of its own SIP traffic over a
// trial, from its /metrics: how many messages it sent and received, how
// many of those it sent were retransmissions, and how many requests its
// overload protection refused. A server that answers late makes its peers
// retransmit; the share of retransmissions says how much.
type ServerSIP struct {
	Sent             uint64  `json:"messages_sent"` // requests and responses, retransmissions not counted
	Received         uint64  `json:"messages_received"`
	Retransmissions  uint64  `json:"retransmissions"`
	RetransmittedPct float64 `json:"retransmitted_pct"` // of all messages sent, retransmissions included
	OverloadRefusals uint64  `json:"overload_refusals"`
}

// serverCounters are the totals of one scrape.
type serverCounters struct {
	sent, received, retransmissions, overload float64
	hasRetransmissions                        bool // older servers do not count them
}

// scrapeServer reads the server's /metrics; it fails when the bench has no
// HTTP address for it, or the server wants credentials.
func (r *runner) scrapeServer() (serverCounters, error) {
	var c serverCounters
	addr := r.tgt.httpAddr
	if addr == "" {
		return c, fmt.Errorf("no HTTP address")
	}
	status, body, err := fasthttp.GetTimeout(nil, "http://"+addr+"/metrics", 5*time.Second)
	if err != nil {
		return c, err
	}
	if status != fasthttp.StatusOK {
		return c, fmt.Errorf("GET /metrics: %d", status)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := metricLine(line)
		if !ok {
			continue
		}
		switch {
		case name == "clicktocall_sip_messages_total" && strings.Contains(line, `direction="out"`):
			c.sent += value
		case name == "clicktocall_sip_messages_total" && strings.Contains(line, `direction="in"`):
			c.received += value
		case name == "clicktocall_sip_retransmissions_total":
			c.retransmissions += value
			c.hasRetransmissions = true
		case name == "clicktocall_rejections_total" && strings.Contains(line, `reason="overload"`):
			c.overload += value
		}
	}
	return c, sc.Err()
}

// metricLine splits a sample line of the Prometheus text format into its
// metric name and value.
func metricLine(line string) (name string, value float64, ok bool) {
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", 0, false
	}
	rest := line[end:]
	if i := strings.LastIndexByte(rest, '}'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return line[:end], v, err == nil
}

// serverSIP is the difference between two scrapes; nil when either failed.
func serverSIP(a, b serverCounters, errA, errB error) *ServerSIP {
	if errA != nil || errB != nil || !b.hasRetransmissions {
		return nil
	}
	s := &ServerSIP{Sent: uint64(b.sent - a.sent), Received: uint64(b.received - a.received),
		Retransmissions: uint64(b.retransmissions - a.retransmissions), OverloadRefusals: uint64(b.overload - a.overload)}
	if total := s.Sent + s.Retransmissions; total > 0 {
		s.RetransmittedPct = 100 * float64(s.Retransmissions) / float64(total)
	}
	return s
}
