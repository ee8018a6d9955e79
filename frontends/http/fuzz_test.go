package httpfront

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/config"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		`Digest username="admin", realm="clicktocall", nonce="abc", uri="/", algorithm=SHA-256, nc=00000001, cnonce="x", qop=auth, response="00"`,
		`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		`Digest username="a\"b", nc=ffffffff`,
		`Digest nc=-1`,
		`Digest username="unterminated`,
		`Digest ,,,`,
		`Basic YWRtaW46czNjcmV0`,
		`Basic !!`,
		``,
	} {
		f.Add(s)
	}
	// The seeds hold admin:s3cret; the server's password is one no seed
	// knows, so nothing may be accepted.
	const password = "not-in-any-seed"
	a := newDigestAuth(password, time.Minute)
	b := basicAuth{password: password}
	f.Fuzz(func(t *testing.T, header string) {
		_, _ = parseDigestAuthorization(header)
		for _, v := range []authVerdict{a.check("GET", "/", header), b.check("GET", "/", header)} {
			if !v.ok && v.status != 400 && v.status != 401 {
				t.Errorf("check(%q) = %+v: neither ok nor 400/401", header, v)
			}
			if v.ok {
				// Nothing but the password could have produced a valid
				// response; a fuzzer should not find it.
				t.Errorf("check(%q) accepted", header)
			}
		}
	})
}

func FuzzClickToCallQuery(f *testing.F) {
	for _, s := range []string{
		"initiator=sip:scott@sipdomain.com&destination=9055551234",
		"initiator=100&destination=200&anchor=TRUE",
		"initiator=%3Cscript%3E&destination=200",
		"initiator=1%0A2&destination=200",
		"initiator=%ff&destination=%00",
		"destination=200",
		"initiator=&destination=&anchor=",
		"initiator=100&initiator=200&destination=bad",
		"%zz=%&&&=",
		"initiator=" + string(make([]byte, 2000)),
		"initiator=100&destination=200&initiator_caller_id=Sales+%3Csip%3A%2B15551234567%40example.com%3E" +
			"&initiator_ring_timeout=20&time_limit=60&initiator_headers=X-Ticket%3A+T-42&initiator_headers=X-B%3A2" +
			"&destination_headers=Alert-Info%3A+%3Chttp%3A%2F%2Fx%3E&metadata=%7B%22a%22%3A1%7D",
		"initiator=100&destination=200&initiator_headers=X-A%3A+1%0D%0AVia%3A+evil",
		"initiator=100&destination=200&destination_headers=Via%3A+x&metadata=%5B%5D",
		"initiator=100&destination=200&destination_caller_id=%22Sa%22les%22&destination_ring_timeout=9999",
	} {
		f.Add(s)
	}
	eng := &fakeEngine{}
	api := config.Default().API
	api.CallerIDs = []string{`sip:\+1555\d{7}@example\.com`}
	api.AllowedHeaders = []string{"Alert-Info"}
	s := New(Options{HTTP: config.HTTP{}, Translate: translate, Calls: eng, API: api})
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	f.Fuzz(func(t *testing.T, query string) {
		var req fasthttp.Request
		req.SetRequestURI("/clicktocall.html?" + query)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, remote, nil)
		s.handle(&ctx)
		code := ctx.Response.StatusCode()
		if code != 200 && code != 400 {
			t.Errorf("query %q: status %d, want 200 or 400; body %q", query, code, ctx.Response.Body())
		}
		if calls := eng.started(); code == 200 && len(calls) > 0 {
			if p := calls[len(calls)-1].Options.WireProblem(); p != "" {
				t.Errorf("query %q: the engine got options it cannot send: %s", query, p)
			}
		}
	})
}
