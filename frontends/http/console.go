package httpfront

// The operator console: / with its script (app.js), its drawing code
// (charts.js) and its style sheet, all served from the binary so the
// console works without the Internet; the live statistics stream that
// feeds its charts; and a call's SIP trace for its message ladder.

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/observe/metrics"
	"github.com/clicktocall/clicktocall/observe/siptrace"
)

//go:embed charts.js
var chartsScript []byte

//go:embed console.css
var consoleStyle []byte

// consolePolicy is the index page's Content-Security-Policy: its script,
// styles and event streams come from this server only, and nothing else.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// charts is GET /charts.js, the console's drawing code (SVG).
func (s *Server) charts(ctx *fasthttp.RequestCtx, _ params) outcome {
	writeAsset(ctx, "text/javascript; charset=utf-8", chartsScript)
	return outcome{}
}

// stylesheet is GET /console.css.
func (s *Server) stylesheet(ctx *fasthttp.RequestCtx, _ params) outcome {
	writeAsset(ctx, "text/css; charset=utf-8", consoleStyle)
	return outcome{}
}

func writeAsset(ctx *fasthttp.RequestCtx, contentType string, body []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentType)
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.SetBody(body)
}

// statsEvents is GET /api/v1/stats/events: the live statistics as
// server-sent events (event "sample", id = its sequence number, data = a
// metrics.Sample), first the samples kept (the last 15 minutes), then one
// a second. A client reconnecting with Last-Event-ID gets only later ones.
func (s *Server) statsEvents(ctx *fasthttp.RequestCtx, _ params) outcome {
	if s.stats == nil {
		writeJSONError(ctx, fasthttp.StatusServiceUnavailable, "Live statistics are not enabled")
		return outcome{problem: "no stats"}
	}
	f := s.stats.Follow()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	stream := statsStream{f: f, seen: uint64(lastEventID(ctx)), heartbeat: s.api.EventsHeartbeat, stopping: s.stopping}
	ctx.SetBodyStreamWriter(stream.run)
	return outcome{}
}

// statsStream writes the samples of one follower; it runs after the
// handler has returned, on the connection's goroutine, until the client
// goes, the server shuts down or the sampler stops.
type statsStream struct {
	f         *metrics.Follow
	seen      uint64
	heartbeat time.Duration
	stopping  <-chan struct{}
}

func (st *statsStream) run(bw *bufio.Writer) {
	defer st.f.Stop()
	// Samples come every second: the heartbeat only matters if the sampler
	// has stopped while the server still runs.
	sseLoop(bw, st.f.Past, st.f.C, st.write, func(metrics.Sample) bool { return false }, st.heartbeat, st.stopping)
}

func (st *statsStream) write(bw *bufio.Writer, sample metrics.Sample) error {
	if sample.Seq <= st.seen {
		return nil
	}
	data, err := json.Marshal(sample)
	if err != nil {
		panic("httpfront: marshal sample: " + err.Error())
	}
	_, err = bw.WriteString("id: " + strconv.FormatUint(sample.Seq, 10) + "\nevent: sample\ndata: ")
	if err == nil {
		_, err = bw.Write(data)
	}
	if err == nil {
		_, err = bw.WriteString("\n\n")
	}
	return err
}

// traceView is GET /api/v1/calls/{id}/trace's answer.
type traceView struct {
	siptrace.Call
	// Traced is false when the call is known but its messages are not (it
	// is older than the last api.trace_calls calls, or tracing is off).
	Traced bool `json:"traced"`
}

// callTrace is GET /api/v1/calls/{id}/trace: the summaries of the SIP
// messages of the call, both legs, in time order, for its ladder.
func (s *Server) callTrace(ctx *fasthttp.RequestCtx, p params) outcome {
	id := p["id"]
	c, traced := s.traces.Get(id)
	if !traced {
		if s.records == nil {
			writeJSONError(ctx, fasthttp.StatusNotFound, "No call "+id)
			return outcome{problem: "unknown call"}
		}
		if _, known := s.records.Get(id); !known {
			writeJSONError(ctx, fasthttp.StatusNotFound, "No call "+id)
			return outcome{problem: "unknown call"}
		}
		c = siptrace.Call{CallID: id, Legs: []siptrace.Leg{}, Messages: []siptrace.Message{}}
	}
	writeJSON(ctx, fasthttp.StatusOK, traceView{Call: c, Traced: traced})
	return outcome{callID: id}
}
