// Package timing is the process's one timer service: a hashed timing wheel
// run by a single goroutine that posts each expiry as a message to its
// owner's mailbox. SIP needs several timers per message (RFC 3261 §17:
// retransmission, timeout, linger); a time.AfterFunc each would start a
// goroutine per expiry and keep a runtime timer per pending one. Here an
// armed timer is a list node, and an expiry costs one mailbox post.
package timing

import (
	"sync"
	"time"
)

// Poster receives timer expiries; Post must not block (an actor mailbox).
type Poster interface {
	Post(msg any)
}

// Clock arms timers. Wheel is the real one; tests use a fake that fires
// what they choose, when they choose.
type Clock interface {
	// After posts msg to p once d has passed, unless the timer is stopped first.
	After(d time.Duration, p Poster, msg any) *Timer
}

// Timer is an armed timer. The zero of *Timer (nil) is a stopped timer.
type Timer struct {
	w          *Wheel
	prev, next *Timer
	slot       int
	rounds     int
	p          Poster
	msg        any
	armed      bool
	fake       *Fake         // set for a Fake's timers
	after      time.Duration // as armed (Fake)
}

// Stop disarms t; it reports whether t was still pending. A message already
// posted is not taken back: owners tag timer messages so they can tell a
// stale one (a generation, or the transaction it belongs to).
func (t *Timer) Stop() bool {
	if t == nil {
		return false
	}
	if t.fake != nil {
		return t.fake.stop(t)
	}
	if t.w == nil {
		return false
	}
	w := t.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if !t.armed {
		return false
	}
	w.unlink(t)
	return true
}

// Wheel is a hashed timing wheel with a fixed tick.
type Wheel struct {
	tick  time.Duration
	mu    sync.Mutex
	slots []Timer // list heads (sentinels)
	cur   int     // the slot the next tick runs
	count int
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	start time.Time
	ticks int64 // ticks run since start
}

// NewWheel starts a wheel of slots slots of tick each. Timers longer than
// one turn (tick*slots) wait whole turns in their slot. The goroutine sleeps
// while no timer is armed.
func NewWheel(tick time.Duration, slots int) *Wheel {
	w := &Wheel{tick: tick, slots: make([]Timer, slots), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := range w.slots {
		w.slots[i].next, w.slots[i].prev = &w.slots[i], &w.slots[i]
	}
	go w.run()
	return w
}

// Default is the process's wheel: 5 ms ticks (SIP's shortest timer, T1, is
// 500 ms), a turn of about 20 s.
var Default = NewWheel(5*time.Millisecond, 4096)

// After implements Clock.
func (w *Wheel) After(d time.Duration, p Poster, msg any) *Timer {
	t := &Timer{w: w, p: p, msg: msg}
	w.mu.Lock()
	if w.count == 0 {
		// The goroutine slept: the wheel's time restarts now.
		w.start, w.ticks = time.Now(), 0
	}
	// Slot cur+k runs k+1 ticks after the last tick run; now is up to a
	// tick past that, plus any ticks the goroutine has yet to run. Counting
	// both keeps a timer from ever firing early.
	n := int((d + w.tick - 1) / w.tick)
	if late := int(time.Since(w.start)/w.tick) - int(w.ticks); late > 0 {
		n += late
	}
	n = max(n, 1)
	t.slot = (w.cur + n) % len(w.slots)
	t.rounds = n / len(w.slots)
	head := &w.slots[t.slot]
	t.prev, t.next = head.prev, head
	head.prev.next = t
	head.prev = t
	t.armed = true
	w.count++
	wasIdle := w.count == 1
	w.mu.Unlock()
	if wasIdle {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return t
}

func (w *Wheel) unlink(t *Timer) {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.prev, t.next = nil, nil
	t.armed = false
	w.count--
}

// Pending is the number of armed timers (for tests and metrics).
func (w *Wheel) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// Close stops the wheel's goroutine; armed timers never fire.
func (w *Wheel) Close() {
	close(w.stop)
	<-w.done
}

func (w *Wheel) run() {
	defer close(w.done)
	var fire []*Timer
	sleep := time.NewTimer(time.Hour)
	sleep.Stop()
	for {
		w.mu.Lock()
		idle := w.count == 0
		next := w.start.Add(time.Duration(w.ticks+1) * w.tick)
		w.mu.Unlock()
		if idle {
			select {
			case <-w.wake:
			case <-w.stop:
				return
			}
			continue
		}
		if wait := time.Until(next); wait > 0 {
			sleep.Reset(wait)
			select {
			case <-sleep.C:
			case <-w.stop:
				sleep.Stop()
				return
			}
		}
		fire = w.advance(fire[:0])
		for i, t := range fire {
			t.p.Post(t.msg)
			fire[i] = nil
		}
	}
}

// advance runs every tick that is due and collects the expired timers.
func (w *Wheel) advance(fire []*Timer) []*Timer {
	w.mu.Lock()
	defer w.mu.Unlock()
	due := int64(time.Since(w.start) / w.tick)
	for w.ticks < due && w.count > 0 {
		head := &w.slots[w.cur]
		for t := head.next; t != head; {
			next := t.next
			if t.rounds == 0 {
				w.unlink(t)
				fire = append(fire, t)
			} else {
				t.rounds--
			}
			t = next
		}
		w.cur = (w.cur + 1) % len(w.slots)
		w.ticks++
	}
	if w.count == 0 {
		w.ticks = due
	}
	return fire
}
