package phone

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// inDialogTimeout bounds every request the phone sends in a dialog (Timer F is 32 s).
const inDialogTimeout = 32 * time.Second

func transportOf(req *sip.Request) string {
	if req.Transport() == "TCP" || req.Transport() == "tcp" {
		return "tcp"
	}
	return "udp"
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if tag, _ := req.To().Params.Get("tag"); tag != "" {
		p.onReinvite(req, tx)
		return
	}
	b := p.behaviourFor(req)
	callID := req.CallID().Value()
	c := p.callFor(callID, transportOf(req), b, false)
	p.recordIn(c, req)

	if b.Auth != nil && !p.authorized(req, b.Auth) {
		p.setState(c, CallChallenged, 0)
		p.emit(callID, EventChallenged, 401)
		_ = p.respond(c, tx, p.challenge(req, b.Auth))
		return
	}

	ua := p.dialogUAs[c.transport]
	if ua == nil {
		ua = p.dialogUAs[p.firstTransport()]
	}
	dlg, err := ua.ReadInvite(req, tx)
	if err != nil {
		p.setState(c, CallFailed, 400)
		_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 400, err.Error(), nil))
		return
	}
	p.mu.Lock()
	c.dlg = dlg
	p.mu.Unlock()

	cancelled := make(chan struct{})
	onCancel := func(r *sip.Request) {
		// Runs inside sipgo's transaction FSM, which has already answered the CANCEL and is
		// about to send 487: record the exchange, do not touch tx here.
		p.recordIn(c, r)
		p.record(c, Out, sip.NewResponseFromRequest(r, 200, "OK", nil), 0, time.Time{}, true)
		p.record(c, Out, sip.NewResponseFromRequest(dlg.InviteRequest, 487, Reason(487), nil), 0, time.Time{}, true)
		p.setState(c, CallCancelled, 487)
		p.emit(callID, EventCancelled, 487)
		close(cancelled)
	}
	if !tx.OnCancel(onCancel) {
		return // cancelled before we got here
	}
	p.emit(callID, EventInvite, 0)

	offer := req.Body()
	hasOffer := hasSDP(offer)
	if b.Ring {
		p.emit(callID, EventRinging, 180)
		_ = p.respond(c, tx, p.response(dlg.InviteRequest, 180, nil))
	}
	if b.EarlyMedia && hasOffer {
		if body, err := c.media.answer(offer); err == nil {
			p.emit(callID, EventRinging, 183)
			_ = p.respond(c, tx, p.response(dlg.InviteRequest, 183, body))
		}
	}
	if !p.sleep(c, b.RingDelay, cancelled) {
		return
	}

	switch {
	case b.NoAnswer:
		select {
		case <-cancelled:
		case <-p.ctx.Done():
		}
	case b.RejectCode != 0:
		p.setState(c, CallRejected, b.RejectCode)
		p.emit(callID, EventRejected, b.RejectCode)
		_ = p.respond(c, tx, p.response(dlg.InviteRequest, b.RejectCode, nil))
	default:
		var body []byte
		if hasOffer {
			body, err = c.media.answer(offer)
			if err != nil {
				p.setState(c, CallRejected, 488)
				p.emit(callID, EventRejected, 488)
				_ = p.respond(c, tx, p.response(dlg.InviteRequest, 488, nil))
				return
			}
		} else {
			// RFC 3725 flow IV: no offer in the INVITE, so the 200 carries ours and the ACK the answer.
			body = c.media.offer()
		}
		res := p.response(dlg.InviteRequest, 200, body)
		dlg.InviteResponse = res // sipgo builds in-dialog requests' From from it
		p.setState(c, CallAnswered, 200)
		p.emit(callID, EventAnswered, 200)
		if !p.respond2xx(c, tx, res) {
			p.mu.Lock()
			if c.rec.State == CallAnswered {
				p.setStateLocked(c, CallFailed) // no ACK
				p.notifyLocked()
			}
			p.mu.Unlock()
			return
		}
		c.confirm.Do(func() { close(c.confirmed) })
		p.emit(callID, EventConfirmed, 0)
		if b.TalkTime > 0 {
			p.goWork(func() { p.hangUpAfter(c, b.TalkTime) })
		}
	}
}

func (p *Phone) firstTransport() string { return strings.ToLower(p.cfg.Transports[0]) }

// response builds a response to req with the phone's Contact and, when body is set, SDP.
func (p *Phone) response(req *sip.Request, code int, body []byte) *sip.Response {
	var res *sip.Response
	if body != nil {
		res = sip.NewSDPResponseFromRequest(req, body)
		res.StatusCode, res.Reason = code, Reason(code)
	} else {
		res = sip.NewResponseFromRequest(req, code, Reason(code), nil)
	}
	if code < 300 && req.Method == sip.INVITE && code > 100 {
		if ua := p.dialogUAs[transportOf(req)]; ua != nil {
			res.AppendHeader(sip.HeaderClone(&ua.ContactHDR))
		}
	}
	return res
}

// respond2xx sends a 2xx to an INVITE and, as the UAS core must (RFC 3261 §13.3.1.4),
// retransmits it over UDP until the ACK arrives; false if no ACK came within 64*T1.
func (p *Phone) respond2xx(c *call, tx sip.ServerTransaction, res *sip.Response) bool {
	cseq := res.CSeq().SeqNo
	ackc := make(chan *sip.Request, 1)
	p.mu.Lock()
	c.acks[cseq] = ackc
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(c.acks, cseq)
		if c.forget && len(c.acks) == 0 {
			p.forgetLocked(c)
		}
		p.mu.Unlock()
	}()

	if err := p.respond(c, tx, res); err != nil {
		return false
	}
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	ended := c.ctx.Done()
	for {
		select {
		case <-ackc:
			return true
		case ack := <-tx.Acks():
			p.txAck(c, ack)
			return true
		case <-retransmit.C:
			if c.transport == "udp" {
				_ = tx.Respond(res)
			}
			interval = min(2*interval, sip.T2)
			retransmit.Reset(interval)
		case <-giveUp.C:
			return false
		case <-ended:
			// A BYE right behind the ACK can be handled first (sipgo runs each message in its own
			// goroutine): give the ACK a moment to come through, without retransmitting.
			ended = nil
			retransmit.Stop()
			giveUp.Reset(sip.T1)
		case <-p.ctx.Done():
			return false
		}
	}
}

// txAck records an ACK that reached the INVITE transaction (sipgo's ACK for a 2xx reuses the
// INVITE's branch, so it matches the transaction while that lives) instead of onAck.
func (p *Phone) txAck(c *call, ack *sip.Request) {
	p.recordAnd(c, In, ack, 0, time.Time{}, false, func() {
		if c.rec.State == CallAnswered {
			c.rec.State = CallConfirmed
		}
	})
}

func (p *Phone) onAck(req *sip.Request, _ sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		return
	}
	var ackc chan *sip.Request
	p.recordAnd(c, In, req, 0, time.Time{}, false, func() {
		ackc = c.acks[req.CSeq().SeqNo]
		if ackc != nil && c.rec.State == CallAnswered {
			c.rec.State = CallConfirmed
		}
	})
	if ackc != nil {
		select {
		case ackc <- req:
		default:
		}
	}
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		_ = p.respond(nil, tx, sip.NewResponseFromRequest(req, 481, Reason(481), nil))
		return
	}
	p.recordAnd(c, In, req, 0, time.Time{}, false, func() { p.setStateLocked(c, CallEnded) })
	p.emit(c.id, EventByeReceived, 0)
	_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 200, "OK", nil))
	c.end()
}

// onCancel sees only a CANCEL that matches no INVITE transaction: sipgo answers the others.
// inDialog is the call an in-dialog request belongs to, its arrival
// recorded; nil when it belongs to none, the request answered with 481.
func (p *Phone) inDialog(req *sip.Request, tx sip.ServerTransaction) *call {
	c := p.lookup(req)
	if c == nil {
		_ = p.respond(nil, tx, sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, Reason(sip.StatusCallTransactionDoesNotExists), nil))
		return nil
	}
	p.recordIn(c, req)
	return c
}

func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c != nil {
		p.recordIn(c, req)
	}
	_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 481, Reason(481), nil))
}

func (p *Phone) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	_ = p.respond(nil, tx, sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// onNotify answers NOTIFYs in calls the phone placed (it never subscribes, so it only
// records them).
func (p *Phone) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := p.inDialog(req, tx)
	if c == nil {
		return
	}
	_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 200, "OK", nil))
}

func (p *Phone) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := p.inDialog(req, tx)
	if c == nil {
		return
	}
	p.emit(c.id, EventReinvite, 0)
	sdlg, cdlg := p.dialog(c)
	var err error
	switch {
	case sdlg != nil:
		err = sdlg.ReadRequest(req, tx)
	case cdlg != nil:
		err = cdlg.ReadRequest(req, tx)
	default:
		_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 481, Reason(481), nil))
		return
	}
	if err != nil {
		_ = p.respond(c, tx, sip.NewResponseFromRequest(req, 500, err.Error(), nil))
		return
	}
	if code := c.b.ReinviteRejectCode; code != 0 {
		_ = p.respond(c, tx, p.response(req, code, nil))
		return
	}
	var body []byte
	if offer := req.Body(); hasSDP(offer) {
		if body, err = c.media.answer(offer); err != nil {
			_ = p.respond(c, tx, p.response(req, 488, nil))
			return
		}
	} else {
		body = c.media.offer()
	}
	p.respond2xx(c, tx, p.response(req, 200, body))
}

func (p *Phone) hangUpAfter(c *call, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, inDialogTimeout)
	defer cancel()
	if err := p.Bye(ctx, c.id); err != nil {
		p.cfg.Logger.Debug("phone hang-up failed", "call_id", c.id, "error", err)
	}
}

func (p *Phone) find(callID string) (*call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.calls[callID]
	if !ok {
		return nil, fmt.Errorf("phone %s: no call %q", p.cfg.User, callID)
	}
	return c, nil
}

// Bye hangs up the call: it waits (within ctx) until the call is confirmed, then sends BYE and
// returns the response (an error for a final status other than 200).
func (p *Phone) Bye(ctx context.Context, callID string) error {
	c, err := p.find(callID)
	if err != nil {
		return err
	}
	select {
	case <-c.confirmed:
	case <-c.ctx.Done():
		return fmt.Errorf("phone %s: bye %s: call already over", p.cfg.User, callID)
	case <-ctx.Done():
		return fmt.Errorf("phone %s: bye %s: call not confirmed: %w", p.cfg.User, callID, ctx.Err())
	}
	// The call is over for the phone once it says BYE, whatever the answer.
	p.setState(c, CallEnded, 0)
	p.emit(callID, EventByeSent, 0)
	req := sip.NewRequest(sip.BYE, p.remoteTarget(c))
	res, err := p.doInDialog(ctx, c, req)
	c.end()
	if err != nil {
		return fmt.Errorf("phone %s: bye %s: %w", p.cfg.User, callID, err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("phone %s: bye %s: got %d %s", p.cfg.User, callID, res.StatusCode, res.Reason)
	}
	return nil
}

// Reinvite sends a re-INVITE in the call: with the phone's own SDP offer, or with no body
// when offerless is true (the 200's offer is then answered in the ACK). It returns the final
// response; a 2xx is ACKed.
func (p *Phone) Reinvite(ctx context.Context, callID string, offerless bool) (*sip.Response, error) {
	c, err := p.find(callID)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.confirmed:
	case <-ctx.Done():
		return nil, fmt.Errorf("phone %s: re-INVITE %s: call not confirmed: %w", p.cfg.User, callID, ctx.Err())
	}
	req := sip.NewRequest(sip.INVITE, p.remoteTarget(c))
	if !offerless {
		req.SetBody(c.media.offer())
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if ua := p.dialogUAs[c.transport]; ua != nil {
		req.AppendHeader(sip.HeaderClone(&ua.ContactHDR))
	}
	res, err := p.doInDialog(ctx, c, req)
	if err != nil {
		return nil, fmt.Errorf("phone %s: re-INVITE %s: %w", p.cfg.User, callID, err)
	}
	if !res.IsSuccess() {
		return res, nil
	}
	ack := sip.NewRequest(sip.ACK, p.remoteTarget(c))
	if offerless && hasSDP(res.Body()) {
		body, err := c.media.answer(res.Body())
		if err != nil {
			return res, fmt.Errorf("phone %s: re-INVITE %s: answer the 200's offer: %w", p.cfg.User, callID, err)
		}
		ack.SetBody(body)
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := p.writeInDialog(c, ack); err != nil {
		return res, fmt.Errorf("phone %s: re-INVITE %s: ACK: %w", p.cfg.User, callID, err)
	}
	return res, nil
}

// remoteTarget is where in-dialog requests go: the peer's Contact.
func (p *Phone) remoteTarget(c *call) sip.Uri {
	sdlg, cdlg := p.dialog(c)
	switch {
	case sdlg != nil:
		if ct := sdlg.InviteRequest.Contact(); ct != nil {
			return *ct.Address.Clone()
		}
		return *sdlg.InviteRequest.From().Address.Clone()
	case cdlg != nil:
		if ct := cdlg.InviteResponse.Contact(); ct != nil {
			return *ct.Address.Clone()
		}
		return *cdlg.InviteRequest.Recipient.Clone()
	}
	return sip.Uri{}
}

// doInDialog sends req in the call's dialog, records it and its responses, and returns the
// final response.
func (p *Phone) doInDialog(ctx context.Context, c *call, req *sip.Request) (*sip.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, inDialogTimeout)
	defer cancel()
	sdlg, cdlg := p.dialog(c)
	var tx sip.ClientTransaction
	var err error
	p.expectSend(c, req)
	c.sendMu.Lock()
	switch {
	case sdlg != nil:
		tx, err = sdlg.TransactionRequest(ctx, req)
	case cdlg != nil:
		tx, err = cdlg.TransactionRequest(ctx, req)
	default:
		err = fmt.Errorf("no dialog")
	}
	c.sendMu.Unlock()
	p.sent(c, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			p.recordIn(c, res)
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("%s transaction: %w", req.Method, tx.Err())
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", req.Method, ctx.Err())
		case <-p.ctx.Done():
			return nil, fmt.Errorf("%s: phone closed", req.Method)
		}
	}
}

// writeInDialog sends a request that has no transaction (ACK) in the call's dialog.
func (p *Phone) writeInDialog(c *call, req *sip.Request) error {
	sdlg, cdlg := p.dialog(c)
	var err error
	p.expectSend(c, req)
	defer p.sent(c, req)
	c.sendMu.Lock()
	switch {
	case sdlg != nil:
		err = sdlg.WriteRequest(req)
	case cdlg != nil:
		err = cdlg.WriteRequest(req)
	default:
		err = fmt.Errorf("no dialog")
	}
	c.sendMu.Unlock()
	return err
}
