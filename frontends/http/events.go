package httpfront

import (
	"bufio"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/observe/cdr"
)

// eventView is one result as the event stream and the status callbacks
// carry it.
type eventView struct {
	CallID   string    `json:"call_id"`
	Sequence int       `json:"sequence"` // 1 for the call's first result (the 100)
	Code     int       `json:"code"`
	Leg      string    `json:"leg,omitempty"`
	Text     string    `json:"text"`
	At       time.Time `json:"at"`
	Final    bool      `json:"final"`
	// Metadata is the call's, as its request gave it.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

func eventJSON(callID string, seq int, r cdr.Result, metadata json.RawMessage) []byte {
	b, err := json.Marshal(eventView{CallID: callID, Sequence: seq, Code: r.Code, Leg: r.Leg, Text: r.Text,
		At: r.At.UTC(), Final: r.Final(), Metadata: metadata})
	if err != nil {
		panic("httpfront: marshal event: " + err.Error())
	}
	return b
}

// callEvents is GET /api/v1/calls/{id}/events: the call's results as
// server-sent events (event "result", id = sequence, data = eventView),
// those already reported first, then each as it comes, the stream ending
// after the final. A comment line every events_heartbeat keeps proxies from
// closing an idle stream and notices a client that has gone. A client
// reconnecting with Last-Event-ID gets only the later results; one that has
// seen the final gets 204, which tells an EventSource to stop.
func (s *Server) callEvents(ctx *fasthttp.RequestCtx, p params) outcome {
	if s.apiDisabled(ctx) {
		return outcome{problem: "api disabled"}
	}
	id := p["id"]
	var stream eventStream
	if w, ok := s.records.Watch(id); ok {
		stream = eventStream{past: w.Past, next: w.C, stop: w.Stop}
	} else if s.peers != nil {
		// Another node of the cluster runs it: its results come from there.
		rw, a := s.peers.Watch(id)
		if rw == nil {
			return s.peerAnswer(ctx, id, a)
		}
		stream = eventStream{past: rw.Past, next: rw.C, stop: rw.Stop, metadata: rw.Metadata}
	} else {
		writeJSONError(ctx, fasthttp.StatusNotFound, "No call "+id)
		return outcome{problem: "unknown call"}
	}
	seen := lastEventID(ctx)
	if seen >= len(stream.past) && len(stream.past) > 0 && stream.past[len(stream.past)-1].Final() {
		stream.stop()
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return outcome{callID: id}
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set("X-Accel-Buffering", "no") // nginx: do not hold events back
	stream.callID, stream.seen, stream.heartbeat, stream.stopping = id, seen, s.api.EventsHeartbeat, s.stopping
	if c, ok := s.records.Get(id); ok {
		stream.metadata = c.Request.Options.Metadata
	}
	ctx.SetBodyStreamWriter(stream.run)
	return outcome{callID: id}
}

// lastEventID is the sequence number the client says it has seen, 0 if none.
func lastEventID(ctx *fasthttp.RequestCtx) int {
	n, err := strconv.Atoi(strings.TrimSpace(string(ctx.Request.Header.Peek("Last-Event-ID"))))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// eventStream writes one call's events; it runs after the handler has
// returned, on the connection's goroutine.
type eventStream struct {
	callID    string
	past      []cdr.Result
	next      <-chan cdr.Result // closed after the final
	stop      func()
	seen      int
	seq       int
	heartbeat time.Duration
	stopping  <-chan struct{}
	metadata  json.RawMessage
}

func (e *eventStream) run(bw *bufio.Writer) {
	defer e.stop()
	sseLoop(bw, e.past, e.next, e.write, cdr.Result.Final, e.heartbeat, e.stopping)
}

func (e *eventStream) write(bw *bufio.Writer, r cdr.Result) error {
	e.seq++
	if e.seq <= e.seen {
		return nil
	}
	_, err := bw.WriteString("id: " + strconv.Itoa(e.seq) + "\nevent: result\ndata: ")
	if err == nil {
		_, err = bw.Write(eventJSON(e.callID, e.seq, r, e.metadata))
	}
	if err == nil {
		_, err = bw.WriteString("\n\n")
	}
	return err
}

// watchSource feeds a call's results to its status callback: those its
// status_callback_events want, each with its place among all the call's
// results as its sequence, so a receiver sees what it was not sent.
type watchSource struct {
	callID   string
	w        *cdr.Watch
	pending  []cdr.Result // reported before the watch began
	seq      int
	metadata json.RawMessage
	wanted   func(cdr.Result) bool
}

func (s *watchSource) Next(ctx context.Context) ([]byte, bool) {
	for {
		var r cdr.Result
		if len(s.pending) > 0 {
			r, s.pending = s.pending[0], s.pending[1:]
		} else {
			select {
			case next, ok := <-s.w.C:
				if !ok {
					return nil, false
				}
				r = next
			case <-ctx.Done():
				return nil, false
			}
		}
		s.seq++
		if s.wanted == nil || s.wanted(r) {
			return eventJSON(s.callID, s.seq, r, s.metadata), true
		}
	}
}

func (s *watchSource) Stop() { s.w.Stop() }
