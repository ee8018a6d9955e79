package httpfront

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/intake"
	"github.com/clicktocall/clicktocall/observe/cdr"
	"github.com/clicktocall/clicktocall/observe/metrics"
)

// apiServer is a server with a call journal in front of a fake engine.
type apiServer struct {
	s    *Server
	base string
	eng  *fakeEngine
	j    *cdr.Journal
	m    *metrics.Metrics
}

func serveAPI(t *testing.T, tune func(*Options)) *apiServer {
	t.Helper()
	a := &apiServer{eng: &fakeEngine{}, m: metrics.New(nil)}
	a.j = cdr.New(cdr.Options{Followers: []cdr.Follower{a.m}})
	t.Cleanup(a.j.Close)
	opts := Options{HTTP: config.HTTP{}, Translate: translate, Calls: a.m.Starter(a.eng), Records: a.j,
		API: config.Default().API, Metrics: a.m.Handler(), Rejections: a.m, CallbackOutcome: a.m.StatusCallback}
	if tune != nil {
		tune(&opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.s = New(opts)
	done := make(chan error, 1)
	go func() { done <- a.s.Serve(ln) }()
	t.Cleanup(func() { stop(t, a.s, done) })
	waitAddr(t, a.s)
	a.base = "http://" + ln.Addr().String()
	return a
}

func request(t *testing.T, method, url, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, client, req)
}

func postJSON(t *testing.T, url, body string) answer {
	t.Helper()
	return request(t, http.MethodPost, url, "application/json", body)
}

// wantJSON checks status and content type and decodes the body into v.
func wantJSON(t *testing.T, a answer, status int, v any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status = %d, want %d; body %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if v != nil {
		dec := json.NewDecoder(strings.NewReader(a.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("body %s: %v", a.body, err)
		}
	}
}

func wantAPIError(t *testing.T, a answer, code int, text string) {
	t.Helper()
	var e apiError
	wantJSON(t, a, code, &e)
	if e.Code != code || e.Text != text {
		t.Errorf("error %+v, want {%d %q}", e, code, text)
	}
}

func TestCreateCallAnswers201WithTranslatedAddressesAndLocation(t *testing.T) {
	a := serveAPI(t, nil)
	res := postJSON(t, a.base+"/api/v1/calls", `{"initiator":"sip:scott@sipdomain.com","destination":"9055551234","anchor":true}`)
	var c createdCall
	wantJSON(t, res, 201, &c)
	want := createdCall{ID: "call-1", TranslatedInitiator: "sip:scott@sipdomain.com", TranslatedDestination: "sip:9055551234@gateway.example.com"}
	if c != want {
		t.Errorf("answer %+v, want %+v", c, want)
	}
	if loc := res.header.Get("Location"); loc != "/api/v1/calls/call-1" {
		t.Errorf("Location = %q", loc)
	}
	started := a.eng.started()
	wantReq := actors.CallRequest{Initiator: want.TranslatedInitiator, Destination: want.TranslatedDestination, Anchor: true,
		Origin: "api", ClientIP: "127.0.0.1"}
	if len(started) != 1 || !reflect.DeepEqual(started[0], wantReq) {
		t.Errorf("engine started %+v, want [%+v]", started, wantReq)
	}
	// The call is in the journal before its first result.
	if c, ok := a.j.Get("call-1"); !ok || c.State != cdr.StateStarting || !reflect.DeepEqual(c.Request, wantReq) {
		t.Errorf("journal: %+v, %v", c, ok)
	}
}

func TestCreateCallErrorsAreJSONWithTheXMLTexts(t *testing.T) {
	a := serveAPI(t, nil)
	long := strings.Repeat("1", intake.MaxValueLen+1)
	for _, tc := range []struct {
		name, contentType, body string
		code                    int
		text                    string
	}{
		{"form body", "application/x-www-form-urlencoded", "initiator=1&destination=2", 415, "Content-Type must be application/json"},
		{"no content type", "", `{"initiator":"1","destination":"2"}`, 415, "Content-Type must be application/json"},
		{"not JSON", "application/json", "<ClickToCall/>", 400, "Parse error: not a JSON object"},
		{"two values", "application/json", `{"initiator":"1","destination":"2"} {}`, 400, "Parse error: more than one JSON value"},
		{"unknown field", "application/json", `{"initiator":"1","destination":"2","intiator":"3"}`, 400, `Parse error: unknown field "intiator"`},
		{"anchor as string", "application/json", `{"initiator":"1","destination":"2","anchor":"true"}`, 400, "Parse error: anchor must be a bool"},
		{"missing destination", "application/json", `{"initiator":"100"}`, 400, "Missing initiator and/or destination tags"},
		{"blank initiator", "application/json", `{"initiator":"  ","destination":"2"}`, 400, "Missing initiator and/or destination tags"},
		{"too long", "application/json", `{"initiator":"` + long + `","destination":"2"}`, 400, "Initiator too long (more than 1024 bytes)"},
		{"control character", "application/json", `{"initiator":"1","destination":"2\u0000"}`, 400, "Destination contains control characters"},
		{"no translation rule", "application/json", `{"initiator":"alice","destination":"2"}`, 400, "No translation rule for alice"},
		{"invalid URI", "application/json", `{"initiator":"1","destination":"bad"}`, 400, "Invalid URI format sip:bad@"},
		{"callbacks off", "application/json", `{"initiator":"1","destination":"2","status_callback":"https://example.com/cb"}`, 400,
			"Status callbacks are not enabled (api.status_callback_secret is not set)"},
		{"request_id too long", "application/json", `{"initiator":"1","destination":"2","request_id":"` + strings.Repeat("x", 201) + `"}`, 400,
			"request_id must be at most 200 bytes without control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, request(t, http.MethodPost, a.base+"/api/v1/calls", tc.contentType, tc.body), tc.code, tc.text)
		})
	}
	if calls := a.eng.started(); len(calls) != 0 {
		t.Errorf("bad requests started calls: %+v", calls)
	}
	body := scrapeMetrics(t, a.base)
	for _, want := range []string{
		`clicktocall_rejections_total{interface="api",reason="missing_address"} 2`,
		`clicktocall_rejections_total{interface="api",reason="parse_error"} 6`,
		`clicktocall_requests_total{interface="api",outcome="bad_request"} 14`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestBadStatusCallbackIsRefused(t *testing.T) {
	a := serveAPI(t, func(o *Options) { o.API.StatusCallbackSecret = "k" })
	wantAPIError(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2","status_callback":"ftp://x/"}`),
		400, `status_callback "ftp://x/" is not an absolute http or https URL`)
	if calls := a.eng.started(); len(calls) != 0 {
		t.Errorf("started %+v", calls)
	}
}

func TestEngineRefusalIsJSONWithItsCodeAndRetryAfter(t *testing.T) {
	a := serveAPI(t, nil)
	a.eng.refusal = &actors.Refusal{Ending: actors.EndMaxActiveCalls, Text: "Too many active calls", RetryAfter: 1500 * time.Millisecond}
	res := postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2"}`)
	wantAPIError(t, res, 503, "Too many active calls")
	if ra := res.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want 2", ra)
	}
	if !strings.Contains(scrapeMetrics(t, a.base), `clicktocall_rejections_total{interface="api",reason="max_active_calls"} 1`) {
		t.Error("the refusal was not counted")
	}
}

func TestRepeatedRequestIDReturnsTheFirstCall(t *testing.T) {
	a := serveAPI(t, nil)
	body := `{"initiator":"1","destination":"2","request_id":"order-17"}`
	var first, again createdCall
	wantJSON(t, postJSON(t, a.base+"/api/v1/calls", body), 201, &first)
	res := postJSON(t, a.base+"/api/v1/calls", body)
	wantJSON(t, res, 201, &again)
	if again != first || res.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat answered %+v (replayed %q), want %+v", again, res.header.Get("Idempotent-Replayed"), first)
	}
	wantAPIError(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"3","request_id":"order-17"}`),
		409, "request_id order-17 was used for a different request")
	var other createdCall
	wantJSON(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2","request_id":"order-18"}`), 201, &other)
	if other.ID == first.ID {
		t.Error("a new request_id returned the old call")
	}
	if n := len(a.eng.started()); n != 2 {
		t.Errorf("engine started %d calls, want 2", n)
	}
	if c, _ := a.j.Get(first.ID); c.RequestID != "order-17" {
		t.Errorf("journal request_id = %q", c.RequestID)
	}
}

func TestConcurrentRepeatsOfARequestIDPlaceOneCall(t *testing.T) {
	a := serveAPI(t, nil)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c createdCall
			res := postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2","request_id":"same"}`)
			if res.status == 201 && json.Unmarshal([]byte(res.body), &c) == nil {
				ids[i] = c.ID
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != "call-1" {
			t.Errorf("answers %v, want call-1 for all", ids)
			break
		}
	}
	if n := len(a.eng.started()); n != 1 {
		t.Errorf("engine started %d calls, want 1", n)
	}
}

func TestRequestIDsExpireAndAreBounded(t *testing.T) {
	r := newRequestIDs(time.Minute, 2)
	t0 := time.Now()
	r.remember("a", "fa", createdCall{ID: "1"}, t0)
	r.remember("b", "fb", createdCall{ID: "2"}, t0.Add(time.Second))
	if e, ok := r.lookup("a", t0.Add(59*time.Second)); !ok || e.created.ID != "1" {
		t.Errorf("a within the window: %+v, %v", e, ok)
	}
	if _, ok := r.lookup("a", t0.Add(time.Minute)); ok {
		t.Error("a still known after the window")
	}
	r.remember("c", "fc", createdCall{ID: "3"}, t0.Add(time.Minute))
	r.remember("d", "fd", createdCall{ID: "4"}, t0.Add(time.Minute))
	if _, ok := r.lookup("b", t0.Add(time.Minute)); ok {
		t.Error("b kept beyond the bound of 2")
	}
	if len(r.byID) != 2 || len(r.order) != 2 {
		t.Errorf("%d ids and %d in order, want 2", len(r.byID), len(r.order))
	}
}

// feed reports results for call id into the journal as the engine would.
func feed(j *cdr.Journal, id string, req actors.CallRequest, results ...string) {
	for _, r := range results {
		var code int
		var leg string
		fmt.Sscanf(r, "%d %s", &code, &leg)
		p := actors.Progress{CallID: id, Code: code, At: time.Now(), Text: fmt.Sprint("text ", code)}
		switch leg {
		case "I":
			p.Leg = actors.LegInitiator
		case "D":
			p.Leg = actors.LegDestination
		}
		j.Result(req, p)
	}
}

func TestGetCallShowsStateModeAndTimedResults(t *testing.T) {
	a := serveAPI(t, nil)
	var c createdCall
	wantJSON(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2","request_id":"r"}`), 201, &c)
	req := a.eng.started()[0]
	feed(a.j, c.ID, req, "100", "180 I", "200 I")
	var v callView
	wantJSON(t, get(t, a.base+"/api/v1/calls/"+c.ID), 200, &v)
	if v.ID != c.ID || v.State != cdr.StateInitiatorConnected || v.Mode != actors.ModeRefer || !v.Active ||
		v.Origin != "api" || v.RequestID != "r" || v.Final != nil || v.TranslatedDestination != c.TranslatedDestination {
		t.Errorf("view %+v", v)
	}
	if len(v.Results) != 3 || v.Results[1].Code != 180 || v.Results[1].Leg != "Initiator" || v.Results[1].At.IsZero() {
		t.Errorf("results %+v", v.Results)
	}
	feed(a.j, c.ID, req, "486 D")
	wantJSON(t, get(t, a.base+"/api/v1/calls/"+c.ID), 200, &v)
	if v.State != cdr.StateFailed || v.Active || v.Final == nil || v.Final.Code != 486 || v.Final.Leg != "Destination" {
		t.Errorf("after the final: %+v", v)
	}
	wantAPIError(t, get(t, a.base+"/api/v1/calls/nope"), 404, "No call nope")
	wantAPIError(t, get(t, a.base+"/api/v1/nothing"), 404, "No page at /api/v1/nothing")
}

func TestListCallsNewestFirstActiveOnly(t *testing.T) {
	a := serveAPI(t, nil)
	req := actors.CallRequest{Initiator: "sip:a@x", Destination: "sip:b@x", Origin: "xml"}
	feed(a.j, "old", req, "100", "487 I")
	time.Sleep(2 * time.Millisecond)
	feed(a.j, "new", req, "100", "180 I")
	var l callList
	wantJSON(t, get(t, a.base+"/api/v1/calls"), 200, &l)
	if len(l.Calls) != 2 || l.Calls[0].ID != "new" || l.Calls[1].ID != "old" {
		t.Errorf("list %+v", l)
	}
	wantJSON(t, get(t, a.base+"/api/v1/calls?active=true"), 200, &l)
	if len(l.Calls) != 1 || l.Calls[0].ID != "new" {
		t.Errorf("active list %+v", l)
	}
	wantJSON(t, get(t, a.base+"/api/v1/calls?limit=1"), 200, &l)
	if len(l.Calls) != 1 {
		t.Errorf("limit 1: %d calls", len(l.Calls))
	}
	wantAPIError(t, get(t, a.base+"/api/v1/calls?limit=0"), 400, "limit must be a number from 1 to 1000")
}

// sseEvent is one event of a stream (a retry: line is not one).
type sseEvent struct {
	id, event, data string
}

// openEvents starts an event stream; the caller reads it with readEvents.
func openEvents(t *testing.T, url, lastEventID string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// sseReader parses an event stream.
type sseReader struct {
	sc       *bufio.Scanner
	comments int
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{sc: bufio.NewScanner(r)} }

// next returns the next event, or false at the end of the stream.
func (r *sseReader) next() (sseEvent, bool) {
	var e sseEvent
	seen := false
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if seen {
				return e, true
			}
		case strings.HasPrefix(line, ":"):
			r.comments++
		case strings.HasPrefix(line, "id: "):
			e.id, seen = line[4:], true
		case strings.HasPrefix(line, "event: "):
			e.event, seen = line[7:], true
		case strings.HasPrefix(line, "data: "):
			e.data, seen = line[6:], true
		}
	}
	return e, false
}

func eventOf(t *testing.T, e sseEvent) eventView {
	t.Helper()
	var v eventView
	if err := json.Unmarshal([]byte(e.data), &v); err != nil {
		t.Fatalf("event data %q: %v", e.data, err)
	}
	return v
}

func TestEventsReplayThenFollowThenEndAfterTheFinal(t *testing.T) {
	a := serveAPI(t, nil)
	req := actors.CallRequest{Initiator: "sip:a@x", Destination: "sip:b@x", Origin: "api"}
	feed(a.j, "c", req, "100", "180 I")
	res := openEvents(t, a.base+"/api/v1/calls/c/events", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" ||
		res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	r := newSSEReader(res.Body)
	var got []string
	for i := 0; i < 2; i++ {
		e, ok := r.next()
		if !ok {
			t.Fatalf("stream ended after %v", got)
		}
		got = append(got, e.id+":"+e.event+":"+fmt.Sprint(eventOf(t, e).Code))
	}
	feed(a.j, "c", req, "200 I", "180 D", "200 D")
	for {
		e, ok := r.next()
		if !ok {
			break
		}
		v := eventOf(t, e)
		got = append(got, e.id+":"+e.event+":"+fmt.Sprint(v.Code))
		if v.CallID != "c" || v.Final != (v.Code == 200 && v.Leg == "Destination") {
			t.Errorf("event %+v", v)
		}
	}
	if want := "1:result:100 2:result:180 3:result:200 4:result:180 5:result:200"; strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}

	// Reconnecting after event 3 gets 4 and 5 only; after the final, 204.
	r = newSSEReader(openEvents(t, a.base+"/api/v1/calls/c/events", "3").Body)
	var ids []string
	for e, ok := r.next(); ok; e, ok = r.next() {
		ids = append(ids, e.id)
	}
	if fmt.Sprint(ids) != "[4 5]" {
		t.Errorf("after Last-Event-ID 3: %v, want [4 5]", ids)
	}
	if res := openEvents(t, a.base+"/api/v1/calls/c/events", "5"); res.StatusCode != 204 {
		t.Errorf("after the final: status %d, want 204", res.StatusCode)
	}
	wantAPIError(t, get(t, a.base+"/api/v1/calls/x/events"), 404, "No call x")
}

func TestIdleEventStreamsGetHeartbeats(t *testing.T) {
	a := serveAPI(t, func(o *Options) { o.API.EventsHeartbeat = 20 * time.Millisecond })
	feed(a.j, "c", actors.CallRequest{}, "100")
	r := newSSEReader(openEvents(t, a.base+"/api/v1/calls/c/events", "").Body)
	if _, ok := r.next(); !ok {
		t.Fatal("no first event")
	}
	time.Sleep(100 * time.Millisecond)
	feed(a.j, "c", actors.CallRequest{}, "487 I")
	e, ok := r.next()
	if !ok || eventOf(t, e).Code != 487 {
		t.Fatalf("second event %+v, %v", e, ok)
	}
	if r.comments < 2 {
		t.Errorf("%d heartbeats in 100 ms at one per 20 ms", r.comments)
	}
}

func TestEventStreamsEndOnShutdown(t *testing.T) {
	a := serveAPI(t, nil)
	feed(a.j, "c", actors.CallRequest{}, "100")
	r := newSSEReader(openEvents(t, a.base+"/api/v1/calls/c/events", "").Body)
	if _, ok := r.next(); !ok {
		t.Fatal("no first event")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with an open stream: %v", err)
	}
	if _, ok := r.next(); ok {
		t.Error("the stream went on after Shutdown")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

func TestDeleteCancelsAndAnswersWithThe487Final(t *testing.T) {
	var a *apiServer
	var mu sync.Mutex
	var cancelled []string
	a = serveAPI(t, func(o *Options) {
		o.Cancel = func(id string) bool {
			mu.Lock()
			defer mu.Unlock()
			cancelled = append(cancelled, id)
			switch id {
			case "ringing":
				// The engine's answer comes later, from the call's actor.
				go feed(a.j, id, actors.CallRequest{}, "487 I")
				return true
			case "connected":
				return true
			}
			return false
		}
	})
	feed(a.j, "ringing", actors.CallRequest{}, "100", "180 I")
	var v callView
	wantJSON(t, request(t, http.MethodDelete, a.base+"/api/v1/calls/ringing", "", ""), 200, &v)
	if v.State != cdr.StateCancelled || v.Final == nil || v.Final.Code != 487 || v.Active {
		t.Errorf("cancelled call %+v", v)
	}
	anchored := actors.CallRequest{Anchor: true}
	feed(a.j, "connected", anchored, "100", "200 I", "200 D")
	wantJSON(t, request(t, http.MethodDelete, a.base+"/api/v1/calls/connected", "", ""), 200, &v)
	if v.State != cdr.StateEnded || v.Final.Code != 200 || v.EndedAt == nil || v.Active {
		t.Errorf("hung-up call %+v", v)
	}
	feed(a.j, "over", actors.CallRequest{}, "100", "486 I")
	wantAPIError(t, request(t, http.MethodDelete, a.base+"/api/v1/calls/over", "", ""), 409, "Call over has already ended")
	wantAPIError(t, request(t, http.MethodDelete, a.base+"/api/v1/calls/unknown", "", ""), 404, "No call unknown")
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(cancelled) != "[ringing connected over unknown]" {
		t.Errorf("engine asked to cancel %v", cancelled)
	}
}

func TestDeleteWithoutACancellerIs501(t *testing.T) {
	a := serveAPI(t, nil)
	wantAPIError(t, request(t, http.MethodDelete, a.base+"/api/v1/calls/x", "", ""), 501, "Cancelling calls is not available")
}

func TestWithoutAJournalTheAPIIsOff(t *testing.T) {
	a := serveAPI(t, func(o *Options) { o.Records = nil })
	wantAPIError(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2"}`), 503, "The JSON API is not enabled")
	if n := len(a.eng.started()); n != 0 {
		t.Errorf("started %d calls", n)
	}
}

func TestHealthReadinessAndWhatNeedsAuthentication(t *testing.T) {
	for _, metricsAuth := range []bool{true, false} {
		t.Run(fmt.Sprint("metrics_auth=", metricsAuth), func(t *testing.T) {
			ready := true
			var mu sync.Mutex
			a := serveAPI(t, func(o *Options) {
				o.HTTP = digestConfig
				o.API.MetricsAuth = metricsAuth
				o.Ready = func() bool { mu.Lock(); defer mu.Unlock(); return ready }
			})
			if r := get(t, a.base+"/healthz"); r.status != 200 || r.body != "ok\n" {
				t.Errorf("/healthz: %d %q", r.status, r.body)
			}
			if r := get(t, a.base+"/readyz"); r.status != 200 || r.body != "ready\n" {
				t.Errorf("/readyz: %d %q", r.status, r.body)
			}
			mu.Lock()
			ready = false
			mu.Unlock()
			if r := get(t, a.base+"/readyz"); r.status != 503 {
				t.Errorf("/readyz while the engine refuses calls: %d", r.status)
			}
			res := postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2"}`)
			wantAPIError(t, res, 401, "Authentication required")
			if len(challengesOf(t, res)) != 2 {
				t.Errorf("API 401 without digest challenges: %v", res.header)
			}
			for _, p := range []string{"/api/v1/calls/x", "/api/v1/openapi.json", "/", "/app.js"} {
				if r := get(t, a.base+p); r.status != 401 {
					t.Errorf("%s without credentials: %d, want 401", p, r.status)
				}
			}
			want := 401
			if !metricsAuth {
				want = 200
			}
			if r := get(t, a.base+"/metrics"); r.status != want {
				t.Errorf("/metrics without credentials: %d, want %d", r.status, want)
			}
			c := digestClient("s3cret", "SHA-256")
			req, _ := http.NewRequest(http.MethodGet, a.base+"/metrics", nil)
			if r := do(t, c, req); r.status != 200 || !strings.Contains(r.body, "go_goroutines") {
				t.Errorf("/metrics with credentials: %d", r.status)
			}
			req, _ = http.NewRequest(http.MethodPost, a.base+"/api/v1/calls", strings.NewReader(`{"initiator":"1","destination":"2"}`))
			req.Header.Set("Content-Type", "application/json")
			if r := do(t, c, req); r.status != 201 {
				t.Errorf("POST with credentials: %d %s", r.status, r.body)
			}
		})
	}
}

func TestReadyzIs503OnceShutdownBegins(t *testing.T) {
	s := New(Options{HTTP: config.HTTP{}, Translate: translate, Calls: &fakeEngine{}})
	readyz := func() int {
		var req fasthttp.Request
		req.SetRequestURI("/readyz")
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
		s.handle(&ctx)
		return ctx.Response.StatusCode()
	}
	if code := readyz(); code != 200 {
		t.Errorf("/readyz before Shutdown: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := readyz(); code != 503 {
		t.Errorf("/readyz after Shutdown: %d, want 503", code)
	}
}

func TestMetricsWithoutAHandlerIs404(t *testing.T) {
	a := serveAPI(t, func(o *Options) { o.Metrics = nil })
	wantHTML(t, get(t, a.base+"/metrics"), 404, "No page at /metrics")
}

func TestIndexPageRunsItsScriptUnderAStrictPolicy(t *testing.T) {
	a := serveAPI(t, nil)
	page := get(t, a.base+"/")
	wantHTML(t, page, 200, `<script src="/app.js" defer></script>`, `id="results"`, `id="active-calls"`)
	csp := page.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	js := get(t, a.base+"/app.js")
	if js.status != 200 || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(js.body, "/api/v1/calls") || strings.Contains(js.body, "innerHTML") {
		t.Errorf("/app.js: %d %q", js.status, js.header.Get("Content-Type"))
	}
}

func scrapeMetrics(t *testing.T, base string) string {
	t.Helper()
	r := get(t, base+"/metrics")
	if r.status != 200 {
		t.Fatalf("/metrics: %d", r.status)
	}
	return r.body
}

func TestOpenAPIDocumentDescribesExactlyTheRoutes(t *testing.T) {
	a := serveAPI(t, nil)
	res := get(t, a.base+"/api/v1/openapi.json")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	wantJSON(t, res, 200, nil)
	if err := json.Unmarshal([]byte(res.body), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("document: %v, openapi %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range routes {
		served[r.method+" "+r.path] = true
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("documented but not served: %s", k)
		}
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
	// And the server really answers each documented route (not 404/405).
	feed(a.j, "known", actors.CallRequest{}, "100", "487 I")
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		url := a.base + strings.ReplaceAll(path, "{id}", "known")
		var r answer
		if method == http.MethodPost {
			r = request(t, method, url, "application/json", `{"initiator":"1","destination":"2"}`)
		} else {
			r = request(t, method, url, "", "")
		}
		if r.status == 404 && !strings.Contains(r.body, "No call") || r.status == 405 {
			t.Errorf("%s: %d %s", k, r.status, r.body)
		}
	}
	if _, _, allow := a.s.match("PUT", "/api/v1/calls/x"); allow != "GET, DELETE" {
		t.Errorf("Allow for /api/v1/calls/{id} = %q", allow)
	}
	if r, _, _ := a.s.match("GET", "/api/v1/calls//events"); r != nil {
		t.Error("an empty {id} matched")
	}
}

func TestCreateCallTakesTheOptionsAndChecksStatusCallbackEvents(t *testing.T) {
	a := serveAPI(t, func(o *Options) { o.API.StatusCallbackSecret = "k" })
	for _, tc := range []struct{ name, fields, text string }{
		{"events without a callback", `"status_callback_events":["final"]`, "status_callback_events needs a status_callback"},
		{"no events", `"status_callback":"https://example.com/cb","status_callback_events":[]`,
			"status_callback_events is empty: leave it out to get every result"},
		{"an unknown event", `"status_callback":"https://example.com/cb","status_callback_events":["final","hangup"]`,
			`status_callback_events: unknown event "hangup" (want answered, final, in_progress, ringing)`},
		{"a ring timeout that is no number", `"initiator_ring_timeout":"soon"`, `initiator_ring_timeout: "soon" is not a whole number of seconds`},
		{"headers that are no object", `"initiator_headers":["X-A: 1"]`, "Parse error: initiator_headers must be a map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2",`+tc.fields+`}`), 400, tc.text)
		})
	}
	if calls := a.eng.started(); len(calls) != 0 {
		t.Fatalf("refused requests started %+v", calls)
	}

	// A number or a string of digits; headers in the order of their names.
	var c createdCall
	wantJSON(t, postJSON(t, a.base+"/api/v1/calls", `{"initiator":"1","destination":"2","initiator_ring_timeout":20,
		"destination_ring_timeout":"30","time_limit":60,"initiator_headers":{"X-B":"2","X-A":"1"},"metadata":{ "a" : [1, 2] }}`), 201, &c)
	calls := a.eng.started()
	o := calls[0].Options
	if o.Initiator.RingTimeout != 20*time.Second || o.Destination.RingTimeout != 30*time.Second || o.TimeLimit != time.Minute ||
		len(o.Initiator.Headers) != 2 || o.Initiator.Headers[0].Name != "X-A" || string(o.Metadata) != `{"a":[1,2]}` {
		t.Errorf("options %+v", o)
	}
	var v callView
	wantJSON(t, request(t, http.MethodGet, a.base+"/api/v1/calls/"+c.ID, "", ""), 200, &v)
	if string(v.Metadata) != `{"a":[1,2]}` {
		t.Errorf("GET metadata %s", v.Metadata)
	}
	// The same request_id with other options is another request.
	body := `{"initiator":"1","destination":"2","request_id":"r","metadata":{"a":1}}`
	wantJSON(t, postJSON(t, a.base+"/api/v1/calls", body), 201, &c)
	wantAPIError(t, postJSON(t, a.base+"/api/v1/calls", strings.Replace(body, `"a":1`, `"a":2`, 1)),
		409, "request_id r was used for a different request")
}
