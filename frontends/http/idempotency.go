package httpfront

import (
	"sync"
	"time"
)

// requestIDs remembers the calls placed with a request_id for a window, so
// a client that retries a POST (after a timeout, say) gets the first call
// back instead of ringing the phone twice. Memory is bounded: past max
// entries the oldest is forgotten early.
type requestIDs struct {
	mu     sync.Mutex // held by createCall across look-up, start and remember
	window time.Duration
	max    int
	byID   map[string]*requestIDEntry
	order  []*requestIDEntry // oldest first; entries are never re-dated
}

type requestIDEntry struct {
	id          string
	fingerprint string // the request's fields: a reuse for another request is a conflict
	created     createdCall
	at          time.Time
}

func newRequestIDs(window time.Duration, max int) *requestIDs {
	return &requestIDs{window: window, max: max, byID: make(map[string]*requestIDEntry)}
}

// lookup finds a live entry; r.mu is held.
func (r *requestIDs) lookup(id string, now time.Time) (*requestIDEntry, bool) {
	r.expire(now)
	e, ok := r.byID[id]
	return e, ok
}

// remember records the call placed for id; r.mu is held.
func (r *requestIDs) remember(id, fingerprint string, created createdCall, now time.Time) {
	r.expire(now)
	for len(r.order) >= r.max {
		r.drop()
	}
	e := &requestIDEntry{id: id, fingerprint: fingerprint, created: created, at: now}
	r.byID[id] = e
	r.order = append(r.order, e)
}

func (r *requestIDs) expire(now time.Time) {
	for len(r.order) > 0 && now.Sub(r.order[0].at) >= r.window {
		r.drop()
	}
}

func (r *requestIDs) drop() {
	e := r.order[0]
	r.order[0] = nil
	r.order = r.order[1:]
	if r.byID[e.id] == e {
		delete(r.byID, e.id)
	}
	if cap(r.order) > 64 && len(r.order) < cap(r.order)/4 {
		r.order = append([]*requestIDEntry(nil), r.order...)
	}
}
