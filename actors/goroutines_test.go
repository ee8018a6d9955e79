package actors

import (
	"context"
	"os"
	"os/exec"
	"runtime/metrics"
	"testing"
	"time"
)

// goroutinesCreated is how many goroutines the process has started so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// The lean SIP core's promise: a call runs on the goroutines that were
// already there. From StartCall to the BYE's 200, every SIP message is
// parsed, routed and handled in the socket's read loop (or the caller's
// goroutine), transactions are state of the leg and timers live on the
// process's wheel; nothing is started per call, per message or per
// transaction. The raw peer is driven from the test's own goroutine, so any
// goroutine created during the call is the server's.
func TestAReferCallStartsNoGoroutine(t *testing.T) {
	// The counter is the whole process's, and earlier tests leave phones
	// whose timers start goroutines for a while: the calls run in a fresh
	// process, this test binary started again for this test alone.
	if os.Getenv("CTC_GOROUTINE_CHILD") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAReferCallStartsNoGoroutine$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "CTC_GOROUTINE_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in a fresh process: %v\n%s", err, out)
		}
		return
	}
	h := newHarness(t, harnessOpts{})
	call := func() {
		d, r, refer, rfrom := referDialog(t, h)
		d.respond(refer, rfrom, "202 Accepted", "", "")
		d.send("NOTIFY", "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag\r\n",
			"SIP/2.0 200 OK\r\n")
		got := r.wait(t, 10*time.Second)
		if last := got[len(got)-1]; last.Code != 200 || last.Leg != LegDestination {
			t.Fatalf("results %s, want 200 Destination", summary(got))
		}
		bye, from := d.read("BYE")
		d.respond(bye, from, "200 OK", "", "")
		h.waitIdleWithin(10 * time.Second)
	}
	call() // the first call may warm up pools that live as long as the process
	// The in-process phones are idle, but the runtime and the test's own
	// plumbing may start a goroutine now and then: a few rounds are tried
	// and one with none is enough; a server that starts a goroutine per
	// call, message or transaction fails every round.
	var counts []uint64
	for range 5 {
		before := goroutinesCreated()
		for range 3 {
			call()
		}
		n := goroutinesCreated() - before
		if n == 0 {
			return
		}
		counts = append(counts, n)
	}
	t.Fatalf("rounds of 3 REFER calls started %v goroutines, want none in at least one round", counts)
}
