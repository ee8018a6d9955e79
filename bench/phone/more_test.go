package phone

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func TestDigestChallengeThenRetriedInviteAccepted(t *testing.T) {
	for _, qop := range []bool{false, true} {
		t.Run(fmt.Sprintf("qop=%v", qop), func(t *testing.T) {
			ctx := testCtx(t)
			p := newPhone(t, Config{Behaviour: Behaviour{Auth: &Credentials{Username: "c2c", Password: "s3cret", Realm: "lab", QOP: qop}}})
			u := newUAC(t, "udp")
			dcs, got, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{Username: "c2c", Password: "s3cret"})
			if err != nil {
				t.Fatalf("INVITE: %v (%v)", err, codes(got))
			}
			if err := dcs.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			c, err := p.WaitCall(ctx, InState(CallConfirmed))
			if err != nil {
				t.Fatal(err)
			}
			invites := c.Requests(In, sip.INVITE)
			if len(invites) != 2 || invites[0].Header("Authorization") != "" || invites[1].Header("Authorization") == "" {
				t.Errorf("INVITEs %v", c.Flow())
			}
			ch, ok := c.Find(Out, sip.INVITE, 401)
			if !ok || !strings.Contains(ch.Header("WWW-Authenticate"), `realm="lab"`) {
				t.Errorf("401 %q", ch.Header("WWW-Authenticate"))
			}
			if st := p.Stats(); st.Challenged != 1 || st.CallsReceived != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestDigestWrongPasswordStaysChallenged(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Behaviour: Behaviour{Auth: &Credentials{Username: "c2c", Password: "s3cret"}}})
	u := newUAC(t, "udp")
	_, _, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{Username: "c2c", Password: "wrong"})
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) || de.Res.StatusCode != 401 {
		t.Fatalf("INVITE: %v, want 401", err)
	}
	if st := p.Stats(); st.CallsReceived != 0 || st.Challenged < 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestReferRefusedOrIgnored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		refer ReferBehaviour
		want  int // 0: no answer
	}{
		{"405", ReferBehaviour{Mode: ReferReject, RejectCode: 405}, 405},
		{"501", ReferBehaviour{Mode: ReferReject, RejectCode: 501}, 501},
		{"default 603", ReferBehaviour{Mode: ReferReject}, 603},
		{"ignored", ReferBehaviour{Mode: ReferIgnore}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			p := newPhone(t, Config{Behaviour: Behaviour{Refer: tc.refer}})
			u := newUAC(t, "udp")
			dcs := answeredCall(ctx, t, u, p)
			req := sip.NewRequest(sip.REFER, dcs.InviteResponse.Contact().Address)
			req.AppendHeader(sip.NewHeader("Refer-To", "<sip:bob@127.0.0.1>"))
			rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
			res, err := dcs.Do(rctx, req)
			switch {
			case tc.want == 0 && err == nil:
				t.Fatalf("ignored REFER answered %d", res.StatusCode)
			case tc.want != 0 && (err != nil || res.StatusCode != tc.want):
				t.Fatalf("REFER: %v %v, want %d", res, err, tc.want)
			}
			if tc.want == 405 && res.GetHeader("Allow") == nil {
				t.Error("405 without Allow")
			}
			c, err := p.WaitCall(ctx, Received(sip.REFER))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(c.Requests(Out, sip.NOTIFY)); n != 0 {
				t.Errorf("%d NOTIFYs sent for a refused REFER", n)
			}
			select {
			case n := <-u.notifies:
				t.Errorf("NOTIFY %q after refused REFER", n.Body())
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

func TestReferAcceptedSilentlyAndFinalBusy(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Transports: []string{"tcp"}, Behaviour: Behaviour{Refer: ReferBehaviour{FinalCode: 486}}})
	u := newUAC(t, "tcp")
	dcs := answeredCall(ctx, t, u, p)
	if res := u.refer(ctx, dcs, "sip:bob@127.0.0.1"); res.StatusCode != 202 {
		t.Fatalf("REFER %d", res.StatusCode)
	}
	first, last := u.nextNotify(ctx), u.nextNotify(ctx)
	if ev := first.GetHeader("Event").Value(); ev != "refer" {
		t.Errorf("Event %q, want refer without id", ev)
	}
	if b := strings.TrimSpace(string(last.Body())); b != "SIP/2.0 486 Busy Here" {
		t.Errorf("final sipfrag %q", b)
	}

	p.SetBehaviour(Behaviour{Refer: ReferBehaviour{Mode: ReferAcceptSilent}})
	dcs2 := answeredCall(ctx, t, u, p)
	if res := u.refer(ctx, dcs2, "sip:bob@127.0.0.1"); res.StatusCode != 202 {
		t.Fatalf("REFER %d", res.StatusCode)
	}
	select {
	case n := <-u.notifies:
		t.Errorf("silent phone sent NOTIFY %q", n.Body())
	case <-time.After(200 * time.Millisecond):
	}
}

// answeredCall places an answered, ACKed call from u to p.
func answeredCall(ctx context.Context, t *testing.T, u *uac, p *Phone) *sipgo.DialogClientSession {
	t.Helper()
	dcs, got, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{})
	if err != nil {
		t.Fatalf("INVITE: %v (%v)", err, codes(got))
	}
	if err := dcs.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitCallID(ctx, dcs.InviteRequest.CallID().Value(), InState(CallConfirmed)); err != nil {
		t.Fatal(err)
	}
	return dcs
}

func TestTalkTimeEndsCallWithBye(t *testing.T) {
	ctx := testCtx(t)
	var events []EventKind
	var mu sync.Mutex
	p := newPhone(t, Config{Behaviour: Behaviour{TalkTime: 100 * time.Millisecond}, OnEvent: func(e Event) {
		mu.Lock()
		events = append(events, e.Kind)
		mu.Unlock()
	}})
	u := newUAC(t, "udp")
	answeredCall(ctx, t, u, p)
	select {
	case <-u.byes:
	case <-ctx.Done():
		t.Fatal("no BYE from the phone")
	}
	c, err := p.WaitCall(ctx, func(c Call) bool { _, ok := c.Find(In, sip.BYE, 200); return ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.State != CallEnded || p.Stats().ByesSent != 1 {
		t.Errorf("state %s stats %+v", c.State, p.Stats())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []EventKind{EventInvite, EventAnswered, EventConfirmed, EventByeSent}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
}

func TestReinviteFromServerAndFromPhone(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{})
	u := newUAC(t, "udp")
	dcs := answeredCall(ctx, t, u, p)
	callID := dcs.InviteRequest.CallID().Value()

	// Server → phone: offerless re-INVITE; the phone offers in the 200, we answer in the ACK.
	req := sip.NewRequest(sip.INVITE, dcs.InviteResponse.Contact().Address)
	res, err := dcs.Do(ctx, req)
	if err != nil || res.StatusCode != 200 || SDPDirection(res.Body()) != "sendrecv" {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	ack := sip.NewRequest(sip.ACK, dcs.InviteResponse.Contact().Address)
	ack.SetBody([]byte(testOffer))
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := dcs.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	c, err := p.WaitCallID(ctx, callID, func(c Call) bool { return len(c.Requests(In, sip.ACK)) == 2 })
	if err != nil {
		t.Fatal(err)
	}
	acks := c.Requests(In, sip.ACK)
	if string(acks[1].Body()) != testOffer {
		t.Errorf("re-INVITE ACK body %q", acks[1].Body())
	}
	s1, v1, _ := SDPOrigin(c.Responses(Out, sip.INVITE)[0].Body())
	s2, v2, _ := SDPOrigin(c.Responses(Out, sip.INVITE)[1].Body())
	if s1 != s2 || v2 <= v1 {
		t.Errorf("phone's o= not one session with growing version: %d/%d then %d/%d", s1, v1, s2, v2)
	}

	// Phone → server: offerless re-INVITE through the API; the UAC offers, the phone answers in the ACK.
	res, err = p.Reinvite(ctx, callID, true)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("phone re-INVITE: %v %v", res, err)
	}
	select {
	case ack := <-u.acks:
		if SDPDirection(ack.Body()) != "inactive" {
			t.Errorf("phone's ACK does not answer the inactive offer: %q", ack.Body())
		}
	case <-ctx.Done():
		t.Fatal("no ACK from the phone")
	}
	// And with an offer.
	if res, err = p.Reinvite(ctx, callID, false); err != nil || res.StatusCode != 200 {
		t.Fatalf("phone re-INVITE: %v %v", res, err)
	}
	c, _ = p.Call(callID)
	sent := c.Requests(Out, sip.INVITE)
	if len(sent) != 2 || sent[0].Body() != nil || SDPDirection(sent[1].Body()) != "sendrecv" {
		t.Errorf("re-INVITEs sent: %v", c.Flow())
	}
	if got := c.Methods(Out); !slices.Equal(got, []string{"INVITE", "ACK", "INVITE", "ACK"}) {
		t.Errorf("sent %v", got)
	}
}

func TestEarlyMediaAndRingDelay(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Behaviour: Behaviour{Ring: true, EarlyMedia: true, RingDelay: 100 * time.Millisecond}})
	u := newUAC(t, "udp")
	start := time.Now()
	dcs := answeredCall(ctx, t, u, p)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered after %v, want >= RingDelay", d)
	}
	c, _ := p.Call(dcs.InviteRequest.CallID().Value())
	early, ok := c.Find(Out, sip.INVITE, 183)
	if !ok || SDPDirection(early.Body()) != "inactive" {
		t.Errorf("183 %v %q", ok, early.Body())
	}
	if got, want := c.Flow(), []string{"recv INVITE", "sent 180 INVITE", "sent 183 INVITE", "sent 200 INVITE", "recv ACK"}; !slices.Equal(got, want) {
		t.Errorf("flow %v, want %v", got, want)
	}
}

func TestHundredConcurrentCalls(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Transports: []string{"udp", "tcp"}, Behaviour: Behaviour{Ring: true, RingDelay: 20 * time.Millisecond}})
	hundredCalls(ctx, t, p)
	calls, err := p.WaitFor(ctx, func(calls []Call) bool {
		return len(calls) == 100 && !slices.ContainsFunc(calls, func(c Call) bool { return c.State != CallEnded })
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if got := c.Methods(In); !slices.Equal(got, []string{"INVITE", "ACK", "BYE"}) {
			t.Fatalf("call %s received %v", c.CallID, got)
		}
	}
}

func TestNoRecordingForgetsEndedCalls(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{NoRecording: true})
	hundredCalls(ctx, t, p)
	if _, err := p.WaitFor(ctx, func(calls []Call) bool { return len(calls) == 0 }); err != nil {
		t.Fatal(err)
	}
}

// hundredCalls places 100 concurrent calls to p, each answered, ACKed and ended with BYE.
func hundredCalls(ctx context.Context, t *testing.T, p *Phone) {
	t.Helper()
	u := newUAC(t, "udp")
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dcs, _, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{})
			if err != nil {
				errs <- err
				return
			}
			if err := dcs.Ack(ctx); err != nil {
				errs <- err
				return
			}
			if err := dcs.Bye(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.CallsReceived != n || st.Answered != n || st.ByesReceived != n {
		t.Errorf("stats %+v", st)
	}
}

func TestIPv6(t *testing.T) {
	p, err := New(Config{Host: "::1", Transports: []string{"udp", "tcp"}})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer p.Close()
	if u := p.URI("tcp"); u.Host != "[::1]" || u.Port == 0 {
		t.Errorf("URI %s", u.String())
	}
	if !strings.HasPrefix(p.Addr("udp"), "[::1]:") {
		t.Errorf("Addr %q", p.Addr("udp"))
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := testCtx(t)
	p, err := New(Config{Transports: []string{"udp", "tcp"}, Behaviour: Behaviour{Ring: true}})
	if err != nil {
		t.Fatal(err)
	}
	never, err := New(Config{Behaviour: Behaviour{NoAnswer: true}})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		u := newUACNoCleanup(t, "udp")
		defer u.close()
		answeredCall(ctx, t, u, p)
		// A call left ringing forever: Close must end its handler.
		ictx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		go func() { _, _, _ = u.invite(ictx, never, []byte(testOffer), sipgo.AnswerOptions{}) }()
		if _, err := never.WaitCall(ctx, Received(sip.INVITE)); err != nil {
			t.Fatal(err)
		}
	}()
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := never.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// sipgo keeps process-wide timers (transaction timers fire in their own goroutines for a
	// while); allow a small margin and wait for the rest to go.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReferDialsTheTargetAndNotifiesItsResponses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Behaviour
		frags  []string
	}{
		{"answered", Behaviour{Ring: true, RingDelay: 30 * time.Millisecond}, []string{"SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"}},
		{"busy", Behaviour{RejectCode: 486}, []string{"SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			alice := newPhone(t, Config{User: "alice", Behaviour: Behaviour{Refer: ReferBehaviour{Dial: true}}})
			bob := newPhone(t, Config{User: "bob", Behaviour: tc.target})
			u := newUAC(t, "udp")
			dcs := answeredCall(ctx, t, u, alice)
			bobURI := bob.URI("udp")
			if res := u.refer(ctx, dcs, bobURI.String()); res.StatusCode != 202 {
				t.Fatalf("REFER %d", res.StatusCode)
			}
			var frags []string
			for len(frags) < len(tc.frags) {
				frags = append(frags, strings.TrimSpace(string(u.nextNotify(ctx).Body())))
			}
			if !slices.Equal(frags, tc.frags) {
				t.Errorf("sipfrags %q, want %q", frags, tc.frags)
			}
			bc, err := bob.WaitCall(ctx, Received(sip.INVITE))
			if err != nil {
				t.Fatal(err)
			}
			inv, _ := bc.Request(In, sip.INVITE)
			if inv.Header("Referred-By") != "<sip:c2c@127.0.0.1>" || SDPDirection(inv.Body()) != "sendrecv" {
				t.Errorf("target's INVITE: Referred-By %q, body %q", inv.Header("Referred-By"), inv.Body())
			}
			ac, err := alice.WaitCallID(ctx, bc.CallID, InState(CallConfirmed, CallRejected))
			if err != nil {
				t.Fatal(err)
			}
			if !ac.Outgoing {
				t.Error("the dialled call is not marked outgoing")
			}
			if tc.name == "answered" {
				if _, err := bob.WaitCallID(ctx, bc.CallID, InState(CallConfirmed)); err != nil {
					t.Fatal(err)
				}
				if err := alice.Bye(ctx, bc.CallID); err != nil {
					t.Fatal(err)
				}
				if _, err := bob.WaitCallID(ctx, bc.CallID, InState(CallEnded)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestSentRequestIsRecordedBeforeThePeerSeesIt(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{})
	u := newUAC(t, "udp")
	dcs := answeredCall(ctx, t, u, p)
	u.refer(ctx, dcs, "sip:bob@127.0.0.1")
	n := u.nextNotify(ctx)
	c, _ := p.Call(dcs.InviteRequest.CallID().Value())
	got, ok := c.Request(Out, sip.NOTIFY)
	if !ok || got.CSeq() != n.CSeq().SeqNo || got.Header("Event") != "refer" {
		t.Fatalf("recorded NOTIFY %v %q, peer got CSeq %d", ok, got.Header("Event"), n.CSeq().SeqNo)
	}
}

func TestFinalNotifyCanFollowTheServersBye(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Behaviour: Behaviour{Refer: ReferBehaviour{FinalNotifyDelay: 150 * time.Millisecond}}})
	u := newUAC(t, "udp")
	dcs := answeredCall(ctx, t, u, p)
	u.refer(ctx, dcs, "sip:bob@127.0.0.1")
	if b := strings.TrimSpace(string(u.nextNotify(ctx).Body())); b != "SIP/2.0 100 Trying" {
		t.Fatalf("first sipfrag %q", b)
	}
	if err := dcs.Bye(ctx); err != nil { // the server gives up waiting, as on its REFER timeout
		t.Fatal(err)
	}
	if b := strings.TrimSpace(string(u.nextNotify(ctx).Body())); b != "SIP/2.0 200 OK" {
		t.Fatalf("final sipfrag %q", b)
	}
	c, err := p.WaitCall(ctx, func(c Call) bool { return len(c.Responses(In, sip.NOTIFY)) == 2 })
	if err != nil {
		t.Fatal(err)
	}
	flow := c.Flow()
	if i, j := slices.Index(flow, "recv BYE"), slices.Index(flow, "sent NOTIFY"); i < 0 || j < 0 || flow[len(flow)-2] != "sent NOTIFY" || i > len(flow)-2 {
		t.Errorf("final NOTIFY not after BYE: %v", flow)
	}
}

// sipgo runs each message in its own goroutine, so the ACK of the 200 can be handled after
// a BYE that followed it; without recording, the ended call must stay findable for that ACK.
func TestNoRecordingAckAfterByeStillConfirms(t *testing.T) {
	ctx := testCtx(t)
	confirmed := make(chan struct{}, 1)
	p := newPhone(t, Config{NoRecording: true, OnEvent: func(e Event) {
		if e.Kind == EventConfirmed {
			confirmed <- struct{}{}
		}
	}})
	u := newUAC(t, "udp")
	dcs, got, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{})
	if err != nil {
		t.Fatalf("INVITE: %v (%v)", err, codes(got))
	}
	// The BYE goes out first (dcs.Bye refuses an unconfirmed dialog).
	tx, err := dcs.TransactionRequest(ctx, sip.NewRequest(sip.BYE, dcs.InviteResponse.Contact().Address))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-tx.Responses():
		if res.StatusCode != 200 {
			t.Fatalf("BYE answered %d", res.StatusCode)
		}
	case <-ctx.Done():
		t.Fatal("BYE not answered")
	}
	tx.Terminate()
	// Built by hand: after the BYE, sipgo's dialog would give the ACK the BYE's CSeq.
	ack := sip.NewRequest(sip.ACK, dcs.InviteResponse.Contact().Address)
	ack.AppendHeader(sip.HeaderClone(dcs.InviteRequest.From()))
	ack.AppendHeader(sip.HeaderClone(dcs.InviteResponse.To()))
	ack.AppendHeader(sip.HeaderClone(dcs.InviteRequest.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: dcs.InviteRequest.CSeq().SeqNo, MethodName: sip.ACK})
	if err := u.dua.Client.WriteRequest(ack, sipgo.ClientRequestAddVia); err != nil {
		t.Fatal(err)
	}
	select {
	case <-confirmed:
	case <-ctx.Done():
		t.Fatal("the ACK that came after the BYE was not seen")
	}
	if _, err := p.WaitFor(ctx, func(calls []Call) bool { return len(calls) == 0 }); err != nil {
		t.Fatal(err)
	}
}
