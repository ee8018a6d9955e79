package httpfront

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

const (
	statusBadRequest   = 400
	statusUnauthorized = 401
)

// authenticator checks a request's credentials and phrases the challenges
// sent with a 401.
type authenticator interface {
	// check judges the Authorization header of a request whose method and
	// request-target (as on the request line) are given.
	check(method, requestURI, header string) authVerdict
	// challenges gives the WWW-Authenticate values of a 401, one per header.
	challenges(stale bool) []string
}

// authVerdict is the outcome of checking a request's credentials.
type authVerdict struct {
	ok      bool
	status  int    // 401, or 400 for a malformed header or a uri mismatch
	stale   bool   // the password was right but the nonce must be renewed
	failed  bool   // credentials were offered and were wrong: worth a warning
	reason  string // for the log
	problem string // for the 400 page
}

// basicAuth is HTTP Basic (RFC 7617), for legacy clients when configured.
type basicAuth struct {
	password string
}

func (b basicAuth) challenges(bool) []string {
	return []string{`Basic realm="` + realm + `", charset="UTF-8"`}
}

func (b basicAuth) check(_, _, header string) authVerdict {
	const prefix = "Basic "
	if header == "" {
		return authVerdict{status: statusUnauthorized, reason: "no credentials"}
	}
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return authVerdict{status: statusUnauthorized, reason: "not basic credentials"}
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return authVerdict{status: statusUnauthorized, reason: "malformed basic credentials", failed: true}
	}
	user, password, _ := strings.Cut(string(decoded), ":")
	// Compare hashes so neither the time nor an early exit on length tells
	// anything about the password.
	userOK := equalSecret(user, adminUser)
	passwordOK := equalSecret(password, b.password)
	if userOK&passwordOK != 1 {
		return authVerdict{status: statusUnauthorized, reason: "wrong user or password", failed: true}
	}
	return authVerdict{ok: true}
}

// equalSecret returns 1 when a equals b, in time independent of their contents.
func equalSecret(a, b string) int {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:])
}
