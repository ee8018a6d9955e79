package actors

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/clicktocall/clicktocall/transport"
	"github.com/clicktocall/clicktocall/transport/rfc3261"
	"github.com/clicktocall/clicktocall/transport/timing"
)

// legSpec is everything a leg needs to call its phone.
type legSpec struct {
	role        Leg
	callID      string // SIP Call-ID of this leg
	target      sip.Uri
	from        sip.FromHeader
	offer       []byte // nil: an offerless INVITE (the 2xx brings the offer)
	headers     []sip.Header
	ringTimeout time.Duration
	username    string
	password    string
	proxy       *sip.Uri
	tr          *transport.Transport
	clock       timing.Clock
	log         *slog.Logger
}

// legPhase is where a leg's INVITE and dialog stand:
//
//	phase           entered when                          left for
//	phaseCalling    the INVITE is sent (calling)          phaseEarly (1xx), phaseConfirmed (2xx),
//	                                                      phaseEnded (a final >= 300, Timer B, a transport error,
//	                                                      legHangup: CANCEL handed to the transport)
//	phaseEarly      a provisional came: CANCEL allowed    phaseConfirmed (2xx), phaseEnded (as from phaseCalling)
//	phaseConfirmed  a 2xx made the dialog (dialog, ok);   phaseEnding (legHangup: BYE sent),
//	                REFER (transfer), re-INVITEs each way phaseEnded (the phone's BYE)
//	                (ours, peer) and their 2xx
//	                retransmissions run here
//	phaseEnding     our BYE is out (byeTx)                phaseEnded (its answer, or none in 64*T1)
//	phaseEnded      the leg reported legFailed or         (stops with its supervisor)
//	                legEnded, once (reported)
//
// A second 2xx in phaseConfirmed or later is a fork and gets ACK and BYE; a
// command for a phase that has passed (a REFER without a dialog, a
// re-INVITE while one is pending) is answered at once (481, 491), in one
// place, outOfPhase; whatever is under way when the actor stops is
// finished by abandon.
type legPhase int

const (
	phaseCalling   legPhase = iota // INVITE sent, nothing heard
	phaseEarly                     // a provisional arrived: CANCEL is possible
	phaseConfirmed                 // 2xx received (and ACKed, or waiting for the answer to ACK with)
	phaseEnding                    // BYE sent
	phaseEnded
)

// Commands a CallSupervisor sends to its legs.
type (
	legHangup struct { // CANCEL or BYE; code > 0 adds a Reason header
		code int
		text string
	}
	legRefer     struct{ target, referredBy string }
	legReInvite  struct{ body []byte } // offer or nil (offerless)
	legAck       struct{ body []byte } // ACK the offerless INVITE's 2xx with this answer
	legAckReInv  struct{ body []byte } // ACK our offerless re-INVITE's 2xx with this answer
	legAnswerReq struct {              // answer the peer's re-INVITE
		code int
		body []byte
	}
)

// crashLeg makes a leg (or, with LegNone, the supervisor) panic: fault
// injection for the tests that prove a crash still ends in one final result
// and a torn-down call.
type crashLeg struct{ role Leg }

// Events a leg sends to its CallSupervisor.
type (
	legRinging struct{ role Leg }
	inviteSent struct {
		role Leg
		at   time.Time
	}
	legAnswered struct {
		role Leg
		body []byte
	}
	legFailed struct {
		role   Leg
		ending Ending
		code   int // the phone's final status, for the endings that carry it
	} // the INVITE ended without a dialog
	legEnded struct {
		role   Leg
		remote bool
	}
	// referAnswered is the final response to our REFER (0: none came).
	referAnswered struct{ code int }
	referNotify   struct {
		code  int
		final bool
	}
	reInviteAnswered struct {
		role Leg
		code int
		body []byte
	}
	remoteReInvite struct {
		role Leg
		body []byte
	}
	// remoteAck is the ACK of the peer's re-INVITE; after an offerless
	// re-INVITE it carries the peer's answer.
	remoteAck struct {
		role Leg
		body []byte
	}
)

// Timer messages a leg posts itself through the clock.
type (
	ringTimedOut struct{}
	// resendOK retransmits our 2xx to the peer's re-INVITE until its ACK
	// comes (RFC 3261 §13.3.1.4).
	resendOK struct{ gen int }
)

// mailbox posts to an actor from other goroutines: the transport's read
// loops and the timing wheel. It is the actors' transport.Endpoint.
type mailbox struct {
	root *actor.RootContext
	pid  *actor.PID
}

func (m *mailbox) Post(msg any) { m.root.Send(m.pid, msg) }

func newMailbox(ctx actor.Context) *mailbox {
	return &mailbox{root: ctx.ActorSystem().Root, pid: ctx.Self()}
}

// legActor owns one call leg: its INVITE transaction and the dialog it
// creates, and every transaction in that dialog, as plain state
// (transport.ClientTx) fed by the messages the transport posts to its
// mailbox. It is also the dialog actor; forked extra dialogs are ended at once.
type legActor struct {
	spec     legSpec
	self     *mailbox
	phase    legPhase
	invite   *sip.Request // the INVITE as last sent: its CSeq and target serve the dialog's ACK
	reported bool         // legFailed or legEnded sent

	calling callingState // phaseCalling, phaseEarly

	// phaseConfirmed: the dialog and the transactions in it.
	dialog   *transport.Dialog
	ok       *sip.Response // the 2xx that made the dialog
	acked    bool          // its ACK is sent
	transfer referState
	ours     ourReInvite
	peer     peerReInvite

	byeTx *transport.ClientTx // phaseEnding
}

// callingState is the INVITE transaction's data, until a final response.
type callingState struct {
	tx       *transport.ClientTx
	authDone bool // the INVITE was resent with credentials once
	timedOut bool // ring_timeout passed: the CANCEL's ending is EndTimeout
	ring     *timing.Timer
}

// referState is our REFER's.
type referState struct {
	tx   *transport.ClientTx
	cseq uint32 // its NOTIFYs carry it as Event id
}

// ourReInvite is the re-INVITE we send (the set-up's or a relayed one).
type ourReInvite struct {
	tx         *transport.ClientTx // in flight
	offerless  bool
	ackPending *sip.Response // an offerless re-INVITE's 2xx: its ACK waits for the answer
}

// peerReInvite is the phone's re-INVITE, relayed to the other phone.
type peerReInvite struct {
	req         *sip.Request  // waiting for our answer
	ok          *sip.Response // our 2xx to it, retransmitted until its ACK
	awaitingAck bool
	gen         int
	interval    time.Duration
	timer       *timing.Timer
	deadline    time.Time
}

func newLeg(spec legSpec) actor.Producer {
	return func() actor.Actor { return &legActor{spec: spec} }
}

func (l *legActor) Receive(ctx actor.Context) {
	if l.outOfPhase(ctx, ctx.Message()) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.self = newMailbox(ctx)
		l.spec.tr.Register(l.spec.callID, l.self)
		l.start(ctx)
	case *actor.Stopping:
		l.abandon()
	case *actor.Stopped:
		l.spec.tr.Unregister(l.spec.callID, l.self)
	case *sip.Response:
		l.onResponse(ctx, m)
	case *sip.Request:
		l.onRequest(ctx, m)
	case *transport.TxEvent:
		if l.owns(m.Tx) { // not one handed to the transport since (Abandon)
			l.onTxUpdate(ctx, m.Tx, m.Tx.OnEvent(m))
		}
	case ringTimedOut:
		l.calling.timedOut = true
		l.end(ctx, &legHangup{})
	case resendOK:
		l.resendOK(m.gen)
	case *legHangup:
		l.end(ctx, m)
	case crashLeg:
		panic("injected fault: " + l.spec.role.String() + " leg")
	case *legRefer:
		l.refer(ctx, m)
	case *legReInvite:
		l.reInvite(ctx, m.body)
	case *legAck:
		l.ack(m.body)
	case *legAckReInv:
		l.sendACK(l.dialog.ACK(l.ours.ackPending.CSeq().SeqNo, m.body), l.ours.ackPending)
		l.ours.ackPending = nil
	case *legAnswerReq:
		l.answerPeerReInvite(m)
	}
}

// outOfPhase is the one place for a command from the supervisor (or the
// leg's own ring timer) that the leg's phase, or the transaction under way
// in it, cannot take: it answers it as the table at the top of the file
// says and reports true, and Receive drops it. SIP requests from the phone
// are judged per method in onRequest, where the answer depends on the
// request as well.
func (l *legActor) outOfPhase(ctx actor.Context, msg any) bool {
	switch msg.(type) {
	case ringTimedOut:
		return l.phase >= phaseConfirmed // answered, or already ending
	case *legRefer:
		if l.phase != phaseConfirmed {
			ctx.Send(ctx.Parent(), &referAnswered{code: sip.StatusCallTransactionDoesNotExists})
			return true
		}
	case *legReInvite:
		if l.phase != phaseConfirmed || l.ours.tx != nil || l.peer.req != nil {
			// RFC 3261 14.1: no INVITE while one is in progress either way.
			ctx.Send(ctx.Parent(), &reInviteAnswered{role: l.spec.role, code: sip.StatusRequestPending})
			return true
		}
	case *legAckReInv:
		return l.ours.ackPending == nil || l.dialog == nil
	case *legAnswerReq:
		return l.peer.req == nil
	}
	return false
}

func (l *legActor) start(ctx actor.Context) {
	s := l.spec
	req := sip.NewRequest(sip.INVITE, s.target)
	req.AppendHeader(&s.from)
	to := &sip.ToHeader{Address: sip.Uri{Scheme: s.target.Scheme, User: s.target.User, Host: s.target.Host, Port: s.target.Port}}
	req.AppendHeader(to)
	callID := sip.CallIDHeader(s.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	if s.proxy != nil {
		req.AppendHeader(&sip.RouteHeader{Address: *s.proxy})
	}
	req.AppendHeader(s.tr.Contact(req.Transport()))
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER"))
	for _, h := range s.headers {
		req.AppendHeader(h)
	}
	transport.SetSDP(req, s.offer)
	l.invite = req
	if s.ringTimeout > 0 {
		l.calling.ring = s.clock.After(s.ringTimeout, l.self, ringTimedOut{})
	}
	l.sendInvite(ctx)
}

// sendInvite starts the INVITE transaction.
func (l *legActor) sendInvite(ctx actor.Context) {
	tx, err := l.spec.tr.StartTx(l.self, l.invite)
	if err != nil {
		l.spec.log.Warn("invite failed", "leg", l.spec.role.String(), "error", err)
		l.calling.tx = nil
		l.onInviteDone(ctx, err)
		return
	}
	l.calling.tx = tx
	if !l.calling.authDone {
		ctx.Send(ctx.Parent(), &inviteSent{role: l.spec.role, at: time.Now()})
	}
}

// startTx starts an in-dialog request; nil when it could not be sent.
func (l *legActor) startTx(req *sip.Request) *transport.ClientTx {
	tx, err := l.spec.tr.StartTx(l.self, req)
	if err != nil {
		l.spec.log.Info("request failed", "leg", l.spec.role.String(), "method", req.Method, "error", err)
		return nil
	}
	return tx
}

// onResponse hands a response to the transaction it answers. A 2xx to an
// INVITE that answers none of ours any more is a retransmission or another
// fork's.
func (l *legActor) onResponse(ctx actor.Context, res *sip.Response) {
	for _, tx := range []*transport.ClientTx{l.calling.tx, l.ours.tx, l.transfer.tx, l.byeTx} {
		if tx != nil && tx.Matches(res) {
			l.onTxUpdate(ctx, tx, tx.OnResponse(res))
			return
		}
	}
	if cseq := res.CSeq(); cseq != nil && cseq.MethodName == sip.INVITE && res.IsSuccess() {
		l.onStray2xx(res)
	}
}

// onStray2xx: a 2xx that matches no transaction of ours still running.
func (l *legActor) onStray2xx(res *sip.Response) {
	cseq := res.CSeq().SeqNo
	switch {
	case l.invite != nil && cseq == l.invite.CSeq().SeqNo:
		if l.dialog != nil && transport.ToTag(res) == l.dialog.RemoteTag() {
			return // our dialog's 2xx again, before we could ACK it
		}
		l.spec.tr.AckAndBye(res, l.invite.Recipient) // another fork
	case l.ours.ackPending != nil && cseq == l.ours.ackPending.CSeq().SeqNo:
		// Our re-INVITE's 2xx again: its ACK waits for the other phone's answer.
	default:
		l.spec.tr.AckAndBye(res, l.invite.Recipient)
	}
}

func (l *legActor) onTxUpdate(ctx actor.Context, tx *transport.ClientTx, upd transport.TxUpdate) {
	if upd.Res == nil && upd.Err == nil {
		return
	}
	switch tx {
	case l.calling.tx:
		if upd.Res != nil {
			l.onInviteResponse(ctx, upd.Res)
		} else {
			l.onInviteDone(ctx, upd.Err)
		}
	case l.ours.tx:
		if upd.Done {
			l.onReInviteDone(ctx, upd.Res)
		}
	case l.transfer.tx:
		if upd.Done {
			l.transfer.tx = nil
			ctx.Send(ctx.Parent(), &referAnswered{code: finalCode(upd.Res)})
		}
	case l.byeTx:
		if upd.Done {
			l.byeTx = nil
			l.phase = phaseEnded
			l.report(ctx, &legEnded{role: l.spec.role})
		}
	}
}

// owns reports whether tx is one of the leg's transactions still running.
func (l *legActor) owns(tx *transport.ClientTx) bool {
	return tx != nil && (tx == l.calling.tx || tx == l.ours.tx || tx == l.transfer.tx || tx == l.byeTx)
}

// finalCode is the status of a final response, 408 when none came.
func finalCode(res *sip.Response) int {
	if res == nil {
		return sip.StatusRequestTimeout
	}
	return res.StatusCode
}

func (l *legActor) onInviteResponse(ctx actor.Context, res *sip.Response) {
	switch {
	case res.IsProvisional():
		if l.phase == phaseCalling {
			l.phase = phaseEarly
		}
		if res.StatusCode >= sip.StatusRinging && l.phase == phaseEarly {
			ctx.Send(ctx.Parent(), &legRinging{role: l.spec.role})
		}
	case res.IsSuccess():
		if !transport.Dialogable(res) {
			return // malformed: no dialog can be built from it
		}
		l.stopRing()
		if l.dialog != nil && transport.ToTag(res) == l.dialog.RemoteTag() {
			return // a retransmission of our dialog's 2xx, not yet ACKed
		}
		if l.phase >= phaseConfirmed {
			l.spec.tr.AckAndBye(res, l.invite.Recipient) // a fork
			return
		}
		l.phase = phaseConfirmed
		l.dialog = transport.NewDialog(res, l.invite.Recipient)
		l.ok = res
		if l.spec.offer != nil {
			l.ack(nil) // the offer was in the INVITE: this ACK has no body
		}
		ctx.Send(ctx.Parent(), &legAnswered{role: l.spec.role, body: res.Body()})
	default:
		if l.phase >= phaseConfirmed {
			return
		}
		if l.retryWithCredentials(ctx, res) {
			return
		}
		l.stopRing()
		l.phase = phaseEnded
		l.report(ctx, &legFailed{role: l.spec.role, ending: PhoneFailure(res.StatusCode), code: res.StatusCode})
	}
}

// cancelEnding is the ending of an INVITE we ended ourselves.
func (l *legActor) cancelEnding() Ending {
	if l.calling.timedOut {
		return EndTimeout
	}
	return EndCancelled
}

// onInviteDone: the INVITE transaction ended with no final response, no
// answer (Timer B) or a transport error.
func (l *legActor) onInviteDone(ctx actor.Context, err error) {
	if l.phase >= phaseConfirmed {
		return
	}
	l.stopRing()
	l.phase = phaseEnded
	ending := EndTimeout
	if err != nil && !errors.Is(err, sip.ErrTransactionTimeout) {
		ending = EndTransportError
		l.spec.log.Info("invite transaction failed", "leg", l.spec.role.String(), "error", err)
	}
	l.report(ctx, &legFailed{role: l.spec.role, ending: ending})
}

// retryWithCredentials answers a 401/407 challenge once, when credentials
// are configured.
func (l *legActor) retryWithCredentials(ctx actor.Context, res *sip.Response) bool {
	if l.calling.authDone || l.spec.password == "" || (res.StatusCode != sip.StatusUnauthorized && res.StatusCode != sip.StatusProxyAuthRequired) {
		return false
	}
	challengeHdr, authHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		challengeHdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(challengeHdr)
	if h == nil {
		return false
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		l.spec.log.Info("bad digest challenge", "leg", l.spec.role.String(), "error", err)
		return false
	}
	// The digest uri is the whole Request-URI, parameters included (RFC 3261 22.4).
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: l.invite.Recipient.String(),
		Username: l.spec.username, Password: l.spec.password})
	if err != nil {
		return false
	}
	l.calling.authDone = true
	req := l.invite.Clone()
	req.RemoveHeader("Via")
	req.RemoveHeader(authHdr)
	req.AppendHeader(sip.NewHeader(authHdr, cred.String()))
	req.CSeq().SeqNo++
	l.invite = req
	l.phase = phaseCalling
	l.sendInvite(ctx)
	return true
}

func (l *legActor) stopRing() {
	l.calling.ring.Stop()
	l.calling.ring = nil
}

// ack acknowledges the INVITE's 2xx, with the answer when the INVITE had no offer.
func (l *legActor) ack(body []byte) {
	if l.dialog == nil || l.acked {
		return
	}
	l.acked = true
	l.sendACK(l.dialog.ACK(l.invite.CSeq().SeqNo, body), l.ok)
}

func (l *legActor) sendACK(ack *sip.Request, ok *sip.Response) {
	if err := l.spec.tr.SendACK(ack, ok); err != nil {
		l.spec.log.Warn("ack failed", "leg", l.spec.role.String(), "error", err)
	}
}

// end ends the leg whatever its phase: CANCEL before a dialog, BYE after.
func (l *legActor) end(ctx actor.Context, h *legHangup) {
	l.stopRing()
	switch l.phase {
	case phaseCalling, phaseEarly:
		// The result is known now. CANCEL must wait for a provisional (RFC
		// 3261 §9.1), which may never come; the transport sends it when it
		// may, and ACKs (and BYEs) whatever answer comes.
		l.spec.tr.Abandon(l.calling.tx, nil)
		l.calling.tx = nil
		l.phase = phaseEnded
		l.report(ctx, &legFailed{role: l.spec.role, ending: l.cancelEnding()})
	case phaseConfirmed:
		l.ack(nil) // a 2xx must be ACKed before its dialog can be ended
		l.phase = phaseEnding
		bye := l.dialog.Request(sip.BYE, nil)
		if h.code > 0 {
			bye.AppendHeader(transport.ReasonHeader(h.code, h.text))
		}
		if l.byeTx = l.startTx(bye); l.byeTx == nil {
			l.phase = phaseEnded
			l.report(ctx, &legEnded{role: l.spec.role})
		}
	}
}

func (l *legActor) refer(ctx actor.Context, m *legRefer) {
	req := l.dialog.Request(sip.REFER, l.spec.tr.Contact(l.dialog.Transport()))
	l.transfer.cseq = req.CSeq().SeqNo
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+m.target+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+m.referredBy+">"))
	if l.transfer.tx = l.startTx(req); l.transfer.tx == nil {
		ctx.Send(ctx.Parent(), &referAnswered{code: sip.StatusRequestTimeout})
	}
}

func (l *legActor) reInvite(ctx actor.Context, body []byte) {
	req := l.dialog.Request(sip.INVITE, l.spec.tr.Contact(l.dialog.Transport()))
	transport.SetSDP(req, body)
	l.ours.offerless = len(body) == 0
	if l.ours.tx = l.startTx(req); l.ours.tx == nil {
		ctx.Send(ctx.Parent(), &reInviteAnswered{role: l.spec.role, code: sip.StatusRequestTimeout})
	}
}

func (l *legActor) onReInviteDone(ctx actor.Context, res *sip.Response) {
	tx := l.ours.tx
	l.ours.tx = nil
	var body []byte
	if res != nil {
		body = res.Body()
	}
	if res != nil && res.IsSuccess() && l.dialog != nil {
		if l.ours.offerless && len(body) > 0 {
			// The 2xx carries an offer: its ACK must carry the answer,
			// which comes from the other phone.
			l.ours.ackPending = res
		} else {
			l.sendACK(l.dialog.ACK(tx.Req.CSeq().SeqNo, nil), res)
		}
	}
	if l.phase == phaseConfirmed {
		ctx.Send(ctx.Parent(), &reInviteAnswered{role: l.spec.role, code: finalCode(res), body: body})
	}
}

func (l *legActor) respond(req *sip.Request, code int, reason string, body []byte) {
	var headers []sip.Header
	if len(body) > 0 {
		headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"), l.spec.tr.ContactFor(req))
	}
	if err := l.spec.tr.Respond(req, code, reason, body, headers...); err != nil {
		l.spec.log.Debug("respond failed", "leg", l.spec.role.String(), "status", code, "error", err)
	}
}

func (l *legActor) onRequest(ctx actor.Context, req *sip.Request) {
	if l.dialog == nil {
		switch req.Method {
		case sip.ACK:
		case sip.NOTIFY:
			l.respond(req, sip.StatusOK, "OK", nil) // a NOTIFY for a dialog we already gave up
		default:
			l.respond(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		}
		return
	}
	switch req.Method {
	case sip.BYE:
		l.respond(req, sip.StatusOK, "OK", nil)
		if l.phase < phaseEnded {
			l.phase = phaseEnded
			if p := l.peer.req; p != nil {
				// RFC 3261 15.1.2: a BYE ends the pending re-INVITE with 487.
				l.respond(p, sip.StatusRequestTerminated, "Request Terminated", nil)
				l.peer.req = nil
			}
			l.report(ctx, &legEnded{role: l.spec.role, remote: true})
		}
	case sip.NOTIFY:
		if !l.ownsReferNotify(req) {
			// RFC 6665 §4.1.3: a NOTIFY for a subscription we do not have.
			l.respond(req, sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist", nil)
			return
		}
		l.respond(req, sip.StatusOK, "OK", nil)
		code, err := parseSipfrag(req.Body())
		if err != nil {
			l.spec.log.Info("notify without a sipfrag status", "error", err)
			return
		}
		ctx.Send(ctx.Parent(), &referNotify{code: code, final: !rfc3261.Provisional(code)})
	case sip.INVITE:
		if l.peer.req != nil && transport.BranchOf(l.peer.req) == transport.BranchOf(req) {
			return // a retransmission of the re-INVITE we are answering
		}
		if l.phase != phaseConfirmed || l.peer.req != nil || l.ours.tx != nil {
			l.respond(req, sip.StatusRequestPending, "Request Pending", nil)
			return
		}
		l.peer.req = req
		ctx.Send(ctx.Parent(), &remoteReInvite{role: l.spec.role, body: req.Body()})
	case sip.CANCEL:
		if l.peer.req == nil || transport.BranchOf(l.peer.req) != transport.BranchOf(req) {
			l.respond(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
			return
		}
		l.respond(req, sip.StatusOK, "OK", nil)
		l.respond(l.peer.req, sip.StatusRequestTerminated, "Request Terminated", nil)
		l.peer.req = nil
	case sip.ACK:
		if l.peer.awaitingAck && l.peer.ok != nil && req.CSeq() != nil && req.CSeq().SeqNo == l.peer.ok.CSeq().SeqNo {
			l.peer.awaitingAck = false
			l.peer.ok = nil
			l.peer.timer.Stop()
			l.peer.timer = nil
			ctx.Send(ctx.Parent(), &remoteAck{role: l.spec.role, body: req.Body()})
		}
	case sip.INFO, sip.OPTIONS:
		l.respond(req, sip.StatusOK, "OK", nil)
	default:
		l.respond(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
	}
}

// ownsReferNotify reports whether a NOTIFY belongs to the implicit
// subscription of our REFER (RFC 3515): Event "refer", and when it carries
// an id, the id is our REFER's CSeq.
func (l *legActor) ownsReferNotify(req *sip.Request) bool {
	ev := req.GetHeader("Event")
	if l.transfer.cseq == 0 || ev == nil {
		return false
	}
	parts := strings.Split(ev.Value(), ";")
	if !strings.EqualFold(strings.TrimSpace(parts[0]), "refer") {
		return false
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "id") && strings.TrimSpace(v) != strconv.FormatUint(uint64(l.transfer.cseq), 10) {
			return false
		}
	}
	return true
}

func (l *legActor) answerPeerReInvite(m *legAnswerReq) {
	p := l.peer.req
	l.peer.req = nil
	reason := "OK"
	if rfc3261.Failure(m.code) {
		reason = "Not Accepted"
	}
	res := sip.NewResponseFromRequest(p, m.code, reason, m.body)
	if len(m.body) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if !rfc3261.Failure(m.code) {
		res.AppendHeader(l.spec.tr.ContactFor(p))
	}
	if err := l.spec.tr.Reply(p, res); err != nil {
		l.spec.log.Debug("respond failed", "leg", l.spec.role.String(), "status", m.code, "error", err)
	}
	l.peer.awaitingAck = !rfc3261.Failure(m.code)
	if l.peer.awaitingAck {
		l.peer.ok = res
		l.pendingOK(p)
	}
}

// pendingOK starts retransmitting our 2xx to the peer's re-INVITE over UDP,
// T1 doubling to T2, until the ACK comes or 64*T1 pass.
func (l *legActor) pendingOK(req *sip.Request) {
	if req.Transport() != "UDP" {
		return
	}
	l.peer.gen++
	l.peer.interval = sip.T1
	l.peer.deadline = time.Now().Add(rfc3261.Timer64T1Now())
	l.peer.timer = l.spec.clock.After(l.peer.interval, l.self, resendOK{gen: l.peer.gen})
}

func (l *legActor) resendOK(gen int) {
	if gen != l.peer.gen || !l.peer.awaitingAck || l.peer.ok == nil {
		return
	}
	if time.Now().After(l.peer.deadline) {
		l.peer.awaitingAck, l.peer.ok = false, nil // no ACK: the peer is gone
		return
	}
	if err := l.spec.tr.ResendResponse(l.peer.ok); err != nil {
		l.spec.log.Debug("2xx retransmission failed", "leg", l.spec.role.String(), "error", err)
	}
	l.peer.interval = min(2*l.peer.interval, sip.T2)
	l.peer.timer = l.spec.clock.After(l.peer.interval, l.self, resendOK{gen: gen})
}

// report sends the leg's one end-of-life event.
func (l *legActor) report(ctx actor.Context, ev any) {
	if l.reported {
		return
	}
	l.reported = true
	ctx.Send(ctx.Parent(), ev)
}

// abandon runs when the leg actor stops for any reason (the call ended, a
// panic, shutdown): a phone must never be left ringing or connected. What
// is still under way is handed to the transport, which finishes it after
// the actor is gone; the actor itself keeps nothing.
func (l *legActor) abandon() {
	l.stopRing()
	l.peer.timer.Stop()
	if l.peer.req != nil {
		l.respond(l.peer.req, sip.StatusInternalServerError, "Server Internal Error", nil)
		l.peer.req = nil
	}
	tr := l.spec.tr
	switch l.phase {
	case phaseCalling, phaseEarly:
		tr.Abandon(l.calling.tx, nil)
		l.calling.tx = nil
	case phaseConfirmed:
		l.ack(nil)
		tr.Fire(l.dialog.Request(sip.BYE, nil))
	case phaseEnding:
		tr.Finish(l.byeTx)
		l.byeTx = nil
	}
	for _, tx := range []*transport.ClientTx{l.calling.tx, l.ours.tx, l.transfer.tx, l.byeTx} {
		if tx != nil {
			tx.Stop()
		}
	}
	l.phase = phaseEnded
}
