package httpfront

import (
	"bytes"
	"html/template"

	"github.com/valyala/fasthttp"
)

// The pages are html/template, so every value they show is escaped.

const pageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{template "title" .}}</title></head>
<body>
`

// indexPage works without its script as a plain form posting to
// /clicktocall.html; app.js turns it into a client of the JSON API that
// shows the call's progress live, lists active calls and cancels them.
var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Click-to-call</title>
<script src="/app.js" defer></script></head>
<body>
<h1>Click-to-call</h1>
<form id="call-form" method="post" action="/clicktocall.html">
<p><label>Initiator <input name="initiator" required></label></p>
<p><label>Destination <input name="destination" required></label></p>
<p><label><input type="checkbox" name="anchor" value="true"> Anchor the call</label></p>
<p><button type="submit">Call</button></p>
</form>
<p id="message" role="status"></p>
<section id="progress" hidden>
<h2>Call <span id="call-id"></span></h2>
<p id="call-summary"></p>
<ol id="results"></ol>
<p><button id="cancel-current" type="button">Cancel this call</button></p>
</section>
<section>
<h2>Active calls</h2>
<table id="active-calls">
<thead><tr><th>Call</th><th>Initiator</th><th>Destination</th><th>Mode</th><th>State</th><th>Since</th><th></th></tr></thead>
<tbody></tbody>
</table>
<p><button id="refresh" type="button">Refresh</button></p>
</section>
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
	var buf bytes.Buffer
	if err := page.Execute(&buf, data); err != nil {
		// The templates are fixed and their data are strings: this cannot
		// happen short of a programming error.
		panic("httpfront: render " + page.Name() + ": " + err.Error())
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderContentSecurityPolicy, "default-src 'none'; form-action 'self'")
	ctx.SetBody(buf.Bytes())
}

// writeProblem answers with status and an HTML page naming the problem.
func writeProblem(ctx *fasthttp.RequestCtx, status int, text string) {
	writePage(ctx, status, problemPage, problemData{
		Status: status, Reason: fasthttp.StatusMessage(status), Text: text,
	})
}
