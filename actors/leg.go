package actors

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/clicktocall/clicktocall/transport"
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
	log         *slog.Logger
	cleanups    *sync.WaitGroup // clean-ups that outlive the actor; Shutdown waits for them
}

type legPhase int

const (
	phaseCalling   legPhase = iota // INVITE sent, nothing heard
	phaseEarly                     // a provisional arrived: CANCEL is possible
	phaseConfirmed                 // 2xx received (and ACKed, or waiting for the answer to ACK with)
	phaseEnding                    // BYE or CANCEL sent
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
		role Leg
		code int
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

// Messages a leg sends itself from the goroutines that wait on the network.
type (
	inviteResponse struct {
		tx  sip.ClientTransaction
		res *sip.Response
	}
	inviteDone struct {
		tx  sip.ClientTransaction
		err error
	}
	// laterOK is a 2xx after the first one of the INVITE.
	laterOK struct {
		invite *sip.Request
		res    *sip.Response
	}
	// earlyResponse is an 18x seen by the transport's read loop, in order.
	earlyResponse struct{ res *sip.Response }
	ringTimedOut  struct{}
	inDialog      struct {
		req      *sip.Request
		tx       sip.ServerTransaction
		answered func()
	}
	requestDone struct {
		method sip.RequestMethod
		cseq   uint32
		res    *sip.Response
		err    error
	}
)

// legActor owns one call leg: its INVITE transaction and the dialog it
// creates. It serialises everything that happens in that dialog, so it is
// also the dialog actor; forked extra dialogs are ended at once.
type legActor struct {
	spec              legSpec
	phase             legPhase
	invite            *sip.Request
	tx                sip.ClientTransaction
	dialog            *dialogState
	authDone          bool
	hangup            *legHangup // asked to end before a dialog existed
	timedOut          bool
	acked             atomic.Pointer[sip.Request] // the ACK of the INVITE's 2xx, for retransmissions
	reported          bool                        // legFailed or legEnded sent
	pending           *inDialog                   // the peer's re-INVITE waiting for our answer
	ourReInv          uint32                      // CSeq of our re-INVITE in flight, 0 = none
	ourReInvOfferless bool
	awaitingAck       bool   // we answered the peer's re-INVITE 2xx: its ACK comes next
	ackPending        uint32 // CSeq of our offerless re-INVITE whose 2xx awaits the answer for its ACK
	ringStop          func() bool
	self              *actor.PID // for sipgo's goroutines; set once at start
	root              *actor.RootContext
	// Shared with the goroutine reading the INVITE's responses.
	abandoned atomic.Bool   // the actor stopped: that goroutine handles what still comes
	giveUp    chan struct{} // closed with abandoned: the goroutine then waits at most 64*T1
	giveOnce  sync.Once
	referCSeq uint32      // CSeq of our REFER: its NOTIFYs carry it as Event id
	unwanted  sync.Map    // To-tag -> ACK of a 2xx we ACKed and BYEd (crossed CANCEL, fork)
	cancelled atomic.Bool // CANCEL sent
}

func newLeg(spec legSpec) actor.Producer {
	return func() actor.Actor { return &legActor{spec: spec, giveUp: make(chan struct{})} }
}

// dialogRoute lets the transport router post a dialog's requests to the leg.
type dialogRoute struct {
	root *actor.RootContext
	pid  *actor.PID
}

func (r dialogRoute) HandleProvisional(res *sip.Response) {
	r.root.Send(r.pid, &earlyResponse{res: res})
}

func (r dialogRoute) HandleRequest(req *sip.Request, tx sip.ServerTransaction, answered func()) {
	r.root.Send(r.pid, &inDialog{req: req, tx: tx, answered: answered})
}

func (l *legActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.self, l.root = ctx.Self(), ctx.ActorSystem().Root
		l.spec.tr.Register(l.spec.callID, dialogRoute{root: ctx.ActorSystem().Root, pid: ctx.Self()})
		l.start(ctx)
	case *actor.Stopping:
		l.abandon()
	case *actor.Stopped:
		l.spec.tr.Unregister(l.spec.callID)
	case *inviteResponse:
		if m.tx == l.tx {
			l.onInviteResponse(ctx, m.res)
		}
	case *laterOK:
		if l.dialog == nil && l.phase < phaseConfirmed && l.hangup == nil && !l.abandoned.Load() {
			// sipgo gave a 2xx to the retransmission hook before the reader
			// goroutine's copy of the first one reached us: it is the answer.
			l.onInviteResponse(ctx, m.res)
			return
		}
		l.onLaterOK(m)
	case *earlyResponse:
		if l.invite != nil && m.res.CSeq().SeqNo == l.invite.CSeq().SeqNo {
			l.onInviteResponse(ctx, m.res)
		}
	case *inviteDone:
		if m.tx == l.tx {
			l.onInviteDone(ctx, m.err)
		}
	case ringTimedOut:
		if l.phase < phaseConfirmed {
			l.timedOut = true
			l.end(ctx, &legHangup{})
		}
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
		if l.ackPending != 0 && l.dialog != nil {
			if err := l.spec.tr.Write(l.dialog.ack(l.ackPending, m.body)); err != nil {
				l.spec.log.Warn("re-invite ack failed", "leg", l.spec.role.String(), "error", err)
			}
			l.ackPending = 0
		}
	case *legAnswerReq:
		l.answerPeerReInvite(m)
	case *requestDone:
		l.onRequestDone(ctx, m)
	case *inDialog:
		l.onInDialog(ctx, m)
	}
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
	setBody(req, s.offer)
	l.invite = req
	if s.ringTimeout > 0 {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		t := time.AfterFunc(s.ringTimeout, func() { root.Send(self, ringTimedOut{}) })
		l.ringStop = t.Stop
	}
	l.sendInvite(ctx)
}

// sendInvite starts the INVITE transaction and a goroutine that posts its
// responses back, so Receive never waits on the network.
func (l *legActor) sendInvite(ctx actor.Context) {
	tx, err := l.spec.tr.Request(context.Background(), l.invite)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	if err != nil {
		l.spec.log.Warn("invite failed", "leg", l.spec.role.String(), "error", err)
		l.tx = nil
		root.Send(self, &inviteDone{err: err})
		return
	}
	l.tx = tx
	if !l.authDone {
		ctx.Send(ctx.Parent(), &inviteSent{role: l.spec.role, at: time.Now()})
	}
	invite := l.invite
	tx.OnRetransmission(func(res *sip.Response) { l.onRetransmitted2xx(invite, res) })
	l.spec.cleanups.Add(1) // it may be the one to CANCEL, or ACK and BYE, after the actor
	go func() {
		defer l.spec.cleanups.Done()
		giveUp := l.giveUp
		var deadline <-chan time.Time
		for {
			select {
			case <-giveUp:
				giveUp, deadline = nil, time.After(64*sip.T1)
			case <-deadline:
				tx.Terminate()
				return
			case res := <-tx.Responses():
				if res.StatusCode >= 300 {
					l.spec.tr.CountTransactionACK()
				}
				if l.abandoned.Load() {
					l.afterAbandon(invite, res)
				} else {
					root.Send(self, &inviteResponse{tx: tx, res: res})
				}
				if !res.IsProvisional() {
					// Later 2xx (retransmissions, forks) go to the
					// OnRetransmission hook: no need to hold a goroutine
					// for the transaction's remaining 32 s.
					return
				}
			case <-tx.Done():
				root.Send(self, &inviteDone{tx: tx, err: tx.Err()})
				return
			}
		}
	}()
}

// onRetransmitted2xx runs in sipgo's goroutine for every 2xx after the
// first. A retransmission we have ACKed gets the ACK again here; anything
// else (a retransmission while the ACK waits for the other phone's answer,
// another fork's 2xx) is for the actor to judge.
func (l *legActor) onRetransmitted2xx(invite *sip.Request, res *sip.Response) {
	if !res.IsSuccess() {
		return
	}
	if ack := l.acked.Load(); ack != nil && sameTag(ack.To(), res.To()) {
		_ = l.spec.tr.Write(ack.Clone())
		return
	}
	if l.abandoned.Load() || l.self == nil {
		l.afterAbandon(invite, res)
		return
	}
	l.root.Send(l.self, &laterOK{invite: invite, res: res})
}

// onLaterOK tells a retransmission of our dialog's 2xx (ignored until we
// can ACK it with the answer) from another fork's 2xx (ACK and BYE).
func (l *legActor) onLaterOK(m *laterOK) {
	if l.dialog != nil && sameTag(l.dialog.remoteTo, m.res.To()) {
		return
	}
	l.ackAndBye(m.invite, m.res)
}

// abandonInvite hands the INVITE's remaining responses to the goroutine
// reading them: a CANCEL on the first provisional, ACK and BYE for a 2xx,
// and after 64*T1 without a final response it gives up (RFC 3261 §9.1: a
// phone that died while ringing never sends one).
func (l *legActor) abandonInvite() {
	l.abandoned.Store(true)
	l.giveOnce.Do(func() { close(l.giveUp) })
}

// afterAbandon handles the INVITE's responses once the actor is gone:
// CANCEL on the first provisional, ACK and BYE for a 2xx.
func (l *legActor) afterAbandon(invite *sip.Request, res *sip.Response) {
	switch {
	case res.IsProvisional():
		if l.cancelled.CompareAndSwap(false, true) {
			l.cleanup(func() { l.fireAndForget(cancelRequest(invite)) })
		}
	case res.IsSuccess():
		l.ackAndBye(invite, res)
	}
}

func sameTag(a *sip.ToHeader, b *sip.ToHeader) bool {
	if a == nil || b == nil {
		return false
	}
	ta, _ := a.Params.Get("tag")
	tb, _ := b.Params.Get("tag")
	return ta == tb
}

// ackAndBye ends a dialog we do not want (a 2xx that crossed our CANCEL, or
// another fork's 2xx): RFC 3261 requires ACKing it before the BYE.
func (l *legActor) ackAndBye(invite *sip.Request, res *sip.Response) {
	if ack := l.acked.Load(); ack != nil && sameTag(ack.To(), res.To()) {
		return
	}
	tag, _ := res.To().Params.Get("tag")
	d := newDialogState(invite, res)
	ack := d.ack(invite.CSeq().SeqNo, nil)
	if prev, loaded := l.unwanted.LoadOrStore(tag, ack.Clone()); loaded {
		// A retransmission of a 2xx we already ended: ACK it again, one BYE is enough.
		_ = l.spec.tr.Write(prev.(*sip.Request).Clone())
		return
	}
	_ = l.spec.tr.Write(ack)
	l.cleanup(func() { l.fireAndForget(d.request(sip.BYE, nil)) })
}

// cleanup runs f, a clean-up that must outlive the actor, in a goroutine
// the engine's Shutdown waits for before the transport closes.
func (l *legActor) cleanup(f func()) {
	l.spec.cleanups.Add(1)
	go func() {
		defer l.spec.cleanups.Done()
		f()
	}()
}

func (l *legActor) fireAndForget(req *sip.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	tx, err := l.spec.tr.Request(ctx, req)
	if err != nil {
		return
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if !res.IsProvisional() {
				return
			}
		case <-tx.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

func (l *legActor) onInviteResponse(ctx actor.Context, res *sip.Response) {
	switch {
	case res.IsProvisional():
		if l.phase == phaseCalling {
			l.phase = phaseEarly
			if l.hangup != nil { // we were asked to end before CANCEL was possible
				l.sendCancel()
				return
			}
		}
		if res.StatusCode >= 180 && l.phase == phaseEarly {
			ctx.Send(ctx.Parent(), &legRinging{role: l.spec.role})
		}
	case res.IsSuccess():
		l.stopRing()
		if l.phase >= phaseConfirmed && l.dialog != nil && sameTag(l.dialog.remoteTo, res.To()) {
			return // a retransmission of our dialog's 2xx
		}
		if l.phase >= phaseConfirmed || l.hangup != nil {
			// A 2xx that crossed our CANCEL, or a fork: not wanted.
			l.ackAndBye(l.invite, res)
			if l.phase < phaseConfirmed {
				l.phase = phaseEnded
				l.report(ctx, &legFailed{role: l.spec.role, code: l.cancelCode()})
			}
			return
		}
		l.phase = phaseConfirmed
		l.dialog = newDialogState(l.invite, res)
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
		code := res.StatusCode
		if l.hangup != nil || l.timedOut {
			code = l.cancelCode()
		}
		l.report(ctx, &legFailed{role: l.spec.role, code: code})
	}
}

// cancelCode is the result of an INVITE we ended ourselves.
func (l *legActor) cancelCode() int {
	if l.timedOut {
		return 408
	}
	return 487
}

func (l *legActor) onInviteDone(ctx actor.Context, err error) {
	if l.phase >= phaseConfirmed {
		return
	}
	// The transaction ended with no final response: no answer (Timer B) or a
	// transport error.
	l.stopRing()
	l.phase = phaseEnded
	code := 408
	if err != nil && !errors.Is(err, sip.ErrTransactionTimeout) && l.hangup == nil && !l.timedOut {
		code = 503
		l.spec.log.Info("invite transaction failed", "leg", l.spec.role.String(), "error", err)
	}
	if l.hangup != nil && !l.timedOut {
		code = 487
	}
	l.report(ctx, &legFailed{role: l.spec.role, code: code})
}

// retryWithCredentials answers a 401/407 challenge once, when credentials
// are configured.
func (l *legActor) retryWithCredentials(ctx actor.Context, res *sip.Response) bool {
	if l.authDone || l.spec.password == "" || (res.StatusCode != 401 && res.StatusCode != 407) {
		return false
	}
	challengeHdr, authHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
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
	l.authDone = true
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
	if l.ringStop != nil {
		l.ringStop()
		l.ringStop = nil
	}
}

// ack acknowledges the INVITE's 2xx, with the answer when the INVITE had no offer.
func (l *legActor) ack(body []byte) {
	if l.dialog == nil || l.acked.Load() != nil {
		return
	}
	ack := l.dialog.ack(l.invite.CSeq().SeqNo, body)
	if err := l.spec.tr.Write(ack); err != nil {
		l.spec.log.Warn("ack failed", "leg", l.spec.role.String(), "error", err)
	}
	l.acked.Store(ack.Clone())
}

// end ends the leg whatever its phase: CANCEL before a dialog, BYE after.
func (l *legActor) end(ctx actor.Context, h *legHangup) {
	l.stopRing()
	switch l.phase {
	case phaseCalling:
		// CANCEL must wait for a provisional (RFC 3261 §9.1), which may
		// never come: the goroutine reading the INVITE's responses sends it
		// (or ACK and BYE for a 2xx), and the leg ends now.
		l.hangup = h
		l.abandonInvite()
		l.phase = phaseEnded
		l.report(ctx, &legFailed{role: l.spec.role, code: l.cancelCode()})
	case phaseEarly:
		// The result is known now; the 487 (or a 2xx that crosses the
		// CANCEL, or nothing from a dead phone) is the reader's to handle.
		l.hangup = h
		l.sendCancel()
		l.abandonInvite()
		l.phase = phaseEnded
		l.report(ctx, &legFailed{role: l.spec.role, code: l.cancelCode()})
	case phaseConfirmed:
		if l.acked.Load() == nil {
			l.ack(nil) // a 2xx must be ACKed before its dialog can be ended
		}
		l.phase = phaseEnding
		bye := l.dialog.request(sip.BYE, nil)
		if h.code > 0 {
			bye.AppendHeader(reasonHeader(h.code, h.text))
		}
		l.do(ctx, bye, 32*time.Second)
	}
}

func (l *legActor) sendCancel() {
	if l.invite.Via() == nil || !l.cancelled.CompareAndSwap(false, true) {
		return
	}
	invite := l.invite
	l.cleanup(func() { l.fireAndForget(cancelRequest(invite)) })
}

// do sends an in-dialog request and posts the final response as requestDone.
func (l *legActor) do(ctx actor.Context, req *sip.Request, timeout time.Duration) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	method, cseq := req.Method, req.CSeq().SeqNo
	tr := l.spec.tr
	go func() {
		c, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done := &requestDone{method: method, cseq: cseq}
		tx, err := tr.Request(c, req)
		if err != nil {
			done.err = err
			root.Send(self, done)
			return
		}
		defer tx.Terminate()
		for done.res == nil && done.err == nil {
			select {
			case res := <-tx.Responses():
				if !res.IsProvisional() {
					done.res = res
				}
			case <-tx.Done():
				done.err = tx.Err()
				if done.err == nil {
					done.err = sip.ErrTransactionTerminated
				}
			case <-c.Done():
				done.err = c.Err()
			}
		}
		root.Send(self, done)
	}()
}

func (l *legActor) refer(ctx actor.Context, m *legRefer) {
	if l.phase != phaseConfirmed {
		ctx.Send(ctx.Parent(), &referAnswered{code: 481})
		return
	}
	req := l.dialog.request(sip.REFER, l.spec.tr.Contact(l.dialog.transport))
	l.referCSeq = req.CSeq().SeqNo
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+m.target+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+m.referredBy+">"))
	req.SetBody(nil)
	l.do(ctx, req, 32*time.Second)
}

func (l *legActor) reInvite(ctx actor.Context, body []byte) {
	if l.phase != phaseConfirmed || l.ourReInv != 0 || l.pending != nil {
		// RFC 3261 14.1: no INVITE while one is in progress either way.
		ctx.Send(ctx.Parent(), &reInviteAnswered{role: l.spec.role, code: 491})
		return
	}
	req := l.dialog.request(sip.INVITE, l.spec.tr.Contact(l.dialog.transport))
	setBody(req, body)
	l.ourReInv = req.CSeq().SeqNo
	l.ourReInvOfferless = len(body) == 0
	l.do(ctx, req, 32*time.Second)
}

func (l *legActor) onRequestDone(ctx actor.Context, m *requestDone) {
	code := 408
	var body []byte
	if m.res != nil {
		code = m.res.StatusCode
		body = m.res.Body()
	}
	switch m.method {
	case sip.BYE:
		l.phase = phaseEnded
		l.report(ctx, &legEnded{role: l.spec.role})
	case sip.REFER:
		ctx.Send(ctx.Parent(), &referAnswered{code: code})
	case sip.INVITE:
		if m.cseq != l.ourReInv {
			return
		}
		l.ourReInv = 0
		if m.res != nil && m.res.IsSuccess() && l.dialog != nil {
			if l.ourReInvOfferless && len(body) > 0 {
				// The 2xx carries an offer: its ACK must carry the
				// answer, which comes from the other phone.
				l.ackPending = m.cseq
			} else if err := l.spec.tr.Write(l.dialog.ack(m.cseq, nil)); err != nil {
				l.spec.log.Warn("re-invite ack failed", "leg", l.spec.role.String(), "error", err)
			}
		}
		if l.phase == phaseConfirmed {
			ctx.Send(ctx.Parent(), &reInviteAnswered{role: l.spec.role, code: code, body: body})
		}
	}
}

func (l *legActor) onInDialog(ctx actor.Context, m *inDialog) {
	req := m.req
	respond := func(code int, reason string, body []byte) {
		res := sip.NewResponseFromRequest(req, code, reason, body)
		if len(body) > 0 {
			res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			res.AppendHeader(l.spec.tr.ContactFor(req))
		}
		if m.tx != nil {
			_ = l.spec.tr.Respond(m.tx, res)
		}
		m.answered()
	}
	if l.dialog == nil {
		if req.Method == sip.NOTIFY {
			respond(200, "OK", nil) // a NOTIFY for a dialog we already gave up
			return
		}
		if req.Method != sip.ACK {
			respond(481, "Call/Transaction Does Not Exist", nil)
		}
		return
	}
	switch req.Method {
	case sip.BYE:
		respond(200, "OK", nil)
		if l.phase < phaseEnded {
			l.phase = phaseEnded
			if p := l.pending; p != nil {
				// RFC 3261 15.1.2: a BYE ends the pending re-INVITE with 487.
				_ = l.spec.tr.Respond(p.tx, sip.NewResponseFromRequest(p.req, 487, "Request Terminated", nil))
				p.answered()
				l.pending = nil
			}
			l.report(ctx, &legEnded{role: l.spec.role, remote: true})
		}
	case sip.NOTIFY:
		if !l.ownsReferNotify(req) {
			// RFC 6665 §4.1.3: a NOTIFY for a subscription we do not have.
			respond(481, "Subscription Does Not Exist", nil)
			return
		}
		respond(200, "OK", nil)
		code, err := parseSipfrag(req.Body())
		if err != nil {
			l.spec.log.Info("notify without a sipfrag status", "error", err)
			return
		}
		ctx.Send(ctx.Parent(), &referNotify{code: code, final: code >= 200})
	case sip.INVITE:
		if l.phase != phaseConfirmed || l.pending != nil || l.ourReInv != 0 {
			respond(491, "Request Pending", nil)
			return
		}
		l.pending = m
		ctx.Send(ctx.Parent(), &remoteReInvite{role: l.spec.role, body: req.Body()})
	case sip.ACK:
		if l.awaitingAck {
			l.awaitingAck = false
			ctx.Send(ctx.Parent(), &remoteAck{role: l.spec.role, body: req.Body()})
		}
	case sip.INFO, sip.OPTIONS:
		respond(200, "OK", nil)
	default:
		respond(405, "Method Not Allowed", nil)
	}
}

// ownsReferNotify reports whether a NOTIFY belongs to the implicit
// subscription of our REFER (RFC 3515): Event "refer", and when it carries
// an id, the id is our REFER's CSeq.
func (l *legActor) ownsReferNotify(req *sip.Request) bool {
	ev := req.GetHeader("Event")
	if l.referCSeq == 0 || ev == nil {
		return false
	}
	parts := strings.Split(ev.Value(), ";")
	if !strings.EqualFold(strings.TrimSpace(parts[0]), "refer") {
		return false
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "id") && strings.TrimSpace(v) != strconv.FormatUint(uint64(l.referCSeq), 10) {
			return false
		}
	}
	return true
}

func (l *legActor) answerPeerReInvite(m *legAnswerReq) {
	p := l.pending
	if p == nil {
		return
	}
	l.pending = nil
	reason := "OK"
	if m.code >= 300 {
		reason = "Not Accepted"
	}
	res := sip.NewResponseFromRequest(p.req, m.code, reason, m.body)
	if len(m.body) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if m.code < 300 {
		res.AppendHeader(l.spec.tr.ContactFor(p.req))
	}
	_ = l.spec.tr.Respond(p.tx, res)
	p.answered()
	l.awaitingAck = m.code < 300
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
// panic, shutdown): a phone must never be left ringing or connected.
func (l *legActor) abandon() {
	l.stopRing()
	if l.pending != nil {
		_ = l.spec.tr.Respond(l.pending.tx, sip.NewResponseFromRequest(l.pending.req, 500, "Server Internal Error", nil))
		l.pending.answered()
		l.pending = nil
	}
	switch l.phase {
	case phaseCalling, phaseEarly:
		l.abandonInvite()
		if l.phase == phaseEarly {
			l.sendCancel()
		}
	case phaseConfirmed:
		if l.acked.Load() == nil {
			l.ack(nil)
		}
		bye := l.dialog.request(sip.BYE, nil)
		l.cleanup(func() { l.fireAndForget(bye) })
	}
	l.phase = phaseEnded
}
