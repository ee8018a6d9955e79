// Package webhook delivers a call's results to the status_callback URL its
// client gave: each result is POSTed as JSON, signed with HMAC-SHA256 under a
// configured secret, in order, retried with exponential backoff when the
// receiver fails or cannot be reached. Deliveries run on their own
// goroutines, one per call, and their number is bounded: the call itself
// never waits for a receiver.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

// The headers of a delivery. The signature is "sha256=" and the hex
// HMAC-SHA256 of the timestamp, a ".", and the body, keyed by the secret;
// the timestamp (Unix seconds) lets a receiver refuse old replays.
const (
	HeaderSignature = "X-Clicktocall-Signature"
	HeaderTimestamp = "X-Clicktocall-Timestamp"
	HeaderCallID    = "X-Clicktocall-Call-Id"
)

// Outcomes reported to Options.Count.
const (
	OutcomeDelivered = "delivered" // the receiver answered 2xx
	OutcomeRetried   = "retried"   // an attempt failed and will be repeated
	OutcomeFailed    = "failed"    // every attempt failed, or the receiver refused it (4xx): dropped
	OutcomeDropped   = "dropped"   // not attempted: shutting down
)

// ErrBusy is returned by Reserve when the limit of calls being delivered is
// reached.
var ErrBusy = errors.New("too many pending status callbacks")

// ErrClosed is returned by Reserve after Close.
var ErrClosed = errors.New("status callbacks are shut down")

// Defaults for Options left at zero: those that are settings come from
// the settings table (config/table.go), so each is written once.
var (
	DefaultTimeout    = config.Default().API.StatusCallbackTimeout
	DefaultAttempts   = config.Default().API.StatusCallbackAttempts
	DefaultMaxPending = config.Default().API.StatusCallbackMaxPending
)

// The retry backoff is not a setting.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// Options configures a Notifier.
type Options struct {
	Secret     string        // HMAC key; must not be empty
	Timeout    time.Duration // one attempt
	Attempts   int           // tries per payload
	MaxPending int           // calls whose payloads are being delivered at once
	Backoff    time.Duration // wait after the first failure; doubled after each
	MaxBackoff time.Duration // the wait never exceeds this
	Client     *http.Client  // nil: a client with Timeout that follows no redirects
	Count      func(outcome string)
	Logger     *slog.Logger
}

// Notifier delivers status callbacks. Create it with New.
type Notifier struct {
	o   Options
	log *slog.Logger

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc

	mu      sync.Mutex
	pending int
	closed  bool
	wg      sync.WaitGroup
}

// New builds a Notifier.
func New(o Options) *Notifier {
	o.Timeout = config.OrDefault(o.Timeout, DefaultTimeout)
	o.Attempts = config.OrDefault(o.Attempts, DefaultAttempts)
	o.MaxPending = config.OrDefault(o.MaxPending, DefaultMaxPending)
	o.Backoff = config.OrDefault(o.Backoff, DefaultBackoff)
	o.MaxBackoff = config.OrDefault(o.MaxBackoff, DefaultMaxBackoff)
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout: o.Timeout,
			// A redirect would re-send the payload somewhere the client
			// did not name; treat it as a refusal.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Notifier{o: o, log: o.Logger.With("component", "webhook"), ctx: ctx, cancel: cancel}
}

// CheckURL reports whether raw can be a status_callback: an absolute http or
// https URL with a host.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("status_callback %q is not a URL", raw)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("status_callback %q is not an absolute http or https URL", raw)
	}
	return nil
}

// Source yields one call's payloads in order. Next blocks until the next
// payload is ready and returns ok false when there are no more or ctx has
// ended; Stop releases the source.
type Source interface {
	Next(ctx context.Context) (payload []byte, ok bool)
	Stop()
}

// Slot is room for one call's deliveries, reserved before the call is
// placed so that a call is never started with a callback that cannot run.
type Slot struct {
	n    *Notifier
	used bool
}

// Reserve takes a slot, or returns ErrBusy when MaxPending calls are being
// delivered already, or ErrClosed after Close. The slot must be used by
// Follow or given back by Release.
func (n *Notifier) Reserve() (*Slot, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if n.pending >= n.o.MaxPending {
		return nil, ErrBusy
	}
	n.pending++
	n.wg.Add(1)
	return &Slot{n: n}, nil
}

// Release gives the slot back unused. A nil or used slot is left alone.
func (sl *Slot) Release() {
	if sl == nil || sl.used {
		return
	}
	sl.used = true
	sl.n.done()
}

// Follow delivers every payload of src to target, in order, on a goroutine
// of its own; the slot is given back when src has no more.
func (sl *Slot) Follow(target, callID string, src Source) {
	if sl.used {
		panic("webhook: slot used twice")
	}
	sl.used = true
	go sl.n.deliverAll(target, callID, src)
}

func (n *Notifier) done() {
	n.mu.Lock()
	n.pending--
	n.mu.Unlock()
	n.wg.Done()
}

func (n *Notifier) deliverAll(target, callID string, src Source) {
	defer func() {
		src.Stop()
		n.done()
	}()
	for {
		payload, ok := src.Next(n.ctx)
		if !ok {
			return
		}
		if n.ctx.Err() != nil {
			n.o.Count(OutcomeDropped)
			continue
		}
		n.deliver(target, callID, payload)
	}
}

// deliver tries one payload until it is accepted, refused, or out of attempts.
func (n *Notifier) deliver(target, callID string, payload []byte) {
	wait := n.o.Backoff
	for attempt := 1; ; attempt++ {
		status, err := n.post(target, callID, payload)
		if err == nil && status >= 200 && status < 300 {
			n.o.Count(OutcomeDelivered)
			return
		}
		retryable := err != nil || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
		if !retryable || attempt >= n.o.Attempts {
			n.o.Count(OutcomeFailed)
			n.log.Warn("status callback failed", "call", callID, "url", target, "attempts", attempt,
				"status", status, "error", err)
			return
		}
		n.o.Count(OutcomeRetried)
		n.log.Debug("status callback will be retried", "call", callID, "url", target, "attempt", attempt,
			"status", status, "error", err, "wait", wait)
		select {
		case <-time.After(wait):
		case <-n.ctx.Done():
			n.o.Count(OutcomeDropped)
			return
		}
		wait = min(wait*2, n.o.MaxBackoff)
	}
}

func (n *Notifier) post(target, callID string, payload []byte) (int, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "clicktocall-webhook")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(n.o.Secret, ts, payload))
	req.Header.Set(HeaderCallID, callID)
	res, err := n.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	// Read a little so the connection can be reused; the body means nothing.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	_ = res.Body.Close()
	return res.StatusCode, nil
}

// Sign is the signature header value of body sent at timestamp ts (Unix
// seconds, as in HeaderTimestamp).
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is the right one for body and ts, in
// constant time. Receivers should also refuse timestamps far from now.
func Verify(secret, ts, signature string, body []byte) bool {
	return hmac.Equal([]byte(signature), []byte(Sign(secret, ts, body)))
}

// Pending is the number of calls whose payloads are being delivered.
func (n *Notifier) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pending
}

// Close refuses new calls and waits for the deliveries in progress until
// ctx ends; then it abandons them (their payloads count as dropped).
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel()
		<-done
		return fmt.Errorf("status callbacks: %w", ctx.Err())
	}
}
