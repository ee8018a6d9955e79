package main

// End-to-end tests of the built binary: TestMain's helpers build
// cmd/clicktocall once per test run, each test starts it on a config of its
// own (SIP, HTTP and XML on 127.0.0.1, log file in a temp dir, short timers)
// and stops it with SIGTERM, expecting exit status 0. SIPp instances
// (scenarios in testdata/sipp) play the phones; the tests check the results
// the clients get, SIPp's exit status and counters, and the SIP messages SIPp
// logged.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// e2eDir holds the binary; TestMain removes it.
var e2eDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clicktocall-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e temp dir:", err)
		os.Exit(1)
	}
	e2eDir = dir
	// sipgo's package logger is a global read by its goroutines: set it
	// before any test starts a server, never while one runs.
	sip.SetDefaultLogger(slog.New(testLogHandler()).With("lib", "sipgo"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// binary builds the server once per test run (with the race detector when
// the tests run with it, so a race in the running server fails its exit
// status check) and returns its path. It is built on first use so that the
// package's other tests do not wait for it.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(e2eDir, "clicktocall")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		buildPath = path
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Ports. The binary treats http and xml port 0 as "disabled" and needs a SIP
// port from 1 up, and SIPp reads its ports from flags; neither can report an
// ephemeral port back. So, as the one exception to "bind port 0 and read the
// address back", a free port is found by binding port 0, and closed just
// before the process that uses it starts. Ports handed out are remembered so
// two tests of this process never get the same one.
var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// freePort returns a port free on 127.0.0.1 for every network given
// ("udp", "tcp"), and, with pair, also port+2 for UDP (SIPp binds its audio
// and video media ports two apart).
func freePort(t *testing.T, pair bool, networks ...string) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for attempt := 0; attempt < 100; attempt++ {
		var held []io.Closer
		port, ok := 0, true
		for i, network := range networks {
			c, p, err := bindLoopback(network, port)
			if err != nil {
				if i == 0 {
					t.Fatalf("bind %s 127.0.0.1:0: %v", network, err)
				}
				ok = false
				break
			}
			held, port = append(held, c), p
		}
		if ok && pair {
			c, _, err := bindLoopback("udp", port+2)
			if err != nil {
				ok = false
			} else {
				held = append(held, c)
			}
		}
		for _, c := range held {
			c.Close()
		}
		if ok && !ports[port] && (!pair || !ports[port+2]) {
			ports[port] = true
			if pair {
				ports[port+2] = true
			}
			return port
		}
	}
	t.Fatal("no free port found on 127.0.0.1")
	return 0
}

func bindLoopback(network string, port int) (io.Closer, int, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, 0, err
		}
		return c, c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	return l, l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serverOptions are the settings a test changes; zero values get the
// defaults of startServer.
type serverOptions struct {
	ringTimeout  string // sip.ring_timeout, default "10s"
	referTimeout string // sip.refer_timeout, default "5s"
	sip          string // extra lines for the sip block
	http         string // extra lines for the http block (auth, password, ...)
	xml          string // extra lines for the xml block
	extra        string // more top-level config (an api block, ...)
	limits       string // more lines of the limits block
	dir          string // the server's directory (config, log, relative paths), default a new temp dir
	gorace       string // more GORACE options for a race-built server
}

// e2eLagTarget is the servers' overload_lag_target: these tests are about
// what calls do, and a machine busy with other tests (go test runs
// packages side by side, under the race detector) must not make a server
// shed their calls. The overload tests set their own.
const e2eLagTarget = "250ms"

// e2eServer is one running clicktocall process.
type e2eServer struct {
	dir                        string
	sipPort, httpPort, xmlPort int
	logFile                    string
	cmd                        *exec.Cmd
	output                     syncBuffer // stdout and stderr (WARNING and worse)
	exited                     chan struct{}
	waitErr                    error
	stopped                    bool
}

// The translation rules of every test server: SIP URIs pass through;
// "user@local:PORT" is a phone (a SIPp instance) on 127.0.0.1; digits are a
// number at a gateway that is never called (REFER tests: the initiator's
// phone "calls" it). "sip:a b" passes the first rule and is no valid URI.
const testTranslation = `
translation {
  pattern = "^(sips?:.+)$"
  output  = "$1"
}
translation {
  pattern = "^(\\w+)@local:(\\d+)$"
  output  = "sip:$1@127.0.0.1:$2"
}
translation {
  pattern = "^(\\d+)$"
  output  = "sip:$1@gateway.example.com"
}
`

// startServer writes a config for o, starts the binary and waits until its
// SIP, XML and HTTP ports accept connections. A cleanup stops it with
// SIGTERM and fails the test unless it exits with status 0; the log is
// printed when the test failed.
func startServer(t *testing.T, o serverOptions) *e2eServer {
	t.Helper()
	bin := binary(t)
	if o.ringTimeout == "" {
		o.ringTimeout = "10s"
	}
	if o.referTimeout == "" {
		o.referTimeout = "5s"
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	s := &e2eServer{dir: o.dir, exited: make(chan struct{})}
	s.logFile = filepath.Join(s.dir, "clicktocall.log")
	s.sipPort = freePort(t, false, "udp", "tcp")
	s.httpPort = freePort(t, false, "tcp")
	s.xmlPort = freePort(t, false, "tcp")
	cfg := fmt.Sprintf(`sip {
  ip_address    = "127.0.0.1"
  identity      = "sip:clicktocall@127.0.0.1"
  udp_tcp_port  = %d
  ring_timeout  = %q
  refer_timeout = %q
  %s
}
http {
  address = "127.0.0.1"
  port    = %d
  %s
}
xml {
  address = "127.0.0.1"
  port    = %d
  %s
}
log {
  level     = "DEBUG"
  file      = %q
  max_lines = 0
}
shutdown_timeout = "5s"
limits {
  overload_lag_target = %q
  %s
}
%s
%s`, s.sipPort, o.ringTimeout, o.referTimeout, o.sip, s.httpPort, o.http, s.xmlPort, o.xml, s.logFile, e2eLagTarget, o.limits, o.extra, testTranslation)
	path := filepath.Join(s.dir, "config.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "-config", path)
	s.cmd.Dir = s.dir
	if raceEnabled {
		// A race-built binary sleeps 1 s at exit by default (to let racing
		// goroutines report); a tenth of that is plenty for a server whose
		// goroutines have stopped, and saves a second per test.
		s.cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=100 "+o.gorace))
	}
	s.cmd.Stdout, s.cmd.Stderr = &s.output, &s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{s.sipPort, s.xmlPort, s.httpPort} {
		for {
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-s.exited:
				t.Fatalf("server exited before listening on %d: %v", port, s.waitErr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("server not listening on %d after 15s: %v", port, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s
}

// stop sends SIGTERM and expects a clean exit within 15 s; on any failure of
// the test it prints the server's log.
func (s *e2eServer) stop(t *testing.T) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
		if s.waitErr != nil {
			t.Errorf("server did not exit cleanly after SIGTERM: %v", s.waitErr)
		}
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("server still running 15s after SIGTERM; killed")
	}
	if t.Failed() {
		s.dumpLog(t)
	}
}

func (s *e2eServer) dumpLog(t *testing.T) {
	t.Helper()
	log, err := os.ReadFile(s.logFile)
	if err != nil {
		t.Logf("server log: %v", err)
	}
	t.Logf("server output:\n%s\nserver log %s:\n%s", s.output.String(), s.logFile, log)
}

func (s *e2eServer) sipAddr() string  { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.sipPort)) }
func (s *e2eServer) xmlAddr() string  { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.xmlPort)) }
func (s *e2eServer) httpAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort)) }

// needSIPp skips a test when sipp is missing, unless CI is set: the test
// command installs it, so in CI a missing sipp is a failure.
func needSIPp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sipp is required when CI is set: %v", err)
		}
		t.Skipf("sipp not installed (./test.sh installs it): %v", err)
	}
}

// phone is one SIPp instance playing a phone: a UAS running a scenario of
// testdata/sipp for a given number of calls.
type phone struct {
	name      string // the scenario
	user      string
	tcp       bool // SIP over TCP instead of UDP
	port      int  // SIP
	mediaPort int
	dir       string
	cmd       *exec.Cmd
	output    syncBuffer
	exited    chan struct{}
	waitErr   error
}

// sippTimeout bounds every SIPp run (-timeout with -timeout_error).
const sippTimeout = 20 * time.Second

// phoneSpec says how to run a phone.
type phoneSpec struct {
	scenario string // testdata/sipp/<scenario>.xml
	user     string
	calls    int               // SIPp's -m
	tcp      bool              // SIP over TCP (-t t1)
	remote   string            // host:port to send to: SIPp is the client (UAC)
	keys     map[string]string // -key values, over defaultKeys
}

// defaultKeys are the [keywords] of the scenarios that take one.
var defaultKeys = map[string]string{
	"transfer_result": "200 OK", // the sipfrag of initiator_accepts_refer's last NOTIFY
}

// startPhone starts SIPp with scenario testdata/sipp/<scenario>.xml as the
// phone of user over UDP, for calls calls.
func startPhone(t *testing.T, scenario, user string, calls int) *phone {
	t.Helper()
	return startPhoneWith(t, phoneSpec{scenario: scenario, user: user, calls: calls})
}

// startPhoneWith starts SIPp as the phone spec describes and waits until its
// SIP socket is bound.
func startPhoneWith(t *testing.T, spec phoneSpec) *phone {
	t.Helper()
	needSIPp(t)
	scenario := spec.scenario
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{name: scenario, user: spec.user, tcp: spec.tcp, dir: t.TempDir(), exited: make(chan struct{})}
	transport, network := "u1", "udp"
	if spec.tcp {
		transport, network = "t1", "tcp"
	}
	p.port = freePort(t, false, network)
	p.mediaPort = freePort(t, true, "udp")
	ctrlPort := freePort(t, false, "udp")
	args := []string{
		"-sf", sf, "-t", transport,
		"-i", "127.0.0.1", "-bind_local", "-p", strconv.Itoa(p.port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(p.mediaPort),
		"-ci", "127.0.0.1", "-cp", strconv.Itoa(ctrlPort),
		"-nostdin", "-m", strconv.Itoa(spec.calls),
		"-timeout", fmt.Sprintf("%ds", int(sippTimeout/time.Second)), "-timeout_error",
		"-trace_msg", "-message_file", filepath.Join(p.dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(p.dir, "errors.log"),
		"-trace_stat", "-stf", filepath.Join(p.dir, "stats.csv"),
	}
	if spec.remote != "" {
		args = append(args, spec.remote)
	}
	for k, v := range defaultKeys {
		if o, ok := spec.keys[k]; ok {
			v = o
		}
		args = append(args, "-key", k, v)
	}
	p.cmd = exec.Command("sipp", args...)
	p.cmd.Dir = p.dir
	p.cmd.Stdout, p.cmd.Stderr = &p.output, &p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			p.dump(t)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !bound(network, p.port) {
		select {
		case <-p.exited:
			t.Fatalf("sipp %s exited at start: %v\n%s", scenario, p.waitErr, p.output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sipp %s did not bind %s port %d within 10s", scenario, network, p.port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// bound reports whether a UDP socket is bound, or a TCP socket listens, on
// 127.0.0.1:port, from /proc/net: probing by binding the port would race
// with SIPp binding it, and connecting to it would be a call.
func bound(network string, port int) bool {
	data, err := os.ReadFile("/proc/net/" + network)
	if err != nil {
		// Not Linux: wait a moment; SIP retransmissions cover a slow start.
		time.Sleep(200 * time.Millisecond)
		return true
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		// sl local_address rem_address st ...; st 0A is TCP LISTEN.
		if len(f) > 3 && f[1] == local && (network == "udp" || f[3] == "0A") {
			return true
		}
	}
	return false
}

// address is how a client names this phone: translated by the test rules to
// its SIP URI.
func (p *phone) address() string {
	if p.tcp {
		return p.uri()
	}
	return fmt.Sprintf("%s@local:%d", p.user, p.port)
}

// uri is the phone's translated SIP URI.
func (p *phone) uri() string {
	if p.tcp {
		return fmt.Sprintf("sip:%s@127.0.0.1:%d;transport=tcp", p.user, p.port)
	}
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", p.user, p.port)
}

// wait waits for SIPp to exit and returns its exit status.
func (p *phone) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(sippTimeout + 5*time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("sipp %s still running after %v; killed", p.name, sippTimeout+5*time.Second)
	}
	if p.waitErr == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		return exit.ExitCode()
	}
	t.Errorf("sipp %s: %v", p.name, p.waitErr)
	return -1
}

// expectSuccess waits for SIPp and checks that it exited 0 with calls
// successful calls and no failed one.
func (p *phone) expectSuccess(t *testing.T, calls int) {
	t.Helper()
	if code := p.wait(t); code != 0 {
		t.Errorf("sipp %s exited %d, want 0 (every call completed)", p.name, code)
	}
	ok, failed := p.counters(t)
	if ok != calls || failed != 0 {
		t.Errorf("sipp %s: %d successful and %d failed calls, want %d and 0", p.name, ok, failed, calls)
	}
}

// counters reads the cumulative successful and failed call counts from the
// last line of SIPp's statistics file.
func (p *phone) counters(t *testing.T) (successful, failed int) {
	t.Helper()
	f, err := os.Open(filepath.Join(p.dir, "stats.csv"))
	if err != nil {
		t.Errorf("sipp %s statistics: %v", p.name, err)
		return -1, -1
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Errorf("sipp %s statistics: %d rows, %v", p.name, len(rows), err)
		return -1, -1
	}
	header, last := rows[0], rows[len(rows)-1]
	get := func(name string) int {
		for i, h := range header {
			if h == name && i < len(last) {
				n, err := strconv.Atoi(last[i])
				if err == nil {
					return n
				}
			}
		}
		t.Errorf("sipp %s statistics: no %s column", p.name, name)
		return -1
	}
	return get("SuccessfulCall(C)"), get("FailedCall(C)")
}

func (p *phone) dump(t *testing.T) {
	t.Helper()
	msgs, _ := os.ReadFile(filepath.Join(p.dir, "messages.log"))
	errs, _ := os.ReadFile(filepath.Join(p.dir, "errors.log"))
	t.Logf("sipp %s (%s) output:\n%s\nerrors:\n%s\nmessages:\n%s", p.name, p.uri(), p.output.String(), errs, msgs)
}

// sipMessage is one message SIPp logged, as it went over the wire.
type sipMessage struct {
	sent    bool      // false: received
	at      time.Time // when SIPp logged it (its local time)
	start   string
	headers []string // "Name: value" lines
	body    string
}

func (m sipMessage) isRequest(method string) bool {
	return strings.HasPrefix(m.start, method+" ")
}

func (m sipMessage) isResponse(code int, method string) bool {
	return strings.HasPrefix(m.start, "SIP/2.0 "+strconv.Itoa(code)+" ") &&
		strings.HasSuffix(m.header("CSeq"), " "+method)
}

// header is the value of the first header of that name ("" if none).
func (m sipMessage) header(name string) string {
	for _, h := range m.headers {
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (m sipMessage) String() string {
	dir := "received"
	if m.sent {
		dir = "sent"
	}
	return fmt.Sprintf("%s %q", dir, m.start)
}

// messages parses SIPp's -trace_msg log: each message follows a line of
// dashes and a "UDP (or TCP) message sent/received" line.
func (p *phone) messages(t *testing.T) []sipMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, "messages.log"))
	if err != nil {
		t.Fatalf("sipp %s message log: %v", p.name, err)
	}
	var out []sipMessage
	for _, chunk := range strings.Split(string(data), "----------------------------------------------- ")[1:] {
		lines := strings.Split(strings.ReplaceAll(chunk, "\r\n", "\n"), "\n")
		if len(lines) < 3 {
			continue
		}
		m := sipMessage{sent: strings.Contains(lines[1], "message sent")}
		m.at, _ = time.ParseInLocation("2006-01-02 15:04:05.000000", strings.TrimSpace(lines[0]), time.Local)
		i := 2
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		if i >= len(lines) {
			continue
		}
		m.start = strings.TrimSpace(lines[i])
		for i++; i < len(lines) && lines[i] != ""; i++ {
			m.headers = append(m.headers, lines[i])
		}
		m.body = strings.TrimRight(strings.Join(lines[min(i+1, len(lines)):], "\n"), "\n")
		out = append(out, m)
	}
	return out
}

// find returns the first message matching match, failing the test if none.
func find(t *testing.T, msgs []sipMessage, what string, match func(sipMessage) bool) sipMessage {
	t.Helper()
	for _, m := range msgs {
		if match(m) {
			return m
		}
	}
	t.Errorf("no %s among %v", what, msgs)
	return sipMessage{}
}

func received(method string) func(sipMessage) bool {
	return func(m sipMessage) bool { return !m.sent && m.isRequest(method) }
}

// xmlResult is one response document of the XML interface.
type xmlResult struct {
	Request struct {
		Initiator   string `xml:"Initiator"`
		Destination string `xml:"Destination"`
	} `xml:"Request"`
	Response struct {
		TranslatedInitiator   string `xml:"TranslatedInitiator"`
		TranslatedDestination string `xml:"TranslatedDestination"`
		Result                struct {
			Code int    `xml:"Code,attr"`
			Leg  string `xml:"Leg,attr"`
			Text string `xml:",chardata"`
		} `xml:"Result"`
	} `xml:"Response"`
}

// short is the result as "code Leg text", for comparisons.
func (r xmlResult) short() string {
	res := r.Response.Result
	if res.Leg == "" {
		return fmt.Sprintf("%d %s", res.Code, res.Text)
	}
	return fmt.Sprintf("%d %s %s", res.Code, res.Leg, res.Text)
}

func (r xmlResult) final() bool {
	res := r.Response.Result
	return res.Code >= 300 || (res.Code >= 200 && res.Leg == "Destination")
}

// xmlRequest is a request document of the XML interface.
func xmlRequest(initiator, destination string, anchor bool) string {
	return fmt.Sprintf("<ClickToCall><Request><Initiator>%s</Initiator><Destination>%s</Destination><AnchorCall>%t</AnchorCall></Request></ClickToCall>\n",
		initiator, destination, anchor)
}

// xmlClient is a connection to the XML interface.
type xmlClient struct {
	conn net.Conn
	dec  *xml.Decoder
}

func dialXML(t *testing.T, s *e2eServer) *xmlClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.xmlAddr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial xml: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &xmlClient{conn: conn, dec: xml.NewDecoder(bufio.NewReader(conn))}
}

func (c *xmlClient) send(t *testing.T, docs ...string) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, strings.Join(docs, "")); err != nil {
		t.Fatalf("write xml request: %v", err)
	}
}

// next reads one response document, waiting until the deadline.
func (c *xmlClient) next(deadline time.Time) (xmlResult, error) {
	_ = c.conn.SetReadDeadline(deadline)
	var r xmlResult
	err := c.dec.Decode(&r)
	return r, err
}

// results reads the results of one call until its final one.
func (c *xmlClient) results(t *testing.T, within time.Duration) []xmlResult {
	t.Helper()
	deadline := time.Now().Add(within)
	var out []xmlResult
	for {
		r, err := c.next(deadline)
		if err != nil {
			t.Fatalf("after %d results %v: %v", len(out), shortAll(out), err)
		}
		out = append(out, r)
		if r.final() {
			return out
		}
	}
}

func shortAll(rs []xmlResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.short()
	}
	return out
}

// expectSequence compares the results of a call with want, as short strings.
func expectSequence(t *testing.T, got []xmlResult, want ...string) {
	t.Helper()
	g := shortAll(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n  %s\nwant:\n  %s", strings.Join(g, "\n  "), strings.Join(want, "\n  "))
	}
}
