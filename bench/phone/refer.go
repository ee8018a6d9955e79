package phone

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func (p *Phone) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c := p.inDialog(req, tx)
	if c == nil {
		return
	}
	sdlg, _ := p.dialog(c)
	if sdlg == nil {
		_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 481, Reason(481), nil))
		return
	}
	if err := sdlg.ReadRequest(req, tx); err != nil {
		_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 500, err.Error(), nil))
		return
	}
	rb := c.b.Refer
	switch rb.Mode {
	case ReferIgnore:
		return // sipgo drops the transaction; retransmissions are recorded and ignored too
	case ReferReject:
		res := sip.NewResponseFromRequest(req, rb.rejectCode(), Reason(rb.rejectCode()), nil)
		if rb.rejectCode() == 405 {
			res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
		}
		p.emit(c.id, EventReferRejected, rb.rejectCode())
		_ = p.respond(c, tx, res)
		return
	}
	target, err := referTarget(req)
	if err != nil {
		_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 400, err.Error(), nil))
		return
	}
	p.emit(c.id, EventReferAccepted, 202)
	_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 202, Reason(202), nil))
	if rb.Mode == ReferAcceptSilent {
		return
	}
	n := &notifier{p: p, c: c, b: rb, event: "refer"}
	if rb.EventID {
		n.event += ";id=" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
	}
	p.goWork(func() {
		if rb.Dial {
			p.dial(c, req, target, n)
			return
		}
		if !n.send(100, false) {
			return
		}
		if rb.Ringing && !n.send(180, false) {
			return
		}
		n.send(rb.finalCode(), true)
	})
}

func referTarget(req *sip.Request) (sip.Uri, error) {
	h := req.GetHeader("Refer-To")
	if h == nil {
		return sip.Uri{}, fmt.Errorf("REFER without Refer-To")
	}
	var uri sip.Uri
	if _, err := sip.ParseAddressValue(h.Value(), &uri, nil); err != nil {
		return sip.Uri{}, fmt.Errorf("bad Refer-To %q: %w", h.Value(), err)
	}
	return uri, nil
}

// notifier sends the implicit subscription's NOTIFYs (RFC 3515 §2.4.4) in one call. It keeps
// going after the dialog ends, as real phones do: a final NOTIFY may follow the BYE.
type notifier struct {
	p     *Phone
	c     *call
	b     ReferBehaviour
	event string
}

// send NOTIFYs a sipfrag with this status; false when the phone closed or the NOTIFY failed.
func (n *notifier) send(code int, last bool) bool {
	delay := n.b.NotifyDelay
	if last {
		delay += n.b.FinalNotifyDelay
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-n.p.ctx.Done():
			return false
		}
	}
	state := "active;expires=60"
	if last {
		state = "terminated;reason=noresource"
	}
	req := sip.NewRequest(sip.NOTIFY, n.p.remoteTarget(n.c))
	req.AppendHeader(sip.NewHeader("Event", n.event))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, Reason(code))))
	n.p.emit(n.c.id, EventNotifySent, code)
	res, err := n.p.doInDialog(n.p.ctx, n.c, req)
	if err != nil {
		n.p.cfg.Logger.Debug("phone NOTIFY failed", "call_id", n.c.id, "error", err)
		return false
	}
	return res.IsSuccess()
}

// dial follows a REFER for real: it INVITEs the target with an offer and NOTIFYs each
// response's status line. The new call is recorded as an outgoing call of this phone.
func (p *Phone) dial(referCall *call, refer *sip.Request, target sip.Uri, n *notifier) {
	if !n.send(100, false) {
		return
	}
	tp := "udp"
	if t, ok := target.UriParams.Get("transport"); ok && t != "" {
		tp = t
	}
	ua := p.dialogUAs[tp]
	if ua == nil {
		ua = &sipgo.DialogUA{Client: p.client, ContactHDR: p.dialogUAs[p.firstTransport()].ContactHDR}
	}
	target.Headers = nil // Refer-To may carry ?Replaces=...; not for the Request-URI
	invite := sip.NewRequest(sip.INVITE, target)
	invite.SetTransport(tp)
	m := &media{host: p.cfg.Host, port: p.allocPort(), session: uint64(time.Now().UnixNano())}
	invite.SetBody(m.offer())
	invite.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if rb := refer.GetHeader("Referred-By"); rb != nil {
		invite.AppendHeader(sip.NewHeader("Referred-By", rb.Value()))
	}

	callID := sip.CallIDHeader(sip.GenerateTagN(32))
	invite.AppendHeader(&callID)

	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Minute)
	defer cancel()
	c := p.callFor(string(callID), tp, Behaviour{}, true)
	c.media = m
	p.expectSend(c, invite)
	dcs, err := ua.WriteInvite(ctx, invite)
	p.sent(c, invite)
	if err != nil {
		p.setState(c, CallFailed, 503)
		c.end()
		n.send(503, true)
		return
	}
	p.mu.Lock()
	c.out = dcs
	p.mu.Unlock()

	rang := false
	err = dcs.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		p.recordIn(c, res)
		if (res.StatusCode == 180 || res.StatusCode == 183) && !rang {
			rang = true
			n.send(180, false)
		}
		return nil
	}})
	final := dcs.InviteResponse
	if err != nil || final == nil || !final.IsSuccess() {
		code := 408
		if final != nil && final.StatusCode >= 300 {
			code = final.StatusCode
		}
		p.setState(c, CallRejected, code)
		c.end()
		n.send(code, true)
		return
	}
	p.setState(c, CallConfirmed, final.StatusCode)
	ack := sip.NewRequest(sip.ACK, p.remoteTarget(c))
	p.expectSend(c, ack)
	if err := dcs.WriteAck(ctx, ack); err != nil {
		p.cfg.Logger.Debug("phone ACK failed", "call_id", c.id, "error", err)
	}
	p.sent(c, ack)
	c.confirm.Do(func() { close(c.confirmed) })
	n.send(final.StatusCode, true)
}

func (p *Phone) allocPort() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocPortLocked()
}

// allocPortLocked hands out the RTP port each call announces (nothing listens on it).
func (p *Phone) allocPortLocked() int {
	port := p.nextPort
	p.nextPort += 2
	if p.nextPort >= 60000 {
		p.nextPort = 40000
	}
	return port
}
