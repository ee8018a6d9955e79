package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// receiver records the deliveries it gets; answer picks the status of each
// (by arrival number, from 1).
type receiver struct {
	mu     sync.Mutex
	bodies []string
	sigOK  []bool
	answer func(n int) int
	got    chan struct{}
}

func newReceiver(t *testing.T, secret string, answer func(int) int) (*receiver, *httptest.Server) {
	r := &receiver{answer: answer, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts := req.Header.Get(HeaderTimestamp)
		ok := Verify(secret, ts, req.Header.Get(HeaderSignature), body) &&
			req.Header.Get("Content-Type") == "application/json" && req.Header.Get(HeaderCallID) == "call-1"
		if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
			ok = false
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, string(body))
		r.sigOK = append(r.sigOK, ok)
		n := len(r.bodies)
		r.mu.Unlock()
		w.WriteHeader(r.answer(n))
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) snapshot() ([]string, []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...), append([]bool(nil), r.sigOK...)
}

// source yields fixed payloads, then ends.
type source struct {
	mu       sync.Mutex
	payloads []string
	stopped  bool
	block    chan struct{} // when set, Next waits on it after the payloads
}

func (s *source) Next(ctx context.Context) ([]byte, bool) {
	s.mu.Lock()
	if len(s.payloads) > 0 {
		p := s.payloads[0]
		s.payloads = s.payloads[1:]
		s.mu.Unlock()
		return []byte(p), true
	}
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	return nil, false
}

func (s *source) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}

func follow(t *testing.T, n *Notifier, url string, src Source) {
	t.Helper()
	slot, err := n.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	slot.Follow(url, "call-1", src)
}

func waitIdle(t *testing.T, n *Notifier) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for n.Pending() > 0 {
		if time.Now().After(end) {
			t.Fatalf("%d deliveries still pending", n.Pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[outcome]++
}

func (c *counts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.m)
}

func TestPayloadsArriveInOrderSignedAndFailuresAreRetried(t *testing.T) {
	// The receiver fails the 2nd and 3rd attempts: the second payload is
	// delivered on its third try, and order is kept.
	r, srv := newReceiver(t, "s3cret", func(n int) int {
		if n == 2 || n == 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	var c counts
	n := New(Options{Secret: "s3cret", Backoff: 10 * time.Millisecond, Count: c.add})
	src := &source{payloads: []string{`{"sequence":1}`, `{"sequence":2}`, `{"sequence":3}`}}
	follow(t, n, srv.URL, src)
	waitIdle(t, n)
	bodies, sigs := r.snapshot()
	want := []string{`{"sequence":1}`, `{"sequence":2}`, `{"sequence":2}`, `{"sequence":2}`, `{"sequence":3}`}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Errorf("receiver got %v, want %v", bodies, want)
	}
	for i, ok := range sigs {
		if !ok {
			t.Errorf("delivery %d: bad signature, timestamp or headers", i+1)
		}
	}
	if got := c.String(); got != "map[delivered:3 retried:2]" {
		t.Errorf("outcomes %s", got)
	}
	if !src.stopped {
		t.Error("the source was not stopped")
	}
}

func TestARefusalIsNotRetriedAndExhaustedAttemptsMoveOn(t *testing.T) {
	r, srv := newReceiver(t, "k", func(n int) int {
		switch n {
		case 1:
			return http.StatusBadRequest // refused: dropped at once
		case 2, 3:
			return http.StatusInternalServerError // 2 attempts: dropped
		}
		return http.StatusOK
	})
	var c counts
	n := New(Options{Secret: "k", Attempts: 2, Backoff: time.Millisecond, Count: c.add})
	follow(t, n, srv.URL, &source{payloads: []string{"a", "b", "c"}})
	waitIdle(t, n)
	bodies, _ := r.snapshot()
	if fmt.Sprint(bodies) != "[a b b c]" {
		t.Errorf("receiver got %v, want [a b b c]", bodies)
	}
	if got := c.String(); got != "map[delivered:1 failed:2 retried:1]" {
		t.Errorf("outcomes %s", got)
	}
}

func TestAnUnreachableReceiverIsRetriedThenDropped(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	var c counts
	n := New(Options{Secret: "k", Attempts: 3, Backoff: time.Millisecond, Count: c.add})
	follow(t, n, url, &source{payloads: []string{"a"}})
	waitIdle(t, n)
	if got := c.String(); got != "map[failed:1 retried:2]" {
		t.Errorf("outcomes %s", got)
	}
}

func TestReserveIsBoundedAndReleaseGivesBack(t *testing.T) {
	n := New(Options{Secret: "k", MaxPending: 2})
	a, err := n.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Reserve(); err != ErrBusy {
		t.Fatalf("third Reserve: %v, want ErrBusy", err)
	}
	a.Release()
	a.Release() // twice: no effect
	c, err := n.Reserve()
	if err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
	b.Release()
	c.Release()
	if n.Pending() != 0 {
		t.Errorf("Pending = %d after releasing all", n.Pending())
	}
	var none *Slot
	none.Release() // a nil slot is allowed
}

func TestCloseWaitsForDeliveriesThenAbandonsThem(t *testing.T) {
	_, srv := newReceiver(t, "k", func(int) int { return http.StatusOK })
	n := New(Options{Secret: "k"})
	// A call still going on: its source blocks after one payload.
	src := &source{payloads: []string{"a"}, block: make(chan struct{})}
	follow(t, n, srv.URL, src)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := n.Close(ctx); err == nil {
		t.Error("Close returned nil with a delivery still waiting")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := n.Reserve(); err != ErrClosed {
		t.Errorf("Reserve after Close: %v, want ErrClosed", err)
	}
	if n.Pending() != 0 {
		t.Errorf("Pending = %d after Close", n.Pending())
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://hooks.example.com/ctc?x=1": true,
		"http://127.0.0.1:8080/":            true,
		"ftp://example.com/":                false,
		"/relative":                         false,
		"https://":                          false,
		"::not a url":                       false,
	} {
		if err := CheckURL(raw); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v", raw, err)
		}
	}
}

func TestSignatureIsHMACOfTimestampAndBody(t *testing.T) {
	// Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
	got := Sign("secret", "1700000000", []byte(`{"a":1}`))
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if !Verify("secret", "1700000000", got, []byte(`{"a":1}`)) {
		t.Error("Verify refuses Sign's signature")
	}
	for _, bad := range []struct{ secret, ts, body string }{
		{"other", "1700000000", `{"a":1}`}, {"secret", "1700000001", `{"a":1}`}, {"secret", "1700000000", `{"a":2}`},
	} {
		if Verify(bad.secret, bad.ts, got, []byte(bad.body)) {
			t.Errorf("Verify accepts the signature for %+v", bad)
		}
	}
}
