package xml

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// errIdle ends the reading of a connection that had neither a request nor a
// call in progress for the idle timeout.
var errIdle = errors.New("idle timeout")

// errRequestTimeout ends the reading of a request that did not arrive whole
// within the read timeout after its first byte (xml.read_timeout), so a
// client trickling bytes cannot hold a connection.
var errRequestTimeout = errors.New("request read timeout")

// idleReader reads from the connection with the idle timeout as a read
// deadline. A deadline that passes while a call is in progress, or soon
// after one ended, is pushed back: only a connection with nothing to do is
// idle. While a request is being read, its read timeout applies as well.
type idleReader struct {
	conn        net.Conn
	idle        time.Duration // 0: no timeout
	readTimeout time.Duration // 0: no timeout
	// requestStart is when the request being read began, zero between
	// requests; set by the reading goroutine, the only user of the reader.
	requestStart time.Time
	sh           *connShared
	// beforeRead, when set, runs before each read of the connection, on
	// the reading goroutine: the read may block.
	beforeRead func()
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.beforeRead != nil {
		r.beforeRead()
	}
	deadline := time.Now().Add(r.idle)
	for {
		// Once closing, the actor owns the read deadline (the linger time).
		closing := r.sh.closing.Load()
		requestDeadline, inRequest := r.requestDeadline()
		if !closing {
			switch {
			case inRequest && (r.idle <= 0 || requestDeadline.Before(deadline)):
				_ = r.conn.SetReadDeadline(requestDeadline)
			case r.idle > 0:
				_ = r.conn.SetReadDeadline(deadline)
			default:
				_ = r.conn.SetReadDeadline(time.Time{})
			}
		}
		n, err := r.conn.Read(p)
		if n > 0 || err == nil || closing || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		now := time.Now()
		if inRequest && !now.Before(requestDeadline) {
			return 0, errRequestTimeout
		}
		if r.idle <= 0 {
			continue
		}
		if r.sh.active.Load() > 0 {
			deadline = now.Add(r.idle)
			continue
		}
		if d := time.Unix(0, r.sh.lastActive.Load()).Add(r.idle); d.After(now) {
			deadline = d
			continue
		}
		return 0, errIdle
	}
}

// requestDeadline is when the request being read must be complete.
func (r *idleReader) requestDeadline() (time.Time, bool) {
	if r.readTimeout <= 0 || r.requestStart.IsZero() {
		return time.Time{}, false
	}
	return r.requestStart.Add(r.readTimeout), true
}

// outbox is the output queue between the connection actor and its writer
// goroutine. push never blocks: it refuses once limit bytes are waiting,
// which is how a client that does not read is detected.
type outbox struct {
	mu        sync.Mutex
	cond      *sync.Cond
	bufs      net.Buffers
	queued    int // pushed and not yet written, including a write in progress
	pending   int // in bufs
	limit     int
	finishing bool // write what is queued, then end
	aborted   bool // end now
	// direct, when set, writes what it can of b at once without blocking
	// (see directWriter); push uses it while nothing is queued, so a
	// result that fits the socket's buffer goes out without waking the
	// writer goroutine.
	direct func(b []byte) int
}

func newOutbox(limit int, direct func([]byte) int) *outbox {
	o := &outbox{limit: limit, direct: direct}
	o.cond = sync.NewCond(&o.mu)
	return o
}

func (o *outbox) push(b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.queued+len(b) > o.limit {
		return false
	}
	if o.queued == 0 && o.direct != nil && !o.finishing && !o.aborted {
		// Nothing queued and no write in progress: the order is kept.
		// What does not fit (or an error, which the writer then meets
		// and reports) is left to the writer.
		if n := o.direct(b); n > 0 {
			if b = b[n:]; len(b) == 0 {
				return true
			}
		}
	}
	o.bufs = append(o.bufs, b)
	o.queued += len(b)
	o.pending += len(b)
	o.cond.Signal()
	return true
}

func (o *outbox) finish() {
	o.mu.Lock()
	o.finishing = true
	o.mu.Unlock()
	o.cond.Signal()
}

func (o *outbox) abort() {
	o.mu.Lock()
	o.aborted = true
	o.mu.Unlock()
	o.cond.Signal()
}

// wait blocks until there is output, a finish or an abort, and takes the output.
func (o *outbox) wait() (bufs net.Buffers, n int, finishing, aborted bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.pending == 0 && !o.finishing && !o.aborted {
		o.cond.Wait()
	}
	bufs, n = o.bufs, o.pending
	o.bufs, o.pending = nil, 0
	return bufs, n, o.finishing, o.aborted
}

// written releases n bytes of the limit once they are on the wire.
func (o *outbox) written(n int) {
	o.mu.Lock()
	o.queued -= n
	o.mu.Unlock()
}
