package httpfront

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/actors/metrics"
)

const (
	// maxValueLen bounds initiator and destination, in bytes after decoding.
	maxValueLen = 1024
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

// clickToCallParams are the request's parameters, copied out of fasthttp's
// buffers.
type clickToCallParams struct {
	initiator, destination string
	hasInitiator, hasDest  bool
	anchor                 bool
}

func readParams(ctx *fasthttp.RequestCtx) clickToCallParams {
	if !ctx.IsPost() {
		return paramsFrom(ctx.QueryArgs().Peek)
	}
	if bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("multipart/form-data")) {
		form, err := ctx.MultipartForm()
		if err != nil {
			return clickToCallParams{}
		}
		return paramsFrom(func(k string) []byte {
			if v := form.Value[k]; len(v) > 0 {
				return []byte(v[0])
			}
			return nil
		})
	}
	return paramsFrom(ctx.PostArgs().Peek)
}

func paramsFrom(get func(string) []byte) clickToCallParams {
	ini := strings.TrimSpace(string(get("initiator")))
	dst := strings.TrimSpace(string(get("destination")))
	return clickToCallParams{
		initiator:    ini,
		destination:  dst,
		hasInitiator: ini != "",
		hasDest:      dst != "",
		anchor:       strings.EqualFold(string(get("anchor")), "true"),
	}
}

// clickToCall validates, translates and starts one call.
func (s *Server) clickToCall(ctx *fasthttp.RequestCtx, _ params) outcome {
	p := readParams(ctx)
	if problem := missingProblem(p); problem != "" {
		s.reject(originHTTP, metrics.ReasonMissingAddress)
		writeProblem(ctx, fasthttp.StatusBadRequest, problem)
		return outcome{problem: problem}
	}
	for _, f := range []struct{ name, value string }{{"initiator", p.initiator}, {"destination", p.destination}} {
		if problem := valueProblem(f.name, f.value); problem != "" {
			s.reject(originHTTP, metrics.ReasonInvalidValue)
			writeProblem(ctx, fasthttp.StatusBadRequest, problem)
			return outcome{problem: problem}
		}
	}
	initiator, destination, err := s.translatePair(p.initiator, p.destination)
	if err != nil {
		s.reject(originHTTP, translationReason(err))
		writeProblem(ctx, fasthttp.StatusBadRequest, err.Error())
		return outcome{problem: err.Error()}
	}
	return s.startCall(ctx, initiator, destination, p.anchor)
}

// translatePair translates both addresses; the error is the first failure,
// its text shown to the client.
func (s *Server) translatePair(initiator, destination string) (string, string, error) {
	ti, err := s.translate(initiator)
	if err != nil {
		return "", "", err
	}
	td, err := s.translate(destination)
	if err != nil {
		return "", "", err
	}
	return ti, td, nil
}

// translationReason names the metrics reason of a translation error.
func translationReason(err error) string {
	if strings.HasPrefix(err.Error(), "Invalid URI format") {
		return metrics.ReasonInvalidURI
	}
	return metrics.ReasonNoTranslationRule
}

// clientIP is the request's remote address for per-client limits, "" when
// unknown.
func clientIP(ctx *fasthttp.RequestCtx) string {
	if ip := ctx.RemoteIP(); ip != nil && !ip.Equal(net.IPv4zero) {
		return ip.String()
	}
	return ""
}

func (s *Server) startCall(ctx *fasthttp.RequestCtx, initiator, destination string, anchor bool) outcome {
	req := actors.CallRequest{
		Initiator:   initiator,
		Destination: destination,
		Anchor:      anchor,
		Origin:      originHTTP,
		ClientIP:    clientIP(ctx),
	}
	// This page reports no progress: the call journal has it for the API.
	callID, err := s.calls.StartCall(req, func(actors.Progress) {})
	var refusal *actors.Refusal
	switch {
	case errors.As(err, &refusal):
		s.log.Warn("http call refused", "code", refusal.Code, "text", refusal.Text,
			"initiator", initiator, "destination", destination, "remote", req.ClientIP)
		writeRefusal(ctx, refusal)
		return outcome{problem: refusal.Error()}
	case err != nil:
		s.log.Warn("http call failed to start", "err", err,
			"initiator", initiator, "destination", destination, "remote", req.ClientIP)
		writeProblem(ctx, fasthttp.StatusInternalServerError, "The call could not be started")
		return outcome{problem: err.Error()}
	}
	s.track(callID, req, "")
	mode := "unanchored"
	if anchor {
		mode = "anchored"
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writePage(ctx, fasthttp.StatusOK, startedPage, startedData{
		Initiator: initiator, Destination: destination, Mode: mode, CallID: callID,
	})
	return outcome{callID: callID}
}

func missingProblem(p clickToCallParams) string {
	switch {
	case !p.hasInitiator && !p.hasDest:
		return "Missing initiator and destination"
	case !p.hasInitiator:
		return "Missing initiator"
	case !p.hasDest:
		return "Missing destination"
	}
	return ""
}

// valueProblem rejects values no address can have before they reach the
// translation rules or the logs.
func valueProblem(name, value string) string {
	if len(value) > maxValueLen {
		return fmt.Sprintf("The %s is too long (%d bytes, at most %d)", name, len(value), maxValueLen)
	}
	if !utf8.ValidString(value) {
		return fmt.Sprintf("The %s is not valid UTF-8", name)
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			return fmt.Sprintf("The %s contains a control character", name)
		}
	}
	return ""
}

func writeRefusal(ctx *fasthttp.RequestCtx, r *actors.Refusal) {
	code := refusalStatus(r)
	writeError(ctx, code, r.Text)
	setRetryAfter(ctx, code, r.RetryAfter)
}

// refusalStatus is the HTTP status of an engine refusal: its code when that
// is an error status, else 503.
func refusalStatus(r *actors.Refusal) int {
	if r.Code < 400 || r.Code > 599 {
		return fasthttp.StatusServiceUnavailable
	}
	return r.Code
}

func setRetryAfter(ctx *fasthttp.RequestCtx, status int, after time.Duration) {
	if status == fasthttp.StatusServiceUnavailable || status == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(after)))
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
