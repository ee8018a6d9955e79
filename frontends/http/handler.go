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
)

const (
	clickToCallPath = "/clicktocall.html"
	indexPath       = "/"
	// maxValueLen bounds initiator and destination, in bytes after decoding.
	maxValueLen = 1024
)

// outcome is what the access log says about one request.
type outcome struct {
	callID  string
	problem string
}

// handle routes a request. Authentication comes first for every path, so an
// unauthenticated client learns nothing, not even which paths exist.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	var out outcome
	defer func() { s.logAccess(ctx, start, out) }()

	if s.auth != nil && !s.authorized(ctx, &out) {
		return
	}
	switch string(ctx.Path()) {
	case clickToCallPath:
		if !allowMethod(ctx, "GET, POST", fasthttp.MethodGet, fasthttp.MethodPost) {
			return
		}
		out = s.clickToCall(ctx)
	case indexPath:
		if !allowMethod(ctx, "GET, HEAD", fasthttp.MethodGet, fasthttp.MethodHead) {
			return
		}
		writePage(ctx, fasthttp.StatusOK, indexPage, nil)
	default:
		writeProblem(ctx, fasthttp.StatusNotFound, "No page at "+string(ctx.Path()))
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
		writeProblem(ctx, fasthttp.StatusBadRequest, v.problem)
		return false
	}
	writeProblem(ctx, fasthttp.StatusUnauthorized, "Authentication required")
	for _, c := range s.auth.challenges(v.stale) {
		ctx.Response.Header.Add(fasthttp.HeaderWWWAuthenticate, c)
	}
	return false
}

// allowMethod answers 405 with Allow unless the method is one of methods.
func allowMethod(ctx *fasthttp.RequestCtx, allow string, methods ...string) bool {
	m := string(ctx.Method())
	for _, ok := range methods {
		if m == ok {
			return true
		}
	}
	writeProblem(ctx, fasthttp.StatusMethodNotAllowed, "Method "+m+" is not allowed here")
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
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
func (s *Server) clickToCall(ctx *fasthttp.RequestCtx) outcome {
	p := readParams(ctx)
	if problem := missingProblem(p); problem != "" {
		writeProblem(ctx, fasthttp.StatusBadRequest, problem)
		return outcome{problem: problem}
	}
	for _, f := range []struct{ name, value string }{{"initiator", p.initiator}, {"destination", p.destination}} {
		if problem := valueProblem(f.name, f.value); problem != "" {
			writeProblem(ctx, fasthttp.StatusBadRequest, problem)
			return outcome{problem: problem}
		}
	}
	initiator, err := s.translate(p.initiator)
	if err == nil {
		var destination string
		destination, err = s.translate(p.destination)
		if err == nil {
			return s.startCall(ctx, initiator, destination, p.anchor)
		}
	}
	writeProblem(ctx, fasthttp.StatusBadRequest, err.Error())
	return outcome{problem: err.Error()}
}

func (s *Server) startCall(ctx *fasthttp.RequestCtx, initiator, destination string, anchor bool) outcome {
	clientIP := ""
	if ip := ctx.RemoteIP(); ip != nil && !ip.Equal(net.IPv4zero) {
		clientIP = ip.String()
	}
	req := actors.CallRequest{
		Initiator:   initiator,
		Destination: destination,
		Anchor:      anchor,
		Origin:      "http",
		ClientIP:    clientIP,
	}
	// This page reports no progress; a later event-stream endpoint would
	// hand progress to its own channel here instead.
	callID, err := s.calls.StartCall(req, func(actors.Progress) {})
	var refusal *actors.Refusal
	switch {
	case errors.As(err, &refusal):
		s.log.Warn("http call refused", "code", refusal.Code, "text", refusal.Text,
			"initiator", initiator, "destination", destination, "remote", clientIP)
		writeRefusal(ctx, refusal)
		return outcome{problem: refusal.Error()}
	case err != nil:
		s.log.Warn("http call failed to start", "err", err,
			"initiator", initiator, "destination", destination, "remote", clientIP)
		writeProblem(ctx, fasthttp.StatusInternalServerError, "The call could not be started")
		return outcome{problem: err.Error()}
	}
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
	code := r.Code
	if code < 400 || code > 599 {
		code = fasthttp.StatusServiceUnavailable
	}
	writeProblem(ctx, code, r.Text)
	if code == fasthttp.StatusServiceUnavailable || code == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(r.RetryAfter)))
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
	writeProblem(ctx, code, text)
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
