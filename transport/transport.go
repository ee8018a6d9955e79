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
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/clicktocall/clicktocall/transport/locate"
	"github.com/clicktocall/clicktocall/transport/rfc3261"
	"github.com/clicktocall/clicktocall/transport/timing"
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
	// OnTrace, when set, is shown every SIP message received (in) and every
	// request and response the server sends (out; not retransmissions), for
	// the calls' message ladders. It runs on the hot path: it must be quick,
	// must not block, and must not keep m.
	OnTrace func(m sip.Message, in bool)
	// Linger is how long answered requests and ACKed final responses are
	// kept to absorb their retransmissions; 0 = 64*T1 (32 s), as RFC 3261.
	Linger time.Duration
	// Clock runs the transactions' timers; nil = the process's wheel.
	Clock timing.Clock
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

// Transport owns the SIP sockets, routes what arrives to the owner of its
// Call-ID and absorbs retransmissions.
type Transport struct {
	opts      Options
	log       *slog.Logger
	tpl       *sip.TransportLayer // sipgo's sockets, connections and parser
	stacks    [numFamilies]*stack // nil: no sockets of that family
	port      int                 // UDP and TCP
	tlsPort   int                 // 0 without TLS
	tlsClient *tls.Config         // nil without TLS
	resolver  *locate.Resolver
	conns     *connector
	proxy     *sip.Uri
	dialogs   sync.Map // Call-ID -> Endpoint
	clock     timing.Clock
	linger    *linger
	orphans   *orphanage
	strays    *rate.Limiter // 2xx for calls that are gone, answered with ACK and BYE
	closed    chan struct{}
	closeOnce sync.Once
	resent    atomic.Uint64 // messages sent again; see Retransmissions
	peers     *PeerDelays
}

// New binds the sockets and starts serving. UDP and TCP share one port
// number, read back when Port is 0; so do the TLS listeners.
func New(opts Options) (*Transport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "clicktocall"
	}
	t := &Transport{opts: opts, log: opts.Logger, peers: newPeerDelays()}
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
	parser := sip.NewParser()
	if opts.MaxMessageSize > 0 {
		parser.MaxMessageLength = opts.MaxMessageSize
	}
	t.tpl = sip.NewTransportLayer(res.NetResolver(), parser, t.tlsClient)
	t.tpl.OnMessage(t.onMessage)
	t.clock = opts.Clock
	if t.clock == nil {
		t.clock = timing.Default
	}
	linger := opts.Linger
	if linger == 0 {
		linger = rfc3261.Timer64T1Now()
	}
	t.linger = newLinger(linger)
	t.orphans = newOrphanage(t)
	t.strays = rate.NewLimiter(strayRate, strayRate)
	t.closed = make(chan struct{})
	t.conns = newConnector(t, opts.KeepAliveInterval)
	for _, s := range t.stacks {
		if s == nil {
			continue
		}
		go func() { _ = t.tpl.ServeUDP(rawReader(s.udp)) }()
		go func() { _ = t.tpl.ServeTCP(s.tcp) }()
		if s.tls != nil {
			go func() { _ = t.tpl.ServeTLS(tls.NewListener(s.tls, serverTLS)) }()
		}
	}
	t.conns.serve(t.tpl)
	t.clock.After(sweepInterval, sweeper{t}, nil)
	return t, nil
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

// Close stops serving and releases the sockets and connections.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		if t.conns != nil {
			t.conns.stop()
		}
		close(t.closed)
		if t.tpl != nil {
			err = t.tpl.Close()
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

// strayRate bounds, per second, the 2xx responses for calls that are gone
// that the transport ends with ACK and BYE: a real one is a late fork or a
// race with a CANCEL, rare; a flood is somebody using us as a reflector.
const strayRate = 50

// sweepInterval is how often expired linger entries are dropped.
const sweepInterval = time.Second

// sweeper drops expired linger entries, on the clock, until Close.
type sweeper struct{ t *Transport }

func (w sweeper) Post(any) {
	select {
	case <-w.t.closed:
		return
	default:
	}
	w.t.linger.sweep(time.Now())
	w.t.clock.After(sweepInterval, w, nil)
}

// onMessage runs in the socket's read loop (one per UDP socket and per
// connection), in arrival order: it answers what the transport can answer
// alone and hands the rest to the owner of the Call-ID, one post each.
func (t *Transport) onMessage(msg sip.Message) {
	defer func() {
		// Nothing a peer sends may stop the server.
		if r := recover(); r != nil {
			t.log.Error("sip message handler panic", "panic", r)
		}
	}()
	if isLagProbe(msg) {
		t.answerLagProbe(msg.(*sip.Request)) // not the peers' traffic: not counted
		return
	}
	if t.opts.OnMessage != nil {
		t.opts.OnMessage("in", messageKind(msg))
	}
	if t.opts.OnTrace != nil {
		t.opts.OnTrace(msg, true)
	}
	switch m := msg.(type) {
	case *sip.Response:
		t.onResponse(m)
	case *sip.Request:
		t.onRequest(m)
	}
}

func (t *Transport) onResponse(res *sip.Response) {
	cseq, via, cid := res.CSeq(), res.Via(), res.CallID()
	if cseq == nil || via == nil || cid == nil {
		return
	}
	if cseq.MethodName == sip.INVITE && res.StatusCode >= 200 {
		if e := t.linger.lookup(responseKey(res)); e != nil {
			t.resend(e) // our ACK was lost
			return
		}
	}
	if t.orphans.claim(res) {
		return
	}
	if ep := t.owner(cid.Value()); ep != nil {
		ep.Post(res)
		return
	}
	if cseq.MethodName == sip.INVITE && res.IsSuccess() && t.ourHost(via.Host) && ToTag(res) != "" && Dialogable(res) &&
		t.strays.Allow() {
		// A 2xx for a call that is gone: its dialog must not stay up.
		// Rate-limited: anyone can send a 2xx with our Via, and each makes
		// us send an ACK and a BYE, retransmitted, to the Contact it names.
		target := res.To().Address
		t.AckAndBye(res, target)
	}
}

func (t *Transport) onRequest(req *sip.Request) {
	if req.Method != sip.ACK {
		if e := t.linger.lookup(requestKey(req)); e != nil {
			t.resend(e) // our answer was lost
			return
		}
	}
	if cid := req.CallID(); cid != nil && hasToTag(req) {
		if ep := t.owner(cid.Value()); ep != nil {
			ep.Post(req)
			return
		}
	}
	t.answerOutOfDialog(req)
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}

func (t *Transport) answerOutOfDialog(req *sip.Request) {
	if req.Method == sip.ACK {
		return // a stray ACK needs no answer
	}
	inDialog := hasToTag(req)
	switch {
	case req.Method == sip.OPTIONS:
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER"))
		t.replyStateless(req, res)
	case req.Method == sip.INVITE && !inDialog:
		t.respondStateless(req, 403, "Forbidden")
	case req.Method == sip.NOTIFY && isReferEvent(req):
		// A final NOTIFY may arrive after the dialog it reports on has ended.
		t.respondStateless(req, 200, "OK")
	case req.Method == sip.CANCEL:
		t.respondStateless(req, 481, "Call/Transaction Does Not Exist")
	case inDialog || req.Method == sip.BYE || req.Method == sip.NOTIFY:
		t.respondStateless(req, 481, "Call/Transaction Does Not Exist")
	default:
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", "OPTIONS"))
		t.replyStateless(req, res)
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

func (t *Transport) respondStateless(req *sip.Request, code int, reason string) {
	t.replyStateless(req, sip.NewResponseFromRequest(req, code, reason, nil))
}

// replyStateless answers without keeping the answer: a repeat of the
// request is answered anew, the same way.
func (t *Transport) replyStateless(req *sip.Request, res *sip.Response) {
	t.sent(res)
	d, err := replyDest(req)
	if err == nil {
		buf := encode(res)
		err = t.writeRaw(d, buf.Bytes())
		bufPool.Put(buf)
	}
	if err != nil {
		t.log.Debug("sip respond failed", "status", res.StatusCode, "error", err)
	}
}

// sent counts an outgoing message for Options.OnMessage and OnTrace.
func (t *Transport) sent(m sip.Message) {
	if t.opts.OnMessage != nil {
		t.opts.OnMessage("out", messageKind(m))
	}
	if t.opts.OnTrace != nil {
		t.opts.OnTrace(m, false)
	}
}

// messageKind is a request's method or a response's status class.
func messageKind(m sip.Message) string {
	switch m := m.(type) {
	case *sip.Request:
		switch m.Method {
		case sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.OPTIONS, sip.NOTIFY, sip.REFER, sip.INFO,
			sip.UPDATE, sip.MESSAGE, sip.SUBSCRIBE, sip.PRACK, sip.REGISTER, sip.PUBLISH:
			return string(m.Method)
		}
		return "other" // any token parses as a method: peers must not mint label values
	case *sip.Response:
		if c := m.StatusCode / 100; c >= 1 && c <= 6 {
			return statusClasses[c-1]
		}
	}
	return "other"
}

// statusClasses are the kinds of responses, written once, not per message.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}
