package xml

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

const waitLimit = 10 * time.Second // every wait in these tests ends by then

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// testTranslate stands in for config.Translate: SIP URIs pass, digits go to
// the gateway, "bad-uri" makes an invalid URI, anything else has no rule.
func testTranslate(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "sip:"):
		return s, nil
	case s == "panic":
		panic("translation rule bug")
	case s == "bad-uri":
		return "", errors.New("Invalid URI format sip:bad uri")
	case strings.Trim(s, "0123456789") == "":
		return "sip:" + s + "@gateway.com", nil
	}
	return "", fmt.Errorf("No translation rule for %s", s)
}

// step is one scripted result of the fake engine.
type step struct {
	after time.Duration
	code  int
	leg   actors.Leg
	text  string
}

var (
	successScript = []step{
		{0, 100, actors.LegNone, "In progress"},
		{time.Millisecond, 180, actors.LegInitiator, "Ringing initiator"},
		{time.Millisecond, 200, actors.LegInitiator, "Connected to initiator"},
		{time.Millisecond, 180, actors.LegDestination, "Ringing destination"},
		{time.Millisecond, 200, actors.LegDestination, "Connected to destination"},
	}
	busyScript = []step{
		{0, 100, actors.LegNone, "In progress"},
		{time.Millisecond, 486, actors.LegInitiator, "Failed to connect to initiator"},
	}
	// A misbehaving engine: the front end must still show nothing after the final.
	chattyScript = []step{
		{0, 100, actors.LegNone, "In progress"},
		{0, 200, actors.LegDestination, "Connected to destination"},
		{0, 180, actors.LegDestination, "Ringing destination"},
		{0, 487, actors.LegDestination, "Cancelled"},
	}
)

// fakeEngine is a test double of the engine's CallStarter. The translated
// destination picks the script: ...486@ busy, ...503@ refused, ...999@ held
// until release is closed, ...777@ a misbehaving engine, else success.
type fakeEngine struct {
	release  chan struct{}
	mu       sync.Mutex
	calls    []actors.CallRequest
	finished int // calls whose last step was delivered
	wg       sync.WaitGroup
}

func newFakeEngine() *fakeEngine { return &fakeEngine{release: make(chan struct{})} }

func (e *fakeEngine) StartCall(req actors.CallRequest, onProgress func(actors.Progress)) (string, error) {
	e.mu.Lock()
	e.calls = append(e.calls, req)
	id := fmt.Sprintf("call-%d", len(e.calls))
	e.mu.Unlock()
	script := successScript
	switch {
	case strings.Contains(req.Destination, "503@"):
		return "", &actors.Refusal{Ending: actors.EndMaxActiveCalls, Text: "Too many calls", RetryAfter: time.Second}
	case strings.Contains(req.Destination, "486@"):
		script = busyScript
	case strings.Contains(req.Destination, "777@"):
		script = chattyScript
	case strings.Contains(req.Destination, "999@"):
		script = []step{successScript[0], {-1, 200, actors.LegDestination, "Connected to destination"}}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, s := range script {
			if s.after < 0 {
				<-e.release
			}
			time.Sleep(s.after)
			onProgress(actors.Progress{CallID: id, Code: s.code, Leg: s.leg, Text: s.text, At: time.Now()})
		}
		e.mu.Lock()
		e.finished++
		e.mu.Unlock()
	}()
	return id, nil
}

func (e *fakeEngine) counts() (started, finished int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls), e.finished
}

// startServer runs a server on 127.0.0.1 and a free port unless cfg says otherwise.
func startServer(t *testing.T, cfg config.XML, engine actors.CallStarter, opts ...func(*Options)) *Server {
	t.Helper()
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	return startServerOn(t, cfg, engine, opts...)
}

func startServerOn(t *testing.T, cfg config.XML, engine actors.CallStarter, opts ...func(*Options)) *Server {
	t.Helper()
	s := newTestServer(t, cfg, engine, opts...)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestServer makes a server that is shut down when the test ends; the
// test starts it.
func newTestServer(t *testing.T, cfg config.XML, engine actors.CallStarter, opts ...func(*Options)) *Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	o := Options{
		Config:    cfg,
		Translate: testTranslate,
		Starter:   engine,
		Logger:    quiet,
		System:    system,
	}
	for _, f := range opts {
		f(&o)
	}
	s := New(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		system.Shutdown()
	})
	return s
}

// client is a test client that reads response documents with a deadline.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *client) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// nextDoc reads one response document as raw bytes (they all end with
// "</ClickToCall>\n"), or returns the read error.
func (c *client) nextDoc() ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	var doc []byte
	for !bytes.HasSuffix(doc, []byte("</ClickToCall>\n")) {
		line, err := c.br.ReadBytes('\n')
		doc = append(doc, line...)
		if err != nil {
			return doc, err
		}
	}
	return doc, nil
}

func (c *client) next() parsedResponse {
	c.t.Helper()
	doc, err := c.nextDoc()
	if err != nil {
		c.t.Fatalf("reading a response: %v (got %q)", err, doc)
	}
	r, err := parseOne(doc)
	if err != nil {
		c.t.Fatalf("response does not parse: %v\n%s", err, doc)
	}
	return r
}

// expectClosed waits for the server to end the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	rest, err := io.ReadAll(c.br)
	if err != nil {
		c.t.Fatalf("connection not closed cleanly: %v", err)
	}
	if len(rest) > 0 {
		c.t.Fatalf("unexpected data before close: %q", rest)
	}
}

// expectOpen checks that the connection is still usable by placing a call on it.
func (c *client) expectOpen() {
	c.t.Helper()
	c.send(callRequest("sip:check@x", "1"))
	if r := c.next(); r.Response.Result.Code != 100 || r.Request.Initiator != "sip:check@x" {
		c.t.Fatalf("connection not usable: got %+v", r)
	}
	for !c.next().final() {
	}
}

func callRequest(initiator, destination string) string {
	return "<ClickToCall><Request><Initiator>" + initiator + "</Initiator><Destination>" + destination +
		"</Destination></Request></ClickToCall>"
}

func (r parsedResponse) summary() string {
	return fmt.Sprintf("%d %s %s", r.Response.Result.Code, r.leg(), r.Response.Result.Text)
}

func TestSuccessfulCallStreamsTheSeedResponsesByteForByte(t *testing.T) {
	s := startServer(t, config.XML{}, newFakeEngine())
	c := dial(t, s.Addr().String())
	c.send(seedRequest)

	echo := "<ClickToCall>\n<Request>\n<Initiator>sip:scott@sipdomain.com</Initiator>\n<Destination>9055551234</Destination>\n<AnchorCall>false</AnchorCall>\n</Request>\n<Response>\n"
	want := echo + "<TranslatedInitiator>sip:scott@sipdomain.com</TranslatedInitiator>\n<TranslatedDestination>sip:9055551234@gateway.com</TranslatedDestination>\n<Result Code=\"100\">In progress</Result>\n</Response>\n</ClickToCall>\n" +
		echo + "<Result Code=\"180\" Leg=\"Initiator\">Ringing initiator</Result>\n</Response>\n</ClickToCall>\n" +
		echo + "<Result Code=\"200\" Leg=\"Initiator\">Connected to initiator</Result>\n</Response>\n</ClickToCall>\n" +
		echo + "<Result Code=\"180\" Leg=\"Destination\">Ringing destination</Result>\n</Response>\n</ClickToCall>\n" +
		echo + "<Result Code=\"200\" Leg=\"Destination\">Connected to destination</Result>\n</Response>\n</ClickToCall>\n"
	got := make([]byte, len(want))
	_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(c.br, got); err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	if string(got) != want {
		t.Fatalf("response stream:\n%s\nwant:\n%s", got, want)
	}
	c.expectOpen()
}

func TestFlexibleRequestSyntaxIsAcceptedAndEchoedAsSent(t *testing.T) {
	e := newFakeEngine()
	s := startServer(t, config.XML{}, e)
	c := dial(t, s.Addr().String())
	req := "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- click -->\r\n<clicktocall xmlns=\"urn:x\" v='1'>\r\n" +
		"  <request id=\"42\">\r\n    <INITIATOR>sip:a&amp;b@x.com</INITIATOR>\r\n    <destination> 123 </destination>\r\n" +
		"    <anchorCall> TRUE </anchorCall>\r\n  </request>\r\n</clicktocall>\r\n"
	c.send(req)
	doc, err := c.nextDoc()
	if err != nil {
		t.Fatal(err)
	}
	wantEcho := "<request id=\"42\">\r\n    <INITIATOR>sip:a&amp;b@x.com</INITIATOR>\r\n    <destination> 123 </destination>\r\n" +
		"    <anchorCall> TRUE </anchorCall>\r\n  </request>"
	if !bytes.HasPrefix(doc, []byte("<ClickToCall>\n"+wantEcho+"\n<Response>\n<TranslatedInitiator>sip:a&amp;b@x.com</TranslatedInitiator>\n<TranslatedDestination>sip:123@gateway.com</TranslatedDestination>\n<Result Code=\"100\">")) {
		t.Fatalf("first response:\n%s", doc)
	}
	for !c.next().final() {
	}
	e.mu.Lock()
	call := e.calls[0]
	e.mu.Unlock()
	if call.Initiator != "sip:a&b@x.com" || call.Destination != "sip:123@gateway.com" || !call.Anchor || call.Origin != "xml" || call.ClientIP != "127.0.0.1" {
		t.Errorf("engine got %+v", call)
	}

	// A self-closing root is answered, not waited on.
	c.send(`<ClickToCall/>`)
	if r := c.next(); r.summary() != "400 - Missing initiator and/or destination tags" {
		t.Errorf("self-closing root got %s", r.summary())
	}
	c.expectOpen()
}

func TestPipelinedRequestsEachGetTheirOwnStream(t *testing.T) {
	const n = 50
	s := startServer(t, config.XML{}, newFakeEngine())
	c := dial(t, s.Addr().String())
	var all strings.Builder
	for i := range n {
		all.WriteString(callRequest(fmt.Sprintf("sip:user%d@x", i), "123"))
		if i%2 == 0 {
			all.WriteString("\r\n") // some with whitespace between, some back to back
		}
	}
	c.send(all.String())

	streams := map[string][]string{}
	finals := 0
	for finals < n {
		r := c.next()
		who := r.Request.Initiator
		if len(streams[who]) > 0 && strings.HasSuffix(streams[who][len(streams[who])-1], "final") {
			t.Fatalf("%s got %s after its final", who, r.summary())
		}
		entry := r.summary()
		if r.final() {
			entry += " final"
			finals++
		}
		if r.Response.Result.Code == 100 && (r.Response.TranslatedDestination == nil || *r.Response.TranslatedDestination != "sip:123@gateway.com") {
			t.Errorf("%s: 100 without the translated destination", who)
		}
		streams[who] = append(streams[who], entry)
	}
	want := "100 - In progress|180 Initiator Ringing initiator|200 Initiator Connected to initiator|180 Destination Ringing destination|200 Destination Connected to destination final"
	if len(streams) != n {
		t.Fatalf("%d streams, want %d", len(streams), n)
	}
	for who, got := range streams {
		if strings.Join(got, "|") != want {
			t.Errorf("%s stream: %v", who, got)
		}
	}
	c.expectOpen()
}

func TestConcurrentConnectionsDoNotMixStreams(t *testing.T) {
	s := startServer(t, config.XML{}, newFakeEngine())
	var wg sync.WaitGroup
	for conn := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s.Addr().String())
			prefix := fmt.Sprintf("sip:conn%d-", conn)
			for i := range 10 {
				c.send(callRequest(fmt.Sprintf("%s%d@x", prefix, i), "123"))
			}
			for finals := 0; finals < 10; {
				r := c.next()
				if !strings.HasPrefix(r.Request.Initiator, prefix) {
					t.Errorf("connection %d got a result for %s", conn, r.Request.Initiator)
					return
				}
				if r.final() {
					finals++
				}
			}
		}()
	}
	wg.Wait()
}

func TestBadRequestsGetTheirCodeAndKeepTheConnection(t *testing.T) {
	tests := []struct {
		name, request, want string
	}{
		{"unknown root", "<Hangup><Request><CallId>1</CallId></Request></Hangup>", "400 - Unknown method"},
		{"unknown request element", "<ClickToCall><Transfer/></ClickToCall>", "400 - Unknown method"},
		{"missing destination", "<ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>", "400 - Missing initiator and/or destination tags"},
		{"no translation rule", callRequest("1", "bob"), "400 - No translation rule for bob"},
		{"invalid URI", callRequest("bad-uri", "1"), "400 - Invalid URI format sip:bad uri"},
		{"value too long", callRequest("1", strings.Repeat("2", 2000)), "400 - Destination too long (more than 1024 bytes)"},
		{"control character", callRequest("sip:a&#9;b@c", "1"), "400 - Initiator contains control characters"},
		{"refused by the engine", callRequest("1", "503"), "503 - Too many calls"},
		{"failed call", callRequest("1", "486"), "100 - In progress|486 Initiator Failed to connect to initiator"},
		{"nothing after the final", callRequest("1", "777"), "100 - In progress|200 Destination Connected to destination"},
	}
	s := startServer(t, config.XML{}, newFakeEngine())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.Addr().String())
			c.send(tt.request)
			var got []string
			for {
				r := c.next()
				got = append(got, r.summary())
				if r.final() {
					break
				}
			}
			if strings.Join(got, "|") != tt.want {
				t.Fatalf("got %q, want %q", strings.Join(got, "|"), tt.want)
			}
			// The next thing on the connection is the answer to the next request.
			c.expectOpen()
		})
	}
}

func TestUnreadableRequestIsAnsweredAndClosesTheConnection(t *testing.T) {
	tests := []struct {
		name, request, want string
	}{
		{"not XML", "GET /clicktocall.html HTTP/1.1\r\nHost: x\r\n\r\n", "400 - Parse error"},
		{"broken XML", "<ClickToCall><Request></ClickToCall>" + callRequest("1", "2"), "400 - Parse error"},
		{"too large", "<ClickToCall><Request><Initiator>" + strings.Repeat("1", 3000) + "</Initiator></Request></ClickToCall>", "413 - Request too large"},
		{"too large and still sending", callRequest("1", strings.Repeat("2", 300000)), "413 - Request too large"},
	}
	s := startServer(t, config.XML{MaxRequestSize: 2048}, newFakeEngine())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.Addr().String())
			go func() { _, _ = io.WriteString(c.conn, tt.request) }() // a large request may not fit the socket buffers
			r := c.next()
			if r.summary() != tt.want {
				t.Fatalf("got %s, want %s", r.summary(), tt.want)
			}
			if r.Request.Inner != "" {
				t.Errorf("echoed %q, want an empty Request", r.Request.Inner)
			}
			c.expectClosed()
		})
	}
	dial(t, s.Addr().String()).expectOpen()
}

func TestClientThatHalfClosesStillGetsItsResults(t *testing.T) {
	s := startServer(t, config.XML{}, newFakeEngine())
	c := dial(t, s.Addr().String())
	c.send(callRequest("sip:a@x", "1") + callRequest("sip:b@x", "2"))
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	for finals := 0; finals < 2; {
		if c.next().final() {
			finals++
		}
	}
	c.expectClosed()
}

func TestClientClosingMidCallHarmsNothing(t *testing.T) {
	e := newFakeEngine()
	s := startServer(t, config.XML{}, e)
	gone := dial(t, s.Addr().String())
	gone.send(callRequest("sip:gone@x", "999")) // held until release
	if r := gone.next(); r.Response.Result.Code != 100 {
		t.Fatalf("got %s", r.summary())
	}
	gone.conn.Close()

	other := dial(t, s.Addr().String())
	other.send(callRequest("sip:other@x", "999"))
	other.next()
	close(e.release) // both calls go on and end; one result has nowhere to go
	if r := other.next(); r.summary() != "200 Destination Connected to destination" {
		t.Fatalf("other connection got %s", r.summary())
	}
	deadline := time.Now().Add(waitLimit)
	for {
		if started, finished := e.counts(); started == 2 && finished == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("calls did not run to their end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	other.expectOpen()
	dial(t, s.Addr().String()).expectOpen()
}

func TestPanicWhileHandlingARequestClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, config.XML{MaxConns: 2}, newFakeEngine())
	other := dial(t, s.Addr().String())
	other.expectOpen()
	c := dial(t, s.Addr().String())
	c.send(callRequest("1", "panic"))
	_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	if rest, err := io.ReadAll(c.br); (err != nil && !isReset(err)) || len(rest) > 0 {
		t.Fatalf("got %q, %v; want the connection closed", rest, err)
	}
	other.expectOpen()
	// The closed connection no longer counts against max_connections.
	deadline := time.Now().Add(waitLimit)
	for {
		c := dial(t, s.Addr().String())
		c.send(callRequest("sip:late@x", "1"))
		if c.next().Response.Result.Code == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection admitted after the crashed one")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectionLimitsAnswer503(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.XML
		want string
	}{
		{"total", config.XML{MaxConns: 2}, "503 - Too many connections"},
		{"per client IP", config.XML{MaxConnsPerIP: 2}, "503 - Too many connections from 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg, newFakeEngine())
			first, second := dial(t, s.Addr().String()), dial(t, s.Addr().String())
			first.expectOpen()
			second.expectOpen()
			third := dial(t, s.Addr().String())
			if r := third.next(); r.summary() != tt.want {
				t.Fatalf("got %s, want %s", r.summary(), tt.want)
			}
			third.expectClosed()
			// A place frees up when a connection ends.
			first.conn.Close()
			deadline := time.Now().Add(waitLimit)
			for {
				c := dial(t, s.Addr().String())
				c.send(callRequest("sip:late@x", "1"))
				if c.next().Response.Result.Code == 100 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no connection admitted after one closed")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestListensOnIPv6Loopback(t *testing.T) {
	s := startServer(t, config.XML{Address: "::1"}, newFakeEngine())
	if !strings.HasPrefix(s.Addr().String(), "[::1]:") {
		t.Fatalf("listening on %s", s.Addr())
	}
	c := dial(t, s.Addr().String())
	c.send(callRequest("sip:v6@x", "1"))
	if r := c.next(); r.Response.Result.Code != 100 {
		t.Fatalf("got %s", r.summary())
	}
}

func TestEmptyAddressListensOnIPv4AndIPv6(t *testing.T) {
	e := newFakeEngine()
	s := startServerOn(t, config.XML{}, e)
	_, port, _ := net.SplitHostPort(s.Addr().String())
	for _, host := range []string{"127.0.0.1", "::1"} {
		c := dial(t, net.JoinHostPort(host, port))
		c.expectOpen()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) != 2 || e.calls[0].ClientIP != "127.0.0.1" || e.calls[1].ClientIP != "::1" {
		t.Errorf("client IPs seen by the engine: %+v", e.calls)
	}
}

func TestShutdownLetsCallsFinishThenCloses(t *testing.T) {
	e := newFakeEngine()
	s := startServer(t, config.XML{}, e)
	busy, idle := dial(t, s.Addr().String()), dial(t, s.Addr().String())
	busy.send(callRequest("sip:held@x", "999"))
	busy.next()
	idle.expectOpen()

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	idle.expectClosed() // nothing in progress: closed at once
	busy.send(callRequest("sip:new@x", "1"))
	if r := busy.next(); r.summary() != "503 - Server shutting down" || r.Request.Initiator != "sip:new@x" {
		t.Fatalf("new request during shutdown got %s for %s", r.summary(), r.Request.Initiator)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a call in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(e.release)
	if r := busy.next(); r.summary() != "200 Destination Connected to destination" {
		t.Fatalf("got %s", r.summary())
	}
	busy.expectClosed()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Shutdown did not return")
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

func TestShutdownDeadlineGivesOpenCallsAFinal(t *testing.T) {
	e := newFakeEngine()
	defer close(e.release)
	s := startServer(t, config.XML{}, e)
	c := dial(t, s.Addr().String())
	c.send(callRequest("sip:held@x", "999"))
	c.next()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the context's deadline", err)
	}
	if r := c.next(); r.summary() != "503 - Server shutting down" || r.Request.Initiator != "sip:held@x" {
		t.Fatalf("got %s for %s", r.summary(), r.Request.Initiator)
	}
	c.expectClosed()
}

func TestIdleConnectionIsClosedButNotDuringACall(t *testing.T) {
	const idle = 200 * time.Millisecond
	e := newFakeEngine()
	s := startServer(t, config.XML{IdleTimeout: idle}, e)

	quiet := dial(t, s.Addr().String())
	start := time.Now()
	quiet.expectClosed()
	if took := time.Since(start); took < idle*3/4 {
		t.Errorf("closed after %v, before the idle timeout", took)
	}

	busy := dial(t, s.Addr().String())
	busy.send(callRequest("sip:held@x", "999"))
	busy.next()
	time.Sleep(3 * idle)
	close(e.release)
	if r := busy.next(); r.summary() != "200 Destination Connected to destination" {
		t.Fatalf("got %s", r.summary())
	}
	ended := time.Now()
	busy.expectClosed()
	if took := time.Since(ended); took < idle/2 {
		t.Errorf("closed %v after the call ended, want about the idle timeout", took)
	}
}

func TestClientThatDoesNotReadIsCutOff(t *testing.T) {
	e := newFakeEngine()
	s := startServer(t, config.XML{}, e, func(o *Options) { o.MaxQueuedOutput = 64 << 10 })
	conn, err := net.DialTimeout("tcp", s.Addr().String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	// 100 requests of 20 KB each: 10 MB of responses, more than the socket
	// buffers and the output cap hold.
	pad := "<!--" + strings.Repeat("x", 20000) + "-->"
	const n = 100
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := 0; i < n; i++ {
			_ = conn.SetWriteDeadline(time.Now().Add(waitLimit))
			if _, err := io.WriteString(conn, "<ClickToCall><Request>"+pad+"<Initiator>1</Initiator><Destination>2</Destination></Request></ClickToCall>"); err != nil {
				return // cut off already
			}
		}
	}()
	select {
	case <-written:
	case <-time.After(waitLimit):
		t.Fatal("requests not written")
	}
	deadline := time.Now().Add(waitLimit)
	for {
		if started, finished := e.counts(); started > 0 && started == finished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("calls did not run to their end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Now read: the stream ends before all the finals.
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	data, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("read: %v", err)
	}
	if finals := bytes.Count(data, []byte(`Leg="Destination">Connected to destination`)); finals >= n {
		t.Fatalf("all %d finals delivered to a client that did not read", finals)
	}
	dial(t, s.Addr().String()).expectOpen()
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(err.Error(), "reset")
}

func TestOutboxRefusesPastItsLimit(t *testing.T) {
	o := newOutbox(10, nil)
	if !o.push(make([]byte, 6)) || o.push(make([]byte, 5)) {
		t.Fatal("limit not applied")
	}
	_, n, _, _ := o.wait()
	if o.push(make([]byte, 5)) {
		t.Fatal("bytes being written still count")
	}
	o.written(n)
	if !o.push(make([]byte, 10)) {
		t.Fatal("written bytes not released")
	}
}

// The direct write takes what the socket takes while nothing is queued;
// the rest, and everything pushed while bytes wait, goes to the writer in
// order.
func TestOutboxWritesDirectlyWhileNothingIsQueued(t *testing.T) {
	var direct []string
	room := 8 // what the "socket" takes
	o := newOutbox(100, func(b []byte) int {
		n := min(room, len(b))
		room -= n
		direct = append(direct, string(b[:n]))
		return n
	})
	for _, s := range []string{"abc", "defgh", "ijk", "lm"} {
		if !o.push([]byte(s)) {
			t.Fatalf("push %q refused", s)
		}
	}
	// abc and defgh fit; ijk finds the socket full and queues; lm queues
	// behind it without a direct try.
	if want := []string{"abc", "defgh", ""}; !slices.Equal(direct, want) {
		t.Errorf("direct writes %q, want %q", direct, want)
	}
	bufs, n, _, _ := o.wait()
	if got := string(bytes.Join(bufs, nil)); got != "ijklm" || n != 5 {
		t.Errorf("writer got %q (%d bytes), want ijklm", got, n)
	}
	o.written(n)
	room = 8
	if !o.push([]byte("no")) || direct[len(direct)-1] != "no" {
		t.Errorf("direct writes resume once the writer is done: %q", direct)
	}
}

// instantEngine answers every call with 100 and 200 Destination at once.
type instantEngine struct{}

func (instantEngine) StartCall(req actors.CallRequest, onProgress func(actors.Progress)) (string, error) {
	onProgress(actors.Progress{Code: 100, Text: "In progress"})
	onProgress(actors.Progress{Code: 200, Leg: actors.LegDestination, Text: "Connected to destination"})
	return "id", nil
}

// refusingEngine refuses every call, as overload protection does.
type refusingEngine struct{}

func (refusingEngine) StartCall(actors.CallRequest, func(actors.Progress)) (string, error) {
	return "", &actors.Refusal{Ending: actors.EndOverload, Text: "Server overloaded", RetryAfter: time.Second}
}

// BenchmarkPipelinedRefusals measures what a refused request costs the front
// end: requests written back to back in batches of 8 on one connection, as
// a pipelining client under overload sends them, each read back to its 503.
func BenchmarkPipelinedRefusals(b *testing.B) {
	req := "<ClickToCall><Request><Initiator>sip:alice@example.com</Initiator><Destination>sip:bob@example.com</Destination>" +
		"<AnchorCall>false</AnchorCall></Request></ClickToCall>\n"
	b.ReportAllocs()
	benchmarkPipelined(b, refusingEngine{}, strings.Repeat(req, 8), 8, `Code="503"`)
}

// BenchmarkPipelinedCalls measures the front end alone: requests written
// back to back on one connection, each read back to its final.
func BenchmarkPipelinedCalls(b *testing.B) {
	benchmarkPipelined(b, instantEngine{}, seedRequest, 1, `Leg="Destination"`)
}

// benchmarkPipelined writes chunk (perChunk requests) back to back on one
// connection to a server on engine until b.N requests are out, and reads
// until b.N lines containing final have come back.
func benchmarkPipelined(b *testing.B, engine actors.CallStarter, chunk string, perChunk int, final string) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer system.Shutdown()
	s := New(Options{Config: config.XML{Address: "127.0.0.1"}, Translate: testTranslate, Starter: engine, Logger: quiet, System: system})
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go func() {
		for i := 0; i < b.N; i += perChunk {
			if _, err := io.WriteString(conn, chunk); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(conn)
	b.ResetTimer()
	for finals := 0; finals < b.N; {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if bytes.Contains(line, []byte(final)) {
			finals++
		}
	}
}
