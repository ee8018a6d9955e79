package main

// Hardening tests of the whole server in this process: start() on loopback
// with SIP on a port the kernel picks, XML and HTTP front ends attached to
// the same engine on port-0 listeners, and simulated phones (bench/phone).
// torture_test.go sends malformed SIP to it; the tests here push the limits
// and inject faults. docs/reliability.md lists what they prove.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	simphone "github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/config"
	httpfront "github.com/clicktocall/clicktocall/frontends/http"
	xmlfront "github.com/clicktocall/clicktocall/frontends/xml"
)

// liveServer is a server started with start() plus its front ends on
// ephemeral loopback ports.
type liveServer struct {
	*server
	cfg      *config.Config
	xmlAddr  string
	httpAddr string
	panics   *panicRecords
	t        *testing.T
	phonesMu sync.Mutex
	phones   []*simphone.Phone // closed after the server has shut down
}

// liveConfig is the configuration of a liveServer before a test adjusts it:
// short timers and rules that pass SIP URIs through.
func liveConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
sip {
  ip_address    = "127.0.0.1"
  identity      = "sip:clicktocall@127.0.0.1"
  ring_timeout  = "3s"
  refer_timeout = "2s"
}
translation {
  pattern = "^(sips?:.+)$"
  output  = "$1"
}
`), "hardening.hcl")
	if err != nil {
		t.Fatal(err)
	}
	// Port 0: the kernel picks (config validation wants 1.. for the file).
	cfg.SIP.UDPTCPPort, cfg.HTTP.Port, cfg.XML.Port = 0, 0, 0
	cfg.HTTP.Address, cfg.XML.Address = "127.0.0.1", "127.0.0.1"
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

// startLiveServer starts the server of cfg (from liveConfig) with XML and
// HTTP front ends on 127.0.0.1 port 0 and stops it when the test ends,
// failing the test if a SIP or actor handler panicked meanwhile.
func startLiveServer(t *testing.T, cfg *config.Config) *liveServer {
	t.Helper()
	panics := &panicRecords{}
	log := slog.New(panics.wrap(testLogHandler()))
	srv, err := start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &liveServer{server: srv, cfg: cfg, panics: panics, t: t}
	translate := func(a string) (string, error) { return config.Translate(cfg.Translation, a) }

	xln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.xml = xmlfront.New(xmlfront.Options{Config: cfg.XML, Translate: translate, Starter: srv.engine, Logger: log})
	if err := s.xml.StartListener(xln); err != nil {
		t.Fatal(err)
	}
	s.xmlAddr = xln.Addr().String()

	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.http = httpfront.New(httpfront.Options{HTTP: cfg.HTTP, Translate: translate, Calls: srv.engine, Logger: log})
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(hln) }()
	s.httpAddr = hln.Addr().String()

	t.Cleanup(func() {
		if err := s.shutdown(cfg.ShutdownTimeout); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-served:
			if !errors.Is(err, httpfront.ErrServerClosed) {
				t.Errorf("http serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("http server still serving after shutdown")
		}
		if n := panics.count(); n > 0 {
			t.Errorf("%d handler panics logged: %s", n, panics.firstRecord())
		}
		// The phones outlive the server so that its shutdown can end their calls.
		s.phonesMu.Lock()
		defer s.phonesMu.Unlock()
		for _, p := range s.phones {
			p.Close()
		}
	})
	return s
}

// testLogHandler discards the server's log unless CTC_TEST_LOG is set.
func testLogHandler() slog.Handler {
	if os.Getenv("CTC_TEST_LOG") != "" {
		return slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return slog.DiscardHandler
}

// panicRecords counts log records about recovered panics (the SIP router
// and the actors log one for each) so a test fails on a swallowed crash.
type panicRecords struct {
	mu    sync.Mutex
	n     int
	first string
}

func (p *panicRecords) wrap(h slog.Handler) slog.Handler { return panicHandler{h, p} }

func (p *panicRecords) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *panicRecords) firstRecord() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

type panicHandler struct {
	slog.Handler
	rec *panicRecords
}

func (h panicHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h panicHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(strings.ToLower(r.Message), "panic") {
		h.rec.mu.Lock()
		if h.rec.n == 0 {
			h.rec.first = r.Message
		}
		h.rec.n++
		h.rec.mu.Unlock()
	}
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h panicHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return panicHandler{h.Handler.WithAttrs(as), h.rec}
}

func (h panicHandler) WithGroup(name string) slog.Handler {
	return panicHandler{h.Handler.WithGroup(name), h.rec}
}

// phone starts a simulated phone on 127.0.0.1 (UDP and TCP), closed once
// the server has shut down.
func (s *liveServer) phone(user string, b simphone.Behaviour) *simphone.Phone {
	s.t.Helper()
	p, err := simphone.New(simphone.Config{User: user, Transports: []string{"udp", "tcp"}, Behaviour: b})
	if err != nil {
		s.t.Fatal(err)
	}
	s.phonesMu.Lock()
	s.phones = append(s.phones, p)
	s.phonesMu.Unlock()
	return p
}

// finalOf collects a call's results from the engine and hands over the
// final one.
type finalOf struct {
	mu      sync.Mutex
	results []actors.Progress
	final   chan actors.Progress
	extra   atomic.Int32
}

func newFinalOf() *finalOf { return &finalOf{final: make(chan actors.Progress, 1)} }

func (f *finalOf) add(p actors.Progress) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.results) > 0 && f.results[len(f.results)-1].Final() {
		f.extra.Add(1)
		return
	}
	f.results = append(f.results, p)
	if p.Final() {
		f.final <- p
	}
}

func (f *finalOf) wait(t *testing.T, d time.Duration) actors.Progress {
	t.Helper()
	select {
	case p := <-f.final:
		return p
	case <-time.After(d):
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Fatalf("no final result within %v; results so far: %v", d, f.results)
		return actors.Progress{}
	}
}

// placeCall runs one click-to-call between two fresh phones through the
// engine and requires it to end in 200 Destination, with the phones seeing
// the flow of the mode (REFER, or the anchored re-INVITE and ACK); then the
// call is hung up and the engine must be left without calls.
func placeCall(t *testing.T, s *liveServer, anchor bool) {
	t.Helper()
	ini := s.phone("alice", simphone.Behaviour{Ring: true})
	dst := s.phone("bob", simphone.Behaviour{Ring: true})
	f := newFinalOf()
	iu, du := ini.URI("udp"), dst.URI("udp")
	if _, err := s.engine.StartCall(actors.CallRequest{Initiator: iu.String(), Destination: du.String(),
		Anchor: anchor, Origin: "test"}, f.add); err != nil {
		t.Fatalf("StartCall: %v", err)
	}
	if p := f.wait(t, 15*time.Second); p.Code != 200 || p.Leg != actors.LegDestination {
		t.Fatalf("final %d %s %q, want 200 Destination", p.Code, p.Leg, p.Text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if anchor {
		c, err := dst.WaitCall(ctx, simphone.Received("ACK"))
		if err != nil {
			t.Fatalf("destination never got its ACK: %v", err)
		}
		if err := dst.Bye(ctx, c.CallID); err != nil {
			t.Fatalf("destination hangs up: %v", err)
		}
	} else if _, err := ini.WaitCall(ctx, simphone.Received("REFER")); err != nil {
		t.Fatalf("initiator never got the REFER: %v", err)
	}
	waitNoCalls(t, s, 10*time.Second)
}

// waitNoCalls waits until the engine has no call left.
func waitNoCalls(t *testing.T, s *liveServer, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for s.engine.ActiveCalls() > 0 {
		if time.Now().After(end) {
			t.Fatalf("%d calls still active after %v", s.engine.ActiveCalls(), d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
