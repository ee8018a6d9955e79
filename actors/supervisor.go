package actors

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
	"github.com/clicktocall/clicktocall/transport/timing"
)

// Mode is how a call connects the destination.
type Mode string

const (
	ModeRefer    Mode = "refer"    // blind transfer of the initiator
	ModeAnchored Mode = "anchored" // 3PCC, the server stays in the signalling path
	ModeFallback Mode = "fallback" // REFER refused, then anchored
)

// callSpec is one admitted request, as the supervisor runs it.
type callSpec struct {
	id          string
	req         CallRequest
	initiator   sip.Uri
	destination sip.Uri
	settings    *callSettings
	onProgress  func(Progress)
	onEnd       func(id string)
	log         *slog.Logger
	// shutDown: the engine stopped before the call's turn came (it waited
	// in the admission queue); it ends with 503 and calls nobody.
	shutDown bool
}

// Messages to a CallSupervisor from the engine and its own timers.
type (
	shutdownCall   struct{}
	cancelCall     struct{}
	describeCall   struct{}
	referTimedOut  struct{ gen int }
	callDurationUp struct{}
	retrySetup     struct{} // resend the set-up re-INVITE after glare
)

// callPhase is where a call stands; this table is the whole machine, the way
// net/http documents ConnState. Each phase's own data is a struct of its
// own (transfer, setup, bridge); a message that means nothing in the phase
// it arrives in is dropped or refused in one place, outOfPhase.
//
//	phase                 entered when                          left for
//	callCallingInitiator  the supervisor starts: INVITE to the  callTransferring (200 I, REFER mode)
//	                      initiator                             callSettingUp (200 I, anchored)
//	                                                            callEnding (the initiator fails; cancel, shutdown, crash)
//	callTransferring      REFER sent; accepted by its 2xx or a  callSettingUp (REFER refused or unanswered: fallback)
//	                      NOTIFY; waits on the refer timer      callEnding (final NOTIFY, refer timeout; cancel, shutdown,
//	                      (transfer)                            the initiator hangs up before accepting)
//	callSettingUp         offerless INVITE to the destination,  callBridged (the initiator's answer ACKed to the destination)
//	                      then its offer re-INVITEd to the      callEnding (a leg fails, no usable SDP, the initiator
//	                      initiator, again after glare (setup)  hangs up; cancel, shutdown, crash)
//	callBridged           200 Destination, anchored; re-INVITEs callEnding (a leg ends: a phone's BYE, or ours for the
//	                      relayed, the time limit runs (bridge) time limit, cancel or shutdown; a crash)
//	callEnding            the final result is out and not a     the supervisor stops once every leg has ended
//	                      bridge: the legs are being hung up
//
// The final result goes out on entering callBridged or callEnding, and
// report lets nothing follow it. Entering callEnding, a phase's data
// outlives it only for what it left in flight: the answer to the set-up
// re-INVITE (the destination's 2xx still wants its ACK) and to a relayed
// re-INVITE (it goes back to the phone that asked).
type callPhase int

const (
	callCallingInitiator callPhase = iota
	callTransferring
	callSettingUp
	callBridged
	callEnding
)

func (p callPhase) String() string {
	return [...]string{"calling initiator", "transferring", "setting up", "bridged", "ending"}[p]
}

// transferState is callTransferring's data: the REFER's outcome awaited.
type transferState struct {
	accepted bool          // the REFER's 2xx or a NOTIFY came: only the final NOTIFY or the timer ends the wait
	gen      int           // the wait's generation: a timeout of an earlier wait is stale
	timer    *timing.Timer // refer_timeout, for the answer and then again for the final NOTIFY
}

// setupState is callSettingUp's data: the re-INVITE that carries the
// destination's offer to the initiator.
type setupState struct {
	reInvite     bool   // in flight; the destination's 2xx waits for its answer to be ACKed
	offer        []byte // the destination's offer, rewritten for the initiator, resent after glare
	glareRetries int
	glareTimer   *timing.Timer
}

// bridgeState is callBridged's data: a phone's re-INVITE relayed to the other
// and the call's time limit.
type bridgeState struct {
	relayFrom      Leg  // the leg whose re-INVITE is being relayed, LegNone = none
	relayOfferless bool // the relayed re-INVITE had no offer
	relayAckTo     Leg  // after an offerless relay: the leg whose ACK waits for the answer
	durationTimer  *timing.Timer
}

// callSupervisor runs one click-to-call: it decides REFER or anchored, runs
// the fallback, emits progress, guarantees exactly one final result and ends
// both legs on every exit path.
type callSupervisor struct {
	spec    callSpec
	self    *mailbox
	mode    Mode
	phase   callPhase
	legs    [3]*actor.PID // indexed by Leg
	ended   [3]bool       // the leg reported its end or stopped
	rang    [3]bool       // a 180 was already reported for this leg
	results []string      // what the subscriber got, for Describe

	// The SDP sessions with each phone: the initiator's from the start, the
	// destination's from callSettingUp (anchored calls).
	initSDP, destSDP *sdpSession

	transfer transferState
	setup    setupState
	bridge   bridgeState
}

// finalSent reports whether the call's final result is out.
func (c *callSupervisor) finalSent() bool { return c.phase >= callBridged }

func newCallSupervisor(spec callSpec) actor.Producer {
	return func() actor.Actor { return &callSupervisor{spec: spec} }
}

// stopOnPanic is the supervision of every call actor: a panicking leg is
// stopped (never restarted, which would call the phone again) and its
// supervisor, seeing it Terminated, turns that into a final result and a
// torn-down call; a panicking supervisor is stopped and its Stopping
// handler sends the final result.
var stopOnPanic = actor.NewOneForOneStrategy(0, time.Second, func(reason any) actor.Directive {
	return actor.StopDirective
})

func (c *callSupervisor) Receive(ctx actor.Context) {
	msg := ctx.Message()
	if c.outOfPhase(ctx, msg) {
		return
	}
	switch m := msg.(type) {
	case *actor.Started:
		c.self = newMailbox(ctx)
		c.start(ctx)
	case *actor.Stopping:
		c.finish(EndInternal, LegNone, 0)
	case *actor.Stopped:
		c.stopTimer(&c.transfer.timer)
		c.stopTimer(&c.setup.glareTimer)
		c.stopTimer(&c.bridge.durationTimer)
		c.spec.onEnd(c.spec.id)
	case *actor.Terminated:
		c.onLegTerminated(ctx, m.Who)
	case *inviteSent:
		if m.role == LegInitiator {
			c.spec.settings.observeInvite(c.spec.id, c.spec.req, m.at)
		}
	case *legRinging:
		c.onRinging(m.role)
	case *legAnswered:
		c.onAnswered(ctx, m)
	case *legFailed:
		c.onLegFailed(ctx, m)
	case *legEnded:
		c.onLegEnded(ctx, m)
	case *referAnswered:
		c.onReferAnswered(ctx, m.code)
	case *referNotify:
		c.onReferNotify(ctx, m)
	case referTimedOut:
		c.onReferTimeout(ctx)
	case *reInviteAnswered:
		c.onReInviteAnswered(ctx, m)
	case *remoteReInvite:
		c.onRemoteReInvite(ctx, m)
	case *remoteAck:
		c.onRemoteAck(ctx, m)
	case retrySetup:
		ctx.Send(c.legs[LegInitiator], &legReInvite{body: c.setup.offer})
	case callDurationUp:
		c.log().Info("call time limit reached")
		c.hangupAll(ctx, EndNone, 0)
	case crashLeg:
		if m.role == LegNone {
			panic("injected fault: call supervisor")
		}
		if pid := c.legs[m.role]; pid != nil {
			ctx.Send(pid, m)
		}
	case describeCall:
		ctx.Respond(fmt.Sprintf("%s: phase=%s mode=%s results=%q ended(I,D)=%v,%v legs(I,D)=%v,%v transfer accepted=%v setup re-INVITE=%v relaying=%q",
			c.spec.id, c.phase, c.mode, c.results, c.ended[LegInitiator], c.ended[LegDestination],
			c.legs[LegInitiator] != nil, c.legs[LegDestination] != nil,
			c.transfer.accepted, c.setup.reInvite, c.bridge.relayFrom.String()))
	case cancelCall:
		leg := LegDestination // once the initiator answered, the call failed to reach the destination
		if c.phase == callCallingInitiator {
			leg = LegInitiator
		}
		c.finish(EndCancelled, leg, 0)
		c.hangupAll(ctx, EndCancelled, 0)
	case shutdownCall:
		c.finish(EndShutDown, LegNone, 0)
		c.hangupAll(ctx, EndShutDown, 0)
	}
}

// outOfPhase handles a message that means nothing in the call's phase and
// reports whether it did, so the handlers only see messages valid in theirs:
// an answer after the final is hung up, a re-INVITE outside the bridge is
// refused with 491, and the rest (a REFER's outcome after the transfer was
// settled, a stale timer) is dropped.
func (c *callSupervisor) outOfPhase(ctx actor.Context, msg any) bool {
	switch m := msg.(type) {
	case *legAnswered:
		switch {
		case m.role == LegInitiator && c.finalSent():
			// The initiator answered as the call ended (its CANCEL crossed the 200).
			c.hangupAll(ctx, EndNone, 0)
		case m.role == LegDestination && c.phase != callSettingUp:
			// The destination answered after the call ended: ACK its 2xx and hang up.
			ctx.Send(c.legs[LegDestination], &legAck{})
			c.hangupAll(ctx, EndCancelled, 0)
		default:
			return false
		}
		return true
	case *referAnswered:
		return c.phase != callTransferring || c.transfer.accepted
	case *referNotify:
		return c.phase != callTransferring
	case referTimedOut:
		return c.phase != callTransferring || m.gen != c.transfer.gen
	case retrySetup:
		return c.phase != callSettingUp || !c.setup.reInvite
	case callDurationUp:
		return c.phase != callBridged // the legs are being hung up already
	case *remoteReInvite:
		if c.phase != callBridged || c.bridge.relayFrom != LegNone || c.ended[other(m.role)] {
			ctx.Send(c.legs[m.role], &legAnswerReq{code: sip.StatusRequestPending})
			return true
		}
	}
	return false
}

func (c *callSupervisor) log() *slog.Logger { return c.spec.log }

func (c *callSupervisor) start(ctx actor.Context) {
	s := c.spec.settings
	c.mode = ModeRefer
	if c.spec.req.Anchor {
		c.mode = ModeAnchored
	}
	c.emit(sip.StatusTrying, LegNone)
	if c.spec.shutDown {
		c.finish(EndShutDown, LegNone, 0)
		c.maybeStop(ctx)
		return
	}
	// The SDP and Call-Info carry our address in the phone's family.
	c.initSDP = newSDPSession(s.tr.HostFor(c.spec.initiator))
	from := c.spec.req.Options.fromFor(LegInitiator,
		sip.FromHeader{DisplayName: "Click-To-Call: " + userPart(c.spec.req.Destination), Address: s.identity})
	var headers []sip.Header
	if s.autoAnswer {
		host := s.tr.HostFor(c.spec.initiator)
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		headers = append(headers, sip.NewHeader("Call-Info", "<sip:"+host+">;answer-after=0"))
	}
	c.spawnLeg(ctx, legSpec{role: LegInitiator, target: c.spec.initiator, from: from,
		offer: c.initSDP.placeholder(), headers: headers})
}

func (c *callSupervisor) spawnLeg(ctx actor.Context, spec legSpec) {
	s := c.spec.settings
	spec.callID = s.tr.NewCallID()
	s.traceLeg(c.spec.id, spec.role, spec.callID)
	opts := &c.spec.req.Options
	spec.ringTimeout = opts.ringTimeout(spec.role, s.ringTimeout)
	if s.assertIdentity {
		spec.headers = append(spec.headers, assertedIdentity(spec.from))
	}
	spec.headers = append(spec.headers, opts.headersFor(spec.role)...)
	spec.username, spec.password = s.authUsername, s.authPassword
	spec.proxy = s.tr.OutboundProxy()
	spec.tr = s.tr
	spec.log = c.spec.log
	spec.clock = s.clock
	props := actor.PropsFromProducer(newLeg(spec), actor.WithDispatcher(callDispatcher))
	c.legs[spec.role] = ctx.Spawn(props)
}

// emit reports a result that is not final: 100, or a leg's 180 or 200.
func (c *callSupervisor) emit(code int, leg Leg) {
	c.report(Progress{CallID: c.spec.id, Code: code, Leg: leg, Text: resultText(code, leg), At: time.Now()})
}

// finish reports the final result: the call ended so, about leg; code is
// the phone's status when the ending carries it (EndRejected, EndBusy, ...).
func (c *callSupervisor) finish(e Ending, leg Leg, code int) {
	code = e.CodeOr(code)
	text := e.Text()
	if text == "" {
		text = resultText(code, leg)
	}
	c.report(Progress{CallID: c.spec.id, Code: code, Leg: leg, Text: text, At: time.Now(), Ending: e})
}

// report passes a result on; nothing follows the final one, which moves the
// call to callEnding (onSetupAnswered moves it on to callBridged for the
// bridge's 200).
func (c *callSupervisor) report(p Progress) {
	if c.finalSent() {
		return
	}
	code, leg := p.Code, p.Leg
	final := p.Final()
	if final {
		c.phase = callEnding
	}
	c.results = append(c.results, fmt.Sprintf("%d%s", code, leg.String()))
	// One INFO line per call (its final); the steps before it are DEBUG, so
	// the default level costs little at thousands of calls a second.
	level := slog.LevelDebug
	if final {
		level = slog.LevelInfo
	}
	if c.log().Enabled(context.Background(), level) {
		attrs := []any{"code", code, "leg", leg.String(), "text", p.Text, "mode", string(c.mode)}
		if final {
			attrs = append(attrs, "ending", p.Ending.String())
		}
		c.log().Log(context.Background(), level, "call result", attrs...)
	}
	c.spec.settings.observe(c.spec.req, p)
	c.spec.onProgress(p)
}

func (c *callSupervisor) onRinging(role Leg) {
	if !c.rang[role] {
		c.rang[role] = true
		c.emit(sip.StatusRinging, role)
	}
}

func (c *callSupervisor) onAnswered(ctx actor.Context, m *legAnswered) {
	switch m.role {
	case LegInitiator:
		c.emit(sip.StatusOK, LegInitiator)
		if c.mode == ModeAnchored {
			c.startDestination(ctx)
			return
		}
		c.phase = callTransferring
		ctx.Send(c.legs[LegInitiator], &legRefer{target: c.spec.req.Destination, referredBy: c.spec.settings.identity.String()})
		c.startReferTimer(ctx)
	case LegDestination:
		offer, err := c.initSDP.rewrite(m.body)
		if err != nil {
			c.log().Info("destination answered without a usable offer", "error", err)
			ctx.Send(c.legs[LegDestination], &legAck{})
			c.finish(EndNotAcceptable, LegDestination, 0)
			c.hangupAll(ctx, EndNotAcceptable, 0)
			return
		}
		c.setup.reInvite = true
		c.setup.offer = offer
		ctx.Send(c.legs[LegInitiator], &legReInvite{body: offer})
	}
}

// startReferTimer (re)starts the wait for the REFER's answer or its final
// NOTIFY; a timeout of an earlier wait no longer counts.
func (c *callSupervisor) startReferTimer(ctx actor.Context) {
	c.stopReferTimer()
	c.transfer.timer = c.spec.settings.clock.After(c.spec.settings.referTimeout, c.self, referTimedOut{gen: c.transfer.gen})
}

// stopReferTimer ends the wait: the transfer has its outcome, and a timeout
// already posted is recognised as stale by its generation.
func (c *callSupervisor) stopReferTimer() {
	c.transfer.gen++
	c.stopTimer(&c.transfer.timer)
}

// stopTimer stops *t, so a finished call holds no timer (with long
// max_call_duration settings they would pile up by the million).
func (c *callSupervisor) stopTimer(t **timing.Timer) {
	(*t).Stop()
	*t = nil
}

// startDestination runs RFC 3725 flow IV from its second step: an offerless
// INVITE to the destination. The call is setting up.
func (c *callSupervisor) startDestination(ctx actor.Context) {
	c.phase = callSettingUp
	s := c.spec.settings
	c.destSDP = newSDPSession(s.tr.HostFor(c.spec.destination))
	from := sip.FromHeader{Address: s.identity}
	if s.destinationFromInitiator {
		from.Address = c.spec.initiator
	}
	from.Address.UriParams = nil
	from = c.spec.req.Options.fromFor(LegDestination, from)
	c.spawnLeg(ctx, legSpec{role: LegDestination, target: c.spec.destination, from: from})
}

func (c *callSupervisor) onReferAnswered(ctx actor.Context, code int) {
	if rfc3261.Success(code) {
		c.transfer.accepted = true
		c.startReferTimer(ctx) // now waiting for the final NOTIFY
		return
	}
	c.fallBack(ctx, code)
}

// fallBack turns a refused or unanswered REFER into an anchored call on the
// same initiator dialog. (The initiator cannot have hung up: before it
// accepts the transfer, that ends the call.)
func (c *callSupervisor) fallBack(ctx actor.Context, code int) {
	c.stopReferTimer()
	c.log().Info("refer refused, falling back to an anchored call", "code", code)
	c.mode = ModeFallback
	c.spec.settings.observeFallback(c.spec.id, c.spec.req)
	c.startDestination(ctx)
}

func (c *callSupervisor) onReferNotify(ctx actor.Context, m *referNotify) {
	if !c.transfer.accepted {
		// A NOTIFY of the REFER's subscription says the REFER was accepted
		// even when its 202 is late or was lost (RFC 6665 §4.1.2.4): from
		// here the transfer's result is awaited, and the transferee hanging
		// up its dialog with us no longer ends the call.
		c.transfer.accepted = true
		c.startReferTimer(ctx)
	}
	switch {
	case ringing(m.code):
		c.onRinging(LegDestination)
	case rfc3261.Success(m.code):
		c.finish(EndAnswered, LegDestination, 0)
		c.stopReferTimer()
		c.hangup(ctx, LegInitiator, EndNone, 0)
		c.maybeStop(ctx)
	case rfc3261.Failure(m.code):
		c.stopReferTimer()
		e := TransferFailure(m.code)
		c.finish(e, LegDestination, m.code)
		c.hangup(ctx, LegInitiator, e, m.code)
		c.maybeStop(ctx)
	}
}

func (c *callSupervisor) onReferTimeout(ctx actor.Context) {
	if !c.transfer.accepted {
		c.fallBack(ctx, EndTimeout.Code())
		return
	}
	c.finish(EndTimeout, LegDestination, 0)
	c.hangup(ctx, LegInitiator, EndTimeout, 0)
	c.maybeStop(ctx)
}

func (c *callSupervisor) onReInviteAnswered(ctx actor.Context, m *reInviteAnswered) {
	if c.setup.reInvite && m.role == LegInitiator {
		c.onSetupAnswered(ctx, m)
		return
	}
	// The answer to a relayed re-INVITE goes back to the leg that sent it.
	br := &c.bridge
	if br.relayFrom == LegNone || m.role == br.relayFrom {
		return
	}
	from := br.relayFrom
	br.relayFrom = LegNone
	body := m.body
	if rfc3261.Success(m.code) && len(body) > 0 {
		if b, err := c.sdpFor(from).rewrite(body); err == nil {
			body = b
		}
		if br.relayOfferless {
			// The other phone offered in its 2xx: the answer will come in
			// the ACK of the phone that asked.
			br.relayAckTo = m.role
		}
	}
	ctx.Send(c.legs[from], &legAnswerReq{code: m.code, body: body})
}

// onSetupAnswered takes the initiator's answer to the re-INVITE carrying the
// destination's offer: in callSettingUp it bridges the call, or retries
// after glare, or fails it; in callEnding (the call ended meanwhile) it only
// ACKs the destination's 2xx, which waited for this answer, and hangs up.
func (c *callSupervisor) onSetupAnswered(ctx actor.Context, m *reInviteAnswered) {
	settingUp := c.phase == callSettingUp
	if m.code == sip.StatusRequestPending && c.setup.glareRetries < 2 && settingUp {
		// Glare with the initiator's own re-INVITE: try again after
		// 2.1 to 4 s (RFC 3261 14.1) rather than fail the call.
		c.setup.glareRetries++
		wait := 2100*time.Millisecond + time.Duration(rand.Int64N(int64(1900*time.Millisecond)))
		c.setup.glareTimer = c.spec.settings.clock.After(wait, c.self, retrySetup{})
		return
	}
	c.setup.reInvite = false
	if rfc3261.Success(m.code) && settingUp {
		answer, err := c.destSDP.rewrite(m.body)
		if err == nil {
			ctx.Send(c.legs[LegDestination], &legAck{body: answer})
			c.finish(EndAnswered, LegDestination, 0)
			c.phase = callBridged
			if d := c.spec.req.Options.timeLimit(c.spec.settings.maxCallDuration); d > 0 {
				c.bridge.durationTimer = c.spec.settings.clock.After(d, c.self, callDurationUp{})
			}
			return
		}
		c.log().Info("initiator answered without usable sdp", "error", err)
	}
	ctx.Send(c.legs[LegDestination], &legAck{})
	e := EndNotAcceptable // a 2xx without a usable answer
	if rfc3261.Failure(m.code) {
		e = PhoneFailure(m.code)
	}
	c.finish(e, LegDestination, m.code)
	c.hangupAll(ctx, e, m.code)
}

// onRemoteAck completes an offerless re-INVITE relay: the answer in the
// ACK of the phone that asked goes into our ACK to the phone that offered.
func (c *callSupervisor) onRemoteAck(ctx actor.Context, m *remoteAck) {
	to := c.bridge.relayAckTo
	if to == LegNone || to == m.role {
		return
	}
	c.bridge.relayAckTo = LegNone
	body := m.body
	if len(body) > 0 {
		if b, err := c.sdpFor(to).rewrite(body); err == nil {
			body = b
		}
	}
	ctx.Send(c.legs[to], &legAckReInv{body: body})
}

func (c *callSupervisor) sdpFor(role Leg) *sdpSession {
	if role == LegInitiator {
		return c.initSDP
	}
	return c.destSDP
}

func other(role Leg) Leg {
	if role == LegInitiator {
		return LegDestination
	}
	return LegInitiator
}

// onRemoteReInvite relays a phone's re-INVITE to the other phone (the call
// is bridged and relays nothing else; outOfPhase refuses it otherwise).
func (c *callSupervisor) onRemoteReInvite(ctx actor.Context, m *remoteReInvite) {
	to := other(m.role)
	var body []byte
	if len(m.body) > 0 {
		b, err := c.sdpFor(to).rewrite(m.body)
		if err != nil {
			ctx.Send(c.legs[m.role], &legAnswerReq{code: sip.StatusNotAcceptableHere})
			return
		}
		body = b
	}
	c.bridge.relayFrom = m.role
	c.bridge.relayOfferless = len(body) == 0
	ctx.Send(c.legs[to], &legReInvite{body: body})
}

// legGone records that role's leg has ended or stopped; a bridge ends with it.
func (c *callSupervisor) legGone(role Leg) {
	c.ended[role] = true
	if c.phase == callBridged {
		c.phase = callEnding
	}
}

func (c *callSupervisor) onLegFailed(ctx actor.Context, m *legFailed) {
	c.legGone(m.role)
	c.finish(m.ending, m.role, m.code)
	switch m.role {
	case LegInitiator:
		c.hangupAll(ctx, m.ending, m.code)
	case LegDestination:
		c.hangup(ctx, LegInitiator, m.ending, m.code)
	}
	c.maybeStop(ctx)
}

func (c *callSupervisor) onLegEnded(ctx actor.Context, m *legEnded) {
	finalSent := c.finalSent()
	c.legGone(m.role)
	if m.remote {
		c.log().Info("phone hung up", "leg", m.role.String())
	}
	switch {
	case finalSent:
		// Connected or finished: a hang-up on one side ends the other.
		c.hangup(ctx, other(m.role), EndNone, 0)
	case m.role == LegInitiator && c.phase == callTransferring && c.transfer.accepted:
		// A transferee may hang up before its final NOTIFY: keep waiting
		// for it (the router answers NOTIFYs for ended dialogs).
		return
	case c.phase == callCallingInitiator:
		c.finish(EndCancelled, m.role, 0)
		c.hangupAll(ctx, EndCancelled, 0)
	default:
		// The initiator left before the destination connected.
		c.finish(EndCancelled, LegDestination, 0)
		c.hangupAll(ctx, EndCancelled, 0)
	}
	c.maybeStop(ctx)
}

func (c *callSupervisor) onLegTerminated(ctx actor.Context, who *actor.PID) {
	for role, pid := range c.legs {
		if pid != nil && pid.Equal(who) && !c.ended[role] {
			// Only a crash stops a leg before it reported its end.
			c.legGone(Leg(role))
			c.log().Error("call leg stopped unexpectedly", "leg", Leg(role).String())
			c.finish(EndInternal, Leg(role), 0)
			c.hangupAll(ctx, EndInternal, 0)
		}
	}
	c.maybeStop(ctx)
}

// hangup ends role's leg because the call ended so (EndNone: a plain
// hang-up, no Reason header); code is the phone's status when the ending
// carries it.
func (c *callSupervisor) hangup(ctx actor.Context, role Leg, e Ending, code int) {
	if pid := c.legs[role]; pid != nil && !c.ended[role] {
		h := &legHangup{}
		if e != EndNone {
			h.code = e.CodeOr(code)
			h.text = e.ByeReason(h.code, other(role))
		}
		ctx.Send(pid, h)
	}
}

func (c *callSupervisor) hangupAll(ctx actor.Context, e Ending, code int) {
	c.hangup(ctx, LegInitiator, e, code)
	c.hangup(ctx, LegDestination, e, code)
	c.maybeStop(ctx)
}

// maybeStop ends the supervisor once the final result is out and every leg
// has ended; stopping it stops the legs, which release their Call-IDs.
func (c *callSupervisor) maybeStop(ctx actor.Context) {
	if !c.finalSent() {
		return
	}
	for role, pid := range c.legs {
		if pid != nil && !c.ended[role] {
			return
		}
	}
	ctx.Stop(ctx.Self())
}
