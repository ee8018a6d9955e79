// Package connlimit counts a front end's open connections against its
// max_connections and max_connections_per_ip settings. The HTTP and XML
// front ends admit each accepted connection with a Counter and release it
// when the connection ends; how a refusal is answered (status, text,
// logging) stays with each front end, since it is part of its protocol.
package connlimit

import (
	"errors"
	"net"
	"sync"
)

// Why Admit refused a connection.
var (
	// ErrTooManyConns: the total limit is reached.
	ErrTooManyConns = errors.New("too many connections")
	// ErrTooManyFromIP: the client's address has its limit of connections.
	ErrTooManyFromIP = errors.New("too many connections from the client's address")
)

// Counter counts open connections in total and per client IP. It is safe
// for concurrent use.
type Counter struct {
	max, maxPerIP int

	mu    sync.Mutex
	open  int
	perIP map[string]int
}

// New returns a Counter that admits up to max connections in all and
// maxPerIP from one client IP; 0 means no limit.
func New(max, maxPerIP int) *Counter {
	return &Counter{max: max, maxPerIP: maxPerIP, perIP: map[string]int{}}
}

// Admit counts a new connection from ip, or returns ErrTooManyConns or
// ErrTooManyFromIP without counting it. The total limit is checked first.
// Each admitted connection must be released once with Release.
func (c *Counter) Admit(ip string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.max > 0 && c.open >= c.max:
		return ErrTooManyConns
	case c.maxPerIP > 0 && c.perIP[ip] >= c.maxPerIP:
		return ErrTooManyFromIP
	}
	c.open++
	c.perIP[ip]++
	return nil
}

// Release gives back the place of a connection from ip that Admit counted.
func (c *Counter) Release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.perIP[ip]--; c.perIP[ip] <= 0 {
		delete(c.perIP, ip) // the map holds only clients with open connections
	}
}

// ClientIP is the address a connection is counted under: the IP of its
// remote end without the port, or the whole remote address when it has no
// host:port form.
func ClientIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
