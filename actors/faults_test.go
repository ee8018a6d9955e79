package actors

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
)

func TestCrashedLegStillEndsInOneFinalAndTeardown(t *testing.T) {
	cases := []struct {
		name  string
		role  Leg
		dest  phone.Behaviour
		after func(h *harness, r *results)
		want  string
	}{
		{"initiator while destination rings", LegInitiator, phone.Behaviour{Ring: true, NoAnswer: true},
			func(h *harness, r *results) { r.waitFor(h.t, 180, LegDestination) }, "100, 200 I, 180 D, 500 I"},
		{"destination while it rings", LegDestination, phone.Behaviour{Ring: true, NoAnswer: true},
			func(h *harness, r *results) { r.waitFor(h.t, 180, LegDestination) }, "100, 200 I, 180 D, 500 D"},
		{"supervisor while the destination rings", LegNone, phone.Behaviour{Ring: true, NoAnswer: true},
			func(h *harness, r *results) { r.waitFor(h.t, 180, LegDestination) }, "100, 200 I, 180 D, 500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{dest: tc.dest})
			id, r := h.call(true)
			tc.after(h, r)
			if !h.eng.send(id, crashLeg{role: tc.role}) {
				t.Fatal("call not running")
			}
			got := r.wait(t, 10*time.Second)
			expectResults(t, got, tc.want)
			if got[len(got)-1].Text != textInternal {
				t.Errorf("text = %q", got[len(got)-1].Text)
			}
			// Both phones are released: the initiator gets a BYE, the
			// ringing destination a CANCEL.
			onlyCall(t, h.init, phone.Received(sip.BYE))
			onlyCall(t, h.dest, phone.Received(sip.CANCEL))
			h.waitIdle()
			if r.extras() != 0 {
				t.Errorf("%d results after the final", r.extras())
			}
		})
	}
}

func TestShutdownEndsCallsInEveryState(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 30 * time.Second }})
	// One phone per part, chosen by the user part of the Request-URI.
	parts := map[string]phone.Behaviour{
		"ringing":   {Ring: true, NoAnswer: true},                                 // initiator never answers
		"referring": {Refer: phone.ReferBehaviour{Mode: phone.ReferAcceptSilent}}, // REFER accepted, no NOTIFY
		"bridged":   {},                                                           // anchored, connected
		"waiting":   {},                                                           // anchored, destination rings
		"dest-ring": {Ring: true, NoAnswer: true},
		"dest-ok":   {},
	}
	p, err := phone.New(phone.Config{User: "any", Choose: func(req *sip.Request) phone.Behaviour { return parts[req.Recipient.User] }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	uri := func(user string) string {
		u := p.URI("udp")
		u.User = user
		return u.String()
	}
	type call struct {
		init, dest string
		anchor     bool
		reached    func(r *results)
		r          *results
	}
	calls := []*call{
		{init: "ringing", dest: "dest-ok", reached: func(r *results) { r.waitFor(t, 180, LegInitiator) }},
		{init: "referring", dest: "dest-ok", reached: func(r *results) { r.waitFor(t, 200, LegInitiator) }},
		{init: "bridged", dest: "dest-ok", anchor: true, reached: func(r *results) { r.waitFor(t, 200, LegDestination) }},
		{init: "waiting", dest: "dest-ring", anchor: true, reached: func(r *results) { r.waitFor(t, 180, LegDestination) }},
	}
	for _, c := range calls {
		c.r = newResults()
		if _, err := h.eng.StartCall(CallRequest{Initiator: uri(c.init), Destination: uri(c.dest), Anchor: c.anchor}, c.r.add); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range calls {
		c.reached(c.r)
	}
	time.Sleep(100 * time.Millisecond) // let the REFER be accepted
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ringing":   "100, 180 I, 503",
		"referring": "100, 200 I, 503",
		"bridged":   "100, 200 I, 200 D",
		"waiting":   "100, 200 I, 180 D, 503",
	}
	for _, c := range calls {
		if got := summary(c.r.wait(t, time.Second)); got != want[c.init] {
			t.Errorf("%s: results %q, want %q", c.init, got, want[c.init])
		}
	}
	if _, err := h.eng.StartCall(CallRequest{Initiator: uri("x"), Destination: uri("y")}, func(Progress) {}); err == nil ||
		err.(*Refusal).Ending.Code() != 503 {
		t.Errorf("a call after shutdown: %v, want a 503 refusal", err)
	}
	// Every leg ended on the wire: each dialog got a BYE, each ringing INVITE a CANCEL.
	_, err = p.WaitFor(deadline(t, 10*time.Second), func(cs []phone.Call) bool {
		for _, c := range cs {
			if c.State != phone.CallEnded && c.State != phone.CallCancelled && c.State != phone.CallRejected {
				return false
			}
		}
		return true
	})
	if err != nil {
		var s []string
		for _, c := range p.Calls() {
			s = append(s, c.String())
		}
		t.Fatalf("calls not ended: %s", strings.Join(s, "\n"))
	}
}

func TestThousandConcurrentCallsLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	// The destination hangs up anchored calls; REFER calls end with our BYE.
	h := newHarness(t, harnessOpts{dest: phone.Behaviour{TalkTime: 5 * time.Second},
		sip: func(s *config.SIP) { s.ReferTimeout = 30 * time.Second; s.RingTimeout = 30 * time.Second }})
	before := runtime.NumGoroutine()
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("CTC_LOAD_CALLS")); err == nil {
		n = v
	}
	var wg sync.WaitGroup
	failures := make(chan string, n)
	// 250 new calls a second: the anchored ones (talking 5 s) all overlap,
	// while the phones and the race detector keep up on two cores.
	pace := time.NewTicker(4 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < n; i++ {
		<-pace.C
		wg.Add(1)
		anchor := i%2 == 1
		r := newResults()
		if _, err := h.eng.StartCall(CallRequest{Initiator: h.uri(h.init), Destination: h.uri(h.dest), Anchor: anchor}, r.add); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer wg.Done()
			select {
			case <-r.final:
				got := r.wait(t, time.Second)
				if last := got[len(got)-1]; last.Code != 200 || last.Leg != LegDestination {
					failures <- summary(got)
				}
			case <-time.After(60 * time.Second):
				failures <- "no final"
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("call failed: %s", f)
	}
	h.waitIdleWithin(30 * time.Second)
	// Transactions linger for 64*T1 (6.4 s here); then only the goroutines
	// that were there before may remain.
	end := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before+10 {
		if time.Now().After(end) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCancelEndsPendingCallWith487(t *testing.T) {
	h := newHarness(t, harnessOpts{dest: phone.Behaviour{Ring: true, NoAnswer: true}})
	id, r := h.call(true)
	r.waitFor(t, 180, LegDestination)
	if !h.eng.Cancel(id) {
		t.Fatal("call not running")
	}
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 180 D, 487 D")
	onlyCall(t, h.dest, phone.Received(sip.CANCEL))
	onlyCall(t, h.init, phone.Received(sip.BYE))
	h.waitIdle()
	if h.eng.Cancel(id) {
		t.Error("Cancel of an ended call reported it running")
	}
}

func TestAdmissionLimits(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: config.Limits{MaxActiveCalls: 1, MaxCallsPerSecondPerIP: 100},
		init: phone.Behaviour{Ring: true, NoAnswer: true}})
	_, r := h.call(false)
	r.waitFor(t, 180, LegInitiator)
	_, err := h.eng.StartCall(CallRequest{Initiator: h.uri(h.init), Destination: h.uri(h.dest)}, func(Progress) {})
	if ref, ok := err.(*Refusal); !ok || ref.Ending.Code() != 503 || ref.RetryAfter <= 0 {
		t.Fatalf("second call: %v, want 503 with Retry-After", err)
	}
	h2 := newHarness(t, harnessOpts{limits: config.Limits{MaxCallsPerSecondPerIP: 2}, init: phone.Behaviour{RejectCode: 486}})
	var refused int
	for i := 0; i < 5; i++ {
		_, err := h2.eng.StartCall(CallRequest{Initiator: h2.uri(h2.init), Destination: h2.uri(h2.dest), ClientIP: "192.0.2.7"}, func(Progress) {})
		if ref, ok := err.(*Refusal); ok && ref.Ending.Code() == 429 {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d of 5 calls from one address refused at 2/s, want 3", refused)
	}
	if _, err := h2.eng.StartCall(CallRequest{Initiator: h2.uri(h2.init), Destination: h2.uri(h2.dest), ClientIP: "192.0.2.8"}, func(Progress) {}); err != nil {
		t.Errorf("another address refused: %v", err)
	}
}
