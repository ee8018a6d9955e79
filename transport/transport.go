// Package transport is the server's SIP wire: one sipgo user agent listening
// on UDP, TCP and TLS, on IPv4 and IPv6; the clients that send requests with
// a Via and Contact of the right address family and transport; RFC 3263
// resolution of SIP URIs (NAPTR, SRV, A/AAAA, cached, with failover to the
// next target); the TCP and TLS connections the server opens, with their
// keepalives; and the router that hands each in-dialog request to the actor
// that owns the dialog. Requests that belong to no dialog get the answers of
// behaviour.md §2.3 (OPTIONS 200, INVITE 403, others 405/481).
package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/clicktocall/clicktocall/transport/locate"
)

// Options configures a Transport.
type Options struct {
	// IPAddress is the bind address: "" binds all interfaces, IPv4 and IPv6
	// (IPv6 only where the host has it); an address binds that family only.
	IPAddress     string
	Port          int    // UDP and TCP port; 0 picks a free one (tests)
	OutboundProxy string // a SIP URI every out-of-dialog request is routed through, "" = none
	UserAgent     string // User-Agent header value
	Logger        *slog.Logger
	// TLS, when set, adds SIP over TLS: a listener, and sips: and
	// ;transport=tls targets reached over TLS.
	TLS *TLSOptions
	// DNSServers ("ip:port") replace the system's resolvers for SIP targets.
	DNSServers []string
	// KeepAliveInterval, when positive, sends CRLFCRLF keepalives (RFC 5626
	// §4.4.1) about this often on each TCP and TLS connection the server
	// opens to a phone.
	KeepAliveInterval time.Duration
	// OnMessage, when set, is told of every SIP message received ("in") and
	// of every request and response the server sends ("out"; not
	// retransmissions): kind is the method of a request or the status class
	// ("2xx") of a response. For metrics; it must not block.
	OnMessage func(direction, kind string)
	// MaxMessageSize bounds a SIP message in bytes; a larger one is dropped
	// (UDP) or ends the connection (TCP, TLS). 0 keeps sipgo's 65535.
	MaxMessageSize int
}

// TLSOptions configures SIP over TLS.
type TLSOptions struct {
	Port     int    // TLS port; 0 picks a free one (tests)
	Domain   string // this server's TLS name: Via and Contact of TLS requests carry it; "" = the IP address
	CertFile string // PEM certificate chain presented to peers
	KeyFile  string // PEM private key of CertFile
	CAFile   string // PEM roots trusted besides the system's, "" = system roots only
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
	stacks    [numFamilies]*stack // nil: no sockets of that family
	port      int                 // UDP and TCP
	tlsPort   int                 // 0 without TLS
	tlsClient *tls.Config         // nil without TLS
	resolver  *locate.Resolver
	conns     *connector
	proxy     *sip.Uri
	dialogs   sync.Map // Call-ID -> InDialogHandler
	closeOnce sync.Once
}

// answerWait bounds how long sipgo's handler goroutine waits for the owning
// actor to answer an in-dialog request (Timer F: after that the peer gave up).
const answerWait = 32 * time.Second

// New binds the sockets and starts serving. UDP and TCP share one port
// number, read back when Port is 0; so do the TLS listeners.
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
	var serverTLS *tls.Config
	if opts.TLS != nil {
		var err error
		if serverTLS, t.tlsClient, err = tlsConfigs(*opts.TLS); err != nil {
			return nil, err
		}
	}
	transports := []string{"UDP", "TCP"}
	if opts.TLS != nil {
		transports = append(transports, "TLS")
	}
	res, err := locate.New(locate.Options{Servers: opts.DNSServers, Transports: transports, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	t.resolver = res
	if err := t.listen(); err != nil {
		return nil, err
	}
	domain := ""
	if opts.TLS != nil {
		domain = opts.TLS.Domain
	}
	for _, s := range t.stacks {
		if s != nil {
			s.advertise(domain)
		}
	}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent(opts.UserAgent), sipgo.WithUserAgentHostname(t.Host()),
		sipgo.WithUserAgentDNSResolver(res.NetResolver())}
	if t.tlsClient != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(t.tlsClient))
	}
	if opts.MaxMessageSize > 0 {
		parser := sip.NewParser()
		parser.MaxMessageLength = opts.MaxMessageSize
		uaOpts = append(uaOpts, sipgo.WithUserAgentParser(parser))
	}
	ua, err := sipgo.NewUA(uaOpts...)
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
	for _, s := range t.stacks {
		if s == nil {
			continue
		}
		if err := t.newClients(s); err != nil {
			t.Close()
			return nil, err
		}
	}
	t.conns = newConnector(t, opts.KeepAliveInterval)
	t.routes()
	ua.TransportLayer().OnMessage(t.observeProvisional)
	if opts.OnMessage != nil {
		ua.TransportLayer().OnMessage(func(m sip.Message) { opts.OnMessage("in", messageKind(m)) })
	}
	for _, s := range t.stacks {
		if s == nil {
			continue
		}
		go func() { _ = srv.ServeUDP(s.udp) }()
		go func() { _ = srv.ServeTCP(s.tcp) }()
		if s.tls != nil {
			go func() { _ = srv.ServeTLS(tls.NewListener(s.tls, serverTLS)) }()
		}
	}
	t.conns.serve(srv)
	if err := t.waitUDP(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// newClients makes the family's clients. UDP requests leave from the
// listening socket so replies and in-dialog requests come back to the
// address in Via; TCP and TLS must not bind their listening port again
// ("address already in use"), and their connections are opened by the
// connector anyway.
func (t *Transport) newClients(s *stack) error {
	s.clients = map[string]*sipgo.Client{}
	udpAddr := s.udp.LocalAddr().String()
	var err error
	if s.clients["UDP"], err = sipgo.NewClient(t.ua, sipgo.WithClientHostname(s.host), sipgo.WithClientPort(t.port),
		sipgo.WithClientConnectionAddr(udpAddr)); err != nil {
		return fmt.Errorf("sip udp client: %w", err)
	}
	if s.clients["TCP"], err = sipgo.NewClient(t.ua, sipgo.WithClientHostname(s.host), sipgo.WithClientPort(t.port)); err != nil {
		return fmt.Errorf("sip tcp client: %w", err)
	}
	if s.tls != nil {
		if s.clients["TLS"], err = sipgo.NewClient(t.ua, sipgo.WithClientHostname(s.tlsHost), sipgo.WithClientPort(t.tlsPort)); err != nil {
			return fmt.Errorf("sip tls client: %w", err)
		}
	}
	return nil
}

// waitUDP returns once sipgo has pooled every UDP listener: before that a
// request sent from the listener's address would try to bind it a second time.
func (t *Transport) waitUDP() error {
	for _, s := range t.stacks {
		if s == nil {
			continue
		}
		addr := s.udp.LocalAddr().String()
		for deadline := time.Now().Add(5 * time.Second); ; {
			if c, err := t.ua.TransportLayer().GetConnection("udp", addr); err == nil && c != nil {
				_, _ = c.TryClose() // GetConnection took a reference
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("sip udp listener %s did not start", addr)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
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

// primary is the stack whose address the server gives when a request does
// not say which family it is for: IPv4 when there is one.
func (t *Transport) primary() *stack {
	if s := t.stacks[ipv4]; s != nil {
		return s
	}
	return t.stacks[ipv6]
}

// Host is the address put in Via, Contact and SDP (IPv4 when the server has both).
func (t *Transport) Host() string { return t.primary().host }

// HostFor is the address of the family the server reaches target with: an
// IPv6 literal gets the server's IPv6 address, for SDP and Contact; a name
// gets Host.
func (t *Transport) HostFor(target sip.Uri) string {
	return t.stackFor(target.Host).host
}

// stackFor picks the stack for a host: its family for an IP literal that the
// server has sockets for, else the primary.
func (t *Transport) stackFor(host string) *stack {
	if a, err := netip.ParseAddr(trimBrackets(host)); err == nil {
		if s := t.stacks[familyOf(a)]; s != nil {
			return s
		}
	}
	return t.primary()
}

// Port is the SIP port (UDP and TCP).
func (t *Transport) Port() int { return t.port }

// TLSPort is the SIP over TLS port, 0 without TLS.
func (t *Transport) TLSPort() int { return t.tlsPort }

// Addr is host:port of the SIP listener, for peers to send to.
func (t *Transport) Addr() string { return net.JoinHostPort(t.Host(), strconv.Itoa(t.port)) }

// Addrs lists every bound listener as "transport host:port" (for the start-up log).
func (t *Transport) Addrs() []string {
	var out []string
	for _, s := range t.stacks {
		if s == nil {
			continue
		}
		out = append(out, "udp "+s.udp.LocalAddr().String(), "tcp "+s.tcp.Addr().String())
		if s.tls != nil {
			out = append(out, "tls "+s.tls.Addr().String())
		}
	}
	return out
}

// Contact is our Contact header for a request sent over transport ("UDP",
// "TCP", "TLS"). Request and Write correct its address family and scheme
// for the destination the request actually goes to.
func (t *Transport) Contact(transport string) *sip.ContactHeader {
	return t.contact("sip", strings.ToUpper(transport), t.primary())
}

// ContactFor is our Contact for a response to req: same transport and
// address family as req arrived on, sips: when req's Request-URI is.
func (t *Transport) ContactFor(req *sip.Request) *sip.ContactHeader {
	s := t.primary()
	if src, err := netip.ParseAddrPort(req.Source()); err == nil {
		if st := t.stacks[familyOf(src.Addr())]; st != nil {
			s = st
		}
	}
	scheme := "sip"
	if req.Recipient.IsEncrypted() {
		scheme = "sips"
	}
	return t.contact(scheme, strings.ToUpper(req.Transport()), s)
}

func (t *Transport) contact(scheme, transport string, s *stack) *sip.ContactHeader {
	c := &sip.ContactHeader{Address: sip.Uri{Scheme: scheme, User: contactUser, Host: uriHost(s.host), Port: t.port}}
	t.setContactAddress(&c.Address, scheme, transport, s)
	return c
}

// contactUser is the user part of our Contact; Request recognises our
// Contact by it and by the host.
const contactUser = "clicktocall"

// setContactAddress points u at our listener for transport in family s.
func (t *Transport) setContactAddress(u *sip.Uri, scheme, transport string, s *stack) {
	u.Scheme, u.Host, u.Port = scheme, uriHost(s.host), t.port
	if u.UriParams != nil {
		u.UriParams.Remove("transport")
	}
	param := ""
	switch transport {
	case "TCP":
		param = "tcp"
	case "TLS":
		u.Host, u.Port = uriHost(s.tlsHost), t.tlsPort
		if scheme != "sips" {
			param = "tls"
		}
	}
	if param != "" {
		if u.UriParams == nil {
			u.UriParams = sip.NewParams()
		}
		u.UriParams.Add("transport", param)
	}
}

// ourHost reports whether host is an address this transport advertises.
func (t *Transport) ourHost(host string) bool {
	host = trimBrackets(host)
	for _, s := range t.stacks {
		if s != nil && (host == s.host || host == s.tlsHost) {
			return true
		}
	}
	return false
}

// NewCallID returns a Call-ID unique to this server.
func (t *Transport) NewCallID() string { return uuid.NewString() + "@" + t.Host() }

// OutboundProxy is the pre-loaded route for out-of-dialog requests, or nil.
func (t *Transport) OutboundProxy() *sip.Uri { return t.proxy }

// Register makes h the owner of the dialog(s) with this Call-ID.
func (t *Transport) Register(callID string, h InDialogHandler) { t.dialogs.Store(callID, h) }

// Unregister forgets the Call-ID; later requests in it get out-of-dialog answers.
func (t *Transport) Unregister(callID string) { t.dialogs.Delete(callID) }

// Close stops serving and releases the sockets and connections.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		if t.conns != nil {
			t.conns.stop()
		}
		if t.ua != nil {
			err = t.ua.Close()
		}
		t.closeSockets()
		if t.conns != nil {
			t.conns.wait()
		}
	})
	return err
}

func (t *Transport) closeSockets() {
	for _, s := range t.stacks {
		if s != nil {
			s.close()
		}
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
		t.reply(tx, res)
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
		t.reply(tx, res)
	}
}

func isReferEvent(req *sip.Request) bool {
	ev := req.GetHeader("Event")
	if ev == nil {
		return false
	}
	v := ev.Value()
	return len(v) >= 5 && strings.EqualFold(v[:5], "refer")
}

func (t *Transport) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	t.reply(tx, sip.NewResponseFromRequest(req, code, reason, nil))
}

func (t *Transport) reply(tx sip.ServerTransaction, res *sip.Response) {
	if err := t.Respond(tx, res); err != nil && !errors.Is(err, sip.ErrTransactionTerminated) {
		t.log.Debug("sip respond failed", "status", res.StatusCode, "error", err)
	}
}

// Respond answers a request received in tx.
func (t *Transport) Respond(tx sip.ServerTransaction, res *sip.Response) error {
	t.sent(res)
	return tx.Respond(res)
}

// CountTransactionACK counts the ACK sipgo's INVITE client transaction
// sends by itself for a final response of 300 or more (RFC 3261 17.1.1.3),
// which never passes through Request or Write.
func (t *Transport) CountTransactionACK() {
	if t.opts.OnMessage != nil {
		t.opts.OnMessage("out", "ACK")
	}
}

// sent counts an outgoing message for Options.OnMessage.
func (t *Transport) sent(m sip.Message) {
	if t.opts.OnMessage != nil {
		t.opts.OnMessage("out", messageKind(m))
	}
}

// messageKind is a request's method or a response's status class.
func messageKind(m sip.Message) string {
	switch m := m.(type) {
	case *sip.Request:
		return string(m.Method)
	case *sip.Response:
		return string(rune('0'+m.StatusCode/100)) + "xx"
	}
	return "other"
}
