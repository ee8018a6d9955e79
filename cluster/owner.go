package cluster

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/cluster/wire"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// ownerWait is what a DELETE through another node may wait beyond the
// request timeout: the owner waits up to 5 s for the cancelled call's final.
const ownerWait = 5 * time.Second

// Answer is what another node said about a call, or why it could not.
type Answer struct {
	Status int
	Body   []byte // the owner's JSON answer; nil when Problem is set
	// Problem names why there is no answer from the owner ("No call …",
	// "Node lost: …", "Cluster unavailable: …").
	Problem string
	// RetryAfter is set when asking again later may help; a lost node's
	// call has none: that 503 is final.
	RetryAfter time.Duration
}

// NodeLost is the text of the final 503 of a call whose node left the
// cluster: actors.EndNodeLost's.
var NodeLost = actors.EndNodeLost.Text()

func noCall(id string) Answer {
	return Answer{Status: http.StatusNotFound, Problem: "No call " + id}
}

func (n *Node) nodeLost(id, owner string) Answer {
	n.metrics.lost.Inc()
	return Answer{Status: http.StatusServiceUnavailable,
		Problem: NodeLost + ": call " + id + " ran on " + owner + ", which has left the cluster"}
}

func unavailable(problem string) Answer {
	return Answer{Status: http.StatusServiceUnavailable, Problem: problem, RetryAfter: time.Second}
}

// owner finds the node that runs call id through its directory entry.
func (n *Node) owner(id string) (string, Answer) {
	v, err := n.request(kindCall, id, &wire.LookupCall{})
	if errors.Is(err, ErrUnavailable) {
		return "", unavailable("Cluster unavailable: call " + id + " is not on this node, and the other nodes cannot be asked now")
	}
	if err != nil {
		return "", unavailable("Cluster: the call directory did not answer for " + id)
	}
	e, _ := v.(*wire.CallEntry)
	switch {
	case e == nil || !e.Found:
		n.metrics.misses.Inc()
		return "", noCall(id)
	case e.Owner == n.address:
		return "", noCall(id) // ours, and already forgotten here
	case !n.isMember(e.Owner):
		return "", n.nodeLost(id, e.Owner)
	}
	return e.Owner, Answer{}
}

// Call answers GET or DELETE for a call this node does not run, with the
// answer of the node that runs it.
func (n *Node) Call(id, method string) Answer {
	owner, a := n.owner(id)
	if owner == "" {
		return a
	}
	wait := n.timeout
	if method == http.MethodDelete {
		wait += ownerWait
	}
	v, err := n.ask(actor.NewPID(owner, serviceName), &wire.CallQuery{CallId: id, Method: method}, "owner", wait)
	if err != nil {
		if !n.isMember(owner) {
			return n.nodeLost(id, owner)
		}
		return unavailable("Cluster: node " + owner + " did not answer for call " + id)
	}
	answer, _ := v.(*wire.CallAnswer)
	if answer == nil {
		return unavailable("Cluster: node " + owner + " gave no answer for call " + id)
	}
	return Answer{Status: int(answer.Status), Body: answer.Body}
}

// RemoteWatch follows the results of a call another node runs. C closes
// after the final; if the node leaves first, the final is 503 Node lost.
type RemoteWatch struct {
	Past     []cdr.Result
	C        <-chan cdr.Result
	Metadata json.RawMessage // the request's metadata, nil when it had none
	stop     func()
}

// Stop ends the watch; the owner stops sending.
func (w *RemoteWatch) Stop() { w.stop() }

// Watch follows a call this node does not run.
func (n *Node) Watch(id string) (*RemoteWatch, Answer) {
	owner, a := n.owner(id)
	if owner == "" {
		return nil, a
	}
	c := make(chan cdr.Result, 64) // far more than one call's results
	pid := n.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &subscriber{c: c} }))
	service := actor.NewPID(owner, serviceName)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.watches[owner], pid)
			n.mu.Unlock()
			n.system.Root.Send(service, &wire.Unwatch{SubscriberAddress: pid.Address, SubscriberId: pid.Id})
			n.system.Root.Stop(pid)
		})
	}
	n.mu.Lock()
	if n.watches[owner] == nil {
		n.watches[owner] = map[*actor.PID]bool{}
	}
	n.watches[owner][pid] = true
	n.mu.Unlock()
	v, err := n.ask(service, &wire.Watch{CallId: id, SubscriberAddress: pid.Address, SubscriberId: pid.Id}, "owner", n.timeout)
	reply, _ := v.(*wire.WatchReply)
	switch {
	case err != nil || reply == nil:
		stop()
		if !n.isMember(owner) {
			return nil, n.nodeLost(id, owner)
		}
		return nil, unavailable("Cluster: node " + owner + " did not answer for call " + id)
	case !reply.Found:
		stop()
		return nil, noCall(id)
	}
	w := &RemoteWatch{Past: make([]cdr.Result, len(reply.Past)), C: c, stop: stop}
	if len(reply.Metadata) > 0 {
		w.Metadata = reply.Metadata
	}
	for i, r := range reply.Past {
		w.Past[i] = resultFrom(r)
	}
	if len(w.Past) > 0 && w.Past[len(w.Past)-1].Final() {
		stop()
		closed := make(chan cdr.Result)
		close(closed)
		w.C = closed
	}
	return w, Answer{}
}

// nodeLost tells a subscriber its call's node has left.
type nodeLost struct{}

// subscriber receives a watched call's results from its owner.
type subscriber struct {
	c      chan cdr.Result
	closed bool
}

func (s *subscriber) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *wire.Result:
		s.deliver(resultFrom(msg))
	case nodeLost:
		s.deliver(cdr.Result{Code: actors.EndNodeLost.Code(), Text: NodeLost, At: time.Now()})
	case *actor.Stopped:
		s.end()
	}
}

func (s *subscriber) deliver(r cdr.Result) {
	if s.closed {
		return
	}
	select {
	case s.c <- r:
	default: // the stream's reader has stopped reading; it ends on its own
	}
	if r.Final() {
		s.end()
	}
}

func (s *subscriber) end() {
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}

func resultFrom(r *wire.Result) cdr.Result {
	return cdr.Result{Code: int(r.Code), Leg: r.Leg, Text: r.Text, At: time.Unix(0, r.AtUnixNano)}
}

func resultOf(r cdr.Result) *wire.Result {
	return &wire.Result{Code: int32(r.Code), Leg: r.Leg, Text: r.Text, AtUnixNano: r.At.UnixNano()}
}

// callService is the actor "clicktocall-calls" on every node: it answers
// other nodes about the calls this node runs.
type callService struct {
	n        *Node
	watching map[string]chan struct{} // subscriber address/id → closed to stop
}

// watchDone: a watch's forwarding has ended.
type watchDone struct {
	key  string
	done chan struct{}
}

func (s *callService) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *wire.CallQuery:
		local := s.n.local.Load()
		if local == nil {
			ctx.Respond(&wire.CallAnswer{Status: http.StatusServiceUnavailable})
			return
		}
		// DELETE waits for the call's final, so the answer is sent from
		// its own goroutine, not from Receive.
		sender, root := ctx.Sender(), ctx.ActorSystem().Root
		go func() {
			status, body := local.LocalCall(msg.CallId, msg.Method)
			root.Send(sender, &wire.CallAnswer{Status: int32(status), Body: body})
		}()
	case *wire.Watch:
		s.watch(ctx, msg)
	case *wire.Unwatch:
		key := msg.SubscriberAddress + "/" + msg.SubscriberId
		if done, ok := s.watching[key]; ok {
			close(done)
			delete(s.watching, key)
		}
	case watchDone:
		if s.watching[msg.key] == msg.done {
			delete(s.watching, msg.key)
		}
	}
}

// watch answers with the results so far and sends each later one to the
// subscriber until the final, or until it unwatches.
func (s *callService) watch(ctx actor.Context, msg *wire.Watch) {
	journal := s.n.opts.Journal
	if journal == nil {
		ctx.Respond(&wire.WatchReply{})
		return
	}
	w, ok := journal.Watch(msg.CallId)
	if !ok {
		ctx.Respond(&wire.WatchReply{})
		return
	}
	reply := &wire.WatchReply{Found: true, Past: make([]*wire.Result, len(w.Past))}
	for i, r := range w.Past {
		reply.Past[i] = resultOf(r)
	}
	if c, ok := journal.Get(msg.CallId); ok {
		reply.Metadata = c.Request.Options.Metadata
	}
	ctx.Respond(reply)
	if s.watching == nil {
		s.watching = map[string]chan struct{}{}
	}
	key := msg.SubscriberAddress + "/" + msg.SubscriberId
	done := make(chan struct{})
	s.watching[key] = done
	sub, root, self := actor.NewPID(msg.SubscriberAddress, msg.SubscriberId), ctx.ActorSystem().Root, ctx.Self()
	go func() {
		defer root.Send(self, watchDone{key, done})
		defer w.Stop()
		for {
			select {
			case r, ok := <-w.C:
				if !ok {
					return
				}
				root.Send(sub, resultOf(r))
				if r.Final() {
					return
				}
			case <-done:
				return
			}
		}
	}()
}
