package phone

import (
	"sync/atomic"
	"time"
)

// EventKind names a moment in a call, as the phone sees it.
type EventKind string

// Event kinds; each one also counts in Stats.
const (
	EventInvite        EventKind = "invite"         // new INVITE received (after any challenge)
	EventChallenged    EventKind = "challenged"     // INVITE answered 401
	EventRinging       EventKind = "ringing"        // 180 (or 183) sent
	EventAnswered      EventKind = "answered"       // 200 sent
	EventConfirmed     EventKind = "confirmed"      // ACK for the 200 received
	EventRejected      EventKind = "rejected"       // final >= 300 sent
	EventCancelled     EventKind = "cancelled"      // CANCEL received
	EventReinvite      EventKind = "reinvite"       // re-INVITE received
	EventReferAccepted EventKind = "refer-accepted" // REFER answered 202
	EventReferRejected EventKind = "refer-rejected" // REFER answered >= 300
	EventNotifySent    EventKind = "notify-sent"    // NOTIFY sent
	EventByeReceived   EventKind = "bye-received"
	EventByeSent       EventKind = "bye-sent"
)

// Event is handed to Config.OnEvent.
type Event struct {
	At     time.Time
	CallID string
	Kind   EventKind
	Code   int // the status sent, for answered/rejected/refer events
}

// Stats counts events since the phone started.
type Stats struct {
	CallsReceived  uint64
	Challenged     uint64
	Ringing        uint64
	Answered       uint64
	Confirmed      uint64
	Rejected       uint64
	Cancelled      uint64
	Reinvites      uint64
	RefersAccepted uint64
	RefersRejected uint64
	NotifiesSent   uint64
	ByesReceived   uint64
	ByesSent       uint64
}

type counters struct {
	calls, challenged, ringing, answered, confirmed, rejected, cancelled, reinvites,
	refersAccepted, refersRejected, notifies, byesIn, byesOut atomic.Uint64
}

func (c *counters) of(k EventKind) *atomic.Uint64 {
	switch k {
	case EventInvite:
		return &c.calls
	case EventChallenged:
		return &c.challenged
	case EventRinging:
		return &c.ringing
	case EventAnswered:
		return &c.answered
	case EventConfirmed:
		return &c.confirmed
	case EventRejected:
		return &c.rejected
	case EventCancelled:
		return &c.cancelled
	case EventReinvite:
		return &c.reinvites
	case EventReferAccepted:
		return &c.refersAccepted
	case EventReferRejected:
		return &c.refersRejected
	case EventNotifySent:
		return &c.notifies
	case EventByeReceived:
		return &c.byesIn
	case EventByeSent:
		return &c.byesOut
	}
	return nil
}

// Stats returns the phone's counters.
func (p *Phone) Stats() Stats {
	c := &p.counters
	return Stats{
		CallsReceived:  c.calls.Load(),
		Challenged:     c.challenged.Load(),
		Ringing:        c.ringing.Load(),
		Answered:       c.answered.Load(),
		Confirmed:      c.confirmed.Load(),
		Rejected:       c.rejected.Load(),
		Cancelled:      c.cancelled.Load(),
		Reinvites:      c.reinvites.Load(),
		RefersAccepted: c.refersAccepted.Load(),
		RefersRejected: c.refersRejected.Load(),
		NotifiesSent:   c.notifies.Load(),
		ByesReceived:   c.byesIn.Load(),
		ByesSent:       c.byesOut.Load(),
	}
}

func (p *Phone) emit(callID string, kind EventKind, code int) {
	if n := p.counters.of(kind); n != nil {
		n.Add(1)
	}
	if p.cfg.OnEvent != nil {
		p.cfg.OnEvent(Event{At: time.Now(), CallID: callID, Kind: kind, Code: code})
	}
}
