package xml

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// DefaultTLSHandshakeTimeout bounds a client's TLS handshake when
// Options.TLSHandshakeTimeout is 0.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// tlsListener hands out server-side TLS connections whose handshake must
// finish within a timeout. The handshake runs on the connection's first read
// or write, in the connection's own goroutines, so the accept loop never
// waits for a client; and a client that never completes it is disconnected,
// giving back the place it holds in the connection limits.
type tlsListener struct {
	net.Listener
	config  *tls.Config
	timeout time.Duration
}

func (l tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsConn{Conn: tls.Server(c, l.config), timeout: l.timeout}, nil
}

// tlsConn is a *tls.Conn whose implicit handshake is bounded.
type tlsConn struct {
	*tls.Conn
	timeout time.Duration
	done    atomic.Bool // the handshake succeeded
}

// handshake completes the handshake or fails within the timeout, when
// crypto/tls closes the connection. A failure is remembered by crypto/tls,
// so every later read and write fails too.
func (c *tlsConn) handshake() error {
	if c.done.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		return err
	}
	c.done.Store(true)
	return nil
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *tlsConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
