package phone

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func TestAnswerWithSDPThenReferNotifiesThenBye(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			ctx := testCtx(t)
			p := newPhone(t, Config{User: "alice", Transports: []string{tp}, Behaviour: Behaviour{
				Ring: true, RingDelay: 50 * time.Millisecond,
				Refer: ReferBehaviour{EventID: true, Ringing: true},
			}})
			u := newUAC(t, tp)

			dcs, got, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{})
			if err != nil {
				t.Fatalf("INVITE: %v (responses %v)", err, codes(got))
			}
			if !slices.Contains(codes(got), "180") {
				t.Errorf("responses %v, want a 180", codes(got))
			}
			answer := dcs.InviteResponse.Body()
			if dir := SDPDirection(answer); dir != "inactive" {
				t.Errorf("answer direction %q, want inactive (offer was inactive)\n%s", dir, answer)
			}
			if addr, err := SDPAddress(answer); err != nil || !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
				t.Errorf("answer address %q, %v", addr, err)
			}
			if err := dcs.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			callID := dcs.InviteRequest.CallID().Value()
			if _, err := p.WaitCallID(ctx, callID, InState(CallConfirmed)); err != nil {
				t.Fatal(err)
			}

			res := u.refer(ctx, dcs, "sip:bob@127.0.0.1:5999")
			if res.StatusCode != 202 {
				t.Fatalf("REFER answered %d, want 202", res.StatusCode)
			}
			referCSeq := dcs.CSEQ()
			var frags, states []string
			for range 3 {
				n := u.nextNotify(ctx)
				frags = append(frags, strings.TrimSpace(string(n.Body())))
				states = append(states, n.GetHeader("Subscription-State").Value())
				if ev := n.GetHeader("Event").Value(); ev != "refer;id="+strconv.FormatUint(uint64(referCSeq), 10) {
					t.Errorf("Event %q, want refer;id=%d", ev, referCSeq)
				}
				if ct := n.GetHeader("Content-Type").Value(); ct != "message/sipfrag;version=2.0" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			if want := []string{"SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"}; !slices.Equal(frags, want) {
				t.Errorf("sipfrags %q, want %q", frags, want)
			}
			if states[0] != "active;expires=60" || states[2] != "terminated;reason=noresource" {
				t.Errorf("Subscription-State %q", states)
			}
			if err := dcs.Bye(ctx); err != nil {
				t.Fatal(err)
			}

			c, err := p.WaitCallID(ctx, callID, InState(CallEnded))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.Methods(In), []string{"INVITE", "ACK", "REFER", "BYE"}; !slices.Equal(got, want) {
				t.Errorf("received %v, want %v", got, want)
			}
			refer, _ := c.Request(In, sip.REFER)
			if rt := refer.Header("Refer-To"); rt != "<sip:bob@127.0.0.1:5999>" {
				t.Errorf("recorded Refer-To %q", rt)
			}
			if n := len(c.Requests(Out, sip.NOTIFY)); n != 3 {
				t.Errorf("recorded %d NOTIFYs sent, want 3", n)
			}
			if c.Transport != strings.ToUpper(tp) {
				t.Errorf("transport %q", c.Transport)
			}
			st := p.Stats()
			if st.CallsReceived != 1 || st.Answered != 1 || st.RefersAccepted != 1 || st.NotifiesSent != 3 || st.ByesReceived != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestOfferlessInviteAnsweredWithOfferAndAckAnswerRecorded(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{})
	u := newUAC(t, "udp")
	dcs, got, err := u.invite(ctx, p, nil, sipgo.AnswerOptions{})
	if err != nil {
		t.Fatalf("INVITE: %v (%v)", err, codes(got))
	}
	offer := dcs.InviteResponse.Body()
	if SDPDirection(offer) != "sendrecv" {
		t.Fatalf("200 carries no sendrecv offer:\n%s", offer)
	}
	ack := sip.NewRequest(sip.ACK, dcs.InviteResponse.Contact().Address)
	ack.SetBody([]byte(testOffer))
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := dcs.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	c, err := p.WaitCall(ctx, InState(CallConfirmed))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := c.Request(In, sip.ACK)
	if !ok || string(m.Body()) != testOffer {
		t.Errorf("ACK body recorded %q", m.Body())
	}
	if got, want := c.Flow(), []string{"recv INVITE", "sent 200 INVITE", "recv ACK"}; !slices.Equal(got, want) {
		t.Errorf("flow %v, want %v", got, want)
	}
}

func TestBusy(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Behaviour: Behaviour{RejectCode: 486}})
	u := newUAC(t, "udp")
	_, _, err := u.invite(ctx, p, []byte(testOffer), sipgo.AnswerOptions{})
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) || de.Res.StatusCode != 486 {
		t.Fatalf("INVITE: %v, want 486", err)
	}
	c, err := p.WaitCall(ctx, InState(CallRejected))
	if err != nil {
		t.Fatal(err)
	}
	if c.FinalCode != 486 || p.Stats().Rejected != 1 {
		t.Errorf("final %d, stats %+v", c.FinalCode, p.Stats())
	}
}

func TestNeverAnswerThenCancel(t *testing.T) {
	ctx := testCtx(t)
	p := newPhone(t, Config{Behaviour: Behaviour{Ring: true, NoAnswer: true}})
	u := newUAC(t, "udp")
	rang := make(chan struct{})
	inviteCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-rang:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, got, err := u.invite(inviteCtx, p, []byte(testOffer), sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.StatusCode == 180 {
			close(rang)
		}
		return nil
	}})
	if err == nil {
		t.Fatalf("INVITE succeeded: %v", codes(got))
	}
	c, err := p.WaitCall(ctx, InState(CallCancelled))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Flow(), []string{"recv INVITE", "sent 180 INVITE", "recv CANCEL", "sent 200 CANCEL", "sent 487 INVITE"}; !slices.Equal(got, want) {
		t.Errorf("flow %v, want %v", got, want)
	}
}
