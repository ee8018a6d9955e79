package transport

import (
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// linger absorbs the retransmissions that arrive after the transport or a
// call has answered: a request repeated because our response was lost gets
// that response again, and a final response to our INVITE repeated because
// our ACK was lost gets the ACK again. What it keeps per entry is the
// encoded message and where it went, a few hundred bytes, for one
// transaction linger (RFC 3261's 64*T1 by default: Timers D, J and the 2xx
// ACK window). Every entry lives equally long, so expiry is a FIFO queue
// swept by the clock, with no timer per entry; a call's actors can be
// released the moment the call ends.
type linger struct {
	ttl   time.Duration
	mu    sync.Mutex
	byKey map[lingerKey]*lingerEntry
	fifo  []*lingerEntry // in expiry order
	head  int
}

// lingerKey names what a retransmission is matched on: the branch of the
// top Via plus the method for a request (CANCEL and ACK share the INVITE's
// branch; RFC 3261 §17.2.3), the branch plus the To tag for a final
// response to our INVITE (each fork's 2xx needs its own ACK). The Call-ID
// is part of it too: a peer that reuses branches across calls (they are
// meant to be unique, not all phones make them so) must not get another
// call's answer.
type lingerKey struct {
	branch string
	method string // a request's; "" for a response
	toTag  string // a response's
	callID string
}

type lingerEntry struct {
	key     lingerKey
	raw     []byte
	dest    destination
	expires time.Time
}

// destination is where an encoded message goes.
type destination struct {
	transport string         // "UDP", "TCP", "TLS"
	addr      netip.AddrPort // UDP, or a connection's remote address
}

func newLinger(ttl time.Duration) *linger {
	return &linger{ttl: ttl, byKey: map[lingerKey]*lingerEntry{}}
}

// keep stores raw under key, replacing an older entry (a 200 that follows
// the 100 we lingered for the same request, say).
func (l *linger) keep(key lingerKey, raw []byte, dest destination) {
	if l.ttl <= 0 || key.branch == "" {
		return
	}
	e := &lingerEntry{key: key, raw: raw, dest: dest, expires: time.Now().Add(l.ttl)}
	l.mu.Lock()
	l.byKey[key] = e
	l.fifo = append(l.fifo, e)
	l.mu.Unlock()
}

func (l *linger) lookup(key lingerKey) *lingerEntry {
	l.mu.Lock()
	e := l.byKey[key]
	l.mu.Unlock()
	return e
}

// sweep forgets the entries that have expired.
func (l *linger) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.head < len(l.fifo) && !l.fifo[l.head].expires.After(now) {
		e := l.fifo[l.head]
		if l.byKey[e.key] == e {
			delete(l.byKey, e.key)
		}
		l.fifo[l.head] = nil
		l.head++
	}
	// Reuse the queue's space once half of it is spent.
	if l.head > 1024 && l.head*2 > len(l.fifo) {
		n := copy(l.fifo, l.fifo[l.head:])
		clear(l.fifo[n:])
		l.fifo = l.fifo[:n]
		l.head = 0
	}
}

func requestKey(req *sip.Request) lingerKey {
	v, cid := req.Via(), req.CallID()
	if v == nil || cid == nil {
		return lingerKey{}
	}
	b, _ := v.Params.Get("branch")
	return lingerKey{branch: b, method: string(req.Method), callID: cid.Value()}
}

func responseKey(res *sip.Response) lingerKey {
	v, cid := res.Via(), res.CallID()
	if v == nil || cid == nil {
		return lingerKey{}
	}
	b, _ := v.Params.Get("branch")
	return lingerKey{branch: b, toTag: ToTag(res), callID: cid.Value()}
}
