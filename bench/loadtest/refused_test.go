package loadtest

import (
	"strings"
	"testing"
)

func TestRefusalsAreCountedApartAndPassWithAllowRefused(t *testing.T) {
	addr := fakeXMLServer(t, 200) // carries 200 calls/s, refuses the rest with 503
	for _, allow := range []bool{false, true} {
		args := []string{"-xml", addr, "-rate", "800", "-duration", "500ms", "-conns", "2", "-q"}
		if allow {
			args = append(args, "-allow-refused")
		}
		res := fakeRun(t, args...)
		tr := res.Trials[0]
		if tr.Refused == 0 || tr.Failed != tr.Refused || tr.Succeeded+tr.Failed != tr.Sent {
			t.Fatalf("%d sent, %d ok, %d failed, %d refused: want every failure a refusal", tr.Sent, tr.Succeeded, tr.Failed, tr.Refused)
		}
		if tr.Pass != allow {
			t.Errorf("-allow-refused %v: pass %v", allow, tr.Pass)
		}
		if tr.Latency.Final.Count != tr.Succeeded {
			t.Errorf("%d latencies to the final for %d admitted calls", tr.Latency.Final.Count, tr.Succeeded)
		}
		if tr.Refusals["503 Call rate limit reached"] != tr.Refused || tr.NoRetryAfter != tr.Refused || tr.Latency.Refusal.Count != tr.Refused {
			t.Errorf("refusals %v, %d without retry-after, %d latencies; want all %d", tr.Refusals, tr.NoRetryAfter, tr.Latency.Refusal.Count, tr.Refused)
		}
		var report strings.Builder
		WriteReport(&report, res)
		if !strings.Contains(report.String(), "refused    ") {
			t.Errorf("report without refusals:\n%s", report.String())
		}
	}
}
