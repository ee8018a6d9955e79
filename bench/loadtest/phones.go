package loadtest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// phonePool is the simulated phones of a bench: initiators play the Kind
// of each call, destinations answer the server's offerless INVITE with an
// offer and hang up after the talk time. Every event is recorded in the
// current trial's table, found by the call's URI user.
type phonePool struct {
	inits, dests []*phone.Phone
	transport    string // "udp" or "tcp"
	cur          *atomic.Pointer[table]
	behaviours   [numKinds]phone.Behaviour
	dest         phone.Behaviour
	legs         sync.Map // SIP Call-ID -> leg; kept for the whole trial, as events of a call come in any order
	stray        atomic.Int64
	// external phones: calls go to these host:ports, and nothing is seen
	// of what the phones do.
	external                bool
	initiatorAt, destinatAt string
}

// externalPhones addresses calls to phones the bench did not start.
func externalPhones(initiatorAt, destinationAt, transport string) *phonePool {
	return &phonePool{external: true, initiatorAt: initiatorAt, destinatAt: destinationAt, transport: transport}
}

// leg is one SIP call of a bench call, as a phone sees it.
type leg struct {
	idx  uint64
	dest bool
}

type phoneOptions struct {
	host       string // loopback address to bind
	transport  string
	initiators int
	dests      int
	ring       bool          // phones send 180 first
	ringDelay  time.Duration // before the 200
	talk       time.Duration // destination's time before BYE
}

func newPhonePool(o phoneOptions, cur *atomic.Pointer[table]) (*phonePool, error) {
	p := &phonePool{transport: o.transport, cur: cur}
	base := phone.Behaviour{Ring: o.ring, RingDelay: o.ringDelay}
	p.behaviours[KindAccept] = base
	p.behaviours[KindRefuse] = base
	p.behaviours[KindRefuse].Refer = phone.ReferBehaviour{Mode: phone.ReferReject, RejectCode: 603}
	p.behaviours[KindBusy] = phone.Behaviour{Ring: o.ring, RingDelay: o.ringDelay, RejectCode: 486}
	p.behaviours[KindNoAnswer] = phone.Behaviour{Ring: o.ring, NoAnswer: true}
	p.dest = base
	p.dest.TalkTime = max(o.talk, time.Nanosecond) // 0 would mean "never hang up"

	start := func(n int, name string, choose func(*sip.Request) phone.Behaviour, onEvent func(phone.Event)) ([]*phone.Phone, error) {
		var phones []*phone.Phone
		for i := range n {
			ph, err := phone.New(phone.Config{User: name + strconv.Itoa(i), Host: o.host, Transports: []string{o.transport},
				NoRecording: true, Choose: choose, OnEvent: onEvent})
			if err != nil {
				return phones, err
			}
			phones = append(phones, ph)
		}
		return phones, nil
	}
	var err error
	if p.inits, err = start(o.initiators, "initiator", p.chooseInitiator, p.onInitiatorEvent); err == nil {
		p.dests, err = start(o.dests, "destination", p.chooseDestination, p.onDestinationEvent)
	}
	if err != nil {
		_ = p.close()
		return nil, err
	}
	return p, nil
}

// uris are the full SIP URIs of call idx's initiator and destination.
func (p *phonePool) uris(idx uint64) (initiator, destination string) {
	if p.external {
		param := ""
		if p.transport != "udp" {
			param = ";transport=" + p.transport
		}
		return "sip:" + callUser('c', idx) + "@" + p.initiatorAt + param, "sip:" + callUser('d', idx) + "@" + p.destinatAt + param
	}
	return p.uri(p.inits[idx%uint64(len(p.inits))], 'c', idx), p.uri(p.dests[idx%uint64(len(p.dests))], 'd', idx)
}

func (p *phonePool) uri(ph *phone.Phone, role byte, idx uint64) string {
	u := ph.URI(p.transport)
	u.User = callUser(role, idx)
	return u.String()
}

func (p *phonePool) register(req *sip.Request, dest bool) *callRec {
	role, idx, ok := parseCallUser(req.Recipient.User)
	if !ok || (role == 'd') != dest {
		p.stray.Add(1)
		return nil
	}
	r := p.cur.Load().get(idx)
	if r == nil {
		p.stray.Add(1) // a call of an earlier trial, or not ours
		return nil
	}
	if id := req.CallID(); id != nil {
		p.legs.Store(id.Value(), leg{idx: idx, dest: dest})
	}
	return r
}

// unknownCall is the answer to an INVITE the bench did not place.
var unknownCall = phone.Behaviour{RejectCode: 404}

func (p *phonePool) chooseInitiator(req *sip.Request) phone.Behaviour {
	r := p.register(req, false)
	if r == nil {
		return unknownCall
	}
	return p.behaviours[r.kind]
}

func (p *phonePool) chooseDestination(req *sip.Request) phone.Behaviour {
	if p.register(req, true) == nil {
		return unknownCall
	}
	return p.dest
}

func (p *phonePool) lookup(ev phone.Event, dest bool) (*table, *callRec) {
	v, ok := p.legs.Load(ev.CallID)
	if !ok || v.(leg).dest != dest {
		return nil, nil
	}
	t := p.cur.Load()
	return t, t.get(v.(leg).idx)
}

// initiatorFlags and destinationFlags are the flag each phone event sets on
// its call's record; events not listed are not recorded.
var (
	initiatorFlags = map[phone.EventKind]uint32{
		phone.EventInvite:        fInitInvite,
		phone.EventAnswered:      fInitAnswered,
		phone.EventConfirmed:     fInitConfirmed,
		phone.EventRejected:      fInitRejected,
		phone.EventCancelled:     fInitCancelled,
		phone.EventReferAccepted: fReferAccepted,
		phone.EventReferRejected: fReferRejected,
		phone.EventNotifySent:    fNotifyFinal,
		phone.EventReinvite:      fInitReinvite,
		phone.EventByeReceived:   fInitBye,
	}
	destinationFlags = map[phone.EventKind]uint32{
		phone.EventInvite:    fDestInvite,
		phone.EventAnswered:  fDestAnswered,
		phone.EventConfirmed: fDestConfirmed,
		phone.EventByeSent:   fDestByeSent,
	}
)

func (p *phonePool) onInitiatorEvent(ev phone.Event) {
	f, ok := initiatorFlags[ev.Kind]
	if !ok {
		return
	}
	t, r := p.lookup(ev, false)
	if r == nil {
		return
	}
	at := t.since(ev.At)
	switch ev.Kind {
	case phone.EventInvite:
		r.invite.CompareAndSwap(0, at)
	case phone.EventAnswered:
		r.answered.CompareAndSwap(0, at)
	case phone.EventNotifySent:
		if rfc3261.Provisional(ev.Code) {
			return // only the final NOTIFY counts
		}
		r.connected.CompareAndSwap(0, at)
	}
	t.setFlag(r, f)
}

func (p *phonePool) onDestinationEvent(ev phone.Event) {
	f, ok := destinationFlags[ev.Kind]
	if !ok {
		return
	}
	t, r := p.lookup(ev, true)
	if r == nil {
		return
	}
	if ev.Kind == phone.EventConfirmed {
		r.connected.CompareAndSwap(0, t.since(ev.At))
	}
	t.setFlag(r, f)
}

// forget drops the Call-ID map between trials.
func (p *phonePool) forget() { p.legs.Clear() }

// stats adds up the phones' own counters.
func (p *phonePool) stats() (initiators, destinations phone.Stats) {
	add := func(sum *phone.Stats, s phone.Stats) {
		sum.CallsReceived += s.CallsReceived
		sum.Ringing += s.Ringing
		sum.Answered += s.Answered
		sum.Confirmed += s.Confirmed
		sum.Rejected += s.Rejected
		sum.Cancelled += s.Cancelled
		sum.Reinvites += s.Reinvites
		sum.RefersAccepted += s.RefersAccepted
		sum.RefersRejected += s.RefersRejected
		sum.NotifiesSent += s.NotifiesSent
		sum.ByesReceived += s.ByesReceived
		sum.ByesSent += s.ByesSent
	}
	for _, ph := range p.inits {
		add(&initiators, ph.Stats())
	}
	for _, ph := range p.dests {
		add(&destinations, ph.Stats())
	}
	return initiators, destinations
}

func (p *phonePool) close() error {
	var errs []error
	for _, ph := range append(append([]*phone.Phone(nil), p.inits...), p.dests...) {
		if err := ph.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing phones: %w", err)
	}
	return nil
}
