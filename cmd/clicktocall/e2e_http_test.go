package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// The HTTP interface of the binary: calls through SIPp phones, the answers
// to bad requests, and digest authentication.

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get fetches a URL and returns the status, the body and the response.
func get(t *testing.T, method, rawURL, authorization string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return res.StatusCode, string(b), res
}

func (s *e2eServer) url(path string, query url.Values) string {
	u := url.URL{Scheme: "http", Host: s.httpAddr(), Path: path, RawQuery: query.Encode()}
	return u.String()
}

func TestHTTPStartsACallInEachMode(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	t.Run("unanchored GET", func(t *testing.T) {
		t.Parallel()
		ini := startPhone(t, "initiator_accepts_refer", "alice", 1)
		status, body, _ := get(t, http.MethodGet, s.url("/clicktocall.html",
			url.Values{"initiator": {ini.address()}, "destination": {"9055551234"}}), "", nil)
		want := "Initiating click-to-call from " + ini.uri() + " to " + gatewayURI + " (unanchored)"
		if status != http.StatusOK || !strings.Contains(body, want) || !strings.Contains(body, "Call id: ") {
			t.Errorf("status %d, body %q; want 200 with %q and the call id", status, body, want)
		}
		ini.expectSuccess(t, 1)
		refer := find(t, ini.messages(t), "REFER", received("REFER"))
		if got := refer.header("Refer-To"); got != "<"+gatewayURI+">" {
			t.Errorf("Refer-To %q, want <%s>", got, gatewayURI)
		}
	})
	t.Run("anchored POST", func(t *testing.T) {
		t.Parallel()
		ini := startPhone(t, "initiator_answers_reinvite", "alice", 1)
		dst := startPhone(t, "phone_answers", "bob", 1)
		status, body, _ := get(t, http.MethodPost, s.url("/clicktocall.html", nil), "",
			url.Values{"initiator": {ini.address()}, "destination": {dst.address()}, "anchor": {"TRUE"}})
		want := "Initiating click-to-call from " + ini.uri() + " to " + dst.uri() + " (anchored)"
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("status %d, body %q; want 200 with %q", status, body, want)
		}
		ini.expectSuccess(t, 1)
		dst.expectSuccess(t, 1)
		expectBridged(t, ini, dst)
	})
}

func TestHTTPBadRequestsAreRefusedWithTheProblemNamed(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string // in the HTML page, escaped
	}{
		{"no parameters", url.Values{}, "Missing initiator and/or destination tags"},
		{"no initiator", url.Values{"destination": {"1"}}, "Missing initiator and/or destination tags"},
		{"empty destination", url.Values{"initiator": {"1"}, "destination": {" "}}, "Missing initiator and/or destination tags"},
		{"initiator named in the wrong case", url.Values{"Initiator": {"1"}, "destination": {"2"}}, "Missing initiator and/or destination tags"},
		{"no translation rule", url.Values{"initiator": {"<b>x</b>"}, "destination": {"1"}}, "No translation rule for &lt;b&gt;x&lt;/b&gt;"},
		{"invalid URI", url.Values{"initiator": {"1"}, "destination": {"sip:a b"}}, "Invalid URI format sip:a b"},
		{"too long", url.Values{"initiator": {strings.Repeat("1", 1025)}, "destination": {"1"}}, "Initiator too long (more than 1024 bytes)"},
		{"control character", url.Values{"initiator": {"1"}, "destination": {"1\x01"}}, "Destination contains control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := get(t, http.MethodGet, s.url("/clicktocall.html", tc.query), "", nil)
			if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("status %d, body %q; want 400 with %q", status, body, tc.want)
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		status, body, _ := get(t, http.MethodGet, s.url("/clicktocall.htm", nil), "", nil)
		if status != http.StatusNotFound || !strings.Contains(body, "No page at /clicktocall.htm") {
			t.Errorf("status %d, body %q; want 404", status, body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		status, _, res := get(t, http.MethodPut, s.url("/clicktocall.html", nil), "", nil)
		if status != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, POST" {
			t.Errorf("status %d, Allow %q; want 405 with Allow: GET, POST", status, res.Header.Get("Allow"))
		}
	})
	t.Run("form page", func(t *testing.T) {
		status, body, _ := get(t, http.MethodGet, s.url("/", nil), "", nil)
		if status != http.StatusOK || !strings.Contains(body, `action="/clicktocall.html"`) {
			t.Errorf("status %d, body %q; want the form", status, body)
		}
	})
}

const testPassword = "s3cret pass"

func TestHTTPDigestAuthentication(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{http: "auth = true\n  password = \"" + testPassword + "\"\n  nonce_lifetime = \"1s\""})
	index := s.url("/", nil)

	// challenge returns the server's challenges to a request without credentials.
	challenge := func(t *testing.T) map[string]*digest.Challenge {
		t.Helper()
		status, _, res := get(t, http.MethodGet, index, "", nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("no credentials: status %d, want 401", status)
		}
		out := map[string]*digest.Challenge{}
		for _, h := range res.Header.Values("WWW-Authenticate") {
			c, err := digest.ParseChallenge(h)
			if err != nil {
				t.Fatalf("challenge %q: %v", h, err)
			}
			out[c.Algorithm] = c
		}
		return out
	}
	// answer computes the Authorization header for GET / with nonce count nc.
	answer := func(t *testing.T, c *digest.Challenge, password string, nc int) string {
		t.Helper()
		cred, err := digest.Digest(c, digest.Options{Method: http.MethodGet, URI: "/", Username: "admin",
			Password: password, Count: nc, Cnonce: "0a4f113b"})
		if err != nil {
			t.Fatal(err)
		}
		return cred.String()
	}
	expectStale := func(t *testing.T, res *http.Response, stale bool) {
		t.Helper()
		hs := res.Header.Values("WWW-Authenticate")
		if len(hs) != 2 {
			t.Fatalf("%d challenges, want SHA-256 and MD5", len(hs))
		}
		for _, h := range hs {
			if got := strings.Contains(h, "stale=true"); got != stale {
				t.Errorf("challenge %q: stale=true %t, want %t", h, got, stale)
			}
		}
	}

	t.Run("no credentials get SHA-256 and MD5 challenges", func(t *testing.T) {
		cs := challenge(t)
		for _, alg := range []string{"SHA-256", "MD5"} {
			c := cs[alg]
			if c == nil {
				t.Fatalf("no %s challenge among %v", alg, cs)
			}
			if c.Realm != "clicktocall" || len(c.QOP) != 1 || c.QOP[0] != "auth" || c.Nonce == "" || c.Stale {
				t.Errorf("%s challenge %+v, want realm clicktocall, qop auth, a nonce, not stale", alg, c)
			}
		}
	})
	t.Run("right password with each algorithm", func(t *testing.T) {
		// Both challenges carry the same nonce: each algorithm gets a fresh one.
		for _, alg := range []string{"SHA-256", "MD5"} {
			if status, _, _ := get(t, http.MethodGet, index, answer(t, challenge(t)[alg], testPassword, 1), nil); status != http.StatusOK {
				t.Errorf("%s: status %d, want 200", alg, status)
			}
		}
	})
	t.Run("curl --digest", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("curl not installed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
			"--digest", "-u", "admin:"+testPassword, index).CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Errorf("curl --digest: %q, %v; want 200", out, err)
		}
		out, err = exec.CommandContext(ctx, curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
			"--digest", "-u", "admin:wrong", index).CombinedOutput()
		if err != nil || string(out) != "401" {
			t.Errorf("curl --digest with a wrong password: %q, %v; want 401", out, err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		status, _, res := get(t, http.MethodGet, index, answer(t, challenge(t)["SHA-256"], "wrong", 1), nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", status)
		}
		expectStale(t, res, false)
	})
	t.Run("replayed nonce count", func(t *testing.T) {
		auth := answer(t, challenge(t)["SHA-256"], testPassword, 1)
		if status, _, _ := get(t, http.MethodGet, index, auth, nil); status != http.StatusOK {
			t.Fatalf("first use: status %d, want 200", status)
		}
		status, _, res := get(t, http.MethodGet, index, auth, nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("replay: status %d, want 401", status)
		}
		expectStale(t, res, true)
	})
	t.Run("expired nonce", func(t *testing.T) {
		c := challenge(t)["MD5"]
		time.Sleep(1200 * time.Millisecond) // nonce_lifetime is 1s
		status, _, res := get(t, http.MethodGet, index, answer(t, c, testPassword, 1), nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", status)
		}
		expectStale(t, res, true)
	})
}
