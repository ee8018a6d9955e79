package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"github.com/clicktocall/clicktocall/cluster/wire"
)

// The grains' rules, each grain spawned alone in a plain actor system (the
// cluster only places them; the end-to-end test runs them in one).

type grainHarness struct {
	t      *testing.T
	system *actor.ActorSystem
	n      *Node
}

func newGrainHarness(t *testing.T, members ...string) *grainHarness {
	n := &Node{members: map[string]bool{}, opts: Options{Retention: time.Minute}}
	for _, m := range members {
		n.members[m] = true
	}
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	return &grainHarness{t: t, system: system, n: n}
}

func (h *grainHarness) spawn(a actor.Actor) *actor.PID {
	return h.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
}

func (h *grainHarness) ask(pid *actor.PID, msg proto.Message) any {
	h.t.Helper()
	v, err := h.system.Root.RequestFuture(pid, msg, 2*time.Second).Result()
	if err != nil {
		h.t.Fatalf("%T: %v", msg, err)
	}
	return v
}

func (h *grainHarness) setMembers(members ...string) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	h.n.members = map[string]bool{}
	for _, m := range members {
		h.n.members[m] = true
	}
}

func TestRequestEntryFirstClaimWinsAndRepeatsGetTheFirstCall(t *testing.T) {
	h := newGrainHarness(t, "a:1", "b:1")
	pid := h.spawn(&requestEntry{n: h.n})
	claim := func(fp, node string) *wire.ClaimReply {
		t.Helper()
		return h.ask(pid, &wire.Claim{Fingerprint: fp, Node: node, WindowMs: 60000}).(*wire.ClaimReply)
	}
	if r := claim("f1", "a:1"); r.Status != wire.ClaimReply_WON {
		t.Fatalf("first claim: %v", r.Status)
	}
	if r := claim("f1", "b:1"); r.Status != wire.ClaimReply_PENDING {
		t.Errorf("claim while the first is placed: %v, want PENDING", r.Status)
	}
	h.ask(pid, &wire.Complete{Created: []byte(`{"id":"c1"}`)})
	if r := claim("f1", "b:1"); r.Status != wire.ClaimReply_REPLAY || string(r.Created) != `{"id":"c1"}` {
		t.Errorf("repeat: %v %s, want REPLAY with the first call", r.Status, r.Created)
	}
	if r := claim("f2", "b:1"); r.Status != wire.ClaimReply_CONFLICT {
		t.Errorf("another request with the id: %v, want CONFLICT", r.Status)
	}
	// A completed id is not released by a late Release.
	h.ask(pid, &wire.Release{})
	if r := claim("f1", "a:1"); r.Status != wire.ClaimReply_REPLAY {
		t.Errorf("after a Release of a placed call: %v, want REPLAY", r.Status)
	}
}

func TestRequestEntryRefusedOrAbandonedClaimCanBeClaimedAgain(t *testing.T) {
	h := newGrainHarness(t, "a:1", "b:1")
	pid := h.spawn(&requestEntry{n: h.n})
	claim := func(node string) wire.ClaimReply_Status {
		t.Helper()
		return h.ask(pid, &wire.Claim{Fingerprint: "f", Node: node, WindowMs: 60000}).(*wire.ClaimReply).Status
	}
	claim("a:1")
	h.ask(pid, &wire.Release{}) // its request was refused
	if s := claim("b:1"); s != wire.ClaimReply_WON {
		t.Errorf("claim after a Release: %v, want WON", s)
	}
	h.setMembers("a:1") // b died while placing it
	if s := claim("a:1"); s != wire.ClaimReply_WON {
		t.Errorf("claim after the claimant left: %v, want WON", s)
	}
}

func TestInitiatorEntryHoldsTheLimitAndForgetsCallsOfNodesThatLeft(t *testing.T) {
	h := newGrainHarness(t, "a:1", "b:1")
	pid := h.spawn(&initiatorEntry{n: h.n})
	acquire := func(call, node string) *wire.AcquireReply {
		t.Helper()
		return h.ask(pid, &wire.Acquire{CallId: call, Node: node, Limit: 1}).(*wire.AcquireReply)
	}
	if r := acquire("c1", "a:1"); !r.Granted || r.Active != 1 {
		t.Fatalf("first call: %+v", r)
	}
	if r := acquire("c2", "b:1"); r.Granted || r.Active != 1 {
		t.Errorf("second call at limit 1: %+v, want refused", r)
	}
	h.ask(pid, &wire.ReleaseSlot{CallId: "c1"})
	if r := acquire("c3", "b:1"); !r.Granted || r.Recent != 2 {
		t.Errorf("after the first ended: %+v, want granted, 2 placed lately", r)
	}
	h.setMembers("a:1") // b died with c3
	if r := acquire("c4", "a:1"); !r.Granted || r.Active != 1 {
		t.Errorf("after b left: %+v, want granted with only c4 active", r)
	}
}

func TestDirectoryEntryNamesTheOwner(t *testing.T) {
	h := newGrainHarness(t, "a:1", "b:1")
	pid := h.spawn(&directoryEntry{n: h.n})
	if e := h.ask(pid, &wire.LookupCall{}).(*wire.CallEntry); e.Found {
		t.Errorf("unregistered entry: %+v", e)
	}
	h.ask(pid, &wire.RegisterCall{Owner: "a:1"})
	if e := h.ask(pid, &wire.LookupCall{}).(*wire.CallEntry); !e.Found || e.Owner != "a:1" {
		t.Errorf("registered entry: %+v", e)
	}
	h.setMembers("b:1")
	// The owner has gone: the entry still names it, so the asking node
	// answers "node lost" rather than "no call".
	if e := h.ask(pid, &wire.LookupCall{}).(*wire.CallEntry); !e.Found || e.Owner != "a:1" {
		t.Errorf("entry of a lost node: %+v", e)
	}
}

func TestNewCallIDsPutTheirDirectoryEntryOnAnotherNode(t *testing.T) {
	n := &Node{address: "127.0.0.1:6001", members: map[string]bool{}, rdv: protocluster.NewRendezvous()}
	var members protocluster.Members
	for i, port := range []int32{6001, 6002, 6003} {
		m := &protocluster.Member{Host: "127.0.0.1", Port: port, Id: fmt.Sprint("m", i), Kinds: []string{kindCall}}
		members = append(members, m)
		n.members[m.Address()] = true
	}
	n.rdv.UpdateMembers(members)
	placed := map[string]int{}
	for range 300 {
		id := n.newCallID()
		placed[n.rdv.GetByClusterIdentity(protocluster.NewClusterIdentity(id, kindCall))]++
	}
	if placed[n.address] != 0 || placed["127.0.0.1:6002"] == 0 || placed["127.0.0.1:6003"] == 0 {
		t.Errorf("directory entries of 300 new calls by member: %v; want none on this node %s", placed, n.address)
	}
}
