package actors

import (
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// Leg names the side of a click-to-call a result is about.
type Leg int

const (
	LegNone        Leg = iota // the 100 "In progress" and request errors
	LegInitiator              // the phone called first
	LegDestination            // the party the initiator is connected to
)

// String gives the Leg attribute value of the XML interface ("" for LegNone).
func (l Leg) String() string {
	switch l {
	case LegInitiator:
		return "Initiator"
	case LegDestination:
		return "Destination"
	}
	return ""
}

// CallRequest is what a front end asks the engine to do. The addresses are
// already translated SIP URIs.
type CallRequest struct {
	Initiator   string
	Destination string
	Anchor      bool
	Origin      string // "http", "xml", "api": for logs and metrics
	ClientIP    string // for per-client admission limits; may be empty
	Options     CallOptions
	// ID is the call's id when the caller chooses it (the cluster does, to
	// place its directory entry); "" lets the engine pick one.
	ID string
}

// Progress is one result of a call, as streamed to XML clients.
type Progress struct {
	CallID string
	Code   int
	Leg    Leg
	Text   string
	At     time.Time
	Ending Ending // how the call ended, on the final result; EndNone before
}

// Answered reports whether p is a 2xx: a leg answered, or the call is
// connected.
func (p Progress) Answered() bool { return rfc3261.Success(p.Code) }

// Provisional reports whether p is a 1xx: the 100 "In progress" or a 180.
func (p Progress) Provisional() bool { return rfc3261.Provisional(p.Code) }

// Ringing reports whether p is a leg's 180.
func (p Progress) Ringing() bool { return ringing(p.Code) }

// InProgress reports whether p is the call's first result, 100 "In progress".
func (p Progress) InProgress() bool { return p.Code == sip.StatusTrying && p.Leg == LegNone }

// End is how the call ended when p is its final result (EndNone before):
// p.Ending, or for a final made without one (a test's fake engine, a result
// relayed from elsewhere) the ending its code stands for.
func (p Progress) End() Ending {
	switch {
	case !p.Final():
		return EndNone
	case p.Ending != EndNone:
		return p.Ending
	case rfc3261.Success(p.Code):
		return EndAnswered
	}
	return PhoneFailure(p.Code)
}

// Final reports whether this result ends the call's result stream: any code
// >= 300, or a 2xx about the destination.
func (p Progress) Final() bool {
	return rfc3261.Failure(p.Code) || (rfc3261.Success(p.Code) && p.Leg == LegDestination)
}

// Refusal is the error StartCall returns when a call is not accepted.
type Refusal struct {
	Ending     Ending        // why: EndMaxActiveCalls, EndOverload, ...
	Text       string        // the result text, e.g. "Server shutting down"
	RetryAfter time.Duration // for a limit, overload or shutdown
}

// refuse is the refusal of a request that ended so, with its text and
// Retry-After from the table.
func refuse(e Ending) *Refusal {
	return &Refusal{Ending: e, Text: e.Text(), RetryAfter: e.RetryAfter()}
}

func (r *Refusal) Error() string { return fmt.Sprintf("%d %s", r.Ending.Code(), r.Text) }

// CallStarter is the engine as the front ends see it.
//
// StartCall admits a call and returns its id, or a *Refusal. onProgress is
// called for every result of the call, in order and never concurrently, the
// first being 100 "In progress" and the last the one whose Final() is true;
// it is never called after that. It must not block: front ends hand the
// result to their own actor or channel.
type CallStarter interface {
	StartCall(req CallRequest, onProgress func(Progress)) (callID string, err error)
}
