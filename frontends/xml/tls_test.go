package xml

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/internal/testpki"
)

// startTLSServer runs a server speaking TLS with a certificate for 127.0.0.1
// from a new test CA, loaded the way serve loads it; it returns the server
// and the CA's pool for clients.
func startTLSServer(t *testing.T, cfg config.XML, engine *fakeEngine, opts ...func(*Options)) (*Server, *x509.CertPool) {
	t.Helper()
	ca := testpki.NewCA(t)
	_, cfg.TLSCertFile, cfg.TLSKeyFile = ca.Issue(t, "127.0.0.1")
	tlsConfig, err := cfg.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]func(*Options){func(o *Options) { o.TLS = tlsConfig }}, opts...)
	return startServer(t, cfg, engine, opts...), ca.Pool()
}

// dialTLS connects a client that trusts roots and completes the handshake.
func dialTLS(t *testing.T, addr string, roots *x509.CertPool) *client {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitLimit}, Config: &tls.Config{RootCAs: roots}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func TestRequestOverTLSGetsItsResultsUpToTheFinal(t *testing.T) {
	engine := newFakeEngine()
	s, roots := startTLSServer(t, config.XML{}, engine)
	c := dialTLS(t, s.Addr().String(), roots)
	if v := c.conn.(*tls.Conn).ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x, want 1.2 or newer", v)
	}

	c.send(callRequest("sip:alice@example.com", "5551234"))
	first := c.next()
	if first.Response.Result.Code != 100 || first.Response.TranslatedDestination == nil ||
		*first.Response.TranslatedDestination != "sip:5551234@gateway.com" {
		t.Fatalf("first response %s, want 100 with the translated destination", first.summary())
	}
	var got []string
	for r := first; !r.final(); {
		r = c.next()
		got = append(got, r.summary())
	}
	if last := got[len(got)-1]; last != "200 Destination Connected to destination" {
		t.Errorf("results %q, want the final 200 Destination", got)
	}
}

func TestTLSPortRefusesTLS11AndPlainTCP(t *testing.T) {
	engine := newFakeEngine()
	s, _ := startTLSServer(t, config.XML{}, engine)
	addr := s.Addr().String()

	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitLimit},
		Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}
	if conn, err := d.Dial("tcp", addr); err == nil {
		v := conn.(*tls.Conn).ConnectionState().Version
		conn.Close()
		t.Errorf("TLS 1.1 client connected (version %x), want a refused handshake", v)
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1: err = %v, want a protocol version alert", err)
	}

	plain := dial(t, addr)
	plain.send(callRequest("sip:alice@example.com", "5551234"))
	_ = plain.conn.SetReadDeadline(time.Now().Add(waitLimit))
	answer, _ := io.ReadAll(plain.br) // the server closes after its alert
	if strings.Contains(string(answer), "<ClickToCall>") {
		t.Errorf("plain TCP client got an XML answer from the TLS port: %q", answer)
	}
	if started, _ := engine.counts(); started != 0 {
		t.Errorf("%d calls started, want none", started)
	}
}

func TestClientThatNeverHandshakesIsCutOffAndBlocksNoOne(t *testing.T) {
	engine := newFakeEngine()
	s, roots := startTLSServer(t, config.XML{MaxConns: 2}, engine,
		func(o *Options) { o.TLSHandshakeTimeout = 300 * time.Millisecond })
	addr := s.Addr().String()

	silent := dial(t, addr) // TCP only: never sends a ClientHello
	start := time.Now()

	// A TLS client is served meanwhile: the handshake is not the accept loop's.
	busy := dialTLS(t, addr, roots)
	busy.send(callRequest("sip:alice@example.com", "1"))
	if r := busy.next(); r.Response.Result.Code != 100 {
		t.Fatalf("TLS client next to a silent one: %s, want 100", r.summary())
	}

	_ = silent.conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadAll(silent.br); err != nil {
		t.Fatalf("connection that never handshakes not closed by the server: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
		t.Errorf("cut off after %v, before the handshake timeout", elapsed)
	}

	// Its place is free again: with busy still open, a second TLS client
	// fits under max_connections = 2 (the listener may take a moment to
	// count the silent one out).
	deadline := time.Now().Add(waitLimit)
	for {
		c := dialTLS(t, addr, roots)
		c.send(callRequest("sip:bob@example.com", "2"))
		r := c.next()
		if r.Response.Result.Code == 100 {
			break
		}
		if r.Response.Result.Code != 503 || time.Now().After(deadline) {
			t.Fatalf("client after the silent one was cut off: %s, want 100", r.summary())
		}
		c.conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
}
