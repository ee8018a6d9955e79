package main

import (
	"strings"
	"testing"
	"time"
)

// The binary's SIP side beyond the call flows: SIP over TCP, and requests
// that belong to no call.

func TestSIPOverTCPReferCall(t *testing.T) {
	t.Parallel()
	ini := startPhoneWith(t, phoneSpec{scenario: "initiator_accepts_refer", user: "alice", calls: 1, tcp: true})
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
	if ti := got[0].Response.TranslatedInitiator; ti != ini.uri() {
		t.Errorf("translated initiator %q, want %q", ti, ini.uri())
	}
	ini.expectSuccess(t, 1)
	msgs := ini.messages(t)
	for _, method := range []string{"INVITE", "ACK", "REFER", "BYE"} {
		m := find(t, msgs, method, received(method))
		if via := m.header("Via"); !strings.HasPrefix(via, "SIP/2.0/TCP ") {
			t.Errorf("%s came with Via %q, want TCP", method, via)
		}
	}
}

func TestSIPRequestsOutsideAnyDialogGetTheirAnswers(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	client := startPhoneWith(t, phoneSpec{scenario: "out_of_dialog", user: "probe", calls: 1, remote: s.sipAddr()})
	client.expectSuccess(t, 1)
	msgs := client.messages(t)
	ok := find(t, msgs, "200 to OPTIONS", func(m sipMessage) bool { return !m.sent && m.isResponse(200, "OPTIONS") })
	if allow := ok.header("Allow"); !strings.Contains(allow, "INVITE") || !strings.Contains(allow, "REFER") {
		t.Errorf("OPTIONS answered with Allow %q", allow)
	}
	find(t, msgs, "403 to INVITE", func(m sipMessage) bool { return !m.sent && m.isResponse(403, "INVITE") })
	find(t, msgs, "481 to BYE", func(m sipMessage) bool { return !m.sent && m.isResponse(481, "BYE") })
	find(t, msgs, "405 to MESSAGE", func(m sipMessage) bool { return !m.sent && m.isResponse(405, "MESSAGE") })
}
