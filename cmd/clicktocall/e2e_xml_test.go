package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Calls requested over the XML interface of the binary, with SIPp phones.

const gatewayURI = "sip:9055551234@gateway.example.com" // "9055551234" translated

func TestXMLReferCallReportsEachStepAndTransfersTheInitiator(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_accepts_refer", "alice", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), "9055551234", false))
	got := c.results(t, 15*time.Second)
	expectSequence(t, got,
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination")
	if r := got[0].Response; r.TranslatedInitiator != ini.uri() || r.TranslatedDestination != gatewayURI {
		t.Errorf("100 translated %q and %q, want %q and %q", r.TranslatedInitiator, r.TranslatedDestination, ini.uri(), gatewayURI)
	}
	for _, r := range got[1:] {
		if r.Response.TranslatedInitiator != "" || r.Response.TranslatedDestination != "" {
			t.Errorf("%s carries translated URIs", r.short())
		}
	}
	ini.expectSuccess(t, 1)

	msgs := ini.messages(t)
	invite := find(t, msgs, "INVITE", received("INVITE"))
	if from := invite.header("From"); !strings.HasPrefix(from, `"Click-To-Call: 9055551234" <sip:clicktocall@127.0.0.1>;tag=`) {
		t.Errorf("INVITE From %q, want the identity named Click-To-Call: 9055551234", from)
	}
	if !strings.Contains(invite.body, "a=inactive") {
		t.Errorf("INVITE offer is not the inactive placeholder:\n%s", invite.body)
	}
	expectSDP(t, "INVITE to the initiator", invite)
	refer := find(t, msgs, "REFER", received("REFER"))
	if got := refer.header("Refer-To"); got != "<"+gatewayURI+">" {
		t.Errorf("Refer-To %q, want <%s>", got, gatewayURI)
	}
	if got := refer.header("Referred-By"); got != "<sip:clicktocall@127.0.0.1>" {
		t.Errorf("Referred-By %q, want <sip:clicktocall@127.0.0.1>", got)
	}
	if refer.header("Call-ID") != invite.header("Call-ID") {
		t.Errorf("REFER Call-ID %q is not the INVITE's %q", refer.header("Call-ID"), invite.header("Call-ID"))
	}
	for cseq := 1; cseq <= 3; cseq++ {
		find(t, msgs, fmt.Sprintf("200 to NOTIFY %d", cseq), func(m sipMessage) bool {
			return !m.sent && m.isResponse(200, "NOTIFY") && m.header("CSeq") == fmt.Sprintf("%d NOTIFY", cseq)
		})
	}
	expectOrder(t, msgs, "received INVITE", "received REFER", "sent NOTIFY", "received BYE")
}

func TestXMLAnchoredCallBridgesTheTwoPhonesSDP(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_answers_reinvite", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	got := c.results(t, 15*time.Second)
	expectSequence(t, got,
		"100 In progress",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination")
	if r := got[0].Response; r.TranslatedInitiator != ini.uri() || r.TranslatedDestination != dst.uri() {
		t.Errorf("100 translated %q and %q, want %q and %q", r.TranslatedInitiator, r.TranslatedDestination, ini.uri(), dst.uri())
	}
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectBridged(t, ini, dst)
	// The initiator hung up; the server passed its BYE on.
	find(t, dst.messages(t), "BYE", received("BYE"))
	if refer := ini.messages(t); hasMessage(refer, received("REFER")) {
		t.Errorf("an anchored call sent a REFER")
	}
}

// expectBridged checks RFC 3725 flow IV on the wire: the destination got an
// INVITE without SDP from the initiator's address, its offer reached the
// initiator in a re-INVITE on the first dialog, and the initiator's answer
// reached the destination in the ACK, each under the server's one stable
// origin per leg.
func expectBridged(t *testing.T, ini, dst *phone) {
	t.Helper()
	im, dm := ini.messages(t), dst.messages(t)
	dInvite := find(t, dm, "destination INVITE", received("INVITE"))
	if dInvite.body != "" || dInvite.header("Content-Type") != "" {
		t.Errorf("destination INVITE has a body (%q), want none:\n%s", dInvite.header("Content-Type"), dInvite.body)
	}
	if from := dInvite.header("From"); !strings.HasPrefix(from, "<"+ini.uri()+">;tag=") {
		t.Errorf("destination INVITE From %q, want the initiator <%s>", from, ini.uri())
	}
	invites := filter(im, received("INVITE"))
	if len(invites) < 2 {
		t.Fatalf("initiator got %d INVITEs, want the INVITE and a re-INVITE", len(invites))
	}
	first, re := invites[0], invites[1]
	if re.header("Call-ID") != first.header("Call-ID") || !strings.Contains(re.header("To"), ";tag=") {
		t.Errorf("re-INVITE is not in the first dialog: Call-ID %q / %q, To %q", re.header("Call-ID"), first.header("Call-ID"), re.header("To"))
	}
	// The destination's offer, as it sent it in its 200.
	dOK := find(t, dm, "destination's 200", func(m sipMessage) bool { return m.sent && m.isResponse(200, "INVITE") })
	wantMedia := fmt.Sprintf("m=audio %d RTP/AVP 0 8", dst.mediaPort)
	if !strings.Contains(dOK.body, wantMedia) {
		t.Fatalf("destination's 200 lacks %q:\n%s", wantMedia, dOK.body)
	}
	for _, line := range []string{wantMedia, "c=IN IP4 127.0.0.1", "a=sendrecv"} {
		if !strings.Contains(re.body, line) {
			t.Errorf("re-INVITE to the initiator lacks the destination's %q:\n%s", line, re.body)
		}
	}
	expectNextOrigin(t, "re-INVITE to the initiator", first.body, re.body)
	// The initiator's answer, as it sent it in its 200 to the re-INVITE.
	iOK := filter(im, func(m sipMessage) bool { return m.sent && m.isResponse(200, "INVITE") })
	wantAnswer := fmt.Sprintf("m=audio %d RTP/AVP 0", ini.mediaPort)
	if len(iOK) < 2 || !strings.Contains(iOK[1].body, wantAnswer) {
		t.Fatalf("initiator's 200s %v lack its answer %q", iOK, wantAnswer)
	}
	ack := find(t, dm, "destination ACK", received("ACK"))
	for _, line := range []string{wantAnswer, "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(ack.body, line) {
			t.Errorf("ACK to the destination lacks the initiator's %q:\n%s", line, ack.body)
		}
	}
	expectSDP(t, "initiator INVITE", first)
	expectSDP(t, "re-INVITE to the initiator", re)
	expectSDP(t, "ACK to the destination", ack)
	if o := originOf(ack.body); len(o) < 6 || o[0] != "clicktocall" {
		t.Errorf("ACK origin %q is not the server's", o)
	}
}

// expectSDP checks that a request's body is SDP and says so: RFC 3261 §7.4.1
// requires a Content-Type with every body, and a phone may ignore an
// untyped one.
func expectSDP(t *testing.T, what string, m sipMessage) {
	t.Helper()
	if !strings.HasPrefix(m.body, "v=0") {
		t.Errorf("%s has no SDP body:\n%s", what, m.body)
	}
	if ct := m.header("Content-Type"); ct != "application/sdp" {
		t.Errorf("%s carries SDP with Content-Type %q, want application/sdp", what, ct)
	}
}

// originOf is the fields of an SDP o= line.
func originOf(sdp string) []string {
	for _, line := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(line, "o=") {
			return strings.Fields(strings.TrimSpace(line[2:]))
		}
	}
	return nil
}

// expectNextOrigin checks that next keeps prev's origin session and raises its version.
func expectNextOrigin(t *testing.T, what, prev, next string) {
	t.Helper()
	p, n := originOf(prev), originOf(next)
	if len(p) < 6 || len(n) < 6 {
		t.Errorf("%s: origins %q then %q", what, p, n)
		return
	}
	pv, perr := strconv.ParseUint(p[2], 10, 64)
	nv, nerr := strconv.ParseUint(n[2], 10, 64)
	if p[0] != "clicktocall" || n[0] != p[0] || n[1] != p[1] || perr != nil || nerr != nil || nv <= pv {
		t.Errorf("%s: origin %q after %q, want the same session with a higher version", what, n, p)
	}
}

func filter(msgs []sipMessage, match func(sipMessage) bool) []sipMessage {
	var out []sipMessage
	for _, m := range msgs {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

func hasMessage(msgs []sipMessage, match func(sipMessage) bool) bool {
	return len(filter(msgs, match)) > 0
}

// expectOrder checks that messages described as "sent METHOD" or
// "received METHOD" occur in this order (each the first after the previous).
func expectOrder(t *testing.T, msgs []sipMessage, steps ...string) {
	t.Helper()
	i := 0
	for _, step := range steps {
		dir, method, _ := strings.Cut(step, " ")
		for ; i < len(msgs); i++ {
			if msgs[i].sent == (dir == "sent") && msgs[i].isRequest(method) {
				break
			}
		}
		if i == len(msgs) {
			t.Errorf("no %q in order %v among %v", step, steps, msgs)
			return
		}
		i++
	}
}

func TestXMLReferRefusedFallsBackToAnchoredOnTheSameDialog(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_refuses_refer", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), false))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination")
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	im := ini.messages(t)
	refer := find(t, im, "REFER", received("REFER"))
	if got := refer.header("Refer-To"); got != "<"+dst.uri()+">" {
		t.Errorf("Refer-To %q, want <%s>", got, dst.uri())
	}
	find(t, im, "405 to the REFER", func(m sipMessage) bool { return m.sent && m.isResponse(405, "REFER") })
	expectOrder(t, im, "received INVITE", "received REFER", "received INVITE", "sent BYE")
	expectBridged(t, ini, dst)
	find(t, dst.messages(t), "BYE", received("BYE"))
}

func TestXMLInitiatorBusyIsTheFinalResult(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "busy", "alice", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), "9055551234", false))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		`486 Initiator Failed to connect to initiator`)
	ini.expectSuccess(t, 1)
	expectNothingMore(t, c)
}

func TestXMLDestinationBusyHangsUpTheInitiator(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "phone_answers", "alice", 1)
	dst := startPhone(t, "busy", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"486 Destination Failed to connect to destination")
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	bye := find(t, ini.messages(t), "BYE", received("BYE"))
	if reason := bye.header("Reason"); !strings.Contains(reason, "cause=486") {
		t.Errorf("BYE Reason %q, want cause=486", reason)
	}
	expectNothingMore(t, c)
}

func TestXMLDestinationRingTimeoutCancelsIt(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "phone_answers", "alice", 1)
	dst := startPhone(t, "rings_until_cancel", "bob", 1)
	s := startServer(t, serverOptions{ringTimeout: "1s"})
	c := dialXML(t, s)
	start := time.Now()
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"408 Destination Failed to connect to destination")
	if d := time.Since(start); d < time.Second {
		t.Errorf("408 after %v, before the 1s ring timeout", d)
	}
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	find(t, dst.messages(t), "CANCEL", received("CANCEL"))
	bye := find(t, ini.messages(t), "BYE", received("BYE"))
	if reason := bye.header("Reason"); !strings.Contains(reason, "cause=408") {
		t.Errorf("BYE Reason %q, want cause=408", reason)
	}
}

func TestXMLShutdownGivesCallsInProgressTheirFinalAndEndsTheirLegs(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "phone_answers", "alice", 1)
	dst := startPhone(t, "rings_until_cancel", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	deadline := time.Now().Add(15 * time.Second)
	var got []xmlResult
	for len(got) == 0 || got[len(got)-1].short() != "180 Destination Ringing destination" {
		r, err := c.next(deadline)
		if err != nil {
			t.Fatalf("waiting for the destination to ring, after %v: %v", shortAll(got), err)
		}
		got = append(got, r)
	}
	s.stop(t) // SIGTERM, exit status 0
	r, err := c.next(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatalf("no final result after SIGTERM: %v", err)
	}
	got = append(got, r)
	expectSequence(t, got,
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"503 Server shutting down")
	expectNothingMore(t, c)
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	find(t, dst.messages(t), "CANCEL", received("CANCEL"))
	find(t, ini.messages(t), "BYE", received("BYE"))
}

// expectNothingMore checks that no result follows a final: the connection
// stays silent for a moment (or is closed).
func expectNothingMore(t *testing.T, c *xmlClient) {
	t.Helper()
	if r, err := c.next(time.Now().Add(300 * time.Millisecond)); err == nil {
		t.Errorf("result after the final: %s", r.short())
	}
}

func TestXMLTransferFailureReportedByNotifyIsTheFinal(t *testing.T) {
	t.Parallel()
	ini := startPhoneWith(t, phoneSpec{scenario: "initiator_accepts_refer", user: "alice", calls: 1,
		keys: map[string]string{"transfer_result": "486 Busy Here"}})
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), "9055551234", false))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"486 Destination Failed to connect to destination")
	ini.expectSuccess(t, 1)
	msgs := ini.messages(t)
	expectOrder(t, msgs, "received REFER", "sent NOTIFY", "sent NOTIFY", "sent NOTIFY", "received BYE")
	bye := find(t, msgs, "BYE", received("BYE"))
	if reason := bye.header("Reason"); !strings.Contains(reason, "cause=486") {
		t.Errorf("BYE Reason %q, want cause=486", reason)
	}
	expectNothingMore(t, c)
}

func TestXMLTransferWithoutOutcomeTimesOutAfterReferTimeout(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_refer_no_outcome", "alice", 1)
	s := startServer(t, serverOptions{referTimeout: "1s"})
	c := dialXML(t, s)
	start := time.Now()
	c.send(t, xmlRequest(ini.address(), "9055551234", false))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"408 Destination Failed to connect to destination")
	if d := time.Since(start); d < time.Second {
		t.Errorf("408 after %v, before the 1s refer timeout", d)
	}
	ini.expectSuccess(t, 1)
	expectOrder(t, ini.messages(t), "received REFER", "sent NOTIFY", "received BYE")
	expectNothingMore(t, c)
}

func TestXMLInitiatorHangingUpCancelsTheRingingDestination(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_hangs_up", "alice", 1)
	dst := startPhone(t, "rings_until_cancel", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"487 Destination Failed to connect to destination")
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectOrder(t, dst.messages(t), "received INVITE", "received CANCEL", "received ACK")
	expectNothingMore(t, c)
}

func TestXMLAnchoredCallRelaysHoldAndHangUpBetweenThePhones(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_answers_hold", "alice", 1)
	dst := startPhone(t, "destination_holds_then_hangs_up", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	expectSequence(t, c.results(t, 15*time.Second),
		"100 In progress",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination")
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectBridged(t, ini, dst)

	// The destination's hold reached the initiator as the next version of
	// the initiator's session, and the initiator's answer came back to the
	// destination as the next version of the destination's session.
	im, dm := ini.messages(t), dst.messages(t)
	invites := filter(im, received("INVITE"))
	if len(invites) != 3 {
		t.Fatalf("initiator got %d INVITEs, want the INVITE and two re-INVITEs", len(invites))
	}
	hold := invites[2]
	for _, line := range []string{fmt.Sprintf("m=audio %d RTP/AVP 0", dst.mediaPort), "a=sendonly"} {
		if !strings.Contains(hold.body, line) {
			t.Errorf("relayed hold lacks %q:\n%s", line, hold.body)
		}
	}
	expectSDP(t, "relayed hold re-INVITE", hold)
	expectNextOrigin(t, "relayed hold re-INVITE", invites[1].body, hold.body)
	held := find(t, dm, "200 to the hold", func(m sipMessage) bool { return !m.sent && m.isResponse(200, "INVITE") })
	for _, line := range []string{fmt.Sprintf("m=audio %d RTP/AVP 0", ini.mediaPort), "a=recvonly"} {
		if !strings.Contains(held.body, line) {
			t.Errorf("answer to the hold lacks the initiator's %q:\n%s", line, held.body)
		}
	}
	if ct := held.header("Content-Type"); ct != "application/sdp" {
		t.Errorf("answer to the hold has Content-Type %q", ct)
	}
	expectNextOrigin(t, "answer to the hold", find(t, dm, "ACK", received("ACK")).body, held.body)
	// The destination hung up; the initiator got the BYE.
	expectOrder(t, im, "received INVITE", "received INVITE", "received INVITE", "received BYE")
}

func TestCallsBeyondTheActiveCallLimitAreRefusedWith503(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "rings_until_cancel", "alice", 1)
	s := startServer(t, serverOptions{limits: "max_active_calls = 1"})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), "9055551234", false))
	deadline := time.Now().Add(15 * time.Second)
	for _, want := range []string{"100 In progress", "180 Initiator Ringing initiator"} {
		r, err := c.next(deadline)
		if err != nil || r.short() != want {
			t.Fatalf("got %q, %v; want %q", r.short(), err, want)
		}
	}
	// The one call allowed is ringing: more are refused on both interfaces.
	c.send(t, xmlRequest(ini.address(), "9055550000", false))
	r, err := c.next(deadline)
	if err != nil || r.short() != "503 Too many active calls" || r.Request.Destination != "9055550000" {
		t.Errorf("second request: %q for %q, %v; want 503 Too many active calls", r.short(), r.Request.Destination, err)
	}
	status, body, res := get(t, http.MethodGet, s.url("/clicktocall.html",
		url.Values{"initiator": {ini.address()}, "destination": {"1"}}), "", nil)
	if status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many active calls") {
		t.Errorf("HTTP: status %d, Retry-After %q, body %q; want 503 with Retry-After", status, res.Header.Get("Retry-After"), body)
	}
	// SIGTERM ends the ringing call: its final is 503, and the phone is cancelled.
	s.stop(t)
	r, err = c.next(time.Now().Add(5 * time.Second))
	if err != nil || r.short() != "503 Server shutting down" || r.Request.Destination != "9055551234" {
		t.Errorf("first request after SIGTERM: %q for %q, %v; want 503 Server shutting down", r.short(), r.Request.Destination, err)
	}
	ini.expectSuccess(t, 1)
	find(t, ini.messages(t), "CANCEL", received("CANCEL"))
}

func TestCallsGoOnWhenTheXMLClientDisconnects(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_answers_reinvite", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := startServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, xmlRequest(ini.address(), dst.address(), true))
	if r, err := c.next(time.Now().Add(5 * time.Second)); err != nil || r.short() != "100 In progress" {
		t.Fatalf("got %q, %v; want 100 In progress", r.short(), err)
	}
	c.conn.Close()
	// The call completes without its client: both phones are connected,
	// then the initiator hangs up and the destination gets the BYE.
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectBridged(t, ini, dst)
	find(t, dst.messages(t), "BYE", received("BYE"))
	// And the server still answers new clients.
	c2 := dialXML(t, s)
	c2.send(t, "<ClickToCall><Request><Initiator>x y</Initiator><Destination>1</Destination></Request></ClickToCall>")
	if r, err := c2.next(time.Now().Add(5 * time.Second)); err != nil || r.short() != "400 No translation rule for x y" {
		t.Errorf("new client: %q, %v; want 400 No translation rule for x y", r.short(), err)
	}
}
