package actors

// Faults of the far end: phones that die mid-call, send garbage inside a
// dialog, or reset the TCP connection. Each call must still get exactly one
// final result, end on its own timers, and leave no call or goroutine behind.

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
)

// expectNoLeaks waits until the goroutines are back to before (plus the
// slack of other tests' stragglers): transactions linger 64*T1 (6.4 s here).
func expectNoLeaks(t *testing.T, before int) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before+10 {
		if time.Now().After(end) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPhoneThatStopsAnsweringMidCallIsEndedByTimers(t *testing.T) {
	cases := []struct {
		name   string
		anchor bool
		init   phone.Behaviour
		dest   phone.Behaviour
		// dies is the phone that stops, after wait has seen the call's state.
		dies func(h *harness) *phone.Phone
		wait func(h *harness, r *results)
		want string
	}{
		{"initiator after accepting the REFER", false,
			phone.Behaviour{Refer: phone.ReferBehaviour{Mode: phone.ReferAcceptSilent}}, phone.Behaviour{},
			func(h *harness) *phone.Phone { return h.init },
			func(h *harness, r *results) { onlyCall(h.t, h.init, phone.Received("REFER")) },
			"100, 200 I, 408 D"},
		{"initiator while ringing", false,
			phone.Behaviour{Ring: true, NoAnswer: true}, phone.Behaviour{},
			func(h *harness) *phone.Phone { return h.init },
			func(h *harness, r *results) { r.waitFor(h.t, 180, LegInitiator) },
			"100, 180 I, 408 I"},
		{"destination while ringing", true,
			phone.Behaviour{}, phone.Behaviour{Ring: true, NoAnswer: true},
			func(h *harness) *phone.Phone { return h.dest },
			func(h *harness, r *results) { r.waitFor(h.t, 180, LegDestination) },
			"100, 200 I, 180 D, 408 D"},
		{"initiator of a bridged call, then the destination hangs up", true,
			phone.Behaviour{}, phone.Behaviour{TalkTime: time.Second},
			func(h *harness) *phone.Phone { return h.init },
			func(h *harness, r *results) { r.waitFor(h.t, 200, LegDestination) },
			"100, 200 I, 200 D"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{init: tc.init, dest: tc.dest,
				sip: func(s *config.SIP) { s.RingTimeout = 2 * time.Second }})
			before := runtime.NumGoroutine()
			_, r := h.call(tc.anchor)
			tc.wait(h, r)
			if err := tc.dies(h).Close(); err != nil {
				t.Fatal(err)
			}
			expectResults(t, r.wait(t, 15*time.Second), tc.want)
			// The leg to the dead phone ends when its transaction times
			// out (64*T1 = 6.4 s here), not never.
			h.waitIdleWithin(15 * time.Second)
			if r.extras() != 0 {
				t.Errorf("%d results after the final", r.extras())
			}
			expectNoLeaks(t, before)
		})
	}
}

// dialogPeer is a raw UDP initiator that answers the INVITE and then speaks
// inside the dialog byte by byte.
type dialogPeer struct {
	*rawPeer
	server      *net.UDPAddr
	serverURI   string // the server's Contact: the Request-URI of our requests
	callID      string
	local, peer string // our From (with our tag) and To (the server's tag) for requests we send
	cseq        int
	branch      atomic.Int64
}

// send writes one in-dialog request; extra headers and body as given,
// Content-Length computed unless extra sets one.
func (d *dialogPeer) send(method, extra, body string) string {
	msg, branch := d.request(method, extra, body)
	d.raw(msg)
	return branch
}

// request builds the next in-dialog request (a new CSeq and branch), for
// send, or for a test that sends it more than once (a retransmission).
func (d *dialogPeer) request(method, extra, body string) (msg []byte, branch string) {
	d.cseq++
	branch = fmt.Sprintf("z9hG4bKdp%d", d.branch.Add(1))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, d.serverURI)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", d.conn.LocalAddr(), branch)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n", d.local, d.peer, d.callID, d.cseq, method)
	b.WriteString(extra)
	if !strings.Contains(strings.ToLower(extra), "content-length") {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return []byte(b.String()), branch
}

func (d *dialogPeer) raw(data []byte) {
	if _, err := d.conn.WriteToUDP(data, d.server); err != nil {
		d.t.Fatal(err)
	}
}

// referDialog starts an unanchored call whose initiator is a dialogPeer
// and returns once the server's REFER has arrived (not yet answered).
func referDialog(t *testing.T, h *harness) (d *dialogPeer, r *results, refer string, rfrom *net.UDPAddr) {
	t.Helper()
	peer := newRawPeer(t)
	r = newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest)}, r.add); err != nil {
		t.Fatal(err)
	}
	invite, from := peer.read("INVITE")
	peer.respond(invite, from, "200 OK", "dp1", rawSDP)
	refer, rfrom = peer.read("REFER")
	d = &dialogPeer{rawPeer: peer, server: rfrom, callID: headerOf(refer, "Call-ID"),
		local: headerOf(refer, "To"), peer: headerOf(refer, "From"), cseq: 100}
	d.serverURI = strings.Trim(strings.SplitN(headerOf(invite, "Contact"), ";", 2)[0], "<> ")
	if !strings.Contains(d.local, "tag=dp1") || !strings.Contains(d.peer, "tag=") {
		t.Fatalf("REFER dialog headers From %q To %q", d.peer, d.local)
	}
	return d, r, refer, rfrom
}

// expectNoFinalYet fails when the call has ended already.
func expectNoFinalYet(t *testing.T, r *results, after time.Duration) {
	t.Helper()
	time.Sleep(after)
	select {
	case <-r.final:
		t.Fatalf("the call ended early: %s", summary(r.wait(t, time.Second)))
	default:
	}
}

func TestPhoneSendingGarbageInADialogDoesNotBreakTheCall(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 5 * time.Second }})
	before := runtime.NumGoroutine()
	d, r, refer, rfrom := referDialog(t, h)
	peer := d.rawPeer

	// Garbage while the REFER waits for its answer: none of it may end,
	// crash or confuse the call.
	d.raw([]byte("\x00\x01garbage\xff\xfe in the middle of a dialog\r\n\r\n"))
	d.raw([]byte("NOTIFY " + d.serverURI + " SIP/2.0\r\nCall-ID: " + d.callID + "\r\nCSeq: 1"))   // cut short
	d.raw([]byte("SIP/2.0 202 Accepted\r\nCall-ID: " + d.callID + "\r\nCSeq: abc REFER\r\n\r\n")) // response without Via
	refer1 := `Event: refer` + "\r\nSubscription-State: active;expires=60\r\nContent-Type: message/sipfrag\r\n"
	d.send("NOTIFY", refer1, "this is not a sipfrag at all")
	d.send("NOTIFY", refer1, "SIP/2.0 999 Beyond Any Class\r\n")
	d.send("NOTIFY", refer1, "")
	d.send("NOTIFY", "Event: presence\r\nSubscription-State: active\r\nContent-Type: text/plain\r\n", "hello")
	d.send("INFO", "Content-Type: application/octet-stream\r\n", "\x00\x01\x02\x03")
	d.send("UPDATE", "Content-Type: application/sdp\r\n", "v=0\r\nthis is not sdp\r\n")
	d.send("NOTIFY", refer1+"Content-Length: 99999\r\n", "SIP/2.0 200 OK\r\n") // length beyond the datagram
	d.send("REFER", "Refer-To: <sip:somewhere@example.com>\r\n", "")           // a REFER from the phone
	d.send("INVITE", "Content-Type: application/sdp\r\n", "v=0\r\n")           // a broken re-INVITE

	// None of it ended the call.
	expectNoFinalYet(t, r, 300*time.Millisecond)
	// Then the phone behaves: the REFER is accepted and the transfer
	// reported. The call must complete as usual.
	peer.respond(refer, rfrom, "202 Accepted", "", "")
	d.send("NOTIFY", "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag\r\n",
		"SIP/2.0 200 OK\r\n")
	got := r.wait(t, 15*time.Second)
	if last := got[len(got)-1]; last.Code != 200 || last.Leg != LegDestination {
		t.Fatalf("results %s, want the call to end in 200 Destination", summary(got))
	}
	// The server hangs up the initiator; answer its BYE (skipping the
	// answers to our garbage and retransmissions).
	bye, bfrom := peer.read("BYE")
	peer.respond(bye, bfrom, "200 OK", "", "")
	h.waitIdleWithin(15 * time.Second)
	if r.extras() != 0 {
		t.Errorf("%d results after the final", r.extras())
	}
	expectNoLeaks(t, before)
}

func TestNotifyOfAnotherSubscriptionDoesNotEndTheTransfer(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.ReferTimeout = 5 * time.Second }})
	d, r, refer, rfrom := referDialog(t, h)
	d.respond(refer, rfrom, "202 Accepted", "", "")
	terminated := "Subscription-State: terminated\r\nContent-Type: message/sipfrag\r\n"
	d.send("NOTIFY", "Event: refer;id=12345\r\n"+terminated, "SIP/2.0 200 OK\r\n") // no REFER has this CSeq
	d.send("NOTIFY", "Event: presence\r\n"+terminated, "SIP/2.0 200 OK\r\n")
	expectNoFinalYet(t, r, 300*time.Millisecond)
	d.send("NOTIFY", "Event: refer;id="+strings.Fields(headerOf(refer, "CSeq"))[0]+"\r\n"+terminated, "SIP/2.0 486 Busy Here\r\n")
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 486 D")
}

// tcpPeer is a raw SIP endpoint on TCP that resets its connections on cue.
type tcpPeer struct {
	t  *testing.T
	ln *net.TCPListener
}

func newTCPPeer(t *testing.T) *tcpPeer {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &tcpPeer{t: t, ln: ln}
}

func (p *tcpPeer) uri() string { return fmt.Sprintf("sip:tcp@%s;transport=tcp", p.ln.Addr()) }

// accept takes the server's connection and reads until the request with this
// method has arrived.
func (p *tcpPeer) accept(method string) (*net.TCPConn, string) {
	p.t.Helper()
	_ = p.ln.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := p.ln.AcceptTCP()
	if err != nil {
		p.t.Fatalf("no connection from the server: %v", err)
	}
	return c, readTCPRequest(p.t, c, method)
}

func readTCPRequest(t *testing.T, c *net.TCPConn, method string) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 65535)
	for {
		if i := strings.Index(string(got), method+" "); i >= 0 && strings.Contains(string(got[i:]), "\r\n\r\n") {
			return string(got[i:])
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v (got %q)", method, err, got)
		}
		got = append(got, buf[:n]...)
	}
}

// reset closes c with a TCP RST (SO_LINGER 0).
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

func TestPeerThatResetsTCPGetsAFinalAndTheServerGoesOn(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.RingTimeout = 2 * time.Second }})
	before := runtime.NumGoroutine()

	// The phone resets the connection as soon as the INVITE arrives.
	peer := newTCPPeer(t)
	r := newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest)}, r.add); err != nil {
		t.Fatal(err)
	}
	c, _ := peer.accept("INVITE")
	reset(c)
	got := r.wait(t, 15*time.Second)
	if last := got[len(got)-1]; last.Leg != LegInitiator || last.Code < 400 {
		t.Fatalf("results %s, want a failure of the initiator leg", summary(got))
	}

	// The server still places calls, over TCP too.
	h.transport = "tcp"
	_, r3 := h.call(false)
	expectResults(t, r3.wait(t, 15*time.Second), "100, 200 I, 200 D")
	onlyCall(t, h.init, phone.Received(sip.BYE))
	h.waitIdleWithin(15 * time.Second)
	expectNoLeaks(t, before)
}

func TestPeerThatResetsTCPWhileRingingGetsAFinal(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.RingTimeout = 2 * time.Second }})
	peer := newTCPPeer(t)
	r := newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest)}, r.add); err != nil {
		t.Fatal(err)
	}
	c, invite := peer.accept("INVITE")
	ringing := "SIP/2.0 180 Ringing\r\nVia: " + headerOf(invite, "Via") + "\r\nFrom: " + headerOf(invite, "From") +
		"\r\nTo: " + headerOf(invite, "To") + ";tag=tr1\r\nCall-ID: " + headerOf(invite, "Call-ID") +
		"\r\nCSeq: " + headerOf(invite, "CSeq") + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(ringing)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 180, LegInitiator)
	reset(c)
	// The ring timeout CANCELs over a connection that is gone: the call must
	// still end, with 408, within 64*T1 of the CANCEL.
	expectResults(t, r.wait(t, 15*time.Second), "100, 180 I, 408 I")
	h.waitIdleWithin(15 * time.Second)
}
