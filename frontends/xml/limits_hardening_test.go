package xml

import (
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

// refusingStarter refuses every call as the engine does past a limit.
type refusingStarter struct{ refusal *actors.Refusal }

func (r refusingStarter) StartCall(actors.CallRequest, func(actors.Progress)) (string, error) {
	return "", r.refusal
}

func TestEveryLimitIsA503AndTheConnectionStaysUsable(t *testing.T) {
	for _, refusal := range []*actors.Refusal{
		{Ending: actors.EndMaxActiveCalls, Text: "Too many active calls", RetryAfter: time.Second},
		{Ending: actors.EndMaxPerInitiator, Text: "Too many calls to this initiator", RetryAfter: 5 * time.Second},
		{Ending: actors.EndMaxPerSecondPerIP, Text: "Call rate limit reached for this client", RetryAfter: time.Second},
		{Ending: actors.EndOverload, Text: "Server overloaded", RetryAfter: 2500 * time.Millisecond},
	} {
		t.Run(refusal.Text, func(t *testing.T) {
			s := startServer(t, config.XML{}, refusingStarter{refusal})
			c := dial(t, s.Addr().String())
			for i := 0; i < 3; i++ {
				c.send(callRequest("sip:a@x", "1"))
				r := c.next()
				if r.Response.Result.Code != 503 || r.Response.Result.Text != refusal.Text || !r.final() {
					t.Fatalf("got %s, want the final 503 %s", r.summary(), refusal.Text)
				}
				// When to try again, in whole seconds rounded up.
				if want := int((refusal.RetryAfter + time.Second - 1) / time.Second); r.Response.Result.RetryAfter != want {
					t.Fatalf("RetryAfter %d, want %d", r.Response.Result.RetryAfter, want)
				}
			}
		})
	}
}

func TestTricklingClientIsCutOffByTheReadTimeoutOthersAreNot(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	s := startServer(t, config.XML{ReadTimeout: readTimeout}, newFakeEngine())
	addr := s.Addr().String()

	// A slowloris client: a byte every 50 ms never completes its request.
	slow := dial(t, addr)
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		req := callRequest("sip:a@x", "1")
		for i := 0; i < len(req)-1; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			_ = slow.conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := slow.conn.Write([]byte{req[i]}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-trickled }()

	// A client that writes its request in three parts within the timeout,
	// and one that waits longer than the timeout between requests, are
	// served as usual.
	normal := dial(t, addr)
	req := callRequest("sip:b@x", "1")
	for _, part := range []string{req[:10], req[10:40], req[40:]} {
		normal.send(part)
		time.Sleep(readTimeout / 5)
	}
	if r := normal.next(); r.Response.Result.Code != 100 {
		t.Fatalf("normal client got %s", r.summary())
	}
	for !normal.next().final() {
	}
	time.Sleep(2 * readTimeout)
	normal.expectOpen()

	start := time.Now()
	r := slow.next()
	if r.Response.Result.Code != 408 || r.Response.Result.Text != "Request timeout" {
		t.Fatalf("trickling client got %s, want 408 Request timeout", r.summary())
	}
	slow.expectClosed()
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("trickling client held its connection %v after the test's other work", waited)
	}
}
