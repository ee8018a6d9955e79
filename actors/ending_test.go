package actors

import "testing"

// Every ending has a complete row: a call's says what its record and
// metrics show, a refusal's what each front end answers.
func TestEveryEndingHasACompleteRow(t *testing.T) {
	seen := 0
	for i := range endings {
		e := Ending(i)
		row := endings[i]
		if row.name == "" {
			continue
		}
		seen++
		switch {
		case e.Refused():
			if row.code == 0 || row.metric == "" || row.http < 400 || row.xml < 400 || row.state != "" {
				t.Errorf("refusal %v: incomplete row %+v", e, row)
			}
		default:
			if row.state == "" || row.metric == "" {
				t.Errorf("call ending %v: incomplete row %+v", e, row)
			}
		}
	}
	if seen < 30 {
		t.Errorf("only %d endings have rows", seen)
	}
	if s := Ending(200).String(); s != "Ending(200)" {
		t.Errorf("an unknown ending prints as %q", s)
	}
}

func TestPhoneFailuresAndTheirResults(t *testing.T) {
	for _, tc := range []struct {
		code   int
		ending Ending
		state  string
		refer  string
	}{
		{486, EndBusy, StateFailed, "failed"},
		{600, EndBusy, StateFailed, "failed"},
		{603, EndDeclined, StateFailed, "failed"},
		{480, EndNoAnswer, StateFailed, "failed"},
		{408, EndTimeout, StateFailed, "timeout"},
		{487, EndCancelled, StateCancelled, "cancelled"},
		{488, EndNotAcceptable, StateFailed, "failed"},
		{404, EndRejected, StateFailed, "failed"},
		{503, EndRejected, StateFailed, "failed"},
	} {
		e := PhoneFailure(tc.code)
		if e != tc.ending || e.CDRState() != tc.state || e.ReferOutcome() != tc.refer || e.CodeOr(tc.code) != tc.code {
			t.Errorf("%d: %v (state %s, refer %s, code %d), want %v (%s, %s, %d)", tc.code, e, e.CDRState(),
				e.ReferOutcome(), e.CodeOr(tc.code), tc.ending, tc.state, tc.refer, tc.code)
		}
	}
	if e := TransferFailure(404); e != EndReferFailed || e.CodeOr(404) != 404 {
		t.Errorf("a transfer's 404 is %v", e)
	}
	// A phone's own 503 is its failure, not the server shutting down.
	if got := EndRejected.ByeReason(503, LegDestination); got != "Failed to connect to destination" {
		t.Errorf("BYE Reason after a destination's 503: %q", got)
	}
	if got := EndShutDown.ByeReason(503, LegDestination); got != textShuttingDown {
		t.Errorf("BYE Reason at shutdown: %q", got)
	}
}

func TestProgressEndFallsBackToItsCode(t *testing.T) {
	for _, tc := range []struct {
		p    Progress
		want Ending
	}{
		{Progress{Code: 100}, EndNone},
		{Progress{Code: 200, Leg: LegInitiator}, EndNone},
		{Progress{Code: 200, Leg: LegDestination}, EndAnswered},
		{Progress{Code: 487, Leg: LegDestination}, EndCancelled},
		{Progress{Code: 503, Ending: EndShutDown}, EndShutDown},
	} {
		if got := tc.p.End(); got != tc.want {
			t.Errorf("%+v: End() = %v, want %v", tc.p, got, tc.want)
		}
	}
}
