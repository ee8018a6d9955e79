package httpfront

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/observe/metrics"
	"github.com/clicktocall/clicktocall/observe/siptrace"
)

// traceLabels reads GET /api/v1/calls/{id}/trace as "leg direction what"
// lines, what being the method or the status.
func traceLabels(t *testing.T, base, id string) (traceView, []string) {
	t.Helper()
	var tv traceView
	wantJSON(t, get(t, base+"/api/v1/calls/"+id+"/trace"), 200, &tv)
	var out []string
	for _, m := range tv.Messages {
		what := m.Method
		if m.Status != 0 {
			what = strconv.Itoa(m.Status)
		}
		out = append(out, m.Leg+" "+m.Direction+" "+what)
	}
	return tv, out
}

// waitTrace polls the trace until its last message is want ("Initiator in
// 200", say) and returns it.
func (st *stack) waitTrace(id, last string) (traceView, []string) {
	st.t.Helper()
	end := time.Now().Add(15 * time.Second)
	for {
		tv, labels := traceLabels(st.t, st.base, id)
		if len(labels) > 0 && labels[len(labels)-1] == last {
			return tv, labels
		}
		if time.Now().After(end) {
			st.t.Fatalf("the trace of %s never ended with %q: %q", id, last, labels)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestE2ETraceIsTheLadderOfAREFERCall(t *testing.T) {
	st := newStack(t, phone.Behaviour{Ring: true}, phone.Behaviour{})
	c := st.place("")
	phoneCall(t, st.init, phone.Received(sip.BYE))
	tv, got := st.waitTrace(c.ID, "Initiator in 200") // the phone's 200 to our BYE
	want := []string{
		"Initiator out INVITE", "Initiator in 180", "Initiator in 200", "Initiator out ACK",
		"Initiator out REFER", "Initiator in 202",
		"Initiator in NOTIFY", "Initiator out 200", "Initiator in NOTIFY", "Initiator out 200",
		"Initiator out BYE", "Initiator in 200",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("ladder\n%s\nwant\n%s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if !tv.Traced || tv.CallID != c.ID || len(tv.Legs) != 1 || tv.Legs[0].Leg != "Initiator" || tv.Legs[0].SIPCallID == "" {
		t.Errorf("trace %+v", tv)
	}
	m := tv.Messages
	if !m[0].SDP || m[0].CSeqMethod != "INVITE" || m[4].CSeqMethod != "REFER" || m[6].Note != "SIP/2.0 100 Trying" ||
		m[8].Note != "SIP/2.0 200 OK" || m[2].Reason != "OK" {
		t.Errorf("message details %+v", m)
	}
	st.waitIdle()
}

func TestE2ETraceOfAnAnchoredCallHasBothLegs(t *testing.T) {
	st := newStack(t, phone.Behaviour{}, phone.Behaviour{TalkTime: 50 * time.Millisecond})
	c := st.place(`,"anchor":true`)
	phoneCall(t, st.init, phone.Received(sip.BYE))
	_, got := st.waitTrace(c.ID, "Initiator in 200")
	joined := strings.Join(got, ", ")
	for _, want := range []string{
		"Initiator out INVITE, Initiator in 200, Initiator out ACK, Destination out INVITE, Destination in 200",
		"Destination in BYE, Destination out 200",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("ladder %s\nlacks %s", joined, want)
		}
	}
	st.waitIdle()
}

func TestTraceOfAnUnknownCallIs404AndOfAnUntracedOneIsEmpty(t *testing.T) {
	a := serveAPI(t, func(o *Options) { o.Traces = siptrace.New(10) })
	wantAPIError(t, get(t, a.base+"/api/v1/calls/nope/trace"), 404, "No call nope")
	feed(a.j, "old", actors.CallRequest{}, "100", "487 I")
	var tv traceView
	wantJSON(t, get(t, a.base+"/api/v1/calls/old/trace"), 200, &tv)
	if tv.Traced || tv.CallID != "old" || tv.Messages == nil || len(tv.Messages) != 0 || tv.Legs == nil {
		t.Errorf("trace of an untraced call: %+v", tv)
	}
}

func TestListCallsFiltersByState(t *testing.T) {
	a := serveAPI(t, nil)
	feed(a.j, "gone", actors.CallRequest{}, "100", "487 I")
	feed(a.j, "busy", actors.CallRequest{}, "100", "486 I")
	feed(a.j, "ringing", actors.CallRequest{}, "100", "180 I")
	ids := func(query string) string {
		var l callList
		wantJSON(t, get(t, a.base+"/api/v1/calls"+query), 200, &l)
		var out []string
		for _, c := range l.Calls {
			out = append(out, c.ID)
		}
		return strings.Join(out, " ")
	}
	for query, want := range map[string]string{
		"?state=cancelled":                         "gone",
		"?state=failed,cancelled&limit=1":          "busy",
		"?state=ringing_initiator&active=true":     "ringing",
		"?state=connected":                         "",
		"?state=%20failed%20,%20ringing_initiator": "ringing busy",
	} {
		if got := ids(query); got != want {
			t.Errorf("%s: %q, want %q", query, got, want)
		}
	}
	var e apiError
	wantJSON(t, get(t, a.base+"/api/v1/calls?state=lost"), 400, &e)
	if !strings.HasPrefix(e.Text, `Unknown state "lost" (want starting, in_progress,`) {
		t.Errorf("unknown state: %+v", e)
	}
}

func TestStatsEventsStreamTheLiveSamples(t *testing.T) {
	m := metrics.New(nil)
	live := metrics.StartLive(m, func() int { return 2 }, time.Hour, 900)
	defer live.Close()
	t0 := time.Now()
	for i := 1; i <= 3; i++ {
		live.Tick(t0.Add(time.Duration(i) * time.Second))
	}
	a := serveAPI(t, func(o *Options) { o.Stats = live })

	res := openEvents(t, a.base+"/api/v1/stats/events", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("stats stream: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	r := newSSEReader(res.Body)
	sample := func() (sseEvent, metrics.Sample) {
		t.Helper()
		e, ok := r.next()
		if !ok {
			t.Fatal("the stream ended")
		}
		var s metrics.Sample
		if err := json.Unmarshal([]byte(e.data), &s); err != nil || e.event != "sample" {
			t.Fatalf("event %+v: %v", e, err)
		}
		return e, s
	}
	for want := uint64(1); want <= 3; want++ { // the kept samples first
		e, s := sample()
		if s.Seq != want || e.id != fmt.Sprint(want) || s.Active != 2 {
			t.Errorf("past sample %d: id %s %+v", want, e.id, s)
		}
	}
	_, _ = m.Starter(stubEngine{}).StartCall(actors.CallRequest{Origin: "api"}, nil)
	live.Tick(t0.Add(4 * time.Second))
	if _, s := sample(); s.Seq != 4 || s.Admitted != 1 {
		t.Errorf("new sample %+v, want seq 4 with 1 admitted/s", s)
	}

	// A reconnecting client gets only what it has not seen.
	r = newSSEReader(openEvents(t, a.base+"/api/v1/stats/events", "3").Body)
	if _, s := sample(); s.Seq != 4 {
		t.Errorf("after Last-Event-ID 3 the first sample is %d", s.Seq)
	}

	// Without a sampler the route says so.
	b := serveAPI(t, nil)
	wantAPIError(t, get(t, b.base+"/api/v1/stats/events"), 503, "Live statistics are not enabled")
}

// stubEngine admits every call.
type stubEngine struct{}

func (stubEngine) StartCall(actors.CallRequest, func(actors.Progress)) (string, error) {
	return "id", nil
}

func TestConsoleAssetsAreServedUnderItsPolicy(t *testing.T) {
	a := serveAPI(t, nil)
	page := get(t, a.base+"/")
	wantHTML(t, page, 200, `<link rel="stylesheet" href="/console.css">`, `<script src="/charts.js" defer></script>`,
		`id="chart-requests"`, `id="ladder"`, `name="viewport"`)
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	for path, ct := range map[string]string{"/charts.js": "text/javascript; charset=utf-8", "/console.css": "text/css; charset=utf-8"} {
		r := get(t, a.base+path)
		if r.status != 200 || r.header.Get("Content-Type") != ct || len(r.body) < 1000 || strings.Contains(r.body, "innerHTML") {
			t.Errorf("%s: %d %q, %d bytes", path, r.status, r.header.Get("Content-Type"), len(r.body))
		}
		// Offline: nothing is fetched from elsewhere.
		if strings.Contains(r.body, "http://") && !strings.Contains(r.body, "http://www.w3.org/2000/svg") || strings.Contains(r.body, "https://") {
			t.Errorf("%s refers to another site", path)
		}
	}
}
