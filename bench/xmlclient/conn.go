package xmlclient

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// MaxResponseSize bounds one response document the client accepts.
const MaxResponseSize = 1 << 20

// Conn is one pipelined client connection: Send and SendBatch queue
// requests without waiting for answers, a writer goroutine batches them onto
// the socket and a reader goroutine hands every response to the callback.
type Conn struct {
	c       net.Conn
	queue   chan []Request
	closing chan struct{}
	once    sync.Once // CloseWrite
	shut    sync.Once // Close
	done    sync.WaitGroup
	readEnd chan struct{}
	err     error // first read or write error; set before done
	errMu   sync.Mutex
}

// Handler gets each response with the time it was read, from the reader
// goroutine; it must not block for long.
type Handler func(r Response, at time.Time)

// Dial connects to a server's XML interface. queue is how many sends (a
// request, or a batch of them) may wait for the writer before Send blocks.
func Dial(addr string, timeout time.Duration, queue int, h Handler) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("xml connect %s: %w", addr, err)
	}
	conn := &Conn{c: c, queue: make(chan []Request, queue), closing: make(chan struct{}), readEnd: make(chan struct{})}
	conn.done.Add(2)
	go conn.writeLoop()
	go conn.readLoop(h)
	return conn, nil
}

// Send queues a request; it blocks only while the queue is full. It must
// not be called after CloseWrite.
func (c *Conn) Send(r Request) { c.queue <- []Request{r} }

// SendBatch queues requests to go out together, in one write when they fit
// the writer's buffer, as a client that pipelines what it has at hand does.
// The Conn keeps rs until it is written.
func (c *Conn) SendBatch(rs []Request) { c.queue <- rs }

// Queued is the number of sends waiting for the writer.
func (c *Conn) Queued() int { return len(c.queue) }

func (c *Conn) writeLoop() {
	defer c.done.Done()
	buf := make([]byte, 0, 64<<10)
	for {
		rs, ok := <-c.queue
		if !ok {
			if tc, isTCP := c.c.(*net.TCPConn); isTCP {
				_ = tc.CloseWrite()
			}
			return
		}
		buf = appendRequests(buf[:0], rs)
		// Batch what is already queued into one write.
	more:
		for len(buf) < 60<<10 {
			select {
			case rs, ok = <-c.queue:
				if !ok {
					break more
				}
				buf = appendRequests(buf, rs)
			default:
				break more
			}
		}
		if _, err := c.c.Write(buf); err != nil {
			c.fail(fmt.Errorf("xml write: %w", err))
			// Keep draining so Send never blocks forever.
			for range c.queue {
			}
			return
		}
		if !ok {
			if tc, isTCP := c.c.(*net.TCPConn); isTCP {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func appendRequests(dst []byte, rs []Request) []byte {
	for _, r := range rs {
		dst = AppendRequest(dst, r)
	}
	return dst
}

func (c *Conn) readLoop(h Handler) {
	defer c.done.Done()
	defer close(c.readEnd)
	s := NewScanner(c.c, MaxResponseSize)
	for {
		doc, err := s.Next()
		if err != nil {
			select {
			case <-c.closing:
			default:
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
					c.fail(fmt.Errorf("xml read: %w", err))
				}
			}
			return
		}
		at := time.Now()
		r, err := Parse(doc)
		if err != nil {
			c.fail(err)
			continue
		}
		h(r, at)
	}
}

func (c *Conn) fail(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// Err is the first error the connection met (io.EOF is not one when the
// server closes after answering everything).
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// CloseWrite tells the server no more requests follow (after the queued
// ones); the server closes once it has sent the last final.
func (c *Conn) CloseWrite() {
	c.once.Do(func() { close(c.queue) })
}

// Close drops the connection at once and waits for its goroutines.
func (c *Conn) Close() error {
	c.CloseWrite()
	var err error
	c.shut.Do(func() {
		close(c.closing)
		err = c.c.Close()
	})
	c.done.Wait()
	return err
}

// ReadDone is closed when the server has closed the connection (or Close
// was called) and every response has been handed over.
func (c *Conn) ReadDone() <-chan struct{} { return c.readEnd }
