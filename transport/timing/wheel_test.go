package timing

import (
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu  sync.Mutex
	got map[any]time.Time
	ch  chan any
}

func newRecorder() *recorder { return &recorder{got: map[any]time.Time{}, ch: make(chan any, 100)} }

func (r *recorder) Post(msg any) {
	r.mu.Lock()
	r.got[msg] = time.Now()
	r.mu.Unlock()
	r.ch <- msg
}

func TestWheelFiresInOrderAndNeverEarly(t *testing.T) {
	w := NewWheel(time.Millisecond, 16) // a turn of 16 ms: the 40 ms timer waits whole turns
	defer w.Close()
	r := newRecorder()
	start := time.Now()
	delays := map[string]time.Duration{"a": 5 * time.Millisecond, "b": 20 * time.Millisecond, "c": 40 * time.Millisecond}
	for name, d := range delays {
		w.After(d, r, name)
	}
	deadline := time.After(5 * time.Second)
	var order []any
	for len(order) < 3 {
		select {
		case m := <-r.ch:
			order = append(order, m)
		case <-deadline:
			t.Fatalf("only %v fired", order)
		}
	}
	if order[0] != "a" || order[1] != "b" || order[2] != "c" {
		t.Fatalf("fired in order %v", order)
	}
	for name, d := range delays {
		if got := r.got[name].Sub(start); got < d {
			t.Errorf("%s fired after %v, before its %v", name, got, d)
		}
	}
	if n := w.Pending(); n != 0 {
		t.Errorf("%d timers still pending", n)
	}
}

func TestStoppedTimerNeverFires(t *testing.T) {
	w := NewWheel(time.Millisecond, 8)
	defer w.Close()
	r := newRecorder()
	stopped := w.After(10*time.Millisecond, r, "stopped")
	w.After(30*time.Millisecond, r, "kept")
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop reported true")
	}
	select {
	case m := <-r.ch:
		if m != "kept" {
			t.Fatalf("%v fired", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("kept timer never fired")
	}
	var nilTimer *Timer
	if nilTimer.Stop() {
		t.Fatal("nil timer Stop reported true")
	}
}

// A wheel that slept (no timers) restarts its clock: a timer armed long
// after the last one still waits its whole duration.
func TestWheelAfterIdle(t *testing.T) {
	w := NewWheel(time.Millisecond, 8)
	defer w.Close()
	r := newRecorder()
	w.After(time.Millisecond, r, 1)
	<-r.ch
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	w.After(12*time.Millisecond, r, 2)
	select {
	case <-r.ch:
		if d := time.Since(start); d < 12*time.Millisecond {
			t.Fatalf("fired after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never fired")
	}
}
