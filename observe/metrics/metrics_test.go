package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// stubStarter answers every StartCall with err.
type stubStarter struct{ err error }

func (s stubStarter) StartCall(actors.CallRequest, func(actors.Progress)) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	return "id", nil
}

func TestStarterCountsAcceptedAndRefusedRequestsByInterfaceAndReason(t *testing.T) {
	m := New(nil)
	for _, tc := range []struct {
		origin string
		err    error
	}{
		{"xml", nil},
		{"xml", nil},
		{"api", nil},
		{"xml", &actors.Refusal{Ending: actors.EndMaxActiveCalls, Text: "Too many active calls"}},
		{"http", &actors.Refusal{Ending: actors.EndMaxPerSecondPerIP, Text: "Call rate limit reached for this client"}},
		{"api", &actors.Refusal{Ending: actors.EndRefusedShutDown, Text: "Server shutting down"}},
		{"api", &actors.Refusal{Ending: actors.EndInvalidURI, Text: "Invalid URI format sip:x@"}},
		{"api", errors.New("boom")},
	} {
		_, _ = m.Starter(stubStarter{tc.err}).StartCall(actors.CallRequest{Origin: tc.origin}, nil)
	}
	m.Rejected("http", actors.EndNoTranslationRule)
	body := scrape(t, m)
	for _, c := range []struct {
		iface, outcome string
		want           float64
	}{
		{"xml", OutcomeAccepted, 2}, {"api", OutcomeAccepted, 1}, {"xml", OutcomeRefused, 1},
		{"http", OutcomeRefused, 1}, {"api", OutcomeRefused, 1}, {"api", OutcomeBadRequest, 1},
		{"api", OutcomeError, 1}, {"http", OutcomeBadRequest, 1},
	} {
		if got := value(t, body, `clicktocall_requests_total{interface="`+c.iface+`",outcome="`+c.outcome+`"}`); got != c.want {
			t.Errorf("requests{%s,%s} = %v, want %v", c.iface, c.outcome, got, c.want)
		}
	}
	for _, c := range []struct{ iface, reason string }{
		{"xml", actors.EndMaxActiveCalls.MetricsLabel()}, {"http", actors.EndMaxPerSecondPerIP.MetricsLabel()}, {"api", actors.EndRefusedShutDown.MetricsLabel()},
		{"api", actors.EndInvalidURI.MetricsLabel()}, {"api", actors.EndStartFailed.MetricsLabel()}, {"http", actors.EndNoTranslationRule.MetricsLabel()},
	} {
		if got := value(t, body, `clicktocall_rejections_total{interface="`+c.iface+`",reason="`+c.reason+`"}`); got != 1 {
			t.Errorf("rejections{%s,%s} = %v, want 1", c.iface, c.reason, got)
		}
	}
}

func TestResultsLatenciesAndReferOutcomes(t *testing.T) {
	m := New(func() int { return 3 })
	j := cdr.New(cdr.Options{Followers: []cdr.Follower{m}})
	defer j.Close()
	t0 := time.Now()
	req := actors.CallRequest{Initiator: "sip:a@x", Destination: "sip:b@x"}
	feed := func(id string, req actors.CallRequest, steps ...actors.Progress) {
		for _, p := range steps {
			p.CallID = id
			j.Result(req, p)
		}
	}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// A transferred call: answer after 2 s, final after 5 s.
	feed("ok", req,
		actors.Progress{Code: 100, At: at(0)},
		actors.Progress{Code: 200, Leg: actors.LegInitiator, At: at(2000)},
		actors.Progress{Code: 200, Leg: actors.LegDestination, At: at(5000)})
	j.InviteSent("ok", req, at(1))
	// A REFER whose NOTIFY never came.
	feed("late", req,
		actors.Progress{Code: 100, At: at(0)},
		actors.Progress{Code: 200, Leg: actors.LegInitiator, At: at(100)},
		actors.Progress{Code: 408, Leg: actors.LegDestination, At: at(40000)})
	// A refused REFER, then an anchored call the destination rejects: not a
	// REFER outcome beyond the fallback.
	other := actors.CallRequest{Initiator: "sip:c@x", Destination: "sip:d@x"}
	feed("fb", other,
		actors.Progress{Code: 100, At: at(0)},
		actors.Progress{Code: 200, Leg: actors.LegInitiator, At: at(100)})
	j.Fallback("fb", other)
	feed("fb", other, actors.Progress{Code: 486, Leg: actors.LegDestination, At: at(300)})
	// The initiator never answers.
	feed("busy", req, actors.Progress{Code: 100, At: at(0)}, actors.Progress{Code: 487, Leg: actors.LegInitiator, At: at(700)})
	body := scrape(t, m)

	for _, c := range []struct {
		code, leg string
		want      float64
	}{{"100", "", 4}, {"200", "Initiator", 3}, {"200", "Destination", 1}, {"408", "Destination", 1}, {"486", "Destination", 1}, {"487", "Initiator", 1}} {
		if got := value(t, body, `clicktocall_results_total{code="`+c.code+`",leg="`+c.leg+`"}`); got != c.want {
			t.Errorf("results{%s,%s} = %v, want %v", c.code, c.leg, got, c.want)
		}
	}
	for outcome, want := range map[string]float64{"transferred": 1, "timeout": 1, "fallback": 1, "failed": 0, "cancelled": 0} {
		if got := value(t, body, `clicktocall_refer_outcomes_total{outcome="`+outcome+`"}`); got != want {
			t.Errorf("refer_outcomes{%s} = %v, want %v", outcome, got, want)
		}
	}

	for _, want := range []string{
		"clicktocall_calls_active 3\n",
		"clicktocall_request_to_initiator_answer_seconds_count 3\n",
		"clicktocall_request_to_initiator_answer_seconds_sum 2.2\n",
		`clicktocall_request_to_final_seconds_count{outcome="connected"} 1` + "\n",
		`clicktocall_request_to_final_seconds_sum{outcome="connected"} 5` + "\n",
		`clicktocall_request_to_final_seconds_count{outcome="failed"} 2` + "\n",
		`clicktocall_request_to_final_seconds_count{outcome="cancelled"} 1` + "\n",
		"clicktocall_request_to_invite_seconds_count 1\n",
		"clicktocall_request_to_invite_seconds_sum 0.001\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestSIPMessagesAndCallbacksAreCounted(t *testing.T) {
	m := New(nil)
	m.SIPMessage("out", "INVITE")
	m.SIPMessage("in", "2xx")
	m.SIPMessage("in", "2xx")
	m.StatusCallback("delivered")
	body := scrape(t, m)
	for _, want := range []string{
		`clicktocall_sip_messages_total{direction="in",kind="2xx"} 2`,
		`clicktocall_sip_messages_total{direction="out",kind="INVITE"} 1`,
		`clicktocall_status_callbacks_total{outcome="delivered"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if strings.Contains(body, "clicktocall_calls_active") {
		t.Error("calls_active exported without a source")
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// value reads one series from an exposition; a series never counted is 0.
func value(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
