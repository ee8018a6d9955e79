package loadtest

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/clicktocall/clicktocall/bench/xmlclient"
)

func TestDueSpacesCallsEvenly(t *testing.T) {
	cases := []struct {
		elapsed time.Duration
		rate    float64
		total   int
		want    int
	}{
		{-time.Millisecond, 1000, 10, 0},
		{0, 1000, 10, 1}, // the first call goes at once
		{999 * time.Microsecond, 1000, 10, 1},
		{time.Millisecond, 1000, 10, 2},
		{4500 * time.Microsecond, 1000, 10, 5},
		{time.Hour, 1000, 10, 10}, // never more than the total
		{time.Second, 3000, 1_000_000, 3001},
	}
	for _, c := range cases {
		if got := (schedule{rate: c.rate}).due(c.elapsed, c.total); got != c.want {
			t.Errorf("due(%v, %g/s, %d) = %d, want %d", c.elapsed, c.rate, c.total, got, c.want)
		}
	}
}

func TestARampRaisesTheRateLinearly(t *testing.T) {
	s := schedule{rate: 1000, ramp: 2 * time.Second}
	// Over a 2 s ramp to 1,000/s, 1,000 calls: 250 in the first second,
	// 750 in the second; then 1,000 a second.
	if n := s.total(5 * time.Second); n != 4000 {
		t.Errorf("a 5 s trial with a 2 s ramp to 1000/s makes %d calls due, want 4000", n)
	}
	for _, c := range []struct {
		elapsed time.Duration
		want    int
	}{{0, 1}, {time.Second, 251}, {2 * time.Second, 1001}, {3 * time.Second, 2001}} {
		if got := s.due(c.elapsed, 4000); got != c.want {
			t.Errorf("due after %v: %d, want %d", c.elapsed, got, c.want)
		}
	}
	// at is due's inverse: call k is due at at(k), and not before.
	for _, k := range []int{0, 1, 10, 249, 250, 999, 1000, 1001, 3999} {
		at := s.at(k)
		if got := s.due(at+time.Microsecond, 4000); got < k+1 {
			t.Errorf("call %d is due at %v, but due() then counts %d", k, at, got)
		}
		if k > 0 {
			if got := s.due(at-time.Millisecond, 4000); got > k {
				t.Errorf("call %d is due at %v, but due() 1 ms earlier counts %d", k, at, got)
			}
		}
	}
	// Paced, the rate rises: 200 calls over a 100 ms ramp to 4,000/s take
	// 100 ms (200 due by the ramp's end), the second 100 none.
	start := time.Now()
	sent, _ := pace(start, schedule{rate: 4000, ramp: 100 * time.Millisecond}, 200, nil, func(int, int) {})
	if took := time.Since(start); sent != 200 || took < 90*time.Millisecond || took > 2*time.Second {
		t.Errorf("paced %d calls in %v, want 200 in about 100 ms", sent, took)
	}
}

func TestPaceSendsEveryCallOnSchedule(t *testing.T) {
	var got []int
	start := time.Now()
	s := schedule{rate: 2000}
	sent, lag := pace(start, s, 100, nil, func(from, to int) {
		if at := time.Since(start); at < s.at(to-1) {
			t.Errorf("calls %d to %d went at %v, the last is due at %v", from, to-1, at, s.at(to-1))
		}
		for k := from; k < to; k++ {
			got = append(got, k)
		}
	})
	took := time.Since(start)
	if sent != 100 || len(got) != 100 {
		t.Fatalf("sent %d calls: %v", sent, got)
	}
	for k, g := range got {
		if g != k {
			t.Fatalf("calls went in the order %v", got)
		}
	}
	// 100 calls at 2000/s: the last one is due at 49.5 ms.
	if took < 49*time.Millisecond || took > 2*time.Second {
		t.Errorf("pacing 100 calls at 2000/s took %v", took)
	}
	if lag < 0 || lag > took {
		t.Errorf("lag %v out of range", lag)
	}
}

// At 20,000 calls/s pace wakes about once a tick, not once a call: the
// calls due meanwhile go out as one batch.
func TestPaceBatchesWhatFallsDueWithinATick(t *testing.T) {
	batches := 0
	start := time.Now()
	sent, lag := pace(start, schedule{rate: 20000}, 2000, nil, func(from, to int) { batches++ })
	took := time.Since(start)
	if sent != 2000 {
		t.Fatalf("sent %d calls, want 2000", sent)
	}
	if ticks := int(took/paceTick) + 1; batches > ticks {
		t.Errorf("2,000 calls in %v went in %d batches, more than the %d ticks", took, batches, ticks)
	}
	if batches < 3 {
		t.Errorf("2,000 calls over 100 ms went in %d batches: not paced", batches)
	}
	if lag < 0 || lag > took {
		t.Errorf("lag %v out of range", lag)
	}
}

func TestPaceStops(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	sent, _ := pace(time.Now(), schedule{rate: 10}, 100, stop, func(int, int) {})
	if sent != 1 {
		t.Errorf("stopped pacing sent %d calls, want the first only", sent)
	}
}

func TestParseMixAndSchedule(t *testing.T) {
	m, err := ParseMix("accept=6, refuse=2,busy=1,noanswer=1")
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != "accept=6,refuse=2,busy=1,noanswer=1" {
		t.Errorf("String = %q", m.String())
	}
	sched := m.schedule()
	var count [numKinds]int
	for _, k := range sched {
		count[k]++
	}
	if len(sched) != 10 || count != [numKinds]int{6, 2, 1, 1} {
		t.Errorf("schedule %v", sched)
	}
	// Spread out: no kind with weight 6 of 10 runs more than twice in a row.
	for i := 2; i < len(sched); i++ {
		if sched[i] == KindAccept && sched[i-1] == KindAccept && sched[i-2] == KindAccept {
			t.Errorf("schedule %v bunches accept calls", sched)
		}
	}
	for _, bad := range []string{"", "accept=0", "sideways=1", "accept=-1", "accept=x"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
}

func TestCallUserRoundTrips(t *testing.T) {
	for _, s := range []string{callUser('c', 12345), "sip:c12345@127.0.0.1:5060;transport=tcp", "sips:c12345@h"} {
		role, idx, ok := parseCallUser(s)
		if !ok || role != 'c' || idx != 12345 {
			t.Errorf("parseCallUser(%q) = %c %d %v", s, role, idx, ok)
		}
	}
	for _, s := range []string{"", "sip:alice@h", "sip:c@h", "sip:x12@h", "sip:c12x@h"} {
		if _, _, ok := parseCallUser(s); ok {
			t.Errorf("parseCallUser(%q) accepted", s)
		}
	}
}

// finish gives rec an XML final and phone flags, as the drivers and phones do.
func finish(t *table, r *callRec, code int, leg string, flags uint32) {
	r.sent.Store(1)
	r.phone.Or(flags)
	r.finalCode.Store(int32(code))
	r.finalLeg.Store(leg)
	r.finals.Add(1)
	t.check(r)
}

func TestCallsAreJudgedByTheirFinalAndThePhones(t *testing.T) {
	sched := []Kind{KindAccept, KindBusy, KindRefuse, KindNoAnswer}
	tb := newTable(0, 8, sched, false, false, false)
	ok := func(i int) uint32 { return tb.recs[i].exp.phone }
	finish(tb, &tb.recs[0], 200, "Destination", ok(0))
	finish(tb, &tb.recs[1], 486, "Initiator", ok(1))
	finish(tb, &tb.recs[2], 200, "Destination", ok(2)&^fDestByeSent) // phones not done
	finish(tb, &tb.recs[3], 408, "Initiator", ok(3))
	finish(tb, &tb.recs[4], 503, "", 0) // refused
	finish(tb, &tb.recs[5], 200, "Destination", ok(5))
	finish(tb, &tb.recs[5], 200, "Destination", 0) // a second final
	tb.recs[6].sent.Store(1)                       // never answered
	finish(tb, &tb.recs[7], 200, "Destination", ok(7))
	tb.recs[7].late.Add(1)

	want := []string{
		"",
		"",
		"phones missed: destination BYE",
		"",
		"final 503 , want 200 Destination",
		"more than one final",
		"no final result",
		"result after the final",
	}
	for i, w := range want {
		if got := tb.failure(&tb.recs[i]); got != w {
			t.Errorf("call %d (%s): failure %q, want %q", i, tb.recs[i].kind, got, w)
		}
	}
	// Resolved while running: the four clean calls, the refused one and the
	// double final; the one waiting for its phones is not yet.
	if got := tb.resolved.Load(); got != 6 {
		t.Errorf("%d calls resolved, want 6", got)
	}
	tb.setFlag(&tb.recs[2], fDestByeSent)
	if tb.resolved.Load() != 7 || tb.failure(&tb.recs[2]) != "" {
		t.Errorf("the late phone event did not complete call 2")
	}
}

func TestExpectations(t *testing.T) {
	if e := expect(KindAccept, false); e.code != 200 || e.leg != "Destination" || e.phone&fReferAccepted == 0 || e.phone&fDestInvite != 0 {
		t.Errorf("accept in REFER mode: %+v", e)
	}
	if e := expect(KindRefuse, false); e.phone&(fReferRejected|fDestConfirmed|fInitReinvite) != fReferRejected|fDestConfirmed|fInitReinvite {
		t.Errorf("refuse in REFER mode falls back to anchored: %+v", e)
	}
	if e := expect(KindRefuse, true); e.phone&fReferRejected != 0 || e != expect(KindAccept, true) {
		t.Errorf("anchored calls never REFER: %+v", e)
	}
	if e := expect(KindBusy, true); e.code != 486 || e.leg != "Initiator" {
		t.Errorf("busy: %+v", e)
	}
}

// fakeXMLServer answers each request with 100 then 200 Destination while
// its token bucket (capacity calls/s) has room, and 503 when not: a server
// with a known highest rate.
func fakeXMLServer(t *testing.T, capacity float64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	limiter := rate.NewLimiter(rate.Limit(capacity), max(1, int(capacity/20)))
	var mu sync.Mutex
	go serveFakeXML(ln, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return limiter.Allow()
	})
	return ln.Addr().String()
}

// serveFakeXML answers every request on ln's connections with 100 then
// 200 Destination when admit says so, and 503 when not.
func serveFakeXML(ln net.Listener, admit func() bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			s := xmlclient.NewScanner(c, 1<<16)
			w := bufio.NewWriter(c)
			for {
				doc, err := s.Next()
				if err != nil {
					_ = w.Flush()
					return
				}
				req := strings.TrimSuffix(strings.TrimPrefix(string(doc), "<ClickToCall>"), "</ClickToCall>")
				if admit() {
					w.WriteString("<ClickToCall>" + req + "<Response><Result Code=\"100\">In progress</Result></Response></ClickToCall>\n")
					w.WriteString("<ClickToCall>" + req + "<Response><Result Code=\"200\" Leg=\"Destination\">Connected to destination</Result></Response></ClickToCall>\n")
				} else {
					w.WriteString("<ClickToCall>" + req + "<Response><Result Code=\"503\">Call rate limit reached</Result></Response></ClickToCall>\n")
				}
				if err := w.Flush(); err != nil {
					return
				}
			}
		}()
	}
}

func fakeRun(t *testing.T, args ...string) *Result {
	t.Helper()
	o, err := parseOptions(args, io.Discard, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	o.noPhones = true
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, o, Hooks{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestFixedRateAgainstAFakeServer(t *testing.T) {
	addr := fakeXMLServer(t, 100000)
	res := fakeRun(t, "-xml", addr, "-rate", "400", "-duration", "500ms", "-conns", "3", "-q")
	if len(res.Trials) != 1 {
		t.Fatalf("%d trials", len(res.Trials))
	}
	tr := res.Trials[0]
	if !tr.Pass || tr.Sent != 200 || tr.Succeeded != 200 || tr.Latency.Final.Count != 200 || tr.Latency.Invite.Count != 0 {
		t.Errorf("trial %+v", tr)
	}
	var report strings.Builder
	WriteReport(&report, res)
	if !strings.Contains(report.String(), "200 sent of 200, 200 ok, 0 failed: PASS") {
		t.Errorf("report:\n%s", report.String())
	}
}

func TestSearchAgainstAFakeServerFindsItsCapacity(t *testing.T) {
	const capacity = 400
	addr := fakeXMLServer(t, capacity)
	res := fakeRun(t, "-xml", addr, "-search", "-search-start", "100", "-search-factor", "2",
		"-search-resolution", "50", "-search-steps", "8", "-duration", "500ms", "-settle", "0", "-q")
	s := res.Search
	if s == nil || len(s.Steps) == 0 || len(s.Steps) > 8 || len(s.Steps) != len(res.Trials) {
		t.Fatalf("search %+v with %d trials", s, len(res.Trials))
	}
	if s.Best < capacity*0.75 || s.Best > capacity*1.2 {
		t.Errorf("best rate %g for a server that takes %d/s; steps %+v", s.Best, capacity, s.Steps)
	}
	for i, st := range s.Steps {
		if st.Rate >= 2*capacity && st.Pass {
			t.Errorf("step %d passed at %g/s, twice the capacity", i, st.Rate)
		}
	}
	var report strings.Builder
	WriteReport(&report, res)
	if !strings.Contains(report.String(), "highest rate with no failed call") {
		t.Errorf("report:\n%s", report.String())
	}
}
