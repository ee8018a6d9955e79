package actors

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
)

// Phones behind Wi-Fi and NATs lose packets. With 5 % of the datagrams lost
// each way between the server and both phones, every call must still reach
// the final it would have reached without loss, by RFC 3261
// retransmission: no 408, and no call that waits for a timeout because one
// retransmission was missed. (T1 is 100 ms in these tests, so a lost
// message costs 100 to 400 ms, and Timer B is 6.4 s; the ring and refer
// timeouts are long, so only a SIP timer could end a call early.)
func TestCallsCompleteAtFivePercentLoss(t *testing.T) {
	for _, anchor := range []bool{false, true} {
		name := "refer"
		if anchor {
			name = "anchored"
		}
		t.Run(name, func(t *testing.T) {
			// The destination hangs up soon after it is bridged, so
			// anchored calls end too (their BYEs cross the lossy links).
			h := newHarness(t, harnessOpts{loss: 0.05, dest: phone.Behaviour{TalkTime: 200 * time.Millisecond}, sip: roomyTimers})
			const calls = 40
			type placed struct {
				r     *results
				asked time.Time
			}
			var all []placed
			for range calls {
				_, r := h.call(anchor)
				all = append(all, placed{r, time.Now()})
				time.Sleep(25 * time.Millisecond)
			}
			var slowest time.Duration
			for i, p := range all {
				got := p.r.wait(t, 20*time.Second)
				took := got[len(got)-1].At.Sub(p.asked)
				slowest = max(slowest, took)
				if s := summary(got); s != "100, 200 I, 200 D" {
					t.Errorf("call %d: results %s, want 100, 200 I, 200 D", i, s)
				}
				// Three quarters of Timer B (64*T1): a call that took
				// longer waited for a timeout.
				if took > 48*sip.T1 {
					t.Errorf("call %d took %v to its final", i, took)
				}
			}
			h.waitIdleWithin(30 * time.Second)
			lost := h.init.Lost() + h.dest.Lost()
			t.Logf("%d calls, %d datagrams lost, slowest final %v", calls, lost, slowest)
			if lost == 0 {
				t.Fatal("no datagram was lost: the test tested nothing")
			}
			for i, p := range all {
				if p.r.extras() != 0 {
					t.Errorf("call %d: %d results after the final", i, p.r.extras())
				}
			}
		})
	}
}
