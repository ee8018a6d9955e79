package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/bench/xmlclient"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
)

// runDemo is "clicktocall demo": the server on the shipped configuration
// and two simulated phones on loopback, one call in each mode, with the
// progress printed as it happens. Exit 0 when both calls connected.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "", stderr)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	cfg, status, ok := loadConfigFlags(fs, args, nil, stderr)
	if !ok {
		return status
	}
	logDir, err := os.MkdirTemp("", "clicktocall-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "clicktocall demo: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := demo(ctx, cfg, logDir, stdout); err != nil {
		fmt.Fprintf(stderr, "clicktocall demo: %v\n", err)
		return 1
	}
	return 0
}

// demoPrinter stamps each line with the time since the demo started; the
// phones' event hooks and the XML reader print from their own goroutines.
type demoPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// Write lets the server's console log share the output.
func (p *demoPrinter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

func (p *demoPrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%6.3fs  %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// phoneEvents says what each phone event means, for the demo's reader.
var phoneEvents = map[simphone.EventKind]string{
	simphone.EventInvite:        "gets an INVITE",
	simphone.EventRinging:       "rings (180)",
	simphone.EventAnswered:      "answers (200)",
	simphone.EventConfirmed:     "gets the ACK: call up",
	simphone.EventRejected:      "rejects the call",
	simphone.EventCancelled:     "gets a CANCEL",
	simphone.EventReinvite:      "gets a re-INVITE (the other phone's media)",
	simphone.EventReferAccepted: "accepts the REFER (202) and calls the destination itself",
	simphone.EventReferRejected: "refuses the REFER",
	simphone.EventNotifySent:    "reports the transfer in a NOTIFY",
	simphone.EventByeReceived:   "gets a BYE: call over",
	simphone.EventByeSent:       "hangs up (BYE)",
}

// demo runs the server on cfg (moved to loopback, log in logDir) with two
// phones and places a REFER call and an anchored call over XML.
func demo(ctx context.Context, cfg *config.Config, logDir string, out io.Writer) error {
	p := &demoPrinter{w: out, start: time.Now()}
	// Everything stays on loopback, on free ports when the configured ones
	// are taken (a server already running, say).
	cfg.SIP.IPAddress, cfg.XML.Address, cfg.HTTP.Address = "127.0.0.1", "127.0.0.1", "127.0.0.1"
	cfg.Log.File = filepath.Join(logDir, "clicktocall.log")
	if !demoPortFree("udp", cfg.SIP.UDPTCPPort) || !demoPortFree("tcp", cfg.SIP.UDPTCPPort) {
		cfg.SIP.UDPTCPPort = 0 // the transport picks one
	}
	for _, port := range []*int{&cfg.XML.Port, &cfg.HTTP.Port} {
		if *port == 0 || !demoPortFree("tcp", *port) {
			var err error
			if *port, err = demoFreePort(); err != nil {
				return err
			}
		}
	}
	log, closer, err := logging.NewTo(cfg.Log, p) // warnings interleave with the progress lines
	if err != nil {
		return err
	}
	defer closer.Close()
	// As serve does, but errors only: closing the phones makes sipgo warn
	// about its own socket reference counts.
	sip.SetDefaultLogger(logging.AtLeast(log, slog.LevelError).With("lib", "sipgo"))
	srv, err := start(cfg, log)
	if err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	defer func() {
		if err := srv.shutdown(cfg.ShutdownTimeout); err != nil {
			p.printf("server shutdown: %v", err)
		}
	}()
	xmlAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.XML.Port))
	p.printf("server started with %s: SIP %s, XML %s, HTTP 127.0.0.1:%d; its log: %s",
		cfg.File, srv.tr.Addr(), xmlAddr, cfg.HTTP.Port, cfg.Log.File)

	onEvent := func(name string) func(simphone.Event) {
		return func(ev simphone.Event) {
			what := phoneEvents[ev.Kind]
			if ev.Kind == simphone.EventNotifySent {
				what = fmt.Sprintf("NOTIFYs the server: the transfer got %d %s", ev.Code, simphone.Reason(ev.Code))
			}
			if what != "" {
				p.printf("  %-6s %s", name, what)
			}
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	// alice is the initiator: she rings, answers and, asked to by REFER,
	// calls bob herself and reports how that went.
	alice, err := simphone.New(simphone.Config{User: "alice", Logger: quiet, OnEvent: onEvent("alice"), NoRecording: true,
		Behaviour: simphone.Behaviour{Ring: true, RingDelay: 300 * time.Millisecond,
			Refer: simphone.ReferBehaviour{Mode: simphone.ReferAccept, Dial: true}}})
	if err != nil {
		return err
	}
	defer alice.Close()
	// bob is the destination: he rings, answers (with an SDP offer when
	// the INVITE has none, as the server's anchored call does) and hangs
	// up after a second.
	bob, err := simphone.New(simphone.Config{User: "bob", Logger: quiet, OnEvent: onEvent("bob"), NoRecording: true,
		Behaviour: simphone.Behaviour{Ring: true, RingDelay: 300 * time.Millisecond, TalkTime: time.Second}})
	if err != nil {
		return err
	}
	defer bob.Close()
	aliceAddr, bobAddr := alice.URI("udp"), bob.URI("udp")
	aliceURI, bobURI := aliceAddr.String(), bobAddr.String()
	p.printf("phones: alice (initiator) %s, bob (destination) %s", aliceURI, bobURI)

	results := make(chan xmlclient.Response, 16)
	conn, err := xmlclient.Dial(xmlAddr, 5*time.Second, 4, func(r xmlclient.Response, _ time.Time) { results <- r })
	if err != nil {
		return err
	}
	defer conn.Close()

	for _, anchored := range []bool{false, true} {
		mode := "REFER (unanchored): the server calls alice, then asks her to call bob"
		if anchored {
			mode = "anchored (3PCC): the server calls alice, then bob, and bridges their media"
		}
		p.printf("")
		p.printf("call %s", mode)
		req := xmlclient.Request{Initiator: aliceURI, Destination: bobURI, Anchor: anchored}
		p.printf("XML -> %s", bytes.TrimSpace(xmlclient.AppendRequest(nil, req)))
		conn.Send(req)
		if err := awaitFinal(ctx, p, results); err != nil {
			return fmt.Errorf("%s call: %w", modeName(anchored), err)
		}
		// Let the call end (bob hangs up) before the next one, so the
		// printed flows do not interleave.
		if err := awaitIdle(ctx, alice, bob); err != nil {
			return fmt.Errorf("%s call: %w", modeName(anchored), err)
		}
	}
	p.printf("")
	p.printf("both calls connected: the demo worked")
	return nil
}

func modeName(anchored bool) string {
	if anchored {
		return "anchored"
	}
	return "REFER"
}

// awaitFinal prints the XML results of one request until its final one.
func awaitFinal(ctx context.Context, p *demoPrinter, results <-chan xmlclient.Response) error {
	for {
		select {
		case r := <-results:
			leg := ""
			if r.Leg != "" {
				leg = " Leg=" + r.Leg
			}
			p.printf("XML <- %d%s %s", r.Code, leg, r.Text)
			if r.Final() {
				if r.Code != sip.StatusOK {
					return fmt.Errorf("failed: %d %s", r.Code, r.Text)
				}
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("no final result: %w", ctx.Err())
		}
	}
}

// awaitIdle waits until neither phone has a call in progress.
func awaitIdle(ctx context.Context, phones ...*simphone.Phone) error {
	for {
		busy := 0
		for _, ph := range phones {
			busy += len(ph.Calls())
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the phones did not hang up")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func demoPortFree(network string, port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if network == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
		return true
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// demoFreePort asks the kernel for a free loopback TCP port; the server binds it
// a moment later.
func demoFreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
