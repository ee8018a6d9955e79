package main

// Every command that README.md and docs/*.md show in a shell block (```sh)
// is run here against the built binary, or, where that cannot be done in
// a test, checked in a cheaper way listed in docExceptions with the
// reason. The command text is read from the page, so editing the page
// changes what is tested; only the addresses of the placeholder convention
// of docs/development.md ("Commands in the docs") are replaced. A command
// no check claims fails TestDocsCommands.
//
// The server under test routes every call through its outbound proxy,
// one in-process phone that plays every user (alice@example.com,
// 9055551234, ...): the addresses in the commands stay as written, and so
// do the translated URIs the pages show in their outputs.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
)

// docCheck runs, or checks, the commands whose text matches (of one page,
// when page is set).
type docCheck struct {
	page  string
	match *regexp.Regexp
	// block: the check handles the whole block of the command that
	// matches, a script whose lines depend on each other (it must match
	// the block's first command).
	block bool
	// why, for an exception: why the command is not run as written, and
	// what is checked instead.
	why   string
	check func(e *docsEnv, t *testing.T, c docCommand)
}

// docRuns are the checks that run a command as written (addresses
// replaced) and assert on its output.
var docRuns = []*docCheck{
	{match: regexp.MustCompile(`^go run \./cmd/clicktocall +#`), check: (*docsEnv).serveShippedConfig},
	{match: regexp.MustCompile(`^go run \./cmd/clicktocall demo\b`), check: (*docsEnv).demo},
	{match: regexp.MustCompile(`^curl '[^']*/clicktocall\.html\?initiator=alice@example\.com&destination=9055551234'$`), check: (*docsEnv).httpREFER},
	{match: regexp.MustCompile(`^curl -d initiator=.* anchor=true`), check: (*docsEnv).httpAnchored},
	{match: regexp.MustCompile(`^curl --digest -u "admin:\$CLICKTOCALL_HTTP_PASSWORD"`), check: (*docsEnv).httpDigest},
	{match: regexp.MustCompile(`(?s)^printf '<ClickToCall>.*\| nc -N localhost 5094$`), check: (*docsEnv).xmlNC},
	{page: "docs/console.md", match: regexp.MustCompile(``), check: runByTest("TestDocsConsoleCommands")},
	{page: "docs/bench-report.md", match: regexp.MustCompile(`^go run \./bench -start-server -rate \d+ -duration \S+ -report report\.html$`), check: runByTest("TestDocsBenchReport")},
	{page: "docs/api.md", match: regexp.MustCompile(``), check: (*docsEnv).api},
	{page: "docs/tls.md", match: regexp.MustCompile(``), check: (*docsEnv).tls},
	{page: "docs/bench.md", match: regexp.MustCompile(`^go test -run '\^\$' -bench Floor `), check: benchFloor},
	{match: regexp.MustCompile(`^clicktocall check -config deploy/config\.hcl$`), check: (*docsEnv).checkDeployConfig},
	{match: regexp.MustCompile(`^promtool (check|test) rules deploy/`), check: (*docsEnv).promtool},
	{match: regexp.MustCompile(`^systemd-analyze security --offline=yes deploy/`), check: (*docsEnv).systemdSecurity},
}

// docExceptions are the commands not run as written, each with the reason
// and the cheaper check that stands in.
var docExceptions = []*docCheck{
	{match: regexp.MustCompile(`^\./test\.sh\b`),
		why:   "runs every check and test of the project, this one included: bash -n, and that it runs the tests with -race",
		check: checkTestSh},
	{match: regexp.MustCompile(`^([A-Z_]+=\S+ )*\./hardening\.sh\b`),
		why:   "the long run (fuzzing for minutes, a 30-minute soak): bash -n, and the variables and argument the command sets are the script's",
		check: checkHardening},
	{match: regexp.MustCompile(`^go test -run='\^\$' -fuzz='\^\w+\$' -fuzztime=\S+ \./\w+`),
		why:   "fuzzing for 30 minutes: the fuzz target exists in that package",
		check: checkFuzzTarget},
	{match: regexp.MustCompile(`^go run \./bench -start-server (-mode anchored )?-rate 500 -duration 10s\b`),
		why:   "10 s at 500 calls/s is a benchmark: run for 1 s at 50 calls/s, its table checked",
		check: (*docsEnv).benchShort},
	{match: regexp.MustCompile(`^go run \./bench -start-server -search\b`),
		why:   "a search of up to ten 10 s steps: two 1 s steps, 20 then 40 calls/s",
		check: (*docsEnv).benchSearch},
	{match: regexp.MustCompile(`(?s)^go run \./bench -start-server -baseline-bin \S+ .*-ab-rounds \d+`),
		why:   "an A/B run of two builds, minutes long: the flags are the bench's",
		check: checkBenchFlags},
	{match: regexp.MustCompile(`^git worktree add /tmp/ctc-base`), block: true,
		why:   "A/B runs of two builds, minutes each, from a worktree of an old commit: bash -n, and the flags are the bench's",
		check: checkBenchFlags},
	{match: regexp.MustCompile(`^TUNE=`), block: true,
		why:   "60 s at 2,000 calls/s is a benchmark: the block runs as written, SIPp phones and all, for 2 s at 50 calls/s",
		check: (*docsEnv).benchSIPp},
	{match: regexp.MustCompile(`^clicktocall bench -start-server -server-bin BINARY `),
		why:   "one trial of an A/B of two builds against SIPp phones restarted before each, a minute at thousands of calls/s: bash -n, and the flags are the bench's",
		check: checkBenchFlags},
	{match: regexp.MustCompile(`^clicktocall bench -xml \S+ -http \S+ -server-pid \$SERVER\b`),
		why:   "60 s at 6,000 calls/s is a benchmark: run for 1 s at 20 calls/s against the running server",
		check: (*docsEnv).benchRunningServer},
	{match: regexp.MustCompile(`^go build -trimpath -ldflags "-X main\.version=`), block: true,
		why:   "installs into /usr/local/bin, /etc and systemd as root: bash -n, and the -X target is a string variable of package main",
		check: checkInstallBlock},
	{match: regexp.MustCompile(`^docker build\b`), block: true,
		why:   "builds an image from registry images: bash -n; TestDeployFiles checks the Dockerfile",
		check: checkSyntax},
	{page: "docs/cluster.md", match: regexp.MustCompile(``), block: true,
		why:   "etcd and three nodes are what TestClusterOfThreeNodesAnswersForEveryCallOnEveryNode runs, as the page says: bash -n, etcd's flags (etcd --help), and that test exists; TestDocsConfigBlocks loads the page's config",
		check: checkClusterBlock},
	{match: regexp.MustCompile(`^systemd-analyze verify deploy/clicktocall\.service\b`),
		why:   "wants the unit's ExecStart binary installed: deploy/check.sh (in ./test.sh) runs it on a copy pointed at a fresh build",
		check: checkRunByDeployCheck("systemd-analyze verify")},
}

// docsEnv is what the checks share: the server, the phone behind its
// outbound proxy, the status callback receiver.
type docsEnv struct {
	srv   *e2eServer
	phone *simphone.Phone
	hook  *callbackRecorder
	// cdrFile is the shared server's CDR file
	cdrFile string
	mu      sync.Mutex
	refer   simphone.ReferBehaviour // of the next calls' initiator
	// pages whose commands ran as one flow, and the commands they ran
	flows map[string]bool
	ran   map[string]bool
}

// docsSecret is the status callback secret and the HTTP password of the
// servers of these tests.
const docsSecret = "docs-secret"

// quickREFER is how the phone, as initiator, handles the REFER for most
// commands: it accepts, reports the destination ringing, then answering.
var quickREFER = simphone.ReferBehaviour{Mode: simphone.ReferAccept, Ringing: true}

func TestDocsCommands(t *testing.T) {
	for _, tool := range []string{"curl", "nc", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required when CI is set (./test.sh installs it): %v", tool, err)
			}
			t.Skipf("%s is not installed (./test.sh installs it)", tool)
		}
	}
	e := &docsEnv{flows: map[string]bool{}, ran: map[string]bool{}, refer: quickREFER}
	e.phone = e.newProxyPhone(t)
	e.hook = newCallbackRecorder(t)
	o := e.serverOptions(t, "")
	o.dir = t.TempDir()
	e.cdrFile = filepath.Join(o.dir, "cdr.jsonl")
	o.extra += fmt.Sprintf("cdr {\n  file = %q\n}\n", e.cdrFile)
	e.srv = startServer(t, o)

	checks := append(append([]*docCheck{}, docRuns...), docExceptions...)
	used := map[*docCheck]bool{}
	blocks := map[*fence]bool{}
	for _, c := range shellCommands(t, mdPages(t)) {
		if blocks[c.block] {
			continue
		}
		var hits []*docCheck
		for _, ch := range checks {
			if (ch.page == "" || ch.page == c.page) && ch.match.MatchString(c.text) {
				hits = append(hits, ch)
			}
		}
		if len(hits) != 1 {
			t.Errorf("%v\nmatched by %d checks, want 1: a new command needs a check in docRuns (or, if it cannot run in a test, in docExceptions)", c, len(hits))
			continue
		}
		ch := hits[0]
		used[ch] = true
		if ch.block {
			blocks[c.block] = true
		}
		t.Run(fmt.Sprintf("%s:%d", c.page, c.line), func(t *testing.T) {
			if ch.why != "" {
				t.Logf("not run as written: %s", ch.why)
			}
			ch.check(e, t, c)
		})
	}
	t.Run("docs/operations.md CDR example", e.cdrExample)
	for _, ch := range docExceptions {
		if ch.why == "" {
			t.Errorf("the exception %q gives no reason", ch.match)
		}
	}
	for _, ch := range checks {
		if ch.page != "" {
			if _, err := os.Stat(filepath.Join("..", "..", ch.page)); err != nil {
				continue // a page still to come
			}
		}
		if !used[ch] {
			t.Errorf("the check for %q matched no command of the pages", ch.match)
		}
	}
}

// flow runs f once, at the first of a page's commands, for commands that
// depend on each other; f marks those it ran with e.ran. Then c must be
// one of them.
func (e *docsEnv) flow(t *testing.T, c docCommand, f func(t *testing.T, cmds []docCommand)) {
	t.Helper()
	if !e.flows[c.page] {
		e.flows[c.page] = true
		f(t, shellCommands(t, []string{c.page}))
	}
	if !e.ran[c.String()] {
		t.Errorf("%v: the flow of %s did not run it", c, c.page)
	}
}

// serverOptions are those of the servers the commands talk to: the
// shipped translation rules, every call through the outbound proxy (the
// phone), a status callback secret; http adds to the http block.
func (e *docsEnv) serverOptions(t *testing.T, http string) serverOptions {
	t.Helper()
	rules := regexp.MustCompile(`(?ms)^translation \{.*?^\}`).FindAllString(readRepoFile(t, "config.hcl"), -1)
	if len(rules) == 0 {
		t.Fatal("config.hcl has no translation rules")
	}
	return serverOptions{
		referTimeout: "20s",
		sip:          fmt.Sprintf("outbound_proxy = %q", "sip:"+e.phone.Addr("udp")+";lr"),
		http:         http,
		extra:        strings.Join(rules, "\n") + fmt.Sprintf("\napi {\n  status_callback_secret = %q\n}\n", docsSecret),
	}
}

// newProxyPhone is the phone at the servers' outbound proxy address: it
// gets every call, plays every user, and rings first. As the initiator
// (called by the server itself) it handles the REFER as e.refer says; as
// the destination of an anchored call it hangs up after 300 ms.
func (e *docsEnv) newProxyPhone(t *testing.T) *simphone.Phone {
	t.Helper()
	p, err := simphone.New(simphone.Config{User: "proxy", Choose: func(invite *sip.Request) simphone.Behaviour {
		if from := invite.From(); from != nil && from.Address.User != "clicktocall" {
			return simphone.Behaviour{Ring: true, TalkTime: 300 * time.Millisecond}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		return simphone.Behaviour{Ring: true, Refer: e.refer}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (e *docsEnv) setREFER(r simphone.ReferBehaviour) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refer = r
}

// newCalls waits until the phone has had n calls more than before, every
// call over, and returns those n.
func (e *docsEnv) newCalls(t *testing.T, before, n int) []simphone.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	calls, err := e.phone.WaitFor(ctx, func(calls []simphone.Call) bool {
		if len(calls) < before+n {
			return false
		}
		for _, c := range calls {
			switch c.State {
			case simphone.CallEnded, simphone.CallRejected, simphone.CallCancelled, simphone.CallFailed:
			default:
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("waiting for %d calls to end: %v", n, err)
	}
	if len(calls) != before+n {
		t.Errorf("the phone had %d calls, want %d", len(calls)-before, n)
	}
	return calls[before:]
}

// expectRequest checks that a call got a request of this method whose
// Request-URI (or, for REFER, Refer-To) contains want.
func expectRequest(t *testing.T, c simphone.Call, method sip.RequestMethod, want string) {
	t.Helper()
	m, ok := c.Request(simphone.In, method)
	if !ok {
		t.Errorf("call %s got no %s", c.CallID, method)
		return
	}
	got := m.Request.Recipient.String()
	if method == sip.REFER {
		got = m.Header("Refer-To")
	}
	if !strings.Contains(got, want) {
		t.Errorf("the %s went to %s, want %s", method, got, want)
	}
}

// subst replaces the addresses of the placeholder convention with those
// of the test (pairs first, then the shared server's), and the go run
// commands with the built binary.
func (e *docsEnv) subst(text string, pairs ...string) string {
	pairs = append(pairs,
		"localhost:5090", e.srv.httpAddr(),
		"localhost 5094", strings.Replace(e.srv.xmlAddr(), ":", " ", 1),
		"localhost:5094", e.srv.xmlAddr(),
		"https://hooks.example.com", e.hook.srv.URL,
		"go run ./cmd/clicktocall", "clicktocall",
		"go run ./bench", "clicktocall bench")
	return strings.NewReplacer(pairs...).Replace(text)
}

// shippedConfigCopy writes config.hcl into dir, with its SIP, HTTP and
// XML ports replaced by free ones; it returns the HTTP port.
func shippedConfigCopy(t *testing.T, dir string) int {
	t.Helper()
	ports := map[string]int{"5072": freePort(t, false, "udp", "tcp"), "5090": freePort(t, false, "tcp"), "5094": freePort(t, false, "tcp")}
	cfg := regexp.MustCompile(`(?m)^(\s*(?:udp_tcp_port|port)\s*=\s*)(5072|5090|5094)\b`).ReplaceAllStringFunc(readRepoFile(t, "config.hcl"), func(m string) string {
		return m[:len(m)-4] + strconv.Itoa(ports[m[len(m)-4:]])
	})
	if err := os.WriteFile(filepath.Join(dir, "config.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return ports["5090"]
}

// README: the server on the shipped config prints its banner, whose
// console URL answers, and stops cleanly on SIGTERM.
func (e *docsEnv) serveShippedConfig(t *testing.T, c docCommand) {
	// The ports the command's comment names are the shipped config's.
	if m := regexp.MustCompile(`HTTP on (\d+), XML on (\d+), SIP on (\d+)`).FindStringSubmatch(c.text); m != nil {
		cfg := readRepoFile(t, "config.hcl")
		for i, re := range []string{`(?ms)^http \{.*?^\s*port\s*=\s*(\d+)`, `(?ms)^xml \{.*?^\s*port\s*=\s*(\d+)`, `(?m)^\s*udp_tcp_port\s*=\s*(\d+)`} {
			if p := regexp.MustCompile(re).FindStringSubmatch(cfg); p == nil || p[1] != m[i+1] {
				t.Errorf("%v: the comment says port %s, config.hcl has %v", c, m[i+1], p)
			}
		}
	}
	dir := t.TempDir()
	httpPort := shippedConfigCopy(t, dir)
	var consoleErr error
	r := runDoc(t, e.subst(c.text), runOpts{dir: dir, timeout: 20 * time.Second, until: func(out, _ string) bool {
		if !strings.Contains(out, " ready in ") {
			return false
		}
		m := regexp.MustCompile(`(?m)^  console  (\S+)$`).FindStringSubmatch(out)
		if m == nil {
			consoleErr = fmt.Errorf("the banner has no console line")
			return true
		}
		consoleErr = getOK(m[1], "<html")
		return true
	}})
	if !r.stopped {
		t.Fatalf("the server did not get ready: %s", r)
	}
	if consoleErr != nil {
		t.Errorf("console: %v\n%s", consoleErr, r)
	}
	for _, want := range []string{"  config   " + filepath.Join(dir, "config.hcl"), fmt.Sprintf("  http     [::]:%d", httpPort),
		fmt.Sprintf("  console  http://localhost:%d/", httpPort), "  log      " + filepath.Join(dir, "clicktocall.log"), " stopped\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q:\n%s", want, r)
		}
	}
}

// getOK gets url and expects 200 and a body containing want.
func getOK(url, want string) error {
	client := http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %d, body without %q", url, res.StatusCode, want)
	}
	return nil
}

// docs/bench.md: the demo on the shipped config connects both calls.
func (e *docsEnv) demo(t *testing.T, c docCommand) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.hcl"), []byte(readRepoFile(t, "config.hcl")), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, e.subst(c.text), runOpts{dir: dir, timeout: 45 * time.Second})
	if !strings.Contains(r.stdout, "both calls connected: the demo worked") {
		t.Errorf("the demo did not connect both calls: %s", r)
	}
}

// docs/bench.md's floor benchmarks run as written (they take a second)
// and report both figures.
func benchFloor(_ *docsEnv, t *testing.T, c docCommand) {
	r := mustRun(t, c.text, runOpts{timeout: 2 * time.Minute})
	for _, name := range []string{"BenchmarkFloorDatagram", "BenchmarkFloorParseEncode"} {
		if !regexp.MustCompile(name + `-\d+\s+20000\s+\d+ ns/op`).MatchString(r.stdout) {
			t.Errorf("%s: no %s line with 20000 runs: %s", c.text, name, r)
		}
	}
}

// startedPage is what the HTTP interface answers to a call it started
// (docs/interfaces.md's table).
func startedPage(initiator, destination, mode string) string {
	return fmt.Sprintf("Initiating click-to-call from %s to %s (%s)", initiator, destination, mode)
}

// A REFER call over HTTP: the page, and the INVITE and REFER on the wire.
func (e *docsEnv) httpREFER(t *testing.T, c docCommand) {
	before := len(e.phone.Calls())
	r := mustRun(t, e.subst(c.text), runOpts{})
	if want := startedPage("sip:alice@example.com", "sip:9055551234@example.com", "unanchored"); !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "Call id: ") {
		t.Errorf("the page lacks %q and the call id: %s", want, r)
	}
	calls := e.newCalls(t, before, 1)
	expectRequest(t, calls[0], sip.INVITE, "sip:alice@example.com")
	expectRequest(t, calls[0], sip.REFER, "sip:9055551234@example.com")
}

// An anchored call over HTTP: both phones called.
func (e *docsEnv) httpAnchored(t *testing.T, c docCommand) {
	before := len(e.phone.Calls())
	r := mustRun(t, e.subst(c.text), runOpts{})
	if want := startedPage("sip:alice@example.com", "sip:9055551234@example.com", "anchored"); !strings.Contains(r.stdout, want) {
		t.Errorf("the page lacks %q: %s", want, r)
	}
	calls := e.newCalls(t, before, 2)
	expectRequest(t, calls[0], sip.INVITE, "sip:alice@example.com")
	expectRequest(t, calls[1], sip.INVITE, "sip:9055551234@example.com")
}

// With http.auth = true: the credentials of the command get the call.
func (e *docsEnv) httpDigest(t *testing.T, c docCommand) {
	srv := startServer(t, e.serverOptions(t, fmt.Sprintf("auth = true\n  password = %q", docsSecret)))
	before := len(e.phone.Calls())
	r := mustRun(t, e.subst(c.text, "localhost:5090", srv.httpAddr()), runOpts{env: []string{"CLICKTOCALL_HTTP_PASSWORD=" + docsSecret}})
	if want := startedPage("sip:alice@example.com", "sip:9055551234@example.com", "unanchored"); !strings.Contains(r.stdout, want) {
		t.Errorf("the page lacks %q: %s", want, r)
	}
	e.newCalls(t, before, 1)
	// And without them, no call.
	if r := runDoc(t, "curl -s -o /dev/null -w '%{http_code}' "+e.subst("'http://localhost:5090/clicktocall.html?initiator=a@b&destination=1'", "localhost:5090", srv.httpAddr()), runOpts{}); r.stdout != "401" {
		t.Errorf("without credentials: %s, want 401", r.stdout)
	}
}

// The XML request with nc: the stream docs/interfaces.md shows, then the
// rest of its table of a successful call, and the connection closed.
func (e *docsEnv) xmlNC(t *testing.T, c docCommand) {
	page := readRepoFile(t, "docs/interfaces.md")
	var first string
	for _, f := range fences(page) {
		if f.info == "xml" && strings.Contains(f.text, `<Result Code="100">`) {
			first = f.text
		}
	}
	if first == "" {
		t.Fatal("docs/interfaces.md shows no response stream")
	}
	table := successfulStream(t, page)
	before := len(e.phone.Calls())
	r := mustRun(t, e.subst(c.text), runOpts{timeout: 15 * time.Second})
	if !strings.HasPrefix(r.stdout, first) {
		t.Errorf("the stream does not begin as docs/interfaces.md shows:\n%s\nit shows:\n%s", r, first)
	}
	got := regexp.MustCompile(`<Result [^>]*>[^<]*</Result>`).FindAllString(r.stdout, -1)
	if strings.Join(got, "\n") != strings.Join(table, "\n") {
		t.Errorf("results\n%s\nthe table of a successful call\n%s", strings.Join(got, "\n"), strings.Join(table, "\n"))
	}
	e.newCalls(t, before, 1)

	// The page's first request document, with its optional AnchorCall,
	// gets the same stream; its request with per-call options is refused
	// on the shipped rules (no api.caller_ids) as the page shows.
	if c.page != "docs/interfaces.md" {
		return
	}
	var request, withOptions, refusal string
	for _, f := range fences(page) {
		switch {
		case f.info != "xml":
		case strings.HasPrefix(f.text, "<ClickToCall><Request>") && strings.Contains(f.text, "<InitiatorCallerId>"):
			withOptions = f.text
		case strings.HasPrefix(f.text, "<ClickToCall><Request>") && request == "":
			request = f.text
		case strings.Contains(f.text, `<Result Code="400">`):
			refusal = regexp.MustCompile(`<Result [^>]*>[^<]*</Result>`).FindString(f.text)
		}
	}
	if request == "" {
		t.Fatal("docs/interfaces.md shows no request document")
	}
	nc := "nc -N " + strings.Replace(e.srv.xmlAddr(), ":", " ", 1)
	before = len(e.phone.Calls())
	r = mustRun(t, nc, runOpts{stdin: request, timeout: 15 * time.Second})
	if got := regexp.MustCompile(`<Result [^>]*>[^<]*</Result>`).FindAllString(r.stdout, -1); strings.Join(got, "\n") != strings.Join(table, "\n") {
		t.Errorf("the request document got\n%s\nthe table of a successful call\n%s", strings.Join(got, "\n"), strings.Join(table, "\n"))
	}
	e.newCalls(t, before, 1)
	if withOptions != "" {
		if refusal == "" {
			t.Fatal("docs/interfaces.md shows a request with per-call options but not its refusal")
		}
		r = mustRun(t, nc, runOpts{stdin: withOptions, timeout: 15 * time.Second})
		if got := regexp.MustCompile(`<Result [^>]*>[^<]*</Result>`).FindAllString(r.stdout, -1); len(got) != 1 || got[0] != refusal {
			t.Errorf("the request with per-call options got %q, the page shows %q", got, refusal)
		}
		if n := len(e.phone.Calls()); n != before+1 {
			t.Errorf("the refused request reached a phone (%d calls)", n-before-1)
		}
	}
}

// successfulStream reads docs/interfaces.md's table of a successful call's
// stream as the Result elements it stands for.
func successfulStream(t *testing.T, page string) []string {
	t.Helper()
	_, after, ok := strings.Cut(page, "A successful call's stream")
	if !ok {
		t.Fatal("docs/interfaces.md has no table of a successful call's stream")
	}
	row := regexp.MustCompile("^\\| `(\\d+)` \\| (?:`(\\w+)`|—) \\| `([^`]+)`")
	var out []string
	for _, l := range strings.Split(after, "\n")[1:] {
		if strings.TrimSpace(l) == "" && len(out) > 0 {
			break
		}
		if m := row.FindStringSubmatch(l); m != nil {
			leg := ""
			if m[2] != "" {
				leg = fmt.Sprintf(" Leg=%q", m[2])
			}
			out = append(out, fmt.Sprintf(`<Result Code=%q%s>%s</Result>`, m[1], leg, m[3]))
		}
	}
	if len(out) < 3 {
		t.Fatalf("the table of a successful call has %d rows", len(out))
	}
	return out
}

// checkDeployConfig: docs/deploy.md's check of the shipped deploy config.
func (e *docsEnv) checkDeployConfig(t *testing.T, c docCommand) {
	r := mustRun(t, c.text, runOpts{env: []string{"CLICKTOCALL_HTTP_PASSWORD=" + docsSecret}})
	if !strings.HasPrefix(r.stdout, "# deploy/config.hcl is valid") || !strings.Contains(r.stdout, "\nlog.file = \"/var/lib/clicktocall/") {
		t.Errorf("unexpected output: %s", r)
	}
}

// needTool skips without a tool, except in CI (./test.sh installs it).
func needTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required when CI is set: %v", tool, err)
		}
		t.Skipf("%s is not installed (./test.sh installs it)", tool)
	}
}

func (e *docsEnv) promtool(t *testing.T, c docCommand) {
	needTool(t, "promtool")
	if r := mustRun(t, c.text, runOpts{}); !strings.Contains(r.stdout+r.stderr, "SUCCESS") {
		t.Errorf("promtool did not report SUCCESS: %s", r)
	}
}

func (e *docsEnv) systemdSecurity(t *testing.T, c docCommand) {
	needTool(t, "systemd-analyze")
	if r := mustRun(t, c.text, runOpts{}); !strings.Contains(r.stdout, "Overall exposure level for clicktocall.service:") {
		t.Errorf("no exposure level: %s", r)
	}
}
