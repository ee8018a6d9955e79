package cdr

import (
	"time"

	"github.com/clicktocall/clicktocall/actors"
)

// State is where a call stands, as the JSON API reports it.
type State string

// The states of a call, in the order a successful call passes them. A
// finished call's state is its ending's CDRState.
const (
	StateStarting           State = "starting"            // admitted, no result seen yet
	StateInProgress         State = "in_progress"         // 100
	StateRingingInitiator   State = "ringing_initiator"   // 180 Initiator
	StateInitiatorConnected State = "initiator_connected" // 200 Initiator
	StateRingingDestination State = "ringing_destination" // 180 Destination
	StateConnected          State = actors.StateConnected // final 2xx Destination
	StateEnded              State = "ended"               // connected, and since hung up
	StateCancelled          State = actors.StateCancelled // final 487
	StateFailed             State = actors.StateFailed    // any other final
)

// States lists every State, in that order.
var States = []State{StateStarting, StateInProgress, StateRingingInitiator, StateInitiatorConnected,
	StateRingingDestination, StateConnected, StateEnded, StateCancelled, StateFailed}

// Result is one result of a call, as the XML interface streams it.
type Result struct {
	Code int       `json:"code"`
	Leg  string    `json:"leg,omitempty"` // "Initiator", "Destination" or "" (the 100 and request errors)
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Final reports whether r ends its call's results (see actors.Progress.Final).
func (r Result) Final() bool { return r.progress().Final() }

// InProgress reports whether r is the call's 100 "In progress".
func (r Result) InProgress() bool { return r.progress().InProgress() }

// Ringing reports whether r is a leg's 180.
func (r Result) Ringing() bool { return r.progress().Ringing() }

// Answered reports whether r is a 2xx: a leg answered, or the call connected.
func (r Result) Answered() bool { return r.progress().Answered() }

func (r Result) progress() actors.Progress { return actors.Progress{Code: r.Code, Leg: legOf(r.Leg)} }

func legOf(name string) actors.Leg {
	for _, l := range []actors.Leg{actors.LegInitiator, actors.LegDestination} {
		if l.String() == name {
			return l
		}
	}
	return actors.LegNone
}

func resultOf(p actors.Progress) Result {
	return Result{Code: p.Code, Leg: p.Leg.String(), Text: p.Text, At: p.At}
}

// Call is a snapshot of one call's record. It is a copy: holding it does not
// hold the journal.
type Call struct {
	ID        string
	RequestID string // the JSON API's request_id, if any
	Request   actors.CallRequest
	Mode      actors.Mode
	State     State
	Results   []Result  // in the order they were reported, the final one last
	CreatedAt time.Time // when the journal first heard of the call
	InviteAt  time.Time // when the initiator INVITE was sent; zero until the engine reports it
	EndedAt   time.Time // when the call ended, if known (a connected anchored call ends later than its final)
}

// Final is the call's final result, if it has one.
func (c Call) Final() (Result, bool) {
	if n := len(c.Results); n > 0 && c.Results[n-1].Final() {
		return c.Results[n-1], true
	}
	return Result{}, false
}

// Active reports whether the call may still be going on: it has no final
// result yet, or it is a connected anchored call not known to have ended.
func (c Call) Active() bool {
	switch c.State {
	case StateFailed, StateCancelled, StateEnded:
		return false
	case StateConnected:
		// A transferred (REFER) call has left the server; an anchored one
		// goes on through it until a BYE.
		return c.Mode != actors.ModeRefer
	}
	return true
}

// StartedAt is when the call was admitted: the time of its 100, else when
// the journal first heard of it.
func (c Call) StartedAt() time.Time {
	if len(c.Results) > 0 && c.Results[0].InProgress() {
		return c.Results[0].At
	}
	return c.CreatedAt
}

// stateAfter is the state a call is in once p has been reported.
func stateAfter(p actors.Progress) State {
	switch {
	case p.Final():
		return State(p.End().CDRState())
	case p.Leg == actors.LegNone:
		return StateInProgress
	case p.Answered():
		return StateInitiatorConnected
	case p.Leg == actors.LegInitiator:
		return StateRingingInitiator
	default:
		return StateRingingDestination
	}
}

func modeOf(req actors.CallRequest) actors.Mode {
	if req.Anchor {
		return actors.ModeAnchored
	}
	return actors.ModeRefer
}
