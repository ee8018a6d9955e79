package httpfront

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/intake"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

// outcome is what the access log says about one request.
type outcome struct {
	callID  string
	problem string
}

// handle routes a request. Authentication comes first for every path but
// the health checks, so an unauthenticated client learns nothing, not even
// which paths exist.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	var out outcome
	defer func() { s.logAccess(ctx, start, out) }()

	path := string(ctx.Path())
	rt, params, allowed := s.match(string(ctx.Method()), path)
	if (rt == nil || !rt.public(s)) && s.auth != nil && !s.authorized(ctx, &out) {
		return
	}
	switch {
	case rt != nil:
		out = rt.serve(s, ctx, params)
	case allowed != "":
		m := string(ctx.Method())
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "Method "+m+" is not allowed here")
		ctx.Response.Header.Set(fasthttp.HeaderAllow, allowed)
	default:
		writeError(ctx, fasthttp.StatusNotFound, "No page at "+path)
	}
}

// authorized checks the credentials and answers 401 or 400 when they fail.
func (s *Server) authorized(ctx *fasthttp.RequestCtx, out *outcome) bool {
	v := s.auth.check(string(ctx.Method()), string(ctx.RequestURI()),
		string(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)))
	if v.ok {
		return true
	}
	out.problem = "authentication: " + v.reason
	if v.failed {
		s.log.Warn("http authentication failed", "remote", ctx.RemoteIP().String(), "reason", v.reason)
	}
	if v.status == statusBadRequest {
		writeError(ctx, fasthttp.StatusBadRequest, v.problem)
		return false
	}
	writeError(ctx, fasthttp.StatusUnauthorized, "Authentication required")
	for _, c := range s.auth.challenges(v.stale) {
		ctx.Response.Header.Add(fasthttp.HeaderWWWAuthenticate, c)
	}
	return false
}

// readParams decodes the page's form: a GET query, or a POST form
// (urlencoded or multipart). Names are case-sensitive; anchor is true only
// for "true" in any case.
func readParams(ctx *fasthttp.RequestCtx, origin string) intake.Raw {
	all := ctx.QueryArgs().PeekMulti
	if ctx.IsPost() {
		all = ctx.PostArgs().PeekMulti
		if bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("multipart/form-data")) {
			form, err := ctx.MultipartForm()
			if err != nil {
				return intake.Raw{Origin: origin, ClientIP: clientIP(ctx)}
			}
			all = func(k string) [][]byte {
				var out [][]byte
				for _, v := range form.Value[k] {
					out = append(out, []byte(v))
				}
				return out
			}
		}
	}
	get := func(k string) string {
		if v := all(k); len(v) > 0 {
			return string(v[0])
		}
		return ""
	}
	// Headers are repeated "Name: value" fields; the form's empty ones are none.
	headers := func(k string) []actors.Header {
		var out []actors.Header
		for _, line := range all(k) {
			if len(bytes.TrimSpace(line)) > 0 {
				out = append(out, calloptions.HeaderLine(string(line)))
			}
		}
		return out
	}
	return intake.Raw{
		Initiator:   get("initiator"),
		Destination: get("destination"),
		Anchor:      strings.EqualFold(get("anchor"), "true"),
		Origin:      origin,
		ClientIP:    clientIP(ctx),
		Options: calloptions.Raw{
			InitiatorCallerID:      get(calloptions.FieldInitiatorCallerID),
			DestinationCallerID:    get(calloptions.FieldDestinationCallerID),
			InitiatorRingTimeout:   get(calloptions.FieldInitiatorRingTimeout),
			DestinationRingTimeout: get(calloptions.FieldDestinationRingTimeout),
			TimeLimit:              get(calloptions.FieldTimeLimit),
			InitiatorHeaders:       headers(calloptions.FieldInitiatorHeaders),
			DestinationHeaders:     headers(calloptions.FieldDestinationHeaders),
			Metadata:               get(calloptions.FieldMetadata),
		},
	}
}

// clickToCall checks the form through the intake, starts the call and
// answers with a page.
func (s *Server) clickToCall(ctx *fasthttp.RequestCtx, _ params) outcome {
	req, problem := s.intake.Check(readParams(ctx, originHTTP))
	if problem != nil {
		s.reject(originHTTP, problem.Ending)
		writeProblem(ctx, problem.Ending.HTTPStatus(), problem.Text)
		return outcome{problem: problem.Text}
	}
	return s.startCall(ctx, req)
}

// clientIP is the request's remote address for per-client limits, "" when
// unknown.
func clientIP(ctx *fasthttp.RequestCtx) string {
	if ip := ctx.RemoteIP(); ip != nil && !ip.Equal(net.IPv4zero) {
		return ip.String()
	}
	return ""
}

func (s *Server) startCall(ctx *fasthttp.RequestCtx, req actors.CallRequest) outcome {
	// This page reports no progress: the call journal has it for the API.
	callID, err := s.calls.StartCall(req, func(actors.Progress) {})
	if err != nil {
		p := s.refused(err, req)
		writeError(ctx, p.Ending.HTTPStatus(), p.Text)
		setRetryAfter(ctx, p)
		return outcome{problem: err.Error()}
	}
	s.track(callID, req, "")
	mode := "unanchored"
	if req.Anchor {
		mode = "anchored"
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writePage(ctx, fasthttp.StatusOK, startedPage, startedData{
		Initiator: req.Initiator, Destination: req.Destination, Mode: mode, CallID: callID,
	})
	return outcome{callID: callID}
}

// refused logs why StartCall did not start req's call and returns what the
// client is told.
func (s *Server) refused(err error, req actors.CallRequest) *intake.Problem {
	p := intake.Refused(err)
	where := []any{"initiator", req.Initiator, "destination", req.Destination, "remote", req.ClientIP}
	if p.Ending == actors.EndStartFailed {
		s.log.Warn(req.Origin+" call failed to start", append([]any{"err", err}, where...)...)
		return p
	}
	if unlogged, ok := s.refusals.take(p.Ending); ok {
		attrs := append([]any{"code", p.Ending.HTTPStatus(), "text", p.Text}, where...)
		if unlogged > 0 {
			attrs = append(attrs, "unlogged", unlogged)
		}
		s.log.Warn(req.Origin+" call refused", attrs...)
	}
	return p
}

// refusalLogEvery is how often a refusal of one kind is logged. Under
// overload a WARNING for each refused request would be thousands of lines a
// second on stderr and in the journal, and cost a sixth of what the
// refusal itself costs; clicktocall_rejections_total counts every one.
const refusalLogEvery = 10 * time.Second

// refusalLog lets the first refusal of each kind in refusalLogEvery be
// logged and counts the others, which the next line of that kind reports.
type refusalLog struct {
	mu    sync.Mutex
	now   func() time.Time
	kinds map[actors.Ending]*refusalWindow
}

type refusalWindow struct {
	since    time.Time // when the last line of this kind was logged
	unlogged int       // refusals of this kind since then
}

func newRefusalLog() *refusalLog {
	return &refusalLog{now: time.Now, kinds: map[actors.Ending]*refusalWindow{}}
}

// take says whether a refusal of kind is logged, and how many of that kind
// were not since the last that was.
func (l *refusalLog) take(kind actors.Ending) (unlogged int, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.kinds[kind]
	if w == nil {
		w = &refusalWindow{}
		l.kinds[kind] = w
	} else if now.Sub(w.since) < refusalLogEvery {
		w.unlogged++
		return 0, false
	}
	unlogged, w.unlogged, w.since = w.unlogged, 0, now
	return unlogged, true
}

// setRetryAfter tells a client refused at a limit when to try again.
func setRetryAfter(ctx *fasthttp.RequestCtx, p *intake.Problem) {
	if status := p.Ending.HTTPStatus(); status == fasthttp.StatusServiceUnavailable || status == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(p.RetryAfter)))
	}
}

// retryAfterSeconds rounds up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// handleProtocolError answers requests fasthttp could not read: headers
// larger than the read buffer (431), a body over the limit (413), a client
// too slow to send its request (408), or anything unparsable (400).
func (s *Server) handleProtocolError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	code := fasthttp.StatusBadRequest
	text := "The request could not be parsed"
	switch {
	case errors.As(err, &small):
		code, text = fasthttp.StatusRequestHeaderFieldsTooLarge, "The request headers are too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, text = fasthttp.StatusRequestEntityTooLarge, "The request body is too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		code, text = fasthttp.StatusRequestTimeout, "The request was not received in time"
	}
	s.log.Debug("http request refused", "remote", ctx.RemoteIP().String(), "status", code, "err", err)
	writeError(ctx, code, text)
}

func (s *Server) logAccess(ctx *fasthttp.RequestCtx, start time.Time, out outcome) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return // not even the attributes: every request comes here
	}
	attrs := []any{
		"method", string(ctx.Method()),
		"path", string(ctx.Path()),
		"status", ctx.Response.StatusCode(),
		"remote", ctx.RemoteIP().String(),
		"duration", time.Since(start),
	}
	if out.callID != "" {
		attrs = append(attrs, "call_id", out.callID)
	}
	if out.problem != "" {
		attrs = append(attrs, "problem", out.problem)
	}
	s.log.Debug("http request", attrs...)
}
