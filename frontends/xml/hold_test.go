package xml

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

// writeCounter is a server-side connection that records each write: not a
// *net.TCPConn, so every response goes through the writer goroutine, one
// write per queued buffer.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, bytes.Clone(b))
	w.mu.Unlock()
	return w.Conn.Write(b)
}

func (w *writeCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

// countingListener hands out writeCounters.
type countingListener struct {
	net.Listener
	conns chan *writeCounter
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	w := &writeCounter{Conn: c}
	l.conns <- w
	return w, nil
}

func refusedRequest(i int) string {
	return fmt.Sprintf("<ClickToCall><Request><Initiator>sip:c%d@h</Initiator><Destination>sip:503@h</Destination>"+
		"<AnchorCall>false</AnchorCall></Request></ClickToCall>\n", i)
}

// Requests that arrive together are answered together: the refusals of five
// requests written at once leave in one write, in order. A request whose
// rest has not arrived holds nothing back: the answers before it go out
// while the server waits for its end.
func TestRequestsThatArriveTogetherAreAnsweredInOneWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln, conns: make(chan *writeCounter, 1)}
	if err := newTestServer(t, config.XML{}, newFakeEngine()).StartListener(cl); err != nil {
		t.Fatal(err)
	}

	c := dial(t, ln.Addr().String())
	var server *writeCounter
	select {
	case server = <-cl.conns:
	case <-time.After(waitLimit):
		t.Fatal("no connection accepted")
	}

	var batch strings.Builder
	for i := range 5 {
		batch.WriteString(refusedRequest(i))
	}
	c.send(batch.String())
	for i := range 5 {
		r := c.next()
		if r.Response.Result.Code != 503 || r.Request.Initiator != fmt.Sprintf("sip:c%d@h", i) {
			t.Fatalf("answer %d: %d for %s", i, r.Response.Result.Code, r.Request.Initiator)
		}
	}
	if n := server.count(); n != 1 {
		t.Errorf("5 refusals of requests sent together took %d writes, want 1", n)
	}

	// Two whole requests and the start of a third: the two answers come
	// before the third is finished.
	third := refusedRequest(7)
	c.send(refusedRequest(5) + refusedRequest(6) + third[:40])
	for i := 5; i < 7; i++ {
		if r := c.next(); r.Request.Initiator != fmt.Sprintf("sip:c%d@h", i) {
			t.Fatalf("answer %d is for %s", i, r.Request.Initiator)
		}
	}
	c.send(third[40:])
	if r := c.next(); r.Request.Initiator != "sip:c7@h" || r.Response.Result.Code != 503 {
		t.Fatalf("the third request's answer: %d for %s", r.Response.Result.Code, r.Request.Initiator)
	}
}
