package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/locate"
)

// resolveTimeout bounds the DNS work of one Write (an ACK to a name).
const resolveTimeout = 10 * time.Second

// Request starts a client transaction for req. The transport chooses where
// it goes — the destination the caller set when it is an address (in-dialog
// requests, CANCEL), else the top Route or the Request-URI resolved by RFC
// 3263 — and its transport (sips: is TLS), sends it with the client of that
// transport and address family, and points our Contact at the matching
// listener. When the next hop is a name, resolution and sending go on in the
// background: the transaction returned fails over to the next target when
// one cannot be reached or sends no response at all before Timer B/F, and
// reports a failure of the last one as its Err. sipgo adds Via (and anything
// else missing); a resent request must have its old Via removed first.
func (t *Transport) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	t.sent(req)
	h, err := nextHop(req)
	if err != nil {
		return nil, err
	}
	if h.target != nil {
		return t.send(ctx, req, *h.target)
	}
	return t.failover(ctx, req, h.query), nil
}

// Write sends a request outside any transaction (ACK for a 2xx), to the
// first target when its next hop is a name.
func (t *Transport) Write(req *sip.Request) error {
	t.sent(req)
	h, err := nextHop(req)
	if err != nil {
		return err
	}
	target := h.target
	if target == nil {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		targets, err := t.resolve(ctx, h.query)
		if err != nil {
			return err
		}
		target = &targets[0]
	}
	c, err := t.prepare(req, *target)
	if err != nil {
		return err
	}
	if err := t.connect(context.Background(), *target); err != nil {
		return err
	}
	return c.WriteRequest(req)
}

// hop is where a request goes first: a target known without DNS, or the
// query that finds it.
type hop struct {
	target *locate.Target
	query  locate.Query
}

func nextHop(req *sip.Request) (hop, error) {
	u := req.Recipient
	if r := req.Route(); r != nil {
		u = r.Address
	}
	secure := isSIPS(u)
	tp := strings.ToUpper(req.MessageData.Transport())
	if tp == "" && u.UriParams != nil {
		if v, ok := u.UriParams.Get("transport"); ok {
			tp = strings.ToUpper(v)
		}
	}
	if secure && tp != "" {
		tp = "TLS" // sips over TCP is TLS; sips over UDP does not exist
	}
	switch tp {
	case "", "UDP", "TCP", "TLS":
	default:
		return hop{}, fmt.Errorf("send %s to %s: transport %q is not supported", req.Method, u.String(), tp)
	}
	host := trimBrackets(u.Host)
	known := func(a netip.AddrPort) (hop, error) {
		if tp == "" {
			tp = "UDP"
			if secure {
				tp = "TLS"
			}
		}
		if a.Port() == 0 {
			a = netip.AddrPortFrom(a.Addr(), uint16(sip.DefaultPort(tp)))
		}
		return hop{target: &locate.Target{Transport: tp, Addr: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), Name: host}}, nil
	}
	if dest, err := netip.ParseAddrPort(req.MessageData.Destination()); err == nil {
		return known(dest)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return known(netip.AddrPortFrom(a, uint16(u.Port)))
	}
	return hop{query: locate.Query{Host: host, Port: u.Port, Transport: tp, Secure: secure}}, nil
}

func isSIPS(u sip.Uri) bool { return strings.EqualFold(u.Scheme, "sips") }

// resolve finds the targets of q that this transport can send to.
func (t *Transport) resolve(ctx context.Context, q locate.Query) ([]locate.Target, error) {
	all, err := t.resolver.Resolve(ctx, q)
	if err != nil {
		return nil, err
	}
	var usable []locate.Target
	for _, tg := range all {
		if s := t.stacks[familyOf(tg.Addr.Addr())]; s != nil && s.clients[tg.Transport] != nil {
			usable = append(usable, tg)
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("resolve %s: no target this server can reach (%v)", q.Host, all)
	}
	return usable, nil
}

// prepare addresses req to target and returns the client to send it with.
func (t *Transport) prepare(req *sip.Request, tg locate.Target) (*sipgo.Client, error) {
	fam := familyOf(tg.Addr.Addr())
	s := t.stacks[fam]
	if s == nil {
		return nil, fmt.Errorf("send %s to %s: the server has no %s sockets (sip.ip_address)", req.Method, tg, fam)
	}
	c := s.clients[tg.Transport]
	if c == nil {
		return nil, fmt.Errorf("send %s to %s: SIP over TLS is off (sip.tls_port = 0)", req.Method, tg)
	}
	req.SetTransport(tg.Transport)
	req.SetDestination(tg.Addr.String())
	req.Laddr = sip.Addr{} // the UDP client sets its own; a stale one would make TCP bind it
	if ct := req.Contact(); ct != nil && ct.Address.User == contactUser && t.ourHost(ct.Address.Host) {
		scheme := "sip"
		if isSIPS(req.Recipient) || (req.Route() != nil && isSIPS(req.Route().Address)) {
			scheme = "sips" // RFC 3261 §8.1.1.8
		}
		t.setContactAddress(&ct.Address, scheme, tg.Transport, s)
	}
	return c, nil
}

// send starts req's transaction to one target.
func (t *Transport) send(ctx context.Context, req *sip.Request, tg locate.Target) (sip.ClientTransaction, error) {
	c, err := t.prepare(req, tg)
	if err != nil {
		return nil, err
	}
	if err := t.connect(ctx, tg); err != nil {
		return nil, err
	}
	return c.TransactionRequest(ctx, req)
}

// connect makes sure a TCP or TLS target has a connection.
func (t *Transport) connect(ctx context.Context, tg locate.Target) error {
	if tg.Transport == "UDP" {
		return nil
	}
	return t.conns.ensure(ctx, tg)
}

// failoverTx is the client transaction of a request whose next hop needed
// DNS: it tries the targets in turn (RFC 3263 §4.3) and shows the caller the
// responses of the one that answered.
type failoverTx struct {
	responses chan *sip.Response
	done      chan struct{}
	cancel    context.CancelFunc

	mu        sync.Mutex
	inner     sip.ClientTransaction
	err       error
	finished  bool
	onRetrans []sip.FnTxResponse
	onTerm    []sip.FnTxTerminate
}

func (t *Transport) failover(ctx context.Context, req *sip.Request, q locate.Query) *failoverTx {
	ctx, cancel := context.WithCancel(ctx)
	w := &failoverTx{responses: make(chan *sip.Response), done: make(chan struct{}), cancel: cancel}
	go w.run(ctx, t, req, q)
	return w
}

func (w *failoverTx) run(ctx context.Context, t *Transport, req *sip.Request, q locate.Query) {
	defer w.cancel()
	targets, err := t.resolve(ctx, q)
	if err != nil {
		w.finish(fmt.Errorf("%s %s: %w. %w", req.Method, req.Recipient.String(), err, sip.ErrTransactionTransport))
		return
	}
	var last error
	for i, tg := range targets {
		if ctx.Err() != nil {
			w.finish(sip.ErrTransactionTerminated)
			return
		}
		if i > 0 {
			t.log.Info("sip target failed, trying the next", "method", req.Method, "failed", targets[i-1].String(),
				"next", tg.String(), "error", last)
			req.RemoveHeader("Via") // a new transaction, with its own branch
		}
		tx, err := t.send(ctx, req, tg)
		if err != nil {
			last = fmt.Errorf("%w. %w", err, sip.ErrTransactionTransport)
			continue
		}
		if !w.attach(tx) {
			tx.Terminate()
			return
		}
		answered, err := w.forward(tx)
		if answered || !(errors.Is(err, sip.ErrTransactionTimeout) || errors.Is(err, sip.ErrTransactionTransport)) {
			w.finish(err)
			return
		}
		last = err
	}
	w.finish(last)
}

func (w *failoverTx) attach(tx sip.ClientTransaction) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return false
	}
	w.inner = tx
	for _, f := range w.onRetrans {
		tx.OnRetransmission(f)
	}
	return true
}

// forward passes tx's responses on until it ends.
func (w *failoverTx) forward(tx sip.ClientTransaction) (answered bool, err error) {
	for {
		select {
		case res := <-tx.Responses():
			answered = true
			select {
			case w.responses <- res:
			case <-w.done:
				return true, sip.ErrTransactionTerminated
			}
		case <-tx.Done():
			return answered, tx.Err()
		}
	}
}

func (w *failoverTx) finish(err error) {
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return
	}
	w.finished, w.err = true, err
	callbacks := w.onTerm
	w.mu.Unlock()
	close(w.done)
	for _, f := range callbacks {
		f("", err)
	}
}

// Responses implements sip.ClientTransaction.
func (w *failoverTx) Responses() <-chan *sip.Response { return w.responses }

// Done implements sip.Transaction.
func (w *failoverTx) Done() <-chan struct{} { return w.done }

// Err implements sip.Transaction.
func (w *failoverTx) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Terminate implements sip.Transaction.
func (w *failoverTx) Terminate() {
	w.mu.Lock()
	inner := w.inner
	w.mu.Unlock()
	if inner != nil {
		inner.Terminate()
	}
	w.cancel()
	w.finish(sip.ErrTransactionTerminated)
}

// OnRetransmission implements sip.ClientTransaction.
func (w *failoverTx) OnRetransmission(f sip.FnTxResponse) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return false
	}
	w.onRetrans = append(w.onRetrans, f)
	if w.inner != nil {
		w.inner.OnRetransmission(f)
	}
	return true
}

// OnTerminate implements sip.Transaction.
func (w *failoverTx) OnTerminate(f sip.FnTxTerminate) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return false
	}
	w.onTerm = append(w.onTerm, f)
	return true
}
