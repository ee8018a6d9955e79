package metrics

import (
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
)

func TestOverloadGaugesRetransmissionsAndRefusals(t *testing.T) {
	m := New(nil)
	lag, limit := 35*time.Millisecond, 2400.0
	m.Overload(func() (time.Duration, float64, float64, bool) { return lag, limit, 0.5, true })
	m.Retransmissions(func() uint64 { return 7 })
	m.PeerDelay(func() time.Duration { return 12800 * time.Microsecond })
	starter := m.Starter(stubStarter{err: &actors.Refusal{Ending: actors.EndOverload, Text: "Server overloaded", RetryAfter: time.Second}})
	if _, err := starter.StartCall(actors.CallRequest{Origin: "xml"}, nil); err == nil {
		t.Fatal("the stub admitted")
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	text := scrape()
	for _, want := range []string{
		"clicktocall_overload_lag_seconds 0.035\n",
		"clicktocall_admission_limit_calls_per_second 2400\n",
		"clicktocall_admission_ratio 0.5\n",
		"clicktocall_sip_retransmissions_total 7\n",
		"clicktocall_overload_peer_delay_seconds 0.0128\n",
		`clicktocall_rejections_total{interface="xml",reason="overload"} 1` + "\n",
		`clicktocall_requests_total{interface="xml",outcome="refused"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	limit = math.Inf(1)
	if text := scrape(); !strings.Contains(text, "clicktocall_admission_limit_calls_per_second +Inf\n") {
		t.Error("no +Inf limit while nothing is shed")
	}

	off := New(nil)
	off.Overload(func() (time.Duration, float64, float64, bool) { return 0, 0, 0, false })
	rec := httptest.NewRecorder()
	off.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "clicktocall_overload_lag_seconds") {
		t.Error("overload gauges registered while the protection is off")
	}
}
