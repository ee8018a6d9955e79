package httpfront

// The console in headless Chromium: its charts move with the live
// statistics, a call placed from its form gets a page with its progress
// and its SIP ladder, the filter works, and it fits a phone's screen.
// Screenshots go to the test's temporary directory, and to
// $CTC_SCREENSHOT_DIR when set.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
)

// screenshot saves the page as a PNG named name and returns its path.
func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	var shot struct{ Data string }
	if err := json.Unmarshal(b.cdp("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": false}), &shot); err != nil {
		b.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 1000 {
		b.t.Fatalf("screenshot %s: %d bytes, %v", name, len(png), err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if extra := os.Getenv("CTC_SCREENSHOT_DIR"); extra != "" {
		_ = os.WriteFile(filepath.Join(extra, name), png, 0o644)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

func (b *browser) number(expr string) float64 {
	b.t.Helper()
	var s string
	_ = json.Unmarshal(b.eval(`String(`+expr+`)`), &s)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func TestBrowserConsoleChartsMoveAndACallShowsItsLadder(t *testing.T) {
	st := newStack(t, phone.Behaviour{Ring: true, RingDelay: 100 * time.Millisecond},
		phone.Behaviour{})
	shots := t.TempDir()
	b := startBrowser(t, st.base+"/")
	b.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": false})
	b.waitFor("live statistics", `(document.getElementById("live-status") || {textContent: ""}).textContent`,
		func(s string) bool { return s == "Live" })

	// The charts are drawn from the stream and grow a point per sample.
	// Until the first sample the path is not there yet: count it as 0 points.
	const points = `(document.querySelector("#chart-requests path.s-admitted") || {dataset: {points: "0"}}).dataset.points`
	b.waitFor("charts drawn", points, func(s string) bool { n, _ := strconv.Atoi(s); return n >= 2 })
	before := b.number(points)
	b.waitFor("charts move", points, func(s string) bool { n, _ := strconv.ParseFloat(s, 64); return n > before })

	// Place a REFER call from the form: the page goes to the call's page.
	b.eval(fmt.Sprintf(`(() => {
		const f = document.getElementById("call-form");
		f.elements.initiator.value = %q;
		f.elements.destination.value = %q;
		f.querySelector("button[type=submit]").click();
		return true;
	})()`, st.uri(st.init), st.uri(st.dest)))
	hash := b.waitFor("call page", `location.hash`, func(s string) bool { return strings.HasPrefix(s, "#/calls/") })
	id := strings.TrimPrefix(hash, "#/calls/")
	b.waitFor("progress", `Array.from(document.querySelectorAll("#results li .result-text")).map(e => e.textContent).join(" | ")`,
		func(s string) bool { return strings.HasSuffix(s, "200 Destination Connected to destination") })
	// 100, 180 and 200 Initiator, 200 Destination: the phone's NOTIFYs
	// say 100 Trying and 200 OK, no 180.
	if n := b.number(`document.querySelectorAll("#timeline g.result").length`); n != 4 {
		t.Errorf("the timeline shows %v results, want 4", n)
	}

	// The ladder shows the whole exchange with the initiator's phone, each
	// message with its time, up to the 200 to our BYE.
	phoneCall(t, st.init, phone.Received(sip.BYE))
	const labels = `Array.from(document.querySelectorAll("#ladder g.msg")).map(g => g.dataset.direction + " " + g.dataset.label).join(" | ")`
	got := b.waitFor("ladder", labels, func(s string) bool { return strings.Contains(s, "out BYE | in 200") })
	want := []string{"out INVITE + SDP", "in 180 Ringing", "in 200 OK", "out ACK", "out REFER", "in 202",
		"in NOTIFY (100 Trying)", "out 200 OK", "in NOTIFY (200 OK)", "out 200 OK", "out BYE", "in 200 OK"}
	steps := strings.Split(got, " | ")
	if len(steps) != len(want) {
		t.Errorf("ladder %q, want %d messages like %q", got, len(want), want)
	} else {
		for i := range want {
			if !strings.HasPrefix(steps[i], want[i]) {
				t.Errorf("ladder message %d is %q, want %q", i+1, steps[i], want[i])
			}
		}
	}
	if times := b.number(`Array.from(document.querySelectorAll("#ladder g.msg text")).filter(t => /^\+[0-9.]+ m?s$/.test(t.textContent)).length`); int(times) != len(steps) {
		t.Errorf("%v of %d ladder messages show their time", times, len(steps))
	}
	if note := string(b.eval(`document.getElementById("trace-note").textContent`)); !strings.Contains(note, "REFER call") {
		t.Errorf("trace note %s", note)
	}
	b.screenshot(shots, "console-call.png")

	// Back on the console the charts show the call: a request admitted, a
	// call connected.
	b.eval(`location.hash = ""`)
	b.waitFor("admitted charted", `document.querySelector("#chart-requests path.s-admitted").dataset.max`,
		func(s string) bool { v, _ := strconv.ParseFloat(s, 64); return v > 0 })
	b.waitFor("connected charted", `document.querySelector("#chart-endings path.s-connected").dataset.max`,
		func(s string) bool { v, _ := strconv.ParseFloat(s, 64); return v > 0 })
	b.waitFor("connect time charted", `document.querySelector("#chart-connect path.s-p50").dataset.points`,
		func(s string) bool { n, _ := strconv.Atoi(s); return n >= 1 })

	// The filter: the call is among the connected ones, not the failed.
	row := fmt.Sprintf(`document.querySelector('#active-calls tbody tr[data-id=%q]')`, id)
	filter := func(value string) {
		b.eval(fmt.Sprintf(`(() => { const f = document.getElementById("filter"); f.value = %q; f.dispatchEvent(new Event("change")); return true; })()`, value))
	}
	filter("state=connected,ended")
	b.waitFor("connected call listed", `(`+row+` || {textContent: ""}).textContent`,
		func(s string) bool {
			return strings.Contains(s, "refer") && strings.Contains(s, "200 Destination Connected")
		})
	filter("state=failed")
	b.waitFor("no failed call", `String(`+row+` === null) + " " + document.getElementById("calls-empty").hidden`,
		func(s string) bool { return s == "true false" })
	filter("")
	b.waitFor("all calls", `String(`+row+` !== null)`, func(s string) bool { return s == "true" })
	b.screenshot(shots, "console.png")

	// On a phone's screen the page does not scroll sideways (wide tables
	// and the ladder scroll in their own boxes) and the charts stack.
	b.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true})
	b.waitFor("phone layout", `String(document.documentElement.scrollWidth <= window.innerWidth)`,
		func(s string) bool { return s == "true" })
	b.waitFor("charts stacked", `(() => { const [a, c] = document.querySelectorAll(".chart"); return String(c.getBoundingClientRect().top > a.getBoundingClientRect().bottom); })()`,
		func(s string) bool { return s == "true" })
	b.screenshot(shots, "console-phone.png")
	st.waitIdle()
}
