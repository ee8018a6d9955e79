package transport

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/locate"
	"github.com/clicktocall/clicktocall/transport/rfc3261"
	"github.com/clicktocall/clicktocall/transport/timing"
)

// ClientTx is a client transaction (RFC 3261 §17.1) as plain state of its
// owner: the owner feeds it the responses that match it (Matches) and the
// events posted to its mailbox (*TxEvent), and learns from each TxUpdate
// what the transaction has to say. It retransmits over UDP (Timers A and
// E), times out (Timers B and F), ACKs a final response of 300 or more to
// an INVITE, and fails over to the next target of an RFC 3263 lookup when
// one does not answer. Only the owner's goroutine touches it, so it needs
// no locks; its timers are the process's wheel posting to the owner.
type ClientTx struct {
	t        *Transport
	owner    Endpoint
	Req      *sip.Request
	invite   bool
	branch   string
	targets  []locate.Target // the first is the one in use
	raw      []byte          // the request as sent, for retransmissions (UDP)
	state    txState
	interval time.Duration
	retrans  *timing.Timer
	timeout  *timing.Timer
	giveUp   *timing.Timer
	gen      uint32 // tags timer events: one from before the last re-arm is stale
	answered bool   // a response came: no failover after that
	sentAt   time.Time
	resent   bool // retransmitted: its answer's delay is not the peer's (PeerDelays)
}

type txState uint8

const (
	txLocating   txState = iota // resolving the target or connecting to it
	txCalling                   // sent, nothing heard
	txProceeding                // a provisional came
	txDone                      // a final came, or the transaction failed
)

// TxEvent is a timer expiry or the end of background work (DNS, a TCP
// connect) of one client transaction, posted to its owner, which hands it
// to Tx.OnEvent.
type TxEvent struct {
	Tx      *ClientTx
	gen     uint32
	kind    txEventKind
	targets []locate.Target
	err     error
}

type txEventKind uint8

const (
	evRetransmit txEventKind = iota // Timer A (INVITE) or E
	evTimeout                       // Timer B (INVITE) or F
	evGiveUp                        // the owner's own deadline (Abandon)
	evLocated                       // targets resolved, the first connected (or err)
)

// TxUpdate is what a transaction tells its owner after a response or event.
type TxUpdate struct {
	// Res is a response for the owner: a provisional, the final, or another
	// 2xx to an INVITE (a retransmission or another fork's).
	Res *sip.Response
	// Err is why the transaction ended without a final response:
	// sip.ErrTransactionTimeout or a transport error.
	Err error
	// Done: the transaction has ended (a final response, or Err).
	Done bool
}

// StartTx sends req in a new client transaction owned by owner. The next
// hop is chosen as for any request (Send): an address when the caller set
// one, else the top Route or the Request-URI, resolved by RFC 3263 in the
// background when it is a name. An error here means nothing was sent.
func (t *Transport) StartTx(owner Endpoint, req *sip.Request) (*ClientTx, error) {
	t.sent(req)
	h, err := nextHop(req)
	if err != nil {
		return nil, err
	}
	tx := &ClientTx{t: t, owner: owner, Req: req, invite: req.Method == sip.INVITE}
	if h.target != nil && (h.target.Transport == "UDP" || t.connected(*h.target)) {
		tx.targets = []locate.Target{*h.target}
		if err := tx.transmit(); err != nil {
			return nil, err
		}
		return tx, nil
	}
	tx.locateAsync(func() ([]locate.Target, error) { return t.locate(req, h) })
	return tx, nil
}

// locateAsync runs find off the owner's goroutine and posts its outcome.
func (tx *ClientTx) locateAsync(find func() ([]locate.Target, error)) {
	tx.stopTimers()
	tx.state = txLocating
	tx.gen++
	ev := &TxEvent{Tx: tx, gen: tx.gen, kind: evLocated}
	owner := tx.owner
	go func() {
		ev.targets, ev.err = find()
		owner.Post(ev)
	}()
}

// Branch is the branch of the transaction's Via ("" before it is sent).
func (tx *ClientTx) Branch() string { return tx.branch }

// Done reports whether the transaction has ended.
func (tx *ClientTx) Done() bool { return tx.state == txDone }

// Matches reports whether res answers this transaction (RFC 3261 §17.1.3).
func (tx *ClientTx) Matches(res *sip.Response) bool {
	v, cseq := res.Via(), res.CSeq()
	if v == nil || cseq == nil || tx.branch == "" || cseq.MethodName != tx.Req.Method {
		return false
	}
	b, _ := v.Params.Get("branch")
	return b == tx.branch
}

// transmit sends the request to the first target and arms its timers.
func (tx *ClientTx) transmit() error {
	tg := tx.targets[0]
	raw, err := tx.t.sendTo(tx.Req, tg, tg.Transport == "UDP")
	if err != nil {
		return err
	}
	if v := tx.Req.Via(); v != nil {
		tx.branch, _ = v.Params.Get("branch")
	}
	tx.raw = raw
	tx.state = txCalling
	tx.sentAt, tx.resent = time.Now(), false
	tx.stopTimers()
	tx.gen++
	if tg.Transport == "UDP" {
		tx.interval = sip.T1
		tx.retrans = tx.arm(tx.interval, evRetransmit)
	}
	tx.timeout = tx.arm(rfc3261.Timer64T1Now(), evTimeout)
	return nil
}

func (tx *ClientTx) arm(d time.Duration, kind txEventKind) *timing.Timer {
	return tx.t.clock.After(d, tx.owner, &TxEvent{Tx: tx, gen: tx.gen, kind: kind})
}

func (tx *ClientTx) stopTimers() {
	tx.retrans.Stop()
	tx.timeout.Stop()
	tx.retrans, tx.timeout = nil, nil
}

// Stop ends the transaction without waiting for more: its timers stop and
// later events are ignored.
func (tx *ClientTx) Stop() {
	tx.stopTimers()
	tx.giveUp.Stop()
	tx.giveUp = nil
	tx.state = txDone
}

// OnResponse feeds the transaction a response that Matches it.
func (tx *ClientTx) OnResponse(res *sip.Response) TxUpdate {
	if tx.state == txDone {
		if tx.invite && res.IsSuccess() {
			return TxUpdate{Res: res} // a fork's 2xx, or a retransmission the owner has not ACKed yet
		}
		return TxUpdate{}
	}
	if !tx.answered && !tx.resent && len(tx.targets) > 0 {
		now := time.Now()
		if d := now.Sub(tx.sentAt); !tx.invite || res.IsProvisional() || d <= machineAnswer {
			tx.t.peers.record(tx.targets[0].Addr, tx.invite, d, now)
		}
	}
	tx.answered = true
	if res.IsProvisional() {
		tx.state = txProceeding
		if tx.invite {
			tx.stopTimers() // Timer A and B end in Proceeding (RFC 3261 §17.1.1.2)
		} else if tx.retrans != nil {
			tx.retrans.Stop()
			tx.interval = sip.T2
			tx.retrans = tx.arm(tx.interval, evRetransmit)
		}
		return TxUpdate{Res: res}
	}
	tx.Stop()
	if tx.invite && !res.IsSuccess() {
		tx.ackFailure(res)
	}
	return TxUpdate{Res: res, Done: true}
}

// ackFailure sends the ACK of a final response of 300 or more and keeps it
// for the response's retransmissions (Timer D).
func (tx *ClientTx) ackFailure(res *sip.Response) {
	if len(tx.targets) == 0 {
		return
	}
	tg := tx.targets[0]
	ack := nonSuccessACK(tx.Req, res)
	tx.t.sent(ack)
	raw, err := tx.t.sendTo(ack, tg, true)
	if err != nil {
		tx.t.log.Debug("sip ack failed", "error", err)
		return
	}
	tx.t.linger.keep(responseKey(res), raw, targetDest(tg))
}

// OnEvent feeds the transaction one of its own events.
func (tx *ClientTx) OnEvent(ev *TxEvent) TxUpdate {
	if ev.gen != tx.gen && ev.kind != evGiveUp {
		return TxUpdate{} // from before a re-arm
	}
	if tx.state == txDone {
		return TxUpdate{}
	}
	switch ev.kind {
	case evRetransmit:
		if tx.state == txCalling || (!tx.invite && tx.state == txProceeding) {
			tx.t.resent.Add(1)
			tx.resent = true
			if err := tx.t.writeRaw(targetDest(tx.targets[0]), tx.raw); err != nil {
				tx.t.log.Debug("sip retransmission failed", "method", tx.Req.Method, "error", err)
			}
			tx.interval *= 2
			if !tx.invite {
				tx.interval = min(tx.interval, sip.T2)
			}
			tx.retrans = tx.arm(tx.interval, evRetransmit)
		}
	case evTimeout:
		if tx.state == txCalling || (!tx.invite && tx.state == txProceeding) {
			return tx.failover(sip.ErrTransactionTimeout)
		}
	case evGiveUp:
		tx.Stop()
		return TxUpdate{Err: sip.ErrTransactionTimeout, Done: true}
	case evLocated:
		if ev.err != nil && len(ev.targets) == 0 {
			return tx.fail(ev.err)
		}
		tx.targets = ev.targets
		if ev.err != nil {
			return tx.failover(ev.err)
		}
		if err := tx.transmit(); err != nil {
			return tx.failover(err)
		}
	}
	return TxUpdate{}
}

// failover tries the next target when this one could not be reached or
// never answered (RFC 3263 §4.3); with none left the transaction fails.
func (tx *ClientTx) failover(cause error) TxUpdate {
	if tx.answered || len(tx.targets) <= 1 {
		return tx.fail(cause)
	}
	failed := tx.targets[0]
	tx.targets = tx.targets[1:]
	next := tx.targets[0]
	tx.t.log.Info("sip target failed, trying the next", "method", tx.Req.Method, "failed", failed.String(),
		"next", next.String(), "error", cause)
	tx.Req.RemoveHeader("Via") // a new transaction, with its own branch
	tx.branch = ""
	if next.Transport == "UDP" || tx.t.connected(next) {
		if err := tx.transmit(); err != nil {
			return tx.failover(err)
		}
		return TxUpdate{}
	}
	targets, t := tx.targets, tx.t
	tx.locateAsync(func() ([]locate.Target, error) {
		ctx, cancel := contextFor(connectTimeout)
		defer cancel()
		return targets, t.connect(ctx, targets[0])
	})
	return TxUpdate{}
}

func (tx *ClientTx) fail(err error) TxUpdate {
	tx.Stop()
	if !isTimeout(err) && !isTransport(err) {
		err = transportError(err)
	}
	return TxUpdate{Err: err, Done: true}
}
