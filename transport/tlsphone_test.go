package transport_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	t      *testing.T
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	file   string // PEM of the CA certificate
	serial int64
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{t: t, cert: cert, key: key, serial: 1}
	ca.file = writePEM(t, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// issue makes a certificate for these names (IP addresses or DNS names)
// and returns it with the files it is written to.
func (ca *testCA) issue(names ...string) (cert tls.Certificate, certFile, keyFile string) {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := names[0] + "-" + strconv.FormatInt(ca.serial, 10)
	certFile = writePEM(t, base+".crt", "CERTIFICATE", der)
	keyFile = writePEM(t, base+".key", "PRIVATE KEY", keyDER)
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsPhone is a SIP phone listening on TLS only: it answers every INVITE
// (and re-INVITE) 200 with SDP, every BYE 200, and records what it got and
// the TLS version of each connection.
type tlsPhone struct {
	t    *testing.T
	ua   *sipgo.UserAgent
	ln   net.Listener
	addr netip.AddrPort

	mu       sync.Mutex
	requests []*sip.Request
	versions []uint16
}

const phoneSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func newTLSPhone(t *testing.T, host string, cert tls.Certificate, roots *x509.CertPool) *tlsPhone {
	t.Helper()
	p := &tlsPhone{t: t}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tlsphone"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger())))
	if err != nil {
		t.Fatal(err)
	}
	p.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, VerifyConnection: func(cs tls.ConnectionState) error {
		p.mu.Lock()
		p.versions = append(p.versions, cs.Version)
		p.mu.Unlock()
		return nil
	}}
	p.ln, err = tls.Listen("tcp", net.JoinHostPort(host, "0"), conf)
	if err != nil {
		t.Fatal(err)
	}
	p.addr = netip.MustParseAddrPort(p.ln.Addr().String())
	srv.OnInvite(p.answer)
	srv.OnBye(p.answer)
	srv.OnAck(func(req *sip.Request, _ sip.ServerTransaction) { p.record(req) })
	go func() { _ = srv.ServeTLS(p.ln) }()
	t.Cleanup(func() {
		p.ln.Close()
		ua.Close()
	})
	return p
}

func (p *tlsPhone) record(req *sip.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, req.Clone())
}

func (p *tlsPhone) answer(req *sip.Request, tx sip.ServerTransaction) {
	p.record(req)
	var body []byte
	if req.IsInvite() {
		body = []byte(phoneSDP)
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	if req.IsInvite() {
		if _, ok := res.To().Params.Get("tag"); !ok {
			res.To().Params.Add("tag", "tlsphone")
		}
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sips", User: "phone", Host: uriHostOf(p.addr.Addr()), Port: int(p.addr.Port())}})
	}
	if err := tx.Respond(res); err != nil {
		p.t.Logf("tls phone respond: %v", err)
	}
}

func uriHostOf(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// uri is the phone's address as a sips: URI, or as sip: with ;transport=tls.
func (p *tlsPhone) uri(user string, sips bool) string {
	if sips {
		return "sips:" + user + "@" + uriHostOf(p.addr.Addr()) + ":" + strconv.Itoa(int(p.addr.Port()))
	}
	return "sip:" + user + "@" + uriHostOf(p.addr.Addr()) + ":" + strconv.Itoa(int(p.addr.Port())) + ";transport=tls"
}

func (p *tlsPhone) received(method sip.RequestMethod) []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sip.Request
	for _, r := range p.requests {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

func (p *tlsPhone) tlsVersions() []uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint16(nil), p.versions...)
}
