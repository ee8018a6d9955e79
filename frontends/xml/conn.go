package xml

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/intake"
)

// Messages of a connection actor.
type (
	// decodedRequest is a request read; more says another one was already
	// buffered behind it, so its answer may wait to go out with theirs.
	decodedRequest struct {
		req  *request
		more bool
	}
	// flushHeld: the reader is about to read the connection again (it may
	// wait there), so what the requests before asked to hold goes out now.
	flushHeld     struct{}
	requestFailed struct{ err *requestError } // the input cannot be read on: answer and close
	readerStopped struct{ err error }         // io.EOF when the client finished sending
	writerStopped struct{ err error }         // nil after a graceful finish
	progressMsg   struct {
		seq uint64
		p   actors.Progress
	}
)

// connShared is what the reader goroutine and the engine's callbacks read
// without going through the actor.
type connShared struct {
	closing    atomic.Bool  // results and requests are dropped from now on
	active     atomic.Int32 // calls whose final has not been written
	lastActive atomic.Int64 // unix nanoseconds of the connection start or the last final
}

// stream is one accepted request waiting for its final.
type stream struct {
	raw                    []byte
	initiator, destination string // translated
	callID                 string
}

// connActor owns one client connection: it turns decoded requests into
// calls, renders their results in order and is the only one that queues
// output. Reading and writing happen in two goroutines of its own so that
// neither a slow client nor a slow engine ever blocks the actor.
type connActor struct {
	s       *Server
	conn    net.Conn
	ip      string
	log     *slog.Logger
	out     *outbox
	sh      *connShared
	streams map[uint64]*stream
	nextSeq uint64
	// While hold is set (a request with more behind it is being handled),
	// send adds to held instead of queueing: the answers to requests that
	// arrived together leave in one write, which saves the server and the
	// client a system call and a wake-up per request (the refusals of a
	// pipelining client under overload, say). held goes out before any
	// other message is handled, so the order of the output is kept.
	hold bool
	held []byte

	inputDone  bool // the client finished sending (EOF)
	draining   bool // Shutdown: no new calls, close when the last one ends
	closing    bool // closeAfterFlush or closeNow was called
	readerDone bool
	writerDone bool
}

func newConnActor(s *Server, c net.Conn, ip string) *connActor {
	sh := &connShared{}
	sh.lastActive.Store(time.Now().UnixNano())
	return &connActor{
		s:       s,
		conn:    c,
		ip:      ip,
		log:     s.log.With("client", c.RemoteAddr().String()),
		out:     newOutbox(s.opts.MaxQueuedOutput, directWriter(c)),
		sh:      sh,
		streams: map[uint64]*stream{},
	}
}

func (c *connActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(decodedRequest); !ok {
		c.releaseHeld()
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.log.Debug("XML connection opened")
		go c.readLoop(ctx.Self())
		go c.writeLoop(ctx.Self())
	case decodedRequest:
		c.hold = m.more
		c.handleRequest(ctx, m.req)
		c.hold = false
		if !m.more {
			c.releaseHeld()
		}
	case progressMsg:
		c.handleProgress(m)
	case flushHeld:
		// Released above, before the switch.
	case requestFailed:
		if !c.closing {
			c.log.Info("XML request rejected, closing connection", "code", m.err.code, "reason", m.err.text)
			c.send(nil, result{code: m.err.code, text: m.err.text})
			c.closeAfterFlush()
		}
	case readerStopped:
		c.readerDone = true
		c.inputEnded(m.err)
		c.maybeStop(ctx)
	case writerStopped:
		c.writerDone = true
		if m.err != nil {
			if !c.closing {
				c.log.Info("XML client stopped reading, closing connection", "err", m.err)
			}
			c.closeNow()
		} else if !c.readerDone {
			// Answered and half-closed: give the client a moment to read
			// and close its side, then stop reading.
			_ = c.conn.SetReadDeadline(time.Now().Add(lingerTime))
		}
		c.maybeStop(ctx)
	case drainConns:
		c.draining = true
		if len(c.streams) == 0 {
			c.closeAfterFlush()
		}
	case forceCloseConns:
		if !c.closing {
			for seq, st := range c.streams {
				c.endStream(seq)
				c.send(st.raw, problemResult(intake.Of(actors.EndRefusedShutDown)))
			}
			c.closeAfterFlush()
		}
		time.AfterFunc(forceGrace, func() { c.conn.Close() })
	case *actor.Stopped:
		c.sh.closing.Store(true)
		c.conn.Close()
		c.log.Debug("XML connection closed")
	}
}

func (c *connActor) handleRequest(ctx actor.Context, req *request) {
	if c.closing {
		return
	}
	if c.draining {
		c.send(req.raw, problemResult(intake.Of(actors.EndRefusedShutDown)))
		return
	}
	call, rerr := req.callRequest(c.s.opts.Translate, c.s.opts.CallOptions)
	if rerr != nil {
		c.log.Info("XML request rejected", "code", rerr.code, "reason", rerr.text)
		c.send(req.raw, result{code: rerr.code, text: rerr.text})
		return
	}
	call.ClientIP = c.ip
	seq := c.nextSeq
	c.nextSeq++
	st := &stream{raw: req.raw, initiator: call.Initiator, destination: call.Destination}
	c.streams[seq] = st
	c.sh.active.Add(1)

	self, root, sh := ctx.Self(), c.s.root, c.sh
	// Called from the engine's goroutines: hand over and return at once.
	onProgress := func(p actors.Progress) {
		if !sh.closing.Load() {
			root.Send(self, progressMsg{seq, p})
		}
	}
	// StartCall only admits the call, so it is called here, in order: the
	// requests of one connection reach the engine in the order they were sent.
	id, err := c.s.opts.Starter.StartCall(call, onProgress)
	if err != nil {
		p := intake.Refused(err)
		if p.Ending == actors.EndStartFailed {
			c.log.Error("XML call not started", "initiator", call.Initiator, "destination", call.Destination, "err", err)
		}
		c.endStream(seq)
		c.send(st.raw, problemResult(p))
		c.closeIfDone()
		return
	}
	st.callID = id
	c.log.Info("XML call started", "call_id", id, "initiator", call.Initiator, "destination", call.Destination, "anchor", call.Anchor)
}

func (c *connActor) handleProgress(m progressMsg) {
	st, ok := c.streams[m.seq]
	if !ok || c.closing {
		return // after the final, or for a connection that is going away
	}
	res := result{code: m.p.Code, leg: m.p.Leg, text: m.p.Text}
	if m.p.Leg == actors.LegNone && !m.p.Final() { // the 100 In progress
		res.initiator, res.destination = st.initiator, st.destination
	}
	if m.p.Final() {
		c.endStream(m.seq)
	}
	c.send(st.raw, res)
	c.closeIfDone()
}

func (c *connActor) endStream(seq uint64) {
	delete(c.streams, seq)
	c.sh.active.Add(-1)
	c.sh.lastActive.Store(time.Now().UnixNano())
}

// closeIfDone closes a connection that will get no more requests once its
// last call has ended.
func (c *connActor) closeIfDone() {
	if !c.closing && len(c.streams) == 0 && (c.draining || c.inputDone) {
		c.closeAfterFlush()
	}
}

func (c *connActor) inputEnded(err error) {
	if c.closing {
		return
	}
	switch {
	case errors.Is(err, io.EOF):
		// A client may half-close after its last request: its calls' results still go out.
		c.inputDone = true
		c.closeIfDone()
	case errors.Is(err, errIdle):
		c.log.Info("XML connection idle, closing", "idle_timeout", c.s.opts.Config.IdleTimeout)
		c.closeAfterFlush()
	default:
		c.log.Debug("XML connection read failed", "err", err)
		c.closeNow()
	}
}

// send queues one response document; a client that lets too much output pile
// up is not reading and is cut off.
func (c *connActor) send(raw []byte, r result) {
	if c.closing {
		return
	}
	if c.hold || len(c.held) > 0 {
		c.held = appendResponse(c.held, raw, r)
		if !c.hold || len(c.held) >= maxHeld {
			c.releaseHeld()
		}
		return
	}
	c.push(appendResponse(nil, raw, r))
}

// maxHeld bounds what send holds back: past it, what is held is queued.
const maxHeld = 32 << 10

// releaseHeld queues what send held.
func (c *connActor) releaseHeld() {
	if len(c.held) > 0 && !c.closing {
		b := c.held
		c.held = nil
		c.push(b)
	}
}

func (c *connActor) push(b []byte) {
	if !c.out.push(b) {
		c.log.Warn("XML client not reading its results, closing connection", "queued_limit", c.out.limit)
		c.closeNow()
	}
}

func (c *connActor) closeAfterFlush() {
	c.releaseHeld()
	c.closing = true
	c.sh.closing.Store(true)
	c.out.finish()
}

func (c *connActor) closeNow() {
	c.closing = true
	c.sh.closing.Store(true)
	c.conn.Close()
	c.out.abort()
}

// maybeStop stops the actor once both goroutines are gone, so that neither
// ever sends to a dead actor.
func (c *connActor) maybeStop(ctx actor.Context) {
	if c.readerDone && c.writerDone {
		c.conn.Close()
		ctx.Stop(ctx.Self())
	}
}

// readLoop decodes requests and hands them to the actor. After input that
// cannot be read on it discards the rest, so that closing does not reset the
// connection before the client has read the answer.
func (c *connActor) readLoop(self *actor.PID) {
	ir := &idleReader{conn: c.conn, idle: c.s.opts.Config.IdleTimeout, readTimeout: c.s.opts.Config.ReadTimeout, sh: c.sh}
	br := bufio.NewReader(ir)
	dec := newRequestDecoder(br, c.s.opts.Config.MaxRequestSize)
	dec.onStart = func() { ir.requestStart = time.Now() }
	held := false // a request was sent with more behind it, and no flushHeld since
	ir.beforeRead = func() {
		if held {
			held = false
			c.s.root.Send(self, flushHeld{})
		}
	}
	var err error
	for {
		var req *request
		req, err = dec.next()
		ir.requestStart = time.Time{}
		if errors.Is(err, errRequestTimeout) {
			c.s.root.Send(self, requestFailed{errorOf(actors.EndRequestTimeout, "")})
			_, err = io.Copy(io.Discard, br)
			break
		}
		if err != nil {
			var rerr *requestError
			if errors.As(err, &rerr) {
				c.s.root.Send(self, requestFailed{rerr})
				_, err = io.Copy(io.Discard, br)
			}
			break
		}
		if c.sh.closing.Load() {
			_, err = io.Copy(io.Discard, br)
			break
		}
		more := moreBuffered(br)
		held = more
		c.s.root.Send(self, decodedRequest{req, more})
	}
	if err == nil {
		err = io.EOF // io.Copy reports the end of input as nil
	}
	c.s.root.Send(self, readerStopped{err})
}

// moreBuffered says whether br holds the start of another document already.
func moreBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return len(bytes.TrimLeft(b, " \t\r\n")) > 0
}

func (c *connActor) writeLoop(self *actor.PID) {
	var err error
	for {
		bufs, n, finishing, aborted := c.out.wait()
		if aborted {
			err = net.ErrClosed
			break
		}
		if n > 0 {
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, err = bufs.WriteTo(c.conn)
			c.out.written(n)
			if err != nil {
				break
			}
			continue
		}
		if finishing {
			if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			break
		}
	}
	c.s.root.Send(self, writerStopped{err})
}
