package httpfront

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/intake"
)

// fakeEngine records the calls it is asked to start; it refuses them when
// refusal is set.
type fakeEngine struct {
	mu      sync.Mutex
	calls   []actors.CallRequest
	refusal *actors.Refusal
}

func (f *fakeEngine) StartCall(req actors.CallRequest, onProgress func(actors.Progress)) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refusal != nil {
		return "", f.refusal
	}
	f.calls = append(f.calls, req)
	return fmt.Sprintf("call-%d", len(f.calls)), nil
}

func (f *fakeEngine) started() []actors.CallRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]actors.CallRequest(nil), f.calls...)
}

var digitsRE = regexp.MustCompile(`^\d+$`)

// translate stands in for config.Translate with the same error texts.
func translate(in string) (string, error) {
	switch {
	case digitsRE.MatchString(in):
		return "sip:" + in + "@gateway.example.com", nil
	case strings.HasPrefix(in, "sip:"):
		return in, nil
	case strings.HasPrefix(in, "bad"):
		return "", fmt.Errorf("Invalid URI format sip:%s@", in)
	}
	return "", fmt.Errorf("No translation rule for %s", in)
}

// serve starts a server on a loopback port and stops it when the test ends.
func serve(t *testing.T, cfg config.HTTP, eng *fakeEngine) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, cfg, eng), "http://" + ln.Addr().String()
}

func serveOn(t *testing.T, ln net.Listener, cfg config.HTTP, eng *fakeEngine) *Server {
	t.Helper()
	s := New(Options{HTTP: cfg, Translate: translate, Calls: eng})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { stop(t, s, done) })
	waitAddr(t, s)
	return s
}

func stop(t *testing.T, s *Server, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return after Shutdown")
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(body)}
}

func get(t *testing.T, rawURL string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, client, req)
}

func postForm(t *testing.T, rawURL string, form url.Values) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, client, req)
}

func query(initiator, destination string) string {
	return "/clicktocall.html?" + url.Values{"initiator": {initiator}, "destination": {destination}}.Encode()
}

func wantHTML(t *testing.T, a answer, status int, contains ...string) {
	t.Helper()
	if a.status != status {
		t.Errorf("status = %d, want %d; body %q", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	for _, s := range contains {
		if !strings.Contains(a.body, s) {
			t.Errorf("body %q does not contain %q", a.body, s)
		}
	}
}

func TestGetStartsCallAndShowsTranslatedAddressesAndCallID(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{}, eng)

	a := get(t, base+query("sip:scott@sipdomain.com", "9055551234"))

	wantHTML(t, a, 200,
		"Initiating click-to-call from sip:scott@sipdomain.com to sip:9055551234@gateway.example.com (unanchored)",
		"call-1")
	calls := eng.started()
	want := actors.CallRequest{Initiator: "sip:scott@sipdomain.com", Destination: "sip:9055551234@gateway.example.com",
		Origin: "http", ClientIP: "127.0.0.1"}
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
		t.Errorf("started %+v, want [%+v]", calls, want)
	}
}

func TestPostFormStartsCall(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{}, eng)

	a := postForm(t, base+"/clicktocall.html", url.Values{"initiator": {"100"}, "destination": {"200"}, "anchor": {"true"}})

	wantHTML(t, a, 200, "from sip:100@gateway.example.com to sip:200@gateway.example.com (anchored)", "call-1")
	if calls := eng.started(); len(calls) != 1 || !calls[0].Anchor || calls[0].Initiator != "sip:100@gateway.example.com" {
		t.Errorf("started %+v, want one anchored call from sip:100@gateway.example.com", calls)
	}
}

func TestPostIgnoresQueryParameters(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{}, eng)
	a := postForm(t, base+query("100", "200"), url.Values{})
	wantHTML(t, a, 400, "Missing initiator and/or destination tags")
}

func TestIndexServesFormPostingToClickToCall(t *testing.T) {
	_, base := serve(t, config.HTTP{}, &fakeEngine{})
	a := get(t, base+"/")
	wantHTML(t, a, 200, `action="/clicktocall.html"`, `name="initiator"`, `name="destination"`,
		`type="checkbox" name="anchor" value="true"`)
}

func TestReflectedValuesAreHTMLEscaped(t *testing.T) {
	_, base := serve(t, config.HTTP{}, &fakeEngine{})

	ok := get(t, base+query("sip:<script>alert(1)</script>@x.com", "100"))
	wantHTML(t, ok, 200, "sip:&lt;script&gt;alert(1)&lt;/script&gt;@x.com")
	bad := get(t, base+query("100", `<script>"x"</script>`))
	wantHTML(t, bad, 400, "No translation rule for &lt;script&gt;&#34;x&#34;&lt;/script&gt;")
	for _, a := range []answer{ok, bad} {
		if strings.Contains(a.body, "<script>") {
			t.Errorf("body reflects <script> unescaped: %q", a.body)
		}
	}
}

func TestAnchorIsTrueOnlyForTrueInAnyCase(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{}, eng)
	for _, tc := range []struct {
		param  string
		anchor bool
	}{
		{"&anchor=true", true},
		{"&anchor=TRUE", true},
		{"&anchor=True", true},
		{"&anchor=false", false},
		{"", false},
		{"&anchor=yes", false},
		{"&anchor=1", false},
		{"&Anchor=true", false}, // names are case-sensitive
	} {
		t.Run(tc.param, func(t *testing.T) {
			before := len(eng.started())
			a := get(t, base+query("100", "200")+tc.param)
			mode := map[bool]string{true: "(anchored)", false: "(unanchored)"}[tc.anchor]
			wantHTML(t, a, 200, mode)
			calls := eng.started()
			if len(calls) != before+1 || calls[before].Anchor != tc.anchor {
				t.Errorf("started %+v, want a call with Anchor %v", calls[before:], tc.anchor)
			}
		})
	}
}

func TestBadRequestsNameTheProblemAndStartNoCall(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{}, eng)
	long := strings.Repeat("1", intake.MaxValueLen+1)
	for _, tc := range []struct {
		name, path, problem string
	}{
		{"no parameters", "/clicktocall.html", "Missing initiator and/or destination tags"},
		{"no initiator", "/clicktocall.html?destination=200", "Missing initiator and/or destination tags"},
		{"no destination", "/clicktocall.html?initiator=100", "Missing initiator and/or destination tags"},
		{"empty initiator", "/clicktocall.html?initiator=&destination=200", "Missing initiator and/or destination tags"},
		{"names are case-sensitive", "/clicktocall.html?Initiator=100&Destination=200", "Missing initiator and/or destination tags"},
		{"no translation rule", query("alice", "200"), "No translation rule for alice"},
		{"invalid URI", query("100", "bad"), "Invalid URI format sip:bad@"},
		{"initiator too long", query(long, "200"), "Initiator too long (more than 1024 bytes)"},
		{"destination too long", query("100", long), "Destination too long (more than 1024 bytes)"},
		{"control character", "/clicktocall.html?initiator=1%0A2&destination=200", "Initiator contains control characters"},
		{"NUL", "/clicktocall.html?initiator=100&destination=2%002", "Destination contains control characters"},
		{"invalid UTF-8", "/clicktocall.html?initiator=%ff&destination=200", "Initiator is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantHTML(t, get(t, base+tc.path), 400, tc.problem)
		})
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("bad requests started calls: %+v", calls)
	}
	// The longest value allowed still goes through.
	ok := strings.Repeat("1", intake.MaxValueLen)
	wantHTML(t, get(t, base+query(ok, "200")), 200, "Initiating click-to-call")
}

func TestUnknownPathIs404(t *testing.T) {
	_, base := serve(t, config.HTTP{}, &fakeEngine{})
	for _, p := range []string{"/nothing", "/clicktocall.htmI", "/clicktocall.html/x"} {
		wantHTML(t, get(t, base+p+"?initiator=100&destination=200"), 404, "No page at")
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{}, eng)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, query("100", "200"), "GET, POST"},
		{http.MethodDelete, query("100", "200"), "GET, POST"},
		{http.MethodHead, query("100", "200"), "GET, POST"},
		{http.MethodPost, "/", "GET, HEAD"},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := do(t, client, req)
		if a.status != 405 || a.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: status %d Allow %q, want 405 Allow %q", tc.method, tc.path, a.status, a.header.Get("Allow"), tc.allow)
		}
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("wrong methods started calls: %+v", calls)
	}
}

func TestRefusalAnswersItsCodeWithRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		refusal    actors.Refusal
		retryAfter string
	}{
		{actors.Refusal{Ending: actors.EndRefusedShutDown, Text: "Server shutting down", RetryAfter: 2500 * time.Millisecond}, "3"},
		{actors.Refusal{Ending: actors.EndMaxActiveCalls, Text: "Too many active calls"}, "1"},
		{actors.Refusal{Ending: actors.EndMaxPerSecondPerIP, Text: "Too many calls from <you>", RetryAfter: time.Second}, "1"},
	} {
		t.Run(tc.refusal.Text, func(t *testing.T) {
			r := tc.refusal
			_, base := serve(t, config.HTTP{}, &fakeEngine{refusal: &r})
			a := get(t, base+query("100", "200"))
			wantHTML(t, a, r.Ending.HTTPStatus(), strings.ReplaceAll(strings.ReplaceAll(r.Text, "<", "&lt;"), ">", "&gt;"))
			if got := a.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
		})
	}
}

// rawRequest writes req to addr, pausing between chunks of the given size,
// and returns the status line of the answer.
func rawRequest(t *testing.T, addr, req string, chunk int, pause time.Duration) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(req); i += chunk {
		if _, err := c.Write([]byte(req[i:min(i+chunk, len(req))])); err != nil {
			return "", err
		}
		time.Sleep(pause)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestSlowClientSendingHeadersByteByByteGetsCorrectAnswer(t *testing.T) {
	eng := &fakeEngine{}
	s, _ := serve(t, config.HTTP{ReadTimeout: 5 * time.Second}, eng)
	req := "GET " + query("100", "200") + "&anchor=true HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\nConnection: close\r\n\r\n"

	line, err := rawRequest(t, s.Addr().String(), req, 1, time.Millisecond)

	if err != nil || line != "HTTP/1.1 200 OK" {
		t.Fatalf("status line %q, err %v; want HTTP/1.1 200 OK", line, err)
	}
	if calls := eng.started(); len(calls) != 1 || !calls[0].Anchor || calls[0].Destination != "sip:200@gateway.example.com" {
		t.Errorf("started %+v, want one anchored call to sip:200@gateway.example.com", calls)
	}
}

func TestClientThatNeverFinishesHeadersIsCutOffByReadTimeout(t *testing.T) {
	eng := &fakeEngine{}
	s, _ := serve(t, config.HTTP{ReadTimeout: 300 * time.Millisecond}, eng)
	c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("GET " + query("100", "200") + " HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(c) // returns when the server closes the connection

	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
		t.Errorf("cut off after %v, before the read timeout", elapsed)
	}
	if len(answer) > 0 && !strings.HasPrefix(string(answer), "HTTP/1.1 408 ") {
		t.Errorf("answer %q, want 408 or nothing", answer)
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("incomplete request started calls: %+v", calls)
	}
}

func TestOversizeRequestIsRefused(t *testing.T) {
	eng := &fakeEngine{}
	s, base := serve(t, config.HTTP{MaxRequestSize: 2048}, eng)

	bigHeader := "GET " + query("100", "200") + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 4096) + "\r\n\r\n"
	line, err := rawRequest(t, s.Addr().String(), bigHeader, len(bigHeader), 0)
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 431 ") {
		t.Errorf("big headers: status line %q, err %v; want 431", line, err)
	}

	form := url.Values{"initiator": {"100"}, "destination": {"200"}, "pad": {strings.Repeat("a", 4096)}}
	if a := postForm(t, base+"/clicktocall.html", form); a.status != 413 {
		t.Errorf("big body: status %d, want 413", a.status)
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("oversize requests started calls: %+v", calls)
	}
}

// waitAddr waits for ListenAndServe to bind.
func waitAddr(t *testing.T, s *Server) net.Addr {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if a := s.Addr(); a != nil {
			return a
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("server did not bind within 5s")
	return nil
}

func listenAndServe(t *testing.T, cfg config.HTTP, eng *fakeEngine) string {
	t.Helper()
	s := New(Options{HTTP: cfg, Translate: translate, Calls: eng})
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe() }()
	t.Cleanup(func() { stop(t, s, done) })
	_, port, err := net.SplitHostPort(waitAddr(t, s).String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func skipWithoutIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

func TestListensOnIPv6Loopback(t *testing.T) {
	skipWithoutIPv6Loopback(t)
	eng := &fakeEngine{}
	port := listenAndServe(t, config.HTTP{Address: "::1"}, eng)
	a := get(t, "http://[::1]:"+port+query("100", "200"))
	wantHTML(t, a, 200, "Initiating click-to-call")
	if calls := eng.started(); len(calls) != 1 || calls[0].ClientIP != "::1" {
		t.Errorf("started %+v, want one call from ::1", calls)
	}
}

func TestEmptyAddressListensOnIPv4AndIPv6(t *testing.T) {
	skipWithoutIPv6Loopback(t)
	port := listenAndServe(t, config.HTTP{}, &fakeEngine{})
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		wantHTML(t, get(t, "http://"+host+":"+port+"/"), 200, "Click-to-call")
	}
}

// digestClient answers digest challenges with the given algorithm.
func digestClient(password, algorithm string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &digest.Transport{
		Username: "admin",
		Password: password,
		FindChallenge: func(h http.Header) (*digest.Challenge, error) {
			for _, v := range h.Values("WWW-Authenticate") {
				if c, err := digest.ParseChallenge(v); err == nil && c.Algorithm == algorithm {
					return c, nil
				}
			}
			return nil, digest.ErrNoChallenge
		},
	}}
}

var digestConfig = config.HTTP{Auth: true, Password: "s3cret", AuthScheme: "digest"}

func challengesOf(t *testing.T, a answer) []*digest.Challenge {
	t.Helper()
	var out []*digest.Challenge
	for _, v := range a.header.Values("WWW-Authenticate") {
		c, err := digest.ParseChallenge(v)
		if err != nil {
			t.Fatalf("challenge %q: %v", v, err)
		}
		out = append(out, c)
	}
	return out
}

func TestDigestWithoutCredentialsGets401WithSHA256AndMD5Challenges(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, digestConfig, eng)
	for _, path := range []string{query("100", "200"), "/", "/unknown"} {
		a := get(t, base+path)
		wantHTML(t, a, 401)
		chals := challengesOf(t, a)
		if len(chals) != 2 || chals[0].Algorithm != "SHA-256" || chals[1].Algorithm != "MD5" {
			t.Fatalf("%s: challenges %q, want SHA-256 then MD5", path, a.header.Values("WWW-Authenticate"))
		}
		for _, c := range chals {
			if !c.SupportsQOP("auth") || c.Realm != "clicktocall" || c.Nonce == "" || c.Opaque == "" || c.Stale {
				t.Errorf("%s: challenge %+v, want qop auth, realm clicktocall, nonce, opaque, not stale", path, c)
			}
		}
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("unauthenticated requests started calls: %+v", calls)
	}
}

func TestDigestWithCorrectPasswordStartsCall(t *testing.T) {
	for _, alg := range []string{"SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			eng := &fakeEngine{}
			_, base := serve(t, digestConfig, eng)
			c := digestClient("s3cret", alg)
			for i := 1; i <= 3; i++ { // the transport reuses the nonce with rising counts
				req, _ := http.NewRequest(http.MethodGet, base+query("100", "200"), nil)
				wantHTML(t, do(t, c, req), 200, fmt.Sprintf("call-%d", i))
			}
			req, _ := http.NewRequest(http.MethodPost, base+"/clicktocall.html",
				strings.NewReader("initiator=300&destination=400"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			wantHTML(t, do(t, c, req), 200, "from sip:300@gateway.example.com")
		})
	}
}

func TestDigestWithWrongPasswordGets401(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, digestConfig, eng)
	req, _ := http.NewRequest(http.MethodGet, base+query("100", "200"), nil)
	a := do(t, digestClient("wrong", "SHA-256"), req)
	wantHTML(t, a, 401)
	if len(challengesOf(t, a)) != 2 {
		t.Errorf("401 without both challenges: %q", a.header.Values("WWW-Authenticate"))
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("wrong password started calls: %+v", calls)
	}
}

// authorized sends one GET with an Authorization header built from chal.
func authorizedGet(t *testing.T, base, path string, chal *digest.Challenge, uri string, nc int) answer {
	t.Helper()
	cred, err := digest.Digest(chal, digest.Options{Method: "GET", URI: uri, Count: nc, Username: "admin", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", cred.String())
	return do(t, client, req)
}

func TestDigestReplayedNonceCountGets401(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, digestConfig, eng)
	path := query("100", "200")
	chal := challengesOf(t, get(t, base+path))[0]
	cred, err := digest.Digest(chal, digest.Options{Method: "GET", URI: path, Count: 1, Username: "admin", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	send := func() answer {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", cred.String())
		return do(t, client, req)
	}

	wantHTML(t, send(), 200)
	replay := send()

	wantHTML(t, replay, 401)
	if calls := eng.started(); len(calls) != 1 {
		t.Errorf("started %d calls, want 1 (the replay must not start one)", len(calls))
	}
	wantHTML(t, authorizedGet(t, base, path, chal, path, 2), 200)
}

func TestDigestExpiredNonceGets401Stale(t *testing.T) {
	cfg := digestConfig
	cfg.NonceLifetime = 200 * time.Millisecond
	_, base := serve(t, cfg, &fakeEngine{})
	path := query("100", "200")
	chal := challengesOf(t, get(t, base+path))[1]
	time.Sleep(300 * time.Millisecond)

	a := authorizedGet(t, base, path, chal, path, 1)

	wantHTML(t, a, 401)
	chals := challengesOf(t, a)
	if len(chals) != 2 || !chals[0].Stale || !chals[1].Stale || chals[0].Nonce == chal.Nonce {
		t.Errorf("challenges %q, want two with stale=true and a new nonce", a.header.Values("WWW-Authenticate"))
	}
}

func TestDigestURIMismatchIsRefused(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, digestConfig, eng)
	chal := challengesOf(t, get(t, base+"/"))[0]
	a := authorizedGet(t, base, query("100", "200"), chal, query("100", "999"), 1)
	wantHTML(t, a, 400, "does not match")
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("uri mismatch started calls: %+v", calls)
	}
}

func TestBasicSchemeWhenConfigured(t *testing.T) {
	eng := &fakeEngine{}
	_, base := serve(t, config.HTTP{Auth: true, Password: "s3cret", AuthScheme: "basic"}, eng)
	path := base + query("100", "200")

	none := get(t, path)
	if none.status != 401 || len(none.header.Values("WWW-Authenticate")) != 1 ||
		!strings.HasPrefix(none.header.Get("WWW-Authenticate"), `Basic realm="clicktocall"`) {
		t.Errorf("no credentials: %d %q, want 401 with one Basic challenge", none.status, none.header.Values("WWW-Authenticate"))
	}
	for _, tc := range []struct {
		user, password string
		status         int
	}{
		{"admin", "s3cret", 200},
		{"admin", "wrong", 401},
		{"root", "s3cret", 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		req.SetBasicAuth(tc.user, tc.password)
		if a := do(t, client, req); a.status != tc.status {
			t.Errorf("%s:%s: status %d, want %d", tc.user, tc.password, a.status, tc.status)
		}
	}
	if calls := eng.started(); len(calls) != 1 {
		t.Errorf("started %d calls, want 1", len(calls))
	}
}

func TestCurlDigestStartsCall(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	eng := &fakeEngine{}
	_, base := serve(t, digestConfig, eng)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-sS", "--digest", "-u", "admin:s3cret",
		"-w", "\nstatus=%{http_code}", base+query("100", "200")).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	i := strings.LastIndex(string(out), "\nstatus=")
	if i < 0 {
		t.Fatalf("curl output without status: %q", out)
	}
	body, code := string(out[:i]), string(out[i+len("\nstatus="):])
	if code != "200" || !strings.Contains(body, "Initiating click-to-call") {
		t.Errorf("curl got %q", out)
	}
	if calls := eng.started(); len(calls) != 1 {
		t.Errorf("started %d calls, want 1", len(calls))
	}
}

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAccessLogAtDebugCarriesCallIDAndRefusalsAreWarnings(t *testing.T) {
	var logs syncBuffer
	eng := &fakeEngine{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{HTTP: config.HTTP{}, Translate: translate, Calls: eng,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { stop(t, s, done) })
	base := "http://" + ln.Addr().String()

	wantHTML(t, get(t, base+query("100", "200")), 200)
	eng.mu.Lock()
	eng.refusal = &actors.Refusal{Ending: actors.EndMaxActiveCalls, Text: "Too many active calls", RetryAfter: time.Second}
	eng.mu.Unlock()
	wantHTML(t, get(t, base+query("100", "200")), 503)

	out := logs.String()
	for _, want := range []string{
		`level=DEBUG msg="http request" component=http method=GET path=/clicktocall.html status=200`,
		`call_id=call-1`,
		`level=WARN msg="http call refused" component=http code=503 text="Too many active calls"`,
		`status=503`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// Refusals at a limit are logged once per kind every refusalLogEvery, the
// next line saying how many were not; each still gets its whole page, the
// same as the first (kept rendered), with its Retry-After.
func TestRefusalsAreLoggedOncePerKindAndWindow(t *testing.T) {
	var logs syncBuffer
	eng := &fakeEngine{refusal: &actors.Refusal{Ending: actors.EndOverload, Text: "Server overloaded", RetryAfter: time.Second}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{HTTP: config.HTTP{}, Translate: translate, Calls: eng,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s.refusals.now = func() time.Time { return time.Unix(0, clock.Load()) }
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { stop(t, s, done) })
	base := "http://" + ln.Addr().String()

	var first string
	for i := range 4 {
		a := get(t, base+query("100", "200"))
		wantHTML(t, a, 503, "Server overloaded")
		if a.header.Get("Retry-After") == "" || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("refusal %d lacks its headers: %v", i, a.header)
		}
		if i == 0 {
			first = a.body
		} else if a.body != first {
			t.Errorf("refusal %d's page %q differs from the first's %q", i, a.body, first)
		}
	}
	if n := strings.Count(logs.String(), `msg="http call refused"`); n != 1 {
		t.Fatalf("4 refusals within the window logged %d lines, want 1:\n%s", n, logs.String())
	}
	clock.Add(int64(refusalLogEvery))
	wantHTML(t, get(t, base+query("100", "200")), 503)
	out := logs.String()
	if n := strings.Count(out, `msg="http call refused"`); n != 2 || !strings.Contains(out, "unlogged=3") {
		t.Errorf("after the window: %d lines, want 2, the second with unlogged=3:\n%s", n, out)
	}
}

func TestConnectionLimitsRefuseExtraConnections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    config.HTTP
		status string
	}{
		{"max connections", config.HTTP{MaxConns: 1}, "HTTP/1.1 503 "},
		{"max connections per IP", config.HTTP{MaxConnsPerIP: 1}, "HTTP/1.1 429 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := serve(t, tc.cfg, &fakeEngine{})
			// The first connection stays open after its answer (keep-alive).
			first, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			if err := first.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := first.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(first).ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
				t.Fatalf("first connection: %q, %v", line, err)
			}

			line, err := rawRequest(t, s.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 64, 0)

			if !strings.HasPrefix(line, tc.status) {
				t.Errorf("second connection: %q, %v; want %s", line, err, tc.status)
			}
		})
	}
}
