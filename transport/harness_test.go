package transport_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/transport"
)

func TestMain(m *testing.M) {
	// sipgo's timers are process-wide: Timer B (64*T1) becomes 3.2 s, so a
	// target that never answers over UDP fails over within a test's time.
	sip.SetTimers(50*time.Millisecond, 4*time.Second, 5*time.Second)
	os.Exit(m.Run())
}

func testLogger() *slog.Logger {
	if os.Getenv("CTC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTransport starts a transport on port 0 and closes it when the test ends.
func newTransport(t *testing.T, o transport.Options) *transport.Transport {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger()
	}
	tr, err := transport.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// newEngine runs the call engine on tr.
func newEngine(t *testing.T, tr *transport.Transport) *actors.Engine {
	t.Helper()
	eng, err := actors.NewEngine(actors.EngineOptions{
		SIP: config.SIP{Identity: "sip:clicktocall@example.com", RingTimeout: 10 * time.Second,
			ReferTimeout: 5 * time.Second, DestinationFrom: config.DestinationFromInitiator},
		Transport: tr, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	return eng
}

func newPhone(t *testing.T, user, host string, transports ...string) *phone.Phone {
	t.Helper()
	p, err := phone.New(phone.Config{User: user, Host: host, Transports: transports})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func uri(p *phone.Phone, transport string) string {
	u := p.URI(transport)
	return u.String()
}

// placeCall runs an anchored click-to-call and returns its results as
// "100, 200 I, 200 D" once the final one has come.
func placeCall(t *testing.T, eng *actors.Engine, initiator, destination string) string {
	t.Helper()
	return runCall(t, eng, initiator, destination, true)
}

// runCall places a click-to-call, anchored or by REFER, and returns its results.
func runCall(t *testing.T, eng *actors.Engine, initiator, destination string, anchor bool) string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	final := make(chan struct{})
	_, err := eng.StartCall(actors.CallRequest{Initiator: initiator, Destination: destination, Anchor: anchor, Origin: "test"},
		func(p actors.Progress) {
			mu.Lock()
			defer mu.Unlock()
			s := fmt.Sprint(p.Code)
			if p.Leg != actors.LegNone {
				s += " " + p.Leg.String()[:1]
			}
			got = append(got, s)
			if p.Final() {
				close(final)
			}
		})
	if err != nil {
		t.Fatalf("StartCall(%s, %s): %v", initiator, destination, err)
	}
	select {
	case <-final:
	case <-time.After(20 * time.Second):
		t.Fatalf("call %s -> %s: no final result; got %v", initiator, destination, got)
	}
	mu.Lock()
	defer mu.Unlock()
	return strings.Join(got, ", ")
}

// receivedInvite is the first INVITE a phone got, waiting up to 10 s.
func receivedInvite(t *testing.T, p *phone.Phone) *sip.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.WaitCall(ctx, phone.Received(sip.INVITE))
	if err != nil {
		t.Fatalf("phone got no INVITE: %v", err)
	}
	m, _ := c.Request(phone.In, sip.INVITE)
	return m.Request
}

// hostAddr parses a URI or Via host, IPv6 in brackets or not.
func hostAddr(t *testing.T, host string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		t.Fatalf("host %q is not an IP address", host)
	}
	return a
}
