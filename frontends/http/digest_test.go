package httpfront

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// RFC 7616 §3.9.1: the published example of a digest computation.
func TestDigestResponseMatchesRFC7616Example(t *testing.T) {
	for _, tc := range []struct{ algorithm, want string }{
		{"MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		t.Run(tc.algorithm, func(t *testing.T) {
			header := `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", ` +
				`algorithm=` + tc.algorithm + `, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, ` +
				`cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, ` +
				`response="` + tc.want + `", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`
			cred, err := parseDigestAuthorization(header)
			if err != nil {
				t.Fatalf("parse the RFC's header: %v", err)
			}
			got, err := digestResponse(cred, "GET", "Circle of Life")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("response = %s, want %s", got, tc.want)
			}
			if !equalHex(got, cred.Response) {
				t.Errorf("equalHex(%s, %s) = false", got, cred.Response)
			}
		})
	}
}

// testClock is a settable clock for nonce expiry.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// authorize builds credentials the way a client does, from a challenge the
// server issued.
func authorize(t *testing.T, challenge, password, method, uri string, nc int) string {
	t.Helper()
	chal, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatalf("parse challenge %q: %v", challenge, err)
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method: method, URI: uri, Count: nc, Username: "admin", Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func newTestDigest(clock *testClock) *digestAuth {
	a := newDigestAuth("s3cret", time.Minute)
	a.now = clock.now
	return a
}

func TestDigestChallengesOfferSHA256ThenMD5WithQopAuth(t *testing.T) {
	a := newTestDigest(&testClock{time.Unix(1_700_000_000, 0)})
	chals := a.challenges(false)
	if len(chals) != 2 {
		t.Fatalf("got %d challenges, want 2: %q", len(chals), chals)
	}
	for i, alg := range []string{"SHA-256", "MD5"} {
		c, err := digest.ParseChallenge(chals[i])
		if err != nil {
			t.Fatalf("challenge %q: %v", chals[i], err)
		}
		if c.Algorithm != alg || c.Realm != "clicktocall" || !c.SupportsQOP("auth") || c.Opaque == "" || c.Stale {
			t.Errorf("challenge %d = %+v, want algorithm %s, realm clicktocall, qop auth, opaque, not stale", i, c, alg)
		}
	}
	if c, _ := digest.ParseChallenge(a.challenges(true)[0]); !c.Stale {
		t.Errorf("challenges(true) not stale: %q", a.challenges(true)[0])
	}
}

func TestDigestCheck(t *testing.T) {
	clock := &testClock{time.Unix(1_700_000_000, 0)}
	a := newTestDigest(clock)
	sha, md5 := a.challenges(false)[0], a.challenges(false)[1]
	const uri = "/clicktocall.html?initiator=1&destination=2"

	for _, tc := range []struct {
		name   string
		header string
		status int
		stale  bool
	}{
		{"no credentials", "", 401, false},
		{"basic credentials", "Basic YWRtaW46czNjcmV0", 401, false},
		{"malformed header", `Digest username="admin`, 400, false},
		{"wrong password", authorize(t, sha, "wrong", "GET", uri, 1), 401, false},
		{"wrong user", strings.Replace(authorize(t, sha, "s3cret", "GET", uri, 1), `"admin"`, `"root"`, 1), 401, false},
		{"uri mismatch", authorize(t, sha, "s3cret", "GET", "/clicktocall.html?other", 1), 400, false},
		{"method mismatch", authorize(t, sha, "s3cret", "POST", uri, 1), 401, false},
		{"forged nonce", authorize(t, strings.Replace(sha, `nonce="`, `nonce="x`, 1), "s3cret", "GET", uri, 1), 401, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := a.check("GET", uri, tc.header)
			if v.ok || v.status != tc.status || v.stale != tc.stale {
				t.Errorf("check = %+v, want status %d stale %v", v, tc.status, tc.stale)
			}
		})
	}

	t.Run("SHA-256 and MD5 accepted", func(t *testing.T) {
		for _, chal := range []string{sha, md5} {
			if v := a.check("GET", uri, authorize(t, chal, "s3cret", "GET", uri, 1)); !v.ok {
				t.Errorf("check = %+v, want ok", v)
			}
		}
	})
	t.Run("replayed nonce count refused, higher count accepted", func(t *testing.T) {
		chal := a.challenges(false)[0]
		if v := a.check("GET", uri, authorize(t, chal, "s3cret", "GET", uri, 5)); !v.ok {
			t.Fatalf("first use: %+v", v)
		}
		for _, nc := range []int{5, 4} {
			if v := a.check("GET", uri, authorize(t, chal, "s3cret", "GET", uri, nc)); v.ok {
				t.Errorf("nc %d after 5 accepted", nc)
			}
		}
		if v := a.check("GET", uri, authorize(t, chal, "s3cret", "GET", uri, 6)); !v.ok {
			t.Errorf("nc 6 after 5: %+v", v)
		}
	})
	t.Run("expired nonce is stale", func(t *testing.T) {
		chal := a.challenges(false)[0]
		clock.t = clock.t.Add(time.Minute + time.Second)
		v := a.check("GET", uri, authorize(t, chal, "s3cret", "GET", uri, 1))
		if v.ok || v.status != 401 || !v.stale {
			t.Errorf("check = %+v, want 401 stale", v)
		}
	})
	t.Run("nonce of another process is stale", func(t *testing.T) {
		other := newTestDigest(clock)
		v := a.check("GET", uri, authorize(t, other.challenges(false)[0], "s3cret", "GET", uri, 1))
		if v.ok || !v.stale {
			t.Errorf("check = %+v, want 401 stale", v)
		}
	})
}

func TestNonceCountsForgetExpiredAndRefuseEvicted(t *testing.T) {
	n := newNonceCounts(2)
	t0 := time.Unix(1_700_000_000, 0)
	life := time.Minute
	if !n.advance("a", t0, 1, t0, life) || !n.advance("b", t0.Add(time.Second), 1, t0, life) {
		t.Fatal("first uses refused")
	}
	// Full: "a" and "b" expire by the time "c" arrives, so both are forgotten.
	later := t0.Add(2 * time.Minute)
	if !n.advance("c", later, 1, later, life) {
		t.Fatal("c refused")
	}
	if len(n.entries) != 1 {
		t.Errorf("entries = %v, want only c", n.entries)
	}
	// Full of live nonces: the oldest is evicted, and from then on refused.
	if !n.advance("d", later.Add(time.Second), 1, later, life) || !n.advance("e", later.Add(2*time.Second), 1, later, life) {
		t.Fatal("d or e refused")
	}
	if _, ok := n.entries["c"]; ok {
		t.Error("c not evicted")
	}
	if n.advance("c", later, 2, later, life) {
		t.Error("evicted nonce c accepted again")
	}
	if !n.advance("e", later.Add(2*time.Second), 2, later, life) {
		t.Error("tracked nonce e refused a higher count")
	}
}

func TestBasicCheck(t *testing.T) {
	b := basicAuth{password: "s3cret"}
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"Basic YWRtaW46czNjcmV0", true},  // admin:s3cret
		{"basic YWRtaW46czNjcmV0", true},  // scheme is case-insensitive
		{"Basic YWRtaW46d3Jvbmc=", false}, // admin:wrong
		{"Basic cm9vdDpzM2NyZXQ=", false}, // root:s3cret
		{"Basic !!!", false},
		{"", false},
	} {
		if v := b.check("GET", "/", tc.header); v.ok != tc.ok {
			t.Errorf("check(%q) = %+v, want ok %v", tc.header, v, tc.ok)
		}
	}
}
