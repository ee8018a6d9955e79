package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

func TestLiveSamplesAreRatesOfTheCountersOverEachTick(t *testing.T) {
	m := New(nil)
	active := 7
	l := StartLive(m, func() int { return active }, time.Hour, 3) // ticks only when the test says
	defer l.Close()
	j := cdr.New(cdr.Options{Followers: []cdr.Follower{m}})
	defer j.Close()
	t0 := time.Now()
	l.Tick(t0) // the baseline

	for range 4 {
		_, _ = m.Starter(stubStarter{}).StartCall(actors.CallRequest{Origin: "xml"}, nil)
	}
	_, _ = m.Starter(stubStarter{&actors.Refusal{Ending: actors.EndMaxActiveCalls, Text: "Too many active calls"}}).StartCall(actors.CallRequest{Origin: "api"}, nil)
	m.Rejected("http", actors.EndMissingAddress)
	m.Rejected("http", actors.EndMissingAddress)
	// Three calls connect after 20, 40 and 3000 ms; one is busy, one cancelled.
	for i, steps := range [][]actors.Progress{
		{{Code: 100}, {Code: 200, Leg: actors.LegDestination, At: t0.Add(20 * time.Millisecond)}},
		{{Code: 100}, {Code: 200, Leg: actors.LegDestination, At: t0.Add(40 * time.Millisecond)}},
		{{Code: 100}, {Code: 200, Leg: actors.LegDestination, At: t0.Add(3 * time.Second)}},
		{{Code: 100}, {Code: 486, Leg: actors.LegInitiator, At: t0.Add(time.Second)}},
		{{Code: 100}, {Code: 487, Leg: actors.LegDestination, At: t0.Add(time.Second)}},
	} {
		for _, p := range steps {
			p.CallID = string(rune('a' + i))
			if p.Code == 100 {
				p.At = t0
			}
			j.Result(actors.CallRequest{}, p)
		}
	}
	m.SIPMessage("in", "INVITE")
	m.SIPMessage("out", "2xx")
	m.SIPMessage("out", "2xx")

	s := l.Tick(t0.Add(2 * time.Second)) // rates over 2 s
	if s.Admitted != 2 || s.Refused != 0.5 || s.Invalid != 1 || s.Active != 7 {
		t.Errorf("requests: admitted %v refused %v invalid %v active %d; want 2, 0.5, 1, 7", s.Admitted, s.Refused, s.Invalid, s.Active)
	}
	if s.Connected != 1.5 || s.Failed != 0.5 || s.Cancelled != 0.5 {
		t.Errorf("finals: connected %v failed %v cancelled %v; want 1.5, 0.5, 0.5", s.Connected, s.Failed, s.Cancelled)
	}
	if len(s.FailedByCode) != 2 || s.FailedByCode["486"] != 0.5 || s.FailedByCode["487"] != 0.5 {
		t.Errorf("failed by code = %v", s.FailedByCode)
	}
	if s.SIPIn != 0.5 || s.SIPOut != 1 {
		t.Errorf("sip in %v out %v", s.SIPIn, s.SIPOut)
	}
	// p50 of {0.02, 0.04, 3}: the 1.5th observation, in the (0.025, 0.05]
	// bucket; p99 in the (2.5, 5] bucket.
	if s.ConnectP50 == nil || *s.ConnectP50 <= 0.025 || *s.ConnectP50 > 0.05 {
		t.Errorf("connect p50 = %v, want in (0.025, 0.05]", s.ConnectP50)
	}
	if s.ConnectP99 == nil || *s.ConnectP99 <= 2.5 || *s.ConnectP99 > 5 {
		t.Errorf("connect p99 = %v, want in (2.5, 5]", s.ConnectP99)
	}

	// Nothing happens: zero rates, no latency.
	s = l.Tick(t0.Add(3 * time.Second))
	if s.Admitted != 0 || s.Connected != 0 || s.ConnectP50 != nil || len(s.FailedByCode) != 0 || s.Seq != 3 {
		t.Errorf("idle sample = %+v", s)
	}

	// A follower gets the kept samples (the last 3), then each new one.
	f := l.Follow()
	defer f.Stop()
	if len(f.Past) != 3 || f.Past[0].Seq != 1 || f.Past[2].Seq != 3 {
		t.Fatalf("past = %+v", f.Past)
	}
	l.Tick(t0.Add(4 * time.Second))
	l.Tick(t0.Add(5 * time.Second))
	for _, want := range []uint64{4, 5} {
		select {
		case s := <-f.C:
			if s.Seq != want {
				t.Errorf("followed sample %d, want %d", s.Seq, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no sample")
		}
	}
	if g := l.Follow(); len(g.Past) != 3 || g.Past[0].Seq != 3 || g.Past[2].Seq != 5 {
		t.Errorf("after wrapping, past = %+v", g.Past)
	}
}

func TestLiveTicksByItselfAndCloseEndsFollowers(t *testing.T) {
	l := StartLive(New(nil), nil, 10*time.Millisecond, 100)
	f := l.Follow()
	for range 3 {
		select {
		case <-f.C:
		case <-time.After(5 * time.Second):
			t.Fatal("the sampler did not tick")
		}
	}
	l.Close()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-f.C:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("Close did not end the follower")
		}
	}
}

func TestQuantileInterpolatesWithinBuckets(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		q      float64
		bounds []float64
		cum    []float64
		want   float64
	}{
		{0.5, []float64{1, 2, inf}, []float64{0, 10, 10}, 1.5},
		{0.99, []float64{1, 2, inf}, []float64{10, 10, 10}, 0.99},
		{0.5, []float64{1, 2, inf}, []float64{0, 0, 4}, 2}, // beyond every bound: the highest finite one
	} {
		got := quantile(tc.q, tc.bounds, tc.cum)
		if got == nil || math.Abs(*got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v, %v, %v) = %v, want %v", tc.q, tc.bounds, tc.cum, got, tc.want)
		}
	}
	if quantile(0.5, []float64{1, inf}, []float64{0, 0}) != nil {
		t.Error("no observations gave a quantile")
	}
}
