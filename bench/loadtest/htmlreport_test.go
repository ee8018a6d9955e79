package loadtest

import (
	"bytes"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// chart returns the <figure> of the report whose id is id.
func chart(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<figure class="chart" id="`+id+`">`)
	if start < 0 {
		t.Fatalf("the report has no chart %s", id)
	}
	end := strings.Index(page[start:], "</figure>")
	return page[start : start+end]
}

// points is how many data points series name of a chart carries (-1: no
// such series).
func points(fig, name string) int {
	m := regexp.MustCompile(`data-series="` + regexp.QuoteMeta(html.EscapeString(name)) + `" data-points="(\d+)"`).FindStringSubmatch(fig)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// dots are the (x, y) values of a scatter series of a chart.
func dots(fig, name string) [][2]float64 {
	i := strings.Index(fig, `data-series="`+html.EscapeString(name)+`"`)
	if i < 0 {
		return nil
	}
	g := fig[i:]
	g = g[:strings.Index(g, "</g>")]
	var out [][2]float64
	for _, m := range regexp.MustCompile(`data-x="([0-9.e+-]+)" data-y="([0-9.e+-]+)"`).FindAllStringSubmatch(g, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		out = append(out, [2]float64{x, y})
	}
	return out
}

func renderReport(t *testing.T, res *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTMLReport(&b, res); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// Self-contained: no script, nothing fetched from anywhere.
	for _, bad := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the report has %q", bad)
		}
	}
	return page
}

func TestReportChartsAFixedRateTrialSecondBySecond(t *testing.T) {
	addr := fakeXMLServer(t, 100000)
	res := fakeRun(t, "-xml", addr, "-rate", "200", "-duration", "2s", "-conns", "2", "-q", "-report", "unused.html")
	tr := res.Trials[0]
	s := tr.Series
	if s == nil || len(s.Seconds) != 2 {
		t.Fatalf("series %+v", s)
	}
	var sent, ok int
	for _, sec := range s.Seconds {
		sent, ok = sent+sec.Sent, ok+sec.OK
		if sec.Sent < 150 || sec.Failed != 0 || sec.FinalP99MS <= 0 || sec.FinalP50MS > sec.FinalP99MS {
			t.Errorf("second %+v", sec)
		}
	}
	if sent != 400 || ok != 400 {
		t.Errorf("the seconds hold %d sent, %d ok; want 400 each", sent, ok)
	}

	page := renderReport(t, res)
	lat := chart(t, page, "trial-1-latency")
	for _, name := range []string{"p50 to the final", "p90 to the final", "p99 to the final"} {
		if n := points(lat, name); n != 2 {
			t.Errorf("latency chart: %s has %d points, want 2", name, n)
		}
	}
	// The fake server's phones are not the bench's: no INVITE is seen.
	if n := points(lat, "p99 to the initiator INVITE"); n != 0 {
		t.Errorf("INVITE latency has %d points, want 0", n)
	}
	calls := chart(t, page, "trial-1-calls")
	if points(calls, "ok") != 2 || points(calls, "failed") != 2 {
		t.Errorf("calls chart: %d ok points, %d failed", points(calls, "ok"), points(calls, "failed"))
	}
	if strings.Contains(page, `id="trial-1-cpu"`) {
		t.Error("a CPU chart without a server process to sample")
	}
	for _, want := range []string{"<svg", `<table id="trials">`, "400 sent of 400, 400 ok, 0 failed: PASS", `id="result-json"`, "&#34;series&#34;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

func TestReportOfASearchChartsGoodputAgainstOfferedRate(t *testing.T) {
	addr := fakeXMLServer(t, 400)
	res := fakeRun(t, "-xml", addr, "-search", "-search-start", "100", "-search-factor", "2",
		"-search-resolution", "50", "-search-steps", "5", "-duration", "500ms", "-settle", "0", "-q", "-report", "x.html")
	page := renderReport(t, res)
	got := dots(chart(t, page, "goodput"), "this server")
	if len(got) != len(res.Trials) {
		t.Fatalf("goodput chart has %d points for %d steps", len(got), len(res.Trials))
	}
	for i, tr := range res.Trials {
		if got[i][0] != tr.Rate || got[i][1] != tr.AchievedRate {
			t.Errorf("point %d = %v, want (%g, %g)", i, got[i], tr.Rate, tr.AchievedRate)
		}
	}
	if fails := strings.Count(chart(t, page, "goodput"), `class="fail"`); fails != len(res.Trials)-countPassed(res.Trials) {
		t.Errorf("%d hollow (failed) points", fails)
	}
	for i := range res.Trials {
		chart(t, page, "trial-"+strconv.Itoa(i+1)+"-latency")
	}
}

func countPassed(ts []*Trial) int {
	n := 0
	for _, t := range ts {
		if t.Pass {
			n++
		}
	}
	return n
}

func TestReportOfAnABRunShowsBothBinariesSideBySide(t *testing.T) {
	dir, record := fakeServers(t)
	res, err := abRun(t, dir, record, "-rate", "100", "-duration", "1200ms", "-ab-rounds", "2", "-report", filepath.Join(dir, "ab.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := renderReport(t, res)
	for _, id := range []string{"ab-p99", "ab-ok", "ab-cpu", "ab-rss"} {
		fig := chart(t, page, id)
		for _, name := range []string{"baseline 1", "baseline 2", "candidate 1", "candidate 2"} {
			if points(fig, name) < 1 {
				t.Errorf("%s: no points for %s", id, name)
			}
		}
	}
	// Each trial had a server process: its CPU and RSS over time.
	for i, tr := range res.Trials {
		if tr.Series == nil || len(tr.Series.Server) == 0 {
			t.Fatalf("trial %d has no server samples", i+1)
		}
		if n := points(chart(t, page, "trial-"+strconv.Itoa(i+1)+"-rss"), "RSS (MiB)"); n != len(tr.Series.Server) {
			t.Errorf("trial %d: RSS chart has %d points, %d samples", i+1, n, len(tr.Series.Server))
		}
	}
	if !strings.Contains(page, `<table id="ab-figures">`) || !strings.Contains(page, "server peak RSS (MiB)") {
		t.Error("the report lacks the A/B figures")
	}
}

// The flag itself: Main writes the file, whatever the trial's outcome (the
// fake server's calls fail here, having no phones).
func TestReportFlagWritesTheFile(t *testing.T) {
	addr := fakeXMLServer(t, 100000)
	path := filepath.Join(t.TempDir(), "run.html")
	status := Main([]string{"-xml", addr, "-rate", "50", "-duration", "200ms", "-drain", "1s", "-q", "-report", path}, io.Discard, io.Discard, Hooks{})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("exit %d, no report: %v", status, err)
	}
	if !strings.Contains(string(b), `id="trial-1-calls"`) {
		t.Errorf("report without the calls chart:\n%.2000s", b)
	}
}
