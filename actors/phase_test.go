package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
)

// waitDescribed waits until the engine describes its one call with every
// one of want, failing the test after 10 s.
func (h *harness) waitDescribed(want ...string) {
	h.t.Helper()
	var desc []string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		desc = h.eng.Describe()
		if len(desc) == 1 && containsAll(desc[0], want) {
			return
		}
	}
	h.t.Fatalf("call described as %q, want %q", desc, want)
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Each phase lasts a second or two, so a loaded machine still sees it.
func TestAnAnchoredCallGoesThroughItsPhases(t *testing.T) {
	h := newHarness(t, harnessOpts{
		init: phone.Behaviour{Ring: true, RingDelay: time.Second},
		dest: phone.Behaviour{Ring: true, RingDelay: time.Second, TalkTime: 2 * time.Second},
	})
	_, r := h.call(true)
	h.waitDescribed("phase=calling initiator", "legs(I,D)=true,false")
	r.waitFor(t, 200, LegInitiator)
	h.waitDescribed("phase=setting up", "legs(I,D)=true,true")
	r.waitFor(t, 200, LegDestination)
	h.waitDescribed("phase=bridged", "setup re-INVITE=false")
	expectResults(t, r.wait(t, time.Second), "100, 180 I, 200 I, 180 D, 200 D")
	h.waitIdle() // the destination's BYE ends the bridge, and the call
}

func TestAReferCallWaitsForTheTransferInItsOwnPhase(t *testing.T) {
	h := newHarness(t, harnessOpts{
		init: phone.Behaviour{Refer: phone.ReferBehaviour{Mode: phone.ReferAccept, FinalNotifyDelay: 2 * time.Second}},
		sip:  func(s *config.SIP) { s.ReferTimeout = 5 * time.Second },
	})
	_, r := h.call(false)
	r.waitFor(t, 200, LegInitiator)
	h.waitDescribed("phase=transferring", "transfer accepted=true")
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	h.waitIdle()
}
