package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The JSON API of the binary (POST/GET/DELETE /api/v1/calls, the event
// stream, status callbacks, /metrics) with SIPp phones: each test checks
// what the API says against what went over the wire.

// apiCreated is the answer to POST /api/v1/calls.
type apiCreated struct {
	ID                    string `json:"id"`
	TranslatedInitiator   string `json:"translated_initiator"`
	TranslatedDestination string `json:"translated_destination"`
}

// apiResult is one result of a call as GET /api/v1/calls/{id} shows it.
type apiResult struct {
	Code int       `json:"code"`
	Leg  string    `json:"leg"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

func (r apiResult) short() string { return shortResult(r.Code, r.Leg, r.Text) }

// shortResult is a result as "code Leg text", as the XML tests write them.
func shortResult(code int, leg, text string) string {
	if leg == "" {
		return fmt.Sprintf("%d %s", code, text)
	}
	return fmt.Sprintf("%d %s %s", code, leg, text)
}

// apiView is GET /api/v1/calls/{id}.
type apiView struct {
	ID                    string          `json:"id"`
	RequestID             string          `json:"request_id"`
	State                 string          `json:"state"`
	Active                bool            `json:"active"`
	Mode                  string          `json:"mode"`
	Origin                string          `json:"origin"`
	TranslatedInitiator   string          `json:"translated_initiator"`
	TranslatedDestination string          `json:"translated_destination"`
	Anchor                bool            `json:"anchor"`
	CreatedAt             time.Time       `json:"created_at"`
	Final                 *apiResult      `json:"final"`
	Results               []apiResult     `json:"results"`
	Metadata              json.RawMessage `json:"metadata"`
}

func (v apiView) shorts() []string {
	out := make([]string, len(v.Results))
	for i, r := range v.Results {
		out[i] = r.short()
	}
	return out
}

// apiEvent is the data of one server-sent event, and the body of one status
// callback.
type apiEvent struct {
	CallID   string          `json:"call_id"`
	Sequence int             `json:"sequence"`
	Code     int             `json:"code"`
	Leg      string          `json:"leg"`
	Text     string          `json:"text"`
	At       time.Time       `json:"at"`
	Final    bool            `json:"final"`
	Metadata json.RawMessage `json:"metadata"`
}

func (e apiEvent) short() string { return shortResult(e.Code, e.Leg, e.Text) }

// The results of the calls these tests make, as the XML tests spell them.
var (
	referConnected = []string{
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination",
	}
	anchoredConnected = []string{
		"100 In progress",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination",
	}
	cancelledWhileRinging = []string{
		"100 In progress",
		"180 Initiator Ringing initiator",
		"487 Initiator Failed to connect to initiator",
	}
	initiatorBusy = []string{
		"100 In progress",
		"486 Initiator Failed to connect to initiator",
	}
)

// apiDo sends a request with an optional JSON body and returns the status,
// body and headers.
func apiDo(t *testing.T, method, rawURL, body string) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := httpClient.Do(req) // 5 s timeout
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return res.StatusCode, b, res.Header
}

// decode unmarshals an answer, failing the test if it is not JSON of v's shape.
func decode(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v in %q", what, err, b)
	}
}

// postCall POSTs body to /api/v1/calls and expects 201 with the call's
// Location.
func postCall(t *testing.T, s *e2eServer, body string) apiCreated {
	t.Helper()
	status, b, h := apiDo(t, http.MethodPost, s.url("/api/v1/calls", nil), body)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/calls %s: %d %s, want 201", body, status, b)
	}
	var c apiCreated
	decode(t, "POST /api/v1/calls", b, &c)
	if c.ID == "" || h.Get("Location") != "/api/v1/calls/"+c.ID {
		t.Fatalf("POST /api/v1/calls: id %q, Location %q", c.ID, h.Get("Location"))
	}
	return c
}

func viewCall(t *testing.T, s *e2eServer, id string) apiView {
	t.Helper()
	status, b, _ := apiDo(t, http.MethodGet, s.url("/api/v1/calls/"+id, nil), "")
	if status != http.StatusOK {
		t.Fatalf("GET call %s: %d %s", id, status, b)
	}
	var v apiView
	decode(t, "GET call", b, &v)
	return v
}

// waitView polls GET /api/v1/calls/{id} until cond holds, for at most 10 s.
func waitView(t *testing.T, s *e2eServer, id, what string, cond func(apiView) bool) apiView {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := viewCall(t, s, id)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s: not %s within 10s; last view %+v", id, what, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ended(v apiView) bool { return v.Final != nil && !v.Active }

// eventStream is an open GET /api/v1/calls/{id}/events.
type eventStream struct {
	res *http.Response
	r   *bufio.Reader
}

// sseClient bounds a whole event stream, body included.
var sseClient = &http.Client{Timeout: 15 * time.Second}

// openEvents opens a call's event stream, with Last-Event-ID when
// lastEventID is not "", and returns the response; the body is closed at
// cleanup.
func openEvents(t *testing.T, s *e2eServer, id, lastEventID string) *eventStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url("/api/v1/calls/"+id+"/events", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := sseClient.Do(req)
	if err != nil {
		t.Fatalf("GET events of %s: %v", id, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return &eventStream{res: res, r: bufio.NewReader(res.Body)}
}

// next reads the next event and checks its id. ok is false at the end of the
// stream; anything but a well-formed "result" event fails the test.
func (es *eventStream) next(t *testing.T) (e apiEvent, ok bool) {
	t.Helper()
	var id, event, data string
	for {
		line, err := es.r.ReadString('\n')
		if err == io.EOF && line == "" && id == "" && data == "" {
			return apiEvent{}, false
		}
		if err != nil {
			t.Fatalf("event stream: %v after %q", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data == "" {
				continue // the end of a retry: or comment block
			}
			if event != "result" {
				t.Errorf("event %q, want result", event)
			}
			decode(t, "event data", []byte(data), &e)
			if id != strconv.Itoa(e.Sequence) {
				t.Errorf("event id %q for sequence %d", id, e.Sequence)
			}
			return e, true
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("event stream line %q", line)
		}
	}
}

// all reads the events up to the end of the stream.
func (es *eventStream) all(t *testing.T) []apiEvent {
	t.Helper()
	var out []apiEvent
	for e, ok := es.next(t); ok; e, ok = es.next(t) {
		out = append(out, e)
	}
	return out
}

// expectEvents checks a call's events against want (short results), and
// that they are numbered from first and belong to the call, and that only
// the last is final if complete, none if not.
func expectEvents(t *testing.T, id string, first int, got []apiEvent, want []string, complete bool) {
	t.Helper()
	var shorts []string
	for i, e := range got {
		shorts = append(shorts, e.short())
		if e.CallID != id || e.Sequence != first+i || e.At.IsZero() || e.Final != (complete && i == len(got)-1) {
			t.Errorf("event %d of %s: %+v", i+1, id, e)
		}
	}
	if strings.Join(shorts, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(shorts, "\n  "), strings.Join(want, "\n  "))
	}
}

// expectSameResults checks that the events and the call view's results are
// the same results at the same times, and that those times run forward
// within [after, before].
func expectSameResults(t *testing.T, events []apiEvent, v apiView, after, before time.Time) {
	t.Helper()
	if len(events) != len(v.Results) {
		t.Errorf("%d events, %d results in the view", len(events), len(v.Results))
		return
	}
	prev := after
	for i, r := range v.Results {
		e := events[i]
		if e.short() != r.short() || !e.At.Equal(r.At) {
			t.Errorf("result %d: event %s at %v, view %s at %v", i+1, e.short(), e.At, r.short(), r.At)
		}
		if r.At.Before(prev) || r.At.After(before) {
			t.Errorf("result %d %s at %v: not between %v and %v", i+1, r.short(), r.At, prev, before)
		}
		prev = r.At
	}
	if v.Final == nil || *v.Final != v.Results[len(v.Results)-1] {
		t.Errorf("final %+v is not the last result", v.Final)
	}
	// Not checked: created_at <= the 100's time. created_at is when the
	// journal first heard of the call, which may be a little after the
	// engine stamped the 100.
	if v.CreatedAt.Before(after) || v.CreatedAt.After(before) {
		t.Errorf("created_at %v not between %v and %v", v.CreatedAt, after, before)
	}
}

// transactions counts the distinct requests a phone received (or sent) by
// method, retransmissions counted once (same Call-ID, CSeq and Via branch).
func transactions(msgs []sipMessage, sent bool, method string) int {
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.sent == sent && m.isRequest(method) {
			seen[m.header("Call-ID")+"|"+m.header("CSeq")+"|"+branchOf(m.header("Via"))] = true
		}
	}
	return len(seen)
}

func branchOf(via string) string {
	for _, p := range strings.Split(via, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "branch="); ok {
			return v
		}
	}
	return ""
}

func TestAPIReferCallCompletesAndItsEventStreamShowsEveryResult(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_accepts_refer", "alice", 1)
	s := startServer(t, serverOptions{})
	start := time.Now()
	c := postCall(t, s, fmt.Sprintf(`{"initiator":%q,"destination":"9055551234","request_id":"e2e-refer"}`, ini.address()))
	if c.TranslatedInitiator != ini.uri() || c.TranslatedDestination != gatewayURI {
		t.Errorf("created %+v, want %s to %s", c, ini.uri(), gatewayURI)
	}
	es := openEvents(t, s, c.ID, "")
	if es.res.StatusCode != http.StatusOK || !strings.HasPrefix(es.res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %q, want 200 text/event-stream", es.res.StatusCode, es.res.Header.Get("Content-Type"))
	}
	events := es.all(t)
	expectEvents(t, c.ID, 1, events, referConnected, true)
	ini.expectSuccess(t, 1)

	// A transferred call is no longer active once connected; it is "ended"
	// once the server has hung up its side, a moment later.
	v := waitView(t, s, c.ID, "ended", func(v apiView) bool { return ended(v) && v.State == "ended" })
	expectSameResults(t, events, v, start, time.Now())
	if v.State != "ended" || v.Mode != "refer" || v.Origin != "api" || v.RequestID != "e2e-refer" || v.Anchor ||
		v.TranslatedInitiator != ini.uri() || v.TranslatedDestination != gatewayURI {
		t.Errorf("call view %+v", v)
	}

	// On the wire: one INVITE, answered, then the REFER to the destination
	// whose three NOTIFYs made the 180 and 200 Destination, and the BYE.
	msgs := ini.messages(t)
	if n := transactions(msgs, false, "INVITE"); n != 1 {
		t.Errorf("initiator got %d INVITEs, want 1", n)
	}
	refer := find(t, msgs, "REFER", received("REFER"))
	if got := refer.header("Refer-To"); got != "<"+gatewayURI+">" {
		t.Errorf("Refer-To %q, want <%s>", got, gatewayURI)
	}
	expectOrder(t, msgs, "received INVITE", "received REFER", "sent NOTIFY", "sent NOTIFY", "sent NOTIFY", "received BYE")

	// A client that reconnects gets only what it has not seen, and 204
	// once it has seen the final.
	expectEvents(t, c.ID, 4, openEvents(t, s, c.ID, "3").all(t), referConnected[3:], true)
	if es := openEvents(t, s, c.ID, "5"); es.res.StatusCode != http.StatusNoContent {
		t.Errorf("events after the final: %d, want 204", es.res.StatusCode)
	}
}

func TestAPIDeleteWhileTheInitiatorRingsEndsIn487OnTheWireAndInTheAPI(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "rings_until_cancel", "alice", 1)
	s := startServer(t, serverOptions{})
	c := postCall(t, s, fmt.Sprintf(`{"initiator":%q,"destination":"9055551234"}`, ini.address()))
	es := openEvents(t, s, c.ID, "")
	var events []apiEvent
	for len(events) < 2 {
		e, ok := es.next(t)
		if !ok {
			t.Fatalf("event stream ended after %+v", events)
		}
		events = append(events, e)
	}
	expectEvents(t, c.ID, 1, events, cancelledWhileRinging[:2], false)

	// The initiator is ringing: DELETE cancels it.
	status, b, _ := apiDo(t, http.MethodDelete, s.url("/api/v1/calls/"+c.ID, nil), "")
	var v apiView
	decode(t, "DELETE", b, &v)
	if status != http.StatusOK || v.Final == nil || v.Final.short() != cancelledWhileRinging[2] || v.State != "cancelled" {
		t.Errorf("DELETE: %d %s; want 200 with the final %q, state cancelled", status, b, cancelledWhileRinging[2])
	}
	events = append(events, es.all(t)...)
	expectEvents(t, c.ID, 1, events, cancelledWhileRinging, true)
	ini.expectSuccess(t, 1)

	// On the wire: a CANCEL of the INVITE (same Call-ID, CSeq number and
	// branch), the phone's 487, its ACK; no REFER, no BYE.
	msgs := ini.messages(t)
	expectOrder(t, msgs, "received INVITE", "received CANCEL", "received ACK")
	invite := find(t, msgs, "INVITE", received("INVITE"))
	cancel := find(t, msgs, "CANCEL", received("CANCEL"))
	num, _, _ := strings.Cut(invite.header("CSeq"), " ")
	if cancel.header("Call-ID") != invite.header("Call-ID") || cancel.header("CSeq") != num+" CANCEL" ||
		branchOf(cancel.header("Via")) != branchOf(invite.header("Via")) {
		t.Errorf("CANCEL (Call-ID %q, CSeq %q, Via %q) does not match the INVITE (%q, %q, %q)",
			cancel.header("Call-ID"), cancel.header("CSeq"), cancel.header("Via"),
			invite.header("Call-ID"), invite.header("CSeq"), invite.header("Via"))
	}
	find(t, msgs, "487 sent", func(m sipMessage) bool { return m.sent && m.isResponse(487, "INVITE") })
	if hasMessage(msgs, received("REFER")) || hasMessage(msgs, received("BYE")) {
		t.Errorf("a cancelled call got a REFER or BYE: %v", msgs)
	}

	got := waitView(t, s, c.ID, "ended", ended)
	if strings.Join(got.shorts(), "\n") != strings.Join(cancelledWhileRinging, "\n") || got.State != "cancelled" {
		t.Errorf("call view %+v", got)
	}
	status, b, _ = apiDo(t, http.MethodDelete, s.url("/api/v1/calls/"+c.ID, nil), "")
	if want := `{"code":409,"text":"Call ` + c.ID + ` has already ended"}`; status != http.StatusConflict || strings.TrimSpace(string(b)) != want {
		t.Errorf("second DELETE: %d %s, want 409 %s", status, b, want)
	}
}

func TestAPIRepeatedRequestIDReturnsTheFirstCallAndPlacesNoOther(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "rings_until_cancel", "alice", 1)
	s := startServer(t, serverOptions{})
	body := fmt.Sprintf(`{"initiator":%q,"destination":"9055551234","request_id":"order-4711"}`, ini.address())

	// The same request five times at once: one call, five answers naming it.
	const n = 5
	type answer struct {
		status   int
		body     string
		replayed string
		err      error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { // no t.Fatal off the test's goroutine: errors are kept
			res, err := httpClient.Post(s.url("/api/v1/calls", nil), "application/json", strings.NewReader(body))
			if err != nil {
				answers[i].err = err
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			answers[i] = answer{res.StatusCode, string(b), res.Header.Get("Idempotent-Replayed"), err}
		})
	}
	wg.Wait()
	replays := 0
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusCreated || a.body != answers[0].body {
			t.Errorf("POST %d: %d %s, %v; want 201 %s", i+1, a.status, a.body, a.err, answers[0].body)
		}
		if a.replayed == "true" {
			replays++
		}
	}
	if replays != n-1 {
		t.Errorf("%d answers Idempotent-Replayed, want %d", replays, n-1)
	}
	var c apiCreated
	decode(t, "POST", []byte(answers[0].body), &c)
	waitView(t, s, c.ID, "ringing", func(v apiView) bool { return v.State == "ringing_initiator" })

	// Again while it rings: the same call; with other fields: 409.
	if again := postCall(t, s, body); again != c {
		t.Errorf("repeat answered %+v, want %+v", again, c)
	}
	status, b, _ := apiDo(t, http.MethodPost, s.url("/api/v1/calls", nil),
		strings.Replace(body, "9055551234", "9055550000", 1))
	if want := `{"code":409,"text":"request_id order-4711 was used for a different request"}`; status != http.StatusConflict || strings.TrimSpace(string(b)) != want {
		t.Errorf("other request with the same request_id: %d %s, want 409 %s", status, b, want)
	}
	status, b, _ = apiDo(t, http.MethodGet, s.url("/api/v1/calls", nil), "")
	var list struct{ Calls []apiView }
	decode(t, "GET /api/v1/calls", b, &list)
	if status != http.StatusOK || len(list.Calls) != 1 || list.Calls[0].ID != c.ID || list.Calls[0].RequestID != "order-4711" {
		// A second call would ring SIPp until its timeout: stop here.
		t.Fatalf("calls: %d %s; want only %s", status, b, c.ID)
	}

	if status, b, _ := apiDo(t, http.MethodDelete, s.url("/api/v1/calls/"+c.ID, nil), ""); status != http.StatusOK {
		t.Errorf("DELETE: %d %s", status, b)
	}
	ini.expectSuccess(t, 1)
	msgs := ini.messages(t)
	if n := transactions(msgs, false, "INVITE"); n != 1 {
		t.Errorf("SIPp got %d INVITEs, want 1", n)
	}
	// Still the first call once it has ended.
	if again := postCall(t, s, body); again != c {
		t.Errorf("repeat after the end answered %+v, want %+v", again, c)
	}
}

const apiCallbackSecret = "e2e callback secret"

// delivery is one status callback as the receiver got it.
type delivery struct {
	method, path, contentType, callID, timestamp, signature string
	body                                                    []byte
	at                                                      time.Time
}

// sign is the documented signature: "sha256=" and the hex HMAC-SHA256 of
// the timestamp, ".", and the body.
func sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestAPIStatusCallbackGetsEveryResultSigned(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_answers_reinvite", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := startServer(t, serverOptions{extra: fmt.Sprintf("api {\n  status_callback_secret = %q\n}", apiCallbackSecret)})

	// The receiver refuses the first attempt with 503: the 100 comes again
	// (after the 1 s backoff), and the results after it wait their turn.
	var (
		mu         sync.Mutex
		deliveries []delivery
		final      = make(chan struct{})
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		deliveries = append(deliveries, delivery{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"),
			r.Header.Get("X-Clicktocall-Call-Id"), r.Header.Get("X-Clicktocall-Timestamp"),
			r.Header.Get("X-Clicktocall-Signature"), body, time.Now()})
		if len(deliveries) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var e apiEvent
		if json.Unmarshal(body, &e) == nil && e.Final {
			close(final)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	start := time.Now()
	c := postCall(t, s, fmt.Sprintf(`{"initiator":%q,"destination":%q,"anchor":true,"status_callback":%q}`,
		ini.address(), dst.address(), rcv.URL+"/hooks/ctc?tenant=7"))
	select {
	case <-final:
	case <-time.After(15 * time.Second):
		t.Fatal("no final result delivered within 15s")
	}
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectBridged(t, ini, dst)
	v := waitView(t, s, c.ID, "ended", ended)
	if v.Mode != "anchored" || strings.Join(v.shorts(), "\n") != strings.Join(anchoredConnected, "\n") {
		t.Errorf("call view %+v", v)
	}

	mu.Lock()
	got := append([]delivery(nil), deliveries...)
	mu.Unlock()
	var events []apiEvent
	for i, d := range got {
		if d.method != http.MethodPost || d.path != "/hooks/ctc?tenant=7" || d.contentType != "application/json" || d.callID != c.ID {
			t.Errorf("delivery %d: %s %s, Content-Type %q, call id %q", i+1, d.method, d.path, d.contentType, d.callID)
		}
		if want := sign(apiCallbackSecret, d.timestamp, d.body); d.signature != want {
			t.Errorf("delivery %d: signature %q, want %q", i+1, d.signature, want)
		}
		if ts, err := strconv.ParseInt(d.timestamp, 10, 64); err != nil || ts < start.Unix()-1 || ts > d.at.Unix()+1 {
			t.Errorf("delivery %d: timestamp %q, not the time of sending", i+1, d.timestamp)
		}
		var e apiEvent
		decode(t, "delivery", d.body, &e)
		if i == 0 {
			if len(got) < 2 || string(got[1].body) != string(d.body) {
				t.Fatalf("the refused first delivery was not repeated: %d deliveries", len(got))
			}
			if wait := got[1].at.Sub(d.at); wait < 900*time.Millisecond {
				t.Errorf("retry after %v, want the 1 s backoff", wait)
			}
			continue
		}
		events = append(events, e)
	}
	expectEvents(t, c.ID, 1, events, anchoredConnected, true)
	expectSameResults(t, events, v, start, time.Now())

	m := scrape(t, s)
	expectFamily(t, m, "clicktocall_status_callbacks_total", map[string]float64{
		`outcome="delivered"`: float64(len(anchoredConnected)),
		`outcome="retried"`:   1,
	})
}

// scraped is a /metrics scrape: "name{labels}" (labels as exposed) to value.
type scraped map[string]float64

func scrape(t *testing.T, s *e2eServer) scraped {
	t.Helper()
	status, b, _ := apiDo(t, http.MethodGet, s.url("/metrics", nil), "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, b)
	}
	m := scraped{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

// family is the series of one metric: labels ("" for none) to value.
func (m scraped) family(name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if k == name {
			out[""] = v
		} else if labels, ok := strings.CutPrefix(k, name+"{"); ok {
			out[strings.TrimSuffix(labels, "}")] = v
		}
	}
	return out
}

// expectFamily checks that the series of a metric are exactly want, zero
// series aside.
func expectFamily(t *testing.T, m scraped, name string, want map[string]float64) {
	t.Helper()
	got := m.family(name)
	for k, v := range got {
		if v == 0 {
			delete(got, k)
		}
	}
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Errorf("%s:\n  %s\nwant:\n  %s", name, strings.Join(sorted(got), "\n  "), strings.Join(sorted(want), "\n  "))
	}
}

func sorted(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("{%s} %g", k, v))
	}
	sort.Strings(out)
	return out
}

func TestAPIMetricsCountTheCallsMade(t *testing.T) {
	t.Parallel()
	connected := startPhone(t, "initiator_accepts_refer", "alice", 1)
	busy := startPhone(t, "busy", "bob", 1)
	ringing := startPhone(t, "rings_until_cancel", "carol", 1)
	phones := []*phone{connected, busy, ringing}
	s := startServer(t, serverOptions{})

	calls := map[*phone]apiCreated{}
	for _, p := range phones {
		calls[p] = postCall(t, s, fmt.Sprintf(`{"initiator":%q,"destination":"9055551234"}`, p.address()))
	}
	if status, b, _ := apiDo(t, http.MethodPost, s.url("/api/v1/calls", nil), `{"initiator":"nobody","destination":"1"}`); status != http.StatusBadRequest {
		t.Errorf("untranslatable call: %d %s, want 400", status, b)
	}
	waitView(t, s, calls[ringing].ID, "ringing", func(v apiView) bool { return v.State == "ringing_initiator" })
	if status, b, _ := apiDo(t, http.MethodDelete, s.url("/api/v1/calls/"+calls[ringing].ID, nil), ""); status != http.StatusOK {
		t.Errorf("DELETE: %d %s", status, b)
	}
	want := map[*phone][]string{connected: referConnected, busy: initiatorBusy, ringing: cancelledWhileRinging}
	results := map[string]float64{}
	for _, p := range phones {
		p.expectSuccess(t, 1)
		v := waitView(t, s, calls[p].ID, "ended", ended)
		if strings.Join(v.shorts(), "\n") != strings.Join(want[p], "\n") {
			t.Errorf("%s: results\n  %s\nwant\n  %s", p.name, strings.Join(v.shorts(), "\n  "), strings.Join(want[p], "\n  "))
		}
		for _, r := range v.Results {
			results[fmt.Sprintf(`code="%d",leg="%s"`, r.Code, r.Leg)]++
		}
	}

	m := scrape(t, s)
	expectFamily(t, m, "clicktocall_requests_total", map[string]float64{
		`interface="api",outcome="accepted"`:    3,
		`interface="api",outcome="bad_request"`: 1,
	})
	expectFamily(t, m, "clicktocall_rejections_total", map[string]float64{`interface="api",reason="no_translation_rule"`: 1})
	expectFamily(t, m, "clicktocall_results_total", results)
	if results[`code="100",leg=""`] != 3 {
		t.Errorf("results %v: not 3 calls", results)
	}
	expectFamily(t, m, "clicktocall_refer_outcomes_total", map[string]float64{`outcome="transferred"`: 1})
	expectFamily(t, m, "clicktocall_request_to_final_seconds_count", map[string]float64{
		`outcome="connected"`: 1, `outcome="failed"`: 1, `outcome="cancelled"`: 1,
	})
	expectFamily(t, m, "clicktocall_request_to_invite_seconds_count", map[string]float64{"": 3})
	expectFamily(t, m, "clicktocall_request_to_initiator_answer_seconds_count", map[string]float64{"": 1})
	expectFamily(t, m, "clicktocall_calls_active", map[string]float64{})

	// SIP messages, against what the phones logged: every message they sent
	// came in (retransmissions included), and every request or response the
	// server sent, retransmissions aside, reached them, the ACKs that
	// sipgo's transaction layer sends to non-2xx finals included.
	sip := map[string]float64{}
	for _, p := range phones {
		msgs := p.messages(t)
		seen := map[string]bool{}
		for _, msg := range msgs {
			kind, _, _ := strings.Cut(msg.start, " ")
			if code, ok := strings.CutPrefix(msg.start, "SIP/2.0 "); ok {
				kind = code[:1] + "xx"
			}
			if msg.sent {
				sip[`direction="in",kind="`+kind+`"`]++
				continue
			}
			key := msg.start + "|" + msg.header("Call-ID") + "|" + msg.header("CSeq") + "|" + branchOf(msg.header("Via"))
			if !seen[key] {
				seen[key] = true
				sip[`direction="out",kind="`+kind+`"`]++
			}
		}
	}
	expectFamily(t, m, "clicktocall_sip_messages_total", sip)
}
