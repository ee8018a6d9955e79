package cluster

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/clicktocall/clicktocall/cluster/wire"
)

// The grains: virtual actors the cluster activates on one member each, by
// identity. Their state is in memory only: an entry whose member dies is
// gone, and an entry that moves when a member joins starts empty (owners
// register their running calls again on every change of members).

const (
	// pendingClaim is how long a won request_id may stay without its
	// call before another node may claim it (the winner died, say).
	pendingClaim = 10 * time.Second
	// idleEntry is how long an initiator entry with no call is kept.
	idleEntry = time.Minute
	// lostOwnerKeep is how long an entry of a call whose node left is kept
	// answering "node lost" when no call retention is configured.
	lostOwnerKeep = 10 * time.Minute
)

// expire tells a grain its time is up; gen ignores a timer re-armed since.
type expire struct{ gen int }

// lifetime arms a grain's own expiry; a later arm replaces an earlier one.
type lifetime struct {
	gen   int
	timer *time.Timer
}

func (l *lifetime) arm(ctx actor.Context, d time.Duration) {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.gen++
	self, root, gen := ctx.Self(), ctx.ActorSystem().Root, l.gen
	l.timer = time.AfterFunc(d, func() { root.Send(self, expire{gen}) })
}

// due reports whether msg is the current expiry; the grain then stops.
func (l *lifetime) due(ctx actor.Context, msg expire) bool {
	if msg.gen != l.gen {
		return false
	}
	ctx.Stop(ctx.Self())
	return true
}

// stop disarms the expiry, also one already posted.
func (l *lifetime) stop() {
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
	}
}

// directoryEntry is the call directory's entry for one call id: the node
// that runs the call. It lives while the call runs, then for the call
// retention.
type directoryEntry struct {
	n         *Node
	owner     string
	ended     bool
	ownerLost bool
	life      lifetime
}

func (d *directoryEntry) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *wire.RegisterCall:
		d.owner = msg.Owner
		ctx.Respond(&wire.Ack{})
	case *wire.CallEnded:
		if !d.ended {
			d.ended = true
			d.life.arm(ctx, d.n.retention())
		}
		ctx.Respond(&wire.Ack{})
	case *wire.LookupCall:
		if d.owner != "" && !d.ended && !d.ownerLost && !d.n.isMember(d.owner) {
			// The call's node has gone: the entry answers "node lost"
			// for as long as a finished call would be kept.
			d.ownerLost = true
			d.life.arm(ctx, d.n.retention())
		}
		ctx.Respond(&wire.CallEntry{Found: d.owner != "", Owner: d.owner})
	case expire:
		d.life.due(ctx, msg)
	case *actor.Stopping:
		d.life.stop()
	}
}

// requestEntry is a request_id's entry: the first node to claim it places
// the call; a repeat anywhere within the window gets that call back.
type requestEntry struct {
	n           *Node
	claimed     bool
	fingerprint string
	node        string
	claimedAt   time.Time
	created     []byte // nil until the winner has placed its call
	life        lifetime
}

func (r *requestEntry) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *wire.Claim:
		ctx.Respond(r.claim(ctx, msg))
	case *wire.Complete:
		r.created = msg.Created
		ctx.Respond(&wire.Ack{})
	case *wire.Release:
		if r.created == nil {
			r.claimed = false // refused: the id may be used again
		}
		ctx.Respond(&wire.Ack{})
	case expire:
		r.life.due(ctx, msg)
	case *actor.Stopping:
		r.life.stop()
	}
}

func (r *requestEntry) claim(ctx actor.Context, msg *wire.Claim) *wire.ClaimReply {
	now := time.Now()
	abandoned := r.claimed && r.created == nil &&
		(now.Sub(r.claimedAt) > pendingClaim || !r.n.isMember(r.node))
	switch {
	case !r.claimed || abandoned:
		r.claimed, r.fingerprint, r.node, r.claimedAt, r.created = true, msg.Fingerprint, msg.Node, now, nil
		r.life.arm(ctx, time.Duration(msg.WindowMs)*time.Millisecond)
		return &wire.ClaimReply{Status: wire.ClaimReply_WON}
	case msg.Fingerprint != r.fingerprint:
		return &wire.ClaimReply{Status: wire.ClaimReply_CONFLICT}
	case r.created == nil:
		return &wire.ClaimReply{Status: wire.ClaimReply_PENDING}
	}
	return &wire.ClaimReply{Status: wire.ClaimReply_REPLAY, Created: r.created}
}

// initiatorEntry counts one initiator's calls in progress on every node,
// and those placed in the last minute.
type initiatorEntry struct {
	n      *Node
	calls  map[string]string // call id → owner node
	recent []time.Time
	life   lifetime
}

func (e *initiatorEntry) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *wire.Acquire:
		if e.calls == nil {
			e.calls = map[string]string{}
		}
		// A node that died ends nothing: its calls stop counting here.
		for id, node := range e.calls {
			if !e.n.isMember(node) {
				delete(e.calls, id)
			}
		}
		now := time.Now()
		for len(e.recent) > 0 && now.Sub(e.recent[0]) > time.Minute {
			e.recent = e.recent[1:]
		}
		granted := msg.Limit <= 0 || len(e.calls) < int(msg.Limit)
		if granted {
			e.calls[msg.CallId] = msg.Node
			e.recent = append(e.recent, now)
			e.life.stop()
		}
		ctx.Respond(&wire.AcquireReply{Granted: granted, Active: int32(len(e.calls)), Recent: int32(len(e.recent))})
	case *wire.ReleaseSlot:
		delete(e.calls, msg.CallId)
		if len(e.calls) == 0 {
			e.life.arm(ctx, idleEntry)
		}
		ctx.Respond(&wire.Ack{})
	case expire:
		e.life.due(ctx, msg)
	case *actor.Stopping:
		e.life.stop()
	}
}

// retention is how long a finished call's entry is kept.
func (n *Node) retention() time.Duration {
	if n.opts.Retention > 0 {
		return n.opts.Retention
	}
	return lostOwnerKeep
}
