package transport_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"github.com/clicktocall/clicktocall/internal/testpki"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport"
)

// tlsTransport starts a transport with TLS, its certificate issued by ca
// for 127.0.0.1 and ::1, trusting ca (tls_ca_file).
func tlsTransport(t *testing.T, ca *testpki.CA, o transport.Options) *transport.Transport {
	t.Helper()
	_, certFile, keyFile := ca.Issue(t, "127.0.0.1", "::1", "sip.test")
	o.TLS = &transport.TLSOptions{CertFile: certFile, KeyFile: keyFile, CAFile: ca.File}
	return newTransport(t, o)
}

// A call whose legs are a sips: URI and a ;transport=tls URI runs over TLS
// end to end: both INVITEs and the in-dialog re-INVITE arrive over TLS 1.2
// or newer, with Via and Contact naming our TLS listener (sips: Contact for
// the sips: request, RFC 3261 §8.1.1.8).
func TestCallOverTLSToPhonesWithTestCA(t *testing.T) {
	ca := testpki.NewCA(t)
	tr := tlsTransport(t, ca, transport.Options{IPAddress: "127.0.0.1"})
	eng := newEngine(t, tr)
	phoneCert, _, _ := ca.Issue(t, "127.0.0.1")
	alice := newTLSPhone(t, "127.0.0.1", phoneCert, ca.Pool())
	bob := newTLSPhone(t, "127.0.0.1", phoneCert, ca.Pool())

	if got := placeCall(t, eng, alice.uri("alice", true), bob.uri("bob", false)); got != "100, 200 I, 200 D" {
		t.Fatalf("results = %q, want 100, 200 I, 200 D", got)
	}
	for _, c := range []struct {
		name    string
		p       *tlsPhone
		scheme  string
		invites int // the initiator also gets the re-INVITE with bob's offer
	}{{"alice (sips:)", alice, "sips", 2}, {"bob (;transport=tls)", bob, "sip", 1}} {
		invites := c.p.received(sip.INVITE)
		if len(invites) != c.invites {
			t.Fatalf("%s got %d INVITEs, want %d", c.name, len(invites), c.invites)
		}
		for _, inv := range invites {
			via, contact := inv.Via(), inv.Contact()
			if via.Transport != "TLS" || via.Port != tr.TLSPort() {
				t.Errorf("%s: Via %v, want TLS port %d", c.name, via, tr.TLSPort())
			}
			if contact == nil || contact.Address.Scheme != c.scheme || contact.Address.Port != tr.TLSPort() {
				t.Errorf("%s: Contact %v, want a %s: URI on port %d", c.name, contact, c.scheme, tr.TLSPort())
			}
			if tp, _ := contact.Address.UriParams.Get("transport"); c.scheme == "sip" && tp != "tls" {
				t.Errorf("%s: Contact %v lacks transport=tls", c.name, contact)
			}
		}
		versions := c.p.tlsVersions()
		if len(versions) == 0 {
			t.Fatalf("%s saw no TLS connection", c.name)
		}
		for _, v := range versions {
			if v < tls.VersionTLS12 {
				t.Errorf("%s: TLS version %#x, want 1.2 or newer", c.name, v)
			}
		}
	}
}

// The server verifies the phone's certificate: one from a CA it does not
// trust fails the leg (503) before any INVITE is sent.
func TestTLSRefusesPhoneWithUntrustedCertificate(t *testing.T) {
	ca := testpki.NewCA(t)
	tr := tlsTransport(t, ca, transport.Options{IPAddress: "127.0.0.1"})
	eng := newEngine(t, tr)
	rogue := testpki.NewCA(t)
	rogueCert, _, _ := rogue.Issue(t, "127.0.0.1")
	alice := newTLSPhone(t, "127.0.0.1", rogueCert, ca.Pool())
	good, _, _ := ca.Issue(t, "127.0.0.1")
	bob := newTLSPhone(t, "127.0.0.1", good, ca.Pool())
	if got := placeCall(t, eng, alice.uri("alice", true), bob.uri("bob", true)); got != "100, 503 I" {
		t.Fatalf("results = %q, want 100, 503 I", got)
	}
	if n := len(alice.received(sip.INVITE)); n != 0 {
		t.Fatalf("the untrusted phone got %d INVITEs", n)
	}
	// A certificate for another name is refused just the same.
	other, _, _ := ca.Issue(t, "phone.test")
	carol := newTLSPhone(t, "127.0.0.1", other, ca.Pool())
	if got := placeCall(t, eng, carol.uri("carol", true), bob.uri("bob", true)); got != "100, 503 I" {
		t.Fatalf("certificate for another name: results = %q, want 100, 503 I", got)
	}
}

// The TLS listener answers SIP (here an OPTIONS) over TLS 1.2 and refuses
// older versions.
func TestTLSListenerServesTLS12AndRefusesOlder(t *testing.T) {
	ca := testpki.NewCA(t)
	tr := tlsTransport(t, ca, transport.Options{IPAddress: ""})
	for _, host := range []string{"127.0.0.1", "::1"} {
		addr := net.JoinHostPort(host, fmt.Sprint(tr.TLSPort()))
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS 1.2 to %s: %v", addr, err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		local := conn.LocalAddr().String()
		fmt.Fprintf(conn, "OPTIONS sip:clicktocall@%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bKtls%s\r\n"+
			"From: <sip:probe@example.com>;tag=1\r\nTo: <sip:clicktocall@example.com>\r\nCall-ID: tls-probe-%s\r\n"+
			"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", addr, local, host, host)
		status, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.HasPrefix(status, "SIP/2.0 200") {
			t.Fatalf("OPTIONS over TLS to %s: %q, %v", addr, status, err)
		}
		old, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11})
		if err == nil {
			old.Close()
			t.Fatalf("TLS 1.1 to %s was accepted", addr)
		}
	}
}
