package transport

import (
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// orphanage finishes what a call leaves behind when its actors are
// released: an INVITE to CANCEL once RFC 3261 §9.1 allows it (a provisional
// came), the 487 or a 2xx that crosses the CANCEL (ACK, and ACK and BYE),
// and requests still being retransmitted (a BYE nobody waits for). It is an
// Endpoint run under its lock by the read loops and the timing wheel, with
// its transactions indexed by branch; it holds nothing once they end, and
// these paths are rare (cancelled calls, unwanted forks, crashes, shutdown).
type orphanage struct {
	t  *Transport
	mu sync.Mutex
	// byBranch: each transaction by its Via branch and method (a CANCEL
	// shares its INVITE's branch).
	byBranch map[lingerKey]*orphan
	wg       sync.WaitGroup // one per orphan: Shutdown waits for the clean-ups
}

type orphan struct {
	tx         *ClientTx
	cancel     bool       // an INVITE to CANCEL
	cancelSent bool       // its CANCEL is out
	reason     sip.Header // Reason header for the CANCEL, or nil
}

func newOrphanage(t *Transport) *orphanage {
	return &orphanage{t: t, byBranch: map[lingerKey]*orphan{}}
}

func txKey(tx *ClientTx) lingerKey {
	k := lingerKey{branch: tx.branch, method: string(tx.Req.Method)}
	if cid := tx.Req.CallID(); cid != nil {
		k.callID = cid.Value()
	}
	return k
}

// adopt takes tx over from its owner; o.mu is held.
func (o *orphanage) adopt(tx *ClientTx, cancel bool, reason sip.Header) {
	if tx.state == txDone {
		return
	}
	if tx.branch == "" {
		tx.Stop() // never sent: nothing to finish
		return
	}
	tx.owner = o
	tx.stopTimers()
	tx.gen++
	if tx.state == txCalling {
		if tx.targets[0].Transport == "UDP" {
			tx.retrans = tx.arm(tx.interval, evRetransmit)
		}
		tx.timeout = tx.arm(rfc3261.Timer64T1Now(), evTimeout)
	}
	if tx.invite {
		// A phone that died ringing never sends a final response.
		tx.giveUp.Stop()
		tx.giveUp = tx.arm(rfc3261.Timer64T1Now(), evGiveUp)
	}
	if _, dup := o.byBranch[txKey(tx)]; !dup {
		o.wg.Add(1)
	}
	o.byBranch[txKey(tx)] = &orphan{tx: tx, cancel: cancel, reason: reason}
	if cancel && tx.state == txProceeding {
		o.sendCancel(o.byBranch[txKey(tx)])
	}
}

// Abandon hands over the INVITE transaction of a leg that is going away:
// the transport CANCELs it as soon as a provisional allows (at once if one
// came), ACKs the final response, ACKs and BYEs a 2xx that crosses the
// CANCEL, and gives up 64*T1 later.
func (t *Transport) Abandon(tx *ClientTx, reason sip.Header) {
	if tx == nil {
		return
	}
	t.orphans.mu.Lock()
	defer t.orphans.mu.Unlock()
	t.orphans.adopt(tx, true, reason)
}

// Finish hands over a transaction still under way (a BYE) whose outcome
// nobody waits for: its retransmissions go on until it ends.
func (t *Transport) Finish(tx *ClientTx) {
	if tx == nil {
		return
	}
	t.orphans.mu.Lock()
	defer t.orphans.mu.Unlock()
	t.orphans.adopt(tx, false, nil)
}

// Fire sends req in a transaction nobody waits for (the BYE of a dialog we
// do not want).
func (t *Transport) Fire(req *sip.Request) {
	t.orphans.mu.Lock()
	defer t.orphans.mu.Unlock()
	t.orphans.fire(req)
}

func (o *orphanage) fire(req *sip.Request) {
	tx, err := o.t.StartTx(o, req)
	if err != nil {
		o.t.log.Info("sip request failed", "method", req.Method, "error", err)
		return
	}
	o.adopt(tx, false, nil)
}

// AckAndBye ends a dialog we do not want, created by a 2xx to our INVITE (a
// 2xx that crossed our CANCEL, another fork's, or one for a call that is
// gone): RFC 3261 requires ACKing it before the BYE. A retransmission of a
// 2xx handled so gets the same ACK again.
func (t *Transport) AckAndBye(res *sip.Response, fallbackTarget sip.Uri) {
	t.orphans.mu.Lock()
	defer t.orphans.mu.Unlock()
	t.orphans.ackAndBye(res, fallbackTarget)
}

func (o *orphanage) ackAndBye(res *sip.Response, fallbackTarget sip.Uri) {
	if !Dialogable(res) {
		return
	}
	if e := o.t.linger.lookup(responseKey(res)); e != nil {
		o.t.resend(e)
		return
	}
	d := NewDialog(res, fallbackTarget)
	if err := o.t.SendACK(d.ACK(res.CSeq().SeqNo, nil), res); err != nil {
		o.t.log.Info("sip ack failed", "error", err)
	}
	o.fire(d.Request(sip.BYE, nil))
}

func (o *orphanage) sendCancel(or *orphan) {
	if or.cancelSent {
		return
	}
	or.cancelSent = true
	req := CancelRequest(or.tx.Req)
	if or.reason != nil {
		req.AppendHeader(or.reason)
	}
	o.fire(req)
}

// claim handles a response to one of the orphanage's transactions and
// reports whether it was one.
func (o *orphanage) claim(res *sip.Response) bool {
	cseq, v, cid := res.CSeq(), res.Via(), res.CallID()
	if cseq == nil || v == nil || cid == nil {
		return false
	}
	b, _ := v.Params.Get("branch")
	key := lingerKey{branch: b, method: string(cseq.MethodName), callID: cid.Value()}
	o.mu.Lock()
	defer o.mu.Unlock()
	or := o.byBranch[key]
	if or == nil {
		return false
	}
	upd := or.tx.OnResponse(res)
	if or.tx.invite && upd.Res != nil {
		switch {
		case upd.Res.IsSuccess():
			o.ackAndBye(upd.Res, or.tx.Req.Recipient)
		case upd.Res.IsProvisional() && or.cancel:
			o.sendCancel(or)
		}
	}
	o.forgetIfDone(key, or)
	return true
}

// Post implements Endpoint for the transactions' own events.
func (o *orphanage) Post(msg any) {
	ev, ok := msg.(*TxEvent)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	key := txKey(ev.Tx)
	or := o.byBranch[key]
	if or == nil || or.tx != ev.Tx {
		return
	}
	upd := ev.Tx.OnEvent(ev)
	if upd.Done && or.cancel && !or.cancelSent && ev.kind == evGiveUp {
		// Nothing came for 64*T1: a CANCEL costs nothing and stops a
		// phone that rings without ever having said so.
		o.sendCancel(or)
	}
	o.forgetIfDone(key, or)
}

func (o *orphanage) forgetIfDone(key lingerKey, or *orphan) {
	if or.tx.Done() && o.byBranch[key] == or {
		delete(o.byBranch, key)
		o.wg.Done()
	}
}

// pending is the number of transactions the orphanage still runs.
func (o *orphanage) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.byBranch)
}
