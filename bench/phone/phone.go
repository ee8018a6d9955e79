// Package phone provides simulated SIP phones for the engine's integration tests and the
// bench tool. A Phone is one sipgo user agent listening on loopback (UDP and/or TCP, IPv4 or
// IPv6, port 0) that answers the call flows the click-to-call server performs — ringing,
// answering with or without an SDP offer, rejecting, never answering, digest challenges,
// REFER with sipfrag NOTIFYs, re-INVITE, BYE — as configured by a Behaviour. It records every
// message it receives and sends, per Call-ID, so a test can wait for and assert on what went
// over the wire, and it counts events for the bench.
package phone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config configures a Phone.
type Config struct {
	// User is the user part of the phone's Contact; default "phone".
	User string
	// Host is the loopback address to bind: "127.0.0.1" (default) or "::1".
	Host string
	// Transports to listen on: "udp" and/or "tcp"; default just "udp".
	Transports []string
	// Behaviour applies to every new call unless Choose is set.
	Behaviour Behaviour
	// Choose, when set, picks the behaviour of each new call from its INVITE (e.g. by
	// Request-URI user), so one phone can play several parts.
	Choose func(invite *sip.Request) Behaviour
	// OnEvent, when set, is called synchronously for each event; it must not block.
	OnEvent func(Event)
	// Logger for the phone and its sipgo user agent; default discards.
	Logger *slog.Logger
	// NoRecording keeps no messages and forgets each call when it is over, for long bench
	// runs: Stats and OnEvent still work, Calls lists only calls in progress.
	NoRecording bool
	// Loss is the share (0 to 1) of UDP datagrams the phone loses, each way, at random: a
	// lossy network for tests of retransmission. LossSeed seeds the choice.
	Loss     float64
	LossSeed uint64
}

// Phone is a simulated SIP phone. It serves any number of concurrent calls; all methods are
// safe for concurrent use.
type Phone struct {
	cfg       Config
	host      string // as written in URIs: IPv6 in brackets
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	dialogUAs map[string]*sipgo.DialogUA // by transport, lower case
	addrs     map[string]string          // by transport: bound "host:port"
	listeners []io.Closer

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	work   sync.WaitGroup // handlers and goroutines the phone started
	serve  sync.WaitGroup // listener loops

	counters counters
	lost     atomic.Int64 // datagrams Loss dropped

	mu        sync.Mutex
	closed    bool
	behaviour Behaviour
	calls     map[string]*call
	order     []*call
	changed   chan struct{} // closed and replaced on every recorded change
	seq       uint64
	nonces    map[string]bool
	nextPort  int
	pending   map[*sip.Request]pendingSend // requests about to be sent, to record at send time
	arrivals  map[sip.Message]uint64       // seq stamped in wire order; 0: recorded before stamped
	arrived   []sip.Message                // arrivals, oldest first, to evict unclaimed stamps
}

// udpReadBuffer is asked for each UDP socket; the kernel caps it at net.core.rmem_max.
const udpReadBuffer = 8 << 20

// maxArrivals bounds stamps nobody claims (retransmissions sipgo absorbs); messages are
// claimed within milliseconds, so this is far more than are ever in flight.
const maxArrivals = 4096

type pendingSend struct {
	c   *call
	seq uint64
}

// call is the phone's state for one Call-ID. Fields under "p.mu" are guarded by the phone's
// mutex; the rest are set before the call is shared.
type call struct {
	id        string
	rec       Call // p.mu
	transport string
	b         Behaviour
	media     *media
	ctx       context.Context // ends with the call
	end       context.CancelFunc
	sendMu    sync.Mutex                   // sipgo's dialog CSeq increment is not atomic: one in-dialog request at a time
	dlg       *sipgo.DialogServerSession   // p.mu; incoming calls
	out       *sipgo.DialogClientSession   // p.mu; calls the phone placed
	acks      map[uint32]chan *sip.Request // p.mu; 2xx awaiting ACK, by CSeq
	forget    bool                         // p.mu; NoRecording: drop the call once no ACK is awaited
	confirmed chan struct{}                // closed when the 200 is ACKed
	confirm   sync.Once
}

// New starts a phone listening on cfg.Host port 0 for each transport.
func New(cfg Config) (*Phone, error) {
	if cfg.User == "" {
		cfg.User = "phone"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if len(cfg.Transports) == 0 {
		cfg.Transports = []string{"udp"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	host := cfg.Host
	if ip := net.ParseIP(host); ip == nil {
		return nil, fmt.Errorf("phone host %q is not an IP address", host)
	} else if ip.To4() == nil {
		host = "[" + host + "]"
	}

	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.User), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(cfg.Logger)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(cfg.Logger)))
	if err != nil {
		return nil, fmt.Errorf("phone user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("phone server: %w", err)
	}
	// The hostname keeps 0.0.0.0 out of Via; the port comes from the connection used.
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientLogger(cfg.Logger))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("phone client: %w", err)
	}

	client.TxRequester = &sendRecorder{ua: ua}

	ctx, cancel := context.WithCancel(context.Background())
	p := &Phone{
		cfg: cfg, host: host, ua: ua, srv: srv, client: client,
		dialogUAs: map[string]*sipgo.DialogUA{},
		addrs:     map[string]string{},
		ctx:       ctx, cancel: cancel,
		behaviour: cfg.Behaviour,
		calls:     map[string]*call{},
		changed:   make(chan struct{}),
		nonces:    map[string]bool{},
		nextPort:  40000,
		pending:   map[*sip.Request]pendingSend{},
		arrivals:  map[sip.Message]uint64{},
	}
	// sipgo hands each message to its own goroutine, so handlers may run out of order (an ACK
	// and the BYE right behind it, say). This hook runs in the connection's read loop, in wire
	// order, and stamps each message so the record keeps that order.
	ua.TransportLayer().OnMessage(p.stampArrival)
	client.TxRequester.(*sendRecorder).p = p
	// Handlers first: sipgo reads its handler map unlocked once serving.
	srv.OnInvite(p.handler(p.onInvite))
	srv.OnAck(p.handler(p.onAck))
	srv.OnBye(p.handler(p.onBye))
	srv.OnCancel(p.handler(p.onCancel))
	srv.OnRefer(p.handler(p.onRefer))
	srv.OnOptions(p.handler(p.onOptions))
	srv.OnNotify(p.handler(p.onNotify))
	// Bind every socket before serving any, so the address maps are complete and read-only
	// once requests can arrive.
	var serve []func() error
	for _, tp := range cfg.Transports {
		start, err := p.listen(strings.ToLower(tp))
		if err != nil {
			for _, l := range p.listeners {
				_ = l.Close()
			}
			cancel()
			_ = ua.Close()
			return nil, err
		}
		serve = append(serve, start)
	}
	for _, start := range serve {
		p.serve.Add(1)
		go func() { defer p.serve.Done(); _ = start() }()
	}
	return p, nil
}

// listen binds a socket for tp and returns the function that serves it.
func (p *Phone) listen(tp string) (func() error, error) {
	var addr string
	var start func() error
	switch tp {
	case "udp":
		conn, err := net.ListenPacket("udp", net.JoinHostPort(p.cfg.Host, "0"))
		if err != nil {
			return nil, fmt.Errorf("phone listen udp on %s: %w", p.cfg.Host, err)
		}
		if uc, ok := conn.(*net.UDPConn); ok {
			// The bench sends bursts of thousands of calls a second; the default
			// buffer (about 200 KiB) overflows and drops requests.
			_ = uc.SetReadBuffer(udpReadBuffer)
		}
		addr = conn.LocalAddr().String()
		p.listeners = append(p.listeners, conn)
		served := conn
		if p.cfg.Loss > 0 {
			served = newLossyConn(conn, p.cfg.Loss, p.cfg.LossSeed, &p.lost)
		}
		start = func() error { return p.srv.ServeUDP(served) }
	case "tcp":
		ln, err := net.Listen("tcp", net.JoinHostPort(p.cfg.Host, "0"))
		if err != nil {
			return nil, fmt.Errorf("phone listen tcp on %s: %w", p.cfg.Host, err)
		}
		addr = ln.Addr().String()
		p.listeners = append(p.listeners, ln)
		start = func() error { return p.srv.ServeTCP(ln) }
	default:
		return nil, fmt.Errorf("phone transport %q: want udp or tcp", tp)
	}
	p.addrs[tp] = addr
	_, port, _ := net.SplitHostPort(addr)
	portN, _ := strconv.Atoi(port)
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.host, Port: portN}}
	if tp != "udp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", tp)
	}
	// Over TCP, in-dialog requests go back on the connection the INVITE came in on (as phones
	// behind NAT do), so the peer need not listen on the port in its Contact.
	p.dialogUAs[tp] = &sipgo.DialogUA{Client: p.client, ContactHDR: contact, RewriteContact: tp != "udp"}
	return start, nil
}

// Close stops the phone: pending INVITEs and waits end, listeners close, and every goroutine
// the phone started returns. Calls are not hung up.
func (p *Phone) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	p.cancel()
	p.work.Wait()
	var errs []error
	for _, l := range p.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, p.ua.Close())
	p.serve.Wait()
	return errors.Join(errs...)
}

// Addr returns the bound "host:port" for a transport ("udp" or "tcp"), or "" if not listening.
func (p *Phone) Addr(transport string) string { return p.addrs[strings.ToLower(transport)] }

// URI returns the phone's SIP URI on a transport: sip:user@host:port (;transport=tcp for TCP).
func (p *Phone) URI(transport string) sip.Uri {
	ua := p.dialogUAs[strings.ToLower(transport)]
	if ua == nil {
		return sip.Uri{}
	}
	return *ua.ContactHDR.Address.Clone()
}

// SetBehaviour changes the behaviour for calls that arrive from now on.
func (p *Phone) SetBehaviour(b Behaviour) {
	p.mu.Lock()
	p.behaviour = b
	p.mu.Unlock()
}

func (p *Phone) behaviourFor(req *sip.Request) Behaviour {
	if p.cfg.Choose != nil {
		return p.cfg.Choose(req)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.behaviour
}

// handler wraps a request handler so Close can wait for it; once closed, requests are dropped.
func (p *Phone) handler(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !p.enter() {
			return
		}
		defer p.work.Done()
		h(req, tx)
	}
}

// goWork runs f in a goroutine that Close waits for.
func (p *Phone) goWork(f func()) {
	if !p.enter() {
		return
	}
	go func() {
		defer p.work.Done()
		f()
	}()
}

func (p *Phone) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.work.Add(1)
	return true
}

// sleep waits d; false when the call ended or the phone closed first.
func (p *Phone) sleep(c *call, d time.Duration, cancelled <-chan struct{}) bool {
	if d <= 0 {
		select {
		case <-cancelled:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-cancelled:
	case <-c.ctx.Done():
	case <-p.ctx.Done():
	}
	return false
}

// callFor returns the call for this Call-ID, creating it for a new INVITE.
func (p *Phone) callFor(callID, transport string, b Behaviour, outgoing bool) *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.calls[callID]; ok {
		return c
	}
	ctx, end := context.WithCancel(p.ctx)
	c := &call{
		id:        callID,
		rec:       Call{CallID: callID, Transport: strings.ToUpper(transport), Outgoing: outgoing, State: CallRinging},
		transport: strings.ToLower(transport),
		b:         b,
		media:     &media{host: p.cfg.Host, port: p.allocPortLocked(), session: uint64(time.Now().UnixNano())},
		ctx:       ctx,
		end:       end,
		acks:      map[uint32]chan *sip.Request{},
		confirmed: make(chan struct{}),
	}
	p.calls[callID] = c
	p.order = append(p.order, c)
	return c
}

func (p *Phone) lookup(req *sip.Request) *call {
	id := req.CallID()
	if id == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id.Value()]
}

func (p *Phone) dialog(c *call) (*sipgo.DialogServerSession, *sipgo.DialogClientSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return c.dlg, c.out
}

// Record keeping. Every change closes p.changed so waiters re-check their condition.

func (p *Phone) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// record adds a copy of a request or response to the call. seq 0 means "now"; a sent request
// reserves its seq before sipgo sends it so that the flow keeps the order of events even when
// the answer's handler records first.
func (p *Phone) record(c *call, dir Direction, msg sip.Message, seq uint64, at time.Time, auto bool) {
	p.recordAnd(c, dir, msg, seq, at, auto, nil)
}

// recordAnd records like record and runs change under the same lock, so no waiter sees the
// message without the state change that goes with it.
func (p *Phone) recordAnd(c *call, dir Direction, msg sip.Message, seq uint64, at time.Time, auto bool, change func()) {
	if p.cfg.NoRecording {
		if change != nil {
			p.mu.Lock()
			change()
			p.notifyLocked()
			p.mu.Unlock()
		}
		return
	}
	m := Message{Dir: dir, At: at, Auto: auto}
	switch v := msg.(type) {
	case *sip.Request:
		r := v.Clone()
		r.SetBody(append([]byte(nil), v.Body()...))
		m.Request, m.Method = r, v.Method
	case *sip.Response:
		r := v.Clone()
		r.SetBody(append([]byte(nil), v.Body()...))
		m.Response, m.StatusCode = r, v.StatusCode
		if cseq := v.CSeq(); cseq != nil {
			m.Method = cseq.MethodName
		}
	}
	if m.At.IsZero() {
		m.At = time.Now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq == 0 && dir == In {
		seq = p.claimArrivalLocked(msg)
	}
	if seq == 0 {
		p.seq++
		seq = p.seq
	}
	m.Seq = seq
	msgs := c.rec.Messages
	i := len(msgs)
	for i > 0 && msgs[i-1].Seq > seq {
		i--
	}
	// Copy on write: snapshots handed out share nothing with the record.
	next := make([]Message, 0, len(msgs)+1)
	next = append(next, msgs[:i]...)
	next = append(next, m)
	next = append(next, msgs[i:]...)
	c.rec.Messages = next
	if change != nil {
		change()
	}
	p.notifyLocked()
}

func (p *Phone) recordIn(c *call, msg sip.Message) { p.record(c, In, msg, 0, time.Time{}, false) }

func (p *Phone) setState(c *call, s CallState, code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if code != 0 {
		c.rec.FinalCode = code
	}
	p.setStateLocked(c, s)
	p.notifyLocked()
}

func (p *Phone) setStateLocked(c *call, s CallState) {
	c.rec.State = s
	if !p.cfg.NoRecording {
		return
	}
	switch s {
	case CallRejected, CallCancelled, CallEnded, CallFailed:
		if len(c.acks) > 0 {
			// sipgo runs each message in its own goroutine, so the ACK of our
			// 2xx can be handled after a BYE that followed it on the wire:
			// keep the call findable until respond2xx is done with it.
			c.forget = true
			return
		}
		p.forgetLocked(c)
	}
}

// forgetLocked drops a finished call (NoRecording).
func (p *Phone) forgetLocked(c *call) {
	if p.calls[c.id] == c {
		delete(p.calls, c.id)
		p.order = slices.DeleteFunc(p.order, func(o *call) bool { return o == c })
	}
}

func (c *call) snapshotLocked() Call { return c.rec }

func (p *Phone) snapshotLocked() []Call {
	out := make([]Call, len(p.order))
	for i, c := range p.order {
		out[i] = c.snapshotLocked()
	}
	return out
}

// respond records res and sends it on tx.
func (p *Phone) respond(c *call, tx sip.ServerTransaction, res *sip.Response) error {
	if c != nil {
		p.recordOut(c, res)
	}
	if err := tx.Respond(res); err != nil {
		p.cfg.Logger.Debug("phone respond failed", "status", res.StatusCode, "error", err)
		return err
	}
	return nil
}

func (p *Phone) recordOut(c *call, msg sip.Message) { p.record(c, Out, msg, 0, time.Time{}, false) }

var reasons = map[int]string{
	100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
	401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
	408: "Request Timeout", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
	500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
	600: "Busy Everywhere", 603: "Decline",
}

// Reason is the reason phrase the phone sends with a status code.
func Reason(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "Status " + strconv.Itoa(code)
}

// sendRecorder sits between sipgo's client and its transaction layer: it records an in-dialog
// request once sipgo has built it (From, To, CSeq, Via) and before it goes on the wire, so a
// test that has seen the peer's reaction also sees the request in the phone's record.
type sendRecorder struct {
	ua *sipgo.UserAgent
	p  *Phone
}

func (s *sendRecorder) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	s.p.mu.Lock()
	ps, ok := s.p.pending[req]
	delete(s.p.pending, req)
	s.p.mu.Unlock()
	if ok {
		s.p.record(ps.c, Out, req, ps.seq, time.Now(), false)
	}
	if req.IsAck() {
		// sipgo's Client sends ACK through the requester too; it has no transaction.
		return nil, s.ua.TransportLayer().WriteMsg(req)
	}
	tx, err := s.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// expectSend arranges for req to be recorded in c when sipgo sends it.
func (p *Phone) expectSend(c *call, req *sip.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	p.pending[req] = pendingSend{c: c, seq: p.seq}
}

// sent replaces the recorded copy of req with one taken after sending, which has the Via
// sent-by port the transport filled in, and forgets req if sipgo never sent it.
func (p *Phone) sent(c *call, req *sip.Request) {
	p.mu.Lock()
	_, unsent := p.pending[req]
	delete(p.pending, req)
	p.mu.Unlock()
	if unsent {
		return
	}
	r := req.Clone()
	r.SetBody(append([]byte(nil), req.Body()...))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(c.rec.Messages) - 1; i >= 0; i-- {
		if m := c.rec.Messages[i]; m.Dir == Out && m.Request != nil && m.Request.Method == req.Method && m.CSeq() == req.CSeq().SeqNo {
			next := slices.Clone(c.rec.Messages) // snapshots keep the old copy untouched
			next[i].Request = r
			c.rec.Messages = next
			return
		}
	}
}

func (p *Phone) stampArrival(msg sip.Message) {
	if p.cfg.NoRecording {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, claimed := p.arrivals[msg]; claimed {
		delete(p.arrivals, msg) // its handler recorded it first, with a seq taken then
		return
	}
	p.seq++
	p.arrivals[msg] = p.seq
	p.arrived = append(p.arrived, msg)
	if len(p.arrived) > maxArrivals {
		delete(p.arrivals, p.arrived[0])
		p.arrived = slices.Delete(p.arrived, 0, 1)
	}
}

// claimArrivalLocked returns msg's wire-order stamp, or takes one now and leaves a marker if
// the read loop has not stamped it yet (it will, right after; no later message can be read
// before that, so the order holds).
func (p *Phone) claimArrivalLocked(msg sip.Message) uint64 {
	if seq, ok := p.arrivals[msg]; ok {
		delete(p.arrivals, msg)
		return seq
	}
	p.seq++
	p.arrivals[msg] = 0
	return p.seq
}
