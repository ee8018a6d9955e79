package main

// Faults of the whole server: an XML client that vanishes with calls in
// flight (in process), and the built binary under SIGTERM with load on it
// and under SIGKILL with an immediate restart on the same ports. The binary
// tests use the e2e helpers (binary, startServer) with simulated phones.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
)

func TestXMLClientThatDisconnectsLeavesItsCallsRunningToTheEnd(t *testing.T) {
	s := startLiveServer(t, liveConfig(t))
	ini := s.phone("alice", simphone.Behaviour{Ring: true, RingDelay: 300 * time.Millisecond,
		Refer: simphone.ReferBehaviour{NotifyDelay: 100 * time.Millisecond}})
	dst := s.phone("bob", simphone.Behaviour{Ring: true})
	iu, du := ini.URI("udp"), dst.URI("udp")
	const calls = 10
	c := dialFrom(t, normalIP, s.xmlAddr)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var docs strings.Builder
	for i := 0; i < calls; i++ {
		fmt.Fprintf(&docs, "<ClickToCall><Request><Initiator>%s</Initiator><Destination>%s</Destination>"+
			"<AnchorCall>%t</AnchorCall></Request></ClickToCall>\n", iu.String(), du.String(), i%2 == 1)
	}
	if _, err := c.Write([]byte(docs.String())); err != nil {
		t.Fatal(err)
	}
	// Every request is accepted (100), then the client vanishes with a reset.
	br := bufio.NewReader(c)
	for accepted := 0; accepted < calls; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d accepted: %v", accepted, err)
		}
		if strings.Contains(line, `<Result Code="100">`) {
			accepted++
		}
	}
	_ = c.(*net.TCPConn).SetLinger(0)
	c.Close()

	// The calls go on to their end at the phones: REFERs for the
	// unanchored ones, the bridge for the anchored ones, whose destination
	// then hangs up.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := ini.WaitFor(ctx, func(cs []simphone.Call) bool {
		return len(cs) == calls && len(slices.DeleteFunc(cs, func(c simphone.Call) bool {
			_, refer := c.Request(simphone.In, sip.REFER)
			_, reinv := c.Find(simphone.In, sip.INVITE, 0)
			return !refer && !(reinv && len(c.Requests(simphone.In, sip.INVITE)) == 2)
		})) == calls
	}); err != nil {
		t.Fatalf("the disconnected client's calls did not run: %v", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	bridged, err := dst.WaitFor(dctx, func(cs []simphone.Call) bool {
		n := 0
		for _, c := range cs {
			if c.State == simphone.CallConfirmed {
				n++
			}
		}
		return n >= calls/2
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range bridged {
		if c.State == simphone.CallConfirmed {
			if err := dst.Bye(dctx, c.CallID); err != nil {
				t.Errorf("hang up: %v", err)
			}
		}
	}
	waitNoCalls(t, s, 15*time.Second)
	// The front end is unharmed: a new client's call completes.
	got := xmlCall(t, dialFrom(t, normalIP, s.xmlAddr), iu.String(), "sip:9@127.0.0.1:9")
	if r := lastOf(got); r.code != 200 || r.leg != "Destination" {
		t.Fatalf("new client after the disconnect: %v", got)
	}
}

// xmlStream is what the load client saw for one request.
type xmlStream struct {
	sentAt    time.Time
	accepted  bool // got 100 In progress
	finals    []int
	afterLast int // results after the final
}

var (
	echoedDest = regexp.MustCompile(`<Destination>([^<]*)</Destination>`)
	resultCode = regexp.MustCompile(`<Result Code="(\d+)"(?: Leg="(\w+)")?(?: RetryAfter="\d+")?>`)
)

// xmlLoadClient pipelines requests on one connection and files each response
// under its request's destination, unique per request.
type xmlLoadClient struct {
	conn    net.Conn
	mu      sync.Mutex
	streams map[string]*xmlStream
	done    chan struct{} // closed when the server closed the connection
}

func newXMLLoadClient(t *testing.T, addr string) *xmlLoadClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &xmlLoadClient{conn: conn, streams: map[string]*xmlStream{}, done: make(chan struct{})}
	go c.read()
	return c
}

func (c *xmlLoadClient) send(initiator, destination string, anchor bool) error {
	c.mu.Lock()
	c.streams[destination] = &xmlStream{sentAt: time.Now()}
	c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := fmt.Fprintf(c.conn, "<ClickToCall><Request><Initiator>%s</Initiator><Destination>%s</Destination>"+
		"<AnchorCall>%t</AnchorCall></Request></ClickToCall>\n", initiator, destination, anchor)
	return err
}

func (c *xmlLoadClient) read() {
	defer close(c.done)
	br := bufio.NewReader(c.conn)
	var doc strings.Builder
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := br.ReadString('\n')
		doc.WriteString(line)
		if strings.Contains(line, "</ClickToCall>") {
			c.file(doc.String())
			doc.Reset()
		}
		if err != nil {
			return
		}
	}
}

func (c *xmlLoadClient) file(doc string) {
	d, r := echoedDest.FindStringSubmatch(doc), resultCode.FindStringSubmatch(doc)
	if d == nil || r == nil {
		return
	}
	code, _ := strconv.Atoi(r[1])
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[d[1]]
	if st == nil {
		return
	}
	switch {
	case len(st.finals) > 0:
		st.afterLast++
	case code == 100:
		st.accepted = true
	case code >= 300 || (code >= 200 && r[2] == "Destination"):
		st.finals = append(st.finals, code)
	}
}

// partPhone is one phone that plays a part per call, chosen by the user of
// the Request-URI, and uri gives the address of a user at it. Start it before
// the server: it is closed after the server's cleanup, which ends its calls.
func partPhone(t *testing.T, part func(user string) simphone.Behaviour) (ph *simphone.Phone, uri func(user string) string) {
	t.Helper()
	ph, err := simphone.New(simphone.Config{User: "any", Transports: []string{"udp"},
		Choose: func(req *sip.Request) simphone.Behaviour { return part(req.Recipient.User) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ph.Close() })
	return ph, func(user string) string {
		u := ph.URI("udp")
		u.User = user
		return u.String()
	}
}

func TestSIGTERMUnderLoadGivesEveryAcceptedRequestItsFinalAndExitsInTime(t *testing.T) {
	// One phone plays every part, chosen by the user part of the Request-URI.
	parts := map[string]simphone.Behaviour{
		"ring":  {Ring: true, NoAnswer: true}, // rings until CANCELled
		"slow":  {Ring: true, RingDelay: 400 * time.Millisecond, Refer: simphone.ReferBehaviour{NotifyDelay: 300 * time.Millisecond}},
		"quick": {},
		"dring": {Ring: true, NoAnswer: true}, // a destination that rings
		"dest":  {Ring: true, RingDelay: 200 * time.Millisecond},
	}
	ph, uri := partPhone(t, func(user string) simphone.Behaviour { return parts[strings.TrimRight(user, "0123456789")] })
	s := startServer(t, serverOptions{ringTimeout: "30s", referTimeout: "30s"})
	const shutdownTimeout = 5 * time.Second // startServer's shutdown_timeout

	// Load: four pipelining XML clients and one HTTP client, about 60
	// requests a second in all, mixing every state a call can be in.
	clients := make([]*xmlLoadClient, 4)
	for i := range clients {
		clients[i] = newXMLLoadClient(t, s.xmlAddr())
	}
	initiators := []string{"ring", "slow", "quick", "slow"}
	destinations := []string{"dest", "dring", "dest"}
	var sigterm time.Time
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	var xmlSent, httpSent, httpOK, httpRefused, httpUnreachable, xmlSendFailed int
	var countMu sync.Mutex
	for ci, c := range clients {
		load.Add(1)
		go func() {
			defer load.Done()
			for n := 0; ; n++ {
				select {
				case <-stopLoad:
					return
				case <-time.After(80 * time.Millisecond):
				}
				ini := uri(fmt.Sprintf("%s%d", initiators[n%len(initiators)], n))
				dst := uri(fmt.Sprintf("%s%d%03d", destinations[n%len(destinations)], ci, n))
				err := c.send(ini, dst, n%3 == 0)
				countMu.Lock()
				xmlSent++
				if err != nil {
					xmlSendFailed++
				}
				countMu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	load.Add(1)
	go func() {
		defer load.Done()
		hc := &httpLoad{addr: s.httpAddr()}
		for n := 0; ; n++ {
			select {
			case <-stopLoad:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code := hc.call(uri(fmt.Sprintf("quick%d", 1000+n)), uri(fmt.Sprintf("dest9%03d", n)))
			countMu.Lock()
			httpSent++
			switch code {
			case 200:
				httpOK++
			case 503:
				httpRefused++
			case 0:
				httpUnreachable++
			default:
				t.Errorf("HTTP answered %d under load", code)
			}
			countMu.Unlock()
		}
	}()

	// CTC_LOAD_MS of load before the SIGTERM.
	time.Sleep(time.Duration(envInt("CTC_LOAD_MS", 1500)) * time.Millisecond)
	sigterm = time.Now()
	s.stopped = true // this test stops it, not startServer's cleanup
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The load goes on during the shutdown.
	time.Sleep(500 * time.Millisecond)
	close(stopLoad)
	load.Wait()
	var exitedAfter time.Duration
	select {
	case <-s.exited:
		exitedAfter = time.Since(sigterm)
	case <-time.After(shutdownTimeout + 10*time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.dumpLog(t)
		t.Fatalf("still running %v after SIGTERM", shutdownTimeout+10*time.Second)
	}
	if s.waitErr != nil {
		s.dumpLog(t)
		t.Fatalf("exit after SIGTERM: %v", s.waitErr)
	}
	if exitedAfter > shutdownTimeout+time.Second {
		t.Errorf("exited %v after SIGTERM, shutdown_timeout is %v", exitedAfter, shutdownTimeout)
	}

	// Every request the server accepted got exactly one final, nothing
	// after it; requests it did not accept got a final refusal, or were
	// still unread when it closed the connection after SIGTERM.
	var accepted, finals, refusedAtShutdown, unread int
	for _, c := range clients {
		<-c.done
		c.mu.Lock()
		for dest, st := range c.streams {
			switch {
			case st.afterLast > 0 || len(st.finals) > 1:
				t.Errorf("%s: finals %v and %d results after the final", dest, st.finals, st.afterLast)
			case st.accepted && len(st.finals) == 0:
				t.Errorf("%s: accepted, but no final result (a lost request)", dest)
			case st.accepted:
				accepted++
				finals++
			case len(st.finals) == 1 && st.finals[0] == 503:
				refusedAtShutdown++
			case len(st.finals) == 0 && st.sentAt.After(sigterm.Add(-100*time.Millisecond)):
				unread++
			default:
				t.Errorf("%s (sent %v before SIGTERM): finals %v, never accepted", dest, sigterm.Sub(st.sentAt), st.finals)
			}
		}
		c.mu.Unlock()
	}
	if accepted < 40 {
		t.Errorf("only %d requests accepted: not much of a load", accepted)
	}
	// The server ended every call at the phones before exiting: no call is
	// left ringing or connected there.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ph.WaitFor(ctx, func(cs []simphone.Call) bool {
		for _, c := range cs {
			switch c.State {
			case simphone.CallRinging, simphone.CallAnswered, simphone.CallConfirmed:
				return false
			}
		}
		return true
	}); err != nil {
		var open []string
		for _, c := range ph.Calls() {
			if c.State == simphone.CallRinging || c.State == simphone.CallConfirmed || c.State == simphone.CallAnswered {
				open = append(open, c.String())
			}
		}
		t.Errorf("calls left open at the phones after the server exited:\n%s", strings.Join(open, "\n"))
	}
	t.Logf("SIGTERM under load: XML %d sent, %d accepted with %d finals (0 lost), %d refused 503 during shutdown, %d unread at close; "+
		"HTTP %d sent: %d ok, %d refused 503, %d after the listener closed; exit 0 %v after SIGTERM (shutdown_timeout %v); %d phone calls all ended",
		xmlSent, accepted, finals, refusedAtShutdown, unread, httpSent, httpOK, httpRefused, httpUnreachable, exitedAfter.Round(time.Millisecond),
		shutdownTimeout, len(ph.Calls()))
}

// httpLoad asks for calls over HTTP; 0 means the server did not answer (its
// listener is closed).
type httpLoad struct{ addr string }

func (h *httpLoad) call(initiator, destination string) int {
	c, err := net.DialTimeout("tcp", h.addr, time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /clicktocall.html?initiator=%s&destination=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		urlEscape(initiator), urlEscape(destination)); err != nil {
		return 0
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || len(line) < 12 {
		return 0
	}
	code, _ := strconv.Atoi(line[9:12])
	return code
}

func TestSIGKILLThenRestartOnTheSamePortsWithNoStaleState(t *testing.T) {
	ph, uri := partPhone(t, func(user string) simphone.Behaviour {
		if strings.HasPrefix(user, "ring") {
			return simphone.Behaviour{Ring: true, NoAnswer: true}
		}
		return simphone.Behaviour{}
	})
	first := startServer(t, serverOptions{ringTimeout: "30s"})
	// Calls in flight: one bridged (anchored), one ringing.
	c := dialFrom(t, normalIP, first.xmlAddr())
	if r := lastOf(xmlCallMode(t, c, uri("alice"), uri("bob"), true)); r.code != 200 {
		t.Fatalf("bridged call: %+v", r)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "<ClickToCall><Request><Initiator>%s</Initiator><Destination>%s</Destination></Request></ClickToCall>\n",
		uri("ringer"), uri("bob"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ph.WaitCall(ctx, func(c simphone.Call) bool { return c.State == simphone.CallRinging }); err != nil {
		t.Fatal(err)
	}

	first.stopped = true
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	killed := time.Now()
	second := restartOnSamePorts(t, first)
	t.Logf("restarted on the same ports %v after SIGKILL", time.Since(killed).Round(time.Millisecond))

	// No stale state: the new server knows none of the old calls. The
	// bridged call's BYE is answered 481, and a new call completes.
	var bridged simphone.Call
	for _, call := range ph.Calls() {
		if call.State == simphone.CallConfirmed {
			bridged = call
		}
	}
	if bridged.CallID == "" {
		t.Fatalf("no bridged call at the phone: %v", ph.Calls())
	}
	if err := ph.Bye(ctx, bridged.CallID); err == nil || !strings.Contains(err.Error(), "481") {
		t.Errorf("BYE of a call of the killed server: %v, want 481", err)
	}
	c2 := dialFrom(t, normalIP, second.xmlAddr())
	if r := lastOf(xmlCall(t, c2, uri("carol"), uri("dave"))); r.code != 200 || r.leg != "Destination" {
		t.Fatalf("call after the restart: %+v", r)
	}
	// startServer's cleanup stops the new server with SIGTERM and expects exit 0.
}

// restartOnSamePorts starts the binary again with old's configuration (and so
// its ports) at once, failing the test unless every port is bound on the
// first attempt.
func restartOnSamePorts(t *testing.T, old *e2eServer) *e2eServer {
	t.Helper()
	s := &e2eServer{dir: old.dir, sipPort: old.sipPort, httpPort: old.httpPort, xmlPort: old.xmlPort,
		logFile: old.logFile, exited: make(chan struct{})}
	s.cmd = exec.Command(binary(t), "serve", "-config", old.dir+"/config.hcl")
	s.cmd.Dir = s.dir
	s.cmd.Env = old.cmd.Env
	s.cmd.Stdout, s.cmd.Stderr = &s.output, &s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range []string{s.sipAddr(), s.xmlAddr(), s.httpAddr()} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.exited:
				t.Fatalf("restarted server exited (ports not usable at once?): %v\n%s", s.waitErr, s.output.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("restarted server not listening on %s: %v", addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s
}
