package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/locate"
)

// connectTimeout bounds opening a TCP connection and its TLS handshake; a
// target that takes longer counts as unreachable (the next one is tried).
const connectTimeout = 10 * time.Second

// keepAlive is the RFC 5626 §4.4.1 ping: a double CRLF between messages.
var keepAlive = []byte("\r\n\r\n")

// connector opens the TCP and TLS connections the server sends requests on,
// rather than letting sipgo dial: so it bounds the connect time, verifies a
// TLS peer against the URI's domain (RFC 5922) rather than the IP address,
// and keeps the connection alive. Each connection is then handed to sipgo
// through a listener, so sipgo reads it and pools it by the peer's address
// exactly like a connection a phone opened to us, and sends on it.
type connector struct {
	t         *Transport
	keepAlive time.Duration
	handover  map[string]*handoverListener // by transport: "TCP", "TLS"
	closed    chan struct{}
	closeOnce sync.Once
	loops     sync.WaitGroup

	mu      sync.Mutex
	dialing map[string]*dialing
}

type dialing struct {
	done chan struct{}
	err  error
}

func newConnector(t *Transport, keepAliveInterval time.Duration) *connector {
	c := &connector{t: t, keepAlive: keepAliveInterval, handover: map[string]*handoverListener{},
		closed: make(chan struct{}), dialing: map[string]*dialing{}}
	p := t.primary()
	c.handover["TCP"] = newHandoverListener(p.tcp.Addr())
	if p.tls != nil {
		c.handover["TLS"] = newHandoverListener(p.tls.Addr())
	}
	return c
}

// serve starts sipgo reading the connections handed over.
func (c *connector) serve(tpl *sip.TransportLayer) {
	go func() { _ = tpl.ServeTCP(c.handover["TCP"]) }()
	if ln := c.handover["TLS"]; ln != nil {
		go func() { _ = tpl.ServeTLS(ln) }()
	}
}

// stop ends the handover and the keepalive timers; a keepalive blocked in a
// write ends when the user agent closes the connections, so wait after that.
func (c *connector) stop() {
	c.closeOnce.Do(func() {
		close(c.closed)
		for _, ln := range c.handover {
			ln.Close()
		}
	})
}

func (c *connector) wait() { c.loops.Wait() }

// ensure returns once sipgo has a connection to tg, opening one if needed;
// concurrent callers for the same target share one attempt.
func (c *connector) ensure(ctx context.Context, tg locate.Target) error {
	network, addr := lower(tg.Transport), tg.Addr.String()
	if conn, err := c.t.tpl.GetConnection(network, addr); err == nil {
		_, _ = conn.TryClose() // GetConnection took a reference
		return nil
	}
	key := network + " " + addr
	c.mu.Lock()
	if d, ok := c.dialing[key]; ok {
		c.mu.Unlock()
		select {
		case <-d.done:
			return d.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d := &dialing{done: make(chan struct{})}
	c.dialing[key] = d
	c.mu.Unlock()
	d.err = c.open(ctx, tg)
	c.mu.Lock()
	delete(c.dialing, key)
	c.mu.Unlock()
	close(d.done)
	return d.err
}

func (c *connector) open(ctx context.Context, tg locate.Target) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s := c.t.stacks[familyOf(tg.Addr.Addr())]
	var d net.Dialer
	if !s.bind.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: s.bind.AsSlice()} // leave from the configured address
	}
	raw, err := d.DialContext(ctx, "tcp", tg.Addr.String())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", tg, err)
	}
	var conn net.Conn = raw
	if tg.Transport == "TLS" {
		conf := c.t.tlsClient.Clone()
		conf.ServerName = tg.Name
		tc := tls.Client(raw, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return fmt.Errorf("tls handshake with %s as %q: %w", tg, tg.Name, err)
		}
		conn = tc
	}
	f := &flow{Conn: conn, gone: make(chan struct{})}
	if err := c.handover[tg.Transport].handOver(f); err != nil {
		conn.Close()
		return fmt.Errorf("connect to %s: %w", tg, err)
	}
	if c.keepAlive > 0 {
		c.loops.Add(1)
		go c.keepAliveLoop(f)
	}
	return nil
}

// keepAliveLoop pings the connection every 80-100 % of the interval (the
// jitter of RFC 5626 §4.4.1) until it closes. A peer that supports RFC 5626
// answers with a CRLF, which sipgo reads and ignores; one that does not
// just reads the CRLFs between messages, so a missing pong is not an error.
func (c *connector) keepAliveLoop(f *flow) {
	defer c.loops.Done()
	for {
		wait := c.keepAlive - time.Duration(rand.Int64N(int64(c.keepAlive)/5+1))
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-f.gone:
			timer.Stop()
			return
		case <-c.closed:
			timer.Stop()
			return
		}
		if _, err := f.Write(keepAlive); err != nil {
			return
		}
	}
}

// flow is a connection the server opened; gone closes when it ends.
type flow struct {
	net.Conn
	gone chan struct{}
	once sync.Once
}

func (f *flow) Read(b []byte) (int, error) {
	n, err := f.Conn.Read(b)
	if err != nil {
		f.ended()
	}
	return n, err
}

func (f *flow) Close() error {
	f.ended()
	return f.Conn.Close()
}

func (f *flow) ended() { f.once.Do(func() { close(f.gone) }) }

// handoverListener "accepts" the connections the connector opened, for
// sipgo's Serve loop. Serve pools a connection before it calls Accept again,
// so handOver returns once the connection can be found by its address.
type handoverListener struct {
	addr      net.Addr
	conns     chan handoff
	closed    chan struct{}
	closeOnce sync.Once
	pending   chan struct{} // the last handoff's; only Serve's goroutine touches it
}

type handoff struct {
	conn   net.Conn
	pooled chan struct{}
}

func newHandoverListener(addr net.Addr) *handoverListener {
	return &handoverListener{addr: addr, conns: make(chan handoff), closed: make(chan struct{})}
}

func (l *handoverListener) handOver(conn net.Conn) error {
	h := handoff{conn: conn, pooled: make(chan struct{})}
	select {
	case l.conns <- h:
	case <-l.closed:
		return net.ErrClosed
	}
	select {
	case <-h.pooled:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

// Accept implements net.Listener.
func (l *handoverListener) Accept() (net.Conn, error) {
	if l.pending != nil {
		close(l.pending)
		l.pending = nil
	}
	select {
	case h := <-l.conns:
		l.pending = h.pooled
		return h.conn, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *handoverListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener.
func (l *handoverListener) Addr() net.Addr { return l.addr }

func lower(transport string) string {
	switch transport {
	case "TCP":
		return "tcp"
	case "TLS":
		return "tls"
	}
	return "udp"
}
