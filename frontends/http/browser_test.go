package httpfront

// A browser test: headless Chromium (Debian package chromium) loads the /
// page, the test drives it through the Chrome DevTools protocol like a user
// (fill the form, press Call, press Hang up) and reads what the page shows.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// browser is a headless Chromium with one page, driven over CDP.
type browser struct {
	t    *testing.T
	conn net.Conn
	rw   io.ReadWriter
	id   int
}

// startBrowser opens url in headless Chromium, or skips the test when
// Chromium is not installed (test.sh installs it where it can).
func startBrowser(t *testing.T, url string) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian: apt-get install chromium)")
	}
	dir := t.TempDir()
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+dir, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", url)
	// Its own process group, so the renderer and helper processes it
	// starts go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
	})

	// Chromium writes the port it chose into the profile directory.
	var port int
	deadline := time.Now().Add(30 * time.Second)
	for port == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			port, _ = strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its debugging port; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var targets []struct{ Type, URL, WebSocketDebuggerURL string }
	for {
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", port))
		if err == nil {
			err = json.NewDecoder(res.Body).Decode(&targets)
			res.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				conn, br, _, err := ws.Dial(ctx, tg.WebSocketDebuggerURL)
				if err != nil {
					t.Fatalf("devtools websocket: %v", err)
				}
				t.Cleanup(func() { conn.Close() })
				var r io.Reader = conn
				if br != nil {
					r = io.MultiReader(br, conn)
				}
				return &browser{t: t, conn: conn, rw: struct {
					io.Reader
					io.Writer
				}{r, conn}}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page target: %v, %v", targets, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cdp sends one DevTools command to the page and returns its result.
func (b *browser) cdp(method string, params map[string]any) json.RawMessage {
	b.t.Helper()
	b.id++
	msg, _ := json.Marshal(map[string]any{"id": b.id, "method": method, "params": params})
	if err := b.conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		b.t.Fatal(err)
	}
	if err := wsutil.WriteClientText(b.rw, msg); err != nil {
		b.t.Fatalf("devtools write: %v", err)
	}
	for {
		data, err := wsutil.ReadServerText(b.rw)
		if err != nil {
			b.t.Fatalf("devtools read: %v", err)
		}
		var reply struct {
			ID     int                       `json:"id"`
			Result json.RawMessage           `json:"result"`
			Error  *struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(data, &reply) != nil || reply.ID != b.id {
			continue // an event, or an answer to an earlier call
		}
		if reply.Error != nil {
			b.t.Fatalf("%s: %s", method, reply.Error.Message)
		}
		return reply.Result
	}
}

// eval evaluates a JavaScript expression in the page and returns its value
// as JSON.
func (b *browser) eval(expr string) json.RawMessage {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(b.cdp("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}), &r); err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if r.ExceptionDetails != nil {
		b.t.Fatalf("evaluate %s: %s", expr, r.ExceptionDetails.Text)
	}
	return r.Result.Value
}

// waitFor evaluates expr until it yields a string for which ok is true.
func (b *browser) waitFor(what, expr string, ok func(string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s string
		_ = json.Unmarshal(b.eval(expr), &s)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: page shows %q", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrowserPlacesACallSeesItsProgressAndHangsItUp(t *testing.T) {
	// Each phone rings for most of a second, so the page's steps stay on
	// screen long enough for the test to see them on a busy machine (with
	// 300 ms it saw only the first and the last under load).
	st := newStack(t, phone.Behaviour{Ring: true, RingDelay: 800 * time.Millisecond},
		phone.Behaviour{Ring: true, RingDelay: 800 * time.Millisecond})
	b := startBrowser(t, st.base+"/")
	b.waitFor("page loaded", `document.readyState + (document.getElementById("call-form") ? " form" : "")`,
		func(s string) bool { return s == "complete form" })

	// Place an anchored call as a user would.
	b.eval(fmt.Sprintf(`(() => {
		const f = document.getElementById("call-form");
		f.elements.initiator.value = %q;
		f.elements.destination.value = %q;
		f.elements.anchor.checked = true;
		f.elements.initiator_headers.value = "X-Ticket: T-42";
		f.elements.initiator_ring_timeout.value = "20";
		f.elements.metadata.value = '{ "crm": 42 }';
		f.querySelector("button[type=submit]").click();
		return true;
	})()`, st.uri(st.init), st.uri(st.dest)))

	// The progress appears live, result by result, up to the final.
	const results = `Array.from(document.querySelectorAll("#results li .result-text")).map(e => e.textContent).join(" | ")`
	seen := map[string]bool{}
	got := b.waitFor("progress", results, func(s string) bool {
		seen[s] = true
		return strings.Contains(s, "200 Destination")
	})
	want := "100 In progress | 180 Initiator Ringing initiator | 200 Initiator Connected to initiator | " +
		"180 Destination Ringing destination | 200 Destination Connected to destination"
	if got != want {
		t.Errorf("page shows %q, want %q", got, want)
	}
	if len(seen) < 3 {
		t.Errorf("the progress did not appear step by step; the page showed only %d states", len(seen))
	}
	var id string
	_ = json.Unmarshal(b.eval(`document.getElementById("call-id").textContent`), &id)
	v := st.waitView(id, func(v callView) bool { return v.State == cdr.StateConnected })
	if v.Origin != "api" || !v.Anchor || string(v.Metadata) != `{"crm":42}` {
		t.Errorf("the page placed %+v", v)
	}
	// The form's per-call options reached the wire.
	invite, _ := phoneCall(t, st.init, phone.Received(sip.INVITE)).Request(phone.In, sip.INVITE)
	if h := invite.Header("X-Ticket"); h != "T-42" {
		t.Errorf("the initiator's INVITE has X-Ticket %q, want the form's T-42", h)
	}

	// Back on the console, the connected call is listed as in progress;
	// hang it up from the list.
	b.eval(`location.hash = ""`)
	row := fmt.Sprintf(`document.querySelector('#active-calls tbody tr[data-id=%q]')`, id)
	b.waitFor("active call listed", `(`+row+` || {textContent: ""}).textContent`,
		func(s string) bool {
			return strings.Contains(s, "anchored") && strings.Contains(s, "connected") && strings.HasSuffix(s, "Hang up")
		})
	b.eval(row + `.querySelector("button").click()`)

	phoneCall(t, st.init, phone.Received(sip.BYE))
	phoneCall(t, st.dest, phone.Received(sip.BYE))
	st.waitView(id, func(v callView) bool { return v.State == cdr.StateEnded })
	b.waitFor("row removed", `String(`+row+` === null)`, func(s string) bool { return s == "true" })
	st.waitIdle()
}
