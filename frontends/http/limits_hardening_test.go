package httpfront

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

// holdConnection opens a keep-alive connection that has been answered once,
// so it counts against the limits until closed.
func holdConnection(t *testing.T, addr string, local net.IP) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: local}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("held connection: %v %v", res, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return c
}

// getFrom sends one request on a new connection from local and reads the whole
// answer: a refusal must arrive intact, not as a connection reset.
func getFrom(t *testing.T, addr string, local net.IP) (*http.Response, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: local}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET /clicktocall.html?initiator=1&destination=2 HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("answer cut short: %v", err)
	}
	return res, string(body)
}

var (
	loopback1 = net.IPv4(127, 0, 0, 1)
	loopback2 = net.IPv4(127, 0, 0, 2) // another client address on the same host
)

func TestConnectionRefusalsCarryRetryAfterAndTheLimitIsReleasedOnClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    config.HTTP
		status int
		// other is whether a client at another address is still served
		other bool
	}{
		{"max connections", config.HTTP{MaxConns: 2}, 503, false},
		{"max connections per IP", config.HTTP{MaxConnsPerIP: 2}, 429, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{}
			s, _ := serve(t, tc.cfg, eng)
			addr := s.Addr().String()
			held := []net.Conn{holdConnection(t, addr, loopback1), holdConnection(t, addr, loopback1)}
			for i := 0; i < 20; i++ {
				res, body := getFrom(t, addr, loopback1)
				if res.StatusCode != tc.status || res.Header.Get("Retry-After") != "1" || !res.Close {
					t.Fatalf("refusal %d: %d Retry-After %q close %t, want %d, 1, true",
						i, res.StatusCode, res.Header.Get("Retry-After"), res.Close, tc.status)
				}
				if !strings.Contains(body, "Too many connections") {
					t.Fatalf("refusal body %q", body)
				}
			}
			if res, _ := getFrom(t, addr, loopback2); (res.StatusCode == 200) != tc.other {
				t.Errorf("client at another address got %d", res.StatusCode)
			}
			if len(eng.started()) > 1 {
				t.Fatalf("refused connections started calls: %v", eng.started())
			}
			// Closing a held connection gives its place back.
			held[0].Close()
			deadline := time.Now().Add(5 * time.Second)
			for {
				res, _ := getFrom(t, addr, loopback1)
				if res.StatusCode == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("still %d after a held connection closed", res.StatusCode)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
