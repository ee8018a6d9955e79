package actors

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

// The lost final of issue 12: at REFER 600/s with SIPp phones one call in
// 108,000 got no final for 32 s. Its initiator's final NOTIFY was answered
// 200 twice (the phone had retransmitted it), yet the call waited for the
// refer timeout before its BYE: the NOTIFY had been answered without
// reaching the call. These tests play the initiator byte by byte and put the
// final NOTIFY, its retransmissions, the REFER's 202 and the phone's own BYE
// in the orders a lossy or loaded network produces, and check on the wire
// and at the client: every NOTIFY is answered 200, the client gets exactly
// one final, the right one, and the server's BYE (when the phone has not hung
// up itself) leaves at once.

// wireLog keeps every datagram a raw peer receives, so a test can wait for
// one message without losing the others.
type wireLog struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []wireMsg
	more chan struct{} // signalled on each new message
}

type wireMsg struct {
	at   time.Time
	text string
	from *net.UDPAddr
}

// logWire starts reading the peer's socket; referDialog must have returned.
func logWire(t *testing.T, p *rawPeer) *wireLog {
	w := &wireLog{t: t, more: make(chan struct{}, 1)}
	_ = p.conn.SetReadDeadline(time.Time{}) // rawPeer.read set one
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := p.conn.ReadFromUDP(buf)
			if err != nil {
				return // closed by the test's cleanup
			}
			w.mu.Lock()
			w.msgs = append(w.msgs, wireMsg{at: time.Now(), text: string(buf[:n]), from: from})
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

// all lists the messages received so far that match.
func (w *wireLog) all(match func(string) bool) []wireMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []wireMsg
	for _, m := range w.msgs {
		if match(m.text) {
			out = append(out, m)
		}
	}
	return out
}

// await waits until n messages match, failing the test after within.
func (w *wireLog) await(what string, n int, match func(string) bool, within time.Duration) []wireMsg {
	w.t.Helper()
	end := time.After(within)
	for {
		if got := w.all(match); len(got) >= n {
			return got
		}
		select {
		case <-w.more:
		case <-time.After(10 * time.Millisecond):
		case <-end:
			w.t.Fatalf("waited %v for %d × %s, got %d", within, n, what, len(w.all(match)))
		}
	}
}

func isRequest(method string) func(string) bool {
	return func(m string) bool { return strings.HasPrefix(m, method+" ") }
}

// answers matches the responses with this status to the request of branch.
func answers(status, branch string) func(string) bool {
	return func(m string) bool {
		return strings.HasPrefix(m, "SIP/2.0 "+status) && strings.Contains(headerOf(m, "Via"), "branch="+branch)
	}
}

// referNotify builds a NOTIFY of the REFER's subscription.
func referNotifyMsg(d *dialogPeer, refer, state, sipfrag string) ([]byte, string) {
	id := strings.Fields(headerOf(refer, "CSeq"))[0]
	return d.request("NOTIFY", "Event: refer;id="+id+"\r\nSubscription-State: "+state+
		"\r\nContent-Type: message/sipfrag\r\n", sipfrag)
}

const (
	trying     = "SIP/2.0 100 Trying\r\n"
	fragOK     = "SIP/2.0 200 OK\r\n"
	active     = "active;expires=60"
	terminated = "terminated;reason=noresource"
	// promptly bounds the time from the final NOTIFY to the server's BYE:
	// the test's T1 is 100 ms, and nothing should wait even for that.
	promptly = 500 * time.Millisecond
)

func TestFinalNotifyRetransmittedAroundTheByeGivesOneFinalAndAPromptBye(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 5 * time.Second }})
	d, r, refer, rfrom := referDialog(t, h)
	wire := logWire(t, d.rawPeer)
	d.respond(refer, rfrom, "202 Accepted", "", "")
	n1, b1 := referNotifyMsg(d, refer, active, trying)
	d.raw(n1)
	fin, bf := referNotifyMsg(d, refer, terminated, fragOK)
	sent := time.Now()
	d.raw(fin)
	d.raw(fin) // retransmitted before the server could answer

	bye := wire.await("BYE", 1, isRequest("BYE"), 5*time.Second)[0]
	if took := bye.at.Sub(sent); took > promptly {
		t.Errorf("the BYE left %v after the final NOTIFY, want at once", took)
	}
	d.raw(fin) // retransmitted while the server's BYE is out
	d.respond(bye.text, bye.from, "200 OK", "", "")
	h.waitIdle() // the call and its leg are released
	d.raw(fin)   // and once more after that

	wire.await("200 to the first NOTIFY", 1, answers("200", b1), 2*time.Second)
	wire.await("200 to each copy of the final NOTIFY", 4, answers("200", bf), 2*time.Second)
	expectResults(t, r.wait(t, time.Second), "100, 200 I, 200 D")
	time.Sleep(200 * time.Millisecond) // time for a second final or BYE to show
	if r.extras() != 0 {
		t.Errorf("%d results after the final", r.extras())
	}
	if byes := branches(wire.all(isRequest("BYE"))); len(byes) != 1 {
		t.Errorf("%d BYE transactions, want 1", len(byes))
	}
}

func TestInitiatorHangingUpBeforeTheFinalNotifyStillGetsTheTransferResult(t *testing.T) {
	cases := []struct {
		name   string
		accept bool // the REFER's 202 arrives (else it is lost and the NOTIFYs alone say the REFER was accepted)
	}{
		{"after the 202", true},
		{"with the 202 lost", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 5 * time.Second }})
			d, r, refer, rfrom := referDialog(t, h)
			wire := logWire(t, d.rawPeer)
			if tc.accept {
				d.respond(refer, rfrom, "202 Accepted", "", "")
			}
			n1, b1 := referNotifyMsg(d, refer, active, trying)
			d.raw(n1)
			wire.await("200 to the first NOTIFY", 1, answers("200", b1), 2*time.Second)
			// The transferee ends its dialog with us while its call to the
			// destination goes on; the subscription outlives the dialog.
			bb := d.send("BYE", "", "")
			wire.await("200 to the phone's BYE", 1, answers("200", bb), 2*time.Second)
			expectNoFinalYet(t, r, 300*time.Millisecond)

			fin, bf := referNotifyMsg(d, refer, terminated, fragOK)
			d.raw(fin)
			wire.await("200 to the final NOTIFY", 1, answers("200", bf), 2*time.Second)
			expectResults(t, r.wait(t, 2*time.Second), "100, 200 I, 200 D")
			h.waitIdle()
			if byes := wire.all(isRequest("BYE")); len(byes) != 0 {
				t.Errorf("the server sent a BYE to a phone that had hung up: %q", byes[0].text)
			}
			if r.extras() != 0 {
				t.Errorf("%d results after the final", r.extras())
			}
		})
	}
}

func TestFinalNotifyBeforeThe202EndsTheCallOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 5 * time.Second }})
	d, r, refer, rfrom := referDialog(t, h)
	wire := logWire(t, d.rawPeer)
	fin, bf := referNotifyMsg(d, refer, terminated, fragOK)
	sent := time.Now()
	d.raw(fin) // overtakes the 202
	bye := wire.await("BYE", 1, isRequest("BYE"), 5*time.Second)[0]
	if took := bye.at.Sub(sent); took > promptly {
		t.Errorf("the BYE left %v after the final NOTIFY, want at once", took)
	}
	d.respond(refer, rfrom, "202 Accepted", "", "") // the late 202
	d.respond(bye.text, bye.from, "200 OK", "", "")
	wire.await("200 to the final NOTIFY", 1, answers("200", bf), 2*time.Second)
	expectResults(t, r.wait(t, time.Second), "100, 200 I, 200 D")
	h.waitIdle()
	if r.extras() != 0 {
		t.Errorf("%d results after the final", r.extras())
	}
}

func TestFinalNotifyAfterTheReferTimeoutIsAnsweredAndChangesNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 400 * time.Millisecond }})
	d, r, refer, rfrom := referDialog(t, h)
	wire := logWire(t, d.rawPeer)
	d.respond(refer, rfrom, "202 Accepted", "", "")
	// No NOTIFY within the refer timeout: 408, and the server hangs up.
	expectResults(t, r.wait(t, 5*time.Second), "100, 200 I, 408 D")
	bye := wire.await("BYE", 1, isRequest("BYE"), 5*time.Second)[0]
	// The final NOTIFY crosses the BYE, and comes again once the call is
	// released: both are answered 200 and no second final follows.
	fin, bf := referNotifyMsg(d, refer, terminated, fragOK)
	d.raw(fin)
	d.respond(bye.text, bye.from, "200 OK", "", "")
	h.waitIdle()
	d.raw(fin)
	wire.await("200 to each copy of the final NOTIFY", 2, answers("200", bf), 2*time.Second)
	time.Sleep(200 * time.Millisecond)
	if r.extras() != 0 {
		t.Errorf("%d results after the final", r.extras())
	}
}

// branches lists the distinct Via branches of requests (a retransmission
// repeats its branch).
func branches(msgs []wireMsg) map[string]bool {
	out := map[string]bool{}
	for _, m := range msgs {
		v := headerOf(m.text, "Via")
		if i := strings.Index(v, "branch="); i >= 0 {
			b := v[i+len("branch="):]
			if j := strings.IndexAny(b, ";, "); j >= 0 {
				b = b[:j]
			}
			out[b] = true
		}
	}
	return out
}
