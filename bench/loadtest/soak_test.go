package loadtest

import (
	"math"
	"testing"
	"time"
)

func TestMetricLine(t *testing.T) {
	cases := []struct {
		line, name string
		value      float64
	}{
		{`clicktocall_sip_retransmissions_total 12`, "clicktocall_sip_retransmissions_total", 12},
		{`clicktocall_sip_messages_total{direction="out",kind="2xx"} 7.5e+06`, "clicktocall_sip_messages_total", 7.5e6},
		{`clicktocall_rejections_total{interface="xml",reason="overload"} 3`, "clicktocall_rejections_total", 3},
	}
	for _, c := range cases {
		name, v, ok := metricLine(c.line)
		if !ok || name != c.name || v != c.value {
			t.Errorf("metricLine(%q) = %q, %g, %v", c.line, name, v, ok)
		}
	}
	if _, _, ok := metricLine("garbage"); ok {
		t.Error("a line without a value parsed")
	}
}

func TestRSSSlopeAfterTheWarmup(t *testing.T) {
	var s soakLog
	// 100 MiB for the first two minutes (warming up), then 200 MiB growing
	// 1 MiB a minute.
	for at := time.Duration(0); at <= 10*time.Minute; at += rssEvery {
		mib := 100.0
		if at >= 2*time.Minute {
			mib = 200 + (at - 2*time.Minute).Minutes()
		}
		s.rss = append(s.rss, rssSample{at: at, mib: mib})
	}
	got := s.slope(2*time.Minute, 10*time.Minute)
	if got == nil || math.Abs(got.MiBPerMin-1) > 1e-9 {
		t.Fatalf("slope %+v, want 1 MiB/min", got)
	}
	if want := 100 * 10 / 204.0; math.Abs(got.PctPer10Min-want) > 0.01 {
		t.Errorf("%.3f %% per 10 min, want %.3f", got.PctPer10Min, want)
	}
	if s.slope(9*time.Minute+30*time.Second, 10*time.Minute) != nil {
		t.Error("a slope from 30 s of samples")
	}
}
