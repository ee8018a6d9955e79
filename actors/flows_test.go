package actors

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
)

func TestReferAcceptedReportsEveryStepAndHangsUpInitiator(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			h := newHarness(t, harnessOpts{transport: tp,
				init: phone.Behaviour{Ring: true, Refer: phone.ReferBehaviour{Ringing: true, EventID: tp == "tcp"}}})
			_, r := h.call(false)
			expectResults(t, r.wait(t, 10*time.Second), "100, 180 I, 200 I, 180 D, 200 D")

			// The phone handles each message in its own goroutine: wait for
			// the ACK's record too rather than snapshot at the BYE.
			c := onlyCall(t, h.init, func(c phone.Call) bool { return phone.Received(sip.BYE)(c) && acks(c) >= 1 })
			// One ACK, or more when the phone's 200 was retransmitted before it arrived.
			if got := methods(c, phone.In); got != "INVITE REFER BYE" || acks(c) < 1 {
				t.Errorf("initiator received %q and %d ACKs", got, acks(c))
			}
			refer, _ := c.Request(phone.In, sip.REFER)
			if got, want := header(refer, "Refer-To"), "<"+h.uri(h.dest)+">"; got != want {
				t.Errorf("Refer-To = %q, want %q", got, want)
			}
			if got := header(refer, "Referred-By"); got != "<sip:clicktocall@example.com>" {
				t.Errorf("Referred-By = %q", got)
			}
			invite, _ := c.Request(phone.In, sip.INVITE)
			if ct := header(invite, "Content-Type"); ct != "application/sdp" {
				t.Errorf("INVITE Content-Type = %q", ct)
			}
			if from := header(invite, "From"); !strings.Contains(from, `"Click-To-Call: bob"`) || !strings.Contains(from, "sip:clicktocall@example.com") {
				t.Errorf("From = %q", from)
			}
			if !strings.Contains(string(invite.Body()), "a=inactive") {
				t.Errorf("placeholder offer is not inactive:\n%s", invite.Body())
			}
			if via := header(invite, "Via"); strings.Contains(via, "0.0.0.0") || !strings.Contains(via, "SIP/2.0/"+strings.ToUpper(tp)) {
				t.Errorf("Via = %q", via)
			}
			// The BYE follows the final NOTIFY.
			flow := strings.Join(c.Flow(), ", ")
			if strings.LastIndex(flow, "sent NOTIFY") > strings.LastIndex(flow, "recv BYE") {
				t.Errorf("BYE before the final NOTIFY: %s", flow)
			}
			h.waitIdle()
			if r.extras() != 0 {
				t.Errorf("%d results after the final", r.extras())
			}
		})
	}
}

func TestReferRefusedFallsBackToAnchored(t *testing.T) {
	for _, code := range []int{405, 501, 603} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := newHarness(t, harnessOpts{init: phone.Behaviour{Refer: phone.ReferBehaviour{Mode: phone.ReferReject, RejectCode: code}}})
			_, r := h.call(false)
			expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
			c := onlyCall(t, h.init, func(c phone.Call) bool { return acks(c) == 2 })
			if got := methods(c, phone.In); got != "INVITE REFER INVITE" {
				t.Errorf("initiator received %q", got)
			}
			onlyCall(t, h.dest, phone.InState(phone.CallConfirmed))
		})
	}
}

func TestReferNeverAnsweredFallsBackAfterTimeout(t *testing.T) {
	h := newHarness(t, harnessOpts{
		sip:  func(s *config.SIP) { s.ReferTimeout = 500 * time.Millisecond },
		init: phone.Behaviour{Refer: phone.ReferBehaviour{Mode: phone.ReferIgnore}}})
	start := time.Now()
	_, r := h.call(false)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("fell back after %v, before the refer timeout", el)
	}
}

func TestReferNotifyFailureEndsCall(t *testing.T) {
	h := newHarness(t, harnessOpts{init: phone.Behaviour{Refer: phone.ReferBehaviour{FinalCode: 486}}})
	_, r := h.call(false)
	got := r.wait(t, 10*time.Second)
	expectResults(t, got, "100, 200 I, 486 D")
	if got[2].Text != "Failed to connect to destination" {
		t.Errorf("text = %q", got[2].Text)
	}
	onlyCall(t, h.init, phone.Received(sip.BYE))
	h.waitIdle()
}

func TestReferWithoutNotifyTimesOut(t *testing.T) {
	h := newHarness(t, harnessOpts{
		sip:  func(s *config.SIP) { s.ReferTimeout = 500 * time.Millisecond },
		init: phone.Behaviour{Refer: phone.ReferBehaviour{Mode: phone.ReferAcceptSilent}}})
	_, r := h.call(false)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 408 D")
	onlyCall(t, h.init, phone.Received(sip.BYE))
	h.waitIdle()
}

func TestAnchoredCallBridgesMediaBeforeReportingSuccess(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			h := newHarness(t, harnessOpts{transport: tp, dest: phone.Behaviour{Ring: true}})
			_, r := h.call(true)
			expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 180 D, 200 D")

			d := onlyCall(t, h.dest, phone.InState(phone.CallConfirmed))
			dInvite, _ := d.Request(phone.In, sip.INVITE)
			if len(dInvite.Body()) != 0 {
				t.Errorf("INVITE to the destination has a body:\n%s", dInvite.Body())
			}
			if from := header(dInvite, "From"); !strings.Contains(from, h.init.URI(tp).Host) {
				t.Errorf("destination From = %q, want the initiator", from)
			}
			destOffer := d.Responses(phone.Out, sip.INVITE)
			offer := destOffer[len(destOffer)-1].Body()
			ack, _ := d.Request(phone.In, sip.ACK)
			if ct := header(ack, "Content-Type"); ct != "application/sdp" {
				t.Errorf("ACK Content-Type = %q", ct)
			}

			i := onlyCall(t, h.init, func(c phone.Call) bool { return len(c.Requests(phone.In, sip.INVITE)) == 2 })
			invites := i.Requests(phone.In, sip.INVITE)
			first, second := parseSDP(t, invites[0].Body()), parseSDP(t, invites[1].Body())
			if first.Origin.SessionID != second.Origin.SessionID || second.Origin.SessionVersion <= first.Origin.SessionVersion {
				t.Errorf("initiator origins: %+v then %+v", first.Origin, second.Origin)
			}
			// The re-INVITE carries the destination's media.
			if want := parseSDP(t, offer); second.MediaDescriptions[0].MediaName.Port != want.MediaDescriptions[0].MediaName.Port {
				t.Errorf("re-INVITE media port %d, destination offered %d", second.MediaDescriptions[0].MediaName.Port.Value, want.MediaDescriptions[0].MediaName.Port.Value)
			}
			// The destination's ACK carries the initiator's answer.
			answers := i.Responses(phone.Out, sip.INVITE)
			initAnswer := parseSDP(t, answers[len(answers)-1].Body())
			ackSDP := parseSDP(t, ack.Body())
			if ackSDP.MediaDescriptions[0].MediaName.Port != initAnswer.MediaDescriptions[0].MediaName.Port {
				t.Errorf("ACK media port %d, initiator answered %d", ackSDP.MediaDescriptions[0].MediaName.Port.Value, initAnswer.MediaDescriptions[0].MediaName.Port.Value)
			}
		})
	}
}

func parseSDP(t *testing.T, b []byte) *sdp.SessionDescription {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.Unmarshal(b); err != nil {
		t.Fatalf("parse sdp: %v\n%s", err, b)
	}
	return &d
}

func TestInitiatorFailures(t *testing.T) {
	cases := []struct {
		name string
		b    phone.Behaviour
		want string
	}{
		{"busy", phone.Behaviour{Ring: true, RejectCode: 486}, "100, 180 I, 486 I"},
		{"rejects", phone.Behaviour{RejectCode: 603}, "100, 603 I"},
		{"never answers", phone.Behaviour{Ring: true, NoAnswer: true}, "100, 180 I, 408 I"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{init: tc.b, sip: func(s *config.SIP) { s.RingTimeout = 500 * time.Millisecond }})
			_, r := h.call(false)
			got := r.wait(t, 10*time.Second)
			expectResults(t, got, tc.want)
			if last := got[len(got)-1]; last.Text != "Failed to connect to initiator" {
				t.Errorf("text = %q", last.Text)
			}
			if tc.b.NoAnswer {
				onlyCall(t, h.init, phone.Received(sip.CANCEL))
			}
			h.waitIdle()
		})
	}
}

func TestDestinationBusyHangsUpInitiatorWithReason(t *testing.T) {
	h := newHarness(t, harnessOpts{dest: phone.Behaviour{RejectCode: 486}})
	_, r := h.call(true)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 486 D")
	c := onlyCall(t, h.init, phone.Received(sip.BYE))
	bye, _ := c.Request(phone.In, sip.BYE)
	if reason := header(bye, "Reason"); !strings.Contains(reason, "cause=486") {
		t.Errorf("Reason = %q", reason)
	}
	h.waitIdle()
}

func TestInitiatorHangsUpWhileDestinationRings(t *testing.T) {
	h := newHarness(t, harnessOpts{dest: phone.Behaviour{Ring: true, NoAnswer: true}})
	_, r := h.call(true)
	r.waitFor(t, 180, LegDestination)
	c := onlyCall(t, h.init, phone.InState(phone.CallConfirmed))
	if err := h.init.Bye(deadline(t, 5*time.Second), c.CallID); err != nil {
		t.Fatal(err)
	}
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 180 D, 487 D")
	onlyCall(t, h.dest, phone.Received(sip.CANCEL))
	h.waitIdle()
}

func TestDestinationNeverAnswersTimesOut(t *testing.T) {
	h := newHarness(t, harnessOpts{dest: phone.Behaviour{Ring: true, NoAnswer: true},
		sip: func(s *config.SIP) { s.RingTimeout = 500 * time.Millisecond }})
	_, r := h.call(true)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 180 D, 408 D")
	onlyCall(t, h.dest, phone.Received(sip.CANCEL))
	onlyCall(t, h.init, phone.Received(sip.BYE))
	h.waitIdle()
}

func TestByeAfterConnectReachesTheOtherSide(t *testing.T) {
	for _, side := range []string{"initiator", "destination"} {
		t.Run(side, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			_, r := h.call(true)
			expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
			from, to := h.init, h.dest
			if side == "destination" {
				from, to = h.dest, h.init
			}
			c := onlyCall(t, from, phone.InState(phone.CallConfirmed))
			if err := from.Bye(deadline(t, 5*time.Second), c.CallID); err != nil {
				t.Fatal(err)
			}
			onlyCall(t, to, phone.Received(sip.BYE))
			h.waitIdle()
		})
	}
}

func TestReinviteAfterConnectIsRelayed(t *testing.T) {
	for _, tc := range []struct {
		side      string
		offerless bool
	}{{"initiator", false}, {"destination", false}, {"initiator", true}, {"destination", true}} {
		side := tc.side
		name := side
		if tc.offerless {
			name += " offerless"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			_, r := h.call(true)
			expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
			from, to := h.init, h.dest
			if side == "destination" {
				from, to = h.dest, h.init
			}
			c := onlyCall(t, from, phone.InState(phone.CallConfirmed))
			before := len(onlyCall(t, to, phone.InState(phone.CallConfirmed)).Requests(phone.In, sip.INVITE))
			res, err := from.Reinvite(deadline(t, 5*time.Second), c.CallID, tc.offerless)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || len(res.Body()) == 0 {
				t.Fatalf("re-INVITE answered %d with %d body bytes", res.StatusCode, len(res.Body()))
			}
			relayed := onlyCall(t, to, func(c phone.Call) bool { return len(c.Requests(phone.In, sip.INVITE)) == before+1 })
			reinv := relayed.Requests(phone.In, sip.INVITE)[before]
			if got := len(reinv.Body()) == 0; got != tc.offerless {
				t.Errorf("relayed re-INVITE offerless = %v, want %v", got, tc.offerless)
			}
			if tc.offerless {
				// The other phone's offer came back in our 200; the
				// asker's answer must reach the offerer in our ACK.
				onlyCall(t, to, func(c phone.Call) bool {
					for _, a := range c.Requests(phone.In, sip.ACK) {
						if a.CSeq() == reinv.CSeq() {
							return len(a.Body()) > 0
						}
					}
					return false
				})
			}
		})
	}
}

func TestDigestChallengeIsAnswered(t *testing.T) {
	creds := &phone.Credentials{Username: "ctc", Password: "secret"}
	h := newHarness(t, harnessOpts{init: phone.Behaviour{Auth: creds},
		sip: func(s *config.SIP) { s.AuthUsername, s.AuthPassword = "ctc", "secret" }})
	_, r := h.call(false)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	c := onlyCall(t, h.init, phone.Received(sip.BYE))
	invites := c.Requests(phone.In, sip.INVITE)
	if len(invites) < 2 || header(invites[1], "Authorization") == "" {
		t.Fatalf("no authorized INVITE retry: %s", c)
	}
}

func TestOKThatCrossesCancelIsAckedAndByed(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.RingTimeout = 300 * time.Millisecond }})
	peer := newRawPeer(t)
	r := newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest)}, r.add); err != nil {
		t.Fatal(err)
	}
	invite, from := peer.read("INVITE")
	peer.respond(invite, from, "180 Ringing", "x1", "")
	cancel, cfrom := peer.read("CANCEL")
	// Answer the INVITE as if our 200 had left before the CANCEL arrived.
	peer.respond(invite, from, "200 OK", "x1", rawSDP)
	peer.respond(cancel, cfrom, "481 Call/Transaction Does Not Exist", "x1", "")
	expectResults(t, r.wait(t, 10*time.Second), "100, 180 I, 408 I")
	ack, _ := peer.read("ACK")
	if !strings.Contains(headerOf(ack, "To"), "tag=x1") {
		t.Errorf("ACK To = %q", headerOf(ack, "To"))
	}
	bye, bfrom := peer.read("BYE")
	peer.respond(bye, bfrom, "200 OK", "", "")
	if headerOf(bye, "Call-ID") != headerOf(invite, "Call-ID") {
		t.Errorf("BYE for another call")
	}
}

func TestMaxCallDurationEndsAnchoredCall(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.MaxCallDuration = 300 * time.Millisecond }})
	_, r := h.call(true)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	onlyCall(t, h.init, phone.Received(sip.BYE))
	onlyCall(t, h.dest, phone.Received(sip.BYE))
	h.waitIdle()
}

func TestAutoAnswerAndIdentityFromOptions(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) {
		s.AutoAnswer = true
		s.DestinationFrom = "identity"
	}})
	_, r := h.call(true)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	i := onlyCall(t, h.init, phone.Received(sip.INVITE))
	invite, _ := i.Request(phone.In, sip.INVITE)
	if ci := header(invite, "Call-Info"); !strings.Contains(ci, "answer-after=0") {
		t.Errorf("Call-Info = %q", ci)
	}
	d := onlyCall(t, h.dest, phone.Received(sip.INVITE))
	dInvite, _ := d.Request(phone.In, sip.INVITE)
	if from := header(dInvite, "From"); !strings.Contains(from, "sip:clicktocall@example.com") {
		t.Errorf("destination From = %q, want the identity", from)
	}
	if ci := header(dInvite, "Call-Info"); ci != "" {
		t.Errorf("destination INVITE has Call-Info %q", ci)
	}
}

func TestForkedSecondOKIsAckedAndByed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	peer := newRawPeer(t)
	r := newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest)}, r.add); err != nil {
		t.Fatal(err)
	}
	invite, from := peer.read("INVITE")
	peer.respond(invite, from, "200 OK", "fork1", rawSDP)
	peer.respond(invite, from, "200 OK", "fork2", rawSDP)
	r.waitFor(t, 200, LegInitiator)
	// Whichever 2xx reached the leg first makes the dialog (sipgo may
	// deliver them in either order); the other fork is ACKed and BYEd, and
	// the REFER goes only to the kept one.
	kept, acked, byed := "", map[string]bool{}, map[string]bool{}
	fork := func(to string) string {
		if strings.Contains(to, "fork1") {
			return "fork1"
		}
		return "fork2"
	}
	for kept == "" || !byed[otherFork(kept)] {
		msg, rfrom := peer.readAny()
		f := fork(headerOf(msg, "To"))
		switch {
		case strings.HasPrefix(msg, "ACK "):
			acked[f] = true
		case strings.HasPrefix(msg, "REFER "):
			if kept != "" && kept != f {
				t.Fatalf("REFER on both forks")
			}
			kept = f
		case strings.HasPrefix(msg, "BYE "):
			if !acked[f] {
				t.Errorf("BYE before ACK on %s", f)
			}
			byed[f] = true
			peer.respond(msg, rfrom, "200 OK", "", "")
		}
	}
	if byed[kept] {
		t.Errorf("the kept dialog %s was BYEd", kept)
	}
}

func otherFork(f string) string {
	if f == "fork1" {
		return "fork2"
	}
	return "fork1"
}

func TestRetransmittedOKWhileWaitingForAnswerIsNotAFork(t *testing.T) {
	// The destination's 200 (with its offer) is retransmitted every T1
	// (100 ms here) until our ACK, which waits for the initiator's answer
	// to the re-INVITE; the initiator takes 350 ms to answer.
	h := newHarness(t, harnessOpts{})
	peer := newRawPeer(t)
	r := newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest), Anchor: true}, r.add); err != nil {
		t.Fatal(err)
	}
	invite, from := peer.read("INVITE")
	peer.respond(invite, from, "200 OK", "i1", rawSDP)
	reinvite, rfrom := peer.read("INVITE")
	time.Sleep(350 * time.Millisecond)
	peer.respond(reinvite, rfrom, "200 OK", "", rawSDP)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	d := onlyCall(t, h.dest, phone.InState(phone.CallConfirmed))
	time.Sleep(200 * time.Millisecond)
	if c, _ := h.dest.Call(d.CallID); len(c.Requests(phone.In, sip.BYE)) != 0 {
		t.Fatalf("the destination was hung up: %s", c)
	}
}

func TestSetupReinviteIsRetriedAfterGlare(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	peer := newRawPeer(t)
	r := newResults()
	if _, err := h.eng.StartCall(CallRequest{Initiator: peer.uri(), Destination: h.uri(h.dest), Anchor: true}, r.add); err != nil {
		t.Fatal(err)
	}
	invite, from := peer.read("INVITE")
	peer.respond(invite, from, "200 OK", "g1", rawSDP)
	first, ffrom := peer.read("INVITE")
	peer.respond(first, ffrom, "491 Request Pending", "", "")
	start := time.Now()
	second, sfrom := peer.read("INVITE")
	if wait := time.Since(start); wait < 2*time.Second {
		t.Errorf("re-INVITE retried after %v, want 2.1 s or more", wait)
	}
	if headerOf(second, "CSeq") == headerOf(first, "CSeq") {
		t.Errorf("the retry reuses CSeq %q", headerOf(first, "CSeq"))
	}
	peer.respond(second, sfrom, "200 OK", "", rawSDP)
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
}
