package httpfront

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// HTTP Digest authentication (RFC 7616) for the admin user.
//
// Nonces are stateless: each carries its issue time and an HMAC made with a
// per-process random key, so any nonce this process issued can be checked
// without remembering it, and nonces of an earlier process are refused. The
// only state is the highest nonce-count seen per nonce in use, which is what
// replay rejection needs; it forgets nonces once they expire.

const (
	realm     = "clicktocall"
	adminUser = "admin"

	nonceTimeLen = 8  // issue time, Unix nanoseconds, big endian
	nonceRandLen = 8  // makes nonces issued in the same nanosecond differ
	nonceMACLen  = 16 // truncated HMAC-SHA256 of time and random bytes
	nonceRawLen  = nonceTimeLen + nonceRandLen + nonceMACLen

	// maxTrackedNonces bounds the nonce-count map. Only nonces whose request
	// carried a correct response are tracked, so only clients that know the
	// password can fill it.
	maxTrackedNonces = 10000
)

// digestAlgorithms are the algorithms offered, in order of preference.
var digestAlgorithms = []string{"SHA-256", "MD5"}

// digestAuth checks Authorization: Digest headers against the admin password.
type digestAuth struct {
	password string
	lifetime time.Duration
	key      []byte // HMAC key for nonces, random per process
	opaque   string // random per process, echoed back by clients
	now      func() time.Time
	counts   *nonceCounts
}

func newDigestAuth(password string, lifetime time.Duration) *digestAuth {
	key := make([]byte, 32)
	opaque := make([]byte, 16)
	// crypto/rand.Read never returns an error (it panics if the OS fails it).
	_, _ = rand.Read(key)
	_, _ = rand.Read(opaque)
	return &digestAuth{
		password: password,
		lifetime: lifetime,
		key:      key,
		opaque:   base64.RawURLEncoding.EncodeToString(opaque),
		now:      time.Now,
		counts:   newNonceCounts(maxTrackedNonces),
	}
}

// challenges gives one WWW-Authenticate value per offered algorithm, all with
// the same fresh nonce. stale tells the client its password was right and only
// the nonce must be renewed, so it can retry without asking the user.
func (a *digestAuth) challenges(stale bool) []string {
	nonce := a.newNonce(a.now())
	out := make([]string, 0, len(digestAlgorithms))
	for _, alg := range digestAlgorithms {
		c := digest.Challenge{
			Realm:     realm,
			Nonce:     nonce,
			Opaque:    a.opaque,
			Stale:     stale,
			Algorithm: alg,
			QOP:       []string{"auth"},
		}
		out = append(out, c.String())
	}
	return out
}

// check verifies an Authorization header for a request with the given method
// and request-target (as received on the request line).
func (a *digestAuth) check(method, requestURI, header string) authVerdict {
	if header == "" {
		return authVerdict{status: statusUnauthorized, reason: "no credentials"}
	}
	if !digest.IsDigest(header) {
		return authVerdict{status: statusUnauthorized, reason: "not digest credentials"}
	}
	cred, err := parseDigestAuthorization(header)
	if err != nil {
		return authVerdict{status: statusBadRequest, reason: "malformed Authorization header",
			problem: "Malformed Authorization header"}
	}
	if cred.Username != adminUser || cred.Userhash {
		return authVerdict{status: statusUnauthorized, reason: "unknown user " + cred.Username}
	}
	if cred.Realm != realm {
		return authVerdict{status: statusUnauthorized, reason: "wrong realm " + cred.Realm}
	}
	if !offeredAlgorithm(cred.Algorithm) {
		return authVerdict{status: statusUnauthorized, reason: "unsupported algorithm " + cred.Algorithm}
	}
	if cred.QOP != "auth" || cred.Cnonce == "" || cred.Nc < 1 {
		return authVerdict{status: statusUnauthorized, reason: "missing qop=auth, cnonce or nc"}
	}
	// RFC 7616 §3.4.6: the uri must name the request's target.
	if cred.URI != requestURI {
		return authVerdict{status: statusBadRequest, reason: "uri mismatch",
			problem: "The Authorization uri does not match the request"}
	}
	want, err := digestResponse(cred, method, a.password)
	if err != nil || !equalHex(want, cred.Response) {
		return authVerdict{status: statusUnauthorized, reason: "wrong password", failed: true}
	}
	// The password is right. Whatever is wrong from here on is the nonce's
	// fault: answer stale=true so the client retries with a fresh one.
	issued, ok := a.verifyNonce(cred.Nonce)
	now := a.now()
	switch {
	case !ok || subtle.ConstantTimeCompare([]byte(cred.Opaque), []byte(a.opaque)) != 1:
		return authVerdict{status: statusUnauthorized, stale: true, reason: "nonce not issued by this process"}
	case now.Sub(issued) > a.lifetime || issued.After(now.Add(time.Second)):
		return authVerdict{status: statusUnauthorized, stale: true, reason: "nonce expired"}
	case !a.counts.advance(cred.Nonce, issued, uint32(cred.Nc), now, a.lifetime):
		return authVerdict{status: statusUnauthorized, stale: true, reason: "nonce count replayed"}
	}
	return authVerdict{ok: true}
}

// parseDigestAuthorization parses an Authorization: Digest header value.
func parseDigestAuthorization(header string) (*digest.Credentials, error) {
	return digest.ParseCredentials(header)
}

// digestResponse computes the response a client with the password must send
// for these credentials (RFC 7616 §3.4.1, qop=auth). The credentials supply
// the username, realm, nonce, uri, algorithm, cnonce and nonce count.
func digestResponse(cred *digest.Credentials, method, password string) (string, error) {
	chal := &digest.Challenge{
		Realm:     cred.Realm,
		Nonce:     cred.Nonce,
		Opaque:    cred.Opaque,
		Algorithm: cred.Algorithm,
		QOP:       []string{"auth"},
	}
	out, err := digest.Digest(chal, digest.Options{
		Method:   method,
		URI:      cred.URI,
		Count:    cred.Nc,
		Username: cred.Username,
		Password: password,
		Cnonce:   cred.Cnonce,
	})
	if err != nil {
		return "", err
	}
	return out.Response, nil
}

// offeredAlgorithm reports whether alg is one the server offers; an absent
// algorithm means MD5 (RFC 7616 §3.3).
func offeredAlgorithm(alg string) bool {
	if alg == "" {
		return true
	}
	for _, a := range digestAlgorithms {
		if strings.EqualFold(alg, a) {
			return true
		}
	}
	return false
}

// equalHex compares two hex digests in constant time, ignoring case.
func equalHex(want, got string) bool {
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(got))) == 1
}

// newNonce makes a nonce carrying its issue time, authenticated by the key.
func (a *digestAuth) newNonce(issued time.Time) string {
	raw := make([]byte, nonceRawLen)
	binary.BigEndian.PutUint64(raw, uint64(issued.UnixNano()))
	_, _ = rand.Read(raw[nonceTimeLen : nonceTimeLen+nonceRandLen])
	copy(raw[nonceTimeLen+nonceRandLen:], a.nonceMAC(raw[:nonceTimeLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(raw)
}

// verifyNonce reports the issue time of a nonce this process issued.
func (a *digestAuth) verifyNonce(nonce string) (time.Time, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != nonceRawLen {
		return time.Time{}, false
	}
	body, mac := raw[:nonceTimeLen+nonceRandLen], raw[nonceTimeLen+nonceRandLen:]
	if !hmac.Equal(mac, a.nonceMAC(body)) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw[:nonceTimeLen]))), true
}

func (a *digestAuth) nonceMAC(body []byte) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write(body)
	return m.Sum(nil)[:nonceMACLen]
}

// nonceCounts remembers the highest nonce-count seen for each nonce in use, so
// a replayed (or reordered) request is refused. It holds at most max nonces.
type nonceCounts struct {
	mu      sync.Mutex
	max     int
	entries map[string]nonceCount
	// forgotten is the issue time of the newest nonce evicted before it
	// expired. A nonce issued no later than that and not in entries may have
	// been used before, so it is refused rather than trusted.
	forgotten time.Time
}

type nonceCount struct {
	issued  time.Time
	highest uint32
}

func newNonceCounts(maxEntries int) *nonceCounts {
	return &nonceCounts{max: maxEntries, entries: make(map[string]nonceCount)}
}

// advance records nc for nonce and reports whether it is higher than any
// count seen before for that nonce.
func (n *nonceCounts) advance(nonce string, issued time.Time, nc uint32, now time.Time, lifetime time.Duration) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.entries[nonce]; ok {
		if nc <= e.highest {
			return false
		}
		e.highest = nc
		n.entries[nonce] = e
		return true
	}
	if !issued.After(n.forgotten) {
		return false
	}
	if len(n.entries) >= n.max {
		n.forgetExpired(now, lifetime)
	}
	if len(n.entries) >= n.max {
		n.evictOldest()
	}
	n.entries[nonce] = nonceCount{issued: issued, highest: nc}
	return true
}

func (n *nonceCounts) forgetExpired(now time.Time, lifetime time.Duration) {
	for k, e := range n.entries {
		if now.Sub(e.issued) > lifetime {
			delete(n.entries, k)
		}
	}
}

func (n *nonceCounts) evictOldest() {
	var oldestKey string
	var oldest time.Time
	for k, e := range n.entries {
		if oldestKey == "" || e.issued.Before(oldest) {
			oldestKey, oldest = k, e.issued
		}
	}
	delete(n.entries, oldestKey)
	if oldest.After(n.forgotten) {
		n.forgotten = oldest
	}
}
