package httpfront

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/frontends/connlimit"
)

// Connection refusals. fasthttp's own Concurrency and MaxConnsPerIP answer
// 503/429 without Retry-After, write in its accept loop and close with the
// request unread, so the client may get a TCP reset instead of the answer.
// connLimiter refuses in front of fasthttp instead.
const (
	// refusalRetryAfter is the Retry-After of a refused connection:
	// connections free up as fast as requests are answered.
	refusalRetryAfter = time.Second
	// refusalLinger bounds how long a refused connection is drained after
	// its answer, so that closing does not reset it before the client has
	// read the answer; a client cannot hold more than this.
	refusalLinger = 500 * time.Millisecond
	// maxRefusing bounds the refusals in progress (each a goroutine for at
	// most refusalLinger); past it a refused connection is closed without
	// an answer, so a flood of connections cannot pile up goroutines.
	maxRefusing = 1024
)

// connLimiter is a listener that admits connections against
// http.max_connections (then 503) and http.max_connections_per_ip (then 429).
// An admitted connection counts until it is closed.
type connLimiter struct {
	net.Listener
	conns         *connlimit.Counter
	max, maxPerIP int // the counter's limits, for the refusal warning
	log           *slog.Logger
	refusing      chan struct{} // one token per refusal in progress
	tls           *tls.Config   // non-nil: the port speaks HTTPS, so refusals are answered over TLS

	mu       sync.Mutex // guards the warning rate limit
	lastWarn time.Time
	unwarned int // refusals since the last warning
}

func newConnLimiter(ln net.Listener, max, maxPerIP int, log *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, conns: connlimit.New(max, maxPerIP), max: max, maxPerIP: maxPerIP, log: log,
		refusing: make(chan struct{}, maxRefusing)}
}

// Accept returns the next connection within the limits, answering the
// others in the background.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := connlimit.ClientIP(c)
		switch err := l.conns.Admit(ip); err {
		case nil:
			return &limitedConn{Conn: c, release: func() { l.conns.Release(ip) }}, nil
		case connlimit.ErrTooManyFromIP:
			l.refuse(c, ip, fasthttp.StatusTooManyRequests)
		default:
			l.refuse(c, ip, fasthttp.StatusServiceUnavailable)
		}
	}
}

// refuse answers c with status and Retry-After off the accept loop, and
// warns at most once a second with the count since the last warning.
func (l *connLimiter) refuse(c net.Conn, ip string, status int) {
	l.mu.Lock()
	l.unwarned++
	if time.Since(l.lastWarn) >= time.Second {
		l.log.Warn("http connection refused", "status", status, "remote", ip,
			"refused_since_last_warning", l.unwarned, "max_connections", l.max, "max_connections_per_ip", l.maxPerIP)
		l.lastWarn, l.unwarned = time.Now(), 0
	}
	select {
	case l.refusing <- struct{}{}:
		l.mu.Unlock()
		if l.tls != nil {
			c = tls.Server(c, l.tls)
		}
		go func() {
			defer func() { <-l.refusing }()
			answerRefused(c, status)
		}()
	default:
		l.mu.Unlock()
		c.Close()
	}
}

// answerRefused answers at once, half-closes and drains what the client
// sends until it closes or refusalLinger ends: closing with its request
// unread would send a reset, which can destroy the answer before the client
// reads it.
func answerRefused(c net.Conn, status int) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refusalLinger))
	text := "Too many connections"
	if status == fasthttp.StatusTooManyRequests {
		text = "Too many connections from your address"
	}
	var body bytes.Buffer
	_ = problemPage.Execute(&body, problemData{Status: status, Reason: fasthttp.StatusMessage(status), Text: text})
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %d %s\r\nRetry-After: %d\r\nConnection: close\r\n"+
		"Content-Type: text/html; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: %d\r\n\r\n",
		status, fasthttp.StatusMessage(status), retryAfterSeconds(refusalRetryAfter), body.Len())
	if _, err := (&net.Buffers{head.Bytes(), body.Bytes()}).WriteTo(c); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}
}

// limitedConn gives its place back when it is closed (once).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
