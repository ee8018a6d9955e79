package transport

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first Accepts the way a process out of file
// descriptors does, then hands out a connection.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestSteadyListenerAcceptsThroughTemporaryErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	steady := steadyListener{Listener: &flakyListener{Listener: ln, fails: 3}}
	go func() {
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	accepted := make(chan error, 1)
	go func() {
		c, err := steady.Accept()
		if c != nil {
			c.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatalf("Accept gave up: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	ln.Close()
	if _, err := steady.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
}
