package httpfront

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/cluster"
	"github.com/clicktocall/clicktocall/frontends/http/webhook"
	"github.com/clicktocall/clicktocall/intake"
	"github.com/clicktocall/clicktocall/intake/calloptions"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// The Origin of calls from each interface of this server.
const (
	originHTTP = "http"
	originAPI  = "api"
)

// Limits on the JSON API's own fields.
const (
	maxRequestIDLen   = 200
	maxCallbackURLLen = 2048
	defaultListLimit  = 100
	maxListLimit      = 1000
	// cancelWait is how long DELETE waits for the cancelled call's final
	// result before answering 202 without it.
	cancelWait = 5 * time.Second
)

// apiError is the body of every JSON API error: the code and text of the
// XML interface's result for the same problem.
type apiError struct {
	Code int    `json:"code"`
	Text string `json:"text"`
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	writeJSONBody(ctx, status, marshalJSON(v))
}

// marshalJSON is v as a JSON body, ending in a newline.
func marshalJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only this package's own structs of strings, numbers and times.
		panic("httpfront: marshal " + fmt.Sprintf("%T", v) + ": " + err.Error())
	}
	return append(b, '\n')
}

func writeJSONBody(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(body)
}

func writeJSONError(ctx *fasthttp.RequestCtx, status int, text string) {
	writeJSON(ctx, status, apiError{Code: status, Text: text})
}

func (s *Server) reject(iface string, e actors.Ending) {
	if s.rejections != nil {
		s.rejections.Rejected(iface, e)
	}
}

func (s *Server) track(id string, req actors.CallRequest, requestID string) {
	if s.records != nil {
		s.records.Track(id, req, requestID)
	}
}

// apiDisabled answers 503 when the server has no call journal.
func (s *Server) apiDisabled(ctx *fasthttp.RequestCtx) bool {
	if s.records != nil {
		return false
	}
	writeJSONError(ctx, fasthttp.StatusServiceUnavailable, "The JSON API is not enabled")
	return true
}

// callRequestBody is the body of POST /api/v1/calls.
type callRequestBody struct {
	Initiator      string `json:"initiator"`
	Destination    string `json:"destination"`
	Anchor         bool   `json:"anchor"`
	RequestID      string `json:"request_id"`
	StatusCallback string `json:"status_callback"`
	// StatusCallbackEvents picks the results POSTed to StatusCallback
	// (statusEvents); none: every result.
	StatusCallbackEvents []string `json:"status_callback_events"`

	// The per-call options (package calloptions).
	InitiatorCallerID      string            `json:"initiator_caller_id"`
	DestinationCallerID    string            `json:"destination_caller_id"`
	InitiatorRingTimeout   secondsText       `json:"initiator_ring_timeout"`
	DestinationRingTimeout secondsText       `json:"destination_ring_timeout"`
	TimeLimit              secondsText       `json:"time_limit"`
	InitiatorHeaders       map[string]string `json:"initiator_headers"`
	DestinationHeaders     map[string]string `json:"destination_headers"`
	Metadata               json.RawMessage   `json:"metadata"`
}

// secondsText is a number of seconds as the client wrote it, a JSON number
// or string, for calloptions to read: the same text gets the same answer
// here as in a form or an XML element.
type secondsText string

func (s *secondsText) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = secondsText(v)
	default:
		*s = secondsText(b)
	}
	return nil
}

// rawOptions hands the body's options to the intake; headers go in the
// order of their names, a JSON object having none.
func (b callRequestBody) rawOptions() calloptions.Raw {
	headers := func(m map[string]string) []actors.Header {
		var out []actors.Header
		for _, name := range slices.Sorted(maps.Keys(m)) {
			out = append(out, actors.Header{Name: name, Value: m[name]})
		}
		return out
	}
	metadata := string(b.Metadata)
	if metadata == "null" {
		metadata = ""
	}
	return calloptions.Raw{
		InitiatorCallerID:      b.InitiatorCallerID,
		DestinationCallerID:    b.DestinationCallerID,
		InitiatorRingTimeout:   string(b.InitiatorRingTimeout),
		DestinationRingTimeout: string(b.DestinationRingTimeout),
		TimeLimit:              string(b.TimeLimit),
		InitiatorHeaders:       headers(b.InitiatorHeaders),
		DestinationHeaders:     headers(b.DestinationHeaders),
		Metadata:               metadata,
	}
}

// The results status_callback_events can pick.
var statusEvents = map[string]func(cdr.Result) bool{
	"in_progress": cdr.Result.InProgress,
	"ringing":     cdr.Result.Ringing,
	"answered":    cdr.Result.Answered,
	"final":       cdr.Result.Final,
}

var statusEventNames = slices.Sorted(maps.Keys(statusEvents))

// checkStatusEvents refuses an unknown event, an empty list, or events
// without a status_callback to send them to.
func checkStatusEvents(b callRequestBody) *intake.Problem {
	if b.StatusCallbackEvents == nil {
		return nil
	}
	bad := func(format string, args ...any) *intake.Problem {
		return &intake.Problem{Ending: actors.EndBadCallback, Text: fmt.Sprintf(format, args...)}
	}
	switch {
	case b.StatusCallback == "":
		return bad("status_callback_events needs a status_callback")
	case len(b.StatusCallbackEvents) == 0:
		return bad("status_callback_events is empty: leave it out to get every result")
	}
	for _, e := range b.StatusCallbackEvents {
		if statusEvents[e] == nil {
			if len(e) > 40 {
				e = e[:40] + "..."
			}
			return bad("status_callback_events: unknown event %q (want %s)", e, strings.Join(statusEventNames, ", "))
		}
	}
	return nil
}

// wanted is the filter of status_callback_events: whether a result is sent.
func wanted(events []string) func(cdr.Result) bool {
	if len(events) == 0 {
		return func(cdr.Result) bool { return true }
	}
	return func(r cdr.Result) bool {
		for _, e := range events {
			if statusEvents[e](r) {
				return true
			}
		}
		return false
	}
}

// createdCall is the answer to POST /api/v1/calls.
type createdCall struct {
	ID                    string `json:"id"`
	TranslatedInitiator   string `json:"translated_initiator"`
	TranslatedDestination string `json:"translated_destination"`
}

// createCall is POST /api/v1/calls.
func (s *Server) createCall(ctx *fasthttp.RequestCtx, _ params) outcome {
	if s.apiDisabled(ctx) {
		return outcome{problem: "api disabled"}
	}
	body, problem := readCallRequest(ctx)
	var req actors.CallRequest
	if problem == nil {
		req, problem = s.intake.Check(intake.Raw{Initiator: body.Initiator, Destination: body.Destination,
			Anchor: body.Anchor, Origin: originAPI, ClientIP: clientIP(ctx), Options: body.rawOptions()})
	}
	if problem == nil {
		problem = checkRequestID(body.RequestID)
	}
	if problem == nil {
		problem = s.checkCallback(body.StatusCallback)
	}
	if problem == nil {
		problem = checkStatusEvents(body)
	}
	if problem != nil {
		return s.refuseAPI(ctx, problem)
	}
	if body.RequestID == "" {
		out, _ := s.placeCall(ctx, req, body)
		return out
	}
	if s.peers != nil {
		if out, done := s.createCallInCluster(ctx, req, body); done {
			return out
		}
		// The cluster cannot be asked: the request_id holds on this node.
	}
	// The lock spans the look-up and the start so two requests with one
	// request_id cannot both place a call. StartCall does not block.
	s.requestIDs.mu.Lock()
	defer s.requestIDs.mu.Unlock()
	if prev, ok := s.requestIDs.lookup(body.RequestID, time.Now()); ok {
		if prev.fingerprint != fingerprint(body) {
			return s.refuseAPI(ctx, &intake.Problem{Ending: actors.EndRequestIDConflict,
				Text: "request_id " + body.RequestID + " was used for a different request"})
		}
		return replay(ctx, prev.created)
	}
	out, created := s.placeCall(ctx, req, body)
	if created != nil {
		s.requestIDs.remember(body.RequestID, fingerprint(body), *created, time.Now())
	}
	return out
}

// retryAfter tells the client when to ask again.
func retryAfter(ctx *fasthttp.RequestCtx, d time.Duration) {
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(d)))
}

// replay answers a repeated request_id with the call placed the first time.
func replay(ctx *fasthttp.RequestCtx, created createdCall) outcome {
	ctx.Response.Header.Set("Idempotent-Replayed", "true")
	ctx.Response.Header.Set(fasthttp.HeaderLocation, callLocation(created.ID))
	writeJSON(ctx, fasthttp.StatusCreated, created)
	return outcome{callID: created.ID}
}

// claimWait is how long a POST waits for another node that is placing the
// call of the same request_id right now.
const claimWait = 2 * time.Second

// createCallInCluster places a call with a request_id claimed across the
// cluster: the first POST on any node places it, a repeat on any node gets
// it back. done is false when the cluster cannot be asked.
func (s *Server) createCallInCluster(ctx *fasthttp.RequestCtx, req actors.CallRequest, body callRequestBody) (out outcome, done bool) {
	fp := fingerprint(body)
	deadline := time.Now().Add(claimWait)
	status, first, err := s.peers.Claim(body.RequestID, fp)
	for err == nil && status == cluster.ClaimPending && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		status, first, err = s.peers.Claim(body.RequestID, fp)
	}
	switch {
	case errors.Is(err, cluster.ErrUnavailable):
		return outcome{}, false
	case err != nil:
		s.log.Warn("request_id not checked across the cluster", "request_id", body.RequestID, "err", err)
		writeJSONError(ctx, fasthttp.StatusServiceUnavailable, "Cluster: request_id "+body.RequestID+" could not be checked")
		retryAfter(ctx, time.Second)
		return outcome{problem: err.Error()}, true
	case status == cluster.ClaimConflict:
		return s.refuseAPI(ctx, &intake.Problem{Ending: actors.EndRequestIDConflict,
			Text: "request_id " + body.RequestID + " was used for a different request"}), true
	case status == cluster.ClaimPending:
		writeJSONError(ctx, fasthttp.StatusServiceUnavailable, "request_id "+body.RequestID+" is being placed on another node")
		retryAfter(ctx, time.Second)
		return outcome{problem: "request_id pending"}, true
	case status == cluster.ClaimReplay:
		var created createdCall
		if json.Unmarshal(first, &created) != nil || created.ID == "" {
			writeJSONError(ctx, fasthttp.StatusInternalServerError, "request_id "+body.RequestID+": the first call's answer is unreadable")
			return outcome{problem: "bad replay"}, true
		}
		return replay(ctx, created), true
	}
	out, created := s.placeCall(ctx, req, body)
	if created == nil {
		s.peers.Release(body.RequestID)
		return out, true
	}
	s.peers.Complete(body.RequestID, marshalJSON(created))
	s.requestIDs.mu.Lock()
	s.requestIDs.remember(body.RequestID, fp, *created, time.Now())
	s.requestIDs.mu.Unlock()
	return out, true
}

// fingerprint is what a repeated request_id must repeat: the whole body
// but the request_id (map keys marshal sorted, so equal bodies match).
func fingerprint(b callRequestBody) string {
	b.RequestID = ""
	if b.Metadata != nil {
		var compact bytes.Buffer
		if json.Compact(&compact, b.Metadata) == nil {
			b.Metadata = compact.Bytes()
		}
	}
	out, err := json.Marshal(b)
	if err != nil {
		// Decoded from JSON a moment ago.
		panic("httpfront: marshal request: " + err.Error())
	}
	return string(out)
}

func callLocation(id string) string { return callsPath + "/" + id }

// refuseAPI counts and answers a request refused before its call started.
func (s *Server) refuseAPI(ctx *fasthttp.RequestCtx, p *intake.Problem) outcome {
	s.reject(originAPI, p.Ending)
	writeJSONError(ctx, p.Ending.HTTPStatus(), p.Text)
	setRetryAfter(ctx, p)
	return outcome{problem: p.Text}
}

// readCallRequest decodes the body of POST /api/v1/calls; the intake checks
// what it says.
func readCallRequest(ctx *fasthttp.RequestCtx) (callRequestBody, *intake.Problem) {
	var b callRequestBody
	ct := string(ctx.Request.Header.ContentType())
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		// Requiring JSON also keeps other sites' forms out: a browser asks
		// before sending JSON across origins, and this server never agrees.
		return b, &intake.Problem{Ending: actors.EndNotJSON, Text: "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, &intake.Problem{Ending: actors.EndParseError, Text: "Parse error: " + jsonProblem(err)}
	}
	if dec.More() {
		return b, &intake.Problem{Ending: actors.EndParseError, Text: "Parse error: more than one JSON value"}
	}
	b.Initiator, b.Destination = strings.TrimSpace(b.Initiator), strings.TrimSpace(b.Destination)
	b.RequestID, b.StatusCallback = strings.TrimSpace(b.RequestID), strings.TrimSpace(b.StatusCallback)
	return b, nil
}

func checkRequestID(id string) *intake.Problem {
	if len(id) > maxRequestIDLen || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return &intake.Problem{Ending: actors.EndInvalidValue,
			Text: fmt.Sprintf("request_id must be at most %d bytes without control characters", maxRequestIDLen)}
	}
	return nil
}

// jsonProblem says briefly what is wrong with a body that did not decode.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("%s must be a %s", typeErr.Field, typeErr.Type.Kind())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not a JSON object"
}

func (s *Server) checkCallback(target string) *intake.Problem {
	bad := func(text string) *intake.Problem {
		return &intake.Problem{Ending: actors.EndBadCallback, Text: text}
	}
	switch {
	case target == "":
		return nil
	case s.notifier == nil:
		return bad("Status callbacks are not enabled (api.status_callback_secret is not set)")
	case len(target) > maxCallbackURLLen:
		return bad(fmt.Sprintf("status_callback is too long (more than %d bytes)", maxCallbackURLLen))
	}
	if err := webhook.CheckURL(target); err != nil {
		return bad(err.Error())
	}
	return nil
}

// placeCall starts the call, registers it with the journal and its status
// callback, and answers 201; created is nil when it did not.
func (s *Server) placeCall(ctx *fasthttp.RequestCtx, req actors.CallRequest, b callRequestBody) (out outcome, created *createdCall) {
	var slot *webhook.Slot
	if b.StatusCallback != "" {
		var err error
		if slot, err = s.notifier.Reserve(); err != nil {
			s.refuseAPI(ctx, intake.Of(actors.EndCallbacksBusy))
			return outcome{problem: err.Error()}, nil
		}
	}
	// Results reach API clients through the journal, which sees every call.
	id, err := s.calls.StartCall(req, func(actors.Progress) {})
	if err != nil {
		slot.Release()
		p := s.refused(err, req)
		writeJSONError(ctx, p.Ending.HTTPStatus(), p.Text)
		setRetryAfter(ctx, p)
		return outcome{problem: err.Error()}, nil
	}
	s.records.Track(id, req, b.RequestID)
	if slot != nil {
		if w, ok := s.records.Watch(id); ok {
			slot.Follow(b.StatusCallback, id, &watchSource{callID: id, w: w, pending: w.Past,
				metadata: req.Options.Metadata, wanted: wanted(b.StatusCallbackEvents)})
		} else {
			slot.Release()
		}
	}
	created = &createdCall{ID: id, TranslatedInitiator: req.Initiator, TranslatedDestination: req.Destination}
	ctx.Response.Header.Set(fasthttp.HeaderLocation, callLocation(id))
	writeJSON(ctx, fasthttp.StatusCreated, created)
	return outcome{callID: id}, created
}

// callView is a call as GET /api/v1/calls/{id} shows it.
type callView struct {
	ID                    string          `json:"id"`
	RequestID             string          `json:"request_id,omitempty"`
	State                 cdr.State       `json:"state"`
	Active                bool            `json:"active"`
	Mode                  actors.Mode     `json:"mode"`
	Origin                string          `json:"origin"`
	TranslatedInitiator   string          `json:"translated_initiator"`
	TranslatedDestination string          `json:"translated_destination"`
	Anchor                bool            `json:"anchor"`
	CreatedAt             time.Time       `json:"created_at"`
	EndedAt               *time.Time      `json:"ended_at,omitempty"`
	Final                 *cdr.Result     `json:"final"`
	Results               []cdr.Result    `json:"results"`
	Metadata              json.RawMessage `json:"metadata,omitempty"`
}

func viewOf(c cdr.Call) callView {
	v := callView{
		ID: c.ID, RequestID: c.RequestID, State: c.State, Active: c.Active(), Mode: c.Mode,
		Origin: c.Request.Origin, TranslatedInitiator: c.Request.Initiator,
		TranslatedDestination: c.Request.Destination, Anchor: c.Request.Anchor,
		CreatedAt: c.CreatedAt.UTC(), Results: c.Results, Metadata: c.Request.Options.Metadata,
	}
	if !c.EndedAt.IsZero() {
		at := c.EndedAt.UTC()
		v.EndedAt = &at
	}
	if f, ok := c.Final(); ok {
		v.Final = &f
	}
	if v.Results == nil {
		v.Results = []cdr.Result{}
	}
	return v
}

// getCall is GET /api/v1/calls/{id}; a call another node of the cluster
// runs is answered by that node.
func (s *Server) getCall(ctx *fasthttp.RequestCtx, p params) outcome {
	if s.apiDisabled(ctx) {
		return outcome{problem: "api disabled"}
	}
	id := p["id"]
	status, v := s.callAnswer(id)
	if status == fasthttp.StatusNotFound && s.peers != nil {
		return s.peerAnswer(ctx, id, s.peers.Call(id, fasthttp.MethodGet))
	}
	writeJSON(ctx, status, v)
	if status != fasthttp.StatusOK {
		return outcome{problem: "unknown call"}
	}
	return outcome{callID: id}
}

// callAnswer is this node's answer to GET /api/v1/calls/{id}.
func (s *Server) callAnswer(id string) (int, any) {
	c, ok := s.records.Get(id)
	if !ok {
		return fasthttp.StatusNotFound, apiError{Code: fasthttp.StatusNotFound, Text: "No call " + id}
	}
	return fasthttp.StatusOK, viewOf(c)
}

// peerAnswer writes what another node answered about its call, or why it
// could not be asked.
func (s *Server) peerAnswer(ctx *fasthttp.RequestCtx, id string, a cluster.Answer) outcome {
	if a.Problem != "" {
		writeJSONError(ctx, a.Status, a.Problem)
		if a.RetryAfter > 0 {
			retryAfter(ctx, a.RetryAfter)
		}
		return outcome{callID: id, problem: a.Problem}
	}
	writeJSONBody(ctx, a.Status, a.Body)
	return outcome{callID: id}
}

// LocalCall answers GET or DELETE of /api/v1/calls/{id} for a call of this
// node, as the JSON body this node would send; another node of the cluster
// passes it on to its client (cluster.Local).
func (s *Server) LocalCall(id, method string) (int, []byte) {
	var status int
	var v any
	switch {
	case s.records == nil:
		status, v = fasthttp.StatusServiceUnavailable, apiError{Code: fasthttp.StatusServiceUnavailable, Text: "The JSON API is not enabled"}
	case method == fasthttp.MethodGet:
		status, v = s.callAnswer(id)
	case method == fasthttp.MethodDelete:
		status, v = s.cancelAnswer(id)
	default:
		status, v = fasthttp.StatusMethodNotAllowed, apiError{Code: fasthttp.StatusMethodNotAllowed, Text: "Method " + method + " not allowed"}
	}
	return status, marshalJSON(v)
}

// callList is the answer to GET /api/v1/calls.
type callList struct {
	Calls []callView `json:"calls"`
}

// listCalls is GET /api/v1/calls[?active=true][&state=S,...][&limit=N]: the
// calls kept, newest first; state keeps those in one of the states listed.
func (s *Server) listCalls(ctx *fasthttp.RequestCtx, _ params) outcome {
	if s.apiDisabled(ctx) {
		return outcome{problem: "api disabled"}
	}
	args := ctx.QueryArgs()
	active := strings.EqualFold(string(args.Peek("active")), "true")
	limit := defaultListLimit
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxListLimit {
			writeJSONError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxListLimit))
			return outcome{problem: "bad limit"}
		}
		limit = n
	}
	states, bad := statesOf(string(args.Peek("state")))
	if bad != "" {
		writeJSONError(ctx, fasthttp.StatusBadRequest, bad)
		return outcome{problem: "bad state"}
	}
	calls := s.records.Select(func(c cdr.Call) bool {
		return (!active || c.Active()) && (states == nil || states[c.State])
	}, limit)
	out := callList{Calls: make([]callView, len(calls))}
	for i, c := range calls {
		out.Calls[i] = viewOf(c)
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
	return outcome{}
}

// statesOf reads the state parameter of GET /api/v1/calls, a comma-separated
// list of states; nil for none. bad names the problem.
func statesOf(v string) (states map[cdr.State]bool, bad string) {
	if v == "" {
		return nil, ""
	}
	states = map[cdr.State]bool{}
	for name := range strings.SplitSeq(v, ",") {
		st := cdr.State(strings.TrimSpace(name))
		if !slices.Contains(cdr.States, st) {
			names := make([]string, len(cdr.States))
			for i, s := range cdr.States {
				names[i] = string(s)
			}
			return nil, fmt.Sprintf("Unknown state %q (want %s)", st, strings.Join(names, ", "))
		}
		states[st] = true
	}
	return states, ""
}

// deleteCall is DELETE /api/v1/calls/{id}: cancel a pending call, hang up a
// connected anchored one. It answers 200 with the call once its final is
// known (487 for a pending call), 202 if that takes longer than cancelWait.
// A call another node of the cluster runs is cancelled by that node.
func (s *Server) deleteCall(ctx *fasthttp.RequestCtx, p params) outcome {
	if s.apiDisabled(ctx) {
		return outcome{problem: "api disabled"}
	}
	if s.cancel == nil {
		writeJSONError(ctx, fasthttp.StatusNotImplemented, "Cancelling calls is not available")
		return outcome{problem: "no cancel"}
	}
	id := p["id"]
	status, v := s.cancelAnswer(id)
	if status == fasthttp.StatusNotFound && s.peers != nil {
		return s.peerAnswer(ctx, id, s.peers.Call(id, fasthttp.MethodDelete))
	}
	writeJSON(ctx, status, v)
	switch status {
	case fasthttp.StatusNotFound:
		return outcome{problem: "unknown call"}
	case fasthttp.StatusConflict:
		return outcome{callID: id, problem: "already ended"}
	}
	return outcome{callID: id}
}

// cancelAnswer cancels a call of this node and gives the answer to DELETE.
func (s *Server) cancelAnswer(id string) (int, any) {
	if s.cancel == nil {
		return fasthttp.StatusNotImplemented, apiError{Code: fasthttp.StatusNotImplemented, Text: "Cancelling calls is not available"}
	}
	w, known := s.records.Watch(id)
	if known {
		defer w.Stop()
	}
	if !s.cancel(id) {
		if !known {
			return fasthttp.StatusNotFound, apiError{Code: fasthttp.StatusNotFound, Text: "No call " + id}
		}
		// The engine has let go of it: whatever the record says, it is over.
		s.records.MarkEnded(id, time.Now())
		return fasthttp.StatusConflict, apiError{Code: fasthttp.StatusConflict, Text: "Call " + id + " has already ended"}
	}
	if !known {
		// Running but not in the journal (it is not the engine's Observer):
		// the cancel went out, there is nothing to show.
		return fasthttp.StatusAccepted, callView{ID: id, Results: []cdr.Result{}}
	}
	if final := waitFinal(w, cancelWait); !final {
		c, _ := s.records.Get(id)
		return fasthttp.StatusAccepted, viewOf(c)
	}
	c, _ := s.records.Get(id)
	if c.State == cdr.StateConnected {
		// A connected anchored call: the final stays 200, the legs are
		// being hung up now.
		s.records.MarkEnded(id, time.Now())
		c, _ = s.records.Get(id)
	}
	return fasthttp.StatusOK, viewOf(c)
}

// waitFinal waits until the watched call has its final result.
func waitFinal(w *cdr.Watch, d time.Duration) bool {
	for _, r := range w.Past {
		if r.Final() {
			return true
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r, ok := <-w.C:
			if !ok {
				return false
			}
			if r.Final() {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}
