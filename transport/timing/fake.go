package timing

import (
	"sync"
	"time"
)

// Fake is a Clock for tests: nothing fires until the test says so, and the
// test can see every armed timer with its duration.
type Fake struct {
	mu      sync.Mutex
	pending []*Timer
	armed   []time.Duration // every duration ever armed, in order
}

// After implements Clock.
func (f *Fake) After(d time.Duration, p Poster, msg any) *Timer {
	t := &Timer{fake: f, p: p, msg: msg, armed: true, after: d}
	f.mu.Lock()
	f.pending = append(f.pending, t)
	f.armed = append(f.armed, d)
	f.mu.Unlock()
	return t
}

func (f *Fake) stop(t *Timer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.pending {
		if p == t {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			t.armed = false
			return true
		}
	}
	return false
}

// Fire posts the message of the first pending timer whose message match
// accepts, as if it had expired, and reports whether there was one.
func (f *Fake) Fire(match func(msg any) bool) bool {
	f.mu.Lock()
	var hit *Timer
	for i, t := range f.pending {
		if match(t.msg) {
			hit = t
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			t.armed = false
			break
		}
	}
	f.mu.Unlock()
	if hit == nil {
		return false
	}
	hit.p.Post(hit.msg)
	return true
}

// Pending lists the durations of the timers armed and not yet fired or
// stopped whose message match accepts.
func (f *Fake) Pending(match func(msg any) bool) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for _, t := range f.pending {
		if match(t.msg) {
			out = append(out, t.after)
		}
	}
	return out
}
