// Package cdr keeps a record of every call — its request, its mode and each
// result with its time — from its first result until a while after its last,
// and writes one JSON line per finished call: the call detail record.
//
// The Journal is the engine's Observer. The JSON API reads its records and
// watches them for live progress (server-sent events, status callbacks);
// Followers such as the metrics are told about every change.
package cdr

import (
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

// Follower is told about every change to a record, after the journal has
// applied it. Its methods are called from call actors and must not block.
type Follower interface {
	// CallResult reports a result; c already includes it.
	CallResult(c Call, p actors.Progress)
	// CallFallback reports a refused REFER turned into an anchored call. c.ID
	// is "" when the engine did not say which call it was and the journal
	// could not tell (see Journal.Fallback).
	CallFallback(c Call)
}

// InviteFollower is a Follower that also wants to know when the initiator
// INVITE of a call was sent.
type InviteFollower interface {
	CallInviteSent(c Call)
}

// Defaults for Options left at zero; the settings among them
// (api.call_retention, api.max_finished_calls) come from the settings
// table, so each is written once.
var (
	DefaultRetention   = config.Default().API.CallRetention
	DefaultMaxFinished = config.Default().API.MaxFinishedCalls
)

const (
	DefaultQueue = 4096
	watchBuffer  = 16 // far more results than one call has
)

// Options configures a Journal.
type Options struct {
	// Retention is how long a finished call stays readable.
	Retention time.Duration
	// MaxFinished bounds the finished calls kept; the oldest go first.
	MaxFinished int
	// Records receives one JSON line per finished call; nil writes none.
	// Writes happen on the journal's own goroutine, never on a call's.
	Records io.Writer
	// Queue bounds the records waiting to be written; more are dropped and
	// counted (see Dropped).
	Queue int
	// Followers are told about every change.
	Followers []Follower
	// Logger receives write errors and dropped records. nil discards.
	Logger *slog.Logger
}

// The engine's Observer; FallbackCall, InviteSent and CallEnded are the
// forms an engine that names the call can use as well.
var _ actors.Observer = (*Journal)(nil)

// Journal records calls. It implements actors.Observer; create it with New
// and Close it to flush the records.
type Journal struct {
	retention   time.Duration
	maxFinished int
	followers   []Follower
	log         *slog.Logger

	mu       sync.Mutex
	calls    map[string]*entry
	expiries []expiry // in time order; stale ones are skipped
	finished int      // entries with an expiry set that have their final result
	sawEnd   bool     // the engine reports call ends: keep connected calls until then
	dropped  int

	lines  chan []byte
	closed chan struct{} // closed when the writer goroutine has finished
	once   sync.Once
}

type entry struct {
	call     Call
	expireAt time.Time // zero: not expiring (running, or connected and not yet ended)
	watchers map[*Watch]struct{}
}

type expiry struct {
	id string
	at time.Time
}

// New starts a journal and, when o.Records is set, its writer goroutine.
func New(o Options) *Journal {
	o.Retention = config.OrDefault(o.Retention, DefaultRetention)
	o.MaxFinished = config.OrDefault(o.MaxFinished, DefaultMaxFinished)
	o.Queue = config.OrDefault(o.Queue, DefaultQueue)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Journal{
		retention:   o.Retention,
		maxFinished: o.MaxFinished,
		followers:   o.Followers,
		log:         o.Logger.With("component", "cdr"),
		calls:       make(map[string]*entry),
		closed:      make(chan struct{}),
	}
	if o.Records == nil {
		close(j.closed)
		return j
	}
	j.lines = make(chan []byte, o.Queue)
	go j.write(o.Records, j.lines)
	return j
}

// AddFollower adds a follower; call it before the engine starts calls.
func (j *Journal) AddFollower(f Follower) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.followers = append(j.followers, f)
}

func (j *Journal) write(w io.Writer, lines <-chan []byte) {
	defer close(j.closed)
	for line := range lines {
		if _, err := w.Write(line); err != nil {
			j.log.Error("cdr write failed", "error", err)
		}
	}
}

// Close writes the records still queued and stops the writer. Results
// reported after Close are kept in memory but write no record.
func (j *Journal) Close() {
	j.once.Do(func() {
		j.mu.Lock()
		if j.lines != nil {
			close(j.lines)
			j.lines = nil
		}
		j.mu.Unlock()
	})
	<-j.closed
}

// Dropped is the number of records not written because the queue was full.
func (j *Journal) Dropped() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.dropped
}

// Track makes a call known before its first result, so a client can watch it
// from the moment StartCall returned its id; requestID is the JSON API's
// request_id, kept in the record. A call that never reports a result is
// forgotten after the retention time.
func (j *Journal) Track(id string, req actors.CallRequest, requestID string) {
	now := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.calls[id]
	if !ok {
		e = j.newEntry(id, req, now)
		j.expireLocked(id, e, now)
	}
	e.call.RequestID = requestID
	j.sweepLocked(now)
}

func (j *Journal) newEntry(id string, req actors.CallRequest, now time.Time) *entry {
	e := &entry{call: Call{ID: id, Request: req, Mode: modeOf(req), State: StateStarting, CreatedAt: now}}
	j.calls[id] = e
	return e
}

// Result records a result; see actors.Observer.
func (j *Journal) Result(req actors.CallRequest, p actors.Progress) {
	now := time.Now()
	r := resultOf(p)
	j.mu.Lock()
	e, ok := j.calls[p.CallID]
	if !ok {
		// The engine's 100 can arrive before Track: the call was created
		// when that result was, not when it reached the journal.
		created := now
		if !p.At.IsZero() && p.At.Before(now) {
			created = p.At
		}
		e = j.newEntry(p.CallID, req, created)
	}
	if _, final := e.call.Final(); final {
		// Nothing follows a final; the engine guarantees it, this keeps the
		// record true if it ever did not.
		j.mu.Unlock()
		return
	}
	if e.call.State == StateStarting {
		e.expireAt = time.Time{} // it is running after all
	}
	e.call.Results = append(e.call.Results, r)
	e.call.State = stateAfter(p)
	for w := range e.watchers {
		w.send(r)
	}
	var line []byte
	if r.Final() {
		for w := range e.watchers {
			w.close()
		}
		e.watchers = nil
		if e.call.State != StateConnected || e.call.Mode == actors.ModeRefer || !j.sawEnd {
			j.expireLocked(p.CallID, e, now)
		}
		if j.lines != nil { // no records file: nothing to encode
			line = recordLine(e.call)
		}
	}
	snap := e.call.clone()
	j.sweepLocked(now)
	followers := j.followers
	queued := j.queueLocked(line)
	j.mu.Unlock()

	if !queued {
		j.log.Warn("cdr dropped: write queue full", "call", p.CallID)
	}
	for _, f := range followers {
		f.CallResult(snap, p)
	}
}

// queueLocked hands a record line to the writer without waiting; j.mu is held.
func (j *Journal) queueLocked(line []byte) bool {
	if line == nil || j.lines == nil {
		return true
	}
	select {
	case j.lines <- line:
		return true
	default:
		j.dropped++
		return false
	}
}

// Fallback records that call id fell back from REFER to anchored; see
// actors.Observer.
func (j *Journal) Fallback(id string, req actors.CallRequest) {
	j.mu.Lock()
	snap := Call{ID: id, Request: req, Mode: actors.ModeFallback}
	if e, ok := j.calls[id]; ok {
		e.call.Mode = actors.ModeFallback
		snap = e.call.clone()
	}
	followers := j.followers
	j.mu.Unlock()
	for _, f := range followers {
		f.CallFallback(snap)
	}
}

// InviteSent records when the initiator INVITE of call id went out.
func (j *Journal) InviteSent(id string, req actors.CallRequest, at time.Time) {
	j.mu.Lock()
	e, ok := j.calls[id]
	if !ok {
		e = j.newEntry(id, req, time.Now())
	}
	e.call.InviteAt = at
	snap := e.call.clone()
	followers := j.followers
	j.mu.Unlock()
	for _, f := range followers {
		if inv, ok := f.(InviteFollower); ok {
			inv.CallInviteSent(snap)
		}
	}
}

// CallEnded records that call id has ended for good (its legs are gone).
// Once the engine reports ends, connected anchored calls are kept until
// theirs, however long they talk.
func (j *Journal) CallEnded(id string, at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sawEnd = true
	j.endLocked(id, at)
}

// MarkEnded records that call id is known to have ended, e.g. because the
// engine no longer knows it; it is CallEnded for callers other than the
// engine, and does not change how later calls are kept.
func (j *Journal) MarkEnded(id string, at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.endLocked(id, at)
}

func (j *Journal) endLocked(id string, at time.Time) {
	e, ok := j.calls[id]
	if !ok || !e.call.EndedAt.IsZero() {
		return
	}
	e.call.EndedAt = at
	if e.call.State == StateConnected {
		e.call.State = StateEnded
	}
	if e.expireAt.IsZero() {
		j.expireLocked(id, e, time.Now())
	}
}

// expireLocked schedules e to be forgotten after the retention time.
func (j *Journal) expireLocked(id string, e *entry, now time.Time) {
	if !e.expireAt.IsZero() {
		return
	}
	e.expireAt = now.Add(j.retention)
	j.expiries = append(j.expiries, expiry{id: id, at: e.expireAt})
	if e.call.State != StateStarting {
		j.finished++
	}
}

// sweepLocked forgets expired calls and, past MaxFinished, the oldest
// finished ones (and calls tracked before them that never started).
func (j *Journal) sweepLocked(now time.Time) {
	for len(j.expiries) > 0 {
		x := j.expiries[0]
		e, ok := j.calls[x.id]
		live := ok && e.expireAt.Equal(x.at)
		if live && now.Before(x.at) && j.finished <= j.maxFinished {
			return
		}
		j.expiries[0] = expiry{}
		j.expiries = j.expiries[1:]
		if live {
			for w := range e.watchers {
				w.close()
			}
			delete(j.calls, x.id)
			if e.call.State != StateStarting {
				j.finished--
			}
		}
	}
	if cap(j.expiries) > 64 && len(j.expiries) < cap(j.expiries)/4 {
		j.expiries = append([]expiry(nil), j.expiries...)
	}
}

// Get returns a snapshot of call id.
func (j *Journal) Get(id string) (Call, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sweepLocked(time.Now())
	e, ok := j.calls[id]
	if !ok {
		return Call{}, false
	}
	return e.call.clone(), true
}

// List returns snapshots of the calls kept, newest first; activeOnly keeps
// those that may still be going on. limit > 0 caps the number returned.
func (j *Journal) List(activeOnly bool, limit int) []Call {
	if !activeOnly {
		return j.Select(nil, limit)
	}
	return j.Select(Call.Active, limit)
}

// Select returns snapshots of the calls keep accepts (nil: all), newest
// first; limit > 0 caps the number returned. keep sees the journal's own
// record under its lock: it must be quick and must not keep the Call.
// Only the calls returned are copied, so a short list out of many calls
// is cheap.
func (j *Journal) Select(keep func(Call) bool, limit int) []Call {
	j.mu.Lock()
	j.sweepLocked(time.Now())
	picked := make([]*entry, 0, len(j.calls))
	for _, e := range j.calls {
		if keep == nil || keep(e.call) {
			picked = append(picked, e)
		}
	}
	sort.Slice(picked, func(a, b int) bool {
		ca, cb := &picked[a].call, &picked[b].call
		if !ca.CreatedAt.Equal(cb.CreatedAt) {
			return ca.CreatedAt.After(cb.CreatedAt)
		}
		return ca.ID < cb.ID
	})
	if limit > 0 && len(picked) > limit {
		picked = picked[:limit]
	}
	out := make([]Call, len(picked))
	for i, e := range picked {
		out[i] = e.call.clone()
	}
	j.mu.Unlock()
	return out
}

func (c Call) clone() Call {
	c.Results = append([]Result(nil), c.Results...)
	return c
}

// Watch follows one call's results: Past holds those reported before the
// watch began, C delivers the later ones and is closed after the final (or
// when the call is forgotten, or Stop is called). No result is in both and
// none is missed.
type Watch struct {
	Past []Result
	C    <-chan Result

	c      chan Result
	j      *Journal
	id     string
	closed bool
	lost   bool
}

// Watch starts following call id; false when the journal does not know it.
func (j *Journal) Watch(id string) (*Watch, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.calls[id]
	if !ok {
		return nil, false
	}
	c := make(chan Result, watchBuffer)
	w := &Watch{Past: append([]Result(nil), e.call.Results...), C: c, c: c, j: j, id: id}
	if _, final := e.call.Final(); final {
		w.close()
		return w, true
	}
	if e.watchers == nil {
		e.watchers = make(map[*Watch]struct{})
	}
	e.watchers[w] = struct{}{}
	return w, true
}

// send delivers r without waiting; j.mu is held. A watcher that cannot keep
// up is cut off rather than allowed to stall the call.
func (w *Watch) send(r Result) {
	if w.closed {
		return
	}
	select {
	case w.c <- r:
	default:
		w.lost = true
		w.close()
	}
}

func (w *Watch) close() {
	if !w.closed {
		w.closed = true
		close(w.c)
	}
}

// Lost reports whether results were dropped because the watcher did not
// read them: C was closed early.
func (w *Watch) Lost() bool {
	w.j.mu.Lock()
	defer w.j.mu.Unlock()
	return w.lost
}

// Stop ends the watch and closes C.
func (w *Watch) Stop() {
	w.j.mu.Lock()
	defer w.j.mu.Unlock()
	if e, ok := w.j.calls[w.id]; ok {
		delete(e.watchers, w)
	}
	w.close()
}
