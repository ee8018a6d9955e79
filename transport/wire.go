package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/locate"
	"github.com/clicktocall/clicktocall/transport/timing"
)

// Endpoint owns a Call-ID. The transport posts it, from the socket's read
// loop, every message in that Call-ID (*sip.Request, *sip.Response) that is
// not a retransmission the transport absorbs itself, and the events of the
// transactions it started (*TxEvent). Post must not block: it is an actor's
// mailbox.
type Endpoint = timing.Poster

// Register makes ep the owner of the dialog(s) with this Call-ID.
func (t *Transport) Register(callID string, ep Endpoint) { t.dialogs.Store(callID, ep) }

// Unregister forgets the Call-ID if ep still owns it; later requests in it
// get out-of-dialog answers.
func (t *Transport) Unregister(callID string, ep Endpoint) { t.dialogs.CompareAndDelete(callID, ep) }

func (t *Transport) owner(callID string) Endpoint {
	if ep, ok := t.dialogs.Load(callID); ok {
		return ep.(Endpoint)
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encode writes m into a pooled buffer; release it with bufPool.Put.
func encode(m sip.Message) *bytes.Buffer {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	m.StringWrite(buf)
	return buf
}

// writeRaw sends an encoded message: UDP from the listening socket of the
// destination's family, TCP and TLS on the pooled connection to it.
func (t *Transport) writeRaw(d destination, raw []byte) error {
	if d.transport == "UDP" {
		s := t.stacks[familyOf(d.addr.Addr())]
		if s == nil {
			return fmt.Errorf("send to %s: the server has no %s sockets", d.addr, familyOf(d.addr.Addr()))
		}
		if s.sender != nil {
			if handled, err := s.sender.send(raw, d.addr); handled {
				return err
			}
		}
		_, err := s.udp.(*net.UDPConn).WriteToUDPAddrPort(raw, d.addr)
		return err
	}
	conn, err := t.tpl.GetConnection(lower(d.transport), d.addr.String())
	if err != nil {
		return fmt.Errorf("send to %s %s: %w", d.transport, d.addr, err)
	}
	defer conn.TryClose() // GetConnection took a reference
	w, ok := conn.(io.Writer)
	if !ok {
		return fmt.Errorf("send to %s %s: connection cannot write", d.transport, d.addr)
	}
	_, err = w.Write(raw)
	return err
}

// targetDest is where a request to tg goes.
func targetDest(tg locate.Target) destination {
	return destination{transport: tg.Transport, addr: tg.Addr}
}

// stamp addresses req to tg: transport, destination, our Contact for that
// transport and family, and a Via of ours with a new branch unless req
// carries one already (a CANCEL or a non-2xx ACK reuses the INVITE's).
func (t *Transport) stamp(req *sip.Request, tg locate.Target) error {
	s, err := t.prepare(req, tg)
	if err != nil {
		return err
	}
	if req.Via() == nil {
		host, port := s.host, t.port
		if tg.Transport == "TLS" {
			host, port = s.tlsHost, t.tlsPort
		}
		via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: tg.Transport,
			Host: uriHost(host), Port: port, Params: sip.NewParams()}
		via.Params.Add("branch", sip.GenerateBranchN(16))
		req.PrependHeader(via)
	}
	return nil
}

// Send sends a request outside any transaction: the ACK of a 2xx. When
// its next hop is a name, resolution and sending go on in the background.
func (t *Transport) Send(req *sip.Request) error {
	t.sent(req)
	return t.send(req)
}

func (t *Transport) send(req *sip.Request) error {
	h, err := nextHop(req)
	if err != nil {
		return err
	}
	if h.target != nil && (h.target.Transport == "UDP" || t.connected(*h.target)) {
		_, err := t.sendTo(req, *h.target, false)
		return err
	}
	go func() {
		targets, err := t.locate(req, h)
		if err == nil {
			_, err = t.sendTo(req, targets[0], false)
		}
		if err != nil {
			t.log.Info("sip send failed", "method", req.Method, "error", err)
		}
	}()
	return nil
}

// SendACK sends the ACK of a 2xx and keeps it, so a retransmission of that
// 2xx (our ACK was lost) gets it again without bothering the call.
func (t *Transport) SendACK(ack *sip.Request, ok *sip.Response) error {
	t.sent(ack)
	h, err := nextHop(ack)
	if err != nil {
		return err
	}
	if h.target == nil || (h.target.Transport != "UDP" && !t.connected(*h.target)) {
		return t.send(ack)
	}
	raw, err := t.sendTo(ack, *h.target, true)
	if err == nil {
		t.linger.keep(responseKey(ok), raw, targetDest(*h.target))
	}
	return err
}

// sendTo stamps, encodes and writes req; with keep it returns a copy of the
// bytes it sent, to be sent again.
func (t *Transport) sendTo(req *sip.Request, tg locate.Target, keep bool) ([]byte, error) {
	if err := t.stamp(req, tg); err != nil {
		return nil, err
	}
	buf := encode(req)
	defer bufPool.Put(buf)
	var raw []byte
	if keep {
		raw = bytes.Clone(buf.Bytes())
	}
	return raw, t.writeRaw(targetDest(tg), buf.Bytes())
}

// connected reports whether a TCP or TLS target has a connection already.
func (t *Transport) connected(tg locate.Target) bool {
	conn, err := t.tpl.GetConnection(lower(tg.Transport), tg.Addr.String())
	if err != nil || conn == nil {
		return false
	}
	_, _ = conn.TryClose()
	return true
}

// locate resolves a hop and connects to the first target, blocking: run it
// off the actors.
func (t *Transport) locate(req *sip.Request, h hop) ([]locate.Target, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	targets := []locate.Target{}
	if h.target != nil {
		targets = append(targets, *h.target)
	} else {
		var err error
		if targets, err = t.resolve(ctx, h.query); err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.Recipient.String(), err)
		}
	}
	if err := t.connect(ctx, targets[0]); err != nil {
		return targets, err
	}
	return targets, nil
}

// Reply sends res, the answer to req, where RFC 3261 §18.2.2 and RFC 3581
// say (UDP: the source address, and the source port when Via asked with
// rport; TCP and TLS: the connection req came on), and keeps a final one
// so a retransmission of req gets it again from the transport.
func (t *Transport) Reply(req *sip.Request, res *sip.Response) error {
	t.sent(res)
	d, err := replyDest(req)
	if err != nil {
		return err
	}
	res.SetTransport(d.transport)
	res.SetDestination(d.addr.String())
	buf := encode(res)
	defer bufPool.Put(buf)
	if req.Method != sip.ACK {
		t.linger.keep(requestKey(req), buf.Bytes(), d)
	}
	return t.writeRaw(d, buf.Bytes())
}

// Respond answers req with a response built from it.
func (t *Transport) Respond(req *sip.Request, code int, reason string, body []byte, headers ...sip.Header) error {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	return t.Reply(req, res)
}

func replyDest(req *sip.Request) (destination, error) {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return destination{}, fmt.Errorf("reply to %q: %w", req.Source(), err)
	}
	tp := req.Transport()
	d := destination{transport: tp, addr: netip.AddrPortFrom(src.Addr().Unmap(), src.Port())}
	if tp != "UDP" {
		return d, nil
	}
	if v := req.Via(); v != nil {
		if rport, ok := v.Params.Get("rport"); ok && (rport == "" || rport == strconv.Itoa(int(src.Port()))) {
			return d, nil
		}
		port := v.Port
		if port == 0 {
			port = 5060
		}
		d.addr = netip.AddrPortFrom(d.addr.Addr(), uint16(port))
	}
	return d, nil
}

// resend writes a lingered message again.
func (t *Transport) resend(e *lingerEntry) {
	t.resent.Add(1)
	if err := t.writeRaw(e.dest, e.raw); err != nil {
		t.log.Debug("sip retransmission failed", "to", e.dest.addr.String(), "error", err)
	}
}

func contextFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func isTimeout(err error) bool   { return errors.Is(err, sip.ErrTransactionTimeout) }
func isTransport(err error) bool { return errors.Is(err, sip.ErrTransactionTransport) }

// transportError marks err as a transport failure of a transaction.
func transportError(err error) error { return fmt.Errorf("%w. %w", err, sip.ErrTransactionTransport) }

// Drain waits until the transactions handed over by calls that ended
// (CANCELs, BYEs) have finished, or ctx ends.
func (t *Transport) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { t.orphans.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d SIP clean-ups still running: %w", t.orphans.pending(), ctx.Err())
	}
}

// Do sends req in a transaction of its own and waits for the final
// response: for tools and tests; calls run their transactions as actors.
func (t *Transport) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	ep := make(chanEndpoint, 16)
	t.complete(req)
	cid := req.CallID()
	t.Register(cid.Value(), ep)
	defer t.Unregister(cid.Value(), ep)
	tx, err := t.StartTx(ep, req)
	if err != nil {
		return nil, err
	}
	defer tx.Stop()
	for {
		var upd TxUpdate
		select {
		case m := <-ep:
			switch m := m.(type) {
			case *sip.Response:
				if tx.Matches(m) {
					upd = tx.OnResponse(m)
				}
			case *TxEvent:
				upd = m.Tx.OnEvent(m)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if upd.Err != nil {
			return nil, upd.Err
		}
		if upd.Res != nil && !upd.Res.IsProvisional() {
			return upd.Res, nil
		}
	}
}

type chanEndpoint chan any

func (c chanEndpoint) Post(m any) {
	select {
	case c <- m:
	default:
	}
}

// ResendResponse sends a response again, where Reply sent it (our 2xx to a
// re-INVITE, until its ACK comes).
func (t *Transport) ResendResponse(res *sip.Response) error {
	t.resent.Add(1)
	d, err := responseDest(res)
	if err != nil {
		return err
	}
	buf := encode(res)
	defer bufPool.Put(buf)
	return t.writeRaw(d, buf.Bytes())
}

func responseDest(res *sip.Response) (destination, error) {
	a, err := netip.ParseAddrPort(res.Destination())
	if err != nil {
		return destination{}, fmt.Errorf("resend to %q: %w", res.Destination(), err)
	}
	return destination{transport: res.Transport(), addr: a}, nil
}

// complete adds what a request needs and lacks (RFC 3261 §8.1.1): From
// (our identity on this host, with a tag), To (the Request-URI), Call-ID,
// CSeq and Max-Forwards.
func (t *Transport) complete(req *sip.Request) {
	if req.From() == nil {
		from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: contactUser, Host: uriHost(t.Host())}, Params: sip.NewParams()}
		from.Params.Add("tag", sip.GenerateTagN(16))
		req.AppendHeader(from)
	}
	if req.To() == nil {
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: req.Recipient.Scheme, User: req.Recipient.User,
			Host: req.Recipient.Host, Port: req.Recipient.Port}})
	}
	if req.CallID() == nil {
		cid := sip.CallIDHeader(t.NewCallID())
		req.AppendHeader(&cid)
	}
	if req.CSeq() == nil {
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: req.Method})
	}
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	if req.Body() == nil {
		req.SetBody(nil)
	}
}
