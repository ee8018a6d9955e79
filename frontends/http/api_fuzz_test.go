package httpfront

import (
	"encoding/json"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// FuzzCreateCallBody posts arbitrary bodies to /api/v1/calls: every answer
// is 201 with a call or a JSON error naming a 4xx, never a panic or a 5xx
// but the 503 of a full status-callback queue (the fake engine's calls never
// end, so their callbacks stay pending).
func FuzzCreateCallBody(f *testing.F) {
	for _, s := range []string{
		`{"initiator":"100","destination":"200"}`,
		`{"initiator":"sip:a@b","destination":"200","anchor":true,"request_id":"r1"}`,
		`{"initiator":"100","destination":"200","status_callback":"https://x.example/cb"}`,
		`{"initiator":"100","destination":"200","status_callback":"ftp://x"}`,
		`{"initiator":"alice","destination":"bad"}`,
		`{"initiator":"1\u0000","destination":"2"}`,
		`{"initiator":1,"destination":[]}`,
		`{"initiator":"1","destination":"2"}{}`,
		`{"x":1}`, `null`, `[]`, `"`, ``, `{"initiator":"` + string(make([]byte, 1100)) + `","destination":"2"}`,
		`{"initiator":"100","destination":"200","initiator_caller_id":"Sales <sip:+15551234567@example.com>",` +
			`"destination_caller_id":"Support","initiator_ring_timeout":20,"destination_ring_timeout":"30","time_limit":60,` +
			`"initiator_headers":{"X-Ticket":"T-42","Alert-Info":"<http://x/r>"},"destination_headers":{"X-A":"1"},` +
			`"metadata":{"crm":{"id":42}},"status_callback":"https://x.example/cb","status_callback_events":["final"]}`,
		`{"initiator":"100","destination":"200","initiator_headers":{"X-A":"1\r\nVia: evil"}}`,
		`{"initiator":"100","destination":"200","destination_headers":{"Via":"x"},"metadata":[1]}`,
		`{"initiator":"100","destination":"200","initiator_ring_timeout":1e3,"time_limit":-1,"metadata":null}`,
		`{"initiator":"100","destination":"200","initiator_caller_id":"\"Sa\\\"les\" <sip:x@y>","status_callback_events":[]}`,
	} {
		f.Add(s)
	}
	j := cdr.New(cdr.Options{})
	defer j.Close()
	eng := &fakeEngine{}
	api := config.Default().API
	api.StatusCallbackSecret = "k"
	api.CallerIDs = []string{`sip:\+1555\d{7}@example\.com`}
	api.AllowedHeaders = []string{"Alert-Info"}
	s := New(Options{HTTP: config.HTTP{}, Translate: translate, Calls: eng, Records: j, API: api})
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	f.Fuzz(func(t *testing.T, body string) {
		var req fasthttp.Request
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(callsPath)
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, remote, nil)
		s.handle(&ctx)
		code := ctx.Response.StatusCode()
		switch code {
		case 201:
			var c createdCall
			if err := json.Unmarshal(ctx.Response.Body(), &c); err != nil || c.ID == "" {
				t.Errorf("body %q: 201 with %q", body, ctx.Response.Body())
			}
			calls := eng.started()
			if p := calls[len(calls)-1].Options.WireProblem(); p != "" {
				t.Errorf("body %q: the engine got options it cannot send: %s", body, p)
			}
		case 400, 409, 503:
			var e apiError
			if err := json.Unmarshal(ctx.Response.Body(), &e); err != nil || e.Code != code || e.Text == "" ||
				code == 503 && e.Text != "Too many pending status callbacks" {
				t.Errorf("body %q: %d with %q", body, code, ctx.Response.Body())
			}
		default:
			t.Errorf("body %q: status %d %q", body, code, ctx.Response.Body())
		}
	})
}
