package httpfront

import (
	"bytes"
	"html/template"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// The pages are html/template, so every value they show is escaped.

const pageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{template "title" .}}</title></head>
<body>
`

// indexPage is the operator console. Without its script it is a plain
// form posting to /clicktocall.html; app.js turns it into a client of the
// JSON API: live charts fed by /api/v1/stats/events (drawn by charts.js),
// the recent calls with a filter and a cancel button, and a call's page
// (#/calls/{id}) with its progress timeline and SIP message ladder.
var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Click-to-call console</title>
<link rel="stylesheet" href="/console.css">
<script src="/charts.js" defer></script>
<script src="/app.js" defer></script></head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
<h1>Click-to-call</h1>
<p id="live-status" role="status">Live statistics need JavaScript.</p>
</header>
<main id="main">
<div id="console-view">
<section id="live" aria-labelledby="live-title" hidden>
<h2 id="live-title">Last 15 minutes</h2>
<div class="charts">
<figure class="chart" id="chart-requests"><figcaption id="chart-requests-title">Requests per second</figcaption>
<svg role="img" aria-labelledby="chart-requests-title chart-requests-now"></svg><ul class="legend"></ul><p class="now" id="chart-requests-now"></p></figure>
<figure class="chart" id="chart-active"><figcaption id="chart-active-title">Calls in progress</figcaption>
<svg role="img" aria-labelledby="chart-active-title chart-active-now"></svg><ul class="legend"></ul><p class="now" id="chart-active-now"></p></figure>
<figure class="chart" id="chart-endings"><figcaption id="chart-endings-title">Calls ended per second</figcaption>
<svg role="img" aria-labelledby="chart-endings-title chart-endings-now"></svg><ul class="legend"></ul><p class="now" id="chart-endings-now"></p></figure>
<figure class="chart" id="chart-connect"><figcaption id="chart-connect-title">Time to connect (ms)</figcaption>
<svg role="img" aria-labelledby="chart-connect-title chart-connect-now"></svg><ul class="legend"></ul><p class="now" id="chart-connect-now"></p></figure>
</div>
</section>
<section class="panel" aria-labelledby="place-title">
<h2 id="place-title">Place a call</h2>
<form id="call-form" method="post" action="/clicktocall.html">
<p><label for="initiator">Initiator</label> <input id="initiator" name="initiator" required autocomplete="off" placeholder="alice@example.com"></p>
<p><label for="destination">Destination</label> <input id="destination" name="destination" required autocomplete="off" placeholder="9055551234"></p>
<p><label class="check"><input type="checkbox" name="anchor" value="true"> Anchor the call (the server stays in the signalling path)</label></p>
<details id="call-options"><summary>Per-call options</summary>
<p><label for="initiator_caller_id">Caller ID the initiator sees</label> <input id="initiator_caller_id" name="initiator_caller_id" autocomplete="off" placeholder="Sales &lt;sip:+15551234567@example.com&gt;"></p>
<p><label for="destination_caller_id">Caller ID the destination sees</label> <input id="destination_caller_id" name="destination_caller_id" autocomplete="off"></p>
<p><label for="initiator_ring_timeout">Initiator ring timeout (s)</label> <input id="initiator_ring_timeout" name="initiator_ring_timeout" type="number" min="1" inputmode="numeric"></p>
<p><label for="destination_ring_timeout">Destination ring timeout (s)</label> <input id="destination_ring_timeout" name="destination_ring_timeout" type="number" min="1" inputmode="numeric"></p>
<p><label for="time_limit">Time limit of an anchored call (s)</label> <input id="time_limit" name="time_limit" type="number" min="1" inputmode="numeric"></p>
<p><label for="initiator_headers">Header on the initiator's INVITE</label> <input id="initiator_headers" name="initiator_headers" autocomplete="off" placeholder="X-Ticket: T-42"></p>
<p><label for="destination_headers">Header on the destination's INVITE</label> <input id="destination_headers" name="destination_headers" autocomplete="off" placeholder="X-Campaign: spring"></p>
<p><label for="metadata">Metadata (a JSON object)</label> <textarea id="metadata" name="metadata" rows="2" placeholder='{"crm_id": "42"}'></textarea></p>
</details>
<p><button type="submit">Call</button></p>
</form>
<p id="message" role="status"></p>
</section>
<section class="panel" aria-labelledby="calls-title">
<h2 id="calls-title">Calls</h2>
<div class="toolbar">
<label for="filter">Show</label>
<select id="filter">
<option value="active=true">In progress</option>
<option value="">All recent</option>
<option value="state=connected,ended">Connected</option>
<option value="state=failed">Failed</option>
<option value="state=cancelled">Cancelled</option>
</select>
<button id="refresh" type="button">Refresh</button>
</div>
<div class="scroll">
<table id="active-calls">
<caption class="visually-hidden">Calls, newest first</caption>
<thead><tr><th scope="col">Since</th><th scope="col">Call</th><th scope="col">Initiator</th><th scope="col">Destination</th><th scope="col">Mode</th><th scope="col">State</th><th scope="col">Result</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody></tbody>
</table>
</div>
<p id="calls-empty" hidden>No calls to show.</p>
</section>
</div>
<div id="call-view" hidden>
<p><a href="#" id="back">&larr; Back to the console</a></p>
<h2 tabindex="-1">Call <span id="call-id"></span></h2>
<p id="call-summary"></p>
<p><button id="cancel-current" type="button">Cancel this call</button></p>
<section class="panel" aria-labelledby="progress-title">
<h3 id="progress-title">Progress</h3>
<svg id="timeline" role="img" aria-label="Timeline of the call's results"></svg>
<ol id="results"></ol>
</section>
<section class="panel" aria-labelledby="ladder-title">
<h3 id="ladder-title">SIP messages</h3>
<p id="trace-note"></p>
<div class="scroll"><svg id="ladder" role="img" aria-labelledby="ladder-title"></svg></div>
<details><summary>The messages as a table</summary>
<div class="scroll"><table id="trace-table">
<thead><tr><th scope="col">Time</th><th scope="col">Leg</th><th scope="col">Direction</th><th scope="col">Message</th><th scope="col">CSeq</th></tr></thead>
<tbody></tbody>
</table></div>
</details>
</section>
</div>
</main>
</body></html>
`))

// startedData fills startedPage.
type startedData struct {
	Initiator, Destination, Mode, CallID string
}

var startedPage = template.Must(template.New("started").Parse(pageHead + `{{define "title"}}Click-to-call started{{end}}<p>Initiating click-to-call from {{.Initiator}} to {{.Destination}} ({{.Mode}})</p>
<p>Call id: {{.CallID}}</p>
</body></html>
`))

// problemData fills problemPage.
type problemData struct {
	Status int
	Reason string
	Text   string
}

var problemPage = template.Must(template.New("problem").Parse(pageHead + `{{define "title"}}{{.Status}} {{.Reason}}{{end}}<h1>{{.Status}} {{.Reason}}</h1>
<p>{{.Text}}</p>
</body></html>
`))

// writePage renders a page as the response. It replaces the body and the
// status but keeps headers already set.
func writePage(ctx *fasthttp.RequestCtx, status int, page *template.Template, data any) {
	setPage(ctx, status, renderPage(page, data))
}

func renderPage(page *template.Template, data any) []byte {
	var buf bytes.Buffer
	if err := page.Execute(&buf, data); err != nil {
		// The templates are fixed and their data are strings: this cannot
		// happen short of a programming error.
		panic("httpfront: render " + page.Name() + ": " + err.Error())
	}
	return buf.Bytes()
}

// setPage makes body, an HTML page, the response.
func setPage(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderContentSecurityPolicy, "default-src 'none'; form-action 'self'")
	ctx.SetBody(body) // copied
}

// writeProblem answers with status and an HTML page naming the problem.
func writeProblem(ctx *fasthttp.RequestCtx, status int, text string) {
	data := problemData{Status: status, Reason: fasthttp.StatusMessage(status), Text: text}
	if status != fasthttp.StatusServiceUnavailable && status != fasthttp.StatusTooManyRequests {
		writePage(ctx, status, problemPage, data)
		return
	}
	// A refusal at a limit: under overload thousands a second get the same
	// page, and rendering it was a sixth of what a refusal cost.
	if body, ok := problemPages.Load(data); ok {
		setPage(ctx, status, body.([]byte))
		return
	}
	body := renderPage(problemPage, data)
	if problemPagesKept.Add(1) <= maxProblemPages {
		problemPages.Store(data, body)
	}
	setPage(ctx, status, body)
}

// problemPages are the rendered pages of refusals at limits, by
// problemData; their texts are fixed, but at most maxProblemPages are kept
// in case one carries input.
var (
	problemPages     sync.Map
	problemPagesKept atomic.Int32
)

const maxProblemPages = 64
