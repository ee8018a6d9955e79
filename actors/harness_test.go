package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/transport"
)

// harness is a server engine on loopback with two in-process phones.
type harness struct {
	t         *testing.T
	tr        *transport.Transport
	eng       *Engine
	init      *phone.Phone
	dest      *phone.Phone
	transport string // "udp" or "tcp": how the server reaches the phones
}

type harnessOpts struct {
	sip       func(*config.SIP)
	limits    config.Limits
	init      phone.Behaviour
	dest      phone.Behaviour
	transport string
	lag       lagSource // replaces the transport's lag probe
	loss      float64   // share of UDP datagrams each phone loses, each way
}

func quietLogger() *slog.Logger {
	if os.Getenv("CTC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testSIPConfig() config.SIP {
	return config.SIP{
		IPAddress:       "127.0.0.1",
		Identity:        "sip:clicktocall@example.com",
		RingTimeout:     5 * time.Second,
		ReferTimeout:    2 * time.Second,
		DestinationFrom: "initiator",
	}
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.transport == "" {
		o.transport = "udp"
	}
	sipCfg := testSIPConfig()
	if o.sip != nil {
		o.sip(&sipCfg)
	}
	tr, err := transport.New(transport.Options{IPAddress: "127.0.0.1", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(EngineOptions{SIP: sipCfg, Limits: o.limits, Transport: tr, Logger: quietLogger(), lagProbe: o.lag})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(user string, b phone.Behaviour) *phone.Phone {
		p, err := phone.New(phone.Config{User: user, Transports: []string{"udp", "tcp"}, Behaviour: b,
			Loss: o.loss, LossSeed: uint64(len(user))})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	h := &harness{t: t, tr: tr, eng: eng, init: mk("alice", o.init), dest: mk("bob", o.dest), transport: o.transport}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
		h.init.Close()
		h.dest.Close()
		tr.Close()
	})
	return h
}

func (h *harness) uri(p *phone.Phone) string {
	u := p.URI(h.transport)
	return u.String()
}

// call places a click-to-call and returns its id and result stream.
func (h *harness) call(anchor bool) (string, *results) {
	h.t.Helper()
	r := newResults()
	id, err := h.eng.StartCall(CallRequest{Initiator: h.uri(h.init), Destination: h.uri(h.dest), Anchor: anchor, Origin: "test"}, r.add)
	if err != nil {
		h.t.Fatalf("StartCall: %v", err)
	}
	return id, r
}

// results collects a call's progress and checks the stream's invariants.
type results struct {
	mu    sync.Mutex
	list  []Progress
	final chan struct{}
	extra int // results after the final: must stay 0
}

func newResults() *results { return &results{final: make(chan struct{})} }

func (r *results) add(p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.final:
		r.extra++
		return
	default:
	}
	r.list = append(r.list, p)
	if p.Final() {
		close(r.final)
	}
}

// wait returns every result up to the final one, failing the test after d.
func (r *results) wait(t *testing.T, d time.Duration) []Progress {
	t.Helper()
	select {
	case <-r.final:
	case <-time.After(d):
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("no final result within %v; got %s", d, summary(r.list))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Progress(nil), r.list...)
}

// waitFor waits until a result with this code and leg has arrived.
func (r *results) waitFor(t *testing.T, code int, leg Leg) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		r.mu.Lock()
		for _, p := range r.list {
			if p.Code == code && p.Leg == leg {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %d %s result", code, leg)
}

func (r *results) extras() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.extra
}

// summary renders results as "100, 180 I, 200 I".
func summary(ps []Progress) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprint(p.Code)
		if p.Leg != LegNone {
			out[i] += " " + p.Leg.String()[:1]
		}
	}
	return strings.Join(out, ", ")
}

func expectResults(t *testing.T, got []Progress, want string) {
	t.Helper()
	if s := summary(got); s != want {
		t.Fatalf("results = %q, want %q", s, want)
	}
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// onlyCall waits for the phone's single call to satisfy cond.
func onlyCall(t *testing.T, p *phone.Phone, cond func(phone.Call) bool) phone.Call {
	t.Helper()
	c, err := p.WaitCall(deadline(t, 10*time.Second), cond)
	if err != nil {
		var flows []string
		for _, c := range p.Calls() {
			flows = append(flows, c.String())
		}
		t.Fatalf("phone call condition not met: %v; calls: %s", err, strings.Join(flows, " | "))
	}
	return c
}

// waitIdle waits until the engine has no call left.
func (h *harness) waitIdle() {
	h.t.Helper()
	h.waitIdleWithin(10 * time.Second)
}

func (h *harness) waitIdleWithin(d time.Duration) {
	h.t.Helper()
	end := time.Now().Add(d)
	for h.eng.ActiveCalls() > 0 {
		if time.Now().After(end) {
			n := h.eng.ActiveCalls()
			desc := h.eng.Describe()
			h.t.Fatalf("%d calls still active (%d after describing):\n%s", n, h.eng.ActiveCalls(), strings.Join(desc, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// methods lists the requests a phone received, ACKs left out: the phone
// handles each message in its own goroutine, so an ACK and the request sent
// right after it may be recorded in either order. acks counts them.
func methods(c phone.Call, dir phone.Direction) string {
	var out []string
	for _, m := range c.Methods(dir) {
		if m != "ACK" {
			out = append(out, m)
		}
	}
	return strings.Join(out, " ")
}

func acks(c phone.Call) int { return len(c.Requests(phone.In, sip.ACK)) }

func header(m phone.Message, name string) string { return m.Header(name) }
