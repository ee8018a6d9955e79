package phone

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Direction says whether the phone received or sent a message.
type Direction int

const (
	// In is a message the phone received.
	In Direction = iota + 1
	// Out is a message the phone sent.
	Out
)

func (d Direction) String() string {
	if d == In {
		return "recv"
	}
	return "sent"
}

// Message is one recorded SIP message. Request or Response is a private copy, safe to read
// from the test at any time.
type Message struct {
	Seq        uint64 // order of the message in the phone, over all calls
	At         time.Time
	Dir        Direction
	Method     sip.RequestMethod // the request's method, or the CSeq method of a response
	StatusCode int               // 0 for a request
	Request    *sip.Request
	Response   *sip.Response
	// Auto marks a response the SIP stack sent by itself (200 to CANCEL, 487 to the INVITE);
	// the phone records an equivalent copy so the flow reads complete.
	Auto bool
}

// IsRequest reports whether m is a request.
func (m Message) IsRequest() bool { return m.Request != nil }

// Header returns the value of the first header called name, or "".
func (m Message) Header(name string) string {
	var h sip.Header
	if m.Request != nil {
		h = m.Request.GetHeader(name)
	} else if m.Response != nil {
		h = m.Response.GetHeader(name)
	}
	if h == nil {
		return ""
	}
	return h.Value()
}

// Headers returns the values of every header called name.
func (m Message) Headers(name string) []string {
	var hs []sip.Header
	if m.Request != nil {
		hs = m.Request.GetHeaders(name)
	} else if m.Response != nil {
		hs = m.Response.GetHeaders(name)
	}
	vals := make([]string, len(hs))
	for i, h := range hs {
		vals[i] = h.Value()
	}
	return vals
}

// Body returns the message body (nil when empty).
func (m Message) Body() []byte {
	if m.Request != nil {
		return m.Request.Body()
	}
	if m.Response != nil {
		return m.Response.Body()
	}
	return nil
}

// CSeq returns the CSeq number.
func (m Message) CSeq() uint32 {
	var h *sip.CSeqHeader
	if m.Request != nil {
		h = m.Request.CSeq()
	} else if m.Response != nil {
		h = m.Response.CSeq()
	}
	if h == nil {
		return 0
	}
	return h.SeqNo
}

// String is the message in flow notation: "recv INVITE", "sent 180 INVITE".
func (m Message) String() string {
	if m.IsRequest() {
		return m.Dir.String() + " " + string(m.Method)
	}
	return fmt.Sprintf("%s %d %s", m.Dir, m.StatusCode, m.Method)
}

// CallState is where a call stands from the phone's side.
type CallState string

// Call states.
const (
	CallChallenged CallState = "challenged" // INVITE answered 401, waiting for the retry
	CallRinging    CallState = "ringing"    // INVITE received, no final response yet
	CallAnswered   CallState = "answered"   // 200 sent, no ACK yet
	CallConfirmed  CallState = "confirmed"  // ACK received (or, placed by the phone, ACK sent)
	CallRejected   CallState = "rejected"   // final response >= 300 sent (or received)
	CallCancelled  CallState = "cancelled"  // CANCEL received, 487 sent
	CallEnded      CallState = "ended"      // BYE sent or received
	CallFailed     CallState = "failed"     // no ACK, or a transport error
)

// Call is a snapshot of one call (one Call-ID) as the phone saw it.
type Call struct {
	CallID    string
	Transport string // "UDP" or "TCP"
	// Outgoing is true for a call the phone placed itself, following a REFER.
	Outgoing bool
	State    CallState
	// FinalCode is the final status of the INVITE: sent, or received for an outgoing call.
	FinalCode int
	Messages  []Message
}

// Find returns the first message in direction dir with this method that is a request
// (status 0) or a response with status code.
func (c Call) Find(dir Direction, method sip.RequestMethod, status int) (Message, bool) {
	for _, m := range c.Messages {
		if m.Dir == dir && m.Method == method && m.StatusCode == status {
			return m, true
		}
	}
	return Message{}, false
}

// Request returns the first request with this method in direction dir.
func (c Call) Request(dir Direction, method sip.RequestMethod) (Message, bool) {
	return c.Find(dir, method, 0)
}

// Requests returns every request with this method in direction dir, in order.
func (c Call) Requests(dir Direction, method sip.RequestMethod) []Message {
	var out []Message
	for _, m := range c.Messages {
		if m.Dir == dir && m.Method == method && m.IsRequest() {
			out = append(out, m)
		}
	}
	return out
}

// Responses returns every response to method in direction dir, in order.
func (c Call) Responses(dir Direction, method sip.RequestMethod) []Message {
	var out []Message
	for _, m := range c.Messages {
		if m.Dir == dir && m.Method == method && !m.IsRequest() {
			out = append(out, m)
		}
	}
	return out
}

// Methods returns the methods of the requests in direction dir, in order, without
// retransmissions (a request whose method, CSeq and Via branch came before): e.g.
// Methods(In) == ["INVITE", "ACK", "REFER", "BYE"]. Flow and Messages keep everything.
func (c Call) Methods(dir Direction) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range c.Messages {
		if m.Dir != dir || !m.IsRequest() {
			continue
		}
		branch := ""
		if via := m.Request.Via(); via != nil {
			branch, _ = via.Params.Get("branch")
		}
		key := fmt.Sprintf("%s %d %s", m.Method, m.CSeq(), branch)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, string(m.Method))
	}
	return out
}

// Flow returns every message in flow notation, in order: "recv INVITE", "sent 180 INVITE", ...
func (c Call) Flow() []string {
	out := make([]string, len(c.Messages))
	for i, m := range c.Messages {
		out[i] = m.String()
	}
	return out
}

func (c Call) String() string {
	return fmt.Sprintf("%s [%s] %s", c.CallID, c.State, strings.Join(c.Flow(), ", "))
}

// Received is a condition for WaitCall: the call has received a request with this method.
func Received(method sip.RequestMethod) func(Call) bool {
	return func(c Call) bool { _, ok := c.Request(In, method); return ok }
}

// Sent is a condition for WaitCall: the phone has sent a request with this method.
func Sent(method sip.RequestMethod) func(Call) bool {
	return func(c Call) bool { _, ok := c.Request(Out, method); return ok }
}

// InState is a condition for WaitCall: the call is in one of the states.
func InState(states ...CallState) func(Call) bool {
	return func(c Call) bool {
		for _, s := range states {
			if c.State == s {
				return true
			}
		}
		return false
	}
}

// Calls returns a snapshot of every call, oldest first.
func (p *Phone) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snapshotLocked()
}

// Call returns a snapshot of the call with this Call-ID.
func (p *Phone) Call(callID string) (Call, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.calls[callID]
	if !ok {
		return Call{}, false
	}
	return c.snapshotLocked(), true
}

// WaitFor blocks until cond holds for the phone's calls (oldest first) or ctx ends. cond runs
// on a snapshot, so it may take its time; it is re-run after every recorded change.
func (p *Phone) WaitFor(ctx context.Context, cond func(calls []Call) bool) ([]Call, error) {
	for {
		p.mu.Lock()
		calls := p.snapshotLocked()
		changed := p.changed
		p.mu.Unlock()
		if cond(calls) {
			return calls, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return calls, fmt.Errorf("phone %s: wait: %w; calls: %s", p.cfg.User, ctx.Err(), summary(calls))
		}
	}
}

// WaitCall blocks until some call satisfies cond, and returns the oldest such call.
func (p *Phone) WaitCall(ctx context.Context, cond func(Call) bool) (Call, error) {
	var found Call
	_, err := p.WaitFor(ctx, func(calls []Call) bool {
		for _, c := range calls {
			if cond(c) {
				found = c
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitCallID blocks until the call with this Call-ID exists and satisfies cond.
func (p *Phone) WaitCallID(ctx context.Context, callID string, cond func(Call) bool) (Call, error) {
	return p.WaitCall(ctx, func(c Call) bool { return c.CallID == callID && cond(c) })
}

func summary(calls []Call) string {
	if len(calls) == 0 {
		return "none"
	}
	const max = 5
	var b strings.Builder
	for i, c := range calls {
		if i == max {
			fmt.Fprintf(&b, "; ... %d more", len(calls)-max)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.String())
	}
	return b.String()
}
