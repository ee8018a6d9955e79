package httpfront

// End-to-end tests: the real engine and SIP transport, simulated phones on
// loopback, and this server on port 0 with the journal, metrics, CDR file
// and status callbacks wired as serve wires them.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
	"github.com/clicktocall/clicktocall/frontends/http/webhook"
	"github.com/clicktocall/clicktocall/observe/cdr"
	"github.com/clicktocall/clicktocall/observe/metrics"
	"github.com/clicktocall/clicktocall/observe/siptrace"
	"github.com/clicktocall/clicktocall/transport"
)

// stack is a whole server in process, with two phones.
type stack struct {
	t       *testing.T
	eng     *actors.Engine
	journal *cdr.Journal
	srv     *Server
	base    string
	init    *phone.Phone
	dest    *phone.Phone
	cdrPath string
	live    *metrics.Live  // samples every liveTick
	traces  *siptrace.Ring // the last 100 calls' SIP messages
}

// liveTick is how often the stack's live statistics are sampled (a second
// in serve); shorter, so tests see the charts move sooner.
const liveTick = 200 * time.Millisecond

const callbackSecret = "callback-secret"

func newStack(t *testing.T, initB, destB phone.Behaviour) *stack {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	st := &stack{t: t, cdrPath: filepath.Join(t.TempDir(), "calls.cdr"), traces: siptrace.New(100)}
	tr, err := transport.New(transport.Options{IPAddress: "127.0.0.1", Logger: quiet, OnTrace: st.traces.Observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	mk := func(user string, b phone.Behaviour) *phone.Phone {
		p, err := phone.New(phone.Config{User: user, Behaviour: b})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	st.init, st.dest = mk("alice", initB), mk("bob", destB)

	records, err := logging.OpenRotatingFile(st.cdrPath, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { records.Close() })
	var eng *actors.Engine
	m := metrics.New(func() int { return eng.ActiveCalls() })
	st.journal = cdr.New(cdr.Options{Records: records, Followers: []cdr.Follower{m}, Logger: quiet})
	t.Cleanup(st.journal.Close)
	eng, err = actors.NewEngine(actors.EngineOptions{
		SIP: config.SIP{IPAddress: "127.0.0.1", Identity: "sip:clicktocall@example.com",
			RingTimeout: 10 * time.Second, ReferTimeout: 5 * time.Second, DestinationFrom: "initiator"},
		Transport: tr, Logger: quiet, Observer: st.journal, Tracer: st.traces})
	if err != nil {
		t.Fatal(err)
	}
	st.eng = eng
	st.live = metrics.StartLive(m, eng.ActiveCalls, liveTick, 900)
	t.Cleanup(st.live.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})

	api := config.Default().API
	api.StatusCallbackSecret = callbackSecret
	api.EventsHeartbeat = time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.srv = New(Options{HTTP: config.HTTP{}, Translate: translate, Calls: m.Starter(eng), Logger: quiet,
		Records: st.journal, Cancel: eng.Cancel, API: api, Metrics: m.Handler(), Rejections: m,
		CallbackOutcome: m.StatusCallback, Stats: st.live, Traces: st.traces})
	done := make(chan error, 1)
	go func() { done <- st.srv.Serve(ln) }()
	t.Cleanup(func() { stop(t, st.srv, done) })
	waitAddr(t, st.srv)
	st.base = "http://" + ln.Addr().String()
	return st
}

func (st *stack) uri(p *phone.Phone) string {
	u := p.URI("udp")
	return u.String()
}

// place starts a call through the JSON API.
func (st *stack) place(extra string) createdCall {
	st.t.Helper()
	body := fmt.Sprintf(`{"initiator":%q,"destination":%q%s}`, st.uri(st.init), st.uri(st.dest), extra)
	var c createdCall
	wantJSON(st.t, postJSON(st.t, st.base+"/api/v1/calls", body), 201, &c)
	return c
}

// waitView polls GET /api/v1/calls/{id} until cond holds.
func (st *stack) waitView(id string, cond func(callView) bool) callView {
	st.t.Helper()
	end := time.Now().Add(15 * time.Second)
	for {
		var v callView
		wantJSON(st.t, get(st.t, st.base+"/api/v1/calls/"+id), 200, &v)
		if cond(v) {
			return v
		}
		if time.Now().After(end) {
			st.t.Fatalf("call %s never reached the condition; last view %+v", id, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitIdle waits until the engine has no call left.
func (st *stack) waitIdle() {
	st.t.Helper()
	end := time.Now().Add(10 * time.Second)
	for st.eng.ActiveCalls() > 0 {
		if time.Now().After(end) {
			st.t.Fatalf("%d calls still active", st.eng.ActiveCalls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func phoneCall(t *testing.T, p *phone.Phone, cond func(phone.Call) bool) phone.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.WaitCall(ctx, cond)
	if err != nil {
		t.Fatalf("phone: %v", err)
	}
	return c
}

func resultsSummary(rs []cdr.Result) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = strings.TrimSpace(fmt.Sprint(r.Code, " ", r.Leg))
	}
	return strings.Join(out, ", ")
}

func TestE2EAPICallCompletesAndItsEventStreamShowsEveryResult(t *testing.T) {
	st := newStack(t, phone.Behaviour{Ring: true, RingDelay: 100 * time.Millisecond,
		Refer: phone.ReferBehaviour{Ringing: true, NotifyDelay: 50 * time.Millisecond}}, phone.Behaviour{})
	c := st.place(`,"request_id":"e2e-1"`)
	if c.TranslatedInitiator != st.uri(st.init) || c.TranslatedDestination != st.uri(st.dest) {
		t.Errorf("created %+v", c)
	}

	r := newSSEReader(openEvents(t, st.base+"/api/v1/calls/"+c.ID+"/events", "").Body)
	var got []string
	for e, ok := r.next(); ok; e, ok = r.next() {
		v := eventOf(t, e)
		got = append(got, strings.TrimSpace(fmt.Sprint(v.Code, " ", v.Leg)))
		if v.CallID != c.ID || fmt.Sprint(v.Sequence) != e.id || v.At.IsZero() {
			t.Errorf("event %s: %+v", e.id, v)
		}
	}
	want := "100, 180 Initiator, 200 Initiator, 180 Destination, 200 Destination"
	if strings.Join(got, ", ") != want {
		t.Errorf("event stream %q, want %q", strings.Join(got, ", "), want)
	}

	// On the wire: the initiator was called, REFERred to the destination
	// and hung up after the transfer.
	call := phoneCall(t, st.init, phone.Received(sip.BYE))
	var methods []string
	for _, m := range call.Methods(phone.In) {
		if m != "ACK" {
			methods = append(methods, m)
		}
	}
	if strings.Join(methods, " ") != "INVITE REFER BYE" {
		t.Errorf("initiator received %v", methods)
	}
	refer, _ := call.Request(phone.In, sip.REFER)
	if rt := refer.Header("Refer-To"); rt != "<"+st.uri(st.dest)+">" {
		t.Errorf("Refer-To = %q", rt)
	}

	v := st.waitView(c.ID, func(v callView) bool { return v.Final != nil })
	// Connected, or already ended: the engine reports the end once its BYE
	// to the transferred initiator is answered.
	if (v.State != cdr.StateConnected && v.State != cdr.StateEnded) || v.Mode != actors.ModeRefer || v.Active || v.RequestID != "e2e-1" ||
		resultsSummary(v.Results) != "100, 180 Initiator, 200 Initiator, 180 Destination, 200 Destination" {
		t.Errorf("call view %+v", v)
	}
	st.waitIdle()

	// One CDR line for the call.
	rec := waitRecord(t, st.cdrPath, c.ID)
	if rec.Mode != "refer" || rec.Origin != "api" || rec.RequestID != "e2e-1" || rec.FinalCode != 200 ||
		rec.InitiatorLeg.AnsweredAt == nil || rec.DestinationLeg.RingingAt == nil || rec.DurationMS < 100 ||
		rec.Initiator != c.TranslatedInitiator {
		t.Errorf("record %+v", rec)
	}
}

// waitRecord waits for the CDR line of call id.
func waitRecord(t *testing.T, path, id string) cdr.Record {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			var r cdr.Record
			if json.Unmarshal([]byte(line), &r) == nil && r.CallID == id {
				return r
			}
		}
		if time.Now().After(end) {
			t.Fatalf("no record of %s in %s:\n%s", id, path, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestE2EDeleteWhileTheInitiatorRingsEndsIn487OnTheWireAndInTheAPI(t *testing.T) {
	st := newStack(t, phone.Behaviour{Ring: true, NoAnswer: true}, phone.Behaviour{})
	c := st.place("")
	st.waitView(c.ID, func(v callView) bool { return v.State == cdr.StateRingingInitiator })

	var v callView
	wantJSON(t, request(t, http.MethodDelete, st.base+"/api/v1/calls/"+c.ID, "", ""), 200, &v)
	if v.Final == nil || v.Final.Code != 487 || v.State != cdr.StateCancelled || v.Active {
		t.Errorf("DELETE answered %+v", v)
	}
	// The phone got a CANCEL and answered its INVITE 487.
	call := phoneCall(t, st.init, phone.InState(phone.CallCancelled))
	if _, ok := call.Request(phone.In, sip.CANCEL); !ok || call.FinalCode != 487 {
		t.Errorf("initiator: %s", call)
	}
	got := st.waitView(c.ID, func(v callView) bool { return v.Final != nil })
	if resultsSummary(got.Results) != "100, 180 Initiator, 487 Initiator" {
		t.Errorf("results %s", resultsSummary(got.Results))
	}
	if len(st.dest.Calls()) != 0 {
		t.Error("the destination was called")
	}
	st.waitIdle()
	wantAPIError(t, request(t, http.MethodDelete, st.base+"/api/v1/calls/"+c.ID, "", ""), 409, "Call "+c.ID+" has already ended")
}

func TestE2ERepeatedRequestIDPlacesOneCall(t *testing.T) {
	st := newStack(t, phone.Behaviour{Ring: true, RingDelay: 200 * time.Millisecond}, phone.Behaviour{})
	first := st.place(`,"request_id":"once"`)
	again := st.place(`,"request_id":"once"`)
	if again != first {
		t.Errorf("the repeat answered %+v, want %+v", again, first)
	}
	st.waitView(first.ID, func(v callView) bool { return v.Final != nil })
	st.waitIdle()
	// Exactly one INVITE reached the initiator.
	calls := st.init.Calls()
	invites := 0
	for _, c := range calls {
		invites += len(c.Requests(phone.In, sip.INVITE))
	}
	if len(calls) != 1 || invites != 1 {
		t.Errorf("initiator saw %d calls and %d INVITEs, want 1 and 1", len(calls), invites)
	}
}

// callbackReceiver is a status_callback endpoint that checks signatures.
type callbackReceiver struct {
	mu     sync.Mutex
	events []eventView
	bad    []string
	final  chan struct{}
}

func newCallbackReceiver(t *testing.T) (*callbackReceiver, string) {
	r := &callbackReceiver{final: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !webhook.Verify(callbackSecret, req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), body) {
			r.bad = append(r.bad, string(body))
		}
		var e eventView
		if err := json.Unmarshal(body, &e); err != nil {
			r.bad = append(r.bad, string(body))
		}
		r.events = append(r.events, e)
		if e.Final {
			close(r.final)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL + "/hooks/ctc"
}

func TestE2EStatusCallbackGetsEveryResultSigned(t *testing.T) {
	st := newStack(t, phone.Behaviour{Ring: true}, phone.Behaviour{Ring: true, RingDelay: 100 * time.Millisecond})
	rcv, url := newCallbackReceiver(t)
	c := st.place(`,"anchor":true,"status_callback":"` + url + `"`)
	select {
	case <-rcv.final:
	case <-time.After(15 * time.Second):
		t.Fatal("no final result delivered")
	}
	v := st.waitView(c.ID, func(v callView) bool { return v.Final != nil })
	if v.Mode != actors.ModeAnchored || v.State != cdr.StateConnected {
		t.Errorf("call %+v", v)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("badly signed or malformed deliveries: %q", rcv.bad)
	}
	var got []string
	for i, e := range rcv.events {
		got = append(got, strings.TrimSpace(fmt.Sprint(e.Code, " ", e.Leg)))
		if e.CallID != c.ID || e.Sequence != i+1 || !e.At.Equal(v.Results[i].At) {
			t.Errorf("delivery %d: %+v", i+1, e)
		}
	}
	want := "100, 180 Initiator, 200 Initiator, 180 Destination, 200 Destination"
	if strings.Join(got, ", ") != want || resultsSummary(v.Results) != want {
		t.Errorf("delivered %q, call has %q, want %q", strings.Join(got, ", "), resultsSummary(v.Results), want)
	}
}

func TestE2EMetricsCountTheCallsMade(t *testing.T) {
	st := newStack(t, phone.Behaviour{}, phone.Behaviour{})
	a := st.place("")
	b := st.place(`,"anchor":true`)
	wantHTML(t, get(t, st.base+query(st.uri(st.init), st.uri(st.dest))), 200, "Initiating click-to-call")
	wantAPIError(t, postJSON(t, st.base+"/api/v1/calls", `{"initiator":"alice","destination":"2"}`), 400, "No translation rule for alice")
	wantHTML(t, get(t, st.base+query("1", "")), 400)
	for _, id := range []string{a.ID, b.ID} {
		st.waitView(id, func(v callView) bool { return v.Final != nil })
	}
	// The anchored call stays up until a phone hangs up.
	calls := st.journal.List(false, 0)
	if len(calls) != 3 {
		t.Fatalf("journal has %d calls, want 3", len(calls))
	}
	for _, c := range calls {
		st.waitView(c.ID, func(v callView) bool { return v.Final != nil })
	}
	wantJSON(t, request(t, http.MethodDelete, st.base+"/api/v1/calls/"+b.ID, "", ""), 200, nil)
	st.waitIdle()

	body := scrapeMetrics(t, st.base)
	for _, want := range []string{
		`clicktocall_requests_total{interface="api",outcome="accepted"} 2`,
		`clicktocall_requests_total{interface="http",outcome="accepted"} 1`,
		`clicktocall_requests_total{interface="api",outcome="bad_request"} 1`,
		`clicktocall_requests_total{interface="http",outcome="bad_request"} 1`,
		`clicktocall_rejections_total{interface="api",reason="no_translation_rule"} 1`,
		`clicktocall_rejections_total{interface="http",reason="missing_address"} 1`,
		`clicktocall_results_total{code="100",leg=""} 3`,
		`clicktocall_results_total{code="200",leg="Initiator"} 3`,
		`clicktocall_results_total{code="200",leg="Destination"} 3`,
		`clicktocall_refer_outcomes_total{outcome="transferred"} 2`,
		`clicktocall_request_to_initiator_answer_seconds_count 3`,
		`clicktocall_request_to_final_seconds_count{outcome="connected"} 3`,
		"clicktocall_calls_active 0\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Nobody rang, nothing failed, no REFER was refused.
	for _, unwanted := range []string{`results_total{code="180"`, `results_total{code="4`, `results_total{code="5`, `outcome="fallback"`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("metrics have %q", unwanted)
		}
	}
}
