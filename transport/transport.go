// Package transport is the server's SIP wire: one sipgo user agent listening on
// UDP and TCP, the clients that send requests with a correct Via and Contact
// for the bound address, and the router that hands each in-dialog request to
// the actor that owns the dialog. Requests that belong to no dialog get the
// answers of behaviour.md §2.3 (OPTIONS 200, INVITE 403, others 405/481).
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Options configures a Transport.
type Options struct {
	IPAddress     string // bind address; "" binds all interfaces and advertises a local address
	Port          int    // UDP and TCP port; 0 picks a free one (tests)
	OutboundProxy string // a SIP URI every out-of-dialog request is routed through, "" = none
	UserAgent     string // User-Agent header value
	Logger        *slog.Logger
}

// InDialogHandler receives the requests of one SIP dialog (keyed by Call-ID).
// HandleRequest must answer tx (except for ACK, which has no transaction)
// and may return before doing so; the router keeps sipgo's handler alive until
// the answer is sent or the transaction ends.
type InDialogHandler interface {
	HandleRequest(req *sip.Request, tx sip.ServerTransaction, answered func())
	// HandleProvisional gets each 18x to an INVITE of this Call-ID in
	// arrival order. sipgo hands responses to transactions in goroutines, so
	// a 180 followed at once by a 200 can otherwise be overtaken and lost.
	HandleProvisional(res *sip.Response)
}

// Transport owns the SIP sockets and routes in-dialog requests.
type Transport struct {
	opts      Options
	log       *slog.Logger
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	udpClient *sipgo.Client
	tcpClient *sipgo.Client
	host      string // advertised in Via and Contact
	port      int
	proxy     *sip.Uri
	dialogs   sync.Map // Call-ID -> InDialogHandler
	udpConn   net.PacketConn
	tcpLn     net.Listener
	closeOnce sync.Once
}

// answerWait bounds how long sipgo's handler goroutine waits for the owning
// actor to answer an in-dialog request (Timer F: after that the peer gave up).
const answerWait = 32 * time.Second

// New binds the UDP and TCP sockets and starts serving. The sockets share one
// port number, read back when Port is 0.
func New(opts Options) (*Transport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "clicktocall"
	}
	t := &Transport{opts: opts, log: opts.Logger}
	if opts.OutboundProxy != "" {
		var u sip.Uri
		if err := sip.ParseUri(opts.OutboundProxy, &u); err != nil {
			return nil, fmt.Errorf("outbound proxy %q: %w", opts.OutboundProxy, err)
		}
		u.UriParams = ensureLR(u.UriParams)
		t.proxy = &u
	}
	if err := t.listen(); err != nil {
		return nil, err
	}
	host := opts.IPAddress
	if host == "" || net.ParseIP(host).IsUnspecified() {
		host = localAddress()
	}
	t.host = host

	ua, err := sipgo.NewUA(sipgo.WithUserAgent(opts.UserAgent), sipgo.WithUserAgentHostname(host))
	if err != nil {
		t.closeSockets()
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	t.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(opts.Logger))
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	t.srv = srv
	// UDP requests leave from the listening socket so replies and in-dialog
	// requests come back to the address in Via; TCP must not bind that port
	// again ("address already in use"), so it gets a client of its own.
	hostPort := net.JoinHostPort(t.udpConn.LocalAddr().(*net.UDPAddr).IP.String(), strconv.Itoa(t.port))
	udpOpts := []sipgo.ClientOption{sipgo.WithClientHostname(host), sipgo.WithClientPort(t.port)}
	if opts.IPAddress != "" && !net.ParseIP(opts.IPAddress).IsUnspecified() {
		udpOpts = append(udpOpts, sipgo.WithClientConnectionAddr(hostPort))
	}
	if t.udpClient, err = sipgo.NewClient(ua, udpOpts...); err != nil {
		t.Close()
		return nil, fmt.Errorf("sip udp client: %w", err)
	}
	if t.tcpClient, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(t.port)); err != nil {
		t.Close()
		return nil, fmt.Errorf("sip tcp client: %w", err)
	}
	t.routes()
	ua.TransportLayer().OnMessage(t.observeProvisional)
	go func() { _ = srv.ServeUDP(t.udpConn) }()
	go func() { _ = srv.ServeTCP(t.tcpLn) }()
	// UDP requests reuse the listener's socket once sipgo has pooled it;
	// before that a request would try to bind the port a second time.
	udpAddr := t.udpConn.LocalAddr().String()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := ua.TransportLayer().GetConnection("udp", udpAddr); err == nil && c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Close()
			return nil, fmt.Errorf("sip udp listener %s did not start", udpAddr)
		}
		time.Sleep(time.Millisecond)
	}
	return t, nil
}

// listen binds UDP then TCP on the same port; with port 0 it retries when the
// port the kernel picked for UDP is taken for TCP.
func (t *Transport) listen() error {
	bind := t.opts.IPAddress
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(bind, strconv.Itoa(t.opts.Port)))
		if err != nil {
			return fmt.Errorf("sip udp listen: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
		if err != nil {
			pc.Close()
			if t.opts.Port == 0 && attempt < 10 {
				continue
			}
			return fmt.Errorf("sip tcp listen: %w", err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			// Bursts of calls arrive faster than one read loop drains them.
			_ = uc.SetReadBuffer(8 << 20)
		}
		t.udpConn, t.tcpLn, t.port = pc, ln, port
		return nil
	}
}

// localAddress picks the address other hosts reach us at when bound to all
// interfaces; it never advertises 0.0.0.0.
func localAddress() string {
	conn, err := net.Dial("udp", "192.0.2.1:9") // no packet is sent
	if err == nil {
		defer conn.Close()
		if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsUnspecified() {
			return a.IP.String()
		}
	}
	return "127.0.0.1"
}

func ensureLR(p sip.HeaderParams) sip.HeaderParams {
	if p == nil {
		p = sip.NewParams()
	}
	if !p.Has("lr") {
		p.Add("lr", "")
	}
	return p
}

// Host is the address put in Via, Contact and SDP.
func (t *Transport) Host() string { return t.host }

// Port is the SIP port (UDP and TCP).
func (t *Transport) Port() int { return t.port }

// Addr is host:port of the SIP listener, for peers to send to.
func (t *Transport) Addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

// Contact is our Contact header for a request sent over transport ("UDP", "TCP").
func (t *Transport) Contact(transport string) *sip.ContactHeader {
	c := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "clicktocall", Host: t.uriHost(), Port: t.port}}
	if transport != "" && transport != "UDP" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", lower(transport))
	}
	return c
}

func (t *Transport) uriHost() string {
	if ip := net.ParseIP(t.host); ip != nil && ip.To4() == nil {
		return "[" + t.host + "]"
	}
	return t.host
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// NewCallID returns a Call-ID unique to this server.
func (t *Transport) NewCallID() string { return uuid.NewString() + "@" + t.host }

// OutboundProxy is the pre-loaded route for out-of-dialog requests, or nil.
func (t *Transport) OutboundProxy() *sip.Uri { return t.proxy }

func (t *Transport) client(req *sip.Request) *sipgo.Client {
	if req.Transport() == "UDP" {
		return t.udpClient
	}
	return t.tcpClient
}

// Request starts a client transaction for req. sipgo adds Via (and anything
// else missing); a resent request must have its old Via removed first.
func (t *Transport) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	return t.client(req).TransactionRequest(ctx, req)
}

// Write sends a request outside any transaction (ACK for a 2xx).
func (t *Transport) Write(req *sip.Request) error {
	return t.client(req).WriteRequest(req)
}

// Register makes h the owner of the dialog(s) with this Call-ID.
func (t *Transport) Register(callID string, h InDialogHandler) { t.dialogs.Store(callID, h) }

// Unregister forgets the Call-ID; later requests in it get out-of-dialog answers.
func (t *Transport) Unregister(callID string) { t.dialogs.Delete(callID) }

// Close stops serving and releases the sockets.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		if t.ua != nil {
			err = t.ua.Close()
		}
		t.closeSockets()
	})
	return err
}

func (t *Transport) closeSockets() {
	if t.udpConn != nil {
		t.udpConn.Close()
	}
	if t.tcpLn != nil {
		t.tcpLn.Close()
	}
}

func (t *Transport) routes() {
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.OPTIONS,
		sip.NOTIFY, sip.REFER, sip.INFO, sip.UPDATE, sip.MESSAGE, sip.SUBSCRIBE, sip.PRACK} {
		t.srv.OnRequest(m, t.route)
	}
	t.srv.OnNoRoute(t.route)
}

// route hands a request to its dialog's owner or answers it itself.
func (t *Transport) route(req *sip.Request, tx sip.ServerTransaction) {
	defer func() {
		// Nothing a peer sends may stop the server.
		if r := recover(); r != nil {
			t.log.Error("sip request handler panic", "method", req.Method, "panic", r)
		}
	}()
	if cid := req.CallID(); cid != nil && hasToTag(req) {
		if h, ok := t.dialogs.Load(cid.Value()); ok {
			t.deliver(h.(InDialogHandler), req, tx)
			return
		}
	}
	t.answerOutOfDialog(req, tx)
}

func (t *Transport) deliver(h InDialogHandler, req *sip.Request, tx sip.ServerTransaction) {
	if tx == nil { // ACK to a 2xx
		h.HandleRequest(req, nil, func() {})
		return
	}
	done := make(chan struct{})
	var once sync.Once
	h.HandleRequest(req, tx, func() { once.Do(func() { close(done) }) })
	timer := time.NewTimer(answerWait)
	defer timer.Stop()
	select {
	case <-done:
	case <-tx.Done():
	case <-timer.C:
		t.respond(req, tx, 500, "Server Internal Error")
	}
}

// observeProvisional runs in the socket's read loop, in arrival order.
func (t *Transport) observeProvisional(msg sip.Message) {
	res, ok := msg.(*sip.Response)
	if !ok || res.StatusCode < 180 || res.StatusCode >= 200 {
		return
	}
	cseq, cid := res.CSeq(), res.CallID()
	if cseq == nil || cid == nil || cseq.MethodName != sip.INVITE {
		return
	}
	if h, ok := t.dialogs.Load(cid.Value()); ok {
		h.(InDialogHandler).HandleProvisional(res)
	}
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}

func (t *Transport) answerOutOfDialog(req *sip.Request, tx sip.ServerTransaction) {
	if tx == nil {
		return // a stray ACK needs no answer
	}
	inDialog := hasToTag(req)
	switch {
	case req.Method == sip.OPTIONS:
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER"))
		t.send(tx, res)
	case req.Method == sip.INVITE && !inDialog:
		t.respond(req, tx, 403, "Forbidden")
	case req.Method == sip.NOTIFY && isReferEvent(req):
		// A final NOTIFY may arrive after the dialog it reports on has ended.
		t.respond(req, tx, 200, "OK")
	case req.Method == sip.CANCEL:
		t.respond(req, tx, 481, "Call/Transaction Does Not Exist")
	case inDialog || req.Method == sip.BYE || req.Method == sip.NOTIFY:
		t.respond(req, tx, 481, "Call/Transaction Does Not Exist")
	default:
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", "OPTIONS"))
		t.send(tx, res)
	}
}

func isReferEvent(req *sip.Request) bool {
	ev := req.GetHeader("Event")
	if ev == nil {
		return false
	}
	v := ev.Value()
	return len(v) >= 5 && lower(v[:5]) == "refer"
}

func (t *Transport) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	t.send(tx, sip.NewResponseFromRequest(req, code, reason, nil))
}

func (t *Transport) send(tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil && !errors.Is(err, sip.ErrTransactionTerminated) {
		t.log.Debug("sip respond failed", "status", res.StatusCode, "error", err)
	}
}
