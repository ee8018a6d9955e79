package transport_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

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
