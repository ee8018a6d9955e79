package transport

import (
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestExcessBucketsCoverEveryDelayInOrder(t *testing.T) {
	prev := -1
	for d := time.Duration(0); d < 40*time.Second; d = d*21/20 + time.Microsecond {
		b := excessBucket(d)
		if b < prev {
			t.Fatalf("%v in bucket %d, below the %d of a shorter delay", d, b, prev)
		}
		prev = b
		if floor := bucketFloor(b); floor > d {
			t.Fatalf("%v in bucket %d whose floor is %v", d, b, floor)
		}
		if b+1 < excessBuckets {
			if next := bucketFloor(b + 1); next <= d {
				t.Fatalf("%v in bucket %d, but bucket %d starts at %v", d, b, b+1, next)
			}
		}
	}
	if got := bucketFloor(excessBucket(20 * time.Millisecond)); got < 14*time.Millisecond {
		t.Fatalf("20 ms reads as %v: buckets coarser than √2", got)
	}
}

func TestPeerDelaysMeasureEachPeerAgainstItsOwnUsualDelay(t *testing.T) {
	p := newPeerDelays()
	p.Watch()
	near := netip.MustParseAddrPort("127.0.0.1:5060")
	far := netip.MustParseAddrPort("192.0.2.7:5060")
	now := time.Unix(1000, 0)
	// A phone next door answers in 1 ms, one across the world in 150 ms:
	// neither is late.
	for i := range 100 {
		now = now.Add(time.Millisecond)
		p.record(near, false, time.Millisecond+time.Duration(i%3)*10*time.Microsecond, now)
		p.record(far, false, 150*time.Millisecond, now)
	}
	if d, n := p.Excess(0.9, 10); n != 200 || d > 100*time.Microsecond {
		t.Fatalf("usual answers read as %v late (%d answers), want about 0 of 200", d, n)
	}
	// Now the near one is 20 ms late on every answer, the far one not.
	late := func() {
		for range 50 {
			now = now.Add(time.Millisecond)
			p.record(near, false, 21*time.Millisecond, now)
			p.record(far, false, 150*time.Millisecond, now)
		}
	}
	late()
	d, n := p.Excess(0.9, 10)
	if n != 100 || d < 14*time.Millisecond || d > 20*time.Millisecond {
		t.Fatalf("p90 excess %v of %d answers, want about 20 ms of 100", d, n)
	}
	late()
	if d, n := p.Excess(0.5, 10); n != 100 || d > 100*time.Microsecond {
		t.Fatalf("median excess %v of %d answers: half of 100 (the far phone's) were not late", d, n)
	}
	// An INVITE's usual delay is its own: a quick 100 Trying does not make
	// the same phone's other answers look late.
	p.record(near, true, 100*time.Microsecond, now)
	p.record(near, false, time.Millisecond, now)
	if d, n := p.Excess(0.9, 2); n != 2 || d > 100*time.Microsecond {
		t.Fatalf("excess %v of %d answers after a quick provisional, want none of 2", d, n)
	}
}

func TestPeerDelaysWaitForEnoughAnswersAndDriftToANewNormal(t *testing.T) {
	p := newPeerDelays()
	peer := netip.MustParseAddrPort("127.0.0.1:5060")
	now := time.Unix(1000, 0)
	p.record(peer, false, time.Millisecond, now)
	if _, n := p.Excess(0.5, 1); n != 0 {
		t.Fatalf("recorded %d answers before Watch", n)
	}
	p.Watch()
	p.record(peer, false, time.Millisecond, now)
	for range 5 {
		p.record(peer, false, 11*time.Millisecond, now)
	}
	if d, n := p.Excess(0.5, 10); d != 0 || n != 6 {
		t.Fatalf("6 answers gave %v (%d), want no reading yet", d, n)
	}
	for range 5 {
		p.record(peer, false, 11*time.Millisecond, now)
	}
	if d, n := p.Excess(0.5, 10); n != 11 || d < 7*time.Millisecond {
		t.Fatalf("11 answers gave %v (%d), want about 10 ms", d, n)
	}
	// The peer has moved 10 ms further away for good: after some baseDrift
	// it is no longer late.
	for range 100 {
		now = now.Add(baseDrift / 20)
		p.record(peer, false, 11*time.Millisecond, now)
	}
	p.Reset()
	p.record(peer, false, 11*time.Millisecond, now.Add(time.Second))
	if d, _ := p.Excess(0.5, 1); d > 200*time.Microsecond {
		t.Fatalf("still %v late after %v at the new delay", d, 5*baseDrift)
	}
}

// Only a first answer to a request sent once says how long the peer took:
// not a retransmitted request's (Karn), nor an INVITE's final that took
// longer than a machine would (a person may have taken it).
func TestClientTransactionsTimeTheFirstAnswerOfARequestSentOnce(t *testing.T) {
	tr, clock := newFakeTransport(t)
	tr.peers.Watch()
	p := newRawPeer(t, tr)
	samples := func() int {
		tr.peers.mu.Lock()
		defer tr.peers.mu.Unlock()
		return tr.peers.samples
	}

	// answered sends a request in its transaction, lets before run (a
	// retransmission, a wait), answers it 200 and returns the samples.
	answered := func(method sip.RequestMethod, before func(ep chanEndpoint, tx *ClientTx)) int {
		ep, tx, _ := startCall(t, tr, p, method)
		first, _ := p.read()
		before(ep, tx)
		p.send(answer(first.(*sip.Request), 200, "OK"))
		tx.OnResponse(next(t, ep).(*sip.Response))
		return samples()
	}
	now := func(chanEndpoint, *ClientTx) {}
	if n := answered(sip.OPTIONS, now); n != 1 {
		t.Fatalf("an OPTIONS answered at once made %d samples, want 1", n)
	}
	resent := func(ep chanEndpoint, tx *ClientTx) {
		fire(t, clock, ep, tx, evRetransmit)
		p.read()
	}
	if n := answered(sip.OPTIONS, resent); n != 1 {
		t.Fatalf("an OPTIONS answered after a retransmission made a sample (%d)", n)
	}
	late := func(chanEndpoint, *ClientTx) { time.Sleep(machineAnswer + 20*time.Millisecond) }
	if n := answered(sip.INVITE, late); n != 1 {
		t.Fatalf("an INVITE answered 200 after %v made a sample (%d)", machineAnswer, n)
	}
	if n := answered(sip.INVITE, now); n != 2 {
		t.Fatalf("an INVITE answered 200 at once (a machine) made %d samples, want 1 more", n-1)
	}

	ep, tx, _ := startCall(t, tr, p, sip.INVITE)
	first, _ := p.read()
	invite := first.(*sip.Request)
	p.send(answer(invite, 180, "Ringing"))
	tx.OnResponse(next(t, ep).(*sip.Response))
	p.send(answer(invite, 200, "OK"))
	tx.OnResponse(next(t, ep).(*sip.Response))
	if n := samples(); n != 3 {
		t.Fatalf("an INVITE answered 180 then 200 made %d samples, want 1 more", n-2)
	}
}
