package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// The HTML report (-report FILE.html): one self-contained page, with its
// style and its charts inline (SVG drawn by svgchart.go, no script, nothing
// fetched), and the run's JSON at the end so the numbers travel with it.
// It charts each trial second by second (latency percentiles, ok and
// failed calls, the server's CPU and RSS), a search's goodput against the
// offered rate, and an A/B run's two binaries side by side.

// WriteHTMLReportFile writes the report of res to path.
func WriteHTMLReportFile(path string, res *Result) error {
	var buf bytes.Buffer
	if err := WriteHTMLReport(&buf, res); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteHTMLReport writes the report of res to w.
func WriteHTMLReport(w io.Writer, res *Result) error {
	data, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	page := reportPage{Res: res, Title: reportTitle(res), JSON: string(data)}
	for i, t := range res.Trials {
		page.Trials = append(page.Trials, trialSection(i, t, detailed(res, t)))
	}
	if res.Search != nil && res.AB == nil {
		page.Overview = append(page.Overview, template.HTML(goodputPlot("goodput", "Goodput against offered rate",
			[]sideSteps{{name: "this server", class: "c0", trials: res.Trials}}).svg()))
	}
	if res.AB != nil {
		page.AB = abSection(res)
	}
	return reportTemplate.Execute(w, page)
}

type reportPage struct {
	Res      *Result
	Title    string
	Overview []template.HTML
	AB       *abView
	Trials   []trialView
	JSON     string
}

type trialView struct {
	N       int
	Open    bool
	Heading string
	Pass    bool
	T       *Trial
	Charts  []template.HTML
	Lines   []string
}

type abView struct {
	Figures []Figure
	Charts  []template.HTML
	Search  *ABSearch
}

func reportTitle(res *Result) string {
	c := res.Calls
	kind := fmt.Sprintf("%s calls", c.Mode)
	switch {
	case res.AB != nil && res.AB.Search != nil:
		kind += ", A/B search"
	case res.AB != nil:
		kind += ", A/B"
	case res.Search != nil:
		kind += ", search for the highest rate"
	}
	return "clicktocall bench: " + kind + " over " + strings.ToUpper(res.Target.Frontend)
}

func trialSection(i int, t *Trial, open bool) trialView {
	v := trialView{N: i + 1, Open: open, Pass: t.Pass, T: t,
		Heading: fmt.Sprintf("Trial %d: %g calls/s for %v", i+1, t.Rate, time.Duration(t.DurationS*float64(time.Second)))}
	if t.Side != "" {
		v.Heading += fmt.Sprintf(", %s server (pid %d)", t.Side, t.ServerPID)
	}
	var b strings.Builder
	writeTrial(&b, t) // the text report's lines, as they are
	v.Lines = strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	id := fmt.Sprintf("trial-%d", i+1)
	for _, p := range trialPlots(id, t) {
		v.Charts = append(v.Charts, template.HTML(p.svg()))
	}
	return v
}

// trialPlots are a trial's charts, second by second; none without a series.
func trialPlots(id string, t *Trial) []plot {
	s := t.Series
	if s == nil || len(s.Seconds) == 0 {
		return nil
	}
	n := len(s.Seconds)
	sec := make([]float64, n)
	col := func(f func(SecondStats) float64, zeroIsGap bool) []float64 {
		out := make([]float64, n)
		for i, st := range s.Seconds {
			out[i] = f(st)
			if zeroIsGap && out[i] == 0 {
				out[i] = math.NaN()
			}
		}
		return out
	}
	for i, st := range s.Seconds {
		sec[i] = float64(st.Second)
	}
	plots := []plot{
		{id: id + "-latency", title: "Latency of the calls sent each second", xLabel: "second of the trial", yLabel: "ms", logY: true,
			series: []plotSeries{
				{name: "p50 to the final", class: "c0", x: sec, y: col(func(x SecondStats) float64 { return x.FinalP50MS }, true)},
				{name: "p90 to the final", class: "c1", x: sec, y: col(func(x SecondStats) float64 { return x.FinalP90MS }, true)},
				{name: "p99 to the final", class: "c2", x: sec, y: col(func(x SecondStats) float64 { return x.FinalP99MS }, true)},
				{name: "p99 to the initiator INVITE", class: "c3", dash: true, x: sec, y: col(func(x SecondStats) float64 { return x.InviteP99MS }, true)},
			}},
		{id: id + "-calls", title: "Calls sent each second, by outcome", xLabel: "second of the trial", yLabel: "calls",
			series: []plotSeries{
				{name: "ok", class: "c4", x: sec, y: col(func(x SecondStats) float64 { return float64(x.OK) }, false)},
				{name: "failed", class: "c2", dash: true, x: sec, y: col(func(x SecondStats) float64 { return float64(x.Failed) }, false)},
			}},
	}
	if len(s.Server) > 0 {
		at, cores, rss := make([]float64, len(s.Server)), make([]float64, len(s.Server)), make([]float64, len(s.Server))
		for i, u := range s.Server {
			at[i], cores[i], rss[i] = u.AtS, u.Cores, u.RSSMiB
		}
		plots = append(plots,
			plot{id: id + "-cpu", title: "Server CPU", xLabel: "seconds since the first request", yLabel: "cores",
				series: []plotSeries{{name: "CPU (cores)", class: "c0", x: at, y: cores}}},
			plot{id: id + "-rss", title: "Server memory", xLabel: "seconds since the first request", yLabel: "MiB",
				series: []plotSeries{{name: "RSS (MiB)", class: "c5", x: at, y: rss}}})
	}
	return plots
}

// sideSteps are the trials of one search, for a goodput chart.
type sideSteps struct {
	name, class string
	trials      []*Trial
}

// goodputPlot draws each trial's ok calls per second against the rate
// offered, passing trials filled and failing ones hollow, with the line
// where the two are equal.
func goodputPlot(id, title string, sides []sideSteps) plot {
	p := plot{id: id, title: title, xLabel: "offered calls/s", yLabel: "ok calls/s", diagonal: true}
	for _, side := range sides {
		s := plotSeries{name: side.name, class: side.class, dots: true}
		for _, t := range side.trials {
			s.x = append(s.x, t.Rate)
			s.y = append(s.y, t.AchievedRate)
			s.pass = append(s.pass, t.Pass)
		}
		p.series = append(p.series, s)
	}
	return p
}

// abSection compares the sides: the medians and ratios, then the trials'
// series overlaid, baseline in one colour and candidate in another.
func abSection(res *Result) *abView {
	v := &abView{Figures: res.AB.Figures, Search: res.AB.Search}
	var base, cand []*Trial
	for _, t := range res.Trials {
		if t.Side == sideBaseline {
			base = append(base, t)
		} else {
			cand = append(cand, t)
		}
	}
	if res.AB.Search != nil {
		v.Charts = append(v.Charts, template.HTML(goodputPlot("ab-goodput", "Goodput against offered rate, each binary",
			[]sideSteps{{"baseline", "c0", base}, {"candidate", "c1", cand}}).svg()))
		// A search's trials run at different rates; their seconds do not
		// compare, so only the best passing trial of each side is overlaid.
		base, cand = bestOf(base, res.AB.Search.Baseline), bestOf(cand, res.AB.Search.Candidate)
	}
	overlay := func(id, title, yLabel string, of func(*Trial) (x, y []float64)) {
		p := plot{id: id, title: title, xLabel: "second of the trial", yLabel: yLabel, logY: yLabel == "ms"}
		for _, side := range []struct {
			name, class string
			trials      []*Trial
		}{{"baseline", "c0", base}, {"candidate", "c1", cand}} {
			for i, t := range side.trials {
				x, y := of(t)
				if x == nil {
					continue
				}
				p.series = append(p.series, plotSeries{name: fmt.Sprintf("%s %d", side.name, i+1), class: side.class,
					dash: i%2 == 1, x: x, y: y})
			}
		}
		if len(p.series) > 0 {
			v.Charts = append(v.Charts, template.HTML(p.svg()))
		}
	}
	perSecond := func(f func(SecondStats) float64) func(*Trial) ([]float64, []float64) {
		return func(t *Trial) ([]float64, []float64) {
			if t.Series == nil {
				return nil, nil
			}
			var x, y []float64
			for _, s := range t.Series.Seconds {
				x = append(x, float64(s.Second))
				val := f(s)
				if val == 0 {
					val = math.NaN()
				}
				y = append(y, val)
			}
			return x, y
		}
	}
	usage := func(f func(UsagePoint) float64) func(*Trial) ([]float64, []float64) {
		return func(t *Trial) ([]float64, []float64) {
			if t.Series == nil || len(t.Series.Server) == 0 {
				return nil, nil
			}
			var x, y []float64
			for _, u := range t.Series.Server {
				x, y = append(x, u.AtS), append(y, f(u))
			}
			return x, y
		}
	}
	overlay("ab-p99", "p99 to the final, each trial", "ms", perSecond(func(s SecondStats) float64 { return s.FinalP99MS }))
	overlay("ab-ok", "Ok calls each second, each trial", "calls", perSecond(func(s SecondStats) float64 { return float64(s.OK) }))
	overlay("ab-cpu", "Server CPU, each trial", "cores", usage(func(u UsagePoint) float64 { return u.Cores }))
	overlay("ab-rss", "Server RSS, each trial", "MiB", usage(func(u UsagePoint) float64 { return u.RSSMiB }))
	return v
}

func bestOf(trials []*Trial, s *Searched) []*Trial {
	if s == nil {
		return nil
	}
	for _, t := range trials {
		if t.Pass && t.Rate == s.Best {
			return []*Trial{t}
		}
	}
	return nil
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":    ms,
	"ratio": func(f *float64) string { return figureText(f, "%.2f") },
	"med":   func(f *float64) string { return figureText(f, "%.4g") },
	"pass":  passWord,
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f0":    func(v float64) string { return fmt.Sprintf("%.0f", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root { color-scheme: light dark; --text: #1f2328; --muted: #57606a; --bg: #fff; --line: #d0d7de; --grid: #e4e8ec;
  --c0: #0969da; --c1: #bc4c00; --c2: #cf222e; --c3: #8250df; --c4: #1a7f37; --c5: #9a6700; }
@media (prefers-color-scheme: dark) { :root { --text: #e6edf3; --muted: #9198a1; --bg: #0d1117; --line: #30363d; --grid: #21262d;
  --c0: #4493f8; --c1: #f0883e; --c2: #f85149; --c3: #a371f7; --c4: #3fb950; --c5: #d29922; } }
body { margin: 0 auto; max-width: 84rem; padding: 1rem 1.25rem 3rem; font: 15px/1.45 system-ui, sans-serif; color: var(--text); background: var(--bg); }
h1 { font-size: 1.35rem; } h2 { font-size: 1.15rem; margin-top: 2rem; } summary h2 { display: inline; }
table { border-collapse: collapse; font-size: .9rem; } th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.scroll { overflow-x: auto; } .muted { color: var(--muted); } .fail { color: var(--c2); font-weight: 600; } .pass { color: var(--c4); font-weight: 600; }
pre { background: color-mix(in srgb, var(--text) 5%, transparent); padding: .6rem; overflow-x: auto; font-size: .8rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(28rem, 100%), 1fr)); gap: 1rem; }
.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
.chart figcaption { font-weight: 600; }
.chart > svg { width: 100%; height: auto; display: block; }
.chart text { fill: var(--muted); font-size: 12px; } .grid line { stroke: var(--grid); }
.series { fill: none; stroke-width: 2; } .dash { stroke-dasharray: 6 3; } .diagonal { stroke: var(--line); stroke-dasharray: 3 3; }
.c0 { stroke: var(--c0); fill: var(--c0); } .c1 { stroke: var(--c1); fill: var(--c1); } .c2 { stroke: var(--c2); fill: var(--c2); }
.c3 { stroke: var(--c3); fill: var(--c3); } .c4 { stroke: var(--c4); fill: var(--c4); } .c5 { stroke: var(--c5); fill: var(--c5); }
path.series { fill: none; } .dots circle.fail { fill: var(--bg); stroke-width: 2; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: .2rem 1rem; padding: 0; margin: .3rem 0 0; font-size: .85rem; }
.legend svg { display: inline-block; width: 1.5rem; height: .7rem; margin-right: .3rem; vertical-align: middle; }
</style></head>
<body>
<h1>{{.Title}}</h1>
<p class="muted">Started {{.Res.Started.Format "2006-01-02 15:04:05 MST"}}; {{.Res.Machine.CPUs}} CPUs, {{.Res.Machine.GoVersion}};
load average {{.Res.Machine.LoadAvgStart}} at the start, {{.Res.Machine.LoadAvgEnd}} at the end.</p>
<p>Command: <code>{{range .Res.Command}}{{.}} {{end}}</code></p>
<p>Server {{.Res.Target.Addr}}{{if .Res.Target.Started}}, started by the bench, log level {{.Res.Target.LogLevel}}{{end}}{{range .Res.Target.Env}}, {{.}}{{end}}.
Calls: {{.Res.Calls.Mode}}, mix {{.Res.Calls.Mix}}, phones over {{.Res.Calls.SIPTransport}} ({{.Res.Calls.Initiators}} initiator, {{.Res.Calls.Destinations}} destination), {{.Res.Calls.Conns}} connections.</p>

<h2>Trials</h2>
<div class="scroll"><table id="trials">
<thead><tr><th>Trial</th>{{if .AB}}<th>Side</th>{{end}}<th>Rate/s</th><th>Result</th><th>Ok</th><th>Failed</th><th>Ok calls/s</th><th>p99 INVITE</th><th>p99 final</th><th>Server µs/call</th><th>Server RSS MiB</th></tr></thead>
<tbody>{{range .Trials}}<tr><td><a href="#trial-{{.N}}">{{.N}}</a></td>{{if $.AB}}<td>{{.T.Side}}</td>{{end}}<td>{{.T.Rate}}</td>
<td class="{{if .Pass}}pass{{else}}fail{{end}}">{{pass .Pass}}</td><td>{{.T.Succeeded}}</td><td>{{.T.Failed}}</td><td>{{f1 .T.AchievedRate}}</td>
<td>{{ms .T.Latency.Invite.P99}}</td><td>{{ms .T.Latency.Final.P99}}</td>
<td>{{if .T.Server}}{{f0 .T.Server.CPUPerCallUS}}{{else}}-{{end}}</td><td>{{if .T.Server}}{{f0 .T.Server.PeakRSSMiB}}{{else}}-{{end}}</td></tr>
{{end}}</tbody></table></div>
{{with .Res.Search}}<p>Highest rate with no failed call: <strong>{{.Best}} calls/s</strong> (start {{.Config.Start}}, factor {{.Config.Factor}}, resolution {{.Config.Resolution}}).</p>{{end}}
{{if .Overview}}<div class="charts">{{range .Overview}}{{.}}{{end}}</div>{{end}}

{{with .AB}}<h2>Baseline and candidate</h2>
{{if .Figures}}<div class="scroll"><table id="ab-figures"><thead><tr><th>Median over each side's trials</th><th>Baseline</th><th>Candidate</th><th>Candidate / baseline</th></tr></thead>
<tbody>{{range .Figures}}<tr><td>{{.Name}}</td><td>{{med .Baseline}}</td><td>{{med .Candidate}}</td><td>{{ratio .Ratio}}</td></tr>{{end}}</tbody></table></div>{{end}}
{{with .Search}}<p>Highest passing rate: baseline {{.Baseline.Best}} calls/s, candidate {{.Candidate.Best}} calls/s, ratio {{ratio .Ratio}}.</p>{{end}}
<div class="charts">{{range .Charts}}{{.}}{{end}}</div>{{end}}

{{range .Trials}}<details id="trial-{{.N}}"{{if .Open}} open{{end}}><summary><h2>{{.Heading}}: <span class="{{if .Pass}}pass{{else}}fail{{end}}">{{pass .Pass}}</span></h2></summary>
{{if .Charts}}<div class="charts">{{range .Charts}}{{.}}{{end}}</div>{{else}}<p class="muted">No second-by-second series for this trial.</p>{{end}}
<pre>{{range .Lines}}{{.}}
{{end}}</pre></details>
{{end}}
{{range .Res.Problems}}<p class="fail">Problem: {{.}}</p>{{end}}
<details><summary>The run as JSON (what -json writes)</summary><pre id="result-json">{{printf "%s" .JSON}}</pre></details>
</body></html>
`))

func figureText(f *float64, format string) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf(format, *f)
}
