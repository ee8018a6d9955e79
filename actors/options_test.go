package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
)

// callWith places an anchored call with these options.
func (h *harness) callWith(o CallOptions) *results {
	h.t.Helper()
	r := newResults()
	_, err := h.eng.StartCall(CallRequest{Initiator: h.uri(h.init), Destination: h.uri(h.dest), Anchor: true,
		Origin: "test", Options: o}, r.add)
	if err != nil {
		h.t.Fatalf("StartCall: %v", err)
	}
	return r
}

func receivedInvite(t *testing.T, p *phone.Phone) phone.Message {
	t.Helper()
	c := onlyCall(t, p, phone.Received(sip.INVITE))
	m, _ := c.Request(phone.In, sip.INVITE)
	return m
}

func TestCallOptionsSetEachLegsFromAssertedIdentityAndHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{sip: func(s *config.SIP) { s.AssertIdentity = true }})
	r := h.callWith(CallOptions{
		Initiator: LegOptions{
			CallerID: &CallerID{DisplayName: "Sales", URI: "sip:+15551230000@example.com"},
			Headers:  []Header{{"X-Ticket", "T-42"}, {"Alert-Info", "<http://example.com/ring>"}},
		},
		Destination: LegOptions{
			CallerID: &CallerID{DisplayName: "Support desk"},
			Headers:  []Header{{"X-Campaign", "spring"}},
		},
	})
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")

	ini := receivedInvite(t, h.init)
	if from := header(ini, "From"); !strings.HasPrefix(from, `"Sales" <sip:+15551230000@example.com>;tag=`) {
		t.Errorf("initiator From = %q, want the caller ID", from)
	}
	if pai := header(ini, "P-Asserted-Identity"); pai != `"Sales" <sip:+15551230000@example.com>` {
		t.Errorf("initiator P-Asserted-Identity = %q", pai)
	}
	if v := header(ini, "X-Ticket"); v != "T-42" {
		t.Errorf("initiator X-Ticket = %q", v)
	}
	if v := header(ini, "Alert-Info"); v != "<http://example.com/ring>" {
		t.Errorf("initiator Alert-Info = %q", v)
	}
	if v := header(ini, "X-Campaign"); v != "" {
		t.Errorf("the destination's header reached the initiator: X-Campaign = %q", v)
	}

	dst := receivedInvite(t, h.dest)
	// A display name alone keeps the default URI: the initiator's address.
	wantURI := strings.SplitN(h.uri(h.init), ";", 2)[0]
	if from := header(dst, "From"); !strings.HasPrefix(from, `"Support desk" <`+wantURI+`>;tag=`) {
		t.Errorf("destination From = %q, want \"Support desk\" <%s>", from, wantURI)
	}
	if pai := header(dst, "P-Asserted-Identity"); pai != `"Support desk" <`+wantURI+`>` {
		t.Errorf("destination P-Asserted-Identity = %q", pai)
	}
	if v := header(dst, "X-Campaign"); v != "spring" {
		t.Errorf("destination X-Campaign = %q", v)
	}
	if v := header(dst, "X-Ticket"); v != "" {
		t.Errorf("the initiator's header reached the destination: X-Ticket = %q", v)
	}

	// A caller ID's URI replaces the default's whole: the initiator's
	// address has a port, the caller ID none.
	r2 := h.callWith(CallOptions{Destination: LegOptions{CallerID: &CallerID{URI: "sip:+15557654321@example.com"}}})
	expectResults(t, r2.wait(t, 10*time.Second), "100, 200 I, 200 D")
	calls := h.dest.Calls()
	if len(calls) != 2 {
		t.Fatalf("destination got %d calls", len(calls))
	}
	for _, c := range calls {
		m, _ := c.Request(phone.In, sip.INVITE)
		if from := header(m, "From"); strings.Contains(from, "Support") {
			continue
		} else if !strings.HasPrefix(from, "<sip:+15557654321@example.com>;tag=") {
			t.Errorf("destination From = %q, want the caller ID's URI as it is", from)
		}
	}
}

func TestNoAssertedIdentityUnlessConfigured(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.callWith(CallOptions{Initiator: LegOptions{CallerID: &CallerID{URI: "sip:+15551230000@example.com"}}})
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	ini := receivedInvite(t, h.init)
	if from := header(ini, "From"); !strings.HasPrefix(from, "<sip:+15551230000@example.com>;tag=") {
		t.Errorf("initiator From = %q, want the caller ID's URI without a name", from)
	}
	if pai := header(ini, "P-Asserted-Identity"); pai != "" {
		t.Errorf("P-Asserted-Identity %q without sip.assert_identity", pai)
	}
}

func TestPerLegRingTimeoutCancelsBeforeTheServersOwn(t *testing.T) {
	for _, role := range []Leg{LegInitiator, LegDestination} {
		t.Run(role.String(), func(t *testing.T) {
			o := harnessOpts{sip: func(s *config.SIP) { s.RingTimeout = time.Minute }}
			var want string
			if role == LegInitiator {
				o.init = phone.Behaviour{Ring: true, NoAnswer: true}
				want = "100, 180 I, 408 I"
			} else {
				o.dest = phone.Behaviour{Ring: true, NoAnswer: true}
				want = "100, 200 I, 180 D, 408 D"
			}
			h := newHarness(t, o)
			var opts CallOptions
			opts.Leg(role).RingTimeout = 300 * time.Millisecond
			// Well within the server's minute: only the leg's own timeout can end it.
			expectResults(t, h.callWith(opts).wait(t, 10*time.Second), want)
			p := h.init
			if role == LegDestination {
				p = h.dest
				onlyCall(t, h.init, phone.Received(sip.BYE))
			}
			onlyCall(t, p, phone.Received(sip.CANCEL))
			h.waitIdle()
		})
	}
}

func TestTimeLimitEndsAnAnchoredCallWithBYEs(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.callWith(CallOptions{TimeLimit: 300 * time.Millisecond})
	expectResults(t, r.wait(t, 10*time.Second), "100, 200 I, 200 D")
	onlyCall(t, h.init, phone.Received(sip.BYE))
	onlyCall(t, h.dest, phone.Received(sip.BYE))
	h.waitIdle()
}

func TestTimeLimitShortensTheServersLimitButNeverLengthensIt(t *testing.T) {
	for _, c := range []struct {
		own, server, want time.Duration
	}{
		{0, 0, 0},
		{0, time.Hour, time.Hour},
		{time.Minute, 0, time.Minute},
		{time.Minute, time.Hour, time.Minute},
		{2 * time.Hour, time.Hour, time.Hour},
	} {
		o := CallOptions{TimeLimit: c.own}
		if got := o.timeLimit(c.server); got != c.want {
			t.Errorf("time_limit %v under max_call_duration %v: %v, want %v", c.own, c.server, got, c.want)
		}
	}
}

func TestCallerIDThatIsNoURIIsRefusedBeforeAnyINVITE(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, err := h.eng.StartCall(CallRequest{Initiator: h.uri(h.init), Destination: h.uri(h.dest), Origin: "test",
		Options: CallOptions{Destination: LegOptions{CallerID: &CallerID{URI: "not a uri"}}}}, func(Progress) {})
	r, ok := err.(*Refusal)
	if !ok || r.Ending.Code() != 400 || r.Text != `Destination caller ID: "not a uri" is not a SIP URI` {
		t.Fatalf("StartCall = %v, want a 400 naming the destination caller ID", err)
	}
	if n := len(h.init.Calls()); n != 0 {
		t.Errorf("the initiator got %d calls", n)
	}
}

func TestOptionsThatCannotGoOnTheWireAreRefused(t *testing.T) {
	for _, o := range []CallOptions{
		{Initiator: LegOptions{Headers: []Header{{"X-A", "1\r\nVia: x"}}}},
		{Destination: LegOptions{Headers: []Header{{"X A", "1"}}}},
		{Initiator: LegOptions{CallerID: &CallerID{DisplayName: `a" <sip:x@y>`}}},
		{Metadata: []byte(`{"a":`)},
	} {
		if o.WireProblem() == "" {
			t.Errorf("%+v taken", o)
		}
	}
	ok := CallOptions{Initiator: LegOptions{CallerID: &CallerID{DisplayName: "Sales", URI: "sip:a@b"},
		Headers: []Header{{"X-A", "1"}}}, Metadata: []byte(`{"a":1}`)}
	if p := ok.WireProblem(); p != "" {
		t.Errorf("refused: %s", p)
	}
}
