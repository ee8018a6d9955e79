package connlimit

import (
	"net"
	"sync"
	"testing"
)

func TestAdmitRefusesPastTheTotalFirst(t *testing.T) {
	c := New(2, 1)
	if err := c.Admit("10.0.0.1"); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	if err := c.Admit("10.0.0.1"); err != ErrTooManyFromIP {
		t.Errorf("second from the same address: %v, want ErrTooManyFromIP", err)
	}
	if err := c.Admit("10.0.0.2"); err != nil {
		t.Fatalf("first from another address: %v", err)
	}
	// Both limits are reached now; the total is the answer.
	if err := c.Admit("10.0.0.1"); err != ErrTooManyConns {
		t.Errorf("past the total: %v, want ErrTooManyConns", err)
	}
	if err := c.Admit("10.0.0.3"); err != ErrTooManyConns {
		t.Errorf("new address past the total: %v, want ErrTooManyConns", err)
	}
}

func TestReleaseFreesBothPlaces(t *testing.T) {
	c := New(1, 1)
	if err := c.Admit("10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	c.Release("10.0.0.1")
	if err := c.Admit("10.0.0.1"); err != nil {
		t.Errorf("after release: %v", err)
	}
	c.Release("10.0.0.1")
	if len(c.perIP) != 0 || c.open != 0 {
		t.Errorf("after releasing everything: open %d, per IP %v", c.open, c.perIP)
	}
}

func TestZeroMeansNoLimit(t *testing.T) {
	c := New(0, 0)
	for i := range 1000 {
		if err := c.Admit("10.0.0.1"); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
}

func TestAdmitIsExactUnderConcurrency(t *testing.T) {
	const max = 50
	c := New(max, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 4 * max {
		wg.Go(func() {
			if c.Admit("10.0.0.1") == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != max {
		t.Errorf("%d admitted, want %d", admitted, max)
	}
}

// addrConn is a net.Conn with only a remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remote net.Addr
		want   string
	}{
		{"tcp v4", &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5094}, "192.0.2.7"},
		{"tcp v6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443}, "2001:db8::1"},
		{"other host:port", &net.UDPAddr{IP: net.ParseIP("192.0.2.8"), Port: 1}, "192.0.2.8"},
		{"no port", &net.UnixAddr{Name: "/run/ctc.sock", Net: "unix"}, "/run/ctc.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClientIP(addrConn{remote: tc.remote}); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
