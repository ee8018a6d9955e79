package cluster

import (
	"errors"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/cluster/wire"
)

// Starter wraps the engine so that the calls this node places are known to
// the cluster: each gets an id whose directory entry lives on another
// member (so it outlives this node), holds a slot in its initiator's entry
// when limits.max_calls_per_initiator is set (the one wait on the way), and
// is registered in the directory after it has started, off the request path.
func (n *Node) Starter(next actors.CallStarter) actors.CallStarter {
	return &starter{n: n, next: next}
}

type starter struct {
	n    *Node
	next actors.CallStarter
}

func (s *starter) StartCall(req actors.CallRequest, onProgress func(actors.Progress)) (string, error) {
	n := s.n
	if req.ID == "" {
		req.ID = n.newCallID()
	}
	slot := false
	if limit := n.opts.MaxCallsPerInitiator; limit > 0 {
		v, err := n.request(kindInitiator, req.Initiator, &wire.Acquire{CallId: req.ID, Node: n.address, Limit: int32(limit)})
		if reply, ok := v.(*wire.AcquireReply); err == nil && ok {
			if !reply.Granted {
				e := actors.EndMaxPerInitiator // the engine's refusal at its own limit, cluster-wide
				return "", &actors.Refusal{Ending: e, Text: e.Text(), RetryAfter: e.RetryAfter()}
			}
			slot = true
		} else if !errors.Is(err, ErrUnavailable) {
			n.log.Warn("cluster: initiator entry did not answer; the limit is held on this node only", "error", err, "call", req.ID)
		}
	}
	// Known as live before it starts: it may end before StartCall returns.
	n.mu.Lock()
	n.live[req.ID] = liveCall{initiator: req.Initiator, slot: slot}
	n.mu.Unlock()
	id, err := s.next.StartCall(req, onProgress)
	if err != nil {
		n.mu.Lock()
		delete(n.live, req.ID)
		n.mu.Unlock()
		if slot {
			n.later(kindInitiator, req.Initiator, &wire.ReleaseSlot{CallId: req.ID})
		}
		return "", err
	}
	n.later(kindCall, id, &wire.RegisterCall{Owner: n.address})
	return id, nil
}

// newCallID picks a call id whose directory entry the cluster places on
// another member than this one, so that when this node dies the entry is
// still there to say so. Alone, any id does.
func (n *Node) newCallID() string {
	id := uuid.NewString()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.members) < 2 {
		return id
	}
	for range 16 { // each try lands elsewhere with probability (members-1)/members
		if n.rdv.GetByClusterIdentity(protocluster.NewClusterIdentity(id, kindCall)) != n.address {
			return id
		}
		id = uuid.NewString()
	}
	return id
}

// later sends msg to a grain from the worker, off the request path. A full
// queue drops it (the call still runs; other nodes may not find it).
func (n *Node) later(kind, identity string, msg proto.Message) {
	n.pending.Add(1)
	select {
	case n.work <- func() {
		defer n.pending.Add(-1)
		if _, err := n.request(kind, identity, msg); err != nil && !errors.Is(err, ErrUnavailable) {
			n.log.Warn("cluster: update not delivered", "kind", kind, "identity", identity, "error", err)
		}
	}:
	default:
		n.pending.Add(-1)
		n.log.Warn("cluster: update queue full; dropped", "kind", kind, "identity", identity)
	}
}

func (n *Node) worker() {
	for {
		select {
		case <-n.stop:
			return
		case f := <-n.work:
			f()
		}
	}
}

// reregister registers every call this node runs again, after the members
// changed or etcd came back.
func (n *Node) reregister() {
	n.mu.Lock()
	ids := make([]string, 0, len(n.live))
	for id := range n.live {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	for _, id := range ids {
		n.later(kindCall, id, &wire.RegisterCall{Owner: n.address})
	}
}

// Observer wraps the engine's observer: when a call ends, its directory
// entry starts its retention and its initiator slot is released.
func (n *Node) Observer(next actors.Observer) actors.Observer {
	return &observer{Observer: next, n: n}
}

type observer struct {
	actors.Observer
	n *Node
}

func (o *observer) CallEnded(id string, at time.Time) {
	o.Observer.CallEnded(id, at)
	n := o.n
	n.mu.Lock()
	c, ok := n.live[id]
	delete(n.live, id)
	n.mu.Unlock()
	if !ok {
		return
	}
	n.later(kindCall, id, &wire.CallEnded{})
	if c.slot {
		n.later(kindInitiator, c.initiator, &wire.ReleaseSlot{CallId: id})
	}
}

// ClaimStatus is the outcome of claiming a request_id across the cluster.
type ClaimStatus int

const (
	ClaimWon      ClaimStatus = iota // first: place the call, then Complete or Release
	ClaimReplay                      // placed before: the first call's answer comes with it
	ClaimConflict                    // used for a different request
	ClaimPending                     // another node is placing it right now
)

// Claim claims requestID for the request with fingerprint, cluster-wide.
// err is ErrUnavailable when the cluster cannot be asked.
func (n *Node) Claim(requestID, fingerprint string) (ClaimStatus, []byte, error) {
	window := n.opts.IdempotencyWindow
	if window <= 0 {
		window = 10 * time.Minute
	}
	v, err := n.request(kindRequest, requestID, &wire.Claim{Fingerprint: fingerprint, Node: n.address, WindowMs: window.Milliseconds()})
	if err != nil {
		return 0, nil, err
	}
	reply, ok := v.(*wire.ClaimReply)
	if !ok {
		return 0, nil, errors.New("cluster: request_id entry gave no answer")
	}
	switch reply.Status {
	case wire.ClaimReply_REPLAY:
		return ClaimReplay, reply.Created, nil
	case wire.ClaimReply_CONFLICT:
		return ClaimConflict, nil, nil
	case wire.ClaimReply_PENDING:
		return ClaimPending, nil, nil
	}
	return ClaimWon, nil, nil
}

// Complete records the call placed for a won requestID (its JSON answer).
// It waits, so a retry on another node right after the answer finds it.
func (n *Node) Complete(requestID string, created []byte) {
	if _, err := n.request(kindRequest, requestID, &wire.Complete{Created: created}); err != nil {
		n.log.Warn("cluster: request_id not recorded", "request_id", requestID, "error", err)
	}
}

// Release gives up a won requestID whose request was refused.
func (n *Node) Release(requestID string) {
	n.later(kindRequest, requestID, &wire.Release{})
}
