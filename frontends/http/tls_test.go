package httpfront

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/internal/testpki"
)

// serveTLS starts an HTTPS server on a loopback port with a certificate for
// 127.0.0.1 from a new test CA, loaded the way serve loads it, and returns
// its address and a client that trusts the CA.
func serveTLS(t *testing.T, cfg config.HTTP, eng *fakeEngine) (addr string, trusting *http.Client) {
	t.Helper()
	ca := testpki.NewCA(t)
	_, cfg.TLSCertFile, cfg.TLSKeyFile = ca.Issue(t, "127.0.0.1")
	tlsConfig, err := cfg.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{HTTP: cfg, Translate: translate, Calls: eng, TLS: tlsConfig})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { stop(t, s, done) })
	waitAddr(t, s)
	trusting = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	t.Cleanup(trusting.CloseIdleConnections)
	return ln.Addr().String(), trusting
}

func TestHTTPSServesClickToCallToAClientTrustingTheCA(t *testing.T) {
	eng := &fakeEngine{}
	addr, trusting := serveTLS(t, config.HTTP{}, eng)

	res, err := trusting.Get("https://" + addr + query("100", "sip:bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.Contains(string(body), "Initiating click-to-call from sip:100@gateway.example.com to sip:bob@example.com") {
		t.Errorf("status %d body %q; want 200 and the initiating page", res.StatusCode, body)
	}
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state %+v, want TLS 1.2 or newer", res.TLS)
	}
	if calls := eng.started(); len(calls) != 1 || calls[0].Destination != "sip:bob@example.com" {
		t.Errorf("started %+v, want one call to sip:bob@example.com", calls)
	}

	// The certificate is what makes it trusted: the system roots alone refuse it.
	var unknown x509.UnknownAuthorityError
	if _, err := client.Get("https://" + addr + query("100", "200")); !errors.As(err, &unknown) {
		t.Errorf("client without the CA: err = %v, want an unknown authority error", err)
	}
	if calls := eng.started(); len(calls) != 1 {
		t.Errorf("untrusted client started calls: %+v", calls[1:])
	}
}

func TestPlainHTTPToTheHTTPSPortFails(t *testing.T) {
	eng := &fakeEngine{}
	addr, _ := serveTLS(t, config.HTTP{}, eng)

	res, err := client.Get("http://" + addr + query("100", "200"))
	if err == nil {
		res.Body.Close()
		t.Fatalf("plain HTTP got %s from the HTTPS port, want a failed request", res.Status)
	}
	if calls := eng.started(); len(calls) != 0 {
		t.Errorf("plain HTTP started calls: %+v", calls)
	}
}

func TestHTTPSRefusesTLS11(t *testing.T) {
	addr, _ := serveTLS(t, config.HTTP{}, &fakeEngine{})
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}
	c, err := dialer.Dial("tcp", addr)
	if err == nil {
		v := c.(*tls.Conn).ConnectionState().Version
		c.Close()
		t.Fatalf("TLS 1.1 client connected (version %x), want a refused handshake", v)
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("err = %v, want a protocol version alert", err)
	}
}

func TestHTTPSClientThatNeverHandshakesIsCutOffAndBlocksNoOne(t *testing.T) {
	eng := &fakeEngine{}
	addr, trusting := serveTLS(t, config.HTTP{ReadTimeout: 300 * time.Millisecond, MaxConns: 2}, eng)

	silent, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()

	// Meanwhile a real client is served: the handshake is not done in the accept loop.
	res, err := trusting.Get("https://" + addr + query("100", "200"))
	if err != nil {
		t.Fatalf("TLS client while another never handshakes: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("status %d, want 200", res.StatusCode)
	}

	if err := silent.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(silent); err != nil {
		t.Fatalf("connection that never handshakes not closed by the server: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
		t.Errorf("cut off after %v, before read_timeout", elapsed)
	}
}

func TestHTTPSConnectionRefusalIsAnsweredOverTLS(t *testing.T) {
	addr, _ := serveTLS(t, config.HTTP{MaxConns: 1}, &fakeEngine{})
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{InsecureSkipVerify: true}}
	holder, err := dialer.Dial("tcp", addr) // handshakes, then holds the only place
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	// A raw client: the refusal is written before the request is read,
	// which net/http's client reports as a response on an idle connection.
	refused, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("refused client: no TLS handshake: %v", err)
	}
	defer refused.Close()
	if err := refused.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(refused, "GET "+query("100", "200")+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(refused), nil)
	if err != nil {
		t.Fatalf("refused client got no answer over TLS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
}
