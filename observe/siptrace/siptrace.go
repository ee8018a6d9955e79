// Package siptrace keeps a short summary of every SIP message of the most
// recent calls — method or status, CSeq, direction, leg, time; never bodies
// or addresses — so an operator can see a call's message ladder. The engine
// tells a Ring which SIP Call-IDs belong to which call (actors.CallTracer);
// the transport shows it every message it receives and sends
// (transport.Options.OnTrace). The Ring holds the last N calls; older ones
// are forgotten whole, so its memory is bounded whatever the call rate.
package siptrace

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/actors"
)

// MaxMessagesPerCall bounds one call's trace. A normal call has 10 to 25
// messages; a call whose phone retransmits or sends junk gets no more than
// this, and the rest are only counted.
const MaxMessagesPerCall = 100

// Message is one SIP message of a call, as its ladder shows it.
type Message struct {
	At        time.Time `json:"at"`
	Leg       string    `json:"leg"`       // "Initiator" or "Destination": the phone at the other end
	Direction string    `json:"direction"` // "in" (phone to server) or "out" (server to phone)
	// Method is a request's method; empty for a response.
	Method string `json:"method,omitempty"`
	// Status and Reason are a response's; zero and empty for a request.
	Status     int    `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	CSeq       uint32 `json:"cseq"`
	CSeqMethod string `json:"cseq_method"`
	SDP        bool   `json:"sdp,omitempty"`  // it carries an SDP body
	Note       string `json:"note,omitempty"` // a NOTIFY's sipfrag status line ("SIP/2.0 180 Ringing")
}

// Leg is one leg of a traced call and its SIP Call-ID.
type Leg struct {
	Leg       string `json:"leg"`
	SIPCallID string `json:"sip_call_id"`
}

// Call is the trace of one call: its legs and their messages in time order.
type Call struct {
	CallID   string    `json:"call_id"`
	Legs     []Leg     `json:"legs"`
	Messages []Message `json:"messages"`
	// Dropped counts messages beyond MaxMessagesPerCall, not kept.
	Dropped int `json:"dropped,omitempty"`
}

// Ring keeps the traces of the last calls. Its zero value is not usable;
// create it with New. It is safe for concurrent use.
type Ring struct {
	mu    sync.Mutex
	calls map[string]*callTrace // by the call's id
	bySIP map[string]legRef     // by SIP Call-ID
	order []*callTrace          // a circle of the traced calls, oldest at next
	next  int
}

type callTrace struct {
	id       string
	legs     []Leg
	msgs     []Message
	dropped  int
	released bool // forgotten by the ring: late messages are not kept
}

type legRef struct {
	call *callTrace
	leg  string
}

// New returns a Ring that keeps the last calls calls; 0 or less returns
// nil, which traces nothing (its methods may still be called).
func New(calls int) *Ring {
	if calls <= 0 {
		return nil
	}
	return &Ring{calls: make(map[string]*callTrace, calls), bySIP: make(map[string]legRef, 2*calls),
		order: make([]*callTrace, calls)}
}

// TraceLeg files the messages of sipCallID under the call callID, making
// room by forgetting the oldest call when the ring is full; see
// actors.CallTracer.
func (r *Ring) TraceLeg(callID string, leg actors.Leg, sipCallID string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls[callID]
	if c == nil {
		if old := r.order[r.next]; old != nil {
			r.forgetLocked(old)
		}
		c = &callTrace{id: callID, msgs: make([]Message, 0, 16)}
		r.order[r.next] = c
		r.next = (r.next + 1) % len(r.order)
		r.calls[callID] = c
	}
	c.legs = append(c.legs, Leg{Leg: leg.String(), SIPCallID: sipCallID})
	r.bySIP[sipCallID] = legRef{call: c, leg: leg.String()}
}

func (r *Ring) forgetLocked(c *callTrace) {
	delete(r.calls, c.id)
	for _, l := range c.legs {
		if ref, ok := r.bySIP[l.SIPCallID]; ok && ref.call == c {
			delete(r.bySIP, l.SIPCallID)
		}
	}
	c.released = true
}

// Observe files m under its call, if its Call-ID is traced; in says whether
// the server received it. It has the signature of transport.Options.OnTrace
// and keeps nothing of m but strings the parser made for it.
func (r *Ring) Observe(m sip.Message, in bool) {
	if r == nil {
		return
	}
	cid := m.CallID()
	if cid == nil {
		return
	}
	r.mu.Lock()
	ref, ok := r.bySIP[cid.Value()]
	r.mu.Unlock()
	if !ok {
		return
	}
	msg := summarize(m, in, ref.leg)
	r.mu.Lock()
	c := ref.call
	switch {
	case c.released:
	case len(c.msgs) >= MaxMessagesPerCall:
		c.dropped++
	default:
		c.msgs = append(c.msgs, msg)
	}
	r.mu.Unlock()
}

// summarize is what the ladder shows of m.
func summarize(m sip.Message, in bool, leg string) Message {
	msg := Message{At: time.Now(), Leg: leg, Direction: "out"}
	if in {
		msg.Direction = "in"
	}
	if cseq := m.CSeq(); cseq != nil {
		msg.CSeq, msg.CSeqMethod = cseq.SeqNo, string(cseq.MethodName)
	}
	if ct, ok := m.(interface{ ContentType() *sip.ContentTypeHeader }); ok && len(m.Body()) > 0 {
		if h := ct.ContentType(); h != nil {
			v := h.Value()
			msg.SDP = len(v) >= 15 && strings.EqualFold(v[:15], "application/sdp")
		}
	}
	switch m := m.(type) {
	case *sip.Request:
		msg.Method = string(m.Method)
		if m.Method == sip.NOTIFY {
			msg.Note = sipfragLine(m.Body())
		}
	case *sip.Response:
		msg.Status, msg.Reason = m.StatusCode, m.Reason
	}
	return msg
}

// sipfragLine is the first line of a NOTIFY's body when it is a sipfrag
// status line, cut to a length fit for a label.
func sipfragLine(body []byte) string {
	if !bytes.HasPrefix(body, []byte("SIP/")) {
		return ""
	}
	line, _, _ := bytes.Cut(body, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	if len(line) > 60 {
		line = line[:60]
	}
	return string(line)
}

// Get returns a copy of the trace of callID, in time order, and whether the
// ring still holds it.
func (r *Ring) Get(callID string) (Call, bool) {
	if r == nil {
		return Call{}, false
	}
	r.mu.Lock()
	c := r.calls[callID]
	if c == nil {
		r.mu.Unlock()
		return Call{}, false
	}
	out := Call{CallID: c.id, Legs: slices.Clone(c.legs), Messages: slices.Clone(c.msgs), Dropped: c.dropped}
	r.mu.Unlock()
	// Messages of one leg are filed in the order they were seen, but the
	// legs' read loops and actors file concurrently.
	slices.SortStableFunc(out.Messages, func(a, b Message) int { return a.At.Compare(b.At) })
	if out.Messages == nil {
		out.Messages = []Message{}
	}
	return out, true
}

// Len is the number of calls the ring holds.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}
