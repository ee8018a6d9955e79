package main

// The pages whose commands depend on each other, run as one flow each:
// docs/api.md (a call created, read, followed, cancelled, its callbacks
// checked) and docs/tls.md (certificates made, a server on them, clients
// over TLS). Outputs are compared with the blocks the pages show after the
// commands.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
)

// callback is a status callback the server POSTed.
type callback struct {
	path   string
	header http.Header
	body   string
}

// callbackRecorder receives status callbacks.
type callbackRecorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []callback
}

func newCallbackRecorder(t *testing.T) *callbackRecorder {
	t.Helper()
	r := &callbackRecorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, callback{req.Method + " " + req.URL.Path, req.Header.Clone(), string(body)})
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait waits until cond holds for the callbacks received.
func (r *callbackRecorder) wait(t *testing.T, what string, cond func([]callback) bool) []callback {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		got := append([]callback(nil), r.got...)
		r.mu.Unlock()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s among %d callbacks within 15 s: %+v", what, len(got), got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// docTime is a timestamp in an example output: any time matches it.
var docTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// jsonDiff compares an output with the example a page shows: the same
// keys, arrays of the same length, the same values, except that a string
// with "…" stands for any string, and a timestamp for any timestamp.
func jsonDiff(path string, doc, got any) []string {
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v, the page shows an object", path, got)}
		}
		var out []string
		for k := range d {
			if _, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
			}
		}
		for k, gv := range g {
			dv, ok := d[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: %v, not on the page", path, k, gv))
				continue
			}
			out = append(out, jsonDiff(path+"."+k, dv, gv)...)
		}
		sort.Strings(out)
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(d) {
			return []string{fmt.Sprintf("%s: %v, the page shows %d elements", path, got, len(d))}
		}
		var out []string
		for i := range d {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), d[i], g[i])...)
		}
		return out
	case string:
		g, ok := got.(string)
		switch {
		case !ok:
			return []string{fmt.Sprintf("%s: %v, the page shows %q", path, got, d)}
		case strings.Contains(d, "…"):
			return nil
		case docTime.MatchString(d):
			if _, err := time.Parse(time.RFC3339Nano, g); err != nil {
				return []string{fmt.Sprintf("%s: %q is no timestamp", path, g)}
			}
			return nil
		}
	}
	if !reflect.DeepEqual(doc, got) {
		return []string{fmt.Sprintf("%s: %v, the page shows %v", path, got, doc)}
	}
	return nil
}

// expectJSON compares JSON with the example JSON.
func expectJSON(t *testing.T, where, doc, got string) {
	t.Helper()
	var d, g any
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Errorf("%s: the page's example is no JSON: %v\n%s", where, err, doc)
		return
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("%s: the output is no JSON: %v\n%s", where, err, got)
		return
	}
	if diff := jsonDiff("", d, g); len(diff) > 0 {
		t.Errorf("%s: the output differs from the page's example:\n  %s\noutput: %s", where, strings.Join(diff, "\n  "), got)
	}
}

// expectShownJSON compares a command's output with the JSON block the page
// shows right after it.
func expectShownJSON(t *testing.T, c docCommand, out string) {
	t.Helper()
	if c.block.next == nil || c.block.next.info != "json" {
		t.Errorf("%v: no JSON output follows it", c)
		return
	}
	expectJSON(t, c.String(), c.block.next.text, out)
}

func (e *docsEnv) api(t *testing.T, c docCommand) { e.flow(t, c, e.apiFlow) }

// apiFlow: a REFER call whose destination rings (the final NOTIFY held
// back), created, read, followed and cancelled with the page's commands,
// whose outputs match the page's; the status callbacks match the page's
// example and its openssl command computes their signature.
func (e *docsEnv) apiFlow(t *testing.T, cmds []docCommand) {
	e.setREFER(simphone.ReferBehaviour{Mode: simphone.ReferAccept, Ringing: true, FinalNotifyDelay: 30 * time.Second})
	defer e.setREFER(quickREFER)
	before := len(e.phone.Calls())
	find := func(pattern string) docCommand {
		t.Helper()
		for _, c := range cmds {
			if regexp.MustCompile(pattern).MatchString(c.text) {
				e.ran[c.String()] = true
				return c
			}
		}
		t.Fatalf("docs/api.md has no command matching %s", pattern)
		return docCommand{}
	}

	post := find(`^curl -s -X POST http://localhost:5090/api/v1/calls\b`)
	r := mustRun(t, e.subst(post.text), runOpts{})
	expectShownJSON(t, post, r.stdout)
	var call struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &call); err != nil || call.ID == "" {
		t.Fatalf("no call id: %v: %s", err, r)
	}
	id := []string{"5f0c…", call.ID}
	deadline := time.Now().Add(10 * time.Second)
	for getOK("http://"+e.srv.httpAddr()+"/api/v1/calls/"+call.ID, `"state":"ringing_destination"`) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the call is not ringing the destination after 10 s: %v", getOK("http://"+e.srv.httpAddr()+"/api/v1/calls/"+call.ID, `"state":"ringing_destination"`))
		}
		time.Sleep(20 * time.Millisecond)
	}

	get := find(`^curl -s http://localhost:5090/api/v1/calls/5f0c…$`)
	r = mustRun(t, e.subst(get.text, id...), runOpts{})
	expectShownJSON(t, get, r.stdout)

	events := find(`^curl -N http://localhost:5090/api/v1/calls/5f0c…/events$`)
	stream := startDoc(t, e.subst(events.text, id...), runOpts{})
	deadline = time.Now().Add(10 * time.Second)
	for out, _ := stream.output(); strings.Count(out, "event: result") < 4; out, _ = stream.output() {
		if time.Now().After(deadline) {
			t.Fatalf("the event stream has not the 4 results so far after 10 s:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}

	del := find(`^curl -s -X DELETE http://localhost:5090/api/v1/calls/5f0c…$`)
	r = mustRun(t, e.subst(del.text, id...), runOpts{})
	var cancelled struct {
		Final struct{ Code int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &cancelled); err != nil || cancelled.Final.Code != 487 {
		t.Errorf("DELETE: want the call with final 487: %v: %s", err, r)
	}
	ev := stream.wait(runOpts{timeout: 10 * time.Second})
	if ev.code != 0 {
		t.Errorf("the event stream did not end after the final: %s", ev)
	}
	expectShownLines(t, events, ev.stdout)
	if !regexp.MustCompile(`\ndata: \{[^\n]*"code":487[^\n]*"final":true\}\n\n$`).MatchString(ev.stdout) {
		t.Errorf("the event stream does not end with the final 487:\n%s", ev.stdout)
	}
	e.newCalls(t, before, 1)

	// The status callbacks, up to the final.
	got := e.hook.wait(t, "final callback", func(cbs []callback) bool {
		for _, cb := range cbs {
			if strings.Contains(cb.body, `"call_id":"`+call.ID+`"`) && strings.Contains(cb.body, `"final":true`) {
				return true
			}
		}
		return false
	})
	var third *callback
	for i, cb := range got {
		if strings.Contains(cb.body, `"call_id":"`+call.ID+`"`) && strings.Contains(cb.body, `"sequence":3,`) {
			third = &got[i]
		}
	}
	if third == nil {
		t.Fatalf("no callback with sequence 3: %+v", got)
	}
	expectShownCallback(t, *third)

	check := find(`^printf '%s\.%s' "\$timestamp" "\$body" \| openssl dgst -sha256 -hmac "\$CLICKTOCALL_CALLBACK_SECRET"$`)
	r = mustRun(t, check.text, runOpts{env: []string{"timestamp=" + third.header.Get("X-Clicktocall-Timestamp"), "body=" + third.body,
		"CLICKTOCALL_CALLBACK_SECRET=" + docsSecret}})
	sig := strings.TrimPrefix(third.header.Get("X-Clicktocall-Signature"), "sha256=")
	if len(sig) != 64 || !strings.HasSuffix(strings.TrimSpace(r.stdout), "= "+sig) {
		t.Errorf("openssl computed %q; the callback's signature is %q", r.stdout, third.header.Get("X-Clicktocall-Signature"))
	}

	// Commands this flow does not know: run, with the call's id, and
	// compared with the JSON shown after them, if any.
	for _, c := range cmds {
		if e.ran[c.String()] {
			continue
		}
		e.ran[c.String()] = true
		r := mustRun(t, e.subst(c.text, id...), runOpts{})
		if c.block.next != nil && c.block.next.info == "json" {
			expectShownJSON(t, c, r.stdout)
		} else {
			t.Errorf("%v: a command that docs/api.md shows no output of; add a check to apiFlow", c)
		}
	}
}

// expectShownLines compares output with the block shown after the command,
// line by line until a line "…"; data: lines as JSON.
func expectShownLines(t *testing.T, c docCommand, out string) {
	t.Helper()
	if c.block.next == nil {
		t.Errorf("%v: no output follows it", c)
		return
	}
	got := strings.Split(out, "\n")
	for i, want := range strings.Split(strings.TrimSuffix(c.block.next.text, "\n"), "\n") {
		if want == "…" {
			return
		}
		if i >= len(got) {
			t.Errorf("%v: the output ends before line %d, %q:\n%s", c, i+1, want, out)
			return
		}
		if d, ok := strings.CutPrefix(want, "data: "); ok {
			expectJSON(t, fmt.Sprintf("%v, line %d", c, i+1), d, strings.TrimPrefix(got[i], "data: "))
		} else if got[i] != want {
			t.Errorf("%v: line %d is %q, the page shows %q:\n%s", c, i+1, got[i], want, out)
		}
	}
}

// expectShownCallback compares a status callback with docs/api.md's.
func expectShownCallback(t *testing.T, cb callback) {
	t.Helper()
	var shown string
	for _, f := range fences(readRepoFile(t, "docs/api.md")) {
		if strings.HasPrefix(f.text, "POST ") {
			shown = f.text
		}
	}
	head, body, ok := strings.Cut(shown, "\n\n")
	if !ok {
		t.Fatalf("docs/api.md shows no status callback")
	}
	lines := strings.Split(head, "\n")
	if want := strings.TrimSuffix(lines[0], " HTTP/1.1"); cb.path != want {
		t.Errorf("the callback is %s, the page shows %s", cb.path, want)
	}
	for _, h := range lines[1:] {
		name, value, _ := strings.Cut(h, ": ")
		got := cb.header.Get(name)
		switch {
		case got == "":
			t.Errorf("the callback has no %s", name)
		case strings.HasSuffix(value, "…"):
			if !strings.HasPrefix(got, strings.TrimRight(value, "0123456789abcdef…")) {
				t.Errorf("the callback's %s is %q, the page shows %q", name, got, value)
			}
		case name == "X-Clicktocall-Timestamp":
			if _, err := strconv.ParseInt(got, 10, 64); err != nil {
				t.Errorf("the callback's timestamp %q: %v", got, err)
			}
		case got != value:
			t.Errorf("the callback's %s is %q, the page shows %q", name, got, value)
		}
	}
	expectJSON(t, "the status callback", strings.TrimSpace(body), cb.body)
}

func (e *docsEnv) tls(t *testing.T, c docCommand) { e.flow(t, c, e.tlsFlow) }

// tlsFlow: the page's certificates (for 127.0.0.1 instead of 192.0.2.10),
// a server configured with its hcl blocks, and its clients.
func (e *docsEnv) tlsFlow(t *testing.T, cmds []docCommand) {
	dir := t.TempDir()
	pairs := []string{"192.0.2.10", "127.0.0.1"}
	var rest []docCommand
	for _, c := range cmds {
		if !regexp.MustCompile(`^openssl (req|x509) `).MatchString(c.text) {
			rest = append(rest, c)
			continue
		}
		e.ran[c.String()] = true
		mustRun(t, e.subst(c.text, pairs...), runOpts{dir: dir})
	}
	for _, f := range []string{"ca.pem", "domain_cert_sip.example.com.pem", "domain_key_sip.example.com.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the page's openssl commands made no %s: %v", f, err)
		}
	}

	tlsPort := freePort(t, false, "tcp")
	o := e.serverOptions(t, "")
	o.dir = dir
	var blocks int
	for _, f := range fences(readRepoFile(t, "docs/tls.md")) {
		if f.info != "hcl" {
			continue
		}
		for _, m := range regexp.MustCompile(`(?ms)^(\w+) \{\n(.*?)^\}`).FindAllStringSubmatch(f.text, -1) {
			blocks++
			body := regexp.MustCompile(`(?m)^\s*port\s*=.*$`).ReplaceAllString(m[2], "")
			body = regexp.MustCompile(`(?m)^(\s*tls_port\s*=\s*)5073\b`).ReplaceAllString(body, "${1}"+strconv.Itoa(tlsPort))
			switch m[1] {
			case "sip":
				o.sip += "\n" + body
			case "http":
				o.http += "\n" + body
			case "xml":
				o.xml += "\n" + body
			default:
				t.Errorf("docs/tls.md: a %s block, which tlsFlow does not know", m[1])
			}
		}
	}
	if blocks != 3 {
		t.Fatalf("docs/tls.md has %d blocks in hcl, want sip, http and xml", blocks)
	}
	srv := startServer(t, o)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIP over TLS not listening after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pairs = append(pairs, "sip.example.com:5073", net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)),
		"sip.example.com:5090", srv.httpAddr(), "sip.example.com:5094", srv.xmlAddr())

	for _, c := range rest {
		e.ran[c.String()] = true
		command := e.subst(c.text, pairs...)
		opts := runOpts{dir: dir, timeout: 15 * time.Second}
		var r shellRun
		switch {
		case strings.Contains(c.text, " -brief"):
			r = mustRun(t, command, opts)
			if !strings.Contains(r.stderr+r.stdout, "Verification: OK") || !regexp.MustCompile(`Protocol version: TLSv1\.[23]`).MatchString(r.stderr+r.stdout) {
				t.Errorf("%v: no verified TLS 1.2/1.3 handshake: %s", c, r)
			}
			if strings.Contains(c.comment, "-tls1_1 is refused") {
				// The client must offer TLS 1.1 (OpenSSL 3 does not
				// by default) for the refusal to be the server's.
				old := runDoc(t, strings.Replace(command, " -brief", " -brief -tls1_1 -cipher DEFAULT@SECLEVEL=0", 1), opts)
				if old.code == 0 || !strings.Contains(old.stderr, "alert protocol version") {
					t.Errorf("%v: TLS 1.1 was not refused by the server: %s", c, old)
				}
			}
		case strings.Contains(c.text, "OPTIONS sip:"):
			opts.until = func(out, _ string) bool { return strings.Contains(out, "SIP/2.0 200 OK") }
			if r = runDoc(t, command, opts); !r.stopped {
				t.Errorf("%v: no 200 OK: %s", c, r)
			}
		case strings.HasPrefix(c.text, "curl --cacert"):
			before := len(e.phone.Calls())
			r = mustRun(t, command, opts)
			if want := startedPage("sip:100@example.com", "sip:200@example.com", "unanchored"); !strings.Contains(r.stdout, want) {
				t.Errorf("%v: the page lacks %q: %s", c, want, r)
			}
			e.newCalls(t, before, 1)
		case strings.HasPrefix(c.text, "curl 'http://"):
			if r = runDoc(t, command, opts); r.code != 52 || !strings.Contains(r.stderr, "Empty reply from server") {
				t.Errorf("%v: want curl's exit status 52, Empty reply from server: %s", c, r)
			}
		case strings.Contains(c.text, "<ClickToCall>") && strings.Contains(c.text, "s_client"):
			before := len(e.phone.Calls())
			opts.until = func(out, _ string) bool {
				return strings.Contains(out, `<Result Code="200" Leg="Destination">Connected to destination</Result>`)
			}
			if r = runDoc(t, command, opts); !r.stopped || !strings.Contains(r.stdout, `<Result Code="100">In progress</Result>`) {
				t.Errorf("%v: not the call's results: %s", c, r)
			}
			e.newCalls(t, before, 1)
		default:
			t.Errorf("%v: a command of docs/tls.md that tlsFlow does not know; add a check", c)
		}
		for _, p := range c.promised() {
			if !strings.Contains(r.stdout+r.stderr, p) {
				t.Errorf("%v: the comment before it promises %q: %s", c, p, r)
			}
		}
	}
}

// shape is a JSON value with its leaves dropped: what keys it has, nested.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = shape(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = shape(x)
		}
		return out
	}
	return nil
}

// cdrExample: the CDR line of a connected REFER call placed over the JSON
// API with a request_id has the fields of docs/operations.md's example
// (the values are the call's own).
func (e *docsEnv) cdrExample(t *testing.T) {
	var example string
	for _, f := range fences(readRepoFile(t, "docs/operations.md")) {
		if f.info == "json" && strings.Contains(f.text, `"duration_ms"`) {
			example = f.text
		}
	}
	if example == "" {
		t.Fatal("docs/operations.md shows no CDR line")
	}
	e.setREFER(quickREFER)
	before := len(e.phone.Calls())
	res, err := http.Post("http://"+e.srv.httpAddr()+"/api/v1/calls", "application/json",
		strings.NewReader(`{"initiator":"alice@example.com","destination":"9055551234","request_id":"cdr-example"}`))
	if err != nil {
		t.Fatal(err)
	}
	var call struct{ ID string }
	err = json.NewDecoder(res.Body).Decode(&call)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %v", res.StatusCode, err)
	}
	e.newCalls(t, before, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(e.cdrFile)
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.Contains(line, `"call_id":"`+call.ID+`"`) {
				continue
			}
			var d, g any
			if err := json.Unmarshal([]byte(example), &d); err != nil {
				t.Fatalf("docs/operations.md's CDR line: %v", err)
			}
			if err := json.Unmarshal([]byte(line), &g); err != nil {
				t.Fatalf("CDR line: %v: %s", err, line)
			}
			if diff := jsonDiff("", shape(d), shape(g)); len(diff) > 0 {
				t.Errorf("the CDR line's fields differ from docs/operations.md's:\n  %s\nline: %s", strings.Join(diff, "\n  "), line)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CDR line for %s in %s after 10 s:\n%s", call.ID, e.cdrFile, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
