package transport

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/timing"
)

// These tests drive the transaction state machines of the SIP core through
// their timers with a fake clock, against a raw UDP peer that sees every
// byte the transport sends.

type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newRawPeer(t *testing.T, tr *Transport) *rawPeer {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	to, err := net.ResolveUDPAddr("udp", tr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return &rawPeer{t: t, conn: conn, to: to}
}

func (p *rawPeer) uri() sip.Uri {
	a := p.conn.LocalAddr().(*net.UDPAddr)
	return sip.Uri{Scheme: "sip", User: "phone", Host: "127.0.0.1", Port: a.Port}
}

// read returns the next message the transport sent the peer, and its bytes.
func (p *rawPeer) read() (sip.Message, string) {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		p.t.Fatalf("peer read: %v", err)
	}
	msg, err := sip.NewParser().ParseSIP(buf[:n])
	if err != nil {
		p.t.Fatalf("peer parse %q: %v", buf[:n], err)
	}
	return msg, string(buf[:n])
}

// silent fails the test if the transport sends the peer anything within d.
func (p *rawPeer) silent(d time.Duration) {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	if n, _, err := p.conn.ReadFromUDP(buf); err == nil {
		p.t.Fatalf("peer got %q, want nothing", buf[:n])
	}
}

func (p *rawPeer) send(m sip.Message) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(m.String()), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// answer builds the peer's response to req, with the peer's To tag.
func answer(req *sip.Request, code int, reason string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code > 100 {
		res.To().Params.Remove("tag")
		res.To().Params.Add("tag", "peer-tag")
	}
	if code >= 200 && code < 300 && req.Method == sip.INVITE {
		res.AppendHeader(&sip.ContactHeader{Address: *req.Recipient.Clone()})
	}
	return res
}

func newFakeTransport(t *testing.T) (*Transport, *timing.Fake) {
	clock := &timing.Fake{}
	tr, err := New(Options{IPAddress: "127.0.0.1", Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, clock
}

func next(t *testing.T, ep chanEndpoint) any {
	t.Helper()
	select {
	case m := <-ep:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("the owner got nothing")
	}
	return nil
}

func quiet(t *testing.T, ep chanEndpoint, d time.Duration) {
	t.Helper()
	select {
	case m := <-ep:
		t.Fatalf("the owner got %v, want nothing", m)
	case <-time.After(d):
	}
}

func kindIs(k txEventKind) func(any) bool {
	return func(m any) bool { ev, ok := m.(*TxEvent); return ok && ev.kind == k }
}

// fire expires the pending timer of kind k and feeds its event to tx.
func fire(t *testing.T, clock *timing.Fake, ep chanEndpoint, tx *ClientTx, k txEventKind) TxUpdate {
	t.Helper()
	if !clock.Fire(kindIs(k)) {
		t.Fatalf("no timer of kind %d pending", k)
	}
	ev := next(t, ep).(*TxEvent)
	return tx.OnEvent(ev)
}

func startCall(t *testing.T, tr *Transport, p *rawPeer, method sip.RequestMethod) (chanEndpoint, *ClientTx, *sip.Request) {
	t.Helper()
	req := sip.NewRequest(method, p.uri())
	tr.complete(req)
	ep := make(chanEndpoint, 16)
	tr.Register(req.CallID().Value(), ep)
	tx, err := tr.StartTx(ep, req)
	if err != nil {
		t.Fatal(err)
	}
	return ep, tx, req
}

func TestInviteRetransmitsUntilAProvisionalAndACKsAFailure(t *testing.T) {
	tr, clock := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep, tx, _ := startCall(t, tr, p, sip.INVITE)
	first, raw1 := p.read()
	invite := first.(*sip.Request)
	if BranchOf(invite) != tx.Branch() || !strings.HasPrefix(tx.Branch(), "z9hG4bK") {
		t.Fatalf("branch %q, tx %q", BranchOf(invite), tx.Branch())
	}
	// The INVITE is lost: Timer A sends it again, T1 then 2*T1.
	if got := clock.Pending(kindIs(evRetransmit)); len(got) != 1 || got[0] != sip.T1 {
		t.Fatalf("Timer A armed %v, want [%v]", got, sip.T1)
	}
	if upd := fire(t, clock, ep, tx, evRetransmit); upd != (TxUpdate{}) {
		t.Fatalf("retransmission told the owner %+v", upd)
	}
	if _, raw2 := p.read(); raw2 != raw1 {
		t.Fatalf("retransmission differs:\n%s\n%s", raw1, raw2)
	}
	if got := clock.Pending(kindIs(evRetransmit)); len(got) != 1 || got[0] != 2*sip.T1 {
		t.Fatalf("Timer A re-armed %v, want [%v]", got, 2*sip.T1)
	}
	// A provisional stops Timers A and B.
	p.send(answer(invite, 180, "Ringing"))
	res := next(t, ep).(*sip.Response)
	if !tx.Matches(res) {
		t.Fatal("180 does not match its transaction")
	}
	if upd := tx.OnResponse(res); upd.Res == nil || upd.Res.StatusCode != 180 || upd.Done {
		t.Fatalf("180 gave %+v", upd)
	}
	if n := len(clock.Pending(kindIs(evRetransmit))) + len(clock.Pending(kindIs(evTimeout))); n != 0 {
		t.Fatalf("%d timers still armed in Proceeding", n)
	}
	// A 486 ends it; the transaction ACKs it on its own, in the same branch.
	busy := answer(invite, 486, "Busy Here")
	p.send(busy)
	if upd := tx.OnResponse(next(t, ep).(*sip.Response)); !upd.Done || upd.Res.StatusCode != 486 {
		t.Fatalf("486 gave %+v", upd)
	}
	m, ack1 := p.read()
	ack := m.(*sip.Request)
	if ack.Method != sip.ACK || BranchOf(ack) != tx.Branch() || ToTag(ack) != "peer-tag" || ack.CSeq().SeqNo != 1 {
		t.Fatalf("ACK of the 486:\n%s", ack1)
	}
	// The 486 again (our ACK was lost): the ACK again, and nothing for the owner.
	p.send(busy)
	if _, ack2 := p.read(); ack2 != ack1 {
		t.Fatalf("second ACK differs:\n%s\n%s", ack1, ack2)
	}
	quiet(t, ep, 100*time.Millisecond)
}

func TestInviteTimerBEndsItWithATimeout(t *testing.T) {
	tr, clock := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep, tx, _ := startCall(t, tr, p, sip.INVITE)
	p.read()
	if got := clock.Pending(kindIs(evTimeout)); len(got) != 1 || got[0] != 64*sip.T1 {
		t.Fatalf("Timer B armed %v, want [%v]", got, 64*sip.T1)
	}
	upd := fire(t, clock, ep, tx, evTimeout)
	if !upd.Done || !isTimeout(upd.Err) {
		t.Fatalf("Timer B gave %+v", upd)
	}
	if n := len(clock.Pending(kindIs(evRetransmit))); n != 0 {
		t.Fatalf("Timer A still armed after Timer B")
	}
}

func TestNonInviteRetransmitsCappedAtT2AndTimesOutWithTimerF(t *testing.T) {
	tr, clock := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep, tx, _ := startCall(t, tr, p, sip.BYE)
	m, raw := p.read()
	// T1, doubling up to T2, then T2 again.
	var want []time.Duration
	for d := sip.T1; len(want) == 0 || want[len(want)-1] < sip.T2; d *= 2 {
		want = append(want, min(d, sip.T2))
	}
	want = append(want, sip.T2)
	for i, w := range want {
		if got := clock.Pending(kindIs(evRetransmit)); len(got) != 1 || got[0] != w {
			t.Fatalf("Timer E #%d armed %v, want %v", i, got, w)
		}
		fire(t, clock, ep, tx, evRetransmit)
		if _, again := p.read(); again != raw {
			t.Fatalf("retransmission #%d differs", i)
		}
	}
	// A provisional: retransmissions go on, every T2.
	p.send(answer(m.(*sip.Request), 100, "Trying"))
	if upd := tx.OnResponse(next(t, ep).(*sip.Response)); upd.Done {
		t.Fatal("100 ended the transaction")
	}
	if got := clock.Pending(kindIs(evRetransmit)); len(got) != 1 || got[0] != sip.T2 {
		t.Fatalf("Timer E after 100: %v, want [%v]", got, sip.T2)
	}
	upd := fire(t, clock, ep, tx, evTimeout)
	if !upd.Done || !isTimeout(upd.Err) {
		t.Fatalf("Timer F gave %+v", upd)
	}
}

// A 2xx we ACKed, sent again because our ACK was lost, gets the same ACK
// from the transport, also after the call has been released.
func TestAckedTwoHundredRetransmissionGetsTheACKAgain(t *testing.T) {
	tr, _ := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep, tx, req := startCall(t, tr, p, sip.INVITE)
	m, _ := p.read()
	ok := answer(m.(*sip.Request), 200, "OK")
	p.send(ok)
	res := next(t, ep).(*sip.Response)
	if upd := tx.OnResponse(res); !upd.Done || upd.Res.StatusCode != 200 {
		t.Fatalf("200 gave %+v", upd)
	}
	p.silent(50 * time.Millisecond) // no ACK of its own for a 2xx: that is the owner's
	d := NewDialog(res, req.Recipient)
	if err := tr.SendACK(d.ACK(1, nil), res); err != nil {
		t.Fatal(err)
	}
	_, ack1 := p.read()
	if !strings.HasPrefix(ack1, "ACK ") || strings.Contains(ack1, tx.Branch()) {
		t.Fatalf("2xx ACK (a new branch):\n%s", ack1)
	}
	tr.Unregister(req.CallID().Value(), ep) // the call is released
	p.send(ok)
	if _, ack2 := p.read(); ack2 != ack1 {
		t.Fatalf("ACK again differs:\n%s\n%s", ack1, ack2)
	}
	quiet(t, ep, 50*time.Millisecond)
	if n := tr.orphans.pending(); n != 0 {
		t.Fatalf("the orphanage runs %d transactions for a 2xx already ACKed", n)
	}
}

// A request repeated because our answer was lost gets the same answer from
// the transport, not a second look by its owner; once the linger is over
// and the call released, it is out of dialog.
func TestRetransmittedRequestGetsTheSameAnswer(t *testing.T) {
	tr, _ := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep := make(chanEndpoint, 16)
	tr.Register("call-1", ep)
	bye := sip.NewRequest(sip.BYE, sip.Uri{Scheme: "sip", User: "clicktocall", Host: "127.0.0.1", Port: tr.Port()})
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1",
		Port: p.uri().Port, Params: sip.NewParams()}
	via.Params.Add("branch", "z9hG4bKpeerbye")
	bye.AppendHeader(via)
	fromTag, toTag := sip.NewParams(), sip.NewParams()
	fromTag.Add("tag", "peer-tag")
	toTag.Add("tag", "ours")
	bye.AppendHeader(&sip.FromHeader{Address: p.uri(), Params: fromTag})
	bye.AppendHeader(&sip.ToHeader{Address: bye.Recipient, Params: toTag})
	cid := sip.CallIDHeader("call-1")
	bye.AppendHeader(&cid)
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.BYE})
	bye.SetBody(nil)
	p.send(bye)
	got := next(t, ep).(*sip.Request)
	if err := tr.Respond(got, 200, "OK", nil); err != nil {
		t.Fatal(err)
	}
	_, ok1 := p.read()
	p.send(bye)
	if _, ok2 := p.read(); ok2 != ok1 {
		t.Fatalf("answer again differs:\n%s\n%s", ok1, ok2)
	}
	quiet(t, ep, 50*time.Millisecond)
	// The same branch in another call (a peer that reuses branches) is a
	// new request of that call, not a retransmission.
	other := make(chanEndpoint, 16)
	tr.Register("call-2", other)
	bye2 := bye.Clone()
	cid2 := sip.CallIDHeader("call-2")
	bye2.ReplaceHeader(&cid2)
	p.send(bye2)
	if got := next(t, other).(*sip.Request); got.CallID().Value() != "call-2" {
		t.Fatalf("call-2 got %s", got.CallID().Value())
	}
	tr.Unregister("call-1", ep)
	tr.linger.sweep(time.Now().Add(tr.linger.ttl + time.Second))
	p.send(bye)
	if m, raw := p.read(); m.(*sip.Response).StatusCode != 481 {
		t.Fatalf("BYE after the linger answered:\n%s", raw)
	}
}

// A 2xx for a call that is gone (no owner, nothing lingering) still ends
// its dialog: ACK, then BYE.
func TestTwoHundredForAReleasedCallIsACKedAndByed(t *testing.T) {
	tr, _ := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep, tx, req := startCall(t, tr, p, sip.INVITE)
	m, _ := p.read()
	tx.Stop()
	tr.Unregister(req.CallID().Value(), ep)
	p.send(answer(m.(*sip.Request), 200, "OK"))
	a, raw := p.read()
	if a.(*sip.Request).Method != sip.ACK {
		t.Fatalf("want ACK first, got:\n%s", raw)
	}
	b, raw := p.read()
	bye, ok := b.(*sip.Request)
	if !ok || bye.Method != sip.BYE || ToTag(bye) != "peer-tag" {
		t.Fatalf("want BYE in the dialog, got:\n%s", raw)
	}
	if n := tr.orphans.pending(); n != 1 {
		t.Fatalf("orphanage runs %d transactions, want the BYE", n)
	}
	p.send(answer(bye, 200, "OK"))
	waitFor(t, func() bool { return tr.orphans.pending() == 0 })
}

// A leg that goes away while its INVITE has had no provisional hands it
// over: the CANCEL leaves at the first provisional, the 487 is ACKed.
func TestAbandonedInviteIsCancelledAtTheFirstProvisional(t *testing.T) {
	tr, _ := newFakeTransport(t)
	p := newRawPeer(t, tr)
	ep, tx, req := startCall(t, tr, p, sip.INVITE)
	m, _ := p.read()
	invite := m.(*sip.Request)
	tr.Abandon(tx, nil)
	tr.Unregister(req.CallID().Value(), ep)
	p.silent(50 * time.Millisecond) // no CANCEL before a provisional (RFC 3261 §9.1)
	p.send(answer(invite, 180, "Ringing"))
	c, raw := p.read()
	cancel := c.(*sip.Request)
	if cancel.Method != sip.CANCEL || BranchOf(cancel) != tx.Branch() || cancel.CSeq().MethodName != sip.CANCEL {
		t.Fatalf("want the CANCEL in the INVITE's branch, got:\n%s", raw)
	}
	p.send(answer(cancel, 200, "OK"))
	p.send(answer(invite, 487, "Request Terminated"))
	a, raw := p.read()
	if a.(*sip.Request).Method != sip.ACK || BranchOf(a.(*sip.Request)) != tx.Branch() {
		t.Fatalf("want the ACK of the 487, got:\n%s", raw)
	}
	waitFor(t, func() bool { return tr.orphans.pending() == 0 })
	quiet(t, ep, 50*time.Millisecond)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
	}
}

// Anyone can send a 2xx with our Via: the ACK and BYE the transport sends
// for calls that are gone are rate-limited, so it is no reflector.
func TestStrayTwoHundredsAreRateLimited(t *testing.T) {
	tr, _ := newFakeTransport(t)
	p := newRawPeer(t, tr)
	invite := sip.NewRequest(sip.INVITE, p.uri())
	tr.complete(invite)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1",
		Port: tr.Port(), Params: sip.NewParams()}
	via.Params.Add("branch", "z9hG4bKspoof")
	invite.AppendHeader(via)
	const sent = 3 * strayRate
	for i := range sent {
		ok := answer(invite, 200, "OK")
		cid := sip.CallIDHeader(fmt.Sprintf("spoof-%d", i))
		ok.ReplaceHeader(&cid)
		p.send(ok)
	}
	acks := 0
	buf := make([]byte, 65535)
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if strings.HasPrefix(string(buf[:n]), "ACK ") {
			acks++
		}
	}
	if acks == 0 || acks > strayRate+strayRate/2 {
		t.Fatalf("%d spoofed 2xx got %d ACKs, want some and at most about %d", sent, acks, strayRate)
	}
}
