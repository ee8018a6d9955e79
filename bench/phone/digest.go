package phone

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func (c *Credentials) realm() string {
	if c.Realm == "" {
		return "phone"
	}
	return c.Realm
}

// challenge answers req with 401 and a fresh nonce the phone will accept once.
func (p *Phone) challenge(req *sip.Request, cred *Credentials) *sip.Response {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	p.mu.Lock()
	p.nonces[nonce] = true
	p.mu.Unlock()
	chal := digest.Challenge{Realm: cred.realm(), Nonce: nonce, Algorithm: "MD5"}
	if cred.QOP {
		chal.QOP = []string{"auth"}
	}
	res := sip.NewResponseFromRequest(req, 401, Reason(401), nil)
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", chal.String()))
	return res
}

// authorized checks req's Authorization against cred and a nonce this phone issued; a nonce
// is good for one successful INVITE.
func (p *Phone) authorized(req *sip.Request, cred *Credentials) bool {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false
	}
	got, err := digest.ParseCredentials(h.Value())
	if err != nil || got.Username != cred.Username || got.Realm != cred.realm() {
		return false
	}
	if cred.QOP && got.QOP != "auth" {
		return false
	}
	p.mu.Lock()
	known := p.nonces[got.Nonce]
	p.mu.Unlock()
	if !known {
		return false
	}
	chal := &digest.Challenge{Realm: got.Realm, Nonce: got.Nonce, Algorithm: got.Algorithm, Opaque: got.Opaque}
	if got.QOP != "" {
		chal.QOP = []string{got.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: got.URI, Username: cred.Username, Password: cred.Password,
		Cnonce: got.Cnonce, Count: got.Nc,
	})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(got.Response)) != 1 {
		return false
	}
	p.mu.Lock()
	delete(p.nonces, got.Nonce)
	p.mu.Unlock()
	return true
}
